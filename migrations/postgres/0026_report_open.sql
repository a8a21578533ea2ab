-- The live workload counts open conversations from their report rows: one index entry each, in
-- the order the counts are grouped by. Mirrored in ../sqlite/0026_report_open.sql.
CREATE INDEX report_conversations_open
    ON report_conversations(account_id, team_id, assignee_id, handler, agent_id)
    WHERE resolved_at IS NULL;
