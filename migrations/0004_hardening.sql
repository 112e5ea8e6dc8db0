-- Hardening: idempotent answers of any size, and tokens a logout can revoke.
-- Same portable rules as 0001; a BLOB is the one unbounded type both backends (and sqlx's
-- Any driver, which reads MariaDB's TEXT as bytes) hand back the same way.

-- Answers are saved here from now on; keys saved before keep theirs in response_body.
ALTER TABLE idempotency_keys ADD COLUMN response_bytes LONGBLOB NULL;

-- A token carries the version current when it was issued; a logout moves it on.
ALTER TABLE users ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;

-- What a buyer holds unpaid is summed at every order: their orders by status, not their
-- whole history.
CREATE INDEX orders_buyer_status ON orders (buyer_id, status);
