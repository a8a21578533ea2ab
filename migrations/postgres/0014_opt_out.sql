-- A contact who texted STOP on a channel (or whom the provider reports unsubscribed) gets no more
-- messages there until they opt back in. Mirrored in ../sqlite/0014_opt_out.sql.
ALTER TABLE contact_identities ADD COLUMN opted_out_at BIGINT;
