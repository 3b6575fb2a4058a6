-- Orders of several lines (a cart): one order, several reservations, each
-- held through the log as a single hold is (a line of four tickets is two
-- reservations of two: the wire's limit per message). The buyer pays once
-- for the order's held lines. A reservation of its own has no order.
CREATE TABLE orders (
    id                uuid        PRIMARY KEY,
    buyer_id          text        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    -- The order counts once against the cap on unpaid holds; set when its
    -- last open line left, so the count is given back exactly once.
    hold_given_back   boolean     NOT NULL DEFAULT false
);
CREATE INDEX orders_buyer ON orders (buyer_id, created_at DESC);

ALTER TABLE reservations ADD COLUMN order_id uuid REFERENCES orders (id);
CREATE INDEX reservations_order ON reservations (order_id) WHERE order_id IS NOT NULL;

-- As in 0005, with `new_hold` false for all of an order's lines but one:
-- their tickets count against each match's cap, the order's hold once. The
-- five-argument form of 0005 becomes this one with `new_hold` (for a build
-- still running it during a rolling deploy).
CREATE FUNCTION take_purchase_caps(buyer text, match smallint, qty integer, max_tickets integer, max_holds integer,
                                   new_hold boolean)
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
    IF NOT new_hold THEN
        RETURN 'ok';
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

CREATE OR REPLACE FUNCTION take_purchase_caps(buyer text, match smallint, qty integer, max_tickets integer,
                                              max_holds integer)
RETURNS text LANGUAGE sql AS $$ SELECT take_purchase_caps(buyer, match, qty, max_tickets, max_holds, true) $$;

-- A line of an order gives the order's unpaid hold back when it is the
-- last open one. The buyer's counter row is locked first, as placing a hold
-- locks it, so two lines leaving in two transactions take turns and the
-- second sees the first's change; `hold_given_back` keeps two lines leaving
-- in one statement from giving it back twice.
CREATE OR REPLACE FUNCTION give_back_purchase_caps() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('REQUESTED', 'HELD', 'CONFIRMED') AND NEW.status NOT IN ('REQUESTED', 'HELD', 'CONFIRMED') THEN
        UPDATE buyer_match_tickets SET tickets = greatest(tickets - OLD.quantity, 0)
        WHERE buyer_id = OLD.buyer_id AND match_number = OLD.match_number;
    END IF;
    IF OLD.status IN ('REQUESTED', 'HELD') AND NEW.status NOT IN ('REQUESTED', 'HELD') THEN
        IF OLD.order_id IS NOT NULL THEN
            PERFORM 1 FROM buyer_open_holds WHERE buyer_id = OLD.buyer_id FOR UPDATE;
            IF EXISTS (SELECT 1 FROM reservations WHERE order_id = OLD.order_id AND id <> OLD.id
                       AND status IN ('REQUESTED', 'HELD')) THEN
                RETURN NULL;
            END IF;
            UPDATE orders SET hold_given_back = true WHERE id = OLD.order_id AND NOT hold_given_back;
            IF NOT FOUND THEN
                RETURN NULL;
            END IF;
        END IF;
        UPDATE buyer_open_holds SET open_holds = greatest(open_holds - 1, 0) WHERE buyer_id = OLD.buyer_id;
    END IF;
    RETURN NULL;
END $$;
