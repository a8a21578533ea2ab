//! Routing to people: teams of operators take their channels' waiting conversations
//! round-robin, within each operator's capacity, only while they are online with a live session;
//! freed capacity and operators coming online pick up the queue.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

const FLAGS: &[&str] = &["--agent-debounce-ms", "0"];

/// A logged-in operator.
struct Operator {
    id: i64,
    cookie: String,
    csrf: String,
}

impl Operator {
    /// Creates an operator of account 1 and logs them in.
    async fn join(app: &TestApp, name: &str) -> Operator {
        let email = format!("{}@example.com", name.to_lowercase());
        let hash = parley::service::auth::hash_password("correct horse battery").unwrap();
        let mut tx = app.state.db.begin().await.unwrap();
        let row = parley::store::accounts::insert_operator(&mut tx, 1, name, &email, &hash, "agent", 1).await.unwrap();
        tx.commit().await.unwrap();
        let login = app
            .call_with(
                Method::POST,
                "/ui/session",
                &[],
                Some(json!({"email": email, "password": "correct horse battery"})),
            )
            .await;
        assert_eq!(login.status, StatusCode::OK, "{login:?}");
        let cookie = login.headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        Operator { id: row.id, cookie, csrf: login.body["csrf_token"].as_str().unwrap().to_owned() }
    }

    /// Sets their own availability from their session, as the header switch does.
    async fn set(&self, app: &TestApp, availability: &str) -> Reply {
        let headers = [("cookie", self.cookie.as_str()), ("x-csrf-token", self.csrf.as_str())];
        let body = json!({"availability": availability});
        app.call_with(Method::PUT, "/api/v1/operators/me/presence", &headers, Some(body)).await
    }
}

/// A new customer conversation on the channel; returns its id.
async fn customer(app: &TestApp, channel: i64, n: usize) -> i64 {
    let from = format!("+3934712345{n:02}");
    app.inbound(channel, &from, "Cliente", "Buongiorno").await["conversation"]["id"].as_i64().unwrap()
}

async fn assignee(app: &TestApp, id: i64) -> Value {
    app.get(&format!("/api/v1/conversations/{id}")).await.body["assignee_id"].clone()
}

async fn waiting_conversations_go_round_robin_within_capacity_to_online_members(app: TestApp) {
    let channel = app.channel("whatsapp", "+393209998811", true).await;
    let anna = Operator::join(&app, "Anna").await;
    let bruno = Operator::join(&app, "Bruno").await;
    let carla = Operator::join(&app, "Carla").await;
    let team = app
        .post(
            "/api/v1/teams",
            json!({"name": "Assistenza", "operator_ids": [anna.id, bruno.id, carla.id], "channel_ids": [channel]}),
        )
        .await;
    assert_eq!(team.status, StatusCode::CREATED, "{team:?}");
    assert_eq!(team.body["channel_ids"], json!([channel]));
    for (operator, capacity) in [(&anna, 2), (&bruno, 1)] {
        let set = app
            .call(
                Method::PUT,
                &format!("/api/v1/operators/{}/presence", operator.id),
                Some(json!({"capacity": capacity})),
            )
            .await;
        assert_eq!(set.status, StatusCode::OK, "{set:?}");
    }
    assert_eq!(anna.set(&app, "online").await.body["availability"], "online");
    assert_eq!(bruno.set(&app, "online").await.body["availability"], "online");
    assert_eq!(carla.set(&app, "away").await.body["availability"], "away");

    let first = customer(&app, channel, 1).await;
    let waiting = app.get(&format!("/api/v1/conversations/{first}")).await.body;
    assert!(waiting["waiting_since"].is_string() && waiting["team_id"] == team.body["id"], "{waiting}");
    app.drain_jobs().await;
    let second = customer(&app, channel, 2).await;
    app.drain_jobs().await;
    let third = customer(&app, channel, 3).await;
    app.drain_jobs().await;
    assert_eq!(assignee(&app, first).await, anna.id, "the one assigned longest ago goes first");
    assert_eq!(assignee(&app, second).await, bruno.id, "then the next member");
    assert_eq!(assignee(&app, third).await, anna.id, "Bruno is full (capacity 1), Carla away");
    let fourth = customer(&app, channel, 4).await;
    app.drain_jobs().await;
    assert_eq!(assignee(&app, fourth).await, Value::Null, "everyone online is full: it waits in the queue");
    assert_eq!(app.get("/api/v1/conversations?waiting=true").await.body["total"], 1);

    // Freed capacity picks up the queue.
    let resolved = app.patch(&format!("/api/v1/conversations/{second}"), json!({"status": "resolved"})).await;
    assert_eq!(resolved.status, StatusCode::OK);
    app.drain_jobs().await;
    assert_eq!(assignee(&app, fourth).await, bruno.id);
    assert_eq!(app.get(&format!("/api/v1/conversations/{fourth}")).await.body["waiting_since"], Value::Null);

    // An operator coming online picks up the queue at once.
    let fifth = customer(&app, channel, 5).await;
    app.drain_jobs().await;
    assert_eq!(assignee(&app, fifth).await, Value::Null);
    assert_eq!(carla.set(&app, "online").await.status, StatusCode::OK);
    assert_eq!(assignee(&app, fifth).await, carla.id);

    let presence = app.get("/api/v1/operators/presence").await;
    let of =
        |id: i64| presence.body["data"].as_array().unwrap().iter().find(|p| p["operator_id"] == id).unwrap().clone();
    assert_eq!(of(anna.id)["open_conversations"], 2);
    assert_eq!(of(carla.id)["availability"], "online");
    assert_eq!(of(1)["availability"], "offline", "the admin has no session: offline whatever was set");

    // Logging out ends the session: the operator counts as offline and gets nothing new.
    let headers = [("cookie", carla.cookie.as_str()), ("x-csrf-token", carla.csrf.as_str())];
    let out = app.call_with(Method::DELETE, "/ui/session", &headers, None).await;
    assert!(out.status.is_success(), "{out:?}");
    let presence = app.get("/api/v1/operators/presence").await;
    let carla_now =
        presence.body["data"].as_array().unwrap().iter().find(|p| p["operator_id"] == carla.id).unwrap().clone();
    assert_eq!(carla_now["availability"], "offline");
}

async fn escalated_conversations_are_routed_to_the_team(app: TestApp) {
    let channel = app.channel("whatsapp", "+393209998812", true).await;
    let dario = Operator::join(&app, "Dario").await;
    app.post("/api/v1/teams", json!({"name": "Vendite", "operator_ids": [dario.id], "channel_ids": [channel]})).await;
    let agent = app
        .post(
            "/api/v1/agents",
            json!({"name": "Clara", "engine": "knowledge_base", "languages": ["it"], "channels": [{"channel_id": channel}]}),
        )
        .await;
    assert_eq!(agent.status, StatusCode::CREATED);
    dario.set(&app, "online").await;
    let asked = app.inbound(channel, "+393471234599", "Elio", "Voglio parlare con un operatore").await;
    let id = asked["conversation"]["id"].as_i64().unwrap();
    assert_eq!(assignee(&app, id).await, Value::Null, "the agent has it first");
    app.drain_jobs().await;
    assert_eq!(assignee(&app, id).await, dario.id, "escalated and routed at once");
    let escalated = app.get(&format!("/api/v1/conversations/{id}/escalations")).await;
    assert_eq!(escalated.body["data"][0]["status"], "escalated", "a person has it");
}

async fn teams_are_checked_and_scoped_to_their_account(app: TestApp) {
    let channel = app.channel("sms", "+393209998813", true).await;
    assert_field_error(&app.post("/api/v1/teams", json!({"name": " "})).await, "name");
    assert_field_error(&app.post("/api/v1/teams", json!({"name": "X", "operator_ids": [999]})).await, "operator_ids");
    assert_field_error(&app.post("/api/v1/teams", json!({"name": "X", "channel_ids": [999]})).await, "channel_ids");
    assert_eq!(app.get("/api/v1/teams").await.body["data"], json!([]), "refused teams leave nothing behind");
    let team = app.post("/api/v1/teams", json!({"name": "Supporto", "channel_ids": [channel]})).await;
    let path = format!("/api/v1/teams/{}", team.body["id"]);
    let renamed = app.patch(&path, json!({"name": "Supporto clienti", "channel_ids": []})).await;
    assert_eq!(renamed.body["name"], "Supporto clienti");
    assert_eq!(renamed.body["channel_ids"], json!([]));
    assert_field_error(
        &app.call(Method::PUT, "/api/v1/operators/1/presence", Some(json!({"capacity": -1}))).await,
        "capacity",
    );
    assert_field_error(
        &app.call(Method::PUT, "/api/v1/operators/me/presence", Some(json!({"availability": "online"}))).await,
        "id",
    );

    let other = app.other_account_key().await;
    assert_problem(&app.call_as(&other, Method::GET, &path, None).await, StatusCode::NOT_FOUND, "not_found");
    assert_problem(&app.call_as(&other, Method::DELETE, &path, None).await, StatusCode::NOT_FOUND, "not_found");
    let presence =
        app.call_as(&other, Method::PUT, "/api/v1/operators/1/presence", Some(json!({"availability": "away"}))).await;
    assert_problem(&presence, StatusCode::NOT_FOUND, "not_found");
    let theirs =
        app.call_as(&other, Method::POST, "/api/v1/teams", Some(json!({"name": "T", "channel_ids": [channel]}))).await;
    assert_field_error(&theirs, "channel_ids");
    assert_eq!(app.delete(&path).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&path).await.status, StatusCode::NOT_FOUND);
}

crate::backend_tests!(with FLAGS;
    waiting_conversations_go_round_robin_within_capacity_to_online_members,
    escalated_conversations_are_routed_to_the_team,
    teams_are_checked_and_scoped_to_their_account,
);
