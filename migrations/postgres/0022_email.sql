-- Email: contacts found by their address in any case; per email channel, how far its IMAP
-- folder was read (UIDVALIDITY and the last UID taken, so nothing is fetched twice or missed
-- across restarts) and how the connection fares; mails that could not be read, recorded once
-- with the reason and kept raw. Mirrored in ../sqlite/0022_email.sql.
CREATE INDEX contacts_email_folded ON contacts(account_id, LOWER(email));

CREATE TABLE mailboxes (
    channel_id   BIGINT PRIMARY KEY REFERENCES channels(id),
    folder       TEXT NOT NULL,
    uid_validity BIGINT NOT NULL,
    last_uid     BIGINT NOT NULL,
    synced_at    BIGINT,
    error        TEXT,
    error_at     BIGINT,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE mail_failures (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts(id),
    channel_id    BIGINT NOT NULL REFERENCES channels(id),
    uid_validity  BIGINT NOT NULL,
    uid           BIGINT NOT NULL,
    reason        TEXT NOT NULL,
    raw_media_key TEXT,
    created_at    BIGINT NOT NULL,
    UNIQUE (channel_id, uid_validity, uid)
);
