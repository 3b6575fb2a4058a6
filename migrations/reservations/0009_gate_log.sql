-- The market's gate log (ticktak_core::gate) as this platform applied it:
-- the first valid event of each ticket, whoever issued it, decides it; the
-- last applied offset of each partition, written in the same transaction,
-- so nothing is applied twice or skipped after a restart; and what could
-- not be applied, for operators.
CREATE TABLE gate_tickets (
    ticket_id     uuid PRIMARY KEY,
    issuer        text        NOT NULL,
    state         text        NOT NULL CHECK (state IN ('ADMITTED', 'REVOKED')),
    event_id      uuid        NOT NULL,
    gate          text        NOT NULL,
    match_number  smallint    NOT NULL,
    category      smallint    NOT NULL,
    decided_at    timestamptz NOT NULL,
    log_partition integer     NOT NULL,
    log_offset    bigint      NOT NULL
);

CREATE TABLE gate_applied (
    log_partition integer PRIMARY KEY,
    log_offset    bigint  NOT NULL
);

CREATE TABLE gate_invalid (
    log_partition integer     NOT NULL,
    log_offset    bigint      NOT NULL,
    reason        text        NOT NULL,
    seen_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (log_partition, log_offset)
);
