-- WhatsApp message templates per channel, synced from or submitted to the Graph API (or kept
-- locally on channels without a WhatsApp Business Account id). One row per name and language.
-- Mirrored in ../postgres/0004_templates.sql.

CREATE TABLE templates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    channel_id INTEGER NOT NULL REFERENCES channels(id),
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    category TEXT NOT NULL,
    status TEXT NOT NULL,
    components TEXT NOT NULL,
    provider_template_id TEXT,
    reason TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX templates_name_language ON templates(channel_id, name, language);
CREATE INDEX templates_provider_id ON templates(provider_template_id);
