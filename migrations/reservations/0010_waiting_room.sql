-- The waiting room (services/reservations/src/queue): one room per on-sale
-- the organisers scheduled with a queue phase (its id names the schedule's
-- scope and the time T it opens), and one place per account in it.
--
-- Before T a buyer joins the pre-queue (place NULL, a random draw_key); at
-- T the room opens and the pre-queue is numbered 1..n in draw_key order (a
-- uniformly random order); later arrivals take next_place in arrival order.
-- The admitter moves admitted_through at the platform's pace; a place at
-- or under it is admitted, and its first status read issues the admission
-- (a nonce and an expiry), which one hold spends (used_by).
CREATE TABLE queue_rooms (
    room             text             PRIMARY KEY,
    opens_at         timestamptz      NOT NULL,
    opened           boolean          NOT NULL DEFAULT false,
    next_place       bigint           NOT NULL DEFAULT 1,
    admitted_through bigint           NOT NULL DEFAULT 0,
    -- Admissions owed but not yet whole (a rate of 30 per minute admits
    -- one buyer every other second).
    admit_credit     double precision NOT NULL DEFAULT 0,
    -- This room's rate at the last tick, buyers per minute.
    rate_per_min     double precision NOT NULL DEFAULT 0,
    -- The market's rate the organisers set (shared between platforms in
    -- proportion to their queues); NULL: this platform's own pace.
    admit_per_minute integer,
    ticked_at        timestamptz
);

CREATE TABLE queue_entries (
    room                 text        NOT NULL REFERENCES queue_rooms (room),
    account              text        NOT NULL,
    joined_at            timestamptz NOT NULL DEFAULT now(),
    draw_key             bigint      NOT NULL,
    place                bigint,
    admission_nonce      uuid,
    admission_expires_at timestamptz,
    used_by              uuid,
    PRIMARY KEY (room, account)
);

CREATE UNIQUE INDEX queue_entries_place ON queue_entries (room, place);
