-- Operator sessions of the web UI (the cookie's token is stored only as a hash) and failed
-- logins per email, for lockout.
CREATE TABLE operator_sessions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id   INTEGER NOT NULL REFERENCES accounts(id),
    operator_id  INTEGER NOT NULL REFERENCES operators(id),
    token_hash   TEXT NOT NULL UNIQUE,
    csrf_token   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX operator_sessions_operator ON operator_sessions(operator_id);
CREATE INDEX operator_sessions_expires ON operator_sessions(expires_at);

CREATE TABLE login_failures (
    email             TEXT PRIMARY KEY,
    failures          INTEGER NOT NULL,
    window_started_at INTEGER NOT NULL,
    locked_until      INTEGER
);
