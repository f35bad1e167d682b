-- Passkeys (WebAuthn credentials), the random user handle authenticators
-- keep for discoverable sign-in, and ceremonies in progress (any instance
-- finishes what another started).

-- Random, not the user id: what an authenticator stores says nothing about
-- the account.
CREATE TABLE passkey_user_handles (
    user_id UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    handle  UUID NOT NULL UNIQUE
);

CREATE TABLE passkeys (
    id             UUID        PRIMARY KEY,
    user_id        UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id  TEXT    NOT NULL UNIQUE,   -- base64url, as authenticators send it
    name           TEXT    NOT NULL,
    credential     TEXT    NOT NULL,          -- the public key, counter and flags (JSON)
    sign_count     BIGINT  NOT NULL DEFAULT 0,  -- the counter of the last use: stored only forward
    backup_eligible BOOLEAN NOT NULL,         -- a synced passkey (swk) or a device-bound one (hwk)
    created_at     TIMESTAMPTZ NOT NULL,
    last_used_at   TIMESTAMPTZ,
    flagged_at     TIMESTAMPTZ                    -- its signature counter went backwards: a clone
);
CREATE INDEX passkeys_user_id_idx ON passkeys (user_id);

CREATE TABLE webauthn_ceremonies (
    id              UUID        PRIMARY KEY,
    purpose         TEXT    NOT NULL CHECK (purpose IN ('register', 'sign_in', 'second_factor', 'step_up')),
    user_id         UUID        REFERENCES users (id) ON DELETE CASCADE,
    binding         TEXT,                     -- the session id (step-up) or mfa_token hash (second step)
    state_enc       TEXT    NOT NULL,         -- sealed, bound to the ceremony id
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX webauthn_ceremonies_expires_at_idx ON webauthn_ceremonies (expires_at);
