-- Several Parley nodes on one database.
--
-- Commit order: each event records the transaction that wrote it. Live streams and replays read
-- events in (xid, id) order and only below the oldest transaction still running, so an event that
-- commits after a later one is never skipped by a client resuming after that later one. Events from
-- before this migration share xid 0 and keep their id order.
ALTER TABLE events ADD COLUMN xid xid8 NOT NULL DEFAULT '0';
ALTER TABLE events ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
-- It replaces the (account_id, id) index: events are the most written rows (and rewritten once
-- dispatched), so they keep one index per account rather than two.
CREATE INDEX events_account_commit ON events(account_id, xid, id);
DROP INDEX events_account;

-- A message's delivery jobs run one after another whichever node claims them: the message a job
-- belongs to, read from its payload.
ALTER TABLE jobs ADD COLUMN message_id BIGINT GENERATED ALWAYS AS (
    CASE WHEN kind IN ('send_message', 'simulate_status') THEN (payload::jsonb ->> 'message_id')::bigint END
) STORED;
CREATE INDEX jobs_message ON jobs(message_id, id) WHERE message_id IS NOT NULL;

-- The nodes of a cluster, each seen every few seconds (what /readyz reports as peers).
CREATE TABLE cluster_nodes (
    name       TEXT PRIMARY KEY,
    address    TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL,
    draining   BIGINT NOT NULL DEFAULT 0
);

-- A channel's send pace shared by every node: the earliest time its next message may go.
CREATE TABLE channel_pace (
    channel_id BIGINT PRIMARY KEY,
    next_at    BIGINT NOT NULL
);

-- The webhook dispatcher takes undispatched events in commit order.
DROP INDEX events_undispatched;
CREATE INDEX events_undispatched ON events(xid, id) WHERE dispatched = 0;
