-- First response of each (buyer, Idempotency-Key): a repeat gets it again.
-- status/body stay NULL while the first request is still being answered.
CREATE TABLE idempotency (
    buyer_id     text        NOT NULL,
    key          text        NOT NULL,
    request_hash text        NOT NULL,
    status       smallint,
    body         jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (buyer_id, key)
);

CREATE INDEX reservations_open ON reservations (status, expires_at) WHERE status IN ('REQUESTED', 'HELD');
