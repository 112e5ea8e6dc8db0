-- Seller settlements and payouts: settlement lines (a release's, or a chargeback's with
-- negative amounts) with the date each becomes available, sellers' bank accounts, and
-- payout batches. Money itself is only in ledger_postings. Same portable rules as 0001.

CREATE TABLE settlement_lines (
    id {{PK}},
    payment_id BIGINT NOT NULL,
    seller_id BIGINT NOT NULL,
    kind VARCHAR(16) NOT NULL,
    gross_amount BIGINT NOT NULL,
    fee_amount BIGINT NOT NULL,
    fee_vat_amount BIGINT NOT NULL,
    net_amount BIGINT NOT NULL,
    reason VARCHAR(500) NULL,
    released_at BIGINT NOT NULL,
    -- YYYY-MM-DD in Korean time; ISO dates compare as text.
    available_on VARCHAR(10) NOT NULL,
    -- When `settlement.overdue` was raised for this line: once.
    overdue_at BIGINT NULL,
    FOREIGN KEY (payment_id) REFERENCES payments (id),
    FOREIGN KEY (seller_id) REFERENCES users (id)
) {{TABLE}};
-- Releases before settlement dates existed were owed already: available at once.
INSERT INTO settlement_lines (payment_id, seller_id, kind, gross_amount, fee_amount,
    fee_vat_amount, net_amount, released_at, available_on)
SELECT payment_id, seller_id, 'release', gross_amount, fee_amount, fee_vat_amount, net_amount,
    released_at, '1970-01-01'
FROM settlements ORDER BY released_at, payment_id;
DROP TABLE settlements;
ALTER TABLE settlement_lines RENAME TO settlements;
CREATE INDEX settlements_seller_line ON settlements (seller_id, id);
CREATE INDEX settlements_payment_line ON settlements (payment_id, kind);
CREATE INDEX settlements_available ON settlements (available_on);

CREATE TABLE bank_accounts (
    seller_id BIGINT NOT NULL PRIMARY KEY,
    bank_code VARCHAR(3) NOT NULL,
    account_number VARCHAR(20) NOT NULL,
    holder VARCHAR(50) NOT NULL,
    updated_at BIGINT NOT NULL,
    FOREIGN KEY (seller_id) REFERENCES users (id)
) {{TABLE}};

CREATE TABLE payouts (
    id {{PK}},
    min_amount BIGINT NOT NULL,
    created_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL
) {{TABLE}};

-- The bank account is copied: the transfer file pays where the batch said, even if the
-- seller changes it afterwards.
CREATE TABLE payout_items (
    payout_id BIGINT NOT NULL,
    seller_id BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    bank_code VARCHAR(3) NOT NULL,
    account_number VARCHAR(20) NOT NULL,
    holder VARCHAR(50) NOT NULL,
    status VARCHAR(16) NOT NULL,
    failure VARCHAR(500) NULL,
    settled_at BIGINT NULL,
    PRIMARY KEY (payout_id, seller_id),
    FOREIGN KEY (payout_id) REFERENCES payouts (id),
    FOREIGN KEY (seller_id) REFERENCES users (id),
    CHECK (amount > 0)
) {{TABLE}};
CREATE INDEX payout_items_seller ON payout_items (seller_id, status);

-- Taken first by whatever takes money out of sellers' balances (a payout batch, a
-- chargeback), so two at once see each other's result: two batches pressed at once make one.
CREATE TABLE payout_guard (
    name VARCHAR(16) NOT NULL PRIMARY KEY,
    taken_at BIGINT NOT NULL
) {{TABLE}};
INSERT INTO payout_guard (name, taken_at) VALUES ('balances', 0);
