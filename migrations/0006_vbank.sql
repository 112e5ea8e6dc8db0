-- Virtual accounts: the account the gateway issued for a payment, shown to the buyer until
-- the deposit arrives or the due time passes. Same portable rules as 0001.

CREATE TABLE vbank_accounts (
    payment_id BIGINT NOT NULL PRIMARY KEY,
    -- KFTC standard code.
    bank_code VARCHAR(3) NOT NULL,
    bank_name VARCHAR(64) NOT NULL,
    account_number VARCHAR(64) NOT NULL,
    holder VARCHAR(128) NOT NULL,
    due_at BIGINT NOT NULL,
    issued_at BIGINT NOT NULL,
    FOREIGN KEY (payment_id) REFERENCES payments (id)
) {{TABLE}};
