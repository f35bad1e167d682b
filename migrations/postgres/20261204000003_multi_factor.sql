-- Multi-factor sign-in: TOTP factors, recovery codes, the pending second
-- step of a sign-in, and the second factor that raised a session to aal2.

CREATE TABLE mfa_factors (
    id             UUID        PRIMARY KEY,
    user_id        UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind           TEXT        NOT NULL CHECK (kind IN ('totp')),
    secret_enc     TEXT        NOT NULL,      -- sealed with a key derived from the server secret
    last_used_step BIGINT,                    -- a code of this step or an earlier one is refused
    created_at     TIMESTAMPTZ NOT NULL,
    verified_at    TIMESTAMPTZ,               -- NULL: enrolment not finished
    last_used_at   TIMESTAMPTZ
);
CREATE INDEX mfa_factors_user_id_idx ON mfa_factors (user_id);

-- HMAC-SHA-256 of each code (keyed, bound to the user); used once.
CREATE TABLE recovery_codes (
    user_id    UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    PRIMARY KEY (user_id, code_hash)
);

-- SHA-256 of the mfa_token of a sign-in waiting for its second factor.
CREATE TABLE mfa_challenges (
    token_hash  TEXT        PRIMARY KEY,
    user_id     UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_method TEXT        NOT NULL,
    details     TEXT        NOT NULL,
    attempts    BIGINT      NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX mfa_challenges_user_id_idx ON mfa_challenges (user_id);

ALTER TABLE sessions ADD COLUMN second_factor TEXT;
