-- Closing account-takeover paths (issue 11).

-- A code that can be mailed again unchanged: a later sign-up or resend for a
-- live pending registration re-sends the code the owner already has instead
-- of replacing it. The code and link token are sealed (AEAD, key derived
-- from the server secret, as in the mail outbox); the lookups still go
-- through code_hash and token_hash only.
ALTER TABLE email_verification_codes ADD COLUMN sealed TEXT;

-- The mail cool-down counts per (address, action): strangers asking for
-- sign-in codes cannot hold back the owner's password reset.
DROP TABLE mail_throttle;
CREATE TABLE mail_cooldowns (
    email        TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    last_sent_at INTEGER NOT NULL,
    PRIMARY KEY (email, action)
);

-- A provider identity waiting to be linked: the callback of a link flow
-- stores it and hands the browser a one-time link_code (SHA-256 here, 60 s);
-- only the user who started the flow can turn it into a link, with
-- POST /v1/accounts/link. The identity and the provider's tokens are sealed.
CREATE TABLE pending_links (
    code_hash   TEXT    PRIMARY KEY NOT NULL,
    user_id     BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider    TEXT    NOT NULL,
    sealed      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX pending_links_user_id_idx ON pending_links (user_id);
CREATE INDEX oauth_states_user_id_idx ON oauth_states (user_id);
