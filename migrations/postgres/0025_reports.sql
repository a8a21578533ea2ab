-- Reports: what happened to each conversation, folded from the event log by the dispatcher
-- (opened, waiting for people, first answered by people, escalated from a virtual agent, resolved),
-- and messages in and out per quarter hour per channel, team, operator and virtual agent. Indexes
-- hold every column a report reads, so a report is one index range per figure. The account's
-- business hours (JSON) count waiting and resolution times when set. Mirrored in
-- ../sqlite/0025_reports.sql.
CREATE TABLE report_conversations (
    conversation_id   BIGINT PRIMARY KEY,
    account_id        BIGINT NOT NULL,
    channel_id        BIGINT NOT NULL,
    team_id           BIGINT,
    assignee_id       BIGINT,
    handler           TEXT NOT NULL,
    agent_id          BIGINT,
    opened_at         BIGINT NOT NULL,
    waiting_from      BIGINT,
    first_response_at BIGINT,
    responder_id      BIGINT,
    escalated_at      BIGINT,
    resolved_at       BIGINT,
    bot_resolved      BIGINT NOT NULL
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
    account_id   BIGINT NOT NULL,
    bucket_at    BIGINT NOT NULL,
    dimension    TEXT NOT NULL,
    dimension_id BIGINT NOT NULL,
    inbound      BIGINT NOT NULL,
    outbound     BIGINT NOT NULL,
    PRIMARY KEY (account_id, dimension, bucket_at, dimension_id)
);

ALTER TABLE accounts ADD COLUMN business_hours TEXT;
