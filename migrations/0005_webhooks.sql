-- Outgoing webhooks for integrators: their endpoints, and one delivery row per endpoint and
-- event, fanned out from the outbox. Same portable rules as 0001.

CREATE TABLE webhook_endpoints (
    id {{PK}},
    url VARCHAR(2000) NOT NULL,
    -- Comma-separated event types; empty: every type.
    event_types VARCHAR(2000) NOT NULL,
    -- `whsec_` + base64: kept whole, since signing needs the key itself.
    secret VARCHAR(200) NOT NULL,
    created_at BIGINT NOT NULL
) {{TABLE}};

CREATE TABLE webhook_deliveries (
    id {{PK}},
    endpoint_id BIGINT NOT NULL,
    event_id VARCHAR(36) NOT NULL,
    event_type VARCHAR(64) NOT NULL,
    -- The body sent, the same on every attempt (the outbox row may be swept meanwhile).
    body VARCHAR(4000) NOT NULL,
    -- `pending`, `succeeded` or `failed`.
    status VARCHAR(16) NOT NULL,
    attempts BIGINT NOT NULL,
    last_status_code BIGINT NULL,
    next_attempt_at BIGINT NULL,
    -- An instance sending an attempt holds the row until then; another may take it after.
    claimed_by VARCHAR(64) NULL,
    claim_until BIGINT NULL,
    created_at BIGINT NOT NULL,
    -- When it became `succeeded` or `failed` (NULL while pending): the sweep's clock.
    settled_at BIGINT NULL,
    FOREIGN KEY (endpoint_id) REFERENCES webhook_endpoints (id) ON DELETE CASCADE
) {{TABLE}};
CREATE UNIQUE INDEX webhook_deliveries_endpoint_event ON webhook_deliveries (endpoint_id, event_id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_settled ON webhook_deliveries (settled_at);

-- Which outbox events were fanned out into deliveries (independent of the NATS relay's
-- `published_at`). While no endpoint exists events stay unmarked; the first endpoint marks
-- them all, so it gets only what happens after it.
ALTER TABLE outbox_events ADD COLUMN fanned_out_at BIGINT NULL;
CREATE INDEX outbox_events_fan_out ON outbox_events (fanned_out_at, id);
