-- Accounts held back by the reputation rules (security's
-- screening/reputation.rs): 'challenge' (a solved puzzle for each new
-- hold) or 'block' (no new holds) until expires_at.
CREATE TABLE account_verdicts (
    account     text PRIMARY KEY,
    verdict     text        NOT NULL CHECK (verdict IN ('challenge', 'block')),
    difficulty  bigint      NOT NULL CHECK (difficulty >= 0),
    reason      text        NOT NULL,
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX security_events_account_kind ON security_events (account, kind, at DESC);
