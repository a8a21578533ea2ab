//! The live event stream: events arrive as they happen and resume from `Last-Event-ID`.

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

/// One parsed Server-Sent Event.
#[derive(Debug)]
pub struct Sse {
    id: i64,
    pub kind: String,
    pub data: Value,
}

/// An open stream, read event by event.
pub struct Reader {
    stream: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl Reader {
    pub fn new(response: reqwest::Response) -> Reader {
        Reader { stream: Box::pin(response.bytes_stream()), buffer: String::new() }
    }

    /// The events (with ids) that arrive within `within`, up to `count`.
    pub async fn read(&mut self, count: usize, within: Duration) -> Vec<Sse> {
        let deadline = tokio::time::Instant::now() + within;
        let mut events = Vec::new();
        while events.len() < count {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut kind, mut data) = (None, String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        kind = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if let Some(id) = id {
                    events.push(Sse { id, kind, data: serde_json::from_str(&data).unwrap() });
                }
                continue;
            }
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(Some(chunk)) => self.buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap())),
                _ => break,
            }
        }
        events
    }
}

/// Reads events from an open stream until `count` arrived (10 s at most).
async fn read_events(response: reqwest::Response, count: usize) -> Vec<Sse> {
    let events = Reader::new(response).read(count, Duration::from_secs(10)).await;
    assert_eq!(events.len(), count, "events arrived in time: {events:?}");
    events
}

async fn open(app: &TestApp, last_event_id: Option<i64>) -> reqwest::Response {
    let mut request = app.client.get(format!("{}/api/v1/events", app.base)).header("X-Api-Key", &app.key);
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id.to_string());
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    response
}

async fn live_events_follow_the_conversation(app: TestApp) {
    let sms = app.channel("sms", "+393209998800", true).await;
    let stream = open(&app, None).await;
    let first = app.inbound(sms, "+393471234567", "Marco", "ciao").await;
    let events = read_events(stream, 3).await;
    assert_eq!(events[0].kind, "contact.created", "a first message from a new address creates its contact");
    assert_eq!(events[0].data["data"]["id"], first["conversation"]["contact"]["id"]);
    assert_eq!(events[1].kind, "conversation.created");
    assert_eq!(events[1].data["data"]["id"], first["conversation"]["id"]);
    assert_eq!(events[2].kind, "message.created");
    assert_eq!(events[2].data["data"]["text"], "ciao");
    assert_eq!(events[2].data["id"], events[2].id, "the payload carries the event id");
    assert!(events[2].data["created_at"].is_string());

    // Resuming after the conversation's creation replays what followed, then keeps streaming.
    let id = first["conversation"]["id"].as_i64().unwrap();
    app.post(&format!("/api/v1/conversations/{id}/messages"), json!({"text": "ciao Marco"})).await;
    app.drain_jobs().await;
    let resumed = read_events(open(&app, Some(events[1].id)).await, 6).await;
    let kinds: Vec<&str> = resumed.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "message.created",
            "message.created",
            "conversation.updated",
            "message.updated",
            "message.updated",
            "message.updated"
        ]
    );
    let statuses: Vec<&str> = resumed[3..].iter().map(|e| e.data["data"]["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["sent", "delivered", "read"]);
    assert!(resumed.windows(2).all(|w| w[0].id < w[1].id));
}

async fn events_are_scoped_to_the_account(app: TestApp) {
    let sms = app.channel("sms", "+393209998800", true).await;
    let other = app.other_account_key().await;
    let response =
        app.client.get(format!("{}/api/v1/events?after=0", app.base)).header("X-Api-Key", &other).send().await.unwrap();
    app.inbound(sms, "+393471234567", "Marco", "riservato").await;
    // The other account sees nothing of it: its own first event is what arrives.
    let other_channel = app
        .call_as(
            &other,
            reqwest::Method::POST,
            "/api/v1/channels",
            Some(json!({"kind": "sms", "name": "o", "address": "+393209990000", "simulation": true})),
        )
        .await;
    let other_id = other_channel.body["id"].as_i64().unwrap();
    app.call_as(
        &other,
        reqwest::Method::POST,
        &format!("/api/v1/channels/{other_id}/inbound"),
        Some(json!({"from": "+393330000000", "text": "mine"})),
    )
    .await;
    let events = read_events(response, 3).await;
    assert!(events.iter().all(|e| e.data["account_id"] != json!(1)));
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["contact.created", "conversation.created", "message.created"]);
    assert_eq!(events[2].data["data"]["text"], "mine");
    let bad = app
        .client
        .get(format!("{}/api/v1/events", app.base))
        .header("X-Api-Key", &app.key)
        .header("Last-Event-ID", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

/// A new stream says at once that it is open and how to replay, rather than staying silent.
async fn the_stream_says_at_once_where_it_starts(app: TestApp) {
    app.post("/api/v1/contacts", serde_json::json!({"name": "Ada"})).await;
    let mut stream = open(&app, None).await.bytes_stream();
    let first = tokio::time::timeout(Duration::from_secs(2), stream.next()).await.expect("a first line at once");
    let text = String::from_utf8_lossy(&first.expect("a chunk").unwrap()).into_owned();
    assert!(text.starts_with(": events of account 1 after id 1;") && text.contains("Last-Event-ID: 0"), "{text}");
}

/// Writes an event of account 1 in `tx` (not committed yet) and returns its id.
async fn write_event(tx: &mut parley::store::Tx, name: &str) -> i64 {
    let payload = json!({"type": "contact.updated", "account_id": 1, "data": {"name": name}}).to_string();
    parley::store::events::insert_event(tx, 1, "contact.updated", &payload, 0).await.unwrap()
}

// On PostgreSQL an event can commit after one with a higher id. Streams follow commit order: the
// later event waits until the earlier one commits, so a client resuming from what it saw, live or
// replayed, never skips an event; the webhook dispatcher takes them in the same order.
crate::postgres_test!(
    async fn an_event_that_commits_late_is_never_skipped() {
        let app = spawn_app_with(Backend::Postgres, &[]).await;
        let db = &app.state.db;
        let mut live = Reader::new(open(&app, None).await);
        let mut early = db.begin().await.unwrap();
        let early_id = write_event(&mut early, "early").await;
        let mut late = db.begin().await.unwrap();
        let late_id = write_event(&mut late, "late").await;
        late.commit().await.unwrap();
        assert!(early_id < late_id);

        // While the earlier transaction is open, nothing after it is sent or dispatched.
        assert!(live.read(1, Duration::from_millis(500)).await.is_empty(), "the later event waited");
        let replay = Reader::new(open(&app, Some(0)).await).read(2, Duration::from_millis(300)).await;
        assert!(replay.iter().all(|e| e.id < early_id), "{replay:?}");
        assert_eq!(parley::jobs::webhooks::dispatch_once(&app.state, 0).await.unwrap(), 0);

        early.commit().await.unwrap();
        let seen = live.read(2, Duration::from_secs(5)).await;
        let names: Vec<&Value> = seen.iter().map(|e| &e.data["data"]["name"]).collect();
        assert_eq!(names, [&json!("early"), &json!("late")]);
        assert_eq!([seen[0].id, seen[1].id], [early_id, late_id]);

        // Resuming from the later event sends nothing again; from the earlier, the later.
        let resumed = Reader::new(open(&app, Some(late_id)).await).read(1, Duration::from_millis(300)).await;
        assert!(resumed.is_empty(), "{resumed:?}");
        let resumed = read_events(open(&app, Some(early_id)).await, 1).await;
        assert_eq!(resumed[0].id, late_id);
        assert_eq!(parley::jobs::webhooks::dispatch_once(&app.state, 0).await.unwrap(), 2);
    }
);

crate::backend_tests!(
    the_stream_says_at_once_where_it_starts,
    live_events_follow_the_conversation,
    events_are_scoped_to_the_account
);
