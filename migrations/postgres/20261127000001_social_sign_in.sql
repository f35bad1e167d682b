-- Social sign-in: started flows, one-time hand-off codes, the provider's
-- address on each linked account.

-- A flow between GET /v1/oauth/{provider}/authorize (or POST
-- /v1/accounts/{provider}/link) and the provider's callback. The state is
-- stored as SHA-256; it is consumed once.
CREATE TABLE oauth_states (
    state_hash            TEXT        PRIMARY KEY,
    provider              TEXT        NOT NULL,
    purpose               TEXT        NOT NULL CHECK (purpose IN ('sign_in', 'link')),
    user_id               UUID        REFERENCES users (id) ON DELETE CASCADE,  -- link only
    nonce                 TEXT        NOT NULL,
    pkce_verifier         TEXT        NOT NULL,   -- ours, towards the provider
    redirect_to           TEXT        NOT NULL,
    client_code_challenge TEXT,                   -- the frontend's own PKCE (S256)
    created_at            TIMESTAMPTZ NOT NULL,
    expires_at            TIMESTAMPTZ NOT NULL,
    consumed_at           TIMESTAMPTZ
);

-- The one-time code the callback hands to the frontend's redirect_to, to be
-- exchanged at POST /v1/oauth/token. Stored as SHA-256; 60 s; single use.
CREATE TABLE oauth_handoffs (
    code_hash             TEXT        PRIMARY KEY,
    user_id               UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider              TEXT        NOT NULL,
    client_code_challenge TEXT,
    created_at            TIMESTAMPTZ NOT NULL,
    expires_at            TIMESTAMPTZ NOT NULL,
    consumed_at           TIMESTAMPTZ
);

ALTER TABLE accounts ADD COLUMN email TEXT;
