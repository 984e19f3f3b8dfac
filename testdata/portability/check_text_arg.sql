-- check_text_arg: the argument rule shared by every procedure that takes a
-- lock name or an owner. It signals SQLSTATE '45000' with a message that names
-- the argument unless p_value is 1 to p_max_chars characters of valid UTF-8
-- without control characters. Names are VARBINARY and compared byte for byte,
-- so nothing is ever truncated or folded into another name.
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
    ELSEIF CAST(CONVERT(p_value USING utf8mb4) AS BINARY) <> p_value THEN
        SET v_msg = CONCAT(p_arg, ' must be valid UTF-8');
    ELSEIF CHAR_LENGTH(CONVERT(p_value USING utf8mb4)) > p_max_chars THEN
        SET v_msg = CONCAT(p_arg, ' must be at most ', p_max_chars, ' characters, got ',
                           CHAR_LENGTH(CONVERT(p_value USING utf8mb4)));
    ELSEIF p_value REGEXP '[[:cntrl:]]' THEN
        SET v_msg = CONCAT(p_arg, ' must not contain control characters (NUL, tab, newline, ...)');
    END IF;
    IF v_msg IS NOT NULL THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_msg;
    END IF;
END
