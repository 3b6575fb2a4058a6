-- Tickets passed on: the holder offers a ticket to an address; the person
-- accepts with an account of this platform; the old ticket is revoked and a
-- new one (new id, new code) issued to them in one transaction. The offers
-- are the transfers' audit trail: who, to whom, when, which ticket became
-- which.
ALTER TABLE tickets ADD COLUMN owner_account text;   -- who holds it, when not the order's buyer
ALTER TABLE tickets ADD COLUMN replaced_by   uuid;   -- the ticket issued in its place
ALTER TABLE tickets DROP CONSTRAINT tickets_reservation_id_seat_key;
CREATE UNIQUE INDEX tickets_current_seat ON tickets (reservation_id, seat) WHERE replaced_by IS NULL;
CREATE INDEX tickets_owner ON tickets (owner_account) WHERE owner_account IS NOT NULL;

CREATE TABLE ticket_transfers (
    id           uuid PRIMARY KEY,
    ticket_id    uuid        NOT NULL REFERENCES tickets (id),
    from_account text        NOT NULL,
    to_email     text        NOT NULL,
    token_hash   bytea       NOT NULL UNIQUE,
    -- OFFERED, then ACCEPTED or WITHDRAWN (an offer past expires_at is void).
    status       text        NOT NULL DEFAULT 'OFFERED' CHECK (status IN ('OFFERED', 'ACCEPTED', 'WITHDRAWN')),
    expires_at   timestamptz NOT NULL,
    accepted_by  text,
    new_ticket   uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    decided_at   timestamptz
);
CREATE UNIQUE INDEX ticket_transfers_open ON ticket_transfers (ticket_id) WHERE status = 'OFFERED';
CREATE INDEX ticket_transfers_from ON ticket_transfers (from_account);
