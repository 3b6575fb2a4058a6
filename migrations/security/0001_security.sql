-- Buyer and admin accounts, and the networks refused at the door.
CREATE TABLE accounts (
    id            uuid PRIMARY KEY,
    email         text        NOT NULL UNIQUE,
    password_hash text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('buyer', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE blocked_networks (
    cidr       cidr PRIMARY KEY,
    reason     text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
