-- What admins did through this service's admin API (ticktak_kit::audit).
CREATE TABLE admin_audit (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    text        NOT NULL,
    actor_email text        NOT NULL,
    action      text        NOT NULL,
    target      text        NOT NULL,
    detail      text        NOT NULL DEFAULT ''
);
CREATE INDEX admin_audit_target ON admin_audit (target, id DESC);
