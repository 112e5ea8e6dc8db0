-- The escrow lifecycle: cart, transition history, shipments, ledger, settlements,
-- idempotency keys and the event outbox. Same portable rules as 0001.

CREATE TABLE cart_items (
    buyer_id BIGINT NOT NULL,
    product_id BIGINT NOT NULL,
    quantity BIGINT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (buyer_id, product_id),
    FOREIGN KEY (buyer_id) REFERENCES users (id),
    FOREIGN KEY (product_id) REFERENCES products (id),
    CHECK (quantity > 0)
) {{TABLE}};

-- Every state change of an order, a payment or its escrow: time, from, to, actor, reason.
CREATE TABLE state_history (
    id {{PK}},
    order_id BIGINT NOT NULL,
    entity VARCHAR(16) NOT NULL,
    from_state VARCHAR(32) NULL,
    to_state VARCHAR(32) NOT NULL,
    actor VARCHAR(64) NOT NULL,
    reason VARCHAR(500) NULL,
    at BIGINT NOT NULL,
    FOREIGN KEY (order_id) REFERENCES orders (id)
) {{TABLE}};
CREATE INDEX state_history_order ON state_history (order_id, id);

CREATE TABLE shipments (
    payment_id BIGINT NOT NULL PRIMARY KEY,
    courier VARCHAR(16) NOT NULL,
    invoice_number VARCHAR(64) NOT NULL,
    sent_at BIGINT NOT NULL,
    registered_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    FOREIGN KEY (payment_id) REFERENCES payments (id)
) {{TABLE}};

-- Double entry: each row moves `amount` from one account to another.
-- Accounts: buyer (outside), escrow (held), seller (released), refunds (returned to buyer).
CREATE TABLE ledger_entries (
    id {{PK}},
    payment_id BIGINT NOT NULL,
    kind VARCHAR(16) NOT NULL,
    debit_account VARCHAR(16) NOT NULL,
    credit_account VARCHAR(16) NOT NULL,
    amount BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    FOREIGN KEY (payment_id) REFERENCES payments (id),
    CHECK (amount > 0)
) {{TABLE}};
CREATE INDEX ledger_entries_payment ON ledger_entries (payment_id);

CREATE TABLE settlements (
    payment_id BIGINT NOT NULL PRIMARY KEY,
    seller_id BIGINT NOT NULL,
    gross_amount BIGINT NOT NULL,
    fee_amount BIGINT NOT NULL,
    net_amount BIGINT NOT NULL,
    released_at BIGINT NOT NULL,
    FOREIGN KEY (payment_id) REFERENCES payments (id),
    FOREIGN KEY (seller_id) REFERENCES users (id)
) {{TABLE}};
CREATE INDEX settlements_seller ON settlements (seller_id, payment_id);

-- status_code 0 marks a request still running under that key.
CREATE TABLE idempotency_keys (
    user_id BIGINT NOT NULL,
    idem_key VARCHAR(255) NOT NULL,
    request_hash VARCHAR(64) NOT NULL,
    status_code BIGINT NOT NULL,
    response_body VARCHAR(8000) NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, idem_key)
) {{TABLE}};
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE outbox_events (
    id {{PK}},
    event_id VARCHAR(36) NOT NULL,
    event_type VARCHAR(64) NOT NULL,
    order_id BIGINT NOT NULL,
    payload VARCHAR(4000) NOT NULL,
    created_at BIGINT NOT NULL,
    -- A relay claims a row for a while before publishing; another takes over after that.
    claimed_by VARCHAR(64) NULL,
    claim_until BIGINT NULL,
    published_at BIGINT NULL
) {{TABLE}};
CREATE UNIQUE INDEX outbox_events_event_id ON outbox_events (event_id);
CREATE INDEX outbox_events_unpublished ON outbox_events (published_at, id);
