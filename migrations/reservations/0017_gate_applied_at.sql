-- When this platform applied each ticket's decision, by the database's
-- clock: a refund that died after revoking tickets in the gate log is told
-- apart from one still running by this alone (the event's own `decided_at`
-- is the publishing process's clock).
ALTER TABLE gate_tickets ADD COLUMN applied_at timestamptz NOT NULL DEFAULT now();
