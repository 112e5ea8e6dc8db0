-- payments_status (status, id) of 0001 lost its last reader to payments_open (status,
-- released_amount, id) of 0010; every status change still wrote it. Same portable rules as
-- 0001; `{{ON table}}` names the table on MySQL, where an index's name is the table's own.
DROP INDEX payments_status {{ON payments}};
