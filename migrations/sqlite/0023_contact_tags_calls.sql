-- Contacts carry tags and are listed by name or by when they changed; a call's later reports
-- (its recording) that arrive before the call itself wait for it. Mirrored in
-- ../postgres/0023_contact_tags_calls.sql.
CREATE TABLE contact_tags (
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    contact_id INTEGER NOT NULL REFERENCES contacts(id),
    tag        TEXT NOT NULL,
    PRIMARY KEY (contact_id, tag)
);
CREATE INDEX contact_tags_tag ON contact_tags(account_id, tag, contact_id);

CREATE INDEX contacts_updated ON contacts(account_id, updated_at, id);
CREATE INDEX contacts_name ON contacts(account_id, name, id);

-- Payload keys a provider reported for a message Parley has not stored yet (a call's recording
-- can be reported before the call); applied when the message arrives, dropped after a day.
CREATE TABLE early_payloads (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id          INTEGER NOT NULL REFERENCES channels(id),
    provider_message_id TEXT NOT NULL,
    payload             TEXT NOT NULL,
    received_at         INTEGER NOT NULL
);
CREATE INDEX early_payloads_message ON early_payloads(channel_id, provider_message_id);
CREATE INDEX early_payloads_received ON early_payloads(received_at);
