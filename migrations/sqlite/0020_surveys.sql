-- Satisfaction surveys: a question per language on a 1–5 scale, each sending of it to a
-- conversation (pending until answered or expired), and on each conversation its latest vote
-- (0 = none) and until when a reply may still be a vote. Mirrored in ../postgres/0020_surveys.sql.
CREATE TABLE surveys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    name       TEXT NOT NULL,
    questions  TEXT NOT NULL,
    window_hours INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX surveys_account ON surveys(account_id, id);

CREATE TABLE survey_requests (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      INTEGER NOT NULL REFERENCES accounts(id),
    survey_id       INTEGER NOT NULL REFERENCES surveys(id),
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    channel_id      INTEGER NOT NULL REFERENCES channels(id),
    message_id      INTEGER REFERENCES messages(id),
    status          TEXT NOT NULL,
    rating          INTEGER,
    sent_at         INTEGER NOT NULL,
    answered_at     INTEGER,
    expires_at      INTEGER NOT NULL
);
CREATE INDEX survey_requests_conversation ON survey_requests(conversation_id, status);
CREATE INDEX survey_requests_account_sent ON survey_requests(account_id, sent_at);

ALTER TABLE conversations ADD COLUMN survey_rating INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN survey_due_until INTEGER;
