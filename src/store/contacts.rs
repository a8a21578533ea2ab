//! Contacts and their identities on each channel.

use sqlx::{AnyExecutor, FromRow};

use super::search::{self, SearchText};
use super::{Backend, Conn, Db};

/// A stored contact.
#[derive(Debug, Clone, FromRow)]
pub struct ContactRow {
    pub id: i64,
    pub account_id: i64,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
    pub in_address_book: i64,
    pub attributes: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A contact's address on one channel.
#[derive(Debug, Clone, FromRow)]
pub struct IdentityRow {
    pub id: i64,
    pub contact_id: i64,
    pub channel_id: i64,
    pub external_id: String,
    pub created_at: i64,
}

/// Fields of a new or updated contact; `None` leaves a field unchanged on update.
#[derive(Debug, Default, Clone)]
pub struct ContactFields {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
    pub in_address_book: Option<bool>,
    pub attributes: Option<String>,
}

/// Column list of contacts, for joins elsewhere in the store.
pub const COLUMNS: &str =
    "id, account_id, name, phone, email, avatar_url, in_address_book, attributes, created_at, updated_at";

/// Inserts a contact.
pub async fn insert_contact(
    conn: &mut Conn,
    account_id: i64,
    fields: &ContactFields,
    now: i64,
) -> sqlx::Result<ContactRow> {
    sqlx::query_as(&format!(
        "INSERT INTO contacts (account_id, name, phone, email, avatar_url, in_address_book, attributes, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING {COLUMNS}"
    ))
    .bind(account_id)
    .bind(fields.name.as_deref())
    .bind(fields.phone.as_deref())
    .bind(fields.email.as_deref())
    .bind(fields.avatar_url.as_deref())
    .bind(i64::from(fields.in_address_book.unwrap_or(false)))
    .bind(fields.attributes.as_deref().unwrap_or("{}"))
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Finds a contact of the account.
pub async fn find_contact<'c>(db: impl AnyExecutor<'c>, account_id: i64, id: i64) -> sqlx::Result<Option<ContactRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM contacts WHERE account_id = $1 AND id = $2"))
        .bind(account_id)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Finds the account's oldest contact with this phone number.
pub async fn find_contact_by_phone<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    phone: &str,
) -> sqlx::Result<Option<ContactRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM contacts WHERE account_id = $1 AND phone = $2 ORDER BY id LIMIT 1"))
        .bind(account_id)
        .bind(phone)
        .fetch_optional(db)
        .await
}

/// Finds the account's oldest contact with this email address, in any case.
pub async fn find_contact_by_email<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    email: &str,
) -> sqlx::Result<Option<ContactRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM contacts WHERE account_id = $1 AND LOWER(email) = LOWER($2) ORDER BY id LIMIT 1"
    ))
    .bind(account_id)
    .bind(email)
    .fetch_optional(db)
    .await
}

/// Applies a partial update; `None` when the account has no such contact.
pub async fn update_contact(
    conn: &mut Conn,
    account_id: i64,
    id: i64,
    fields: &ContactFields,
    now: i64,
) -> sqlx::Result<Option<ContactRow>> {
    sqlx::query_as(&format!(
        "UPDATE contacts SET name = COALESCE($1, name), phone = COALESCE($2, phone), email = COALESCE($3, email), \
         avatar_url = COALESCE($4, avatar_url), in_address_book = COALESCE($5, in_address_book), \
         attributes = COALESCE($6, attributes), updated_at = $7 WHERE account_id = $8 AND id = $9 RETURNING {COLUMNS}"
    ))
    .bind(fields.name.as_deref())
    .bind(fields.phone.as_deref())
    .bind(fields.email.as_deref())
    .bind(fields.avatar_url.as_deref())
    .bind(fields.in_address_book.map(i64::from))
    .bind(fields.attributes.as_deref())
    .bind(now)
    .bind(account_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Deletes a contact that has no conversations; returns false when absent.
pub async fn delete_contact(conn: &mut Conn, account_id: i64, id: i64) -> sqlx::Result<bool> {
    for table in ["contact_identities", "visitor_sessions", "contact_tags"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE account_id = $1 AND contact_id = $2"))
            .bind(account_id)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    let done = sqlx::query("DELETE FROM contacts WHERE account_id = $1 AND id = $2")
        .bind(account_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves everything that refers to contact `from` to contact `to`: tags, channel identities, web
/// chat sessions, conversations (their update time becomes `now`) and the sender of the messages
/// it wrote.
pub async fn move_references(conn: &mut Conn, account_id: i64, from: i64, to: i64, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO contact_tags (account_id, contact_id, tag) SELECT account_id, $1, tag FROM contact_tags \
         WHERE account_id = $2 AND contact_id = $3 ON CONFLICT DO NOTHING",
    )
    .bind(to)
    .bind(account_id)
    .bind(from)
    .execute(&mut *conn)
    .await?;
    for table in ["contact_identities", "visitor_sessions"] {
        sqlx::query(&format!("UPDATE {table} SET contact_id = $1 WHERE account_id = $2 AND contact_id = $3"))
            .bind(to)
            .bind(account_id)
            .bind(from)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(
        "UPDATE messages SET sender_id = $1 WHERE sender_type = 'contact' AND sender_id = $2 AND conversation_id IN \
         (SELECT id FROM conversations WHERE account_id = $3 AND contact_id = $2)",
    )
    .bind(to)
    .bind(from)
    .bind(account_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE conversations SET contact_id = $1, updated_at = $2 WHERE account_id = $3 AND contact_id = $4")
        .bind(to)
        .bind(now)
        .bind(account_id)
        .bind(from)
        .execute(conn)
        .await?;
    Ok(())
}

/// Number of conversations a contact has.
pub async fn count_contact_conversations<'c>(db: impl AnyExecutor<'c>, account_id: i64, id: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM conversations WHERE account_id = $1 AND contact_id = $2")
        .bind(account_id)
        .bind(id)
        .fetch_one(db)
        .await
}

/// Contacts whose name, phone or email contains `query` (case and diacritics folded; the
/// trigram index serves [`search::MIN_SUBSTRING_CHARS`] characters or more, shorter text is
/// matched row by row), after `after_id`, in id order, at most `limit`.
pub async fn search_contacts(
    db: &Db,
    account_id: i64,
    query: Option<&str>,
    after_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<ContactRow>> {
    let substring = query.and_then(|text| SearchText::new(db.backend(), text).substring);
    let sql = match (db.backend(), &substring) {
        (_, None) => format!(
            "SELECT {COLUMNS} FROM contacts WHERE account_id = $1 AND id > $2 AND ($3 IS NULL OR \
             LOWER(COALESCE(name, '')) LIKE $3 ESCAPE '\\' OR COALESCE(phone, '') LIKE $3 ESCAPE '\\' \
             OR LOWER(COALESCE(email, '')) LIKE $3 ESCAPE '\\') ORDER BY id LIMIT $4"
        ),
        (Backend::Sqlite, Some(_)) => format!(
            "SELECT {} FROM contacts_fts JOIN contacts c ON c.id = contacts_fts.rowid \
             WHERE contacts_fts MATCH $3 AND contacts_fts.rowid > $2 AND c.account_id = $1 \
             ORDER BY contacts_fts.rowid LIMIT $4",
            prefixed_columns("c")
        ),
        (Backend::Postgres, Some(_)) => format!(
            "SELECT {COLUMNS} FROM contacts c WHERE account_id = $1 AND id > $2 AND {} ORDER BY id LIMIT $4",
            search::contact_contains("c", "$3")
        ),
    };
    let parameter = substring.or_else(|| query.map(super::contains_pattern));
    sqlx::query_as(&sql).bind(account_id).bind(after_id).bind(parameter).bind(limit).fetch_all(db.reader()).await
}

/// How a contact list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactOrder {
    /// Newest first.
    Created,
    /// Most recently changed first.
    Updated,
    /// By name, A to Z (contacts without one last).
    Name,
}

/// Which contacts a list shows and where its page starts.
#[derive(Debug, Clone)]
pub struct ContactFilter<'a> {
    /// Name, phone or email contains it.
    pub search: Option<&'a str>,
    /// Carries this tag.
    pub tag: Option<&'a str>,
    pub order: ContactOrder,
    pub limit: i64,
    pub offset: i64,
}

/// One page of the account's contacts, filtered and ordered; served by the account's indexes
/// on id, update time, name and tag.
pub async fn list_contacts(db: &Db, account_id: i64, filter: &ContactFilter<'_>) -> sqlx::Result<Vec<ContactRow>> {
    let substring = filter.search.and_then(|text| SearchText::new(db.backend(), text).substring);
    let mut conditions = vec!["c.account_id = $1".to_owned()];
    let search = match (db.backend(), &substring, filter.search) {
        (_, None, None) => None,
        (_, None, Some(text)) => {
            conditions.push(
                "(LOWER(COALESCE(c.name, '')) LIKE $2 ESCAPE '\\' OR COALESCE(c.phone, '') LIKE $2 ESCAPE '\\' \
                 OR LOWER(COALESCE(c.email, '')) LIKE $2 ESCAPE '\\')"
                    .to_owned(),
            );
            Some(super::contains_pattern(text))
        }
        (Backend::Sqlite, Some(words), _) => {
            conditions.push("c.id IN (SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH $2)".to_owned());
            Some(words.clone())
        }
        (Backend::Postgres, Some(words), _) => {
            conditions.push(search::contact_contains("c", "$2"));
            Some(words.clone())
        }
    };
    if search.is_none() {
        conditions.push("$2 IS NULL".to_owned());
    }
    if filter.tag.is_some() {
        conditions.push("c.id IN (SELECT contact_id FROM contact_tags WHERE account_id = $1 AND tag = $3)".to_owned());
    } else {
        conditions.push("$3 IS NULL".to_owned());
    }
    let order = match filter.order {
        ContactOrder::Created => "c.id DESC",
        ContactOrder::Updated => "c.updated_at DESC, c.id DESC",
        ContactOrder::Name => "c.name NULLS LAST, c.id",
    };
    let skip = if filter.offset > 0 { " OFFSET $5" } else { "" };
    let sql = format!(
        "SELECT {} FROM contacts c WHERE {} ORDER BY {order} LIMIT $4{skip}",
        prefixed_columns("c"),
        conditions.join(" AND ")
    );
    let mut query = sqlx::query_as(&sql).bind(account_id).bind(search).bind(filter.tag).bind(filter.limit);
    if filter.offset > 0 {
        query = query.bind(filter.offset);
    }
    query.fetch_all(db.reader()).await
}

/// The tags of each of `ids` (contacts of the account), sorted.
pub async fn tags_of<'c>(db: impl AnyExecutor<'c>, account_id: i64, ids: &[i64]) -> sqlx::Result<Vec<(i64, String)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT contact_id, tag FROM contact_tags WHERE account_id = $1 AND contact_id IN ({}) ORDER BY contact_id, tag",
        super::placeholders(2, ids.len())
    );
    let mut query = sqlx::query_as(&sql).bind(account_id);
    for id in ids {
        query = query.bind(*id);
    }
    query.fetch_all(db).await
}

/// Replaces a contact's tags.
pub async fn replace_tags(conn: &mut Conn, account_id: i64, id: i64, tags: &[String]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM contact_tags WHERE account_id = $1 AND contact_id = $2")
        .bind(account_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for tag in tags {
        sqlx::query("INSERT INTO contact_tags (account_id, contact_id, tag) VALUES ($1, $2, $3)")
            .bind(account_id)
            .bind(id)
            .bind(tag)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// For each of `ids` that has conversations: how many, and when the latest activity in them
/// was (Unix ms).
pub async fn conversation_summaries<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    ids: &[i64],
) -> sqlx::Result<Vec<(i64, i64, Option<i64>)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT contact_id, COUNT(*), MAX(COALESCE(last_message_at, created_at)) FROM conversations \
         WHERE account_id = $1 AND contact_id IN ({}) GROUP BY contact_id",
        super::placeholders(2, ids.len())
    );
    let mut query = sqlx::query_as(&sql).bind(account_id);
    for id in ids {
        query = query.bind(*id);
    }
    query.fetch_all(db).await
}

/// [`COLUMNS`] of the contact aliased `alias`.
fn prefixed_columns(alias: &str) -> String {
    COLUMNS.split(", ").map(|column| format!("{alias}.{column}")).collect::<Vec<_>>().join(", ")
}

/// Finds the identity for an address on a channel.
pub async fn find_identity<'c>(
    db: impl AnyExecutor<'c>,
    channel_id: i64,
    external_id: &str,
) -> sqlx::Result<Option<IdentityRow>> {
    sqlx::query_as(
        "SELECT id, contact_id, channel_id, external_id, created_at FROM contact_identities \
         WHERE channel_id = $1 AND external_id = $2",
    )
    .bind(channel_id)
    .bind(external_id)
    .fetch_optional(db)
    .await
}

/// A contact's addresses on a channel, oldest first.
pub async fn addresses_on<'c>(db: impl AnyExecutor<'c>, channel_id: i64, contact_id: i64) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT external_id FROM contact_identities WHERE channel_id = $1 AND contact_id = $2 ORDER BY id",
    )
    .bind(channel_id)
    .bind(contact_id)
    .fetch_all(db)
    .await
}

/// Links an address on a channel to a contact.
pub async fn insert_identity(
    conn: &mut Conn,
    account_id: i64,
    contact_id: i64,
    channel_id: i64,
    external_id: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO contact_identities (account_id, contact_id, channel_id, external_id, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(account_id)
    .bind(contact_id)
    .bind(channel_id)
    .bind(external_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks the address on a channel opted out since `since` (Unix ms), or opted back in (`None`).
pub async fn set_opted_out(
    conn: &mut Conn,
    channel_id: i64,
    external_id: &str,
    since: Option<i64>,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE contact_identities SET opted_out_at = $1 WHERE channel_id = $2 AND external_id = $3")
        .bind(since)
        .bind(channel_id)
        .bind(external_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Since when a contact has opted out of a channel (the earliest of their addresses there), if
/// they have.
pub async fn opted_out_since<'c>(
    db: impl AnyExecutor<'c>,
    contact_id: i64,
    channel_id: i64,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT MIN(opted_out_at) FROM contact_identities WHERE contact_id = $1 AND channel_id = $2")
        .bind(contact_id)
        .bind(channel_id)
        .fetch_one(db)
        .await
}

/// A contact's address on a channel, with the channel's kind.
#[derive(Debug, Clone, FromRow)]
pub struct ChannelIdentity {
    pub channel_id: i64,
    pub channel_kind: String,
    pub external_id: String,
    /// Since when the contact has opted out of the channel at this address (Unix ms).
    pub opted_out_at: Option<i64>,
}

/// A contact's identities with their channel kind.
pub async fn list_identities<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    contact_id: i64,
) -> sqlx::Result<Vec<ChannelIdentity>> {
    sqlx::query_as(
        "SELECT i.channel_id, c.kind AS channel_kind, i.external_id, i.opted_out_at \
         FROM contact_identities i JOIN channels c ON c.id = i.channel_id \
         WHERE i.account_id = $1 AND i.contact_id = $2 ORDER BY i.id",
    )
    .bind(account_id)
    .bind(contact_id)
    .fetch_all(db)
    .await
}

/// What duplicate detection compares of a contact: id, name, phone and email.
pub type ContactKeys = (i64, Option<String>, Option<String>, Option<String>);

/// The id, name, phone and email of every contact of the account that has one of them, in id
/// order (one query, a few dozen bytes per contact).
pub async fn list_contact_keys<'c>(db: impl AnyExecutor<'c>, account_id: i64) -> sqlx::Result<Vec<ContactKeys>> {
    sqlx::query_as(
        "SELECT id, name, phone, email FROM contacts WHERE account_id = $1 \
         AND (name IS NOT NULL OR phone IS NOT NULL OR email IS NOT NULL) ORDER BY id",
    )
    .bind(account_id)
    .fetch_all(db)
    .await
}

/// The account's contacts among `ids`, in id order.
pub async fn find_contacts<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    ids: &[i64],
) -> sqlx::Result<Vec<ContactRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM contacts WHERE account_id = $1 AND id IN ({}) ORDER BY id",
        super::placeholders(2, ids.len())
    );
    let mut query = sqlx::query_as(&sql).bind(account_id);
    for id in ids {
        query = query.bind(*id);
    }
    query.fetch_all(db).await
}
