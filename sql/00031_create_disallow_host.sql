-- Installs the disallow_host procedure. Generated from procedures/disallow_host.sql, its
-- canonical source, by TestBaselineProceduresAreGeneratedFromTheirSource
-- (docs/dba.md, "Changing the SQL"): edit that file, not this one.

-- +goose Up
DROP PROCEDURE IF EXISTS disallow_host;

-- +goose StatementBegin
-- disallow_host: remove a host from p_lock's allow-list. If the list is left
-- non-empty and no longer names the current holder, the holder's lease is
-- revoked as by revoke_lease, so it steps down. An empty list lets everyone
-- compete again.
--
-- Result, one row: hosts (the list's length after the call), revoked (0/1).
CREATE PROCEDURE disallow_host(IN p_lock LONGBLOB, IN p_host LONGBLOB)
    MODIFIES SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'Remove a host from a lease allow-list. Result: hosts, revoked'
BEGIN
    DECLARE v_hosts   BIGINT;
    DECLARE v_revoked BOOLEAN DEFAULT FALSE;

    CALL check_text_arg('p_lock', p_lock, 191);
    CALL check_text_arg('p_host', p_host, 255);
    SET timestamp = DEFAULT;
    START TRANSACTION;
    DELETE FROM lease_hosts WHERE lease_name = p_lock AND host = TRIM(TRAILING '/' FROM p_host);
    SELECT COUNT(*) INTO v_hosts FROM lease_hosts WHERE lease_name = p_lock;
    IF v_hosts > 0 THEN
        UPDATE leases AS l SET l.revoked_at = UTC_TIMESTAMP(6)
         WHERE l.name = p_lock AND l.holder IS NOT NULL AND l.expires_at > UTC_TIMESTAMP(6) AND l.revoked_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM lease_hosts AS h
                            WHERE h.lease_name = p_lock
                              AND (h.host = l.holder OR LEFT(l.holder, LENGTH(h.host) + 1) = CONCAT(h.host, '/')));
        SET v_revoked = ROW_COUNT() > 0;
    END IF;
    COMMIT;
    SELECT v_hosts AS hosts, v_revoked AS revoked;
END;
-- +goose StatementEnd

-- +goose Down
DROP PROCEDURE IF EXISTS disallow_host;
