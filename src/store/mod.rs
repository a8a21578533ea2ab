//! The only place SQL lives. One SQL dialect runs on both backends through sqlx's `Any` driver:
//! `$n` placeholders, integer timestamps (Unix ms), JSON as text, flags as 0/1 integers.
//! Write operations run in one transaction each, opened with [`Db::begin`].

pub mod accounts;
pub mod agents;
pub mod articles;
pub mod channels;
pub mod chats;
pub mod cluster;
pub mod contacts;
pub mod conversations;
pub mod credit;
pub mod escalations;
pub mod events;
pub mod feedback;
pub mod idempotency;
pub mod jobs;
pub mod mailboxes;
pub mod media;
pub mod messages;

pub mod quick_replies;
pub mod rcs_templates;
pub mod reports;
pub mod search;
pub mod sessions;
pub mod surveys;
pub mod teams;
pub mod templates;
pub mod visitors;
pub mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Connection, Executor, Transaction};

/// A write transaction on either backend.
pub type Tx = Transaction<'static, sqlx::Any>;

/// A connection on either backend, for store functions that run inside a caller's transaction.
pub type Conn = AnyConnection;

/// The database engine behind a [`Db`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite in WAL mode.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Connection pools to Parley's database.
#[derive(Clone, Debug)]
pub struct Db {
    backend: Backend,
    read: AnyPool,
    write: AnyPool,
}

/// SQLite settings applied to every connection.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;";

impl Db {
    /// Connects to `url`, whose scheme selects the backend (`sqlite:` or `postgres:`/`postgresql:`).
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            bail!("unsupported database URL scheme `{scheme}`: use sqlite://<path> or postgres://<user>@<host>/<db>");
        };
        let options = AnyConnectOptions::from_str(url)
            .context("invalid database URL")?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
        let (read, write) = match backend {
            Backend::Sqlite => {
                let pool = |max| {
                    AnyPoolOptions::new().max_connections(max).after_connect(|conn, _| {
                        Box::pin(async move { conn.execute(SQLITE_PRAGMAS).await.map(|_| ()) })
                    })
                };
                // SQLite allows one writer at a time: one pooled writer connection queues writes
                // in-process instead of contending for the file lock.
                let write = pool(1).connect_with(options.clone()).await.context("opening the SQLite database")?;
                let read = pool(8).connect_with(options).await.context("opening the SQLite database")?;
                (read, write)
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .context("connecting to PostgreSQL")?;
                (pool.clone(), pool)
            }
        };
        Ok(Db { backend, read, write })
    }

    /// Applies pending migrations of this backend.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("migrations/postgres"),
        };
        migrator.run(&self.write).await.context("running database migrations")?;
        Ok(())
    }

    /// Whether Parley's schema is there (its migrations have run at least once).
    pub async fn is_initialized(&self) -> anyhow::Result<bool> {
        let query = match self.backend {
            Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'accounts'",
            Backend::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'accounts' \
                 AND table_schema = current_schema()"
            }
        };
        let count: i64 = sqlx::query_scalar(query).fetch_one(&self.read).await.context("reading the schema")?;
        Ok(count > 0)
    }

    /// The engine in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Pool for reads outside a transaction.
    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// Pool for single-statement writes outside a transaction (the one writer on SQLite).
    pub fn writer(&self) -> &AnyPool {
        &self.write
    }

    /// Starts a write transaction (on SQLite it takes the write lock up front).
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.write.begin().await,
        }
    }

    /// Starts a write transaction whose statements give up waiting for another transaction's
    /// row lock after `lock_timeout_ms` (PostgreSQL: the error is a lock timeout, `55P03`, instead
    /// of a deadlock found after a second; SQLite's one writer never waits on rows).
    pub async fn begin_impatient(&self, lock_timeout_ms: u32) -> Result<Tx, sqlx::Error> {
        let mut tx = self.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query(&format!("SET LOCAL lock_timeout = {lock_timeout_ms}")).execute(&mut *tx).await?;
        }
        Ok(tx)
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        self.read.acquire().await?.ping().await
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// Builds `IN ($n, $n+1, …)` placeholders for `count` values starting at parameter `first`.
pub fn placeholders(first: usize, count: usize) -> String {
    let list: Vec<String> = (first..first + count).map(|i| format!("${i}")).collect();
    list.join(", ")
}

/// A case-insensitive `LIKE` pattern matching `text` anywhere, with `%`, `_` and `\\` taken
/// literally (use with `ESCAPE '\\'`).
pub fn contains_pattern(text: &str) -> String {
    let escaped = text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// Reads a 0/1 integer flag.
pub fn flag(value: i64) -> bool {
    value != 0
}
