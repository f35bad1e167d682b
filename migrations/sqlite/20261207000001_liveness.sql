-- A counter of the changes every instance must see at once: any change to a
-- user, and any change to a session other than its use (`last_used_at`,
-- which every refresh writes). Instances remember live sessions between
-- requests only while they have read this counter within their lease, and
-- forget them when it moves (src/store/liveness.rs). Triggers raise it, so
-- no write can forget to, whatever issues it.
CREATE TABLE liveness (
    id    INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    epoch INTEGER NOT NULL
);
INSERT INTO liveness (id, epoch) VALUES (1, 0);

CREATE TRIGGER users_changed_liveness AFTER UPDATE ON users
WHEN OLD.id IS NOT NEW.id OR OLD.email IS NOT NEW.email
  OR OLD.email_verified_at IS NOT NEW.email_verified_at
  OR OLD.username IS NOT NEW.username OR OLD.display_name IS NOT NEW.display_name
  OR OLD.first_name IS NOT NEW.first_name OR OLD.last_name IS NOT NEW.last_name
  OR OLD.phone IS NOT NEW.phone OR OLD.city IS NOT NEW.city OR OLD.info IS NOT NEW.info
  OR OLD.avatar_url IS NOT NEW.avatar_url OR OLD.role IS NOT NEW.role
  OR OLD.auth_provider IS NOT NEW.auth_provider OR OLD.password_hash IS NOT NEW.password_hash
  OR OLD.created_at IS NOT NEW.created_at OR OLD.updated_at IS NOT NEW.updated_at
  OR OLD.banned_at IS NOT NEW.banned_at OR OLD.banned_until IS NOT NEW.banned_until
  OR OLD.ban_reason IS NOT NEW.ban_reason OR OLD.locale IS NOT NEW.locale
BEGIN
    UPDATE liveness SET epoch = epoch + 1 WHERE id = 1;
END;

CREATE TRIGGER users_deleted_liveness AFTER DELETE ON users
BEGIN
    UPDATE liveness SET epoch = epoch + 1 WHERE id = 1;
END;

CREATE TRIGGER sessions_changed_liveness AFTER UPDATE ON sessions
WHEN OLD.id IS NOT NEW.id OR OLD.user_id IS NOT NEW.user_id
  OR OLD.ip IS NOT NEW.ip OR OLD.user_agent IS NOT NEW.user_agent
  OR OLD.created_at IS NOT NEW.created_at OR OLD.expires_at IS NOT NEW.expires_at
  OR OLD.revoked_at IS NOT NEW.revoked_at OR OLD.revoked_reason IS NOT NEW.revoked_reason
  OR OLD.auth_time IS NOT NEW.auth_time
  OR OLD.auth_method IS NOT NEW.auth_method OR OLD.second_factor IS NOT NEW.second_factor
BEGIN
    UPDATE liveness SET epoch = epoch + 1 WHERE id = 1;
END;
