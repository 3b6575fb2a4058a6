-- The buyer a hold's TICKET_PENDING named (a pseudonym the same on every
-- platform, ticktak_core::ids::BuyerId), for the market's cap per buyer
-- and ticket type: a batch sums a buyer's granted and confirmed holds.
ALTER TABLE holds ADD COLUMN buyer text;
CREATE INDEX holds_buyer ON holds (buyer, match_number, category)
    WHERE buyer IS NOT NULL AND status IN ('GRANTED', 'CONFIRMED');
