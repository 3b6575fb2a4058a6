-- The first schema's tables were never written to; the market state is
-- kept whole at each checkpoint instead.
DROP TABLE sales_by_type;
DROP TABLE consumed_offsets;

-- The market as of the last checkpoint, and the log positions it reflects:
-- the sales topic's in the market itself (the ledger's applied offsets),
-- the bookings topic's next offset per partition here.
CREATE TABLE checkpoint (
    only_row          boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    market            jsonb       NOT NULL,
    bookings_offsets  jsonb       NOT NULL,
    at                timestamptz NOT NULL DEFAULT now()
);

-- The lake's manifest: a Parquet file counts once listed here (in the same
-- transaction as the checkpoint that covers its events).
CREATE TABLE lake_files (
    path        text PRIMARY KEY,
    dataset     text        NOT NULL CHECK (dataset IN ('sales', 'bookings')),
    rows        bigint      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Booking events in the lake, by id: one delivered twice (the outbox
-- publishes at least once) is written once.
CREATE TABLE booking_events_seen (
    event_id  text PRIMARY KEY
);

-- Trained recommendation models, newest served.
CREATE TABLE models (
    version     bigserial PRIMARY KEY,
    trained_at  timestamptz NOT NULL DEFAULT now(),
    model       jsonb       NOT NULL
);
