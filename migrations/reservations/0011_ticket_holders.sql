-- Named tickets: who a seat is for (the buyer names each one, until a day
-- before kick-off), and the address that got it by mail, if any.
ALTER TABLE tickets ADD COLUMN holder_name text;
ALTER TABLE tickets ADD COLUMN holder_email text;
