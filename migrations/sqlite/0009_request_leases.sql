-- An Idempotency-Key's claim is a lease: a request whose process died frees its key when the
-- lease ends, and keys are forgotten after a day.
ALTER TABLE idempotency_keys ADD COLUMN locked_until INTEGER NOT NULL DEFAULT 0;
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
-- The Idempotency-Key a message was created with, so that a retry of a request cut short by a
-- crash finds the message instead of creating it again.
ALTER TABLE messages ADD COLUMN request_key TEXT;
CREATE INDEX messages_request_key ON messages(account_id, request_key) WHERE request_key IS NOT NULL;
