-- Parley core schema (PostgreSQL). Timestamps are Unix milliseconds (UTC); JSON is stored as text;
-- flags are 0/1 integers. Mirrored in ../sqlite/0001_core.sql.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE accounts (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   BIGINT NOT NULL REFERENCES accounts(id),
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_keys_account ON api_keys(account_id, id);

CREATE TABLE operators (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts(id),
    name          TEXT NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX operators_account ON operators(account_id, id);

CREATE TABLE channels (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   BIGINT NOT NULL REFERENCES accounts(id),
    kind         TEXT NOT NULL,
    address      TEXT NOT NULL,
    name         TEXT NOT NULL,
    simulation   BIGINT NOT NULL,
    settings     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    deleted_at   BIGINT
);
CREATE INDEX channels_account ON channels(account_id, id);

CREATE TABLE contacts (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id      BIGINT NOT NULL REFERENCES accounts(id),
    name            TEXT,
    phone           TEXT,
    email           TEXT,
    avatar_url      TEXT,
    in_address_book BIGINT NOT NULL,
    attributes      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX contacts_account ON contacts(account_id, id);
CREATE INDEX contacts_phone ON contacts(account_id, phone);
CREATE INDEX contacts_email ON contacts(account_id, email);

CREATE TABLE contact_identities (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES accounts(id),
    contact_id  BIGINT NOT NULL REFERENCES contacts(id),
    channel_id  BIGINT NOT NULL REFERENCES channels(id),
    external_id TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (channel_id, external_id)
);
CREATE INDEX contact_identities_contact ON contact_identities(contact_id);

CREATE TABLE conversations (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id           BIGINT NOT NULL REFERENCES accounts(id),
    channel_id           BIGINT NOT NULL REFERENCES channels(id),
    contact_id           BIGINT NOT NULL REFERENCES contacts(id),
    status               TEXT NOT NULL,
    archived             BIGINT NOT NULL,
    assignee_id          BIGINT REFERENCES operators(id),
    subject              TEXT,
    meta                 TEXT NOT NULL,
    tags                 TEXT NOT NULL,
    unread_count         BIGINT NOT NULL,
    last_message_preview TEXT,
    last_message_at      BIGINT,
    last_inbound_at      BIGINT,
    window_expires_at    BIGINT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    closed_at            BIGINT
);
CREATE INDEX conversations_last_message ON conversations(account_id, last_message_at, id);
CREATE INDEX conversations_updated ON conversations(account_id, updated_at, id);
CREATE INDEX conversations_channel ON conversations(account_id, channel_id, last_message_at);
CREATE INDEX conversations_status ON conversations(account_id, status, last_message_at);
CREATE INDEX conversations_archived ON conversations(account_id, archived, last_message_at);
CREATE INDEX conversations_unread ON conversations(account_id, unread_count);
CREATE INDEX conversations_assignee ON conversations(account_id, assignee_id);
CREATE INDEX conversations_contact ON conversations(contact_id, channel_id, status);

CREATE TABLE conversation_tags (
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    account_id      BIGINT NOT NULL,
    tag             TEXT NOT NULL,
    PRIMARY KEY (conversation_id, tag)
);
CREATE INDEX conversation_tags_tag ON conversation_tags(account_id, tag);

CREATE TABLE conversation_meta (
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    account_id      BIGINT NOT NULL,
    key             TEXT NOT NULL,
    value           TEXT NOT NULL,
    PRIMARY KEY (conversation_id, key)
);
CREATE INDEX conversation_meta_kv ON conversation_meta(account_id, key, value);

CREATE TABLE messages (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id          BIGINT NOT NULL REFERENCES accounts(id),
    conversation_id     BIGINT NOT NULL REFERENCES conversations(id),
    channel_id          BIGINT NOT NULL REFERENCES channels(id),
    direction           TEXT NOT NULL,
    sender_type         TEXT NOT NULL,
    sender_id           BIGINT,
    type                TEXT NOT NULL,
    text                TEXT,
    media_keys          TEXT NOT NULL,
    payload             TEXT NOT NULL,
    provider_message_id TEXT,
    status              TEXT,
    error_code          TEXT,
    error_text          TEXT,
    is_read             BIGINT NOT NULL,
    simulated           BIGINT NOT NULL,
    private             BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    sent_at             BIGINT,
    delivered_at        BIGINT,
    read_at             BIGINT
);
CREATE INDEX messages_conversation ON messages(conversation_id, id);
CREATE UNIQUE INDEX messages_provider_id ON messages(channel_id, provider_message_id);

CREATE TABLE media (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   BIGINT NOT NULL REFERENCES accounts(id),
    key          TEXT NOT NULL UNIQUE,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    filename     TEXT,
    sha256       TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX media_account ON media(account_id, id);

CREATE TABLE events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    type       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX events_account ON events(account_id, id);

CREATE TABLE jobs (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    run_at       BIGINT NOT NULL,
    attempts     BIGINT NOT NULL,
    locked_until BIGINT,
    last_error   TEXT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs(run_at);

CREATE TABLE idempotency_keys (
    account_id    BIGINT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        BIGINT NOT NULL,
    response_body TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (account_id, key)
);
