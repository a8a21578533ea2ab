-- Virtual agents answer a channel's customers first and hand conversations to people; teams
-- route those conversations to operators. Mirrored in ../sqlite/0011_virtual_agents.sql.

CREATE TABLE agents (
    id                     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id             BIGINT NOT NULL REFERENCES accounts(id),
    name                   TEXT NOT NULL,
    description            TEXT,
    avatar_url             TEXT,
    languages              TEXT NOT NULL,
    instructions           TEXT NOT NULL,
    engine                 TEXT NOT NULL,
    settings               TEXT NOT NULL,
    handoff                TEXT NOT NULL,
    first_token_timeout_ms BIGINT NOT NULL,
    answer_timeout_ms      BIGINT NOT NULL,
    status                 TEXT NOT NULL,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL,
    deleted_at             BIGINT
);
CREATE INDEX agents_account ON agents(account_id, id);

-- The channels an agent serves: one agent per channel; `answers_first`: new conversations start with it.
CREATE TABLE agent_channels (
    channel_id BIGINT PRIMARY KEY REFERENCES channels(id),
    agent_id   BIGINT NOT NULL REFERENCES agents(id),
    account_id BIGINT NOT NULL,
    answers_first BIGINT NOT NULL
);
CREATE INDEX agent_channels_agent ON agent_channels(agent_id);

CREATE TABLE articles (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    agent_id   BIGINT NOT NULL REFERENCES agents(id),
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    language   TEXT,
    tags       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX articles_agent ON articles(account_id, agent_id, id);

-- An article's passages with their search text (lower-case, diacritics folded, title first).
CREATE TABLE article_passages (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    article_id BIGINT NOT NULL REFERENCES articles(id),
    agent_id   BIGINT NOT NULL,
    position   BIGINT NOT NULL,
    text       TEXT NOT NULL,
    folded     TEXT NOT NULL
);
CREATE INDEX article_passages_article ON article_passages(article_id, position);
CREATE INDEX article_passages_agent ON article_passages(agent_id);
CREATE INDEX article_passages_search ON article_passages USING GIN (to_tsvector('simple', folded));

CREATE TABLE teams (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX teams_account ON teams(account_id, id);

-- `last_assigned_at` turns the round-robin: the member assigned longest ago goes next.
CREATE TABLE team_members (
    team_id          BIGINT NOT NULL REFERENCES teams(id),
    operator_id      BIGINT NOT NULL REFERENCES operators(id),
    account_id       BIGINT NOT NULL,
    last_assigned_at BIGINT NOT NULL,
    PRIMARY KEY (team_id, operator_id)
);
CREATE INDEX team_members_operator ON team_members(operator_id);

ALTER TABLE channels ADD COLUMN team_id BIGINT REFERENCES teams(id);
ALTER TABLE operators ADD COLUMN availability TEXT NOT NULL DEFAULT 'offline';
ALTER TABLE operators ADD COLUMN capacity BIGINT NOT NULL DEFAULT 10;
ALTER TABLE api_keys ADD COLUMN agent_id BIGINT REFERENCES agents(id);

-- Who handles a conversation: a virtual agent or people; `waiting_since` is set while it waits
-- for a person (escalated, or new without an agent) and cleared when one takes it.
ALTER TABLE conversations ADD COLUMN handler TEXT NOT NULL DEFAULT 'human';
ALTER TABLE conversations ADD COLUMN virtual_agent_id BIGINT REFERENCES agents(id);
ALTER TABLE conversations ADD COLUMN team_id BIGINT REFERENCES teams(id);
ALTER TABLE conversations ADD COLUMN waiting_since BIGINT;
-- Only conversations a virtual agent handles are indexed by it: people's (most) cost no index write.
CREATE INDEX conversations_virtual_agent ON conversations(account_id, last_message_at) WHERE handler = 'virtual_agent';
CREATE INDEX conversations_waiting ON conversations(account_id, team_id, waiting_since) WHERE waiting_since IS NOT NULL;
CREATE INDEX conversations_open_assigned ON conversations(assignee_id, status) WHERE assignee_id IS NOT NULL;

CREATE TABLE escalations (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id         BIGINT NOT NULL REFERENCES accounts(id),
    conversation_id    BIGINT NOT NULL REFERENCES conversations(id),
    agent_id           BIGINT REFERENCES agents(id),
    status             TEXT NOT NULL,
    reason             TEXT NOT NULL,
    detail             TEXT,
    deflection_channel TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX escalations_conversation ON escalations(conversation_id, id);

-- The answer a virtual agent owes a conversation: one row per conversation, due after the
-- debounce; `trigger_message_id` is the newest customer message it answers, `claimed_message_id`
-- the one the running generation answers (a newer one makes it stale). A claim is a lease, so a
-- crash leaves the row to run again.
CREATE TABLE agent_runs (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id    BIGINT NOT NULL UNIQUE REFERENCES conversations(id),
    account_id         BIGINT NOT NULL,
    agent_id           BIGINT NOT NULL REFERENCES agents(id),
    trigger_message_id BIGINT NOT NULL,
    claimed_message_id BIGINT,
    due_at             BIGINT NOT NULL,
    locked_until       BIGINT,
    attempts           BIGINT NOT NULL,
    awaiting_bot_until BIGINT,
    created_at         BIGINT NOT NULL
);
CREATE INDEX agent_runs_due ON agent_runs(due_at, id);
