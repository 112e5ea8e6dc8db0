-- Returns and exchanges: the buyer's request, the parcel sent back, the seller's decision.
-- The return's state is its order's status (return_requested, return_shipping,
-- return_received, then returned, paid again for an exchange, disputed, or delivered after a
-- lapse); this row keeps what the steps said. Same portable rules as 0001.

CREATE TABLE returns (
    id {{PK}},
    payment_id BIGINT NOT NULL,
    order_id BIGINT NOT NULL,
    kind VARCHAR(16) NOT NULL,
    reason_code VARCHAR(32) NOT NULL,
    reason VARCHAR(500) NOT NULL,
    requested_at BIGINT NOT NULL,
    -- The parcel must be sent by then, or the return lapses.
    ship_by BIGINT NOT NULL,
    -- What was left of the buyer's confirmation period when the return was asked for: a
    -- lapse gives it back, so automatic confirmation resumes where it stopped.
    confirm_left BIGINT NOT NULL,
    courier VARCHAR(16) NULL,
    invoice_number VARCHAR(64) NULL,
    shipped_at BIGINT NULL,
    received_at BIGINT NULL,
    -- The seller's inspection ends then; silence is acceptance with no fee.
    inspect_by BIGINT NULL,
    -- accepted, rejected or lapsed, once closed.
    outcome VARCHAR(16) NULL,
    closed_at BIGINT NULL,
    fee BIGINT NOT NULL DEFAULT 0,
    -- A virtual-account payment's refund goes to the buyer's account, named with the return.
    refund_bank_code VARCHAR(3) NULL,
    refund_account_number VARCHAR(20) NULL,
    refund_holder VARCHAR(50) NULL,
    FOREIGN KEY (payment_id) REFERENCES payments (id),
    FOREIGN KEY (order_id) REFERENCES orders (id),
    CHECK (fee >= 0)
) {{TABLE}};
CREATE INDEX returns_payment ON returns (payment_id, id);

-- The open return's next deadline (ship_by while requested, inspect_by once received), on
-- the order so that the jobs find the due ones by (status, time) as automatic confirmation
-- does.
ALTER TABLE orders ADD COLUMN return_due_at BIGINT NULL;
CREATE INDEX orders_status_return_due ON orders (status, return_due_at);
