-- Chats of the contact-centre chat API: what a conversation carries beyond Parley's own fields
-- when an integration started or shaped it (its language, the context handed to the virtual
-- agent, the business's custom data and how the chat ended), and each account's company secret
-- (signs custom data; write-only). Mirrored in ../postgres/0019_chats.sql.
ALTER TABLE accounts ADD COLUMN company_secret TEXT;

CREATE TABLE chat_details (
    conversation_id    INTEGER PRIMARY KEY REFERENCES conversations(id),
    account_id         INTEGER NOT NULL REFERENCES accounts(id),
    lang               TEXT,
    context            TEXT,
    custom_data        TEXT NOT NULL DEFAULT '{}',
    custom_data_signed INTEGER NOT NULL DEFAULT 0,
    outcome            TEXT,
    finished_by        INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
