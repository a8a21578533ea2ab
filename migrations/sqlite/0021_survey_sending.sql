-- Surveys sent by themselves and what they collect beyond the vote: per channel, whether a
-- survey goes out when a conversation is resolved or closed (and which); per survey, the
-- WhatsApp template used once the reply window closed and the follow-up question; per sending,
-- who handled the conversation (for results per agent, operator and team) and the customer's
-- comment. Feedback on virtual agents' answers, one per message per author, and on each
-- conversation how many answers got a thumbs down. Mirrored in ../postgres/0021_survey_sending.sql.
ALTER TABLE channels ADD COLUMN survey_send TEXT NOT NULL DEFAULT 'off';
ALTER TABLE channels ADD COLUMN survey_id INTEGER REFERENCES surveys(id);

ALTER TABLE surveys ADD COLUMN whatsapp_template TEXT;
ALTER TABLE surveys ADD COLUMN follow_ups TEXT;

ALTER TABLE survey_requests ADD COLUMN virtual_agent_id INTEGER;
ALTER TABLE survey_requests ADD COLUMN operator_id INTEGER;
ALTER TABLE survey_requests ADD COLUMN team_id INTEGER;
ALTER TABLE survey_requests ADD COLUMN comment TEXT;

CREATE TABLE message_feedback (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id       INTEGER NOT NULL REFERENCES accounts(id),
    message_id       INTEGER NOT NULL REFERENCES messages(id),
    conversation_id  INTEGER NOT NULL REFERENCES conversations(id),
    virtual_agent_id INTEGER,
    author           TEXT NOT NULL,
    rating           TEXT NOT NULL,
    reason           TEXT,
    comment          TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (message_id, author)
);
CREATE INDEX message_feedback_agent ON message_feedback(account_id, virtual_agent_id, rating);
CREATE INDEX message_feedback_conversation ON message_feedback(conversation_id);

ALTER TABLE conversations ADD COLUMN negative_feedback INTEGER NOT NULL DEFAULT 0;
CREATE INDEX conversations_negative_feedback ON conversations(account_id, last_message_at, id)
    WHERE negative_feedback > 0;
