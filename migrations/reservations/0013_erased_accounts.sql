-- Accounts whose owner deleted them: their orders stay (under the account
-- id, without the person), and a token of theirs still unexpired can no
-- longer hold or queue.
CREATE TABLE erased_accounts (
    account    text PRIMARY KEY,
    erased_at  timestamptz NOT NULL DEFAULT now()
);
