-- A key remembers the reservation its first request created (written in the
-- same statement as the reservation), so a repeat gets an answer even when
-- the first request never finished. Keys are forgotten after 24 hours.
ALTER TABLE idempotency ADD COLUMN reservation_id uuid;
CREATE INDEX idempotency_created ON idempotency (created_at);
