-- Saved RCS messages (text, card or carousel with suggestions, and an SMS fallback) an account
-- sends by id. Mirrored in ../postgres/0017_rcs_templates.sql.
CREATE TABLE rcs_templates (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    type        TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX rcs_templates_name ON rcs_templates(account_id, name);
