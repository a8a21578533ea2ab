-- A send reserves its price (the account's frozen credit) when it is queued; the reservation is
-- settled (debited) when the provider accepts the message and released when it fails first.
-- Mirrored in ../postgres/0016_credit_reservations.sql.
CREATE TABLE credit_reservations (
    message_id INTEGER PRIMARY KEY REFERENCES messages(id),
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    amount     INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
