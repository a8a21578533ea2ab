//! Reading email channels' IMAP folders: one watcher per live channel with an IMAP server, which
//! reads every mail after the stored cursor (UIDVALIDITY and the last UID), waits with IDLE (or
//! polls every `PARLEY_IMAP_POLL_SECONDS` where the server offers none), and reconnects with
//! backoff. The cursor moves past each mail once it is stored, so nothing is fetched twice or
//! missed across restarts or days offline; a mail that cannot be read is recorded once and
//! skipped.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::channels::email::imap::{self, Mailbox};
use crate::channels::email::{Server, Settings};
use crate::domain::time::now_ms;
use crate::domain::{ChannelKind, MediaOrigin};
use crate::error::Result;
use crate::service::email::{self, Received};
use crate::service::media::{self as media_service, NewMedia};
use crate::state::AppState;
use crate::store::channels::{self, ChannelRow};
use crate::store::mailboxes::{self, MailFailureRow};

/// How far back the first read of a folder goes.
const FIRST_READ_DAYS: i64 = 3;

/// How long one IDLE waits before the folder is read again anyway (servers drop IDLE after 30
/// minutes).
const IDLE_WAIT: Duration = Duration::from_secs(25 * 60);

/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// How often the watchers are matched to the live email channels (and to this node's leadership:
/// in a cluster only the leader watches).
const SUPERVISE_EVERY: Duration = Duration::from_secs(5);

/// What one read of a folder took in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Synced {
    /// Mails stored (or found already stored).
    pub received: usize,
    /// Mails that could not be read, recorded as failed imports.
    pub failed: usize,
}

/// Connects to the channel's IMAP server, reads its folder once and logs out; the outcome is
/// recorded on the channel (last sync, or the error).
pub async fn sync_once(state: &AppState, channel: &ChannelRow) -> Result<std::result::Result<Synced, String>> {
    let settings = Settings::of(channel);
    let Some(server) = settings.imap.clone() else {
        return Ok(Err("the channel has no IMAP server".to_owned()));
    };
    let outcome = match imap::connect(&server).await {
        Ok(mut mailbox) => {
            let outcome = read_folder(state, channel, &settings, &mut mailbox).await?;
            imap::logout(mailbox).await;
            outcome
        }
        Err(e) => Err(e),
    };
    record_health(state, channel.id, outcome.as_ref().err()).await?;
    Ok(outcome)
}

/// Reads every mail after the cursor, oldest first, each stored before the cursor moves past it.
async fn read_folder(
    state: &AppState,
    channel: &ChannelRow,
    settings: &Settings,
    mailbox: &mut Mailbox,
) -> Result<std::result::Result<Synced, String>> {
    let folder = match imap::select(mailbox, &settings.folder).await {
        Ok(folder) => folder,
        Err(e) => return Ok(Err(e)),
    };
    let cursor = mailboxes::find(state.db.reader(), channel.id).await?;
    let uid_validity = i64::from(folder.uid_validity);
    let known = cursor.filter(|cursor| cursor.uid_validity == uid_validity && cursor.folder == settings.folder);
    let uids = match &known {
        Some(cursor) => imap::uids_after(mailbox, u32::try_from(cursor.last_uid).unwrap_or(u32::MAX)).await,
        // A new folder (or one whose UIDs were renumbered): the last days' mail, repeats of mail
        // already stored being recognised by their Message-ID.
        None => imap::uids_since(mailbox, now_ms() - FIRST_READ_DAYS * 86_400_000).await,
    };
    let uids = match uids {
        Ok(uids) => uids,
        Err(e) => return Ok(Err(e)),
    };
    let mut synced = Synced::default();
    for batch in uids.chunks(imap::FETCH_BATCH) {
        let mails = match imap::fetch(mailbox, batch).await {
            Ok(mails) => mails,
            Err(e) => return Ok(Err(e)),
        };
        for (uid, raw) in mails {
            match email::receive(state, channel, &raw).await? {
                Received::Ingested(_) => synced.received += 1,
                Received::Unreadable(reason) => {
                    record_failure(state, channel, uid_validity, uid, &reason, raw).await?;
                    synced.failed += 1;
                }
            }
            let mut tx = state.db.begin().await?;
            mailboxes::advance(&mut tx, channel.id, &settings.folder, uid_validity, i64::from(uid), now_ms()).await?;
            tx.commit().await?;
        }
    }
    if known.is_none() && uids.is_empty() {
        // Nothing to take yet: the cursor still records the folder, so the next read is by UID.
        let mut tx = state.db.begin().await?;
        mailboxes::advance(&mut tx, channel.id, &settings.folder, uid_validity, 0, now_ms()).await?;
        tx.commit().await?;
    }
    Ok(Ok(synced))
}

/// The most failed imports listed.
const MAX_FAILURES_LISTED: i64 = 100;

/// A mail that could not be read.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct MailFailure {
    pub id: i64,
    /// The folder's UIDVALIDITY and the mail's UID in it.
    pub uid_validity: i64,
    pub uid: i64,
    /// Why it could not be read.
    pub reason: String,
    /// The raw mail in the media store (`GET /api/v1/media/{key}/content`); `null` when it was too
    /// large to keep.
    pub raw_media_key: Option<String>,
    pub created_at: String,
}

/// The newest mails of one of the account's email channels that could not be read.
pub async fn failures(state: &AppState, account_id: i64, channel_id: i64) -> Result<Vec<MailFailure>> {
    let db = state.db.reader();
    channels::find_channel(db, account_id, channel_id).await?.ok_or(crate::error::Error::NotFound("channel"))?;
    let rows = mailboxes::list_failures(db, channel_id, MAX_FAILURES_LISTED).await?;
    Ok(rows
        .into_iter()
        .map(|row| MailFailure {
            id: row.id,
            uid_validity: row.uid_validity,
            uid: row.uid,
            reason: row.reason,
            raw_media_key: row.raw_media_key,
            created_at: crate::domain::time::to_rfc3339(row.created_at),
        })
        .collect())
}

/// Records a mail that could not be read, its raw bytes kept in the media store.
async fn record_failure(
    state: &AppState,
    channel: &ChannelRow,
    uid_validity: i64,
    uid: u32,
    reason: &str,
    raw: Vec<u8>,
) -> Result<()> {
    tracing::warn!(channel = channel.id, uid, reason, "a mail could not be read; recorded as a failed import");
    let raw_media_key = match raw.len() <= email::MAX_MAIL_BYTES {
        true => {
            let file = NewMedia {
                filename: Some("unreadable.eml".to_owned()),
                content_type: "message/rfc822".to_owned(),
                origin: MediaOrigin::Original,
                bytes: raw.into(),
            };
            Some(media_service::save(state, channel.account_id, file).await?.key)
        }
        false => None,
    };
    let failure = MailFailureRow {
        id: 0,
        account_id: channel.account_id,
        channel_id: channel.id,
        uid_validity,
        uid: i64::from(uid),
        reason: reason.to_owned(),
        raw_media_key,
        created_at: now_ms(),
    };
    let mut tx = state.db.begin().await?;
    mailboxes::record_failure(&mut tx, &failure).await?;
    tx.commit().await?;
    Ok(())
}

/// The channel's notice on its mailbox: the folder, the last complete read, the current error
/// and how many mails could not be read.
pub const MAILBOX_NOTICE: &str = "mailbox";

/// Records how a read went, on the cursor and as the channel's [`MAILBOX_NOTICE`].
async fn record_health(state: &AppState, channel_id: i64, error: Option<&String>) -> Result<()> {
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    mailboxes::record_health(&mut tx, channel_id, error.map(String::as_str), now).await?;
    let cursor = mailboxes::find(&mut *tx, channel_id).await?;
    let failed_imports = mailboxes::count_failures(&mut *tx, channel_id).await?;
    let notice = json!({
        "folder": cursor.as_ref().map(|cursor| cursor.folder.clone()).filter(|folder| !folder.is_empty()),
        "synced_at": cursor.as_ref().and_then(|cursor| cursor.synced_at),
        "error": error,
        "error_at": error.map(|_| now),
        "failed_imports": failed_imports,
    });
    channels::set_notice(&mut tx, channel_id, MAILBOX_NOTICE, &notice.to_string(), now).await?;
    tx.commit().await?;
    Ok(())
}

/// Watches one channel's folder until `stop`: reads it, then waits in IDLE (or polls) and reads
/// again; a lost connection is retried with growing waits, up to five minutes.
pub async fn watch(state: AppState, channel: ChannelRow, stop: CancellationToken) {
    let settings = Settings::of(&channel);
    let Some(server) = settings.imap.clone() else { return };
    let mut backoff = Duration::from_secs(1);
    while !stop.is_cancelled() {
        let error = tokio::select! {
            _ = stop.cancelled() => return,
            error = session(&state, &channel, &settings, &server) => error,
        };
        tracing::warn!(channel = channel.id, error = %error, retry_in = ?backoff, "the IMAP connection failed");
        if let Err(e) = record_health(&state, channel.id, Some(&error)).await {
            tracing::error!(channel = channel.id, error = %e, "recording the mailbox's health failed");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection: read, wait, read… until something fails; answers why.
async fn session(state: &AppState, channel: &ChannelRow, settings: &Settings, server: &Server) -> String {
    let mut mailbox = match imap::connect(server).await {
        Ok(mailbox) => mailbox,
        Err(e) => return e,
    };
    let idle = match imap::supports_idle(&mut mailbox).await {
        Ok(idle) => idle,
        Err(e) => return e,
    };
    let poll = Duration::from_secs(state.config.imap_poll_seconds.max(1));
    loop {
        match read_folder(state, channel, settings, &mut mailbox).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return e,
            Err(e) => return format!("storing mail failed: {e}"),
        }
        if let Err(e) = record_health(state, channel.id, None).await {
            return format!("recording the sync failed: {e}");
        }
        if !idle {
            // No IDLE on this server: read again after a while, on the same connection.
            tokio::time::sleep(poll).await;
            continue;
        }
        mailbox = match imap::idle(mailbox, IDLE_WAIT).await {
            Ok(mailbox) => mailbox,
            Err(e) => return e,
        };
    }
}

/// Runs a watcher for every live email channel with an IMAP server until `shutdown`, restarting
/// a channel's watcher when its settings change and stopping it when the channel goes.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let mut watchers: HashMap<i64, (String, CancellationToken, JoinHandle<()>)> = HashMap::new();
    loop {
        match channels::list_live_by_kind(state.db.reader(), ChannelKind::Email.as_str()).await {
            Ok(live) => {
                let wanted: Vec<&ChannelRow> = live
                    .iter()
                    .filter(|channel| state.leads() && channel.simulation == 0 && Settings::of(channel).imap.is_some())
                    .collect();
                watchers.retain(|id, (settings, stop, task)| {
                    let keep = wanted.iter().any(|channel| channel.id == *id && channel.settings == *settings)
                        && !task.is_finished();
                    if !keep {
                        stop.cancel();
                    }
                    keep
                });
                for channel in wanted {
                    watchers.entry(channel.id).or_insert_with(|| {
                        let stop = shutdown.child_token();
                        let task = tokio::spawn(watch(state.clone(), channel.clone(), stop.clone()));
                        (channel.settings.clone(), stop, task)
                    });
                }
            }
            Err(e) => tracing::error!(error = %e, "listing email channels failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(SUPERVISE_EVERY) => {}
        }
    }
    for (_, (_, stop, task)) in watchers {
        stop.cancel();
        let _ = task.await;
    }
}
