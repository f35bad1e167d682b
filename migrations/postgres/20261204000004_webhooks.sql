-- Webhooks: endpoints, and one delivery per (audit event, endpoint) written
-- in the transaction of the change (a transactional outbox).

CREATE TABLE webhook_endpoints (
    id                         UUID        PRIMARY KEY,
    url                        TEXT        NOT NULL,
    description                TEXT,
    events                     TEXT        NOT NULL,   -- ' user.created user.deleted ' or ' * '
    enabled                    BOOLEAN     NOT NULL,
    disabled_reason            TEXT,
    secret_enc                 TEXT        NOT NULL,   -- sealed with a key derived from the server secret
    previous_secret_enc        TEXT,
    previous_secret_expires_at TIMESTAMPTZ,
    failure_streak             BIGINT      NOT NULL DEFAULT 0,
    leased_until               TIMESTAMPTZ,            -- the instance delivering to it, until then
    created_at                 TIMESTAMPTZ NOT NULL,
    updated_at                 TIMESTAMPTZ NOT NULL
);

CREATE TABLE webhook_deliveries (
    event_id        UUID        NOT NULL,              -- the audit event; webhook-id is msg_<event_id>
    endpoint_id     UUID        NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_type      TEXT        NOT NULL,
    payload         TEXT        NOT NULL,
    status          TEXT        NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        BIGINT      NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ,
    last_attempt_at TIMESTAMPTZ,
    last_status     BIGINT,
    last_response   TEXT,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ,
    PRIMARY KEY (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (endpoint_id, status, next_attempt_at);
CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (endpoint_id, created_at);
