-- The money core: refunds recorded as intents before the gateway is asked, a version that
-- makes every transition of a payment conditional on the state it was planned from, and a
-- double-entry ledger over named accounts. Same portable rules as 0001.

-- Reserved by refunds the gateway is being asked for: neither refunded nor releasable.
ALTER TABLE payments ADD COLUMN refunding_amount BIGINT NOT NULL DEFAULT 0 CHECK (refunding_amount >= 0);
ALTER TABLE payments ADD COLUMN version BIGINT NOT NULL DEFAULT 0;

CREATE TABLE refunds (
    id {{PK}},
    payment_id BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL,
    reason VARCHAR(500) NOT NULL,
    actor VARCHAR(64) NOT NULL,
    requested_at BIGINT NOT NULL,
    completed_at BIGINT NULL,
    failure VARCHAR(500) NULL,
    -- Before this time the request that made it may still be waiting for the gateway.
    settle_after BIGINT NOT NULL,
    FOREIGN KEY (payment_id) REFERENCES payments (id),
    CHECK (amount > 0)
) {{TABLE}};
CREATE INDEX refunds_payment ON refunds (payment_id, id);
CREATE INDEX refunds_open ON refunds (status, settle_after);

-- One row per posting; the postings of one journal (one business event) share `journal`
-- and sum to zero. Positive amounts go into the account, negative ones out of it.
CREATE TABLE ledger_postings (
    id {{PK}},
    journal VARCHAR(40) NOT NULL,
    payment_id BIGINT NULL,
    kind VARCHAR(16) NOT NULL,
    account VARCHAR(64) NOT NULL,
    amount BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    FOREIGN KEY (payment_id) REFERENCES payments (id),
    CHECK (amount <> 0)
) {{TABLE}};
CREATE INDEX ledger_postings_journal ON ledger_postings (journal);
CREATE INDEX ledger_postings_payment ON ledger_postings (payment_id);
CREATE INDEX ledger_postings_account ON ledger_postings (account);

-- The two-account rows of 0002 become journals of two postings each.
INSERT INTO ledger_postings (journal, payment_id, kind, account, amount, created_at)
SELECT CONCAT('v1-', e.id), e.payment_id, e.kind,
       CASE e.debit_account WHEN 'buyer' THEN 'gateway' WHEN 'seller' THEN CONCAT('seller:', o.seller_id) ELSE e.debit_account END,
       -e.amount, e.created_at
FROM ledger_entries e JOIN payments p ON p.id = e.payment_id JOIN orders o ON o.id = p.order_id;
INSERT INTO ledger_postings (journal, payment_id, kind, account, amount, created_at)
SELECT CONCAT('v1-', e.id), e.payment_id, e.kind,
       CASE e.credit_account WHEN 'buyer' THEN 'gateway' WHEN 'seller' THEN CONCAT('seller:', o.seller_id) ELSE e.credit_account END,
       e.amount, e.created_at
FROM ledger_entries e JOIN payments p ON p.id = e.payment_id JOIN orders o ON o.id = p.order_id;
DROP TABLE ledger_entries;

ALTER TABLE settlements ADD COLUMN fee_vat_amount BIGINT NOT NULL DEFAULT 0;

-- What the ledger check and reconciliation found and could not repair; listed until resolved.
CREATE TABLE ledger_divergences (
    id {{PK}},
    payment_id BIGINT NOT NULL,
    kind VARCHAR(32) NOT NULL,
    found VARCHAR(500) NOT NULL,
    detected_at BIGINT NOT NULL,
    resolved_at BIGINT NULL,
    FOREIGN KEY (payment_id) REFERENCES payments (id)
) {{TABLE}};
CREATE UNIQUE INDEX ledger_divergences_payment_kind ON ledger_divergences (payment_id, kind);

-- Where a periodic sweep got to (reconciliation asks the gateway what changed since then).
CREATE TABLE sweep_marks (
    name VARCHAR(64) NOT NULL PRIMARY KEY,
    at BIGINT NOT NULL
) {{TABLE}};
