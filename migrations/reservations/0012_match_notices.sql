-- What ticket holders were last told about each match: its kick-off and
-- venue when first seen or last told, how many times it moved (a move
-- notice is mailed once per move), and the kick-off the day-before
-- reminder was sent for (once per kick-off).
CREATE TABLE match_notices_seen (
    match_number       smallint PRIMARY KEY,
    kick_off           timestamptz NOT NULL,
    location           text        NOT NULL,
    moves              integer     NOT NULL DEFAULT 0,
    reminded_kick_off  timestamptz
);
