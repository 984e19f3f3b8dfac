-- check_text_arg: the argument rule shared by every procedure that takes a
-- lock name or an owner. It signals SQLSTATE '45000' with a message that names
-- the argument unless p_value is 1 to p_max_chars characters of valid UTF-8
-- without control characters. Names are VARBINARY and compared byte for byte,
-- so nothing is ever truncated or folded into another name.
--
-- Portable to MySQL 8 and MariaDB alike (docs/compatibility.md):
--   * The UTF-8 test compares the bytes with their round trip through utf8mb4
--     with <=>: MariaDB turns invalid bytes into '?', MySQL may return NULL,
--     and either way the value differs from its round trip.
--   * MySQL 8.0.22 and later reject REGEXP on a binary string (error 3995),
--     so the control-character test runs on the utf8mb4 form of the (by then
--     valid) value. Its pattern, written as a hex literal so that no backslash
--     escape or sql_mode can change it, is [^ -~<U+0080>-<U+10FFFF>]: any
--     character that is neither printable ASCII nor beyond ASCII, which is
--     exactly U+0000 to U+001F and U+007F. [[:cntrl:]] would not do: on a
--     utf8mb4 string both engines read it as Unicode's Cc and would also
--     reject U+0080 to U+009F, which the rule has always allowed. Both sides
--     are utf8mb4_bin: under a case-insensitive collation MariaDB compiles
--     this pattern caselessly, which took milliseconds per call.
--   * Every NOT is written around parentheses, so that the HIGH_NOT_PRECEDENCE
--     sql_mode, which a procedure keeps from its creation, cannot regroup it.
CREATE PROCEDURE check_text_arg(
    IN p_arg       VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_value     LONGBLOB,
    IN p_max_chars INT
)
    NO SQL
    SQL SECURITY INVOKER
    COMMENT 'Signals 45000 unless p_value is 1..p_max_chars characters of UTF-8 without control characters'
BEGIN
    DECLARE v_msg VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;

    IF p_value IS NULL THEN
        SET v_msg = CONCAT(p_arg, ' must not be NULL');
    ELSEIF LENGTH(p_value) = 0 THEN
        SET v_msg = CONCAT(p_arg, ' must not be empty');
    ELSEIF LENGTH(p_value) > 4 * p_max_chars THEN
        -- Too long in bytes already: no need to decode megabytes.
        SET v_msg = CONCAT(p_arg, ' must be at most ', p_max_chars, ' characters, got ', LENGTH(p_value), ' bytes');
    ELSEIF NOT (CAST(CONVERT(p_value USING utf8mb4) AS BINARY) <=> p_value) THEN
        SET v_msg = CONCAT(p_arg, ' must be valid UTF-8');
    ELSEIF CHAR_LENGTH(CONVERT(p_value USING utf8mb4)) > p_max_chars THEN
        SET v_msg = CONCAT(p_arg, ' must be at most ', p_max_chars, ' characters, got ',
                           CHAR_LENGTH(CONVERT(p_value USING utf8mb4)));
    ELSEIF (CONVERT(p_value USING utf8mb4) COLLATE utf8mb4_bin
                REGEXP _utf8mb4 X'5B5E202D7EC2802DF48FBFBF5D' COLLATE utf8mb4_bin) THEN
        SET v_msg = CONCAT(p_arg, ' must not contain control characters (NUL, tab, newline, ...)');
    END IF;
    IF v_msg IS NOT NULL THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_msg;
    END IF;
END
