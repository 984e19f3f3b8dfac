-- Installs the database_time procedure. Its canonical source is procedures/database_time.sql;
-- a later change to it ships as a new migration whose Down restores this body.

-- +goose Up
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
DROP PROCEDURE database_time;
