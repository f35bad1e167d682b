-- Roles and administration: bans, service clients for token introspection,
-- the audit log, and a lock row that serialises changes to SUPER-ADMINs.

ALTER TABLE users ADD COLUMN banned_at INTEGER;     -- NULL: not banned
ALTER TABLE users ADD COLUMN banned_until INTEGER;  -- NULL with banned_at: until unbanned
ALTER TABLE users ADD COLUMN ban_reason TEXT;
CREATE INDEX users_role_idx ON users (role);
CREATE INDEX users_created_at_idx ON users (created_at, id);

-- Services that call POST /v1/introspect. The secret is shown once and
-- stored as SHA-256 (it is 256 random bits).
CREATE TABLE service_clients (
    id           BLOB    PRIMARY KEY NOT NULL,
    client_id    TEXT    NOT NULL,
    secret_hash  TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    created_by   BLOB    REFERENCES users (id) ON DELETE SET NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE UNIQUE INDEX service_clients_client_id_key ON service_clients (client_id);

-- Who did what, when (UTC), from where. `user_id` is whom it concerns,
-- `actor_id` who acted (the same for one's own actions).
CREATE TABLE audit_events (
    id          BLOB    PRIMARY KEY NOT NULL,   -- UUIDv7: ordered by time
    occurred_at INTEGER NOT NULL,
    event_type  TEXT    NOT NULL,
    user_id     BLOB,
    actor_id    BLOB,
    ip          TEXT,
    user_agent  TEXT,
    request_id  TEXT,
    details     TEXT                            -- JSON
);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at, id);
CREATE INDEX audit_events_user_id_idx ON audit_events (user_id, occurred_at);
CREATE INDEX audit_events_event_type_idx ON audit_events (event_type, occurred_at);

-- Rows to lock (UPDATE … SET name = name) so that transactions which must
-- not interleave queue behind each other on every backend.
CREATE TABLE locks (
    name TEXT PRIMARY KEY NOT NULL
);
INSERT INTO locks (name) VALUES ('super_admins'), ('signing_keys');
