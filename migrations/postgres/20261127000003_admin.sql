-- Roles and administration: bans, service clients for token introspection,
-- the audit log, and a lock row that serialises changes to SUPER-ADMINs.

ALTER TABLE users ADD COLUMN banned_at TIMESTAMPTZ;     -- NULL: not banned
ALTER TABLE users ADD COLUMN banned_until TIMESTAMPTZ;  -- NULL with banned_at: until unbanned
ALTER TABLE users ADD COLUMN ban_reason TEXT;
CREATE INDEX users_role_idx ON users (role);
CREATE INDEX users_created_at_idx ON users (created_at, id);

-- Services that call POST /v1/introspect. The secret is shown once and
-- stored as SHA-256 (it is 256 random bits).
CREATE TABLE service_clients (
    id           UUID        PRIMARY KEY,
    client_id    TEXT        NOT NULL,
    secret_hash  TEXT        NOT NULL,
    name         TEXT        NOT NULL,
    created_by   UUID        REFERENCES users (id) ON DELETE SET NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX service_clients_client_id_key ON service_clients (client_id);

-- Who did what, when (UTC), from where. `user_id` is whom it concerns,
-- `actor_id` who acted (the same for one's own actions).
CREATE TABLE audit_events (
    id          UUID        PRIMARY KEY,   -- UUIDv7: ordered by time
    occurred_at TIMESTAMPTZ NOT NULL,
    event_type  TEXT        NOT NULL,
    user_id     UUID,
    actor_id    UUID,
    ip          TEXT,
    user_agent  TEXT,
    request_id  TEXT,
    details     TEXT                       -- JSON
);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at, id);
CREATE INDEX audit_events_user_id_idx ON audit_events (user_id, occurred_at);
CREATE INDEX audit_events_event_type_idx ON audit_events (event_type, occurred_at);

-- Rows to lock (UPDATE … SET name = name) so that transactions which must
-- not interleave queue behind each other on every backend.
CREATE TABLE locks (
    name TEXT PRIMARY KEY
);
INSERT INTO locks (name) VALUES ('super_admins'), ('signing_keys');
