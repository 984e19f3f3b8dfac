-- Installs the schema_version procedure. Generated from procedures/schema_version.sql, its
-- canonical source, by TestBaselineProceduresAreGeneratedFromTheirSource
-- (docs/dba.md, "Changing the SQL"): edit that file, not this one.

-- +goose Up
DROP PROCEDURE IF EXISTS schema_version;

-- +goose StatementBegin
-- schema_version: the goose version of this schema, for runners to check at
-- start that the database has the procedures they call. Reads goose's default
-- version table, goose_db_version.
--
-- Result, one row: version, schema_name (the database the procedures are in).
CREATE PROCEDURE schema_version()
    READS SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'Result: version (newest applied goose migration), schema_name'
BEGIN
    SELECT COALESCE(MAX(version_id), 0) AS version, DATABASE() AS schema_name
      FROM goose_db_version;
END;
-- +goose StatementEnd

-- +goose Down
DROP PROCEDURE IF EXISTS schema_version;
