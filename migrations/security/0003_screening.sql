-- The screening policy every service keeps a replica of, and what the
-- services saw.
CREATE TABLE blocklist (
    id          uuid PRIMARY KEY,
    cidr        cidr        NOT NULL UNIQUE,
    reason      text        NOT NULL,
    expires_at  timestamptz,
    -- The admin's account id, or 'file' for BLOCKLIST_FILE entries.
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Blocks, throttles and blocklist changes: who, why, when.
CREATE TABLE security_events (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    -- blocked, throttled, blocklist_added, blocklist_removed
    kind         text        NOT NULL,
    ip           inet,
    account      text,
    route_class  text,
    service      text,
    count        bigint      NOT NULL DEFAULT 1,
    detail       text        NOT NULL DEFAULT ''
);
CREATE INDEX security_events_at ON security_events (at DESC);

-- Networks whose requests need a solved proof-of-work puzzle, set by the
-- reputation rules (security's screening/reputation.rs).
CREATE TABLE verdicts (
    cidr        cidr PRIMARY KEY,
    difficulty  bigint      NOT NULL CHECK (difficulty > 0),
    reason      text        NOT NULL,
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX security_events_ip_kind ON security_events (ip, kind, at DESC);
