-- A confirmed hold that is cancelled (refunded) gives its tickets back.
ALTER TABLE holds DROP CONSTRAINT holds_status_check;
ALTER TABLE holds ADD CONSTRAINT holds_status_check
    CHECK (status IN ('GRANTED', 'REJECTED', 'CONFIRMED', 'RELEASED', 'REFUNDED'));
