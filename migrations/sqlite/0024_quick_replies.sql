-- Quick replies: saved answers an operator picks by short code in the composer, one text per
-- language (`''` for any language), optionally for one team or one network only. Mirrored in
-- ../postgres/0024_quick_replies.sql.
CREATE TABLE quick_replies (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id   INTEGER NOT NULL REFERENCES accounts(id),
    shortcode    TEXT NOT NULL,
    language     TEXT NOT NULL,
    text         TEXT NOT NULL,
    media_key    TEXT,
    buttons      TEXT NOT NULL,
    team_id      INTEGER REFERENCES teams(id),
    channel_kind TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (account_id, shortcode, language)
);
