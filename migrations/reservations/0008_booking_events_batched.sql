-- Booking events leave the hold's hot path (contracts::analytics).
--
-- A hold used to cost three broker records: its TICKET_PENDING and two
-- booking events, REQUESTED at the insert and HELD or REJECTED at the
-- decision. Now a request is no event (its TICKET_PENDING on the sales log
-- tells analytics as much), and the status changes of one statement — a
-- decision batch, an expiry sweep, a payment — travel as one message: a
-- JSON array of at most 256 events (`MAX_BOOKING_EVENTS`), queued in the
-- transaction that made the changes. Still triggers, so no code path that
-- changes a status can forget its event.

DROP TRIGGER booking_events ON reservations;
DROP FUNCTION queue_booking_event();

-- One reservation's booking event; `salt` makes the buyer's pseudonym.
CREATE FUNCTION booking_event(r reservations, salt text) RETURNS jsonb LANGUAGE sql VOLATILE AS $$
    SELECT jsonb_build_object(
        'eventId', gen_random_uuid()::text,
        'reservationId', r.id::text,
        'buyer', left(encode(sha256(convert_to(salt || ':' || r.buyer_id, 'UTF8')), 'hex'), 32),
        'country', r.buyer_country,
        'matchNumber', r.match_number,
        'category', r.category,
        'quantity', r.quantity,
        'amount', r.unit_price * r.quantity,
        'status', r.status,
        'createdAt', r.created_at,
        'at', clock_timestamp())
$$;

-- Queue `events` on the configured topic, 256 to a message, each message
-- keyed by its first reservation.
CREATE FUNCTION queue_booking_events(events jsonb[], to_topic text) RETURNS void LANGUAGE sql AS $$
    INSERT INTO outbox (topic, key, payload, headers)
    SELECT to_topic, min(e->>'reservationId'), convert_to(jsonb_agg(e ORDER BY i)::text, 'UTF8'), '{}'::jsonb
      FROM unnest(events) WITH ORDINALITY AS u(e, i)
     GROUP BY (i - 1) / 256
$$;

-- An insert is a request (REQUESTED, no event) except under the naive
-- protocol; the WHEN keeps every hold's insert free of a function call.
CREATE FUNCTION queue_inserted_booking_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cfg booking_events_config%ROWTYPE;
BEGIN
    SELECT * INTO cfg FROM booking_events_config;
    IF cfg.topic IS NOT NULL THEN
        PERFORM queue_booking_events(ARRAY[booking_event(NEW, cfg.salt)], cfg.topic);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER booking_event_inserted AFTER INSERT ON reservations
    FOR EACH ROW WHEN (NEW.status <> 'REQUESTED') EXECUTE FUNCTION queue_inserted_booking_event();

-- One statement's status changes (a decision batch, an expiry sweep, a
-- payment), together.
CREATE FUNCTION queue_changed_booking_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cfg booking_events_config%ROWTYPE;
BEGIN
    SELECT * INTO cfg FROM booking_events_config;
    IF cfg.topic IS NOT NULL THEN
        PERFORM queue_booking_events(
            ARRAY(SELECT booking_event(n, cfg.salt) FROM new_rows n JOIN old_rows o ON o.id = n.id
                   WHERE n.status IS DISTINCT FROM o.status ORDER BY n.id),
            cfg.topic);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER booking_events_changed AFTER UPDATE ON reservations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queue_changed_booking_events();
