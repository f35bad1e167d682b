-- Service clients are remembered between introspections as live sessions
-- are (src/store/liveness.rs): deleting one, or changing anything of it but
-- its last use (`last_used_at`, which introspection writes once a minute),
-- raises the counter, deferred to the commit as the other triggers are.
CREATE CONSTRAINT TRIGGER service_clients_changed_liveness AFTER UPDATE ON service_clients
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (
    OLD.id IS DISTINCT FROM NEW.id OR OLD.client_id IS DISTINCT FROM NEW.client_id
    OR OLD.secret_hash IS DISTINCT FROM NEW.secret_hash OR OLD.name IS DISTINCT FROM NEW.name
    OR OLD.created_by IS DISTINCT FROM NEW.created_by
    OR OLD.created_at IS DISTINCT FROM NEW.created_at
)
EXECUTE FUNCTION raise_liveness();

CREATE CONSTRAINT TRIGGER service_clients_deleted_liveness AFTER DELETE ON service_clients
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION raise_liveness();
