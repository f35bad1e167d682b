-- A counter of the changes every instance must see at once: any change to a
-- user, and any change to a session other than its use (`last_used_at`,
-- which every refresh writes). Instances remember live sessions between
-- requests only while they have read this counter within their lease, and
-- forget them when it moves (src/store/liveness.rs). Triggers raise it, so
-- no write can forget to, whatever issues it. The triggers are deferred to
-- the commit: the one row is locked last, after every row the transaction
-- changed, and only for the commit itself. (Locked at the statement, a ban,
-- which locks the user and then their sessions, and a sign-out, which
-- locks a session, could each hold what the other waited for: a deadlock.)
-- Refreshes and sign-ins (which lock users without changing them) never
-- take it.
CREATE TABLE liveness (
    id    SMALLINT PRIMARY KEY CHECK (id = 1),
    epoch BIGINT   NOT NULL
);
INSERT INTO liveness (id, epoch) VALUES (1, 0);

CREATE FUNCTION raise_liveness() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE liveness SET epoch = epoch + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER users_changed_liveness AFTER UPDATE ON users
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
EXECUTE FUNCTION raise_liveness();

CREATE CONSTRAINT TRIGGER users_deleted_liveness AFTER DELETE ON users
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION raise_liveness();

CREATE CONSTRAINT TRIGGER sessions_changed_liveness AFTER UPDATE ON sessions
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (
    OLD.user_id IS DISTINCT FROM NEW.user_id OR OLD.ip IS DISTINCT FROM NEW.ip
    OR OLD.user_agent IS DISTINCT FROM NEW.user_agent
    OR OLD.created_at IS DISTINCT FROM NEW.created_at
    OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
    OR OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
    OR OLD.revoked_reason IS DISTINCT FROM NEW.revoked_reason
    OR OLD.auth_time IS DISTINCT FROM NEW.auth_time
    OR OLD.auth_method IS DISTINCT FROM NEW.auth_method
    OR OLD.second_factor IS DISTINCT FROM NEW.second_factor
)
EXECUTE FUNCTION raise_liveness();
