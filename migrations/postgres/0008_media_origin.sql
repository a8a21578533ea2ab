-- Where a media file came from: uploaded or received (`original`) or made by an AI tool
-- (`ai_generated`); the media library filters on it.
ALTER TABLE media ADD COLUMN origin TEXT NOT NULL DEFAULT 'original';
CREATE INDEX media_account_origin ON media(account_id, origin, created_at, id);
