-- Payments through the provider (Stripe): who pays, what the intent is,
-- how it ended; webhook events seen (each handled once); the e-mail outbox
-- (see ticktak_kit::mail).
ALTER TABLE payments
    ADD COLUMN buyer_id      text NOT NULL DEFAULT '',
    ADD COLUMN buyer_email   text,
    ADD COLUMN currency      text NOT NULL DEFAULT 'usd',
    ADD COLUMN client_secret text,
    ADD COLUMN refund_ref    text,
    ADD COLUMN last_error    text,
    -- Why money went back: 'buyer' (asked for it) or 'hold_ended' (paid
    -- after the hold expired or was cancelled).
    ADD COLUMN refund_reason text;
ALTER TABLE payments ALTER COLUMN buyer_id DROP DEFAULT;
-- OPEN, SUCCEEDED, REFUNDING, REFUNDED or CANCELED.
ALTER TABLE payments ADD CONSTRAINT payments_status_check
    CHECK (status IN ('OPEN', 'SUCCEEDED', 'REFUNDING', 'REFUNDED', 'CANCELED'));
CREATE INDEX payments_unsettled ON payments (created_at) WHERE status IN ('OPEN', 'REFUNDING');
CREATE INDEX payments_buyer ON payments (buyer_id, created_at DESC);

CREATE TABLE webhook_events (
    id          text PRIMARY KEY,
    type        text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE mail_outbox (
    id               bigserial PRIMARY KEY,
    dedupe_key       text        NOT NULL UNIQUE,
    recipient        text        NOT NULL,
    subject          text        NOT NULL,
    body             text        NOT NULL,
    attachments      jsonb       NOT NULL DEFAULT '[]',
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    sent_at          timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;
