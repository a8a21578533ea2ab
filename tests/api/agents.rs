//! Virtual agents: answers from the knowledge base and from an OpenAI-compatible model (a local
//! stand-in speaking its streaming format), handoff by keyword, turns, model marker and every
//! kind of engine failure, never a bot message after a person, one answer per burst, exactly
//! one answer after a crash, and escalations through the API.

use std::time::Duration;

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;
use crate::openai_model::{Model, Reply as ModelReply};

/// Agents answer as soon as they are due: no debounce, so `run_once` drives them.
const FLAGS: &[&str] = &["--agent-debounce-ms", "0"];

/// A small FAQ in Italian, English and Portuguese.
const FAQ: &[(&str, &str, &str)] = &[
    (
        "it",
        "Spedizione in Italia",
        "La spedizione in Italia costa 4,90 euro ed è gratuita sopra i 49 euro. La consegna richiede 2-3 giorni lavorativi.",
    ),
    (
        "it",
        "Resi e rimborsi",
        "Puoi restituire un prodotto entro 30 giorni dalla consegna. Il rimborso arriva entro 14 giorni dal ricevimento del reso.",
    ),
    (
        "en",
        "Resetting your password",
        "To reset your password open Settings, choose Security and press Reset password: we email you a link valid for one hour.",
    ),
    (
        "en",
        "Opening hours",
        "Our shop in Milan is open Monday to Saturday from 9:00 to 19:30.",
    ),
    (
        "pt",
        "Devolução de produtos",
        "A devolução é gratuita em até 30 dias. O reembolso é feito no mesmo cartão em até 10 dias úteis.",
    ),
    (
        "pt",
        "Frete para o Brasil",
        "O frete para o Brasil custa R$ 39,90 e o prazo de entrega é de 10 a 15 dias úteis.",
    ),
];

/// A WhatsApp channel in simulation and a knowledge-base agent serving it first, with the FAQ.
async fn knowledge_base_agent(app: &TestApp) -> (i64, i64) {
    let channel = app.channel("whatsapp", "+393209998877", true).await;
    let agent = app
        .post(
            "/api/v1/agents",
            json!({
                "name": "Clara", "engine": "knowledge_base", "languages": ["it", "en", "pt"],
                "channels": [{"channel_id": channel, "answers_first": true}],
            }),
        )
        .await;
    assert_eq!(agent.status, StatusCode::CREATED, "{agent:?}");
    let agent = agent.body["id"].as_i64().unwrap();
    for (language, title, body) in FAQ {
        let reply = app
            .post(
                &format!("/api/v1/agents/{agent}/articles"),
                json!({"title": title, "body": body, "language": language, "tags": ["faq"]}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    }
    (channel, agent)
}

/// An OpenAI-compatible agent on a new simulated WhatsApp channel.
async fn model_agent(app: &TestApp, model: &Model, extra: Value) -> (i64, i64) {
    let channel = app.channel("whatsapp", "+393209998866", true).await;
    let mut body = json!({
        "name": "Giulia", "engine": "openai", "languages": ["it", "en", "pt"],
        "instructions": "Sei l'assistente di TechStore. Rispondi in modo breve.",
        "settings": {"base_url": model.base, "api_key": "sk-test-secret", "model": "llama3.1:8b", "temperature": 0.2},
        "channels": [{"channel_id": channel}],
        "first_token_timeout_ms": 2000, "answer_timeout_ms": 5000,
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let agent = app.post("/api/v1/agents", body).await;
    assert_eq!(agent.status, StatusCode::CREATED, "{agent:?}");
    (channel, agent.body["id"].as_i64().unwrap())
}

/// The conversation's messages, oldest first.
async fn thread(app: &TestApp, conversation: i64) -> Vec<Value> {
    let reply = app.get(&format!("/api/v1/conversations/{conversation}/messages?limit=100")).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body["data"].as_array().unwrap().clone()
}

/// The texts of the conversation's messages the virtual agent wrote.
async fn bot_texts(app: &TestApp, conversation: i64) -> Vec<String> {
    thread(app, conversation)
        .await
        .iter()
        .filter(|m| m["sender"]["type"] == "virtual_agent")
        .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn conversation(app: &TestApp, id: i64) -> Value {
    app.get(&format!("/api/v1/conversations/{id}")).await.body
}

async fn escalations(app: &TestApp, id: i64) -> Vec<Value> {
    app.get(&format!("/api/v1/conversations/{id}/escalations")).await.body["data"].as_array().unwrap().clone()
}

async fn run_agents(app: &TestApp) -> usize {
    parley::service::answers::run_once(&app.state).await.unwrap()
}

async fn knowledge_base_agent_answers_and_hands_over_on_a_keyword(app: TestApp) {
    let (channel, agent) = knowledge_base_agent(&app).await;
    let first = app.inbound(channel, "+393471234567", "Marco Bianchi", "Quanto costa la spedizione in Italia?").await;
    let id = first["conversation"]["id"].as_i64().unwrap();
    assert_eq!(first["conversation"]["handler"], "virtual_agent");
    assert_eq!(first["conversation"]["virtual_agent_id"], agent);
    assert_eq!(first["conversation"]["waiting_since"], Value::Null, "the agent has it: nobody waits");
    app.drain_jobs().await;
    let messages = thread(&app, id).await;
    let answer = messages.last().unwrap();
    assert_eq!(answer["sender"], json!({"type": "virtual_agent", "id": agent}));
    assert!(answer["text"].as_str().unwrap().contains("4,90 euro"), "{answer}");
    assert_eq!(answer["status"], "read", "the answer went through the channel's normal (simulated) sender");

    let asked = app.inbound(channel, "+393471234567", "Marco Bianchi", "Vorrei parlare con un operatore, grazie").await;
    assert_eq!(asked["conversation"]["handler"], "virtual_agent");
    app.drain_jobs().await;
    let after = conversation(&app, id).await;
    assert_eq!(after["handler"], "human");
    assert_eq!(after["virtual_agent_id"], Value::Null);
    assert!(after["waiting_since"].is_string(), "it waits for a person: {after}");
    let notice = bot_texts(&app, id).await.pop().unwrap();
    assert!(notice.contains("operatore"), "the customer is told in Italian that a person follows: {notice}");
    let escalated = escalations(&app, id).await;
    assert_eq!(escalated.len(), 1);
    assert_eq!(escalated[0]["status"], "escalating");
    assert_eq!(escalated[0]["reason"], "by_end_user_message");
    assert_eq!(escalated[0]["virtual_agent_id"], agent);
    assert!(escalated[0]["detail"].as_str().unwrap().contains("operatore"));

    // People have it now: the agent writes nothing more.
    app.inbound(channel, "+393471234567", "Marco Bianchi", "Quanto costa la spedizione?").await;
    app.drain_jobs().await;
    assert_eq!(bot_texts(&app, id).await.len(), 2, "no bot message after the handoff");
    let waiting = app.get("/api/v1/conversations?waiting=true&handler=human").await;
    assert_eq!(waiting.body["total"], 1, "{waiting:?}");
    assert_eq!(app.get("/api/v1/conversations?handler=virtual_agent").await.body["total"], 0);
    assert_field_error(&app.get("/api/v1/conversations?handler=robot").await, "handler");

    // The events tell integrators what happened, in order.
    let events = read_log(&app, 1, &mut parley::store::events::Position::start()).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let escalated_at = kinds.iter().position(|k| *k == "conversation.escalated").expect("conversation.escalated");
    assert!(kinds[escalated_at..].contains(&"conversation.handler_changed"), "{kinds:?}");
    let payload: Value = serde_json::from_str(&events[escalated_at].payload).unwrap();
    assert_eq!(payload["data"]["reason"], "by_end_user_message");
}

async fn the_knowledge_base_finds_the_right_article_in_three_languages(app: TestApp) {
    let (channel, agent) = knowledge_base_agent(&app).await;
    let search = |q: &str| {
        let path = format!("/api/v1/agents/{agent}/articles/search?q={}", urlencode(q));
        let app = &app;
        async move { app.get(&path).await.body["data"].as_array().unwrap().clone() }
    };
    for (question, title) in [
        ("Come posso restituire un prodotto?", "Resi e rimborsi"),
        ("quanto costa la spedizione", "Spedizione in Italia"),
        ("How do I reset my password?", "Resetting your password"),
        ("When is the shop open?", "Opening hours"),
        ("Como faço a devolução de um produto?", "Devolução de produtos"),
        ("como faco a devolucao", "Devolução de produtos"),
        ("Quanto custa o frete para o Brasil?", "Frete para o Brasil"),
    ] {
        let found = search(question).await;
        assert_eq!(found.first().map(|p| p["title"].clone()), Some(json!(title)), "{question}: {found:?}");
        assert!(found[0]["score"].as_f64().unwrap() >= 0.5, "{question}: {found:?}");
    }
    assert!(search("Avete cravatte di seta blu?").await.iter().all(|p| p["score"].as_f64().unwrap() < 0.5));

    // A question the articles do not cover goes to a person, in the customer's language.
    let asked =
        app.inbound(channel, "+5511987654321", "Ana", "Vocês vendem gravatas de seda azul? Não encontrei").await;
    let id = asked["conversation"]["id"].as_i64().unwrap();
    app.drain_jobs().await;
    assert_eq!(conversation(&app, id).await["handler"], "human");
    assert_eq!(escalations(&app, id).await[0]["reason"], "by_virtual_agent");
    assert!(bot_texts(&app, id).await[0].contains("atendente"), "told in Portuguese");

    // Editing and deleting articles changes what is found.
    let articles = app.get(&format!("/api/v1/agents/{agent}/articles?limit=2")).await;
    assert_eq!(articles.body["data"].as_array().unwrap().len(), 2);
    let next = articles.body["next_cursor"].as_str().unwrap();
    let rest = app.get(&format!("/api/v1/agents/{agent}/articles?limit=100&cursor={next}")).await;
    assert_eq!(rest.body["data"].as_array().unwrap().len(), FAQ.len() - 2);
    let hours = rest.body["data"].as_array().unwrap().iter().find(|a| a["title"] == "Opening hours").unwrap().clone();
    let path = format!("/api/v1/agents/{agent}/articles/{}", hours["id"]);
    let changed = app.patch(&path, json!({"body": "Our Milan shop opens every day from 10:00 to 20:00."})).await;
    assert_eq!(changed.status, StatusCode::OK, "{changed:?}");
    assert!(search("When is the shop open?").await[0]["text"].as_str().unwrap().contains("10:00"));
    assert_eq!(app.delete(&path).await.status, StatusCode::NO_CONTENT);
    assert!(search("When is the shop open?").await.iter().all(|p| p["title"] != "Opening hours"));
    assert_eq!(app.get(&path).await.status, StatusCode::NOT_FOUND);
    assert_field_error(&app.post(&format!("/api/v1/agents/{agent}/articles"), json!({"title": "x"})).await, "body");
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// One parsed Server-Sent Event, logged (with an id) or transient.
#[derive(Debug)]
struct Sse {
    kind: String,
    data: Value,
}

/// Reads events until the virtual agent's `message.created` arrives (10 s at most).
async fn read_until_answer(response: reqwest::Response) -> Vec<Sse> {
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut events: Vec<Sse> = Vec::new();
    let answered = |events: &[Sse]| {
        events.iter().any(|e| e.kind == "message.created" && e.data["data"]["sender"]["type"] == "virtual_agent")
    };
    let collect = async {
        while !answered(&events) {
            let Some(chunk) = stream.next().await else { break };
            buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let (mut kind, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        kind = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if !kind.is_empty() {
                    events.push(Sse { kind, data: serde_json::from_str(&data).unwrap() });
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), collect).await.expect("events arrived in time");
    events
}

async fn a_model_answer_streams_then_arrives_as_one_message(app: TestApp) {
    let model = Model::start().await;
    model.default_reply(ModelReply::Answer {
        chunks: vec!["Il tuo ordine ".into(), "è in ".into(), "spedizione.".into()],
        first_token: Duration::ZERO,
        pace: Duration::from_millis(20),
    });
    let (channel, agent) = model_agent(&app, &model, json!({})).await;
    let listed = app.get(&format!("/api/v1/agents/{agent}")).await.body;
    assert_eq!(listed["settings"]["model"], "llama3.1:8b");
    assert!(listed["settings"].get("api_key").is_none() && listed.to_string().find("sk-test-secret").is_none());
    assert_eq!(listed["secrets_set"], json!(["api_key"]));
    let stream =
        app.client.get(format!("{}/api/v1/events", app.base)).header("X-Api-Key", &app.key).send().await.unwrap();
    let first = app.inbound(channel, "+393471234567", "Marco", "Buongiorno, dov'è il mio ordine ORD-1584?").await;
    let id = first["conversation"]["id"].as_i64().unwrap();
    run_agents(&app).await;

    let events = read_until_answer(stream).await;
    // The draft grows chunk by chunk, then the answer is one message.
    let deltas: Vec<&Sse> = events.iter().filter(|e| e.kind == "message.delta").collect();
    let texts: Vec<&str> = deltas.iter().map(|e| e.data["data"]["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Il tuo ordine ", "Il tuo ordine è in ", "Il tuo ordine è in spedizione."]);
    assert_eq!(deltas[1].data["data"]["delta"], "è in ");
    assert_eq!(deltas[0].data["data"]["conversation_id"], id);
    assert_eq!(deltas[0].data["data"]["virtual_agent_id"], agent);
    let draft_id = deltas[0].data["data"]["draft_id"].clone();
    let created = events
        .iter()
        .find(|e| e.kind == "message.created" && e.data["data"]["sender"]["type"] == "virtual_agent")
        .expect("the answer as one message.created");
    assert_eq!(created.data["data"]["text"], "Il tuo ordine è in spedizione.");
    assert_eq!(created.data["data"]["sender"]["type"], "virtual_agent");
    assert_eq!(created.data["data"]["payload"]["draft_id"], draft_id, "the final message names the draft it replaces");
    assert!(created.data["data"]["payload"]["usage"]["completion_tokens"].as_u64().unwrap() > 0, "usage recorded");

    // The model got the instructions, the answer language and the question, streamed, with our key.
    let request = model.received().pop().unwrap();
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.authorization.as_deref(), Some("Bearer sk-test-secret"));
    assert_eq!(request.body["stream"], true);
    assert_eq!(request.body["model"], "llama3.1:8b");
    let messages = request.body["messages"].as_array().unwrap();
    assert!(messages[0]["content"].as_str().unwrap().starts_with("Sei l'assistente di TechStore"));
    assert!(messages[0]["content"].as_str().unwrap().contains("(it)"));
    assert_eq!(messages.last().unwrap()["content"], "Buongiorno, dov'è il mio ordine ORD-1584?");

    // The next question carries the conversation so far.
    app.inbound(channel, "+393471234567", "Marco", "Grazie! E quando arriva?").await;
    run_agents(&app).await;
    let request = model.received().pop().unwrap();
    let roles: Vec<&str> =
        request.body["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(bot_texts(&app, id).await.len(), 2);
}

async fn engine_failures_hand_over_with_a_reason(app: TestApp) {
    let model = Model::start().await;
    let (channel, _) =
        model_agent(&app, &model, json!({"first_token_timeout_ms": 300, "answer_timeout_ms": 1000})).await;
    let cases = [
        (ModelReply::Status(500), "500"),
        (ModelReply::Hang(Duration::from_secs(3)), "within 300 ms"),
        (ModelReply::Malformed, "malformed"),
        (ModelReply::Empty, "empty"),
        (ModelReply::CutOff(vec!["Il tuo ".into(), "ordine".into()]), "broke off"),
        (
            ModelReply::Answer {
                chunks: vec!["Un ".into(), "momento".into()],
                first_token: Duration::ZERO,
                pace: Duration::from_millis(1500),
            },
            "no complete answer within 1000 ms",
        ),
    ];
    for (n, (reply, detail)) in cases.into_iter().enumerate() {
        model.then(reply);
        let from = format!("+3934712300{n:02}");
        let asked = app.inbound(channel, &from, "Cliente", "Buongiorno, ho una domanda sul mio ordine").await;
        let id = asked["conversation"]["id"].as_i64().unwrap();
        run_agents(&app).await;
        let escalated = escalations(&app, id).await;
        assert_eq!(escalated.len(), 1, "case {n}");
        assert_eq!(escalated[0]["reason"], "payload_failure", "case {n}");
        assert!(escalated[0]["detail"].as_str().unwrap().contains(detail), "case {n}: {escalated:?}");
        assert_eq!(conversation(&app, id).await["handler"], "human", "case {n}");
        let told = bot_texts(&app, id).await;
        assert_eq!(told.len(), 1, "case {n}: only the handoff message: {told:?}");
        assert!(told[0].contains("operatore"), "case {n}: the customer is told in Italian: {told:?}");
    }
}

async fn the_model_marker_and_the_turn_limit_hand_over(app: TestApp) {
    let model = Model::start().await;
    let (channel, _) = model_agent(&app, &model, json!({"handoff": {"max_turns": 2, "keywords": {}}})).await;
    model.then(Model::answer("[HANDOFF] a refund needs a person"));
    let asked = app.inbound(channel, "+393471234500", "Luca", "Voglio un rimborso per il mio ordine").await;
    let id = asked["conversation"]["id"].as_i64().unwrap();
    run_agents(&app).await;
    let escalated = escalations(&app, id).await;
    assert_eq!(escalated[0]["reason"], "by_virtual_agent");
    assert_eq!(escalated[0]["detail"], "a refund needs a person");
    assert!(bot_texts(&app, id).await.iter().all(|t| !t.contains("HANDOFF")), "the marker never reaches the customer");

    let other = app.inbound(channel, "+393471234501", "Sara", "Ciao").await;
    let id = other["conversation"]["id"].as_i64().unwrap();
    run_agents(&app).await;
    app.inbound(channel, "+393471234501", "Sara", "Come va?").await;
    run_agents(&app).await;
    assert_eq!(bot_texts(&app, id).await.len(), 2);
    app.inbound(channel, "+393471234501", "Sara", "E ancora una domanda").await;
    run_agents(&app).await;
    let escalated = escalations(&app, id).await;
    assert_eq!(escalated[0]["reason"], "by_virtual_agent");
    assert!(escalated[0]["detail"].as_str().unwrap().contains("limit of 2"), "{escalated:?}");
    assert_eq!(model.count(), 3, "the limit is checked before asking the model again");
}

async fn no_bot_message_ever_follows_a_person(app: TestApp) {
    let model = Model::start().await;
    let (channel, _) = model_agent(&app, &model, json!({})).await;
    let operator = app.get("/api/v1/operators").await.body["data"][0]["id"].as_i64().unwrap();

    // A person answers before the agent runs: the owed answer is dropped.
    let first = app.inbound(channel, "+393471234510", "Anna", "Buongiorno").await;
    let id = first["conversation"]["id"].as_i64().unwrap();
    let reply =
        app.post(&format!("/api/v1/conversations/{id}/messages"), json!({"text": "Ciao Anna, sono Paolo"})).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
    assert_eq!(conversation(&app, id).await["handler"], "human");
    assert_eq!(run_agents(&app).await, 0, "nothing is owed any more");
    assert!(bot_texts(&app, id).await.is_empty());

    // A person answers while the model is writing: the generation is discarded, not sent.
    model.default_reply(ModelReply::Answer {
        chunks: vec!["Certo, ".into(), "ti aiuto ".into(), "subito.".into()],
        first_token: Duration::from_millis(100),
        pace: Duration::from_millis(150),
    });
    let second = app.inbound(channel, "+393471234511", "Bruno", "Buongiorno").await;
    let id = second["conversation"]["id"].as_i64().unwrap();
    let running = tokio::spawn({
        let state = app.state.clone();
        async move { parley::service::answers::run_once(&state).await.unwrap() }
    });
    while model.count() < 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let reply = app.post(&format!("/api/v1/conversations/{id}/messages"), json!({"text": "Ci penso io"})).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    running.await.unwrap();
    let messages = thread(&app, id).await;
    assert!(messages.iter().all(|m| m["sender"]["type"] != "virtual_agent"), "{messages:?}");

    // Assigning a person takes the conversation too, and the agent's key-less sends are refused.
    let third = app.inbound(channel, "+393471234512", "Carla", "Salve").await;
    let id = third["conversation"]["id"].as_i64().unwrap();
    let assigned = app.patch(&format!("/api/v1/conversations/{id}"), json!({"assignee_id": operator})).await;
    assert_eq!(assigned.body["handler"], "human");
    assert_eq!(run_agents(&app).await, 0);
    // Taken over and handed back: the agent answers the next message again.
    let back = app.post(&format!("/api/v1/conversations/{id}/handback"), json!({})).await;
    assert_eq!(back.status, StatusCode::OK, "{back:?}");
    assert_eq!(back.body["handler"], "virtual_agent");
    assert_eq!(back.body["assignee_id"], Value::Null);
    app.inbound(channel, "+393471234512", "Carla", "Ci siete?").await;
    run_agents(&app).await;
    assert_eq!(bot_texts(&app, id).await.len(), 1);
    let taken = app.post(&format!("/api/v1/conversations/{id}/takeover"), json!({})).await;
    assert_eq!(taken.body["handler"], "human");
    app.inbound(channel, "+393471234512", "Carla", "Grazie").await;
    assert_eq!(run_agents(&app).await, 0);
    assert_eq!(bot_texts(&app, id).await.len(), 1);
}

async fn a_burst_gets_one_answer_and_a_newer_message_restarts_it(app: TestApp) {
    let model = Model::start().await;
    let (channel, _) = model_agent(&app, &model, json!({})).await;
    let texts = ["Buongiorno", "ho ordinato", "un telefono", "ieri sera", "dove lo trovo?"];
    let mut id = 0;
    for text in texts {
        id = app.inbound(channel, "+393471234520", "Dario", text).await["conversation"]["id"].as_i64().unwrap();
    }
    run_agents(&app).await;
    assert_eq!(model.count(), 1, "five messages, one generation");
    assert_eq!(bot_texts(&app, id).await.len(), 1);
    let asked = model.received().pop().unwrap();
    assert_eq!(asked.body["messages"].as_array().unwrap().last().unwrap()["content"], texts.join("\n"));

    // A customer message during a generation makes it stale: discarded, then answered once.
    model.then(ModelReply::Answer {
        chunks: vec!["Un ".into(), "attimo".into()],
        first_token: Duration::from_millis(50),
        pace: Duration::from_millis(200),
    });
    app.inbound(channel, "+393471234520", "Dario", "Ah, e la fattura?").await;
    let running = tokio::spawn({
        let state = app.state.clone();
        async move { parley::service::answers::run_once(&state).await.unwrap() }
    });
    while model.count() < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    app.inbound(channel, "+393471234520", "Dario", "serve intestata all'azienda").await;
    running.await.unwrap();
    assert_eq!(bot_texts(&app, id).await.len(), 1, "the overtaken answer was not sent");
    run_agents(&app).await;
    let answers = bot_texts(&app, id).await;
    assert_eq!(answers.len(), 2, "{answers:?}");
    let asked = model.received().pop().unwrap();
    assert_eq!(
        asked.body["messages"].as_array().unwrap().last().unwrap()["content"],
        "Ah, e la fattura?\nserve intestata all'azienda"
    );
}

async fn a_crash_mid_generation_still_answers_exactly_once(app: TestApp) {
    let model = Model::start().await;
    let (channel, _) = model_agent(&app, &model, json!({})).await;
    model.then(ModelReply::Answer {
        chunks: vec!["Sto ".into(), "controllando".into()],
        first_token: Duration::from_millis(50),
        pace: Duration::from_secs(2),
    });
    let asked = app.inbound(channel, "+393471234530", "Elena", "Il mio pacco è in ritardo").await;
    let id = asked["conversation"]["id"].as_i64().unwrap();
    let crashed = tokio::spawn({
        let state = app.state.clone();
        async move { parley::service::answers::run_once(&state).await.unwrap() }
    });
    while model.count() < 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    crashed.abort();
    let _ = crashed.await;
    assert!(bot_texts(&app, id).await.is_empty(), "nothing was sent by the crashed generation");
    assert_eq!(run_agents(&app).await, 0, "the claimed run stays leased");
    // The lease runs out (as it would after the crash): the answer is written again, once.
    sqlx::query("UPDATE agent_runs SET locked_until = 1").execute(app.state.db.writer()).await.unwrap();
    assert_eq!(run_agents(&app).await, 1);
    assert_eq!(run_agents(&app).await, 0);
    app.drain_jobs().await;
    assert_eq!(bot_texts(&app, id).await, ["Ciao! Come posso aiutarti?"]);
    assert_eq!(model.count(), 2);
}

async fn escalations_through_the_api(app: TestApp) {
    let (channel, agent) = knowledge_base_agent(&app).await;
    let asked = app.inbound(channel, "+393471234540", "Franco", "Buonasera").await;
    let id = asked["conversation"]["id"].as_i64().unwrap();
    let path = format!("/api/v1/conversations/{id}/escalations");
    assert_field_error(&app.post(&path, json!({"reason": "bored"})).await, "reason");
    let escalated = app.post(&path, json!({"detail": "pressed the button"})).await;
    assert_eq!(escalated.status, StatusCode::CREATED, "{escalated:?}");
    assert_eq!(escalated.body["status"], "escalating");
    assert_eq!(escalated.body["reason"], "by_end_user_ask");
    assert_eq!(escalated.body["virtual_agent_id"], agent);
    assert_eq!(conversation(&app, id).await["handler"], "human");
    assert!(bot_texts(&app, id).await[0].contains("operatore"), "the customer is told");
    assert_eq!(run_agents(&app).await, 0, "the owed answer is dropped");

    assert_problem(&app.post(&path, json!({})).await, StatusCode::CONFLICT, "not_handled_by_agent");
    let forced = app.post(&path, json!({"force": true, "reason": "by_human_agent"})).await;
    assert_eq!(forced.status, StatusCode::CREATED, "{forced:?}");
    assert_eq!(forced.body["virtual_agent_id"], Value::Null);

    let one = format!("{path}/{}", escalated.body["id"]);
    let deflecting = app.patch(&one, json!({"deflection_channel": "email"})).await;
    assert_eq!(deflecting.body["status"], "deflecting", "{deflecting:?}");
    assert_eq!(deflecting.body["deflection_channel"], "email");
    let deflected = app.patch(&one, json!({"status": "deflected"})).await;
    assert_eq!(deflected.body["status"], "deflected");
    assert_problem(&app.patch(&one, json!({"status": "escalating"})).await, StatusCode::CONFLICT, "escalation_status");
    assert_eq!(app.get(&path).await.body["data"].as_array().unwrap().len(), 2);

    // Handed back to the agent while it still waited for a person: that escalation is canceled.
    let waiting = app.get(&path).await.body["data"][1].clone();
    assert_eq!(waiting["status"], "escalating");
    let back = app.post(&format!("/api/v1/conversations/{id}/handback"), json!({})).await;
    assert_eq!(back.body["handler"], "virtual_agent", "{back:?}");
    assert_eq!(back.body["waiting_since"], Value::Null);
    let after = app.get(&path).await.body["data"][1].clone();
    assert_eq!(after["status"], "canceled");
    assert_eq!(after["id"], waiting["id"]);

    // Another account sees none of it.
    let other = app.other_account_key().await;
    for (method, target) in [
        (Method::GET, path.clone()),
        (Method::GET, format!("/api/v1/agents/{agent}")),
        (Method::GET, format!("/api/v1/agents/{agent}/articles")),
        (Method::GET, format!("/api/v1/agents/{agent}/articles/search?q=spedizione")),
    ] {
        let hidden = app.call_as(&other, method, &target, None).await;
        assert_problem(&hidden, StatusCode::NOT_FOUND, "not_found");
    }
    let theirs = app.call_as(&other, Method::GET, "/api/v1/agents", None).await;
    assert_eq!(theirs.body["data"], json!([]));
    let stolen = app
        .call_as(
            &other,
            Method::POST,
            "/api/v1/agents",
            Some(json!({"name": "Thief", "engine": "knowledge_base", "channels": [{"channel_id": channel}]})),
        )
        .await;
    assert_field_error(&stolen, "channels");
}

async fn agents_are_checked_and_secrets_stay_hidden(app: TestApp) {
    let channel = app.channel("whatsapp", "+393209998855", true).await;
    let bad = app
        .post(
            "/api/v1/agents",
            json!({"name": "", "engine": "openai", "settings": {"base_url": "ftp://x", "colour": "red"},
                   "languages": [], "first_token_timeout_ms": 5, "handoff": {"max_turns": 0}}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
    let fields: Vec<&str> =
        bad.body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    for field in [
        "name",
        "languages",
        "settings.base_url",
        "settings.colour",
        "settings.model",
        "handoff.max_turns",
        "first_token_timeout_ms",
    ] {
        assert!(fields.contains(&field), "{field} in {fields:?}");
    }
    assert_field_error(&app.post("/api/v1/agents", json!({"name": "X", "engine": "oracle"})).await, "engine");
    assert_eq!(app.get("/api/v1/agents").await.body["data"], json!([]), "nothing was created");

    let created = app
        .post(
            "/api/v1/agents",
            json!({"name": "Bot", "engine": "webhook", "settings": {"url": "https://bot.example.com/parley",
                   "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "channels": [{"channel_id": channel}]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert!(!created.body.to_string().contains("whsec_"), "the secret is never shown");
    assert_eq!(created.body["secrets_set"], json!(["secret"]));
    assert_eq!(created.body["handoff"]["keywords"]["it"][0], "operatore", "default keywords");
    let id = created.body["id"].as_i64().unwrap();
    let before = app.inbound(channel, "+393471234549", "Ugo", "Ciao").await;
    assert_eq!(before["conversation"]["handler"], "virtual_agent");
    let renamed = app.patch(&format!("/api/v1/agents/{id}"), json!({"name": "Bot 2", "status": "paused"})).await;
    assert_eq!(renamed.body["secrets_set"], json!(["secret"]), "an omitted secret stays");
    assert_eq!(renamed.body["status"], "paused");
    let taken = app
        .post(
            "/api/v1/agents",
            json!({"name": "Other", "engine": "knowledge_base", "channels": [{"channel_id": channel}]}),
        )
        .await;
    assert_problem(&taken, StatusCode::CONFLICT, "channel_taken");
    // A paused agent does not answer: its conversations go to people, new ones start with people.
    app.drain_jobs().await;
    let stranded = before["conversation"]["id"].as_i64().unwrap();
    assert_eq!(app.get(&format!("/api/v1/conversations/{stranded}")).await.body["handler"], "human");
    let escalated = app.get(&format!("/api/v1/conversations/{stranded}/escalations")).await;
    assert_eq!(escalated.body["data"][0]["reason"], "could_not_resume");
    assert!(bot_texts(&app, stranded).await.is_empty(), "a paused agent says nothing");
    let asked = app.inbound(channel, "+393471234550", "Gino", "Ciao").await;
    assert_eq!(asked["conversation"]["handler"], "human");
    let engines = app.get("/api/v1/agent-engines").await;
    let names: Vec<&str> =
        engines.body["data"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["knowledge_base", "openai", "webhook"]);
    assert_eq!(app.delete(&format!("/api/v1/agents/{id}")).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("/api/v1/agents/{id}")).await.status, StatusCode::NOT_FOUND);
}

async fn trying_an_agent_streams_its_draft(app: TestApp) {
    let model = Model::start().await;
    let (_, agent) = model_agent(&app, &model, json!({})).await;
    let stream =
        app.client.get(format!("{}/api/v1/events", app.base)).header("X-Api-Key", &app.key).send().await.unwrap();
    let tried = app.post(&format!("/api/v1/agents/{agent}/try"), json!({"text": "Ciao!", "draft_id": "pane-1"})).await;
    assert_eq!(tried.status, StatusCode::OK, "{tried:?}");
    assert_eq!(tried.body["outcome"], "answer");
    assert_eq!(tried.body["text"], "Ciao! Come posso aiutarti?");
    let deltas = read_deltas(stream, "Ciao! Come posso aiutarti?").await;
    assert!(deltas.iter().all(|d| d["data"]["draft_id"] == "try-pane-1"));
    let handoff = app.post(&format!("/api/v1/agents/{agent}/try"), json!({"text": "voglio un operatore"})).await;
    assert_eq!(handoff.body["outcome"], "handoff");
    assert_field_error(&app.post(&format!("/api/v1/agents/{agent}/try"), json!({"text": ""})).await, "text");
}

/// Reads `message.delta` events until one carries the whole `text`.
async fn read_deltas(response: reqwest::Response, text: &str) -> Vec<Value> {
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut deltas: Vec<Value> = Vec::new();
    let collect = async {
        while !deltas.iter().any(|d| d["data"]["text"] == text) {
            let Some(chunk) = stream.next().await else { break };
            buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                if block.contains("event: message.delta") {
                    let data = block.lines().find_map(|l| l.strip_prefix("data:")).unwrap();
                    deltas.push(serde_json::from_str(data.trim()).unwrap());
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), collect).await.expect("the draft streamed");
    deltas
}

/// A stand-in external bot: records each turn Parley POSTs and answers with the queued status and
/// body (200 with a text by default).
#[derive(Clone, Default)]
struct Bot {
    turns: std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String)>>>,
    answers: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<(u16, String)>>>,
}

impl Bot {
    async fn start(self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/turn", listener.local_addr().unwrap());
        let bot = self.clone();
        let router = axum::Router::new().route(
            "/turn",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let bot = bot.clone();
                async move {
                    bot.turns.lock().unwrap().push((headers, body));
                    let (status, body) =
                        bot.answers.lock().unwrap().pop_front().unwrap_or((200, r#"{"text":"Ciao dal bot!"}"#.into()));
                    (axum::http::StatusCode::from_u16(status).unwrap(), body)
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        url
    }
}

const BOT_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Checks a Standard Webhooks signature independently of Parley's code.
fn signed(headers: &axum::http::HeaderMap, body: &str) -> bool {
    use base64::Engine;
    use hmac::Mac;
    let key = base64::engine::general_purpose::STANDARD.decode(BOT_SECRET.trim_start_matches("whsec_")).unwrap();
    let id = headers["webhook-id"].to_str().unwrap();
    let timestamp = headers["webhook-timestamp"].to_str().unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let expected = format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()));
    headers["webhook-signature"].to_str().unwrap().split(' ').any(|s| s == expected)
}

async fn an_external_bot_answers_in_its_response_or_through_the_api(app: TestApp) {
    let bot = Bot::default();
    let url = bot.clone().start().await;
    let channel = app.channel("whatsapp", "+393209998844", true).await;
    let agent = app
        .post(
            "/api/v1/agents",
            json!({"name": "n8n", "engine": "webhook", "languages": ["it"], "settings": {"url": url, "secret": BOT_SECRET},
                   "channels": [{"channel_id": channel}], "first_token_timeout_ms": 1000, "answer_timeout_ms": 2000}),
        )
        .await;
    assert_eq!(agent.status, StatusCode::CREATED, "{agent:?}");
    let agent = agent.body["id"].as_i64().unwrap();

    // The bot answers in its response.
    let asked = app.inbound(channel, "+393471234560", "Ivo", "Ciao, siete aperti?").await;
    let id = asked["conversation"]["id"].as_i64().unwrap();
    run_agents(&app).await;
    let (headers, body) = bot.turns.lock().unwrap().pop().unwrap();
    assert!(signed(&headers, &body), "the turn is signed as Parley's webhooks are");
    let turn: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(turn["type"], "agent.turn");
    assert_eq!(turn["data"]["question"], "Ciao, siete aperti?");
    assert_eq!(turn["data"]["conversation"]["id"], id);
    assert_eq!(turn["data"]["virtual_agent"]["id"], agent);
    assert_eq!(bot_texts(&app, id).await, ["Ciao dal bot!"]);

    // The bot takes the turn (202) and answers through the API with the agent's own key.
    let key = app.post("/api/v1/api-keys", json!({"name": "n8n bot", "virtual_agent_id": agent})).await;
    assert_eq!(key.status, StatusCode::CREATED, "{key:?}");
    assert_eq!(key.body["virtual_agent_id"], agent);
    let key = key.body["value"].as_str().unwrap().to_owned();
    bot.answers.lock().unwrap().push_back((202, String::new()));
    app.inbound(channel, "+393471234560", "Ivo", "E domenica?").await;
    run_agents(&app).await;
    assert_eq!(bot_texts(&app, id).await.len(), 1, "nothing yet: the bot answers later");
    let path = format!("/api/v1/conversations/{id}/messages");
    let answered = app.call_as(&key, Method::POST, &path, Some(json!({"text": "Domenica siamo chiusi."}))).await;
    assert_eq!(answered.status, StatusCode::ACCEPTED, "{answered:?}");
    assert_eq!(answered.body["sender"], json!({"type": "virtual_agent", "id": agent}));
    sqlx::query("UPDATE agent_runs SET due_at = 1").execute(app.state.db.writer()).await.unwrap();
    assert_eq!(run_agents(&app).await, 0, "the turn is done: no timeout handoff follows");
    let scoped = app.call_as(&key, Method::GET, "/api/v1/contacts", None).await;
    assert_problem(&scoped, StatusCode::FORBIDDEN, "virtual_agent_key");
    let document = app.get("/api/v1/openapi.json").await.body;
    assert!(document["paths"]["/api/v1/contacts"]["get"]["responses"]["403"].is_object(), "the 403 is documented");
    assert_eq!(app.call_as(&key, Method::GET, &path, None).await.status, StatusCode::OK);

    // A bot that takes the turn and stays silent hands the conversation to people.
    bot.answers.lock().unwrap().push_back((202, String::new()));
    app.inbound(channel, "+393471234560", "Ivo", "Ci siete?").await;
    run_agents(&app).await;
    sqlx::query("UPDATE agent_runs SET due_at = 1, awaiting_bot_until = 1")
        .execute(app.state.db.writer())
        .await
        .unwrap();
    run_agents(&app).await;
    let escalated = escalations(&app, id).await;
    assert_eq!(escalated[0]["reason"], "payload_failure");
    assert!(escalated[0]["detail"].as_str().unwrap().contains("did not answer"), "{escalated:?}");
    // Once people have it, the bot's key cannot write there any more.
    let late = app.call_as(&key, Method::POST, &path, Some(json!({"text": "Eccomi!"}))).await;
    assert_problem(&late, StatusCode::CONFLICT, "not_handled_by_agent");

    // A failing bot hands over at once.
    bot.answers.lock().unwrap().push_back((500, "oops".into()));
    let other = app.inbound(channel, "+393471234561", "Lia", "Buongiorno").await;
    let other = other["conversation"]["id"].as_i64().unwrap();
    run_agents(&app).await;
    let escalated = escalations(&app, other).await;
    assert_eq!(escalated[0]["reason"], "payload_failure");
    assert!(escalated[0]["detail"].as_str().unwrap().contains("500"));
}

async fn answers_are_shared_fairly_between_accounts(app: TestApp) {
    let model = Model::start().await;
    let (busy, _) = model_agent(&app, &model, json!({})).await;
    for n in 0..3 {
        app.inbound(busy, &format!("+3934712346{n:02}"), "Cliente", &format!("busy account, customer {n}")).await;
    }
    let other = app.other_account_key().await;
    let channel = app
        .call_as(
            &other,
            Method::POST,
            "/api/v1/channels",
            Some(json!({"kind": "whatsapp", "name": "Other", "address": "+393209990000", "simulation": true})),
        )
        .await;
    let channel = channel.body["id"].as_i64().unwrap();
    let agent = app
        .call_as(
            &other,
            Method::POST,
            "/api/v1/agents",
            Some(json!({"name": "Other", "engine": "openai", "settings": {"base_url": model.base, "model": "m"},
                        "channels": [{"channel_id": channel}]})),
        )
        .await;
    assert_eq!(agent.status, StatusCode::CREATED, "{agent:?}");
    let path = format!("/api/v1/channels/{channel}/inbound");
    let asked =
        app.call_as(&other, Method::POST, &path, Some(json!({"from": "+393471234699", "text": "quiet account"}))).await;
    assert_eq!(asked.status, StatusCode::CREATED);

    // The busy account's three answers do not hold up the other account's one.
    assert_eq!(run_agents(&app).await, 2, "one answer per account at a time");
    let questions: Vec<String> = model
        .received()
        .iter()
        .map(|r| r.body["messages"].as_array().unwrap().last().unwrap()["content"].to_string())
        .collect();
    assert!(questions.iter().any(|q| q.contains("quiet account")), "{questions:?}");
    assert_eq!(run_agents(&app).await, 1);
    assert_eq!(run_agents(&app).await, 1);
    assert_eq!(run_agents(&app).await, 0);
    assert_eq!(model.count(), 4);
}

mod one_per_account {
    use super::*;

    /// One answer at a time per account.
    const FLAGS: &[&str] = &["--agent-debounce-ms", "0", "--agent-concurrency-per-account", "1"];

    crate::backend_tests!(with FLAGS; answers_are_shared_fairly_between_accounts);
}

crate::backend_tests!(with FLAGS;
    an_external_bot_answers_in_its_response_or_through_the_api,
    knowledge_base_agent_answers_and_hands_over_on_a_keyword,
    the_knowledge_base_finds_the_right_article_in_three_languages,
    a_model_answer_streams_then_arrives_as_one_message,
    engine_failures_hand_over_with_a_reason,
    the_model_marker_and_the_turn_limit_hand_over,
    no_bot_message_ever_follows_a_person,
    a_burst_gets_one_answer_and_a_newer_message_restarts_it,
    a_crash_mid_generation_still_answers_exactly_once,
    escalations_through_the_api,
    agents_are_checked_and_secrets_stay_hidden,
    trying_an_agent_streams_its_draft,
);
