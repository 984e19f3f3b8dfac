-- Installs the database_time procedure. Generated from procedures/database_time.sql, its
-- canonical source, by TestBaselineProceduresAreGeneratedFromTheirSource
-- (docs/dba.md, "Changing the SQL"): edit that file, not this one.

-- +goose Up
DROP PROCEDURE IF EXISTS database_time;

-- +goose StatementBegin
-- database_time: the database clock, for runners to compute fire times on the
-- same clock whatever their own says.
--
-- Result, one row: now_ms, milliseconds since 1970-01-01 00:00:00 UTC.
CREATE PROCEDURE database_time()
    NO SQL
    SQL SECURITY DEFINER
    COMMENT 'Result: now_ms, the database clock in ms since the Unix epoch (UTC)'
BEGIN
    SET timestamp = DEFAULT;
    SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000 AS now_ms;
END;
-- +goose StatementEnd

-- +goose Down
DROP PROCEDURE IF EXISTS database_time;
