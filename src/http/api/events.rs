//! `/api/v1/events`: the account's event log as Server-Sent Events, resumable with `Last-Event-ID`.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Extension;
use futures::Stream;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use crate::domain::principal::Principal;
use crate::error::{Error, Result};
use crate::http::extract::ApiQuery;
use crate::service::webhooks;
use crate::state::{AppState, Signal};
use crate::store::events::Position;

/// Where to start.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Replay events after this id (same as the `Last-Event-ID` header). Without either, only new events are sent.
    after: Option<i64>,
}

/// How often the log is re-read when no notification arrives.
const POLL: Duration = Duration::from_secs(2);

/// How soon the log is read again when committed events wait behind a transaction still running.
const HELD_BACK_POLL: Duration = Duration::from_millis(20);

/// Stream events.
///
/// Every event type in the event catalog (`message.created`, `message.updated`,
/// `message.deleted`, `conversation.created`, `conversation.updated`, `conversation.status_changed`,
/// `conversation.assigned`, `conversation.archived`, `conversation.read`, `contact.created`,
/// `contact.updated`, `contact.merged`, `contact.deleted`…), in the order they were committed, each
/// carrying its object (on PostgreSQL, an event whose transaction committed late comes after the
/// events committed before it, whatever its id, so resuming never skips it).
/// While a virtual agent writes an answer, transient `message.delta` events (no `id:`, never
/// replayed) carry its draft as it grows: `draft_id`, `conversation_id`, `virtual_agent_id`, the
/// new `delta` and the `text` so far; the finished answer follows as one `message.created`.
/// The stream opens with a comment saying where it starts and sends a comment every 15 s while
/// idle; without `after` or `Last-Event-ID` it starts with events to come (`Last-Event-ID: 0`
/// replays the whole log).
#[utoipa::path(get, path = "/api/v1/events", operation_id = "streamEvents", tag = "events",
    params(StreamParams, ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event id (as `after`).")),
    responses((status = 200, description = "text/event-stream of events; each `id:` resumes with Last-Event-ID", content_type = "text/event-stream")))]
pub async fn stream(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<StreamParams>,
) -> Result<Sse<impl Stream<Item = std::result::Result<Event, Infallible>>>> {
    let header_id = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok())
                .ok_or_else(|| Error::field("Last-Event-ID", "must be an event id"))?,
        ),
        None => None,
    };
    let mut position = match header_id.or(params.after) {
        Some(id) => Position::of_event(&state.db, me.account_id, id).await?,
        None => Position::end(&state.db, me.account_id).await?,
    };
    let mut wake = state.events.subscribe();
    let account = me.account_id;
    let shutdown = state.shutdown.clone();
    let stream = async_stream::stream! {
        // Says at once that the stream is open and where it starts, so a client sees more than silence.
        yield Ok(Event::default().comment(format!(
            "events of account {account} after id {}; reconnect with Last-Event-ID to resume, Last-Event-ID: 0 replays all",
            position.id
        )));
        while !shutdown.is_cancelled() {
            let page = match position.read(&state.db, account, 500).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "event stream read failed");
                    break;
                }
            };
            let full = page.events.len() == 500;
            for event in page.events {
                let payload = webhooks::envelope(&event).to_string();
                yield Ok(Event::default().id(event.id.to_string()).event(event.kind).data(payload));
            }
            if full {
                continue;
            }
            let deadline = tokio::time::sleep(if page.held_back { HELD_BACK_POLL } else { POLL });
            tokio::pin!(deadline);
            loop {
                let received = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = &mut deadline => break,
                    received = wake.recv() => received,
                };
                match received {
                    Ok(Signal::Transient(event)) => {
                        if event.account_id == account {
                            let payload = json!({ "type": event.kind, "account_id": account, "data": event.data });
                            yield Ok(Event::default().event(event.kind.as_str()).data(payload.to_string()));
                        }
                    }
                    Ok(Signal::Logged(id)) if id != account => continue,
                    _ => break,
                }
            }
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
