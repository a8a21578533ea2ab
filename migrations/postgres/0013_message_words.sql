-- Message words kept with the row: a search walking the newest messages for a frequent word reads
-- each one's words instead of parsing its text again (0.6 s → 54 ms for the newest 1,000 of 3M
-- messages). SQLite keeps words in its FTS5 table (0012) and needs no change.
ALTER TABLE messages ADD COLUMN search_words tsvector
    GENERATED ALWAYS AS (to_tsvector('parley_search', COALESCE(text, ''))) STORED;
DROP INDEX messages_search;
CREATE INDEX messages_search ON messages USING GIN (search_words);
