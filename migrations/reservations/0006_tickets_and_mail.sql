-- Tickets of confirmed reservations, the buyer's address for their e-mail,
-- and the e-mail outbox (see ticktak_kit::mail).
ALTER TABLE reservations ADD COLUMN buyer_email text;

CREATE TABLE tickets (
    id              uuid PRIMARY KEY,
    reservation_id  uuid        NOT NULL REFERENCES reservations (id),
    seat            smallint    NOT NULL CHECK (seat >= 1),
    match_number    smallint    NOT NULL,
    category        smallint    NOT NULL,
    holder          text        NOT NULL,
    code            text        NOT NULL UNIQUE,
    -- VALID, USED or REVOKED (the reservation was refunded).
    status          text        NOT NULL DEFAULT 'VALID' CHECK (status IN ('VALID', 'USED', 'REVOKED')),
    used_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (reservation_id, seat)
);

CREATE TABLE mail_outbox (
    id               bigserial PRIMARY KEY,
    dedupe_key       text        NOT NULL UNIQUE,
    recipient        text        NOT NULL,
    subject          text        NOT NULL,
    body             text        NOT NULL,
    attachments      jsonb       NOT NULL DEFAULT '[]',
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    sent_at          timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;
