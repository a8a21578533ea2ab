-- Fetching a message's file and sending read receipts are jobs of every channel, run by its
-- adapter: queued jobs keep going under the generic names.
UPDATE jobs SET kind = 'media_fetch' WHERE kind = 'whatsapp_media_fetch';
UPDATE jobs SET kind = 'mark_read' WHERE kind = 'whatsapp_mark_read';
-- A message that fails gets its debit back: its ledger rows are found by message.
CREATE INDEX credit_ledger_message ON credit_ledger(message_id) WHERE message_id IS NOT NULL;
