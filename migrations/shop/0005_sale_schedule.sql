-- The organisers' sale schedule (ticktak_core::schedule) as this platform
-- follows it: the message in force per scope, the last applied offset of
-- each partition of the schedule topic (written in the same transaction),
-- and what could not be applied, for operators.
CREATE TABLE sale_schedule (
    scope         text        PRIMARY KEY,
    message       jsonb       NOT NULL,
    issued_at     timestamptz NOT NULL,
    log_partition integer     NOT NULL,
    log_offset    bigint      NOT NULL
);

CREATE TABLE schedule_applied (
    log_partition integer PRIMARY KEY,
    log_offset    bigint  NOT NULL
);

CREATE TABLE schedule_invalid (
    log_partition integer     NOT NULL,
    log_offset    bigint      NOT NULL,
    reason        text        NOT NULL,
    seen_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (log_partition, log_offset)
);
