-- Search and lists that stay fast at millions of rows. Mirrored in ../sqlite/0012_search.sql.
-- `unaccent` and `pg_trgm` ship with PostgreSQL and are trusted extensions: the database's owner
-- may create them.
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Message words, folded (case and diacritics): words as `simple` parses them, unaccented.
CREATE TEXT SEARCH CONFIGURATION parley_search (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION parley_search ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple;
CREATE INDEX messages_search ON messages USING GIN (to_tsvector('parley_search', COALESCE(text, '')));

-- Contact names, phones and emails by trigram: any substring, folded like message words.
CREATE FUNCTION parley_fold(text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT lower(unaccent('unaccent'::regdictionary, $1)) $$;
CREATE INDEX contacts_search ON contacts USING GIN (
    parley_fold(COALESCE(name, '') || ' ' || COALESCE(phone, '') || ' ' || COALESCE(email, '')) gin_trgm_ops
);

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
ALTER TABLE conversation_tags ADD COLUMN last_message_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversation_meta ADD COLUMN last_message_at BIGINT NOT NULL DEFAULT 0;
UPDATE conversation_tags SET last_message_at =
    COALESCE((SELECT c.last_message_at FROM conversations c WHERE c.id = conversation_tags.conversation_id), 0);
UPDATE conversation_meta SET last_message_at =
    COALESCE((SELECT c.last_message_at FROM conversations c WHERE c.id = conversation_meta.conversation_id), 0);
DROP INDEX conversation_tags_tag;
CREATE INDEX conversation_tags_recent ON conversation_tags(account_id, tag, last_message_at, conversation_id);
DROP INDEX conversation_meta_kv;
CREATE INDEX conversation_meta_recent ON conversation_meta(account_id, key, value, last_message_at, conversation_id);
CREATE FUNCTION conversations_recency() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversation_tags SET last_message_at = NEW.last_message_at WHERE conversation_id = NEW.id;
    UPDATE conversation_meta SET last_message_at = NEW.last_message_at WHERE conversation_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER conversations_recency AFTER UPDATE OF last_message_at ON conversations
    FOR EACH ROW WHEN (OLD.last_message_at IS DISTINCT FROM NEW.last_message_at) EXECUTE FUNCTION conversations_recency();
