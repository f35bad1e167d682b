-- How and when the person behind a session proved who they are: the
-- `amr` and `auth_time` of its access tokens. Sessions opened before this
-- migration get their start as `auth_time` and `unknown` as the method.
ALTER TABLE sessions ADD COLUMN auth_time INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN auth_method TEXT NOT NULL DEFAULT 'unknown';
UPDATE sessions SET auth_time = created_at;
