-- Installs the try_acquire procedure. Generated from procedures/try_acquire.sql, its
-- canonical source, by TestBaselineProceduresAreGeneratedFromTheirSource
-- (docs/dba.md, "Changing the SQL"): edit that file, not this one.

-- +goose Up
DROP PROCEDURE IF EXISTS try_acquire;

-- +goose StatementBegin
-- try_acquire: take, renew or report the lease on p_lock for p_owner.
--
-- Result, one row: acquired (0/1), token, holder, expires_in_ms.
--   * lock row missing          -> created and acquired with token 1
--   * held by p_owner, live     -> renewed for p_ttl_ms from now, same token
--   * free, or expired          -> acquired with token + 1 (the caller's own
--                                  expired lease too: it may have missed writes)
--   * held by someone else      -> acquired = 0; the row describes that lease
-- A revoked lease (revoke_lease) cannot be renewed and counts as held until it
-- expires or its holder releases it. A lock with an allow-list (lease_hosts)
-- is only acquired by an owner that the list names.
--
-- Time is UTC_TIMESTAMP(6) of the database: no client clock, session time
-- zone or daylight-saving change enters the decision.
--
-- The algorithm is acquire_lease's. This procedure answers the common case
-- itself, a follower polling a live lease of another owner: one consistent
-- read, no row lock, as few statements as possible (each statement of a
-- procedure costs as much as a round trip on a fast network). A lock row
-- exists only for a valid lock name; the owner and the TTL are checked here by
-- the rules of check_text_arg, with the same portable expressions (a NULL from
-- a failed conversion makes the test false and sends the call on). Anything
-- else, every argument error included, goes to acquire_lease. (A session that set
-- its own timestamp can only make this answer "not acquired" for itself:
-- acquire_lease resets the clock before it decides anything.)
CREATE PROCEDURE try_acquire(
    IN p_lock   LONGBLOB,
    IN p_owner  LONGBLOB,
    IN p_ttl_ms BIGINT
)
    MODIFIES SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'Take, renew or report a lease. Result: acquired, token, holder, expires_in_ms'
BEGIN
    DECLARE v_token   BIGINT UNSIGNED;
    DECLARE v_holder  VARBINARY(1020);
    DECLARE v_left_us BIGINT;

    SELECT MAX(token), MAX(holder), MAX(TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires_at))
      INTO v_token, v_holder, v_left_us
      FROM leases
     WHERE name = p_lock AND holder <> p_owner AND expires_at > UTC_TIMESTAMP(6);
    IF v_token IS NOT NULL AND p_ttl_ms BETWEEN 1 AND 86400000
       AND LENGTH(p_owner) BETWEEN 1 AND 1020 AND CAST(CONVERT(p_owner USING utf8mb4) AS BINARY) = p_owner
       AND CHAR_LENGTH(CONVERT(p_owner USING utf8mb4)) <= 255
       AND NOT (CONVERT(p_owner USING utf8mb4) COLLATE utf8mb4_bin
                 REGEXP _utf8mb4 X'5B5E202D7EC2802DF48FBFBF5D' COLLATE utf8mb4_bin) THEN
        SELECT 0 AS acquired, v_token AS token, CONVERT(v_holder USING utf8mb4) AS holder,
               CEIL(v_left_us / 1000) AS expires_in_ms;
    ELSE
        CALL acquire_lease(p_lock, p_owner, p_ttl_ms);
    END IF;
END;
-- +goose StatementEnd

-- +goose Down
DROP PROCEDURE IF EXISTS try_acquire;
