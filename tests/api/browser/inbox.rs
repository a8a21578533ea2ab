//! The operator inbox in a real browser: list, filters and search, the thread, replies with their delivery
//! ticks, attachments from the media library, live updates, archiving, and templates once the WhatsApp
//! window has closed.

use fantoccini::key::Key;
use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{Browser, Options};
use crate::helpers::{spawn_app_with, Backend, TestApp};

async fn app() -> TestApp {
    spawn_app_with(Backend::Sqlite, &[]).await
}

/// A row of the conversation list.
fn row(id: i64) -> String {
    format!("[data-testid=conversation-row][data-id='{id}']")
}

/// The row at the top of the list.
const TOP_ROW: &str = "[data-testid=conversation-row][data-index='0']";

/// The message bubble with this id.
fn bubble(id: i64) -> String {
    format!("[data-testid=message][data-id='{id}']")
}

/// A WhatsApp simulation channel with one customer who wrote; returns (channel, conversation).
async fn whatsapp_conversation(app: &TestApp) -> (i64, i64) {
    let channel = app.channel("whatsapp", "+390212345678", true).await;
    let result = app.inbound(channel, "+393471488489", "Mario Esposito", "Buongiorno, il mio ordine?").await;
    (channel, result["conversation"]["id"].as_i64().unwrap())
}

/// The id of the newest message of a conversation, as the API shows it.
async fn newest_message(app: &TestApp, conversation: i64) -> Value {
    let page = app.get(&format!("/api/v1/conversations/{conversation}/messages?limit=1")).await;
    page.body["data"][0].clone()
}

async fn run_jobs_once(app: &TestApp) {
    parley::jobs::run_once(&app.state).await.expect("jobs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_in_filter_by_channel_search_and_open_a_conversation() {
    let app = app().await;
    let whatsapp = app.channel("whatsapp", "+390212345678", true).await;
    let messenger = app.channel("messenger", "1029384756", true).await;
    app.inbound(whatsapp, "+393471000001", "Giulia Rossi", "Vorrei cambiare la taglia").await;
    app.inbound(whatsapp, "+393471000002", "Luca Neri", "Quando arriva la spedizione?").await;
    let on_messenger = app.inbound(messenger, "9000001", "Sara Verdi", "Avete il rosso?").await;
    let sara = on_messenger["conversation"]["id"].as_i64().unwrap();

    let browser = Browser::open(&app).await;
    browser.login().await;
    browser.wait_until("document.querySelectorAll('[data-testid=conversation-row]').length === 3").await;
    // Newest activity first, each with its channel's icon and an unread badge.
    assert_eq!(browser.attr(TOP_ROW, "data-id").await, Some(sara.to_string()));
    assert_eq!(browser.count("[data-testid=unread-badge]").await, 3);
    assert_eq!(browser.count("[data-testid=conversation-row] svg[aria-label=WhatsApp]").await, 2);

    browser.click("[data-testid=inbox-filter][data-kind=messenger]").await;
    browser.wait_until("document.querySelectorAll('[data-testid=conversation-row]').length === 1").await;
    browser.wait_for(&row(sara)).await;
    browser.click("[data-testid=inbox-filter][data-kind='']").await;
    browser.wait_until("document.querySelectorAll('[data-testid=conversation-row]').length === 3").await;

    // Search matches words in the messages.
    browser.type_into("[data-testid=search-input]", "spedizione").await;
    browser.wait_until("document.querySelectorAll('[data-testid=conversation-row]').length === 1").await;
    browser.wait_for_text("[data-testid=conversation-row]", "Quando arriva la spedizione?").await;
    browser.clear("[data-testid=search-input]").await;
    browser.type_into("[data-testid=search-input]", "Verdi").await;
    browser.wait_until("document.querySelectorAll('[data-testid=conversation-row]').length === 1").await;
    browser.wait_for(&row(sara)).await;

    // Opening it shows the thread and reads it.
    browser.click(&row(sara)).await;
    browser.wait_for_text("[data-testid=thread]", "Avete il rosso?").await;
    browser.wait_for_text("[data-testid=thread-contact-name]", "Sara Verdi").await;
    assert!(browser.current_url().await.ends_with(&format!("#/c/{sara}")));
    browser.wait_gone(&format!("{} [data-testid=unread-badge]", row(sara))).await;
    assert_eq!(app.get(&format!("/api/v1/conversations/{sara}")).await.body["unread_count"], 0);
    browser.clear("[data-testid=search-input]").await;
    browser.type_into("[data-testid=search-input]", " ").await;
    browser.wait_until("document.querySelectorAll('[data-testid=conversation-row]').length === 3").await;

    // Filters: unread, status, assigned to me.
    browser.click("[data-testid=filter-unread]").await;
    browser.wait_until("document.querySelectorAll('[data-testid=conversation-row]').length === 2").await;
    browser.click("[data-testid=filter-unread]").await;
    let operators = app.get("/api/v1/operators").await.body["data"].clone();
    let me = operators.as_array().unwrap().iter().find(|o| o["email"] == "admin@example.com").unwrap()["id"].clone();
    let reply =
        app.patch(&format!("/api/v1/conversations/{sara}"), json!({"assignee_id": me, "status": "resolved"})).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    browser.click("[data-testid=filter-mine]").await;
    browser.wait_until("document.querySelectorAll('[data-testid=conversation-row]').length === 1").await;
    browser.wait_for(&row(sara)).await;
    browser.click("[data-testid=filter-mine]").await;
    browser.wait_for("[data-testid=filter-status]").await.select_by_value("open").await.unwrap();
    browser.wait_until("document.querySelectorAll('[data-testid=conversation-row]').length === 2").await;
    browser.wait_gone(&row(sara)).await;

    // Logging out returns to the login form, and the API no longer answers the page.
    browser.click("[data-testid=logout-button]").await;
    browser.wait_for("[data-testid=login-form]").await;
    let status = browser.exec("return fetch('/api/v1/conversations').then((r) => r.status);").await;
    assert_eq!(status, 401);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn narrow_windows_keep_the_contact_pane_behind_a_toggle() {
    let app = app().await;
    let (_, conversation) = whatsapp_conversation(&app).await;
    let browser = Browser::open_with(&app, Options { width: 768, height: 700, ..Options::default() }).await;
    browser.login().await;
    browser.goto(&format!("/#/c/{conversation}")).await;
    browser.wait_for_text("[data-testid=thread]", "il mio ordine?").await;
    browser.wait_for(&row(conversation)).await;
    browser.wait_gone("[data-testid=contact-pane]").await;
    browser.click("[data-testid=contact-pane-toggle]").await;
    browser.wait_for("[data-testid=contact-pane]").await;
    assert_eq!(browser.attr("[data-testid=contact-pane-toggle]", "aria-expanded").await.as_deref(), Some("true"));
    browser.screenshot("inbox-768-contact-pane").await;
    browser.click("[data-testid=contact-pane-toggle]").await;
    browser.wait_gone("[data-testid=contact-pane]").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_scrolls_through_many_conversations_rendering_only_what_shows() {
    let app = app().await;
    let channel = app.channel("sms", "+390212345680", true).await;
    for n in 0..260 {
        app.inbound(channel, &format!("+39347{n:07}"), &format!("Cliente {n}"), &format!("Messaggio {n}")).await;
    }
    let browser = Browser::open(&app).await;
    browser.login().await;
    browser.wait_for_text("[data-testid=conversation-count]", "260").await;
    let rendered = browser.count("[data-testid=conversation-row]").await;
    assert!(rendered < 40, "only the visible rows exist, not {rendered}");
    // Scrolling to the end fetches the further pages as needed.
    browser.exec("document.querySelector('[data-testid=conversation-list]').scrollTop = 1e7;").await;
    browser.wait_for_text("[data-testid=conversation-list]", "Messaggio 0").await;
    assert!(browser.count("[data-testid=conversation-row]").await < 40);
    // Arrow keys move through the list and Enter opens a conversation.
    browser.exec("document.querySelector('[data-testid=conversation-list]').scrollTop = 0;").await;
    browser.click("[data-testid=conversation-list]").await;
    browser.press(&[Key::Home]).await;
    browser.press(&[Key::Down]).await;
    browser.press_enter().await;
    browser.wait_for_text("[data-testid=thread]", "Messaggio 258").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_goes_out_and_its_ticks_move_as_the_simulation_delivers_it() {
    let app = app().await;
    let (_, conversation) = whatsapp_conversation(&app).await;
    let browser = Browser::open(&app).await;
    browser.login().await;
    browser.goto(&format!("/#/c/{conversation}")).await;
    browser.wait_for_text("[data-testid=thread]", "il mio ordine?").await;

    // Shift+Enter breaks the line, Enter sends.
    browser.click("[data-testid=composer-input]").await;
    browser.type_into("[data-testid=composer-input]", "Buongiorno Mario,").await;
    browser.press(&[Key::Shift, Key::Enter]).await;
    browser.type_into("[data-testid=composer-input]", "è partito oggi 🚚").await;
    browser.press_enter().await;
    browser.wait_for("[data-testid=message][data-direction=outbound]").await;
    let sent = newest_message(&app, conversation).await;
    assert_eq!(sent["text"], "Buongiorno Mario,\nè partito oggi 🚚");
    let id = sent["id"].as_i64().unwrap();
    assert_eq!(browser.exec("return document.querySelector('[data-testid=composer-input]').value;").await, "");

    // The emoji picker works from the keyboard: arrows move, Enter inserts, Escape closes.
    browser.click("[data-testid=emoji-button]").await;
    browser.wait_for("[data-testid=emoji-picker]").await;
    browser.press(&[Key::Right]).await;
    browser.press_enter().await;
    browser.wait_gone("[data-testid=emoji-picker]").await;
    assert_eq!(browser.exec("return document.activeElement.dataset.testid;").await, "composer-input");
    assert_eq!(browser.exec("return document.querySelector('[data-testid=composer-input]').value;").await, "😂");
    browser.click("[data-testid=emoji-button]").await;
    browser.press(&[Key::Escape]).await;
    browser.wait_gone("[data-testid=emoji-picker]").await;
    assert_eq!(browser.exec("return document.activeElement.dataset.testid;").await, "emoji-button");
    browser.clear("[data-testid=composer-input]").await;

    run_jobs_once(&app).await;
    browser.wait_for(&format!("{}[data-status=sent]", bubble(id))).await;
    assert_eq!(browser.text(&format!("{} [data-testid=message-status]", bubble(id))).await, "✓");
    run_jobs_once(&app).await;
    app.drain_jobs().await;
    browser.wait_for(&format!("{}[data-status=read] .ticks.read", bubble(id))).await;
    assert_eq!(browser.text(&format!("{} [data-testid=message-status]", bubble(id))).await, "✓✓");

    // On a live channel without its provider's settings (its SMTP server) the send fails, and the
    // bubble says why.
    let mail = app.channel("email", "shop@example.com", true).await;
    sqlx::query("UPDATE channels SET simulation = 0 WHERE id = $1")
        .bind(mail)
        .execute(app.state.db.writer())
        .await
        .unwrap();
    let result = app.inbound(mail, "teresa@example.com", "Teresa Fontana", "Ciao").await;
    let unconnected = result["conversation"]["id"].as_i64().unwrap();
    browser.click(&row(unconnected)).await;
    browser.wait_for_text("[data-testid=thread]", "Ciao").await;
    browser.type_into("[data-testid=composer-input]", "Risposta").await;
    browser.press_enter().await;
    browser.wait_for("[data-testid=message][data-direction=outbound][data-status=queued]").await;
    app.drain_jobs().await;
    browser
        .wait_for_text("[data-testid=message][data-status=failed] [data-testid=message-error]", "no SMTP server")
        .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_composer_counts_sms_parts_and_the_contact_pane_shows_an_opt_out() {
    let app = app().await;
    let sms = app.channel("sms", "+390298765432", true).await;
    let started = app.inbound(sms, "+393471488489", "Mario Esposito", "Il pacco?").await;
    let conversation = started["conversation"]["id"].as_i64().unwrap();
    let (_, on_whatsapp) = whatsapp_conversation(&app).await;
    app.inbound(sms, "+393471488489", "Mario Esposito", "STOP").await;
    let browser = Browser::open(&app).await;
    browser.login().await;
    browser.goto(&format!("/#/c/{conversation}")).await;
    browser.wait_for_text("[data-testid=thread]", "Il pacco?").await;
    // The contact pane says the customer opted out of SMS.
    browser.wait_for("[data-testid=identity] [data-testid=identity-opted-out]").await;
    let counter = "document.querySelector('[data-testid=sms-parts]')";
    browser.wait_until(&format!("{counter}.hidden")).await;

    // 161 GSM characters: two parts of 153; "€" takes two places; one "ã" makes it UCS-2.
    browser.type_into("[data-testid=composer-input]", &"a".repeat(161)).await;
    browser.wait_until(&format!("!{counter}.hidden && /GSM-7.*2.*145/.test({counter}.textContent)")).await;
    browser.clear("[data-testid=composer-input]").await;
    browser.type_into("[data-testid=composer-input]", &format!("{}€", "a".repeat(158))).await;
    browser.wait_until(&format!("/GSM-7.*1.*0/.test({counter}.textContent)")).await;
    browser.clear("[data-testid=composer-input]").await;
    browser.type_into("[data-testid=composer-input]", "Ciao ã").await;
    browser.wait_until(&format!("/UCS-2.*1.*64/.test({counter}.textContent)")).await;

    // A private note is no SMS; WhatsApp has no parts.
    browser.click("[data-testid=private-toggle]").await;
    browser.wait_until(&format!("{counter}.hidden")).await;
    browser.goto(&format!("/#/c/{on_whatsapp}")).await;
    browser.wait_for_text("[data-testid=thread]", "il mio ordine?").await;
    browser.type_into("[data-testid=composer-input]", "Buongiorno").await;
    browser.wait_until(&format!("{counter}.hidden")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_shows_media_locations_reactions_replies_and_notes_in_place() {
    let app = app().await;
    let (channel, conversation) = whatsapp_conversation(&app).await;
    for (kind, address, from, name, text) in [
        ("messenger", "1029384756", "9000001", "Sara Verdi", "Avete il maglione in rosso?"),
        ("instagram", "17841400000", "17841400001", "Luca Neri", "Bellissima la nuova collezione!"),
        ("sms", "+390212345680", "+393471000003", "Anna Conti", "Confermo il ritiro per domani"),
        ("email", "support@example.com", "paolo@example.org", "Paolo Gallo", "Richiesta fattura ordine 1542"),
    ] {
        let other = app.channel(kind, address, true).await;
        app.inbound(other, from, name, text).await;
    }
    let mario = app.get(&format!("/api/v1/conversations/{conversation}")).await.body["contact"]["id"].clone();
    let reply = app.patch(&format!("/api/v1/contacts/{mario}"), json!({"in_address_book": true})).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let inbound_path = format!("/api/v1/channels/{channel}/inbound");
    let inbound = |body: Value| app.post(&inbound_path, body);
    let browser = Browser::open(&app).await;
    browser.login().await;
    // A voice note, a video and a PDF as WhatsApp reports them (the bytes need not play).
    for (kind, content_type, filename) in [
        ("audio", "audio/ogg", "nota.ogg"),
        ("video", "video/mp4", "unboxing.mp4"),
        ("document", "application/pdf", "fattura-1542.pdf"),
    ] {
        let key = upload_file(&browser, filename, content_type).await;
        let payload = json!({kind: {"filename": filename}});
        inbound(json!({"from": "+393471488489", "type": kind, "media_key": key, "payload": payload})).await;
    }
    // A PDF the business sends from its library shows the name it was uploaded with.
    let quote = upload_file(&browser, "preventivo.pdf", "application/pdf").await;
    let sent = app
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            json!({"media_keys": [quote], "simulation": true}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{sent:?}");

    let photo = browser.exec(&format!("{DRAW_A_PICTURE}{UPLOAD_A_PICTURE}")).await;
    inbound(json!({"from": "+393471488489", "type": "image", "media_key": photo, "text": "La foto del pacco"})).await;
    inbound(json!({"from": "+393471488489", "type": "location", "payload": {"location":
        {"latitude": 45.4642, "longitude": 9.19, "name": "Duomo", "address": "Piazza del Duomo, Milano"}}}))
    .await;
    let answer = app
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            json!({"text": "Arriva domani entro le 12", "simulation": true}),
        )
        .await;
    let answer = answer.body["id"].as_i64().unwrap();
    app.drain_jobs().await;
    let asked = newest_message(&app, conversation).await;
    inbound(json!({"from": "+393471488489", "provider_message_id": "wamid.quote",
        "text": "Perfetto, grazie!", "payload": {"context": {"message_id": answer}}}))
    .await;
    inbound(json!({"from": "+393471488489", "type": "reaction", "payload": {"message_id": answer, "emoji": "❤️"}}))
        .await;
    app.post(
        &format!("/api/v1/conversations/{conversation}/messages"),
        json!({"text": "Cliente VIP: spedizione prioritaria", "private": true}),
    )
    .await;
    assert_eq!(asked["id"], answer);

    browser.goto(&format!("/#/c/{conversation}")).await;
    browser.wait_for_text("[data-testid=thread-contact-name]", "Mario Esposito").await;
    browser.wait_for("[data-testid=message][data-type=image] [data-testid=message-image]").await;
    for (kind, player) in [("audio", "audio"), ("video", "video")] {
        let source = browser.attr(&format!("[data-testid=message-{kind}]"), "src").await.unwrap();
        assert!(source.ends_with("/content"), "{source}");
        assert!(browser.exec(&format!("return document.querySelector('[data-testid=message-{kind}]').controls && document.querySelector('[data-testid=message-{kind}]').tagName === '{}';", player.to_uppercase())).await.as_bool().unwrap());
    }
    browser.wait_for_text("[data-testid=message-document]", "fattura-1542.pdf").await;
    let sent_document = "[data-testid=message][data-direction=outbound] [data-testid=message-document]";
    browser.wait_for_text(sent_document, "preventivo.pdf").await;
    assert_eq!(browser.attr(sent_document, "download").await.as_deref(), Some("preventivo.pdf"));
    assert_eq!(browser.attr("[data-testid=message-document]", "download").await.as_deref(), Some("fattura-1542.pdf"));
    browser.wait_for_text("[data-testid=message-location]", "Piazza del Duomo, Milano").await;
    browser.wait_for_text(&format!("{} [data-testid=reactions]", bubble(answer)), "❤️").await;
    browser.wait_for_text("[data-testid=message-quote]", "Arriva domani entro le 12").await;
    browser.wait_for_text("[data-testid=message][data-private=true]", "Cliente VIP").await;
    assert_eq!(browser.attr(&bubble(answer), "data-status").await.as_deref(), Some("read"));
    // Reactions decorate their message instead of showing as messages of their own.
    assert_eq!(browser.count("[data-testid=message][data-type=reaction]").await, 0);
    browser.wait_for_text("[data-testid=conversation-list]", "Richiesta fattura ordine 1542").await;
    // The list names what a message without text was.
    browser
        .wait_for_text(&format!("{} [data-testid=conversation-preview]", row(conversation)), "Reacted to a message")
        .await;
    browser.screenshot("inbox-thread").await;

    // Replying to a message quotes it (the reply button shows on hover and focus, so click it by script).
    let recent = app.get(&format!("/api/v1/conversations/{conversation}/messages?limit=3")).await.body;
    let thanks = recent["data"].as_array().unwrap().iter().find(|m| m["text"] == "Perfetto, grazie!").unwrap()["id"]
        .as_i64()
        .unwrap();
    let reply_button = format!("{} [data-testid=reply-button]", bubble(thanks));
    browser.exec(&format!("document.querySelector({reply_button:?}).click();")).await;
    browser.wait_for_text("[data-testid=reply-preview]", "Perfetto, grazie!").await;
    browser.type_into("[data-testid=composer-input]", "Prego!").await;
    browser.press_enter().await;
    browser.wait_gone("[data-testid=reply-preview]").await;
    browser
        .wait_for_text("[data-testid=message][data-direction=outbound] [data-testid=message-quote]", "Perfetto")
        .await;
    let sent = newest_message(&app, conversation).await;
    assert_eq!((sent["text"].clone(), sent["payload"]["context"]["id"].clone()), (json!("Prego!"), json!(thanks)));
    browser.close().await;
}

/// Uploads [`PNG`] to the media library with an origin (`original` or `ai_generated`); returns its key.
async fn upload(app: &TestApp, filename: &str, origin: &str) -> String {
    let boundary = "parley-inbox-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"origin\"\r\n\r\n{origin}\r\n--{boundary}\r\n\
         Content-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(PNG);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let response = app
        .client
        .post(format!("{}/api/v1/media", app.base))
        .header("X-Api-Key", &app.key)
        .header("Content-Type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let stored: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    stored["key"].as_str().unwrap().to_owned()
}

/// Uploads a small file of this name and type through the page's session; returns its media key.
async fn upload_file(browser: &Browser, filename: &str, content_type: &str) -> Value {
    browser
        .exec(&format!(
            "const {{ api }} = await import('/ui/assets/js/api.js');
             const form = new FormData();
             form.append('file', new File([new Uint8Array(64)], '{filename}', {{type: '{content_type}'}}));
             return (await api('POST', '/api/v1/media', form)).key;"
        ))
        .await
}

/// Draws a 320×200 picture on a canvas and calls `then(blob)` with it as a PNG (JavaScript).
const DRAW_A_PICTURE: &str = "
    const draw = (then) => {
        const canvas = Object.assign(document.createElement('canvas'), {width: 320, height: 200});
        const g = canvas.getContext('2d');
        const fill = g.createLinearGradient(0, 0, 320, 200);
        fill.addColorStop(0, '#2563eb');
        fill.addColorStop(1, '#25d366');
        g.fillStyle = fill;
        g.fillRect(0, 0, 320, 200);
        g.fillStyle = '#fff';
        g.font = 'bold 28px sans-serif';
        g.fillText('Maglione rosso', 60, 110);
        canvas.toBlob(then, 'image/png');
    };";

/// Uploads a drawn picture to the media library through the page's session; returns its key.
const UPLOAD_A_PICTURE: &str = "
    return new Promise((done) => draw(async (blob) => {
        const { api } = await import('/ui/assets/js/api.js');
        const form = new FormData();
        form.append('file', new File([blob], 'pacco.png', {type: 'image/png'}));
        done((await api('POST', '/api/v1/media', form)).key);
    }));";

/// Drops a drawn picture onto the media library's drop zone.
const DROP_A_PICTURE: &str = "
    draw((blob) => {
        const files = new DataTransfer();
        files.items.add(new File([blob], 'maglione.png', {type: 'image/png'}));
        const zone = document.querySelector('[data-testid=media-dropzone]');
        zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: files, bubbles: true, cancelable: true}));
        zone.dispatchEvent(new DragEvent('drop', {dataTransfer: files, bubbles: true, cancelable: true}));
    });";

fn media_items(n: usize) -> String {
    format!("document.querySelectorAll('[data-testid=media-item]').length === {n}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_from_the_media_library_is_attached_to_the_reply() {
    let app = app().await;
    let (_, conversation) = whatsapp_conversation(&app).await;
    let original = upload(&app, "original.png", "original").await;
    let generated = upload(&app, "generated.png", "ai_generated").await;

    let browser = Browser::open(&app).await;
    browser.login().await;
    browser.goto(&format!("/#/c/{conversation}")).await;
    browser.wait_for_text("[data-testid=thread]", "il mio ordine?").await;
    browser.click("[data-testid=attach-button]").await;
    browser.wait_for("[data-testid=media-library]").await;
    browser.wait_until(&media_items(2)).await;

    // Filter by origin, sort by date.
    browser.click("[data-testid=media-origin][data-origin=ai_generated]").await;
    browser.wait_until(&media_items(1)).await;
    browser.wait_for(&format!("[data-testid=media-item][data-key='{generated}']")).await;
    browser.click("[data-testid=media-origin][data-origin=original]").await;
    browser.wait_for(&format!("[data-testid=media-item][data-key='{original}']")).await;
    browser.wait_until(&media_items(1)).await;
    browser.click("[data-testid=media-origin][data-origin='']").await;
    browser.wait_until(&media_items(2)).await;
    assert_eq!(browser.attr("[data-testid=media-item]", "data-key").await, Some(generated.clone()));
    browser.wait_for("[data-testid=media-sort]").await.select_by_value("created_at").await.unwrap();
    browser.wait_for(&format!("[data-testid=media-grid] > :first-child[data-key='{original}']")).await;

    // Files arrive by drag-and-drop and through the file picker, each selected at once.
    browser.exec(&format!("{DRAW_A_PICTURE}{DROP_A_PICTURE}")).await;
    browser.wait_until(&media_items(3)).await;
    browser.wait_for_text("[data-testid=media-selected-count]", "1").await;
    let dropped = browser.attr("[data-testid=media-item][aria-selected=true]", "data-key").await.unwrap();
    let picked = std::env::temp_dir().join(format!("parley-inbox-upload-{}.png", std::process::id()));
    std::fs::write(&picked, PNG).unwrap();
    let picker = browser.client().find(Locator::Css("[data-testid=media-file-input]")).await.unwrap();
    picker.send_keys(&picked.display().to_string()).await.unwrap();
    browser.wait_until(&media_items(4)).await;
    browser.wait_for_text("[data-testid=media-selected-count]", "2").await;
    let _ = std::fs::remove_file(picked);
    browser.click("[data-testid=media-grid] > :first-child").await;
    browser.wait_for_text("[data-testid=media-selected-count]", "1").await;
    browser.screenshot("media-library").await;
    browser.click("[data-testid=media-proceed]").await;
    browser.wait_gone("[data-testid=media-library]").await;
    browser.wait_for(&format!("[data-testid=attachment][data-key='{dropped}']")).await;
    browser.type_into("[data-testid=composer-input]", "Ecco la foto").await;
    browser.click("[data-testid=send-button]").await;

    // The picture shows in the thread, loaded from the media library.
    browser
        .wait_until("[...document.querySelectorAll('[data-testid=message-image]')].some(i => i.naturalWidth === 320)")
        .await;
    let sent = newest_message(&app, conversation).await;
    assert_eq!(sent["type"], "image");
    assert_eq!(sent["media_keys"], json!([dropped]));
    assert_eq!(sent["text"], "Ecco la foto");
    browser.wait_gone("[data-testid=attachment]").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_and_list_changes_arrive_live_in_an_open_page() {
    let app = app().await;
    let (channel, conversation) = whatsapp_conversation(&app).await;
    let other = app.inbound(channel, "+393471000009", "Anna Conti", "Prima domanda").await;
    let other = other["conversation"]["id"].as_i64().unwrap();

    let browser = Browser::open(&app).await;
    browser.login().await;
    browser.goto(&format!("/#/c/{conversation}")).await;
    browser.wait_for_text("[data-testid=thread]", "il mio ordine?").await;
    browser.wait_for(&row(other)).await;
    assert_eq!(browser.attr(TOP_ROW, "data-id").await, Some(other.to_string()));

    // A new message in the open conversation shows in the thread and moves its row to the top.
    app.inbound(channel, "+393471488489", "Mario Esposito", "Scrivo di nuovo, è urgente").await;
    browser.wait_for_text("[data-testid=thread]", "Scrivo di nuovo, è urgente").await;
    browser.wait_for(&format!("{TOP_ROW}[data-id='{conversation}']")).await;
    // Another conversation's message raises its unread count; a new contact's conversation appears.
    app.inbound(channel, "+393471000009", "Anna Conti", "Seconda domanda").await;
    browser.wait_for_text(&format!("{} [data-testid=unread-badge]", row(other)), "2").await;
    let new = app.inbound(channel, "+393471000010", "Paolo Gallo", "Salve!").await;
    let new = new["conversation"]["id"].as_i64().unwrap();
    browser.wait_for_text(&row(new), "Salve!").await;
    browser.wait_for_text("[data-testid=conversation-count]", "3").await;
    assert!(!browser.text("[data-testid=thread]").await.contains("Salve!"));
    browser.close().await;
}

/// Adds an agent operator to the app's account and returns their email and password.
async fn second_operator(app: &TestApp) -> (&'static str, &'static str) {
    let (email, password) = ("bea@example.com", "bea's long password");
    let db = &app.state.db;
    let account = parley::store::accounts::first_account_id(db.reader()).await.unwrap().unwrap();
    let hash = parley::service::auth::hash_password(password).unwrap();
    let mut tx = db.begin().await.unwrap();
    parley::store::accounts::insert_operator(&mut tx, account, "Bea Rinaldi", email, &hash, "agent", 0).await.unwrap();
    tx.commit().await.unwrap();
    (email, password)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_colleague_sees_the_reply_and_its_ticks_live() {
    let app = app().await;
    let (_, conversation) = whatsapp_conversation(&app).await;
    let (email, password) = second_operator(&app).await;
    let browsers = Browser::open_many(&app, 2, Options::default()).await;
    let (admin, bea) = (&browsers[0], &browsers[1]);
    admin.login().await;
    bea.goto("/").await;
    bea.submit_login(email, password).await;
    bea.wait_for("[data-testid=inbox]").await;
    assert_eq!(bea.text("[data-testid=operator-name]").await, "Bea Rinaldi");
    for browser in [admin, bea] {
        browser.goto(&format!("/#/c/{conversation}")).await;
        browser.wait_for_text("[data-testid=thread]", "il mio ordine?").await;
    }

    admin.click("[data-testid=composer-input]").await;
    admin.type_into("[data-testid=composer-input]", "Ci penso io, Mario").await;
    admin.press_enter().await;
    bea.wait_for_text("[data-testid=message][data-direction=outbound]", "Ci penso io, Mario").await;
    bea.wait_for_text(&format!("{} [data-testid=conversation-preview]", row(conversation)), "Ci penso io").await;
    let id = newest_message(&app, conversation).await["id"].as_i64().unwrap();
    run_jobs_once(&app).await;
    bea.wait_for(&format!("{}[data-status=sent]", bubble(id))).await;
    app.drain_jobs().await;
    for browser in [admin, bea] {
        browser.wait_for(&format!("{}[data-status=read] .ticks.read", bubble(id))).await;
    }
    for browser in browsers {
        browser.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_is_archived_and_unarchived() {
    let app = app().await;
    let (_, conversation) = whatsapp_conversation(&app).await;
    let browser = Browser::open(&app).await;
    browser.login().await;
    browser.goto(&format!("/#/c/{conversation}")).await;
    browser.wait_for(&row(conversation)).await;
    browser.click("[data-testid=archive-button]").await;
    browser.wait_gone(&row(conversation)).await;
    browser.wait_for("[data-testid=unarchive-button]").await;
    assert_eq!(app.get(&format!("/api/v1/conversations/{conversation}")).await.body["archived"], true);

    browser.click("[data-testid=filter-archived]").await;
    browser.wait_for(&row(conversation)).await;
    browser.click("[data-testid=unarchive-button]").await;
    browser.wait_gone(&row(conversation)).await;
    assert_eq!(app.get(&format!("/api/v1/conversations/{conversation}")).await.body["archived"], false);
    browser.click("[data-testid=filter-archived]").await;
    browser.wait_for(&row(conversation)).await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_whatsapp_window_offers_templates_and_still_allows_notes() {
    let app = app().await;
    let (channel, conversation) = whatsapp_conversation(&app).await;
    let template = json!({"name": "order_update", "language": "it", "category": "UTILITY", "components": [
        {"type": "HEADER", "format": "TEXT", "text": "Ordine {{1}}"},
        {"type": "BODY", "text": "Ciao {{1}}, il tuo ordine è {{2}}."}]});
    let reply = app.post(&format!("/api/v1/channels/{channel}/templates"), template).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    sqlx::query("UPDATE conversations SET window_expires_at = $1 WHERE id = $2")
        .bind(parley::domain::time::now_ms() - 1000)
        .bind(conversation)
        .execute(app.state.db.writer())
        .await
        .unwrap();

    let browser = Browser::open_with(&app, Options { lang: "it", ..Options::default() }).await;
    browser.login().await;
    browser.goto(&format!("/#/c/{conversation}")).await;
    browser.wait_for_text("[data-testid=window-closed-banner]", "24 ore").await;
    browser.wait_gone("[data-testid=composer-input]").await;
    browser.wait_for("[data-testid=template-select] option[value='0']").await;
    browser.wait_for("[data-testid=template-select]").await.select_by_value("0").await.unwrap();
    browser.type_into("[data-testid=template-param][data-part=header]", "ORD-7").await;
    browser.type_into("[data-testid=template-param][data-part=body][data-n='1']", "Mario").await;
    browser.type_into("[data-testid=template-param][data-part=body][data-n='2']", "in consegna").await;
    browser.wait_for_text("[data-testid=template-preview]", "Ciao Mario, il tuo ordine è in consegna.").await;
    browser.screenshot("closed-window-template").await;
    browser.click("[data-testid=template-send]").await;
    browser.wait_for("[data-testid=message][data-type=template]").await;
    let sent = newest_message(&app, conversation).await;
    assert_eq!(
        sent["payload"]["template"],
        json!({"name": "order_update", "language": {"code": "it"}, "components": [
            {"type": "header", "parameters": [{"type": "text", "text": "ORD-7"}]},
            {"type": "body", "parameters": [{"type": "text", "text": "Mario"}, {"type": "text", "text": "in consegna"}]}]})
    );

    // A private note needs no window.
    browser.click("[data-testid=private-toggle]").await;
    browser.wait_for("[data-testid=composer-input]").await;
    browser.type_into("[data-testid=composer-input]", "Cliente da richiamare").await;
    browser.press_enter().await;
    browser.wait_for_text("[data-testid=message][data-private=true]", "Cliente da richiamare").await;
    let note = newest_message(&app, conversation).await;
    assert_eq!((note["private"].clone(), note["type"].clone()), (json!(true), json!("note")));
    browser.close().await;
}

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53, 0xde, 0x00, 0x00, 0x00, 0x0c, 0x49,
    0x44, 0x41, 0x54, 0x08, 0xd7, 0x63, 0xf8, 0xcf, 0xc0, 0x00, 0x00, 0x03, 0x01, 0x01, 0x00, 0x18, 0xdd, 0x8d, 0xb0,
    0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rcs_cards_carousels_chips_and_typing_show_and_the_composer_sends_them() {
    let app = app().await;
    let rcs = app.channel("rcs", "+390212340000", true).await;
    let started = app.inbound(rcs, "+393471488489", "Mario Esposito", "Che offerte avete?").await;
    let conversation = started["conversation"]["id"].as_i64().unwrap();
    let path = format!("/api/v1/conversations/{conversation}/messages");
    let carousel = json!({"cards": {"width": "medium", "items": [
        {"title": "Scarpe", "subtitle": "Da 49 €", "buttons": [{"title": "Compra", "url": "https://example.com/s"}]},
        {"title": "Borse", "buttons": [{"title": "Chiama", "dial": "+390212345678"}]}]}});
    assert_eq!(app.post(&path, json!({"payload": carousel})).await.status, StatusCode::ACCEPTED);
    let choices = json!({"choices": {"text": "Vuoi la consegna domani?", "options": [{"id": "yes", "title": "Sì"}, {"id": "no", "title": "No"}]}});
    assert_eq!(app.post(&path, json!({"payload": choices})).await.status, StatusCode::ACCEPTED);

    let browser = Browser::open(&app).await;
    browser.login().await;
    browser.goto(&format!("/#/c/{conversation}")).await;
    browser.wait_for_text("[data-testid=thread]", "Che offerte avete?").await;
    browser.wait_for("[data-testid=message-cards] [data-testid=message-card]:nth-child(2)").await;
    assert_eq!(browser.count("[data-testid=message-cards] [data-testid=message-card]").await, 2);
    assert_eq!(
        browser.attr("[data-testid=message-card] a[data-testid=message-chip]", "href").await.as_deref(),
        Some("https://example.com/s")
    );
    browser.wait_for_text("[data-testid=message-chips]", "Sì").await;
    assert!(browser.text("[data-testid=thread]").await.contains("Vuoi la consegna domani?"));

    // The customer types: the thread says so, live.
    let channel = parley::store::channels::find_channel_any(app.state.db.reader(), rcs).await.unwrap().unwrap();
    let typing = parley::domain::inbound::InboundEvent::Typing { address: "+393471488489".to_owned() };
    parley::service::inbound::apply(&app.state, &channel, vec![typing]).await.unwrap();
    browser.wait_for_text("[data-testid=typing-indicator]", "Mario Esposito").await;

    // Suggestion chips from the composer.
    browser.type_into("[data-testid=composer-input]", "Quando passi?").await;
    browser.type_into("[data-testid=composer-suggestions]", "Oggi, Domani").await;
    browser.press_enter().await;
    browser
        .wait_for_text(
            "[data-testid=message][data-direction=outbound]:last-child [data-testid=message-chips]",
            "Domani",
        )
        .await;
    let sent = newest_message(&app, conversation).await;
    assert_eq!(sent["payload"]["choices"]["options"], json!([{"title": "Oggi"}, {"title": "Domani"}]), "{sent}");
    assert_eq!(sent["text"], "Quando passi?");

    // A card from the composer: its title is required, the typed text becomes its description.
    browser.click("[data-testid=card-button]").await;
    browser.type_into("[data-testid=composer-input]", "Solo oggi").await;
    browser.press_enter().await;
    browser.wait_for_text("[data-testid=composer-error]", "title").await;
    browser.type_into("[data-testid=card-title-input]", "Offerta lampo").await;
    browser.type_into("[data-testid=card-image-input]", "https://example.com/offerta.jpg").await;
    browser.type_into("[data-testid=composer-suggestions]", "Compra").await;
    browser.click("[data-testid=send-button]").await;
    browser
        .wait_for_text(
            "[data-testid=message][data-direction=outbound]:last-child [data-testid=card-title]",
            "Offerta lampo",
        )
        .await;
    let card = newest_message(&app, conversation).await;
    assert_eq!(
        card["payload"]["cards"],
        json!([{"title": "Offerta lampo", "subtitle": "Solo oggi", "image_url": "https://example.com/offerta.jpg",
            "buttons": [{"title": "Compra", "payload": "Compra"}]}]),
        "{card}"
    );
    // The card form closes once sent.
    browser.wait_until("document.querySelector('[data-testid=card-fields]').hidden").await;

    // RBM says the agent launched: the channels page shows it.
    let launch = parley::domain::inbound::ChannelNotice {
        name: "launch",
        value: json!({"state": "LAUNCH_STATE_LAUNCHED", "comment": "TIM approved"}),
    };
    parley::service::inbound::apply(&app.state, &channel, vec![parley::domain::inbound::InboundEvent::Notice(launch)])
        .await
        .unwrap();
    browser.goto("/#/channels").await;
    browser
        .wait_for_text(
            "[data-testid=channel-row][data-kind=rcs] [data-testid=channel-launch]",
            "launched — TIM approved",
        )
        .await;
    browser.close().await;
}
