-- Background work whose cost follows the work due, not the payments ever made: the rows
-- the jobs read are found through indexes that hold them. Same portable rules as 0001.

-- Reconciliation's payments holding money: a released payment keeps status `paid`, so
-- (status, id) alone led through every payment ever released.
CREATE INDEX payments_open ON payments (status, released_amount, id);
-- Refused payments of the last week that the gateway may still hold.
CREATE INDEX payments_refused ON payments (failure_code, updated_at);
-- Reconciliation's ledger check: the payments changed since its last round.
CREATE INDEX payments_updated ON payments (updated_at);
