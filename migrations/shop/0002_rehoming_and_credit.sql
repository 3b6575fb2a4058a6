-- Anonymous tickets cancelled before their PENDING arrived: used up by the
-- next anonymous PENDINGs of the type.
ALTER TABLE ticket_types ADD COLUMN anonymous_credit integer NOT NULL DEFAULT 0 CHECK (anonymous_credit >= 0);

-- Origins (partition, offset, line) of re-homed ticket lines already
-- applied: every platform re-publishes a mis-partitioned line, and only the
-- first copy on the home partition counts.
CREATE TABLE rehomed_lines (
    partition integer  NOT NULL,
    "offset"  bigint   NOT NULL,
    line      smallint NOT NULL,
    PRIMARY KEY (partition, "offset", line)
);
