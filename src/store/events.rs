//! The durable event log: every change worth telling integrators about, in commit order per account.

use sqlx::FromRow;

use super::{Backend, Conn, Db};

/// A stored event.
#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub id: i64,
    pub account_id: i64,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub payload: String,
    pub created_at: i64,
}

/// Appends an event and returns its id.
pub async fn insert_event(conn: &mut Conn, account_id: i64, kind: &str, payload: &str, now: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO events (account_id, type, payload, created_at, dispatched) VALUES ($1, $2, $3, $4, 0) RETURNING id",
    )
    .bind(account_id)
    .bind(kind)
    .bind(payload)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Appends events of one account, in order, in one statement: each its type and payload.
pub async fn insert_events(conn: &mut Conn, account_id: i64, events: &[(&str, String)], now: i64) -> sqlx::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..events.len()).map(|i| format!("($1, ${}, ${}, $2, 0)", 3 + 2 * i, 4 + 2 * i)).collect();
    let sql =
        format!("INSERT INTO events (account_id, type, payload, created_at, dispatched) VALUES {}", rows.join(", "));
    let mut query = sqlx::query(&sql).bind(account_id).bind(now);
    for (kind, payload) in events {
        query = query.bind(*kind).bind(payload.as_str());
    }
    query.execute(conn).await?;
    Ok(())
}

/// A reader's place in an account's log: the last event it read. On PostgreSQL the log is read in
/// commit order (by the writing transaction's id, then the event's) and only up to the oldest
/// transaction still running, so an event that commits after a later one is never behind a reader
/// that resumes from that later one. SQLite has one writer: its ids are its commit order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The last event read (0 before the first).
    pub id: i64,
    /// Its transaction id (PostgreSQL), as text.
    xid: String,
}

/// A page of the log.
#[derive(Debug)]
pub struct Page {
    /// Events after the position, in commit order.
    pub events: Vec<EventRow>,
    /// Whether committed events wait behind a transaction still running (read again soon).
    pub held_back: bool,
}

#[derive(FromRow)]
struct LoggedEvent {
    #[sqlx(flatten)]
    event: EventRow,
    xid: String,
    stable: i64,
}

impl Position {
    /// Before the whole log.
    pub fn start() -> Position {
        Position { id: 0, xid: "0".to_owned() }
    }

    /// The position of the account's event `id` (a client's `Last-Event-ID`); for an id that is no
    /// event of the account, the place just after the account's events below it.
    pub async fn of_event(db: &Db, account_id: i64, id: i64) -> sqlx::Result<Position> {
        let xid: Option<String> = match db.backend() {
            Backend::Sqlite => None,
            Backend::Postgres => {
                sqlx::query_scalar(
                    "SELECT xid::text FROM events WHERE account_id = $1 AND id <= $2 ORDER BY id DESC LIMIT 1",
                )
                .bind(account_id)
                .bind(id)
                .fetch_optional(db.reader())
                .await?
            }
        };
        Ok(Position { id, xid: xid.unwrap_or_else(|| "0".to_owned()) })
    }

    /// The end of the account's log: after every event committed now, before every one to come.
    /// On PostgreSQL, while committed events wait behind a running transaction, it waits for them
    /// (a second at most, then it ends before them: they are sent again rather than skipped).
    pub async fn end(db: &Db, account_id: i64) -> sqlx::Result<Position> {
        if db.backend() == Backend::Sqlite {
            let newest: Option<i64> =
                sqlx::query_scalar("SELECT id FROM events WHERE account_id = $1 ORDER BY id DESC LIMIT 1")
                    .bind(account_id)
                    .fetch_optional(db.reader())
                    .await?;
            return Ok(Position { id: newest.unwrap_or(0), xid: "0".to_owned() });
        }
        let stable = |only_stable: bool| {
            let condition = if only_stable { "AND xid < pg_snapshot_xmin(pg_current_snapshot())" } else { "" };
            format!(
                "SELECT id, xid::text, CASE WHEN xid < pg_snapshot_xmin(pg_current_snapshot()) THEN 1 ELSE 0 END \
                 FROM events WHERE account_id = $1 {condition} ORDER BY events.xid DESC, events.id DESC LIMIT 1"
            )
        };
        for _ in 0..100 {
            let newest: Option<(i64, String, i64)> =
                sqlx::query_as(&stable(false)).bind(account_id).fetch_optional(db.reader()).await?;
            match newest {
                None => return Ok(Position::start()),
                Some((id, xid, 1)) => return Ok(Position { id, xid }),
                Some(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        }
        let newest: Option<(i64, String, i64)> =
            sqlx::query_as(&stable(true)).bind(account_id).fetch_optional(db.reader()).await?;
        Ok(newest.map_or_else(Position::start, |(id, xid, _)| Position { id, xid }))
    }

    /// Reads up to `limit` of the account's events after this position and moves past them.
    pub async fn read(&mut self, db: &Db, account_id: i64, limit: i64) -> sqlx::Result<Page> {
        const COLUMNS: &str = "id, account_id, type, payload, created_at";
        let rows: Vec<LoggedEvent> = match db.backend() {
            Backend::Sqlite => sqlx::query_as(&format!(
                "SELECT {COLUMNS}, '0' AS xid, 1 AS stable FROM events WHERE account_id = $1 AND id > $2 ORDER BY id LIMIT $3"
            ))
            .bind(account_id)
            .bind(self.id)
            .bind(limit)
            .fetch_all(db.reader())
            .await?,
            Backend::Postgres => sqlx::query_as(&format!(
                "SELECT {COLUMNS}, xid::text AS xid, \
                 CASE WHEN xid < pg_snapshot_xmin(pg_current_snapshot()) THEN 1 ELSE 0 END AS stable \
                 FROM events WHERE account_id = $1 AND (xid, id) > ($2::xid8, $3) ORDER BY events.xid, events.id LIMIT $4"
            ))
            .bind(account_id)
            .bind(&self.xid)
            .bind(self.id)
            .bind(limit)
            .fetch_all(db.reader())
            .await?,
        };
        let mut page = Page { events: Vec::with_capacity(rows.len()), held_back: false };
        for row in rows {
            if row.stable == 0 {
                page.held_back = true;
                break;
            }
            *self = Position { id: row.event.id, xid: row.xid };
            page.events.push(row.event);
        }
        Ok(page)
    }
}
