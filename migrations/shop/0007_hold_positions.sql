-- Where in the ticket-sales log each hold was decided, and the message of
-- its latest change, so an operator can follow an order to the log.
ALTER TABLE holds ADD COLUMN log_partition integer;
ALTER TABLE holds ADD COLUMN decided_offset bigint;
ALTER TABLE holds ADD COLUMN last_offset bigint;
