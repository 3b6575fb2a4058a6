-- Random selection draws (`services/reservations/src/draw`): what the
-- draw topic says of every draw of the market, this platform's own
-- buyers' applications, and the holds of the allocations.

-- Each draw's terms as the organisers published them (the first terms of a
-- draw only), its seed once revealed, and the result this platform drew.
CREATE TABLE draws (
    draw        text PRIMARY KEY,
    terms       jsonb       NOT NULL,
    opens_at    timestamptz NOT NULL,
    closes_at   timestamptz NOT NULL,
    -- The partition of the draw topic its terms came on: its other
    -- messages count there only, so every platform reads them in one order.
    log_partition integer   NOT NULL,
    seed        text,
    -- Where the seed is in the log: applications after it do not count.
    seed_offset bigint,
    -- Applications in the draw so far (every platform's, each once).
    applications integer    NOT NULL DEFAULT 0,
    drawn_at    timestamptz,
    -- The winners' digest (`ticktak_core::draw::winners_digest`).
    digest      text,
    entries     integer,
    duplicates  integer,
    winners     integer
);
CREATE INDEX draws_open ON draws (closes_at);

-- Every platform's applications as the draw topic holds them, each at its
-- latest version; `first_offset` orders them as their first versions came.
CREATE TABLE draw_entries (
    draw         text     NOT NULL REFERENCES draws (draw),
    platform     text     NOT NULL,
    application  uuid     NOT NULL,
    buyer        text     NOT NULL,
    match_number smallint NOT NULL CHECK (match_number BETWEEN 1 AND 64),
    category     smallint NOT NULL CHECK (category BETWEEN 1 AND 3),
    quantity     smallint NOT NULL CHECK (quantity BETWEEN 0 AND 2),
    version      integer  NOT NULL,
    first_offset bigint   NOT NULL,
    -- After the draw: its place in its ticket type's order (1 first); NULL
    -- when withdrawn or its person's application came before.
    position     integer,
    -- After the draw, when not offered tickets: its place on the list then.
    place        integer,
    -- Offered tickets, by the draw or as they passed on.
    offered      boolean  NOT NULL DEFAULT false,
    -- The allocation's hold, once the log settled it: 'kept' or 'lapsed',
    -- and where the sales log let it go (lapses pass on in that order).
    fate         text CHECK (fate IN ('kept', 'lapsed')),
    lapse_offset bigint,
    PRIMARY KEY (draw, platform, application)
);
CREATE INDEX draw_entries_order ON draw_entries (draw, match_number, category, position) WHERE position IS NOT NULL;
CREATE INDEX draw_entries_unsettled ON draw_entries (draw) WHERE offered AND fate IS NULL;
CREATE INDEX draw_entries_offered ON draw_entries (draw, platform) WHERE offered;

-- The draw topic's last applied offset per partition (applied with it).
CREATE TABLE draw_applied (
    log_partition integer PRIMARY KEY,
    log_offset    bigint NOT NULL
);

-- Messages of the draw topic that do not count, and why.
CREATE TABLE draw_invalid (
    log_partition integer NOT NULL,
    log_offset    bigint  NOT NULL,
    reason        text    NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (log_partition, log_offset)
);

-- This platform's buyers' applications: one per account, draw and ticket
-- type (withdrawn: quantity 0; applying again revives it).
CREATE TABLE draw_applications (
    id             uuid PRIMARY KEY,
    draw           text        NOT NULL,
    account        text        NOT NULL,
    email          text        NOT NULL,
    country        text        NOT NULL DEFAULT '',
    -- The buyer's pseudonym when they first applied: every version carries it.
    buyer          text        NOT NULL,
    match_number   smallint    NOT NULL CHECK (match_number BETWEEN 1 AND 64),
    category       smallint    NOT NULL CHECK (category BETWEEN 1 AND 3),
    quantity       smallint    NOT NULL CHECK (quantity BETWEEN 0 AND 2),
    version        integer     NOT NULL DEFAULT 1,
    -- The allocation's hold (a reservation), once offered.
    reservation_id uuid,
    -- When its owner was told the draw's result (and of a second chance).
    told_at        timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (draw, account, match_number, category)
);
CREATE INDEX draw_applications_account ON draw_applications (account, created_at DESC);
CREATE INDEX draw_applications_untold ON draw_applications (draw) WHERE told_at IS NULL;

-- A hold's own time to pay, in seconds, where it is not the platform's
-- (an allocation's: the draw's payment window).
ALTER TABLE reservations ADD COLUMN hold_secs integer CHECK (hold_secs > 0);
