-- WhatsApp Cloud API channels. `provider_key` is the provider's own id for a channel (WhatsApp:
-- `settings.phone_number_id`), written with the settings and used to route provider webhooks to
-- the channel: at most one live channel per kind and key. Mirrored in ../postgres/0003_whatsapp.sql
-- (the backfill reads JSON with each engine's own functions).

ALTER TABLE channels ADD COLUMN provider_key TEXT;
CREATE UNIQUE INDEX channels_provider_key ON channels(kind, provider_key)
    WHERE deleted_at IS NULL AND provider_key IS NOT NULL;

-- Live WhatsApp channels created before this migration: the oldest channel with a given
-- phone_number_id gets the key.
UPDATE channels SET provider_key = json_extract(settings, '$.phone_number_id')
WHERE kind = 'whatsapp' AND deleted_at IS NULL AND json_type(settings, '$.phone_number_id') = 'text'
  AND NOT EXISTS (
      SELECT 1 FROM channels older
      WHERE older.kind = 'whatsapp' AND older.deleted_at IS NULL AND older.id < channels.id
        AND json_extract(older.settings, '$.phone_number_id') = json_extract(channels.settings, '$.phone_number_id'));

-- When a message's sender last edited it (WhatsApp lets users and the business app edit messages).
ALTER TABLE messages ADD COLUMN edited_at INTEGER;
