-- Reservations of this platform's buyers and the outbox of their sales
-- messages, written in one transaction.
CREATE TABLE reservations (
    id            uuid PRIMARY KEY,
    buyer_id      text        NOT NULL,
    match_number  smallint    NOT NULL CHECK (match_number BETWEEN 1 AND 64),
    category      smallint    NOT NULL CHECK (category BETWEEN 1 AND 3),
    quantity      smallint    NOT NULL CHECK (quantity BETWEEN 1 AND 2),
    unit_price    integer     NOT NULL CHECK (unit_price >= 0),
    status        text        NOT NULL,
    expires_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reservations_buyer ON reservations (buyer_id, created_at DESC);

CREATE TABLE outbox (
    seq        bigserial PRIMARY KEY,
    topic      text        NOT NULL,
    key        text        NOT NULL,
    payload    bytea       NOT NULL,
    headers    jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);
CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
