-- Satisfaction surveys: a question per language on a 1–5 scale, each sending of it to a
-- conversation (pending until answered or expired), and on each conversation its latest vote
-- (0 = none) and until when a reply may still be a vote. Mirrored in ../sqlite/0020_surveys.sql.
CREATE TABLE surveys (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    name       TEXT NOT NULL,
    questions  TEXT NOT NULL,
    window_hours BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX surveys_account ON surveys(account_id, id);

CREATE TABLE survey_requests (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id      BIGINT NOT NULL REFERENCES accounts(id),
    survey_id       BIGINT NOT NULL REFERENCES surveys(id),
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    channel_id      BIGINT NOT NULL REFERENCES channels(id),
    message_id      BIGINT REFERENCES messages(id),
    status          TEXT NOT NULL,
    rating          BIGINT,
    sent_at         BIGINT NOT NULL,
    answered_at     BIGINT,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX survey_requests_conversation ON survey_requests(conversation_id, status);
CREATE INDEX survey_requests_account_sent ON survey_requests(account_id, sent_at);

ALTER TABLE conversations ADD COLUMN survey_rating BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN survey_due_until BIGINT;
