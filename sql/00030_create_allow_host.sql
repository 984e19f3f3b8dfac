-- Installs the allow_host procedure. Generated from procedures/allow_host.sql, its
-- canonical source, by TestBaselineProceduresAreGeneratedFromTheirSource
-- (docs/dba.md, "Changing the SQL"): edit that file, not this one.

-- +goose Up
DROP PROCEDURE IF EXISTS allow_host;

-- +goose StatementBegin
-- allow_host: add a host to p_lock's allow-list. From then on only owners the
-- list names can take a new term: the whole owner, or its leading
-- '/'-separated fields (an owner starts with its host's IP). A listed standby
-- still takes over when the preferred host dies. The current holder keeps its
-- lease: allow-lists act at the next takeover.
--
-- Result, one row: hosts (the list's length after the call).
CREATE PROCEDURE allow_host(IN p_lock LONGBLOB, IN p_host LONGBLOB)
    MODIFIES SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'Add a host to a lease allow-list. Result: hosts'
BEGIN
    DECLARE v_host LONGBLOB;

    CALL check_text_arg('p_lock', p_lock, 191);
    CALL check_text_arg('p_host', p_host, 255);
    SET timestamp = DEFAULT;
    SET v_host = TRIM(TRAILING '/' FROM p_host);
    IF LENGTH(v_host) = 0 THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'p_host must name an IP or the leading fields of an owner';
    END IF;
    INSERT INTO lease_hosts (lease_name, host, added_at) VALUES (p_lock, v_host, UTC_TIMESTAMP(6))
        ON DUPLICATE KEY UPDATE host = host;
    SELECT COUNT(*) AS hosts FROM lease_hosts WHERE lease_name = p_lock;
END;
-- +goose StatementEnd

-- +goose Down
DROP PROCEDURE IF EXISTS allow_host;
