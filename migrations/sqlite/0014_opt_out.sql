-- A contact who texted STOP on a channel (or whom the provider reports unsubscribed) gets no more
-- messages there until they opt back in. Mirrored in ../postgres/0014_opt_out.sql (PostgreSQL's
-- 0013 keeps message words in a column; SQLite's are in FTS5 and need no 0013).
ALTER TABLE contact_identities ADD COLUMN opted_out_at INTEGER;
