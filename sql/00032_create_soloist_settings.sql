-- Creates soloist_settings: the schema's own settings, which only an account
-- with UPDATE on the schema's tables (the migrator role) can change. Runners
-- and operators hold EXECUTE on procedures only, so they cannot.
--   min_retention_ms  prune_runs never deletes history younger than this
--                     (runs and lease terms); default 7 days
--   owner_binding     1: an owner must be the calling database user's name,
--                     or begin with it and '/'; default 0 (off)

-- +goose Up
CREATE TABLE soloist_settings (
    name  VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    value BIGINT NOT NULL,
    note  VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin
  COMMENT = 'Soloist settings the DBA owns: only the migrator role may change them';

INSERT INTO soloist_settings (name, value, note) VALUES
    ('min_retention_ms', 604800000, 'prune_runs keeps at least this much history (ms); default 7 days'),
    ('owner_binding', 0, '1: an owner must be the database user''s name or begin with it and /');

-- +goose Down
DROP TABLE soloist_settings;
