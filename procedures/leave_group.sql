-- leave_group: a balanced runner that stops says so, after it has released
-- its jobs' leases, so that the others share its jobs out at once instead of
-- after its time to live. Deletes the runner's member row.
--
-- Result, one row: left (0/1).
-- With owner_binding on, p_owner must be bound to the calling database user
-- (check_owner), or the call fails with 45000.
CREATE PROCEDURE leave_group(
    IN p_group LONGBLOB,
    IN p_owner LONGBLOB
)
    MODIFIES SQL DATA
    SQL SECURITY DEFINER
    COMMENT 'A balanced runner leaves its group. Result: left'
BEGIN
    CALL check_text_arg('p_group', p_group, 191);
    CALL check_text_arg('p_owner', p_owner, 255);
    CALL check_owner(p_owner);
    DELETE FROM lease_members WHERE lease_name = p_group AND owner = p_owner;
    SELECT ROW_COUNT() = 1 AS left_group;
END
