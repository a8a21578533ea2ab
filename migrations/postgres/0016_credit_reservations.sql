-- A send reserves its price (the account's frozen credit) when it is queued; the reservation is
-- settled (debited) when the provider accepts the message and released when it fails first.
-- Mirrored in ../sqlite/0016_credit_reservations.sql.
CREATE TABLE credit_reservations (
    message_id BIGINT PRIMARY KEY REFERENCES messages(id),
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    amount     BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
