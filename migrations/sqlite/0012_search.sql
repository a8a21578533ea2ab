-- Search and lists that stay fast at millions of rows. Mirrored in ../postgres/0012_search.sql.

-- Message words, folded (case and diacritics), kept by triggers in the transaction that writes the
-- message. `detail = none`: matching needs no positions, and the index is a third of a full one.
CREATE VIRTUAL TABLE messages_fts USING fts5(
    text, content = 'messages', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2', detail = none
);
CREATE TRIGGER messages_fts_inserted AFTER INSERT ON messages WHEN new.text IS NOT NULL BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_fts_deleted AFTER DELETE ON messages WHEN old.text IS NOT NULL BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER messages_fts_unindexed AFTER UPDATE OF text ON messages
    WHEN old.text IS NOT NULL AND old.text IS NOT new.text BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER messages_fts_reindexed AFTER UPDATE OF text ON messages
    WHEN new.text IS NOT NULL AND old.text IS NOT new.text BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');

-- Contact names, phones and emails by trigram: any substring of 3 characters or more, folded.
CREATE VIRTUAL TABLE contacts_fts USING fts5(
    name, phone, email, content = 'contacts', content_rowid = 'id', tokenize = 'trigram remove_diacritics 1'
);
CREATE TRIGGER contacts_fts_inserted AFTER INSERT ON contacts BEGIN
    INSERT INTO contacts_fts (rowid, name, phone, email) VALUES (new.id, new.name, new.phone, new.email);
END;
CREATE TRIGGER contacts_fts_deleted AFTER DELETE ON contacts BEGIN
    INSERT INTO contacts_fts (contacts_fts, rowid, name, phone, email) VALUES ('delete', old.id, old.name, old.phone, old.email);
END;
CREATE TRIGGER contacts_fts_updated AFTER UPDATE OF name, phone, email ON contacts
    WHEN old.name IS NOT new.name OR old.phone IS NOT new.phone OR old.email IS NOT new.email BEGIN
    INSERT INTO contacts_fts (contacts_fts, rowid, name, phone, email) VALUES ('delete', old.id, old.name, old.phone, old.email);
    INSERT INTO contacts_fts (rowid, name, phone, email) VALUES (new.id, new.name, new.phone, new.email);
END;
INSERT INTO contacts_fts (contacts_fts) VALUES ('rebuild');

-- Every list filter walks an index already in the list's order (newest first, then id).
DROP INDEX conversations_assignee;
CREATE INDEX conversations_assignee ON conversations(account_id, assignee_id, last_message_at, id);
CREATE INDEX conversations_unread_recent ON conversations(account_id, last_message_at, id) WHERE unread_count > 0;
DROP INDEX conversations_channel;
CREATE INDEX conversations_channel ON conversations(account_id, channel_id, last_message_at, id);
DROP INDEX conversations_status;
CREATE INDEX conversations_status ON conversations(account_id, status, last_message_at, id);
DROP INDEX conversations_archived;
CREATE INDEX conversations_archived ON conversations(account_id, archived, last_message_at, id);

-- Tags and meta entries keep their conversation's last message time, so that a list filtered by
-- one walks its index newest first (testing every conversation for a rare tag took seconds).
ALTER TABLE conversation_tags ADD COLUMN last_message_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversation_meta ADD COLUMN last_message_at INTEGER NOT NULL DEFAULT 0;
UPDATE conversation_tags SET last_message_at =
    COALESCE((SELECT c.last_message_at FROM conversations c WHERE c.id = conversation_tags.conversation_id), 0);
UPDATE conversation_meta SET last_message_at =
    COALESCE((SELECT c.last_message_at FROM conversations c WHERE c.id = conversation_meta.conversation_id), 0);
DROP INDEX conversation_tags_tag;
CREATE INDEX conversation_tags_recent ON conversation_tags(account_id, tag, last_message_at, conversation_id);
DROP INDEX conversation_meta_kv;
CREATE INDEX conversation_meta_recent ON conversation_meta(account_id, key, value, last_message_at, conversation_id);
CREATE TRIGGER conversations_recency AFTER UPDATE OF last_message_at ON conversations
    WHEN new.last_message_at IS NOT old.last_message_at BEGIN
    UPDATE conversation_tags SET last_message_at = new.last_message_at WHERE conversation_id = new.id;
    UPDATE conversation_meta SET last_message_at = new.last_message_at WHERE conversation_id = new.id;
END;
