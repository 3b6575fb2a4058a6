-- The master list as this platform read it from the master-list topic.
CREATE TABLE matches (
    match_number smallint PRIMARY KEY CHECK (match_number BETWEEN 1 AND 64),
    round_number smallint    NOT NULL,
    date_utc     timestamptz NOT NULL,
    location     text        NOT NULL,
    home_team    text        NOT NULL,
    away_team    text        NOT NULL,
    group_name   text,
    -- Lower-cased, accent-free team and venue names for text search.
    search_text  text        NOT NULL,
    -- The master-list message as published, to detect identical re-publishing.
    source       jsonb       NOT NULL
);
CREATE INDEX matches_date ON matches (date_utc);

-- The shared ledger: one row per ticket type, folded from the sales topic
-- by the rule in ticktak-core.
CREATE TABLE ticket_types (
    match_number   smallint NOT NULL REFERENCES matches (match_number),
    category       smallint NOT NULL CHECK (category BETWEEN 1 AND 3),
    price          integer  NOT NULL CHECK (price >= 0),
    capacity       integer  NOT NULL CHECK (capacity >= 0),
    held           integer  NOT NULL DEFAULT 0 CHECK (held >= 0),
    sold           integer  NOT NULL DEFAULT 0 CHECK (sold >= 0),
    anonymous_held integer  NOT NULL DEFAULT 0 CHECK (anonymous_held >= 0),
    anomalies      integer  NOT NULL DEFAULT 0 CHECK (anomalies >= 0),
    PRIMARY KEY (match_number, category)
);

-- Every hold of the market (any platform's), with the log's decision.
CREATE TABLE holds (
    hold_id      uuid PRIMARY KEY,
    match_number smallint    NOT NULL,
    category     smallint    NOT NULL,
    quantity     smallint    NOT NULL CHECK (quantity BETWEEN 1 AND 2),
    status       text        NOT NULL CHECK (status IN ('GRANTED', 'REJECTED', 'CONFIRMED', 'RELEASED')),
    origin       text,
    produced_at  timestamptz,
    decided_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Last applied offset per topic partition, written in the same transaction
-- as the effects of the messages up to it.
CREATE TABLE applied_offsets (
    topic       text    NOT NULL,
    partition   integer NOT NULL,
    last_offset bigint  NOT NULL,
    PRIMARY KEY (topic, partition)
);
