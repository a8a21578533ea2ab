-- Credit: a balance per account in thousandths of the currency unit (1000 = 1.000 EUR), and a
-- ledger row for every debit and credit. Sends carry the caller's own message id
-- (`customer_message_id`, the seed platform's `messageId`) for status polling.
ALTER TABLE messages ADD COLUMN customer_message_id TEXT;
CREATE INDEX messages_customer_id ON messages(account_id, customer_message_id);

CREATE TABLE credit_balances (
    account_id BIGINT PRIMARY KEY REFERENCES accounts(id),
    balance    BIGINT NOT NULL,
    frozen     BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE credit_ledger (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts(id),
    amount        BIGINT NOT NULL,
    balance_after BIGINT NOT NULL,
    reason        TEXT NOT NULL,
    message_id    BIGINT REFERENCES messages(id),
    created_at    BIGINT NOT NULL
);
CREATE INDEX credit_ledger_account ON credit_ledger(account_id, id);
