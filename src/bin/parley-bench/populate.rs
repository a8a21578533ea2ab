//! `parley-bench populate`: writes a realistic installation straight into an empty database of
//! either backend, through Parley's own migrations (so its search indexes and triggers are kept as
//! the rows go in): one account and its API key, operators, channels of several networks, contacts
//! reachable on more than one of them, conversations with power-law thread lengths, and messages
//! in Italian, English and Portuguese, in the order they were written.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use clap::Args;
use parley::service::auth;
use parley::store::{Backend, Db};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;

use crate::corpus::{self, TAGS};
use crate::progress;

/// Options of `parley-bench populate`.
#[derive(Debug, Args)]
pub struct PopulateArgs {
    /// The empty database to fill: `sqlite:///path/parley.db` (created) or `postgres://…`.
    #[arg(long, env = "PARLEY_BENCH_DATABASE_URL")]
    database_url: String,
    /// Conversations to write.
    #[arg(long, default_value_t = 1_000_000)]
    conversations: usize,
    /// Messages to write, spread over the conversations.
    #[arg(long, default_value_t = 10_000_000)]
    messages: usize,
    /// Channels, of as many networks in turn (WhatsApp, SMS, RCS, Messenger, Instagram, email, web chat).
    #[arg(long, default_value_t = 5)]
    channels: usize,
    /// Operators conversations are assigned to.
    #[arg(long, default_value_t = 20)]
    operators: usize,
    /// The admin API key to install; one is made up (and printed) when omitted.
    #[arg(long, env = "PARLEY_BENCH_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Seed of the generator: the same seed writes the same installation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Channel networks in the order channels take them, with how a contact's address looks there.
const NETWORKS: [(&str, Address); 7] = [
    ("whatsapp", Address::Phone),
    ("sms", Address::Phone),
    ("rcs", Address::Phone),
    ("messenger", Address::Id),
    ("instagram", Address::Id),
    ("email", Address::Email),
    ("webchat", Address::Id),
];

#[derive(Debug, Clone, Copy)]
enum Address {
    Phone,
    Email,
    Id,
}

/// Rows per multi-row `INSERT` (well under either backend's bound-parameter limit).
const ROWS_PER_INSERT: usize = 400;
/// Rows per transaction.
const ROWS_PER_TRANSACTION: usize = 50_000;
/// The longest thread, in messages.
const MAX_THREAD: usize = 5_000;
/// A year of history, in milliseconds.
const HISTORY_MS: i64 = 365 * 24 * 3600 * 1000;

/// A conversation as generated.
struct Conversation {
    contact: usize,
    channel: usize,
    messages: usize,
    started_at: i64,
}

/// Fills the database and prints what it wrote and how long it took.
pub async fn populate(args: PopulateArgs) -> Result<()> {
    ensure!(args.conversations > 0 && args.channels > 0 && args.operators > 0, "nothing to populate");
    ensure!(
        (args.conversations..=args.conversations * MAX_THREAD).contains(&args.messages),
        "--messages must be between --conversations (one each) and {MAX_THREAD} times as many"
    );
    let started = Instant::now();
    let url = match args.database_url.strip_prefix("sqlite://") {
        Some(path) if !path.contains('?') => format!("sqlite://{path}?mode=rwc"),
        _ => args.database_url.clone(),
    };
    let db = Db::connect(&url).await?;
    db.migrate().await?;
    ensure!(
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM accounts").fetch_one(db.reader()).await? == 0,
        "{} already holds an installation: populate an empty database",
        args.database_url
    );
    if db.backend() == Backend::Sqlite {
        // A generator: nothing to lose if the machine stops halfway.
        sqlx::query("PRAGMA synchronous = OFF").execute(db.writer()).await?;
        sqlx::query("PRAGMA cache_size = -1000000").execute(db.writer()).await?;
    }
    let api_key = args.api_key.clone().unwrap_or_else(|| format!("bench-{}", crate::random_token(26)));
    let (account, _) = auth::create_account(&db, "Populated", Some(&api_key))
        .await
        .map_err(|e| anyhow::anyhow!("creating the account: {e}"))?;
    let mut rng = StdRng::seed_from_u64(args.seed);
    let now = parley::domain::time::now_ms();

    let operators = insert_operators(&db, account, args.operators, now).await?;
    let channels = insert_channels(&db, account, args.channels, now).await?;
    let contacts = (args.conversations * 3 / 4).max(1);
    progress(format!("{contacts} contacts"));
    insert_contacts(&db, account, contacts, now, &mut rng).await?;
    let conversations = plan_conversations(&args, contacts, now, &mut rng);
    insert_identities(&db, account, &conversations, &channels, now).await?;
    let timeline = plan_messages(&conversations, now, &mut rng);
    let seed = rng.gen();
    let last = summarize(conversations.len(), messages(&timeline, seed));
    insert_conversations(&db, account, &conversations, &channels, &operators, &last, &mut rng).await?;
    drop(last);
    insert_messages(&db, account, &conversations, &channels, messages(&timeline, seed), timeline.len()).await?;
    progress("building the reports".to_owned());
    parley::service::reports::fold_history(&db).await?;
    progress("updating the planner's statistics".to_owned());
    sqlx::query("ANALYZE").execute(db.writer()).await?;
    let mut report = String::new();
    writeln!(
        report,
        "parley-bench populate: {} conversations, {} messages, {contacts} contacts, {} channels, {} operators in {:.0} s ({})",
        args.conversations,
        args.messages,
        args.channels,
        args.operators,
        started.elapsed().as_secs_f64(),
        args.database_url.split(':').next().unwrap_or_default()
    )?;
    writeln!(report, "{}", sizes(&db).await?)?;
    writeln!(report, "api key: {api_key}")?;
    print!("{report}");
    db.close().await;
    Ok(())
}

async fn insert_operators(db: &Db, account: i64, count: usize, now: i64) -> Result<Vec<i64>> {
    let mut tx = db.begin().await?;
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let (first, last) = corpus::person(i);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO operators (account_id, name, email, password_hash, role, created_at) \
             VALUES ($1, $2, $3, '!', 'agent', $4) RETURNING id",
        )
        .bind(account)
        .bind(format!("{first} {last}"))
        .bind(format!("operator{i}@populated.example"))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        ids.push(id);
    }
    tx.commit().await?;
    Ok(ids)
}

async fn insert_channels(db: &Db, account: i64, count: usize, now: i64) -> Result<Vec<(i64, Address)>> {
    let mut tx = db.begin().await?;
    let mut channels = Vec::with_capacity(count);
    for i in 0..count {
        let (kind, address) = NETWORKS[i % NETWORKS.len()];
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO channels (account_id, kind, address, name, simulation, settings, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 1, '{}', $5, $5) RETURNING id",
        )
        .bind(account)
        .bind(kind)
        .bind(format!("+3902{:07}", i + 1))
        .bind(format!("{kind} {}", i + 1))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        channels.push((id, address));
    }
    tx.commit().await?;
    Ok(channels)
}

/// Contact `i`'s phone number.
fn phone(i: usize) -> String {
    format!("+393{:09}", 100_000_000 + i)
}

/// Contact `i`'s email address, which 3 contacts in 10 have.
fn email(i: usize) -> Option<String> {
    let (first, last) = corpus::person(i);
    (i % 10 < 3).then(|| format!("{}.{}{}@example.com", corpus::ascii(first), corpus::ascii(last), i).to_lowercase())
}

async fn insert_contacts(db: &Db, account: i64, count: usize, now: i64, rng: &mut StdRng) -> Result<()> {
    let rows = (0..count).map(|i| {
        let (first, last) = corpus::person(i);
        let created = now - rng.gen_range(0..HISTORY_MS);
        (i as i64 + 1, format!("{first} {last}"), phone(i), email(i), created)
    });
    insert_rows(
        db,
        "contacts",
        "(id, account_id, name, phone, email, in_address_book, attributes, created_at, updated_at)",
        rows,
        count,
        |placeholders, (id, name, phone, email, created)| {
            let p = placeholders.next_n(5);
            (
                format!("({}, {account}, {}, {}, {}, 0, '{{}}', {}, {})", p[0], p[1], p[2], p[3], p[4], p[4]),
                binder(move |q| q.bind(id).bind(name).bind(phone).bind(email).bind(created)),
            )
        },
    )
    .await
}

/// Picks each conversation's contact, channel, length and start: contacts are spread over the
/// channels so that one in five has conversations on two networks; thread lengths follow a
/// power law (Pareto, α 1.5: most threads short, a few of thousands of messages, at most
/// [`MAX_THREAD`]), scaled to add up to the messages asked for.
fn plan_conversations(args: &PopulateArgs, contacts: usize, now: i64, rng: &mut StdRng) -> Vec<Conversation> {
    let mut lengths: Vec<f64> = (0..args.conversations)
        .map(|_| {
            let u: f64 = rng.gen_range(f64::EPSILON..1.0);
            (1.0 / u.powf(1.0 / 1.5)).min(20_000.0)
        })
        .collect();
    let scale = (args.messages - args.conversations) as f64 / lengths.iter().map(|l| l - 1.0).sum::<f64>().max(1.0);
    let mut assigned = 0;
    let mut conversations = Vec::with_capacity(args.conversations);
    for (i, length) in lengths.iter_mut().enumerate() {
        let messages = (1 + ((*length - 1.0) * scale) as usize).min(MAX_THREAD);
        assigned += messages;
        conversations.push(Conversation {
            contact: i % contacts,
            channel: (i / contacts + i % contacts) % args.channels,
            messages,
            started_at: now - rng.gen_range(0..HISTORY_MS),
        });
    }
    // Rounding and the longest threads left some messages over: the others share them.
    let count = conversations.len();
    let mut extra = args.messages.saturating_sub(assigned);
    let mut index = 0;
    while extra > 0 {
        if conversations[index % count].messages < MAX_THREAD {
            conversations[index % count].messages += 1;
            extra -= 1;
        }
        index += 1;
    }
    conversations
}

async fn insert_identities(
    db: &Db,
    account: i64,
    conversations: &[Conversation],
    channels: &[(i64, Address)],
    now: i64,
) -> Result<()> {
    let rows = conversations.iter().map(|c| {
        let (channel_id, address) = channels[c.channel];
        let external = match address {
            Address::Phone => phone(c.contact),
            Address::Email => email(c.contact).unwrap_or_else(|| format!("contact{}@example.com", c.contact)),
            Address::Id => format!("{}{:010}", channel_id, c.contact),
        };
        (c.contact as i64 + 1, channel_id, external)
    });
    insert_rows(
        db,
        "contact_identities",
        "(account_id, contact_id, channel_id, external_id, created_at)",
        rows,
        conversations.len(),
        |placeholders, (contact, channel, external)| {
            let p = placeholders.next_n(3);
            (
                format!("({account}, {}, {}, {}, {now})", p[0], p[1], p[2]),
                binder(move |q| q.bind(contact).bind(channel).bind(external)),
            )
        },
    )
    .await
}

/// What the conversations table needs to know of each thread's messages.
#[derive(Clone, Default)]
struct Last {
    at: i64,
    inbound_at: Option<i64>,
    preview: String,
    /// Inbound messages since the last outbound one.
    unanswered: i64,
}

/// When each message was written, in that order: (time, conversation index); a thread's
/// messages are spread at random between its start and now, seconds to hours apart.
fn plan_messages(conversations: &[Conversation], now: i64, rng: &mut StdRng) -> Vec<(i64, u32)> {
    let mut timeline: Vec<(i64, u32)> = Vec::with_capacity(conversations.iter().map(|c| c.messages).sum());
    for (index, conversation) in conversations.iter().enumerate() {
        let mean_gap = ((now - conversation.started_at) / conversation.messages as i64).clamp(1_000, 6 * 3_600_000);
        let mut at = conversation.started_at;
        for _ in 0..conversation.messages {
            timeline.push((at.min(now), index as u32));
            at += rng.gen_range(1_000..=2 * mean_gap);
        }
    }
    timeline.sort_unstable();
    timeline
}

/// The messages of the timeline, the same for the same seed: (time, conversation index,
/// inbound, text).
fn messages(timeline: &[(i64, u32)], seed: u64) -> impl Iterator<Item = (i64, usize, bool, String)> + '_ {
    let mut generator = StdRng::seed_from_u64(seed);
    timeline.iter().map(move |&(at, index)| {
        let inbound = generator.gen_bool(0.6);
        (at, index as usize, inbound, corpus::sentence(&mut generator))
    })
}

/// What each conversation's row takes from its messages.
fn summarize(conversations: usize, messages: impl Iterator<Item = (i64, usize, bool, String)>) -> Vec<Last> {
    let mut last = vec![Last::default(); conversations];
    for (at, index, inbound, text) in messages {
        let state = &mut last[index];
        state.at = at;
        state.preview = text.chars().take(120).collect();
        if inbound {
            state.inbound_at = Some(at);
            state.unanswered += 1;
        } else {
            state.unanswered = 0;
        }
    }
    last
}

/// Writes the messages in the order they were written (ids grow with time, as in a live
/// installation).
async fn insert_messages(
    db: &Db,
    account: i64,
    conversations: &[Conversation],
    channels: &[(i64, Address)],
    messages: impl Iterator<Item = (i64, usize, bool, String)>,
    total: usize,
) -> Result<()> {
    let rows = messages.enumerate().map(|(position, (at, index, inbound, text))| {
        let conversation = &conversations[index];
        let id = position as i64 + 1;
        let (direction, sender, sender_id, status, sent_at) = if inbound {
            ("inbound", "contact", Some(conversation.contact as i64 + 1), None, None)
        } else {
            ("outbound", "operator", None, Some("read"), Some(at))
        };
        let channel = channels[conversation.channel].0;
        ((id, index as i64 + 1, channel, direction, sender, sender_id), (text, status, at, sent_at))
    });
    insert_rows(
        db,
        "messages",
        "(id, account_id, conversation_id, channel_id, direction, sender_type, sender_id, type, text, media_keys, \
         payload, provider_message_id, status, is_read, simulated, private, created_at, updated_at, sent_at)",
        rows,
        total,
        |placeholders, ((id, conversation, channel, direction, sender, sender_id), (text, status, at, sent_at))| {
            let p = placeholders.next_n(10);
            (
                format!(
                    "({}, {account}, {}, {}, {}, {}, {}, 'text', {}, '[]', '{{}}', \
                     'wamid.' || CAST({} AS TEXT), {}, 1, 0, 0, {}, {}, {})",
                    p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[0], p[7], p[8], p[8], p[9]
                ),
                binder(move |q| {
                    q.bind(id)
                        .bind(conversation)
                        .bind(channel)
                        .bind(direction)
                        .bind(sender)
                        .bind(sender_id)
                        .bind(text)
                        .bind(status)
                        .bind(at)
                        .bind(sent_at)
                }),
            )
        },
    )
    .await
}

async fn insert_conversations(
    db: &Db,
    account: i64,
    conversations: &[Conversation],
    channels: &[(i64, Address)],
    operators: &[i64],
    last: &[Last],
    rng: &mut StdRng,
) -> Result<()> {
    let mut tags: Vec<(i64, &'static str, i64)> = Vec::new();
    let mut meta: Vec<(i64, &'static str, String, i64)> = Vec::new();
    let rows: Vec<_> = conversations
        .iter()
        .zip(last)
        .enumerate()
        .map(|(index, (conversation, last))| {
            let id = index as i64 + 1;
            let status = match rng.gen_range(0..100) {
                0..=59 => "open",
                60..=84 => "resolved",
                85..=94 => "pending",
                _ => "closed",
            };
            let archived = i64::from(rng.gen_range(0..100) < 5);
            // One conversation in ten waits with unread messages.
            let unread = if rng.gen_range(0..10) == 0 { last.unanswered.max(1) } else { 0 };
            let assignee = (rng.gen_range(0..10) < 6).then(|| operators[rng.gen_range(0..operators.len())]);
            let mut own_tags = Vec::new();
            if rng.gen_range(0..10) < 3 {
                for _ in 0..rng.gen_range(1..=2) {
                    let tag = TAGS[corpus::zipf_index(rng, TAGS.len())];
                    if !own_tags.contains(&tag) {
                        own_tags.push(tag);
                        tags.push((id, tag, last.at));
                    }
                }
            }
            let mut own_meta = serde_json::Map::new();
            if rng.gen_bool(0.5) {
                let plan = ["gold", "silver", "bronze"][corpus::zipf_index(rng, 3)];
                let order = format!("ORD-{}", 100_000 + index);
                own_meta.insert("plan".to_owned(), plan.into());
                own_meta.insert("order".to_owned(), order.clone().into());
                meta.push((id, "plan", plan.to_owned(), last.at));
                meta.push((id, "order", order, last.at));
            }
            let window = last.inbound_at.map(|at| at + 24 * 3600 * 1000);
            (
                (id, channels[conversation.channel].0, conversation.contact as i64 + 1, status, archived),
                (assignee, serde_json::Value::Object(own_meta).to_string(), serde_json::json!(own_tags).to_string()),
                (unread, last.preview.clone(), last.at, last.inbound_at, window, conversation.started_at),
            )
        })
        .collect();
    let count = rows.len();
    insert_rows(
        db,
        "conversations",
        "(id, account_id, channel_id, contact_id, status, archived, assignee_id, meta, tags, unread_count, \
         last_message_preview, last_message_at, last_inbound_at, window_expires_at, created_at, updated_at, closed_at, handler)",
        rows.into_iter(),
        count,
        |placeholders, ((id, channel, contact, status, archived), (assignee, meta, tags), last)| {
            let p = placeholders.next_n(16);
            let (unread, preview, at, inbound_at, window, created) = last;
            let closed = (status == "closed").then_some(at);
            (
                format!(
                    "({}, {account}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 'human')",
                    p[0], p[1], p[2], p[13], p[14], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12], p[15]
                ),
                binder(move |q| {
                    q.bind(id)
                        .bind(channel)
                        .bind(contact)
                        .bind(assignee)
                        .bind(meta)
                        .bind(tags)
                        .bind(unread)
                        .bind(preview)
                        .bind(at)
                        .bind(inbound_at)
                        .bind(window)
                        .bind(created)
                        .bind(at)
                        .bind(status)
                        .bind(archived)
                        .bind(closed)
                }),
            )
        },
    )
    .await?;
    let tag_count = tags.len();
    insert_rows(
        db,
        "conversation_tags",
        "(conversation_id, account_id, tag, last_message_at)",
        tags.into_iter(),
        tag_count,
        |placeholders, (id, tag, at)| {
            let p = placeholders.next_n(3);
            (format!("({}, {account}, {}, {})", p[0], p[1], p[2]), binder(move |q| q.bind(id).bind(tag).bind(at)))
        },
    )
    .await?;
    let meta_count = meta.len();
    insert_rows(
        db,
        "conversation_meta",
        "(conversation_id, account_id, key, value, last_message_at)",
        meta.into_iter(),
        meta_count,
        |placeholders, (id, key, value, at)| {
            let p = placeholders.next_n(4);
            (
                format!("({}, {account}, {}, {}, {})", p[0], p[1], p[2], p[3]),
                binder(move |q| q.bind(id).bind(key).bind(value).bind(at)),
            )
        },
    )
    .await
}

/// Numbers the placeholders of one multi-row `INSERT`.
struct Placeholders(usize);

impl Placeholders {
    fn next_n(&mut self, count: usize) -> Vec<String> {
        let list = (self.0 + 1..=self.0 + count).map(|n| format!("${n}")).collect();
        self.0 += count;
        list
    }
}

/// Boxes a row's binding function.
fn binder(
    bind: impl for<'q> FnOnce(Query<'q, Any, AnyArguments<'q>>) -> Query<'q, Any, AnyArguments<'q>> + 'static,
) -> Binder {
    Box::new(bind)
}

/// Binds one row's values to the query.
type Binder = Box<dyn for<'q> FnOnce(Query<'q, Any, AnyArguments<'q>>) -> Query<'q, Any, AnyArguments<'q>>>;

/// Inserts `rows` into `table` in multi-row statements and large transactions; `row` gives each
/// row's `VALUES` tuple (numbering its placeholders) and the function binding its values.
async fn insert_rows<T>(
    db: &Db,
    table: &str,
    columns: &str,
    rows: impl Iterator<Item = T>,
    total: usize,
    mut row: impl FnMut(&mut Placeholders, T) -> (String, Binder),
) -> Result<()> {
    let started = Instant::now();
    // Rows that bring their own ids (ids that grow with time) on PostgreSQL's identity columns.
    let own_ids = columns.starts_with("(id,");
    let overriding = if own_ids && db.backend() == Backend::Postgres { " OVERRIDING SYSTEM VALUE" } else { "" };
    let mut rows = rows.peekable();
    let mut written = 0;
    while rows.peek().is_some() {
        let mut tx = db.begin().await?;
        let mut in_transaction = 0;
        while in_transaction < ROWS_PER_TRANSACTION && rows.peek().is_some() {
            let mut placeholders = Placeholders(0);
            let mut tuples = Vec::with_capacity(ROWS_PER_INSERT);
            let mut binders = Vec::with_capacity(ROWS_PER_INSERT);
            for item in rows.by_ref().take(ROWS_PER_INSERT) {
                let (tuple, binder) = row(&mut placeholders, item);
                tuples.push(tuple);
                binders.push(binder);
            }
            in_transaction += tuples.len();
            let sql = format!("INSERT INTO {table} {columns}{overriding} VALUES {}", tuples.join(", "));
            let query = binders.into_iter().fold(sqlx::query(&sql), |query, bind| bind(query));
            query.execute(&mut *tx).await.with_context(|| format!("inserting into {table}"))?;
        }
        tx.commit().await?;
        written += in_transaction;
        if written % 1_000_000 < ROWS_PER_TRANSACTION || written == total {
            progress(format!(
                "{table}: {written} of {total} ({:.0} rows/s)",
                written as f64 / started.elapsed().as_secs_f64().max(1e-9)
            ));
        }
    }
    if !overriding.is_empty() {
        // The next row the server writes takes the next id.
        sqlx::query(&format!("SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"))
            .execute(db.writer())
            .await?;
    }
    Ok(())
}

/// The database's size and its largest tables and indexes.
async fn sizes(db: &Db) -> Result<String> {
    let mb = |bytes: i64| format!("{:.0} MB", bytes as f64 / 1_048_576.0);
    Ok(match db.backend() {
        Backend::Sqlite => {
            let pages: i64 =
                sqlx::query_scalar("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
                    .fetch_one(db.reader())
                    .await?;
            format!("database {}", mb(pages))
        }
        Backend::Postgres => {
            let (total, indexes): (i64, i64) = sqlx::query_as(
                "SELECT pg_database_size(current_database()), \
                 (SELECT COALESCE(SUM(pg_relation_size(indexrelid)), 0)::BIGINT FROM pg_index)",
            )
            .fetch_one(db.reader())
            .await?;
            format!("database {}, of which indexes {}", mb(total), mb(indexes))
        }
    })
}
