-- E-mail verification and password reset: an account signs in, and its tokens say
-- `email_verified`, only once its owner followed the link mailed to the
-- address. Accounts made before verification existed count as verified.
ALTER TABLE accounts ADD COLUMN email_verified_at timestamptz;
UPDATE accounts SET email_verified_at = created_at;

-- Links mailed to an address (confirm it; choose a new password), stored as the SHA-256 of the
-- token (256 random bits); each works once, until it expires.
CREATE TABLE account_links (
    token_hash bytea PRIMARY KEY,
    account_id uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose    text        NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX account_links_account ON account_links (account_id);
CREATE INDEX account_links_expiry ON account_links (expires_at);

-- Mail to send (ticktak_kit::mail): the links above, and the note to the
-- owner of an address someone tried to sign up with again.
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
-- At most one mail of a kind per address per ten minutes: found by these.
CREATE INDEX mail_outbox_recipient ON mail_outbox (lower(recipient), created_at);
