-- Service clients are remembered between introspections as live sessions
-- are (src/store/liveness.rs): deleting one, or changing anything of it but
-- its last use (`last_used_at`, which introspection writes once a minute),
-- raises the counter.
CREATE TRIGGER service_clients_changed_liveness AFTER UPDATE ON service_clients
WHEN OLD.id IS NOT NEW.id OR OLD.client_id IS NOT NEW.client_id
  OR OLD.secret_hash IS NOT NEW.secret_hash OR OLD.name IS NOT NEW.name
  OR OLD.created_by IS NOT NEW.created_by OR OLD.created_at IS NOT NEW.created_at
BEGIN
    UPDATE liveness SET epoch = epoch + 1 WHERE id = 1;
END;

CREATE TRIGGER service_clients_deleted_liveness AFTER DELETE ON service_clients
BEGIN
    UPDATE liveness SET epoch = epoch + 1 WHERE id = 1;
END;
