-- A request whose PENDING the log has not decided is published again
-- (`republished_at`) and, after a longer bound, rejected with a reason.
ALTER TABLE reservations ADD COLUMN republished_at timestamptz;
ALTER TABLE reservations ADD COLUMN reason text;
