-- Web chat: every channel gets a public id (what a widget on a website names its channel by,
-- unguessable and never a secret), and each visitor of a widget a session: a token (kept
-- hashed) bound to one contact on the channel, verified when the business's site proved who the
-- visitor is. Mirrored in ../sqlite/0018_webchat.sql.
ALTER TABLE channels ADD COLUMN public_id TEXT;
UPDATE channels SET public_id = md5(random()::text || clock_timestamp()::text || id::text);
CREATE UNIQUE INDEX channels_public_id ON channels(public_id);

CREATE TABLE visitor_sessions (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   BIGINT NOT NULL REFERENCES accounts(id),
    channel_id   BIGINT NOT NULL REFERENCES channels(id),
    contact_id   BIGINT NOT NULL REFERENCES contacts(id),
    token_hash   TEXT NOT NULL UNIQUE,
    address      TEXT NOT NULL,
    identifier   TEXT,
    verified     BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX visitor_sessions_contact ON visitor_sessions(contact_id);
