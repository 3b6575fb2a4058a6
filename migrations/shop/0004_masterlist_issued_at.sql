-- When the organisers signed the master-list message in force for a match
-- (NULL: unsigned). Only a newer signed message replaces it, so an old
-- signed message replayed changes nothing.
ALTER TABLE matches ADD COLUMN issued_at timestamptz;
