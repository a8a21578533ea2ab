-- What a provider reports about a channel itself (RBM's agent launch state…), by name, the latest
-- of each kind: shown with the channel. Mirrored in ../sqlite/0015_channel_notices.sql.
ALTER TABLE channels ADD COLUMN notices TEXT NOT NULL DEFAULT '{}';
