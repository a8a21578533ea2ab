-- Virtual agents answer a channel's customers first and hand conversations to people; teams
-- route those conversations to operators. Mirrored in ../postgres/0011_virtual_agents.sql.

CREATE TABLE agents (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id             INTEGER NOT NULL REFERENCES accounts(id),
    name                   TEXT NOT NULL,
    description            TEXT,
    avatar_url             TEXT,
    languages              TEXT NOT NULL,
    instructions           TEXT NOT NULL,
    engine                 TEXT NOT NULL,
    settings               TEXT NOT NULL,
    handoff                TEXT NOT NULL,
    first_token_timeout_ms INTEGER NOT NULL,
    answer_timeout_ms      INTEGER NOT NULL,
    status                 TEXT NOT NULL,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL,
    deleted_at             INTEGER
);
CREATE INDEX agents_account ON agents(account_id, id);

-- The channels an agent serves: one agent per channel; `answers_first`: new conversations start with it.
CREATE TABLE agent_channels (
    channel_id INTEGER PRIMARY KEY REFERENCES channels(id),
    agent_id   INTEGER NOT NULL REFERENCES agents(id),
    account_id INTEGER NOT NULL,
    answers_first INTEGER NOT NULL
);
CREATE INDEX agent_channels_agent ON agent_channels(agent_id);

CREATE TABLE articles (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    agent_id   INTEGER NOT NULL REFERENCES agents(id),
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    language   TEXT,
    tags       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX articles_agent ON articles(account_id, agent_id, id);

-- An article's passages with their search text (lower-case, diacritics folded, title first).
CREATE TABLE article_passages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id INTEGER NOT NULL REFERENCES articles(id),
    agent_id   INTEGER NOT NULL,
    position   INTEGER NOT NULL,
    text       TEXT NOT NULL,
    folded     TEXT NOT NULL
);
CREATE INDEX article_passages_article ON article_passages(article_id, position);
CREATE INDEX article_passages_agent ON article_passages(agent_id);
CREATE VIRTUAL TABLE article_passages_fts USING fts5(
    folded, content = 'article_passages', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER article_passages_indexed AFTER INSERT ON article_passages BEGIN
    INSERT INTO article_passages_fts (rowid, folded) VALUES (new.id, new.folded);
END;
CREATE TRIGGER article_passages_unindexed AFTER DELETE ON article_passages BEGIN
    INSERT INTO article_passages_fts (article_passages_fts, rowid, folded) VALUES ('delete', old.id, old.folded);
END;

CREATE TABLE teams (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX teams_account ON teams(account_id, id);

-- `last_assigned_at` turns the round-robin: the member assigned longest ago goes next.
CREATE TABLE team_members (
    team_id          INTEGER NOT NULL REFERENCES teams(id),
    operator_id      INTEGER NOT NULL REFERENCES operators(id),
    account_id       INTEGER NOT NULL,
    last_assigned_at INTEGER NOT NULL,
    PRIMARY KEY (team_id, operator_id)
);
CREATE INDEX team_members_operator ON team_members(operator_id);

ALTER TABLE channels ADD COLUMN team_id INTEGER REFERENCES teams(id);
ALTER TABLE operators ADD COLUMN availability TEXT NOT NULL DEFAULT 'offline';
ALTER TABLE operators ADD COLUMN capacity INTEGER NOT NULL DEFAULT 10;
ALTER TABLE api_keys ADD COLUMN agent_id INTEGER REFERENCES agents(id);

-- Who handles a conversation: a virtual agent or people; `waiting_since` is set while it waits
-- for a person (escalated, or new without an agent) and cleared when one takes it.
ALTER TABLE conversations ADD COLUMN handler TEXT NOT NULL DEFAULT 'human';
ALTER TABLE conversations ADD COLUMN virtual_agent_id INTEGER REFERENCES agents(id);
ALTER TABLE conversations ADD COLUMN team_id INTEGER REFERENCES teams(id);
ALTER TABLE conversations ADD COLUMN waiting_since INTEGER;
-- Only conversations a virtual agent handles are indexed by it: people's (most) cost no index write.
CREATE INDEX conversations_virtual_agent ON conversations(account_id, last_message_at) WHERE handler = 'virtual_agent';
CREATE INDEX conversations_waiting ON conversations(account_id, team_id, waiting_since) WHERE waiting_since IS NOT NULL;
CREATE INDEX conversations_open_assigned ON conversations(assignee_id, status) WHERE assignee_id IS NOT NULL;

CREATE TABLE escalations (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id         INTEGER NOT NULL REFERENCES accounts(id),
    conversation_id    INTEGER NOT NULL REFERENCES conversations(id),
    agent_id           INTEGER REFERENCES agents(id),
    status             TEXT NOT NULL,
    reason             TEXT NOT NULL,
    detail             TEXT,
    deflection_channel TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE INDEX escalations_conversation ON escalations(conversation_id, id);

-- The answer a virtual agent owes a conversation: one row per conversation, due after the
-- debounce; `trigger_message_id` is the newest customer message it answers, `claimed_message_id`
-- the one the running generation answers (a newer one makes it stale). A claim is a lease, so a
-- crash leaves the row to run again.
CREATE TABLE agent_runs (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id    INTEGER NOT NULL UNIQUE REFERENCES conversations(id),
    account_id         INTEGER NOT NULL,
    agent_id           INTEGER NOT NULL REFERENCES agents(id),
    trigger_message_id INTEGER NOT NULL,
    claimed_message_id INTEGER,
    due_at             INTEGER NOT NULL,
    locked_until       INTEGER,
    attempts           INTEGER NOT NULL,
    awaiting_bot_until INTEGER,
    created_at         INTEGER NOT NULL
);
CREATE INDEX agent_runs_due ON agent_runs(due_at, id);
