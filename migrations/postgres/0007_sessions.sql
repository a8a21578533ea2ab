-- Operator sessions of the web UI (the cookie's token is stored only as a hash) and failed
-- logins per email, for lockout.
CREATE TABLE operator_sessions (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   BIGINT NOT NULL REFERENCES accounts(id),
    operator_id  BIGINT NOT NULL REFERENCES operators(id),
    token_hash   TEXT NOT NULL UNIQUE,
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX operator_sessions_operator ON operator_sessions(operator_id);
CREATE INDEX operator_sessions_expires ON operator_sessions(expires_at);

CREATE TABLE login_failures (
    email             TEXT PRIMARY KEY,
    failures          BIGINT NOT NULL,
    window_started_at BIGINT NOT NULL,
    locked_until      BIGINT
);
