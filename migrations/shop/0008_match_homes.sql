-- From here on a match's three categories share one home partition of the
-- ticket-sales topic (the ledger's cap per person and match,
-- ticktak_core::partition). A topic this ledger applied before was applied
-- with one home per ticket type: applying more of it with the new homes
-- would make this platform decide differently from the others, so the shop
-- refuses to start on such a topic. A market moves to the new homes afresh:
-- fresh topics (another TOPIC_ENV) and a fresh database for each platform.
CREATE TABLE topics_under_ticket_type_homes (topic text PRIMARY KEY);
INSERT INTO topics_under_ticket_type_homes SELECT DISTINCT topic FROM applied_offsets;
