//! Virtual agents, the channels they serve and the answers they owe (agent runs).

use sqlx::{AnyExecutor, FromRow};

use super::{Backend, Conn, Db};

/// A stored virtual agent; `settings` holds the engine's secrets too and never leaves the server.
#[derive(Debug, Clone, FromRow)]
pub struct AgentRow {
    pub id: i64,
    pub account_id: i64,
    pub name: String,
    pub description: Option<String>,
    pub avatar_url: Option<String>,
    pub languages: String,
    pub instructions: String,
    pub engine: String,
    pub settings: String,
    pub handoff: String,
    pub first_token_timeout_ms: i64,
    pub answer_timeout_ms: i64,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The fields of an agent an insert or a full update writes.
pub struct AgentFields<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub avatar_url: Option<&'a str>,
    pub languages: &'a str,
    pub instructions: &'a str,
    pub engine: &'a str,
    pub settings: &'a str,
    pub handoff: &'a str,
    pub first_token_timeout_ms: i64,
    pub answer_timeout_ms: i64,
    pub status: &'a str,
}

/// A channel an agent serves.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct AgentChannelRow {
    pub channel_id: i64,
    pub agent_id: i64,
    pub answers_first: i64,
}

const COLUMNS: &str = "id, account_id, name, description, avatar_url, languages, instructions, engine, settings, \
     handoff, first_token_timeout_ms, answer_timeout_ms, status, created_at, updated_at";

/// Inserts an agent.
pub async fn insert_agent(
    conn: &mut Conn,
    account_id: i64,
    fields: &AgentFields<'_>,
    now: i64,
) -> sqlx::Result<AgentRow> {
    sqlx::query_as(&format!(
        "INSERT INTO agents (account_id, name, description, avatar_url, languages, instructions, engine, settings, \
         handoff, first_token_timeout_ms, answer_timeout_ms, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING {COLUMNS}"
    ))
    .bind(account_id)
    .bind(fields.name)
    .bind(fields.description)
    .bind(fields.avatar_url)
    .bind(fields.languages)
    .bind(fields.instructions)
    .bind(fields.engine)
    .bind(fields.settings)
    .bind(fields.handoff)
    .bind(fields.first_token_timeout_ms)
    .bind(fields.answer_timeout_ms)
    .bind(fields.status)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Rewrites an agent's fields; false when it is not the account's.
pub async fn update_agent(
    conn: &mut Conn,
    account_id: i64,
    id: i64,
    fields: &AgentFields<'_>,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE agents SET name = $1, description = $2, avatar_url = $3, languages = $4, instructions = $5, \
         engine = $6, settings = $7, handoff = $8, first_token_timeout_ms = $9, answer_timeout_ms = $10, \
         status = $11, updated_at = $12 WHERE account_id = $13 AND id = $14 AND deleted_at IS NULL",
    )
    .bind(fields.name)
    .bind(fields.description)
    .bind(fields.avatar_url)
    .bind(fields.languages)
    .bind(fields.instructions)
    .bind(fields.engine)
    .bind(fields.settings)
    .bind(fields.handoff)
    .bind(fields.first_token_timeout_ms)
    .bind(fields.answer_timeout_ms)
    .bind(fields.status)
    .bind(now)
    .bind(account_id)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Finds a live agent of the account.
pub async fn find_agent<'c>(db: impl AnyExecutor<'c>, account_id: i64, id: i64) -> sqlx::Result<Option<AgentRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM agents WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL"))
        .bind(account_id)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The account's live agents, oldest first.
pub async fn list_agents<'c>(db: impl AnyExecutor<'c>, account_id: i64) -> sqlx::Result<Vec<AgentRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM agents WHERE account_id = $1 AND deleted_at IS NULL ORDER BY id"))
        .bind(account_id)
        .fetch_all(db)
        .await
}

/// Marks an agent deleted and frees its channels; false when it is not the account's.
pub async fn delete_agent(conn: &mut Conn, account_id: i64, id: i64, now: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE agents SET deleted_at = $1, status = 'paused' WHERE account_id = $2 AND id = $3 AND deleted_at IS NULL",
    )
    .bind(now)
    .bind(account_id)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM agent_channels WHERE agent_id = $1").bind(id).execute(conn).await?;
    Ok(done.rows_affected() == 1)
}

/// The channels an agent serves, by channel id.
pub async fn list_agent_channels<'c>(db: impl AnyExecutor<'c>, agent_id: i64) -> sqlx::Result<Vec<AgentChannelRow>> {
    sqlx::query_as(
        "SELECT channel_id, agent_id, answers_first FROM agent_channels WHERE agent_id = $1 ORDER BY channel_id",
    )
    .bind(agent_id)
    .fetch_all(db)
    .await
}

/// The channels every agent of the account serves.
pub async fn list_account_agent_channels<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
) -> sqlx::Result<Vec<AgentChannelRow>> {
    sqlx::query_as(
        "SELECT channel_id, agent_id, answers_first FROM agent_channels WHERE account_id = $1 ORDER BY channel_id",
    )
    .bind(account_id)
    .fetch_all(db)
    .await
}

/// Replaces the channels an agent serves.
pub async fn replace_agent_channels(
    conn: &mut Conn,
    account_id: i64,
    agent_id: i64,
    channels: &[(i64, bool)],
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM agent_channels WHERE agent_id = $1").bind(agent_id).execute(&mut *conn).await?;
    for (channel_id, first) in channels {
        sqlx::query(
            "INSERT INTO agent_channels (channel_id, agent_id, account_id, answers_first) VALUES ($1, $2, $3, $4)",
        )
        .bind(channel_id)
        .bind(agent_id)
        .bind(account_id)
        .bind(i64::from(*first))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The active agent serving a channel, with whether it answers new conversations first.
pub async fn channel_agent<'c>(db: impl AnyExecutor<'c>, channel_id: i64) -> sqlx::Result<Option<(i64, bool)>> {
    let found: Option<(i64, i64)> = sqlx::query_as(
        "SELECT ac.agent_id, ac.answers_first FROM agent_channels ac JOIN agents a ON a.id = ac.agent_id \
         WHERE ac.channel_id = $1 AND a.status = 'active' AND a.deleted_at IS NULL",
    )
    .bind(channel_id)
    .fetch_optional(db)
    .await?;
    Ok(found.map(|(agent, first)| (agent, first != 0)))
}

/// An answer a virtual agent owes a conversation.
#[derive(Debug, Clone, FromRow)]
pub struct RunRow {
    pub id: i64,
    pub conversation_id: i64,
    pub account_id: i64,
    pub agent_id: i64,
    pub trigger_message_id: i64,
    pub claimed_message_id: Option<i64>,
    pub attempts: i64,
    pub awaiting_bot_until: Option<i64>,
}

const RUN_COLUMNS: &str =
    "id, conversation_id, account_id, agent_id, trigger_message_id, claimed_message_id, attempts, awaiting_bot_until";

/// Schedules the agent's answer to `message_id`, due at `due_at`: a conversation owes one answer,
/// so a newer customer message moves the pending one (the debounce) and makes a running one stale.
pub async fn schedule_run(
    conn: &mut Conn,
    account_id: i64,
    conversation_id: i64,
    agent_id: i64,
    message_id: i64,
    due_at: i64,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO agent_runs (conversation_id, account_id, agent_id, trigger_message_id, due_at, attempts, \
         created_at) VALUES ($1, $2, $3, $4, $5, 0, $6) \
         ON CONFLICT (conversation_id) DO UPDATE SET agent_id = excluded.agent_id, \
         trigger_message_id = excluded.trigger_message_id, due_at = excluded.due_at, awaiting_bot_until = NULL",
    )
    .bind(conversation_id)
    .bind(account_id)
    .bind(agent_id)
    .bind(message_id)
    .bind(due_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Claims due runs for `lease_ms`, fair across accounts: at most `per_account` running at once for
/// one account (runs still leased count), taken in turns across accounts, `limit` in all.
pub async fn claim_runs(db: &Db, now: i64, lease_ms: i64, per_account: i64, limit: usize) -> sqlx::Result<Vec<RunRow>> {
    let mut tx = db.begin().await?;
    let lock = match db.backend() {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let due: Vec<(i64, i64)> = sqlx::query_as(&format!(
        "SELECT id, account_id FROM agent_runs WHERE due_at <= $1 AND (locked_until IS NULL OR locked_until < $1) \
         ORDER BY due_at, id LIMIT 500{lock}"
    ))
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    if due.is_empty() {
        tx.commit().await?;
        return Ok(Vec::new());
    }
    let running: Vec<(i64, i64)> =
        sqlx::query_as("SELECT account_id, COUNT(*) FROM agent_runs WHERE locked_until >= $1 GROUP BY account_id")
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
    let ids = fair_share(&due, &running, per_account, limit);
    if ids.is_empty() {
        tx.commit().await?;
        return Ok(Vec::new());
    }
    let sql = format!(
        "UPDATE agent_runs SET locked_until = $1, claimed_message_id = trigger_message_id, attempts = attempts + 1 \
         WHERE id IN ({}) RETURNING {RUN_COLUMNS}",
        super::placeholders(2, ids.len())
    );
    let mut query = sqlx::query_as(&sql).bind(now + lease_ms);
    for id in &ids {
        query = query.bind(*id);
    }
    let mut runs: Vec<RunRow> = query.fetch_all(&mut *tx).await?;
    tx.commit().await?;
    runs.sort_by_key(|run| ids.iter().position(|id| *id == run.id));
    Ok(runs)
}

/// Claims the run a conversation owes now, due or not (an API caller waits for the answer);
/// `None` when it owes none or another worker holds it.
pub async fn claim_run_of(db: &Db, conversation_id: i64, now: i64, lease_ms: i64) -> sqlx::Result<Option<RunRow>> {
    let mut tx = db.begin().await?;
    let run = sqlx::query_as(&format!(
        "UPDATE agent_runs SET locked_until = $1, claimed_message_id = trigger_message_id, attempts = attempts + 1 \
         WHERE conversation_id = $2 AND awaiting_bot_until IS NULL AND (locked_until IS NULL OR locked_until < $3) \
         RETURNING {RUN_COLUMNS}"
    ))
    .bind(now + lease_ms)
    .bind(conversation_id)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(run)
}

/// Picks due runs (oldest first, with their account) in turns across accounts: each round takes
/// the oldest waiting run of every account below `per_account` running ones, until `limit`.
fn fair_share(due: &[(i64, i64)], running: &[(i64, i64)], per_account: i64, limit: usize) -> Vec<i64> {
    let mut queues: Vec<(i64, i64, std::collections::VecDeque<i64>)> = Vec::new();
    for (id, account) in due {
        match queues.iter_mut().find(|(a, _, _)| a == account) {
            Some((_, _, queue)) => queue.push_back(*id),
            None => {
                let busy = running.iter().find(|(a, _)| a == account).map_or(0, |(_, n)| *n);
                queues.push((*account, busy, std::collections::VecDeque::from([*id])));
            }
        }
    }
    let mut picked = Vec::new();
    loop {
        let mut took = false;
        for (_, busy, queue) in &mut queues {
            if picked.len() >= limit {
                return picked;
            }
            if *busy < per_account {
                if let Some(id) = queue.pop_front() {
                    picked.push(id);
                    *busy += 1;
                    took = true;
                }
            }
        }
        if !took {
            return picked;
        }
    }
}

/// When the next claimable run comes due, if any run waits.
pub async fn next_due<'c>(db: impl AnyExecutor<'c>, now: i64) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT MIN(due_at) FROM agent_runs WHERE locked_until IS NULL OR locked_until < $1")
        .bind(now)
        .fetch_one(db)
        .await
}

/// The conversation's run, if it owes an answer.
pub async fn find_run<'c>(db: impl AnyExecutor<'c>, conversation_id: i64) -> sqlx::Result<Option<RunRow>> {
    sqlx::query_as(&format!("SELECT {RUN_COLUMNS} FROM agent_runs WHERE conversation_id = $1"))
        .bind(conversation_id)
        .fetch_optional(db)
        .await
}

/// Removes a conversation's run (answered, handed to people, or no longer owed).
pub async fn delete_run(conn: &mut Conn, conversation_id: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM agent_runs WHERE conversation_id = $1").bind(conversation_id).execute(conn).await?;
    Ok(())
}

/// Removes a run that waits for an external bot's answer (the bot answered through the API); a
/// run rescheduled by a newer customer message stays.
pub async fn delete_awaited_run(conn: &mut Conn, conversation_id: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM agent_runs WHERE conversation_id = $1 AND awaiting_bot_until IS NOT NULL")
        .bind(conversation_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Removes a run only while it still answers `message_id` (a newer message keeps it owed).
pub async fn finish_run(conn: &mut Conn, run_id: i64, message_id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM agent_runs WHERE id = $1 AND trigger_message_id = $2")
        .bind(run_id)
        .bind(message_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Releases a claimed run to run again at `due_at` at the earliest (its generation was
/// overtaken, or failed and backs off).
pub async fn release_run<'c>(db: impl AnyExecutor<'c>, run_id: i64, due_at: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE agent_runs SET locked_until = NULL, claimed_message_id = NULL, \
         due_at = CASE WHEN due_at > $1 THEN due_at ELSE $1 END WHERE id = $2",
    )
    .bind(due_at)
    .bind(run_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Leaves a run waiting for an external bot's answer through the API until `until`, when it comes
/// due again (and hands the conversation to people if the bot stayed silent).
pub async fn await_bot<'c>(db: impl AnyExecutor<'c>, run_id: i64, message_id: i64, until: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE agent_runs SET locked_until = NULL, awaiting_bot_until = $1, due_at = $1 \
         WHERE id = $2 AND trigger_message_id = $3",
    )
    .bind(until)
    .bind(run_id)
    .bind(message_id)
    .execute(db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::fair_share;

    #[test]
    fn runs_are_shared_in_turns_across_accounts() {
        let due = [(1, 7), (2, 7), (3, 7), (4, 8), (5, 9), (6, 8)];
        assert_eq!(fair_share(&due, &[], 4, 10), [1, 4, 5, 2, 6, 3]);
        assert_eq!(fair_share(&due, &[], 4, 3), [1, 4, 5]);
        assert_eq!(fair_share(&due, &[(7, 3)], 4, 10), [1, 4, 5, 6], "account 7 has one slot left");
        assert_eq!(fair_share(&due, &[(7, 4), (8, 4), (9, 4)], 4, 10), Vec::<i64>::new());
    }
}
