-- WhatsApp Cloud API channels (PostgreSQL), mirrored in ../sqlite/0003_whatsapp.sql. `provider_key`
-- is the provider's own id for a channel (WhatsApp: `settings.phone_number_id`), written with the
-- settings and used to route provider webhooks to the channel: at most one live channel per kind
-- and key.

ALTER TABLE channels ADD COLUMN provider_key TEXT;
CREATE UNIQUE INDEX channels_provider_key ON channels(kind, provider_key)
    WHERE deleted_at IS NULL AND provider_key IS NOT NULL;

-- Live WhatsApp channels created before this migration: the oldest channel with a given
-- phone_number_id gets the key.
UPDATE channels SET provider_key = settings::jsonb ->> 'phone_number_id'
WHERE kind = 'whatsapp' AND deleted_at IS NULL AND jsonb_typeof(settings::jsonb -> 'phone_number_id') = 'string'
  AND NOT EXISTS (
      SELECT 1 FROM channels older
      WHERE older.kind = 'whatsapp' AND older.deleted_at IS NULL AND older.id < channels.id
        AND older.settings::jsonb ->> 'phone_number_id' = channels.settings::jsonb ->> 'phone_number_id');

-- When a message's sender last edited it (WhatsApp lets users and the business app edit messages).
ALTER TABLE messages ADD COLUMN edited_at BIGINT;
