-- Background work whose cost follows the work due, not the payments ever made: the rows
-- the jobs read are found through indexes that hold them. Same portable rules as 0001.

-- Reconciliation's payments holding money: a released payment keeps status `paid`, so
-- (status, id) alone led through every payment ever released.
CREATE INDEX payments_open ON payments (status, released_amount, id);
-- Refused payments of the last week that the gateway may still hold.
CREATE INDEX payments_refused ON payments (failure_code, updated_at);
-- Reconciliation's ledger check: the payments changed since its last round.
CREATE INDEX payments_updated ON payments (updated_at);

-- The overdue check's checkpoint: each seller's net over their settlement lines up to the
-- line id in the sweep mark `settlement_totals`; a check adds only the lines after it rather
-- than summing every line ever released.
CREATE TABLE settlement_totals (
    seller_id BIGINT NOT NULL PRIMARY KEY,
    net_amount BIGINT NOT NULL,
    FOREIGN KEY (seller_id) REFERENCES users (id)
) {{TABLE}};
