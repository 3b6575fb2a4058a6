-- A checkpoint no longer rewrites the whole market: the small part stays
-- in `checkpoint.market`, and what grows with the log gets a table each,
-- written only where it changed since the last checkpoint.
CREATE TABLE checkpoint_holds (
    hold_id  text  PRIMARY KEY,
    hold     jsonb NOT NULL
);
CREATE TABLE checkpoint_origins (
    partition  integer NOT NULL,
    "offset"   bigint  NOT NULL,
    line       integer NOT NULL,
    PRIMARY KEY (partition, "offset", line)
);
CREATE TABLE checkpoint_minutes (
    minute        bigint   NOT NULL,
    match_number  smallint NOT NULL,
    platform      text     NOT NULL,
    tickets       bigint   NOT NULL,
    revenue       bigint   NOT NULL,
    PRIMARY KEY (minute, match_number, platform)
);

-- A checkpoint of before: its rows move to the tables.
INSERT INTO checkpoint_holds (hold_id, hold)
SELECT e->>0, e->1 FROM checkpoint, jsonb_array_elements(coalesce(market->'holds', '[]')) e;
INSERT INTO checkpoint_origins (partition, "offset", line)
SELECT (e->>'partition')::integer, (e->>'offset')::bigint, (e->>'line')::integer
FROM checkpoint, jsonb_array_elements(coalesce(market->'origins', '[]')) e;
INSERT INTO checkpoint_minutes (minute, match_number, platform, tickets, revenue)
SELECT (e->0->>0)::bigint, (e->0->>1)::smallint, e->0->>2, (e->1->>'tickets')::bigint, (e->1->>'revenue')::bigint
FROM checkpoint, jsonb_array_elements(coalesce(market->'sold_per_minute', '[]')) e;
UPDATE checkpoint SET market = market - 'holds' - 'origins' - 'sold_per_minute';
