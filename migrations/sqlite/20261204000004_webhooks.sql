-- Webhooks: endpoints, and one delivery per (audit event, endpoint) written
-- in the transaction of the change (a transactional outbox).

CREATE TABLE webhook_endpoints (
    id                         BLOB    PRIMARY KEY NOT NULL,
    url                        TEXT    NOT NULL,
    description                TEXT,
    events                     TEXT    NOT NULL,   -- ' user.created user.deleted ' or ' * '
    enabled                    INTEGER NOT NULL,
    disabled_reason            TEXT,
    secret_enc                 TEXT    NOT NULL,   -- sealed with a key derived from the server secret
    previous_secret_enc        TEXT,
    previous_secret_expires_at INTEGER,
    failure_streak             INTEGER NOT NULL DEFAULT 0,
    leased_until               INTEGER,            -- the instance delivering to it, until then
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
    event_id        BLOB    NOT NULL,              -- the audit event; webhook-id is msg_<event_id>
    endpoint_id     BLOB    NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_type      TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_attempt_at INTEGER,
    last_status     INTEGER,
    last_response   TEXT,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    PRIMARY KEY (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (endpoint_id, status, next_attempt_at);
CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (endpoint_id, created_at);
