-- Sign-up, sign-in and sessions.

-- Accounts: the buyer's name and country; e-mail addresses unique whatever
-- their case; the staff role (ticket check-in).
ALTER TABLE accounts ADD COLUMN name text NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN country text NOT NULL DEFAULT 'QA';
ALTER TABLE accounts ALTER COLUMN name DROP DEFAULT;
ALTER TABLE accounts ALTER COLUMN country DROP DEFAULT;
ALTER TABLE accounts DROP CONSTRAINT accounts_email_key;
CREATE UNIQUE INDEX accounts_email_unique ON accounts (lower(email));
ALTER TABLE accounts DROP CONSTRAINT accounts_role_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_role_check CHECK (role IN ('buyer', 'staff', 'admin'));

-- A sign-in starts a family of refresh tokens; each refresh uses one token
-- and issues the next. Presenting a used token revokes the whole family.
CREATE TABLE refresh_families (
    id             uuid PRIMARY KEY,
    account_id     uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    revoked_reason text
);
CREATE INDEX refresh_families_account ON refresh_families (account_id);

-- Refresh tokens are stored as the SHA-256 of the token (256 random bits).
CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY,
    family_id  uuid        NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    issued_at  timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);

-- Failed sign-ins per client address (`ip:…`) and per e-mail address
-- (`account:…`, whether or not the account exists), and until when further
-- attempts are refused.
CREATE TABLE login_failures (
    key             text PRIMARY KEY,
    failures        integer     NOT NULL,
    last_failure_at timestamptz NOT NULL,
    locked_until    timestamptz NOT NULL
);
