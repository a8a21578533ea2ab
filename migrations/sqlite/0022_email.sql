-- Email: contacts found by their address in any case; per email channel, how far its IMAP
-- folder was read (UIDVALIDITY and the last UID taken, so nothing is fetched twice or missed
-- across restarts) and how the connection fares; mails that could not be read, recorded once
-- with the reason and kept raw. Mirrored in ../postgres/0022_email.sql.
CREATE INDEX contacts_email_folded ON contacts(account_id, LOWER(email));

CREATE TABLE mailboxes (
    channel_id   INTEGER PRIMARY KEY REFERENCES channels(id),
    folder       TEXT NOT NULL,
    uid_validity INTEGER NOT NULL,
    last_uid     INTEGER NOT NULL,
    synced_at    INTEGER,
    error        TEXT,
    error_at     INTEGER,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE mail_failures (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    INTEGER NOT NULL REFERENCES accounts(id),
    channel_id    INTEGER NOT NULL REFERENCES channels(id),
    uid_validity  INTEGER NOT NULL,
    uid           INTEGER NOT NULL,
    reason        TEXT NOT NULL,
    raw_media_key TEXT,
    created_at    INTEGER NOT NULL,
    UNIQUE (channel_id, uid_validity, uid)
);
