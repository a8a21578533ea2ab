-- Delivery statuses that arrive before the send that caused them has recorded the provider's
-- message id (the provider answers the send and reports its status concurrently). They wait here
-- and are applied when the id is recorded; unclaimed ones are dropped after a day.
CREATE TABLE early_statuses (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel_id          BIGINT NOT NULL REFERENCES channels(id),
    provider_message_id TEXT NOT NULL,
    status              TEXT NOT NULL,
    error_code          TEXT,
    error_text          TEXT,
    received_at         BIGINT NOT NULL
);
CREATE INDEX early_statuses_message ON early_statuses(channel_id, provider_message_id);
CREATE INDEX early_statuses_received ON early_statuses(received_at);
