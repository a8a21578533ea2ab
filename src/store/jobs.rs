//! Durable background jobs: rows claimed with a lease, so a crash leaves them to be retried.

use sqlx::{AnyExecutor, FromRow};

use super::{Backend, Conn, Db};

/// Advisory lock that makes claims on PostgreSQL take turns.
const CLAIM_LOCK: i64 = 0x5041_524c_4559_0003;

/// A claimed job.
#[derive(Debug, Clone, FromRow)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub attempts: i64,
}

/// Queues a job to run at `run_at`.
pub async fn insert_job(conn: &mut Conn, kind: &str, payload: &str, run_at: i64, now: i64) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO jobs (kind, payload, run_at, attempts, created_at) VALUES ($1, $2, $3, 0, $4)")
        .bind(kind)
        .bind(payload)
        .bind(run_at)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Claims up to `limit` due jobs for `lease_ms`: a claimed job is invisible to other workers until
/// it is finished or its lease runs out. A message's jobs are claimed in order: none while an
/// earlier one of the same message waits or runs elsewhere (on PostgreSQL, where several nodes
/// claim, their claims take turns so two cannot split one message's jobs).
pub async fn claim_due_jobs(db: &Db, now: i64, lease_ms: i64, limit: i64) -> sqlx::Result<Vec<JobRow>> {
    let mut tx = db.begin().await?;
    let sql = match db.backend() {
        Backend::Postgres => {
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(CLAIM_LOCK).execute(&mut *tx).await?;
            "SELECT id FROM jobs WHERE run_at <= $1 AND (locked_until IS NULL OR locked_until < $1) \
             AND NOT EXISTS (SELECT 1 FROM jobs earlier WHERE earlier.message_id = jobs.message_id \
             AND earlier.id < jobs.id AND (earlier.run_at > $1 OR earlier.locked_until >= $1)) \
             ORDER BY run_at, id LIMIT $2"
        }
        Backend::Sqlite => {
            "SELECT id FROM jobs WHERE run_at <= $1 AND (locked_until IS NULL OR locked_until < $1) \
             ORDER BY run_at, id LIMIT $2"
        }
    };
    let ids: Vec<i64> = sqlx::query_scalar(sql).bind(now).bind(limit).fetch_all(&mut *tx).await?;
    if ids.is_empty() {
        tx.commit().await?;
        return Ok(Vec::new());
    }
    let sql = format!(
        "UPDATE jobs SET locked_until = $1, attempts = attempts + 1 WHERE id IN ({}) RETURNING id, kind, payload, attempts",
        super::placeholders(2, ids.len())
    );
    let mut query = sqlx::query_as(&sql).bind(now + lease_ms);
    for id in &ids {
        query = query.bind(*id);
    }
    let mut jobs: Vec<JobRow> = query.fetch_all(&mut *tx).await?;
    tx.commit().await?;
    jobs.sort_by_key(|job| job.id);
    Ok(jobs)
}

/// Removes a finished job.
pub async fn delete_job(conn: &mut Conn, id: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM jobs WHERE id = $1").bind(id).execute(conn).await?;
    Ok(())
}

/// Deletes the jobs of a kind with exactly this payload (a message's send job).
pub async fn delete_job_by_payload(conn: &mut Conn, kind: &str, payload: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM jobs WHERE kind = $1 AND payload = $2").bind(kind).bind(payload).execute(conn).await?;
    Ok(())
}

/// Removes a finished job on its own (outside any other change).
pub async fn finish_job(db: &Db, id: i64) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    delete_job(&mut tx, id).await?;
    tx.commit().await
}

/// Releases a job to run again at `run_at`, recording why it failed.
pub async fn retry_job<'c>(db: impl AnyExecutor<'c>, id: i64, run_at: i64, error: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE jobs SET run_at = $1, locked_until = NULL, last_error = $2 WHERE id = $3")
        .bind(run_at)
        .bind(error)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Releases a job to run again at `run_at` without counting the claim as an attempt (it was held
/// back, not tried).
pub async fn defer_job<'c>(db: impl AnyExecutor<'c>, id: i64, run_at: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE jobs SET run_at = $1, locked_until = NULL, attempts = attempts - 1 WHERE id = $2")
        .bind(run_at)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Number of jobs waiting per kind.
pub async fn count_jobs_by_kind<'c>(db: impl AnyExecutor<'c>) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as("SELECT kind, COUNT(*) FROM jobs GROUP BY kind").fetch_all(db).await
}
