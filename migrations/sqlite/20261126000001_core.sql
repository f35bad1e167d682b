-- Portcullis core schema, SQLite flavour.
-- Ids are UUIDs stored as 16-byte blobs; instants are integer milliseconds
-- since the Unix epoch (UTC), so comparisons in SQL are numeric.

CREATE TABLE users (
    id                BLOB    PRIMARY KEY NOT NULL,
    email             TEXT    NOT NULL,           -- lower-cased
    email_verified_at INTEGER,                    -- NULL: not verified
    username          TEXT,                       -- lower-cased public handle
    display_name      TEXT,
    first_name        TEXT,
    last_name         TEXT,
    phone             TEXT,
    city              TEXT,
    info              TEXT,
    avatar_url        TEXT,
    role              TEXT    NOT NULL DEFAULT 'VIEWER'
                      CHECK (role IN ('SUPER-ADMIN', 'ADMIN', 'EDITOR', 'VIEWER')),
    auth_provider     TEXT    NOT NULL DEFAULT 'email',
    password_hash     TEXT,                       -- Argon2id PHC string (salt inside)
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE UNIQUE INDEX users_username_key ON users (username);

-- Links to identities at OAuth / OpenID Connect providers (seed 004 `account`).
-- Provider tokens are stored encrypted (filled by the social sign-in issue).
CREATE TABLE accounts (
    id                       BLOB    PRIMARY KEY NOT NULL,
    user_id                  BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_id              TEXT    NOT NULL,
    account_id               TEXT    NOT NULL,    -- the provider's subject
    access_token_enc         TEXT,
    access_token_expires_at  INTEGER,
    refresh_token_enc        TEXT,
    refresh_token_expires_at INTEGER,
    scope                    TEXT,
    id_token_enc             TEXT,
    raw                      TEXT,                -- profile claims as JSON
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL
);
CREATE UNIQUE INDEX accounts_provider_id_account_id_key ON accounts (provider_id, account_id);
CREATE INDEX accounts_user_id_idx ON accounts (user_id);

-- Sign-ups waiting for their address to be verified (seed 000 `pending_users`).
CREATE TABLE pending_registrations (
    id            BLOB    PRIMARY KEY NOT NULL,
    email         TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    username      TEXT,
    first_name    TEXT,
    last_name     TEXT,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX pending_registrations_email_key ON pending_registrations (email);

-- One live code per (email, action). Only hashes are stored: HMAC-SHA-256 of
-- the 8-digit code, SHA-256 of the 256-bit link token.
CREATE TABLE email_verification_codes (
    id          BLOB    PRIMARY KEY NOT NULL,
    email       TEXT    NOT NULL,
    action      TEXT    NOT NULL
                CHECK (action IN ('verify_email', 'sign_in', 'reset_password', 'change_email')),
    user_id     BLOB    REFERENCES users (id) ON DELETE CASCADE,
    code_hash   TEXT    NOT NULL,
    token_hash  TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    consumed_at INTEGER
);
CREATE UNIQUE INDEX email_verification_codes_email_action_key
    ON email_verification_codes (email, action);
CREATE UNIQUE INDEX email_verification_codes_token_hash_key
    ON email_verification_codes (token_hash);

-- When the last mail went to an address (at least `mail_cooldown_secs` apart).
CREATE TABLE mail_throttle (
    email        TEXT    PRIMARY KEY NOT NULL,
    last_sent_at INTEGER NOT NULL
);

CREATE TABLE sessions (
    id             BLOB    PRIMARY KEY NOT NULL,
    user_id        BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    ip             TEXT,
    user_agent     TEXT,
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER NOT NULL,              -- idle lifetime counts from here
    expires_at     INTEGER NOT NULL,              -- absolute lifetime
    revoked_at     INTEGER,
    revoked_reason TEXT
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

-- Every refresh token a session was given, as SHA-256. The unrotated one is
-- current; presenting a rotated one is reuse and revokes the session.
CREATE TABLE refresh_tokens (
    token_hash TEXT    PRIMARY KEY NOT NULL,
    session_id BLOB    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at  INTEGER NOT NULL,
    rotated_at INTEGER
);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

-- JWT signing keys, shared by every instance. Private keys are encrypted with
-- a key derived from PORTCULLIS_SECRET.
CREATE TABLE signing_keys (
    kid             TEXT    PRIMARY KEY NOT NULL,
    algorithm       TEXT    NOT NULL,
    public_key      TEXT    NOT NULL,
    private_key_enc TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    activates_at    INTEGER NOT NULL,
    retires_at      INTEGER
);
