-- Email codes for every action, and the mail outbox.

-- A change_email code goes to the NEW address and belongs to the user who
-- asked: two users may wait for codes to the same new address at once (the
-- first to confirm wins on users_email_key), and a user has one pending
-- change. Every other action keeps one live code per (email, action).
DROP INDEX email_verification_codes_email_action_key;
CREATE UNIQUE INDEX email_verification_codes_email_action_key
    ON email_verification_codes (email, action) WHERE action <> 'change_email';
CREATE UNIQUE INDEX email_verification_codes_change_email_key
    ON email_verification_codes (user_id) WHERE action = 'change_email';

-- The language a user's mail is written in (NULL: the request's Accept-Language).
ALTER TABLE users ADD COLUMN locale TEXT;

-- Mail written in the same transaction as the change that causes it, sent
-- by a background worker. The rendered message (recipient included) is
-- sealed with a key derived from the server secret: it carries live codes.
CREATE TABLE mail_outbox (
    id              UUID    PRIMARY KEY NOT NULL,
    sealed          TEXT  NOT NULL,
    created_at      TIMESTAMPTZ    NOT NULL,
    next_attempt_at TIMESTAMPTZ    NOT NULL,
    attempts        BIGINT    NOT NULL DEFAULT 0,
    locked_until    TIMESTAMPTZ,                 -- an instance is sending it until then
    discard_after   TIMESTAMPTZ    NOT NULL,     -- e.g. when the code inside expires
    last_error      TEXT
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at);
