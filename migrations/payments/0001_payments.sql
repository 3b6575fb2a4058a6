-- Payments of reservations through the payment provider.
CREATE TABLE payments (
    id              uuid PRIMARY KEY,
    reservation_id  uuid        NOT NULL UNIQUE,
    provider_ref    text        UNIQUE,
    amount          integer     NOT NULL CHECK (amount >= 0),
    status          text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
