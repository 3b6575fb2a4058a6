-- An account its owner deleted: the row stays (the id the other services'
-- records keep), without the person — the address becomes a placeholder
-- nobody can sign up with, name and country are cleared, sign-in is off.
ALTER TABLE accounts ADD COLUMN erased_at timestamptz;
