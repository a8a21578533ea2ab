-- Outgoing webhooks: subscriptions, one delivery per (subscription, event), every attempt logged.

-- Events written before webhooks existed count as dispatched; new events are written with 0 and
-- picked up by the dispatcher (a transactional outbox over the event log).
ALTER TABLE events ADD COLUMN dispatched INTEGER NOT NULL DEFAULT 1;
CREATE INDEX events_undispatched ON events(id) WHERE dispatched = 0;
CREATE INDEX events_account_created ON events(account_id, created_at);

ALTER TABLE messages ADD COLUMN deleted_at INTEGER;

CREATE TABLE webhooks (
    id                         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id                 INTEGER NOT NULL REFERENCES accounts(id),
    url                        TEXT NOT NULL,
    description                TEXT,
    event_types                TEXT NOT NULL,
    format                     TEXT NOT NULL,
    secret                     TEXT NOT NULL,
    previous_secret            TEXT,
    previous_secret_expires_at INTEGER,
    active                     INTEGER NOT NULL,
    disabled_reason            TEXT,
    disabled_at                INTEGER,
    failing_since              INTEGER,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL
);
CREATE INDEX webhooks_account ON webhooks(account_id, id);

CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id       INTEGER NOT NULL REFERENCES accounts(id),
    webhook_id       INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id         INTEGER NOT NULL REFERENCES events(id),
    body             TEXT,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    next_attempt_at  INTEGER,
    locked_until     INTEGER,
    last_status_code INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    delivered_at     INTEGER,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_event ON webhook_deliveries(event_id);

CREATE TABLE webhook_attempts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    INTEGER NOT NULL REFERENCES accounts(id),
    webhook_id    INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    delivery_id   INTEGER NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    event_id      INTEGER NOT NULL REFERENCES events(id),
    attempted_at  INTEGER NOT NULL,
    succeeded     INTEGER NOT NULL,
    status_code   INTEGER,
    latency_ms    INTEGER NOT NULL,
    response_body TEXT,
    error         TEXT
);
CREATE INDEX webhook_attempts_webhook ON webhook_attempts(webhook_id, id);
CREATE INDEX webhook_attempts_event ON webhook_attempts(event_id, id);
