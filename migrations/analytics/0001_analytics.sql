-- Market-wide sales per ticket type, folded from the sales topic, and the
-- log positions already folded.
CREATE TABLE sales_by_type (
    match_number smallint NOT NULL,
    category     smallint NOT NULL,
    pending      bigint   NOT NULL DEFAULT 0,
    reserved     bigint   NOT NULL DEFAULT 0,
    cancelled    bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (match_number, category)
);

CREATE TABLE consumed_offsets (
    topic      text   NOT NULL,
    partition  integer NOT NULL,
    last_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);
