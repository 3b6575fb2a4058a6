-- Booking events for this platform's analytics: every change of a
-- reservation's status puts one event on the platform-internal bookings
-- topic through the outbox, in the transaction that made the change
-- (contracts::analytics::BookingEvent). A trigger, so no code path that
-- changes a status can forget it.

-- The buyer's country (the token's `country` claim), for recommendations.
ALTER TABLE reservations ADD COLUMN buyer_country text;

-- Where the events go (written by the service at start; NULL: nowhere yet)
-- and the salt of buyers' pseudonyms, made here once and never read out.
CREATE TABLE booking_events_config (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    topic     text,
    salt      text NOT NULL DEFAULT gen_random_uuid()::text
);
INSERT INTO booking_events_config (topic) VALUES (NULL);

CREATE FUNCTION queue_booking_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cfg booking_events_config%ROWTYPE;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NULL;
    END IF;
    SELECT * INTO cfg FROM booking_events_config;
    IF cfg.topic IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO outbox (topic, key, payload, headers) VALUES (
        cfg.topic,
        NEW.id::text,
        convert_to(jsonb_build_object(
            'eventId', gen_random_uuid()::text,
            'reservationId', NEW.id::text,
            'buyer', left(encode(sha256(convert_to(cfg.salt || ':' || NEW.buyer_id, 'UTF8')), 'hex'), 32),
            'country', NEW.buyer_country,
            'matchNumber', NEW.match_number,
            'category', NEW.category,
            'quantity', NEW.quantity,
            'amount', NEW.unit_price * NEW.quantity,
            'status', NEW.status,
            'createdAt', NEW.created_at,
            'at', clock_timestamp())::text, 'UTF8'),
        '{}'::jsonb);
    RETURN NULL;
END $$;

CREATE TRIGGER booking_events AFTER INSERT OR UPDATE OF status ON reservations
    FOR EACH ROW EXECUTE FUNCTION queue_booking_event();
