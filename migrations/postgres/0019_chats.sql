-- Chats of the contact-centre chat API: what a conversation carries beyond Parley's own fields
-- when an integration started or shaped it (its language, the context handed to the virtual
-- agent, the business's custom data and how the chat ended), and each account's company secret
-- (signs custom data; write-only). Mirrored in ../sqlite/0019_chats.sql.
ALTER TABLE accounts ADD COLUMN company_secret TEXT;

CREATE TABLE chat_details (
    conversation_id    BIGINT PRIMARY KEY REFERENCES conversations(id),
    account_id         BIGINT NOT NULL REFERENCES accounts(id),
    lang               TEXT,
    context            TEXT,
    custom_data        TEXT NOT NULL DEFAULT '{}',
    custom_data_signed BIGINT NOT NULL DEFAULT 0,
    outcome            TEXT,
    finished_by        BIGINT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
