-- Orders of several lines are paid once: one intent at the provider, a
-- payment row per line (reservation) sharing it, each confirmed, refunded
-- (a partial refund of the intent) and taken back on its own.
ALTER TABLE payments ADD COLUMN order_id uuid;
ALTER TABLE payments DROP CONSTRAINT payments_provider_ref_key;
CREATE INDEX payments_intent ON payments (provider_ref);
CREATE INDEX payments_order ON payments (order_id) WHERE order_id IS NOT NULL;
