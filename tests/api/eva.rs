//! The AI-agent conversations API dialect (seed 004, EVA) under `/eva`: every operation as the
//! seed describes it, the streamed answer read piece by piece, feedback on answers, the
//! satisfaction survey, the cursor pages, RFC 9457 rate limits; and the conversations it holds
//! are ordinary ones that operators see and take over.

use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;
use crate::openai_model::{Model, Reply as ModelReply};

/// A dialect call with `Authorization: Bearer <key>`.
async fn eva(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Reply {
    let bearer = format!("Bearer {}", app.key);
    app.call_with(method, &format!("/eva{path}"), &[("Authorization", bearer.as_str())], body).await
}

/// An OpenAI-compatible virtual agent named Eva, on no channel.
async fn agent(app: &TestApp, model: &Model) -> i64 {
    let body = json!({
        "name": "Eva", "engine": "openai", "languages": ["pt", "it", "en"],
        "settings": {"base_url": model.base, "model": "llama3.1:8b"},
        "first_token_timeout_ms": 3000, "answer_timeout_ms": 8000,
    });
    let reply = app.post("/api/v1/agents", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    reply.body["id"].as_i64().unwrap()
}

async fn start(app: &TestApp, agent: i64, meta: Value) -> String {
    let created = eva(app, Method::POST, &format!("/conversation/create/{agent}"), Some(json!({ "meta": meta }))).await;
    assert_eq!(created.status, StatusCode::OK, "{created:?}");
    created.body["id"].as_str().expect("the id is a string").to_owned()
}

async fn eva_conversations_end_to_end(app: TestApp) {
    let model = Model::start().await;
    let agent = agent(&app, &model).await;

    // Create: an id; unknown agents, missing keys and malformed bodies are refused with `detail`.
    let id = start(&app, agent, json!({"purpose": "suporte", "pedido": "A-1001"})).await;
    let missing = eva(&app, Method::POST, "/conversation/create/999", Some(json!({}))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body["detail"].is_string(), "{missing:?}");
    let anonymous = app.call_with(Method::POST, &format!("/eva/conversation/create/{agent}"), &[], None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(anonymous.body["detail"].as_str().unwrap().contains("Bearer"), "{anonymous:?}");
    let bare = app
        .call_with(
            Method::POST,
            &format!("/eva/conversation/create/{agent}"),
            &[("Authorization", &format!("Bearer {}", app.key))],
            None,
        )
        .await;
    assert_eq!(bare.status, StatusCode::OK, "a bare POST starts a conversation: {bare:?}");

    // Chat without stream: the whole answer, with the ids feedback names.
    model.then(Model::answer("Seu pedido A-1001 chega amanhã."));
    let chat = eva(
        &app,
        Method::POST,
        &format!("/conversation/complete/{id}"),
        Some(json!({"text": "Onde está meu pedido?"})),
    )
    .await;
    assert_eq!(chat.status, StatusCode::OK, "{chat:?}");
    assert!(chat.body["id"].as_str().is_some(), "{chat:?}");
    let sent = chat.body["sendMensages"].as_array().unwrap();
    assert_eq!(sent.len(), 1, "{chat:?}");
    assert_eq!(sent[0]["text"], "Seu pedido A-1001 chega amanhã.");
    let answer_id = sent[0]["id"].as_str().unwrap().to_owned();
    let empty = eva(&app, Method::POST, &format!("/conversation/complete/{id}"), Some(json!({"text": "  "}))).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST, "{empty:?}");

    // Chat with stream: plain text whose first piece arrives well before the answer is complete.
    let pieces = ["Posso ", "ajudar ", "com ", "mais ", "alguma ", "coisa?"];
    model.then(ModelReply::Answer {
        chunks: pieces.iter().map(|p| p.to_string()).collect(),
        first_token: Duration::from_millis(100),
        pace: Duration::from_millis(300),
    });
    let asked = Instant::now();
    let response = app
        .client
        .post(format!("{}/eva/conversation/stream/{id}", app.base))
        .bearer_auth(&app.key)
        .json(&json!({"text": "Obrigado!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
    let mut body = response.bytes_stream();
    let (mut text, mut first, mut chunks) = (String::new(), None, 0);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        first.get_or_insert_with(|| asked.elapsed());
        chunks += 1;
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let (first, whole) = (first.expect("a first piece"), asked.elapsed());
    assert_eq!(text, pieces.concat());
    assert!(chunks >= 3, "the answer came in {chunks} pieces");
    assert!(first + Duration::from_millis(1000) < whole, "first piece after {first:?}, whole answer after {whole:?}");

    // Metadata, merged metadata, messages.
    let meta = eva(&app, Method::GET, &format!("/conversation/metadata/{id}"), None).await;
    assert_eq!(meta.status, StatusCode::OK, "{meta:?}");
    assert_eq!((meta.body["id"].as_str(), meta.body["botname"].as_str()), (Some(id.as_str()), Some("Eva")));
    assert_eq!((meta.body["channel"].as_str(), meta.body["survey"].as_i64()), (Some("API"), Some(0)));
    assert_eq!(meta.body["meta"], json!({"purpose": "suporte", "pedido": "A-1001"}));
    let merged = eva(
        &app,
        Method::POST,
        &format!("/conversation/meta/{id}"),
        Some(json!({"meta": {"pedido": "A-1002", "plano": "ouro"}})),
    )
    .await;
    assert_eq!(merged.status, StatusCode::OK, "{merged:?}");
    assert!(merged.body["message"].is_string());
    let meta = eva(&app, Method::GET, &format!("/conversation/metadata/{id}"), None).await.body;
    assert_eq!(meta["meta"], json!({"purpose": "suporte", "pedido": "A-1002", "plano": "ouro"}));
    let messages = eva(&app, Method::GET, &format!("/conversation/messages/{id}"), None).await.body;
    let roles: Vec<&str> =
        messages["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "bot", "user", "bot"], "{messages}");
    assert_eq!(messages["messages"][3]["text"], pieces.concat());

    // Feedback on an answer, changeable; per author; counted per agent; the negative filter.
    let path = format!("/conversation/feedback/{answer_id}");
    let down =
        eva(&app, Method::POST, &path, Some(json!({"rating": "down", "reason": "wrong", "comment": "Chega hoje"})))
            .await;
    assert_eq!(down.status, StatusCode::OK, "{down:?}");
    let negative = app.get("/api/v1/conversations?negative_feedback=true").await.body;
    assert_eq!(negative["data"][0]["id"].as_i64().unwrap().to_string(), id);
    eva(&app, Method::POST, &path, Some(json!({"rating": "up"}))).await;
    assert_eq!(app.get("/api/v1/conversations?negative_feedback=true").await.body["data"], json!([]));
    let second_key =
        app.post("/api/v1/api-keys", json!({"name": "Quality team"})).await.body["value"].as_str().unwrap().to_owned();
    let native = app
        .call_as(
            &second_key,
            Method::POST,
            &format!("/api/v1/messages/{answer_id}/feedback"),
            Some(json!({"rating": "down", "reason": "tone"})),
        )
        .await;
    assert_eq!(native.status, StatusCode::OK, "{native:?}");
    let counted = app.get(&format!("/api/v1/agents/{agent}/feedback")).await.body;
    assert_eq!((counted["up"].as_i64(), counted["down"].as_i64()), (Some(1), Some(1)), "{counted}");
    let only_down = app.get(&format!("/api/v1/agents/{agent}/feedback?rating=down")).await.body;
    assert_eq!(only_down["data"][0]["reason"], "tone");
    let question_id = messages["messages"][0]["id"].as_str().unwrap();
    let refused =
        eva(&app, Method::POST, &format!("/conversation/feedback/{question_id}"), Some(json!({"rating": "up"}))).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{refused:?}");
    let bad = eva(&app, Method::POST, &path, Some(json!({"rating": "meh"}))).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // The satisfaction survey.
    let rated = eva(&app, Method::POST, &format!("/conversation/survey/{id}"), Some(json!({"survey": 5}))).await;
    assert_eq!(rated.status, StatusCode::OK, "{rated:?}");
    assert_eq!(eva(&app, Method::GET, &format!("/conversation/metadata/{id}"), None).await.body["survey"], 5);
    let out_of_range = eva(&app, Method::POST, &format!("/conversation/survey/{id}"), Some(json!({"survey": 9}))).await;
    assert_eq!(out_of_range.status, StatusCode::BAD_REQUEST);

    // Pages with a cursor from the second on; dates, search and metadata filters.
    let sales = start(&app, agent, json!({"purpose": "vendas"})).await;
    let list = |query: &str| {
        let path = format!("/conversation/list?{query}");
        let app = &app;
        async move { eva(app, Method::GET, &path, None).await }
    };
    let first_page = list("limit=2&currentPage=0").await;
    assert_eq!(first_page.status, StatusCode::OK, "{first_page:?}");
    let page = &first_page.body;
    assert_eq!(
        (page["total"].as_i64(), page["totalPages"].as_i64(), page["currentPage"].as_i64()),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(page["conversations"][0]["id"].as_str(), Some(sales.as_str()), "newest first: {page}");
    let cursor = page["cursor"].as_str().unwrap().to_owned();
    let second = list(&format!("limit=2&currentPage=1&cursor={cursor}")).await.body;
    assert_eq!((second["conversations"].as_array().unwrap().len(), second["currentPage"].as_i64()), (1, Some(2)));
    assert_eq!(second["conversations"][0]["id"].as_str(), Some(id.as_str()));
    assert!(second["cursor"].is_null());
    assert_eq!(list("limit=2&currentPage=1").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(list("limit=0").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(list("dateInit=ontem").await.status, StatusCode::BAD_REQUEST);
    let ids = |reply: &Reply| -> Vec<String> {
        reply.body["conversations"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(ids(&list("meta=VENDAS").await), [sales.as_str()]);
    assert_eq!(ids(&list("search=pedido").await), [id.as_str()]);
    let today = chrono::Utc::now().date_naive();
    assert_eq!(list(&format!("dateEnd={today}")).await.body["total"], 3);
    assert_eq!(list(&format!("dateInit={}", today.succ_opt().unwrap())).await.body["total"], 0);

    // Operators see the conversation and take it over: then people answer, not the agent.
    let native = app.get(&format!("/api/v1/conversations/{id}")).await.body;
    assert_eq!((native["channel"]["kind"].as_str(), native["handler"].as_str()), (Some("api"), Some("virtual_agent")));
    assert_eq!(app.post(&format!("/api/v1/conversations/{id}/takeover"), json!({})).await.status, StatusCode::OK);
    let waiting = eva(
        &app,
        Method::POST,
        &format!("/conversation/complete/{id}"),
        Some(json!({"text": "Quero falar com alguém"})),
    )
    .await;
    assert_eq!(waiting.body["sendMensages"], json!([]), "{waiting:?}");
    let replied = app.post(&format!("/api/v1/conversations/{id}/messages"), json!({"text": "Olá, sou a Ana."})).await;
    assert_eq!(replied.status, StatusCode::ACCEPTED, "{replied:?}");
    let messages = eva(&app, Method::GET, &format!("/conversation/messages/{id}"), None).await.body;
    assert_eq!(messages["messages"].as_array().unwrap().last().unwrap()["role"], "agent");

    // Another account sees none of it.
    let other = app.other_account_key().await;
    let bearer = format!("Bearer {other}");
    let foreign = app
        .call_with(Method::GET, &format!("/eva/conversation/metadata/{id}"), &[("Authorization", &bearer)], None)
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    let foreign = app.call_with(Method::GET, "/eva/conversation/list", &[("Authorization", &bearer)], None).await;
    assert_eq!(foreign.body["total"], 0);
}

crate::backend_tests!(eva_conversations_end_to_end);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eva_rate_limits_are_rfc_9457_problems() {
    let app =
        spawn_app_with(Backend::Sqlite, &["--compat-rate-limit-per-minute", "2", "--compat-rate-limit-burst", "50"])
            .await;
    let mut refused = None;
    for _ in 0..5 {
        let reply = eva(&app, Method::GET, "/conversation/list", None).await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(reply);
            break;
        }
    }
    let refused = refused.expect("a 429 within the minute");
    assert_eq!(refused.headers["content-type"], "application/problem+json");
    assert_eq!(
        (refused.body["status"].as_i64(), refused.body["title"].as_str()),
        (Some(429), Some("Too Many Requests"))
    );
    assert!(refused.body["type"].is_string());
    assert_eq!(refused.body["instance"], "/eva/conversation/list");
    assert!(refused.headers.contains_key("retry-after"));
}
