-- Reports: what happened to each conversation, folded from the event log by the dispatcher
-- (opened, waiting for people, first answered by people, escalated from a virtual agent, resolved),
-- and messages in and out per quarter hour per channel, team, operator and virtual agent. Indexes
-- hold every column a report reads, so a report is one index range per figure. The account's
-- business hours (JSON) count waiting and resolution times when set. Mirrored in
-- ../postgres/0025_reports.sql.
CREATE TABLE report_conversations (
    conversation_id   INTEGER PRIMARY KEY,
    account_id        INTEGER NOT NULL,
    channel_id        INTEGER NOT NULL,
    team_id           INTEGER,
    assignee_id       INTEGER,
    handler           TEXT NOT NULL,
    agent_id          INTEGER,
    opened_at         INTEGER NOT NULL,
    waiting_from      INTEGER,
    first_response_at INTEGER,
    responder_id      INTEGER,
    escalated_at      INTEGER,
    resolved_at       INTEGER,
    bot_resolved      INTEGER NOT NULL
);
CREATE INDEX report_conversations_opened
    ON report_conversations(account_id, opened_at, channel_id, team_id, assignee_id, agent_id);
CREATE INDEX report_conversations_responded
    ON report_conversations(account_id, first_response_at, waiting_from, channel_id, team_id, responder_id, agent_id)
    WHERE first_response_at IS NOT NULL;
CREATE INDEX report_conversations_resolved
    ON report_conversations(account_id, resolved_at, opened_at, channel_id, team_id, assignee_id, agent_id, bot_resolved)
    WHERE resolved_at IS NOT NULL;
CREATE INDEX report_conversations_escalated
    ON report_conversations(account_id, escalated_at, channel_id, team_id, assignee_id, agent_id)
    WHERE escalated_at IS NOT NULL;

-- `dimension` is channel, team, operator or virtual_agent; `dimension_id` 0 is none of them.
CREATE TABLE report_message_counts (
    account_id   INTEGER NOT NULL,
    bucket_at    INTEGER NOT NULL,
    dimension    TEXT NOT NULL,
    dimension_id INTEGER NOT NULL,
    inbound      INTEGER NOT NULL,
    outbound     INTEGER NOT NULL,
    PRIMARY KEY (account_id, dimension, bucket_at, dimension_id)
) WITHOUT ROWID;

ALTER TABLE accounts ADD COLUMN business_hours TEXT;
