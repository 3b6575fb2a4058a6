-- Purchase caps per buyer: tickets per match (reservations requested, held
-- or confirmed) and open holds (requested or held). Counted when a
-- reservation is placed (`take_purchase_caps`, in the statement that
-- inserts it) and given back by a trigger on every status change.
CREATE TABLE buyer_match_tickets (
    buyer_id     text     NOT NULL,
    match_number smallint NOT NULL,
    tickets      integer  NOT NULL CHECK (tickets >= 0),
    PRIMARY KEY (buyer_id, match_number)
);
CREATE TABLE buyer_open_holds (
    buyer_id   text    PRIMARY KEY,
    open_holds integer NOT NULL CHECK (open_holds >= 0)
);

INSERT INTO buyer_match_tickets
SELECT buyer_id, match_number, sum(quantity) FROM reservations
WHERE status IN ('REQUESTED', 'HELD', 'CONFIRMED') GROUP BY buyer_id, match_number;
INSERT INTO buyer_open_holds
SELECT buyer_id, count(*) FROM reservations WHERE status IN ('REQUESTED', 'HELD') GROUP BY buyer_id;

-- Count a new reservation of `qty` tickets for `buyer` on `match` against
-- the caps (0 = no cap). Returns 'ok' (counted), 'tickets' (the match's cap
-- would be passed) or 'holds' (the open holds' cap would be); nothing is
-- counted unless 'ok'. The counters' rows are locked until the end of the
-- transaction, so concurrent reservations of one buyer are counted one
-- after another.
CREATE FUNCTION take_purchase_caps(buyer text, match smallint, qty integer, max_tickets integer, max_holds integer)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    IF max_tickets > 0 AND qty > max_tickets THEN
        RETURN 'tickets';
    END IF;
    INSERT INTO buyer_match_tickets AS t (buyer_id, match_number, tickets) VALUES (buyer, match, qty)
    ON CONFLICT (buyer_id, match_number) DO UPDATE SET tickets = t.tickets + EXCLUDED.tickets
        WHERE max_tickets = 0 OR t.tickets + EXCLUDED.tickets <= max_tickets;
    IF NOT FOUND THEN
        RETURN 'tickets';
    END IF;
    INSERT INTO buyer_open_holds AS h (buyer_id, open_holds) VALUES (buyer, 1)
    ON CONFLICT (buyer_id) DO UPDATE SET open_holds = h.open_holds + 1
        WHERE max_holds = 0 OR h.open_holds + 1 <= max_holds;
    IF NOT FOUND THEN
        UPDATE buyer_match_tickets SET tickets = tickets - qty WHERE buyer_id = buyer AND match_number = match;
        RETURN 'holds';
    END IF;
    RETURN 'ok';
END $$;

CREATE FUNCTION give_back_purchase_caps() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('REQUESTED', 'HELD', 'CONFIRMED') AND NEW.status NOT IN ('REQUESTED', 'HELD', 'CONFIRMED') THEN
        UPDATE buyer_match_tickets SET tickets = greatest(tickets - OLD.quantity, 0)
        WHERE buyer_id = OLD.buyer_id AND match_number = OLD.match_number;
    END IF;
    IF OLD.status IN ('REQUESTED', 'HELD') AND NEW.status NOT IN ('REQUESTED', 'HELD') THEN
        UPDATE buyer_open_holds SET open_holds = greatest(open_holds - 1, 0) WHERE buyer_id = OLD.buyer_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER reservations_give_back_caps AFTER UPDATE OF status ON reservations
FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION give_back_purchase_caps();
