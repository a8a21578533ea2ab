//! Teams of operators, their members, operator availability and the routing queries: who is free
//! to take a conversation and which conversations wait for someone.

use sqlx::{AnyExecutor, FromRow};

use super::Conn;

/// A stored team.
#[derive(Debug, Clone, FromRow)]
pub struct TeamRow {
    pub id: i64,
    pub account_id: i64,
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An operator as routing sees them: availability counts only while they have a live session.
#[derive(Debug, Clone, FromRow)]
pub struct OperatorPresence {
    pub id: i64,
    pub name: String,
    pub availability: String,
    pub capacity: i64,
    pub open_conversations: i64,
}

const COLUMNS: &str = "id, account_id, name, created_at, updated_at";

/// Inserts a team.
pub async fn insert_team(conn: &mut Conn, account_id: i64, name: &str, now: i64) -> sqlx::Result<TeamRow> {
    sqlx::query_as(&format!(
        "INSERT INTO teams (account_id, name, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING {COLUMNS}"
    ))
    .bind(account_id)
    .bind(name)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Renames a team; false when it is not the account's.
pub async fn rename_team(conn: &mut Conn, account_id: i64, id: i64, name: &str, now: i64) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE teams SET name = $1, updated_at = $2 WHERE account_id = $3 AND id = $4")
        .bind(name)
        .bind(now)
        .bind(account_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Finds a team of the account.
pub async fn find_team<'c>(db: impl AnyExecutor<'c>, account_id: i64, id: i64) -> sqlx::Result<Option<TeamRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM teams WHERE account_id = $1 AND id = $2"))
        .bind(account_id)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The account's teams by id.
pub async fn list_teams<'c>(db: impl AnyExecutor<'c>, account_id: i64) -> sqlx::Result<Vec<TeamRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM teams WHERE account_id = $1 ORDER BY id"))
        .bind(account_id)
        .fetch_all(db)
        .await
}

/// Deletes a team: its channels and waiting conversations keep no team.
pub async fn delete_team(conn: &mut Conn, account_id: i64, id: i64) -> sqlx::Result<bool> {
    for sql in [
        "DELETE FROM team_members WHERE account_id = $1 AND team_id = $2",
        "UPDATE channels SET team_id = NULL WHERE account_id = $1 AND team_id = $2",
        "UPDATE conversations SET team_id = NULL WHERE account_id = $1 AND team_id = $2",
        "UPDATE quick_replies SET team_id = NULL WHERE account_id = $1 AND team_id = $2",
    ] {
        sqlx::query(sql).bind(account_id).bind(id).execute(&mut *conn).await?;
    }
    let done = sqlx::query("DELETE FROM teams WHERE account_id = $1 AND id = $2")
        .bind(account_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Pairs of (team, operator) of the account's teams.
pub async fn list_members<'c>(db: impl AnyExecutor<'c>, account_id: i64) -> sqlx::Result<Vec<(i64, i64)>> {
    sqlx::query_as("SELECT team_id, operator_id FROM team_members WHERE account_id = $1 ORDER BY team_id, operator_id")
        .bind(account_id)
        .fetch_all(db)
        .await
}

/// Pairs of (team, channel) of the account.
pub async fn list_team_channels<'c>(db: impl AnyExecutor<'c>, account_id: i64) -> sqlx::Result<Vec<(i64, i64)>> {
    sqlx::query_as(
        "SELECT team_id, id FROM channels WHERE account_id = $1 AND team_id IS NOT NULL AND deleted_at IS NULL \
         ORDER BY team_id, id",
    )
    .bind(account_id)
    .fetch_all(db)
    .await
}

/// Replaces a team's members, keeping the round-robin turn of those who stay.
pub async fn replace_members(conn: &mut Conn, account_id: i64, team_id: i64, operators: &[i64]) -> sqlx::Result<()> {
    let current: Vec<i64> = sqlx::query_scalar("SELECT operator_id FROM team_members WHERE team_id = $1")
        .bind(team_id)
        .fetch_all(&mut *conn)
        .await?;
    for gone in current.iter().filter(|id| !operators.contains(id)) {
        sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND operator_id = $2")
            .bind(team_id)
            .bind(gone)
            .execute(&mut *conn)
            .await?;
    }
    for new in operators.iter().filter(|id| !current.contains(id)) {
        sqlx::query(
            "INSERT INTO team_members (team_id, operator_id, account_id, last_assigned_at) VALUES ($1, $2, $3, 0)",
        )
        .bind(team_id)
        .bind(new)
        .bind(account_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Makes `team_id` the team of exactly these channels of the account.
pub async fn replace_channels(conn: &mut Conn, account_id: i64, team_id: i64, channels: &[i64]) -> sqlx::Result<()> {
    sqlx::query("UPDATE channels SET team_id = NULL WHERE account_id = $1 AND team_id = $2")
        .bind(account_id)
        .bind(team_id)
        .execute(&mut *conn)
        .await?;
    for channel in channels {
        sqlx::query("UPDATE channels SET team_id = $1 WHERE account_id = $2 AND id = $3")
            .bind(team_id)
            .bind(account_id)
            .bind(channel)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

const PRESENCE: &str = "SELECT o.id, o.name, \
     CASE WHEN EXISTS (SELECT 1 FROM operator_sessions s WHERE s.operator_id = o.id AND s.expires_at > $1) \
     THEN o.availability ELSE 'offline' END AS availability, o.capacity, \
     (SELECT COUNT(*) FROM conversations c WHERE c.assignee_id = o.id AND c.status IN ('open', 'pending')) \
     AS open_conversations FROM operators o";

/// The account's operators with their availability (offline without a live session), capacity
/// and open conversations.
pub async fn list_presence<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    now: i64,
) -> sqlx::Result<Vec<OperatorPresence>> {
    sqlx::query_as(&format!("{PRESENCE} WHERE o.account_id = $2 ORDER BY o.id"))
        .bind(now)
        .bind(account_id)
        .fetch_all(db)
        .await
}

/// One operator's presence.
pub async fn find_presence<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    operator_id: i64,
    now: i64,
) -> sqlx::Result<Option<OperatorPresence>> {
    sqlx::query_as(&format!("{PRESENCE} WHERE o.account_id = $2 AND o.id = $3"))
        .bind(now)
        .bind(account_id)
        .bind(operator_id)
        .fetch_optional(db)
        .await
}

/// Sets an operator's availability and capacity (each when given); false when not the account's.
pub async fn set_presence(
    conn: &mut Conn,
    account_id: i64,
    operator_id: i64,
    availability: Option<&str>,
    capacity: Option<i64>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE operators SET availability = COALESCE($1, availability), capacity = COALESCE($2, capacity) \
         WHERE account_id = $3 AND id = $4",
    )
    .bind(availability)
    .bind(capacity)
    .bind(account_id)
    .bind(operator_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The teams an operator is a member of.
pub async fn operator_teams<'c>(db: impl AnyExecutor<'c>, operator_id: i64) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar("SELECT team_id FROM team_members WHERE operator_id = $1 ORDER BY team_id")
        .bind(operator_id)
        .fetch_all(db)
        .await
}

/// Makes an operator who signs in while offline online; true when it did.
pub async fn online_at_sign_in(conn: &mut Conn, operator_id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE operators SET availability = 'online' WHERE id = $1 AND availability = 'offline'")
        .bind(operator_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The team member to give the next conversation: online with a live session, below capacity,
/// the one assigned longest ago (round-robin).
pub async fn next_member(conn: &mut Conn, team_id: i64, now: i64) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "SELECT o.id FROM team_members tm JOIN operators o ON o.id = tm.operator_id \
         WHERE tm.team_id = $1 AND o.availability = 'online' \
         AND EXISTS (SELECT 1 FROM operator_sessions s WHERE s.operator_id = o.id AND s.expires_at > $2) \
         AND (SELECT COUNT(*) FROM conversations c WHERE c.assignee_id = o.id AND c.status IN ('open', 'pending')) \
         < o.capacity ORDER BY tm.last_assigned_at, o.id LIMIT 1",
    )
    .bind(team_id)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// Records that a member was just given a conversation (their turn moves to the back).
pub async fn mark_assigned(conn: &mut Conn, team_id: i64, operator_id: i64, at: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE team_members SET last_assigned_at = $1 WHERE team_id = $2 AND operator_id = $3")
        .bind(at)
        .bind(team_id)
        .bind(operator_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The oldest conversations of the team waiting for a person, at most `limit`.
pub async fn waiting_conversations(conn: &mut Conn, team_id: i64, limit: i64) -> sqlx::Result<Vec<(i64, i64)>> {
    sqlx::query_as(
        "SELECT account_id, id FROM conversations WHERE team_id = $1 AND waiting_since IS NOT NULL \
         AND assignee_id IS NULL AND status IN ('open', 'pending') ORDER BY waiting_since, id LIMIT $2",
    )
    .bind(team_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}
