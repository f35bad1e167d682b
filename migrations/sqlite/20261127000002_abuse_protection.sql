-- Abuse protection: per-client request counters and per-account sign-in
-- failures, kept in the database so that every instance sees the same state.

-- Fixed-window counters, one row per (limit, client address).
CREATE TABLE rate_limits (
    key               TEXT    PRIMARY KEY NOT NULL,
    window_started_at INTEGER NOT NULL,
    hits              INTEGER NOT NULL
);

-- Sign-in attempts per account (normalised address, or the identifier as
-- typed when there is no such account, so that both behave alike).
CREATE TABLE login_throttle (
    key             TEXT    PRIMARY KEY NOT NULL,
    failures        INTEGER NOT NULL,   -- attempts not (yet) ended by a success
    last_attempt_at INTEGER NOT NULL,
    locked_until    INTEGER
);
