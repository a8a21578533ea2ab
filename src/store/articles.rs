//! Knowledge-base articles of a virtual agent and the full-text index of their passages
//! (SQLite FTS5 ranked by `bm25()`; PostgreSQL `tsvector` ranked by `ts_rank_cd`).

use sqlx::{AnyExecutor, FromRow};

use super::{Backend, Conn, Db};

/// A stored article.
#[derive(Debug, Clone, FromRow)]
pub struct ArticleRow {
    pub id: i64,
    pub account_id: i64,
    pub agent_id: i64,
    pub title: String,
    pub body: String,
    pub language: Option<String>,
    pub tags: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The fields of an article an insert or update writes.
pub struct ArticleFields<'a> {
    pub title: &'a str,
    pub body: &'a str,
    pub language: Option<&'a str>,
    pub tags: &'a str,
}

/// A passage found by a search, best first.
#[derive(Debug, Clone, FromRow)]
pub struct PassageHit {
    pub article_id: i64,
    pub title: String,
    pub text: String,
    pub folded: String,
}

const COLUMNS: &str = "id, account_id, agent_id, title, body, language, tags, created_at, updated_at";

/// Inserts an article.
pub async fn insert_article(
    conn: &mut Conn,
    account_id: i64,
    agent_id: i64,
    fields: &ArticleFields<'_>,
    now: i64,
) -> sqlx::Result<ArticleRow> {
    sqlx::query_as(&format!(
        "INSERT INTO articles (account_id, agent_id, title, body, language, tags, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {COLUMNS}"
    ))
    .bind(account_id)
    .bind(agent_id)
    .bind(fields.title)
    .bind(fields.body)
    .bind(fields.language)
    .bind(fields.tags)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Rewrites an article of the agent; false when absent.
pub async fn update_article(
    conn: &mut Conn,
    agent_id: i64,
    id: i64,
    fields: &ArticleFields<'_>,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE articles SET title = $1, body = $2, language = $3, tags = $4, updated_at = $5 \
         WHERE agent_id = $6 AND id = $7",
    )
    .bind(fields.title)
    .bind(fields.body)
    .bind(fields.language)
    .bind(fields.tags)
    .bind(now)
    .bind(agent_id)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Finds an article of the agent.
pub async fn find_article<'c>(db: impl AnyExecutor<'c>, agent_id: i64, id: i64) -> sqlx::Result<Option<ArticleRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM articles WHERE agent_id = $1 AND id = $2"))
        .bind(agent_id)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The agent's articles after `after_id`, by id, at most `limit`.
pub async fn list_articles<'c>(
    db: impl AnyExecutor<'c>,
    agent_id: i64,
    after_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<ArticleRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM articles WHERE agent_id = $1 AND id > $2 ORDER BY id LIMIT $3"))
        .bind(agent_id)
        .bind(after_id)
        .bind(limit)
        .fetch_all(db)
        .await
}

/// Deletes an article of the agent with its passages; false when absent.
pub async fn delete_article(conn: &mut Conn, agent_id: i64, id: i64) -> sqlx::Result<bool> {
    delete_passages(conn, id).await?;
    let done = sqlx::query("DELETE FROM articles WHERE agent_id = $1 AND id = $2")
        .bind(agent_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes an article's indexed passages.
pub async fn delete_passages(conn: &mut Conn, article_id: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM article_passages WHERE article_id = $1").bind(article_id).execute(conn).await?;
    Ok(())
}

/// Indexes an article's passages: each with its text and its folded search text.
pub async fn insert_passages(
    conn: &mut Conn,
    agent_id: i64,
    article_id: i64,
    passages: &[(String, String)],
) -> sqlx::Result<()> {
    for (position, (text, folded)) in passages.iter().enumerate() {
        sqlx::query(
            "INSERT INTO article_passages (article_id, agent_id, position, text, folded) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(article_id)
        .bind(agent_id)
        .bind(position as i64)
        .bind(text)
        .bind(folded)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The agent's passages matching a full-text query, best first: `fts5` is the SQLite MATCH
/// expression and `tsquery` the PostgreSQL one for the same terms.
pub async fn search_passages(
    db: &Db,
    agent_id: i64,
    fts5: &str,
    tsquery: &str,
    limit: i64,
) -> sqlx::Result<Vec<PassageHit>> {
    let (sql, query) = match db.backend() {
        Backend::Sqlite => (
            "SELECT p.article_id, a.title, p.text, p.folded FROM article_passages_fts f \
             JOIN article_passages p ON p.id = f.rowid JOIN articles a ON a.id = p.article_id \
             WHERE article_passages_fts MATCH $1 AND p.agent_id = $2 ORDER BY bm25(article_passages_fts), p.id LIMIT $3",
            fts5,
        ),
        Backend::Postgres => (
            "SELECT p.article_id, a.title, p.text, p.folded FROM article_passages p \
             JOIN articles a ON a.id = p.article_id \
             WHERE to_tsvector('simple', p.folded) @@ to_tsquery('simple', $1) AND p.agent_id = $2 \
             ORDER BY ts_rank_cd(to_tsvector('simple', p.folded), to_tsquery('simple', $1), 1) DESC, p.id LIMIT $3",
            tsquery,
        ),
    };
    sqlx::query_as(sql).bind(query).bind(agent_id).bind(limit).fetch_all(db.reader()).await
}
