-- Indexes that a lifecycle's steps no longer rewrite: every step updates its payment and its
-- order, and each index holding a column the step writes is rewritten with it (BENCHMARKS.md,
-- "Comparing two builds"). Same portable rules as 0001.

-- Refused payments are found by when they were refused, which only a refusal writes; keyed on
-- `updated_at`, every step of every payment moved this index.
ALTER TABLE payments ADD COLUMN refused_at BIGINT NULL;
UPDATE payments SET refused_at = updated_at WHERE failure_code IS NOT NULL;
DROP INDEX payments_refused {{ON payments}};
CREATE INDEX payments_refused ON payments (refused_at);

-- An open return's deadline alone: `return_due_at` is NULL outside a return, so an order's
-- other status changes leave this index alone, as (status, return_due_at) did not.
DROP INDEX orders_status_return_due {{ON orders}};
CREATE INDEX orders_return_due ON orders (return_due_at);

-- Only the admin's whole-ledger check groups postings by journal; it sorts them instead of
-- every posting writing an index entry for it.
DROP INDEX ledger_postings_journal {{ON ledger_postings}};
