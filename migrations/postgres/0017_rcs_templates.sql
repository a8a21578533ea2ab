-- Saved RCS messages (text, card or carousel with suggestions, and an SMS fallback) an account
-- sends by id. Mirrored in ../sqlite/0017_rcs_templates.sql.
CREATE TABLE rcs_templates (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES accounts(id),
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    type        TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX rcs_templates_name ON rcs_templates(account_id, name);
