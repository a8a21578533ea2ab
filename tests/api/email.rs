//! Email: mail in through the raw-MIME webhook (each provider's auth) and IMAP (Dovecot), threads
//! that hold (replies, people in copy, `reply+` addresses), replies out over SMTP (aiosmtpd)
//! threaded under the customer's mail, auto-replies that change nothing, bounces that fail the
//! right message, and a mailbox read once across restarts and outages.

use std::time::Duration;

use hmac::Mac;
use mail_parser::HeaderValue;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{Reply, TestApp};
use crate::mail_servers::{Delivered, Dovecot, Smtp};

crate::backend_tests!(
    mail_becomes_a_conversation_and_the_reply_goes_out_threaded,
    threads_hold_for_people_in_copy_and_machines_change_nothing,
    a_bounce_fails_the_message_it_reports_on,
    providers_post_raw_mail_with_their_own_auth,
    every_fixture_goes_in,
    smtp_refusals_fail_and_delays_retry,
    imap_reads_each_mail_once_across_restarts,
    a_renumbered_folder_is_read_again_without_doubles,
    imap_idle_takes_new_mail_and_survives_an_outage,
);

/// A server without IDLE is read every second here (a minute by default).
mod polling {
    use super::*;

    const FLAGS: &[&str] = &["--imap-poll-seconds", "1"];
    crate::backend_tests!(with FLAGS; a_server_without_idle_is_polled);
}

async fn a_server_without_idle_is_polled(app: TestApp) {
    let smtp = Smtp::start().await;
    let dovecot = Dovecot::start_without_idle().await;
    assert!(!dovecot.offers_idle("support").await, "the watcher polls this server");
    let channel = mailbox_channel(&app, &smtp, &dovecot, json!({})).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let watcher = tokio::spawn(parley::service::mailboxes::watch(app.state.clone(), channel.clone(), stop.clone()));
    let synced = || async {
        app.get(&format!("/api/v1/channels/{}", channel.id)).await.body["notices"]["mailbox"]["synced_at"].is_i64()
    };
    eventually("the first read", synced).await;
    dovecot
        .deliver("support", "INBOX", mail("ana@example.com", "Polled", "p1@example.com", &[], "Hi").as_bytes())
        .await;
    eventually("the mail read by the next poll", || async { conversation_count(&app).await == 1 }).await;
    let view = app.get(&format!("/api/v1/channels/{}", channel.id)).await.body;
    assert_eq!(view["notices"]["mailbox"]["error"], Value::Null, "no IDLE was tried: {view}");
    stop.cancel();
    watcher.await.expect("watcher");
}

/// Virtual agents answer as soon as they are due, so `run_once` drives them.
mod agents {
    use super::*;

    const FLAGS: &[&str] = &["--agent-debounce-ms", "0"];
    crate::backend_tests!(with FLAGS; a_virtual_agent_never_answers_machines_and_stops_looping);
}

const ADDRESS: &str = "support@acme.test";
const HOOK_PASSWORD: &str = "hook-secret";

/// A mail as a client writes it.
fn mail(from: &str, subject: &str, message_id: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut mail = format!(
        "From: {from}\r\nTo: Acme Support <{ADDRESS}>\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n\
         Date: Thu, 26 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    );
    for (name, value) in headers {
        mail.push_str(&format!("{name}: {value}\r\n"));
    }
    mail.push_str("Content-Type: text/plain; charset=utf-8\r\n\r\n");
    mail.push_str(&body.replace('\n', "\r\n"));
    mail
}

/// An email channel sending through `smtp`, with `extra` settings.
async fn channel(app: &TestApp, smtp: &Smtp, extra: Value) -> i64 {
    let mut settings = smtp.settings();
    settings["hook_password"] = json!(HOOK_PASSWORD);
    settings["display_name"] = json!("Acme Support");
    for (key, value) in extra.as_object().cloned().unwrap_or_default() {
        settings[key] = value;
    }
    let reply = app
        .post(
            "/api/v1/channels",
            json!({"kind": "email", "name": "Support mailbox", "address": ADDRESS, "settings": settings}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    assert!(reply.body["settings"].get("smtp_password").is_none(), "secrets are write-only: {reply:?}");
    reply.body["id"].as_i64().expect("id")
}

/// Posts a raw mail to the channel's webhook with the webhook password.
async fn post_mail(app: &TestApp, channel: i64, raw: &str) -> Reply {
    let response = app
        .client
        .post(format!("{}/hooks/email/{channel}", app.base))
        .basic_auth("mta", Some(HOOK_PASSWORD))
        .header("Content-Type", "message/rfc822")
        .body(raw.to_owned())
        .send()
        .await
        .expect("request");
    Reply::of(response).await
}

async fn received(app: &TestApp, channel: i64, raw: &str) -> Value {
    let reply = post_mail(app, channel, raw).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body
}

async fn messages(app: &TestApp, conversation: i64) -> Vec<Value> {
    let reply = app.get(&format!("/api/v1/conversations/{conversation}/messages?limit=100")).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body["data"].as_array().cloned().expect("messages")
}

/// A header of a delivered mail as text.
fn header(mail: &Delivered, name: &'static str) -> String {
    match mail.parsed().header(name) {
        Some(HeaderValue::Text(text)) => text.to_string(),
        Some(HeaderValue::TextList(list)) => list.join(" "),
        Some(HeaderValue::Address(address)) => address.iter().filter_map(|a| a.address()).collect::<Vec<_>>().join(","),
        other => format!("{other:?}"),
    }
}

async fn reply_and_send(app: &TestApp, conversation: i64, body: Value) -> Value {
    let reply = app.post(&format!("/api/v1/conversations/{conversation}/messages"), body).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
    app.drain_jobs().await;
    let id = reply.body["id"].as_i64().expect("id");
    messages(app, conversation).await.into_iter().find(|m| m["id"] == id).expect("sent message")
}

async fn mail_becomes_a_conversation_and_the_reply_goes_out_threaded(app: TestApp) {
    let smtp = Smtp::start().await;
    let channel = channel(&app, &smtp, json!({})).await;
    let first = mail(
        "Ana Costa <Ana@Example.com>",
        "Order 42 is late",
        "m1@example.com",
        &[],
        "Where is my order?\n\nOn Tue, 24 Nov 2026, Acme <support@acme.test> wrote:\n> Your order ships soon.\n",
    );
    // Without the webhook password nothing is taken.
    let anonymous = app
        .client
        .post(format!("{}/hooks/email/{channel}", app.base))
        .header("Content-Type", "message/rfc822")
        .body(first.clone())
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/api/v1/conversations").await.body["data"], json!([]));

    // Ana is already in the address book (her address in other case): the mail is hers.
    let known = app.post("/api/v1/contacts", json!({"name": "Ana Costa", "email": "ANA@example.com"})).await;
    assert_eq!(known.status, StatusCode::CREATED, "{known:?}");
    let ingested = received(&app, channel, &first).await;
    assert_eq!(ingested["duplicate"], false);
    let conversation = ingested["conversation_id"].as_i64().expect("conversation");
    let view = app.get(&format!("/api/v1/conversations/{conversation}")).await.body;
    assert_eq!(view["subject"], "Order 42 is late");
    assert_eq!(view["contact"]["id"], known.body["id"], "one person, one contact");
    let stored = &messages(&app, conversation).await[0];
    assert_eq!(stored["text"], "Where is my order?", "the reply, without the quoted history");
    assert!(stored["payload"]["email"]["text"].as_str().expect("full text").contains("> Your order ships soon."));
    assert_eq!(stored["payload"]["email"]["quoted"], true);
    assert!(stored["payload"]["email"]["raw_media_key"].is_string());
    // The same mail again (a provider's retry) changes nothing.
    assert_eq!(received(&app, channel, &first).await["duplicate"], true);
    assert_eq!(messages(&app, conversation).await.len(), 1);

    let invoice = crate::media::upload(&app, "invoice-42.pdf", "application/pdf", b"%PDF-1.4 invoice").await;
    assert_eq!(invoice.status, StatusCode::CREATED, "{invoice:?}");
    let body = json!({"text": "It ships today.\n\nThanks for waiting!", "cc": ["Boss@Example.com"],
        "media_keys": [invoice.body["key"]]});
    let sent = reply_and_send(&app, conversation, body).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    let delivered = smtp.delivered();
    assert_eq!(delivered.len(), 1);
    let out = &delivered[0];
    assert_eq!(out.mail_from, ADDRESS);
    assert_eq!(out.rcpt_tos, vec!["ana@example.com", "boss@example.com"]);
    assert_eq!(header(out, "Subject"), "Re: Order 42 is late");
    assert_eq!(header(out, "In-Reply-To"), "m1@example.com");
    assert!(header(out, "References").contains("m1@example.com"));
    assert_eq!(header(out, "To"), "ana@example.com");
    assert_eq!(header(out, "Cc"), "boss@example.com");
    let parsed = out.parsed();
    let our_id = parsed.message_id().expect("Message-ID").to_owned();
    assert!(our_id.ends_with("@acme.test"), "{our_id}");
    assert_eq!(sent["provider_message_id"], our_id, "the Message-ID sent is stored");
    assert_eq!(parsed.from().and_then(|a| a.first()).and_then(|a| a.name()), Some("Acme Support"));
    assert!(parsed.body_text(0).expect("text").contains("It ships today."));
    assert!(parsed.body_html(0).expect("html").contains("<p>It ships today.</p>"));
    assert!(parsed.header("Auto-Submitted").is_none(), "a person's reply is not marked automatic");
    let attachment = parsed.attachment(0).expect("the file is attached");
    assert_eq!(mail_parser::MimeHeaders::attachment_name(attachment), Some("invoice-42.pdf"));
    assert_eq!(attachment.contents(), b"%PDF-1.4 invoice");
    // Copies only go out on email.
    let sms = app.channel("sms", "+15005550006", true).await;
    let texted = app.inbound(sms, "+15005550007", "Bo", "Hi").await["conversation"]["id"].as_i64().expect("id");
    let refused = app
        .post(&format!("/api/v1/conversations/{texted}/messages"), json!({"text": "Hi", "cc": ["a@example.com"]}))
        .await;
    crate::helpers::assert_field_error(&refused, "cc");

    // The customer's answer to it joins the conversation, whatever its subject.
    let answer = mail(
        "ana@example.com",
        "Re: Order 42 is late (still?)",
        "m2@example.com",
        &[("In-Reply-To", &format!("<{our_id}>")), ("References", &format!("<m1@example.com> <{our_id}>"))],
        "Great, thanks!\n\nSent from my iPhone\n",
    );
    assert_eq!(received(&app, channel, &answer).await["conversation_id"], conversation);
    assert_eq!(messages(&app, conversation).await.last().expect("answer")["text"], "Great, thanks!");
    // A new mail without a thread is a new conversation, with the same contact.
    let fresh =
        received(&app, channel, &mail("ana@example.com", "Another question", "m3@example.com", &[], "Hi!")).await;
    assert_ne!(fresh["conversation_id"], conversation);
    let other = app.get(&format!("/api/v1/conversations/{}", fresh["conversation_id"])).await.body;
    assert_eq!(other["contact"]["id"], view["contact"]["id"]);
    // An answer sent to a reply+ address finds its thread by the token.
    let token = our_id.split('@').next().expect("local part");
    let plus = mail(
        "ana@example.com",
        "Re: stuff",
        "m4@example.com",
        &[("Cc", &format!("reply+{token}@acme.test"))],
        "By token",
    );
    assert_eq!(received(&app, channel, &plus).await["conversation_id"], conversation);
}

async fn threads_hold_for_people_in_copy_and_machines_change_nothing(app: TestApp) {
    let smtp = Smtp::start().await;
    let channel = channel(&app, &smtp, json!({})).await;
    let first =
        mail("ana@example.com", "Broken login", "m1@example.com", &[("Cc", "bea@example.com")], "I cannot log in.");
    let conversation = received(&app, channel, &first).await["conversation_id"].as_i64().expect("conversation");
    let sent = reply_and_send(&app, conversation, json!({"text": "Try resetting your password."})).await;
    let our_id = sent["provider_message_id"].as_str().expect("our id").to_owned();

    // Someone in copy answers the original mail: it carries none of our ids, yet joins the thread.
    let copy = mail(
        "Bea <bea@example.com>",
        "Re: Broken login",
        "c1@example.com",
        &[("In-Reply-To", "<m1@example.com>")],
        "Same for me.",
    );
    let joined = received(&app, channel, &copy).await;
    assert_eq!(joined["conversation_id"], conversation);
    let thread = messages(&app, conversation).await;
    let bea = thread.iter().find(|m| m["text"] == "Same for me.").expect("Bea's mail");
    assert_ne!(bea["sender"]["id"], thread[0]["sender"]["id"], "Bea writes as herself");

    // The conversation is resolved; an out-of-office answer to our reply neither reopens it nor
    // counts as unread, and is stored marked.
    let resolved = app.patch(&format!("/api/v1/conversations/{conversation}"), json!({"status": "resolved"})).await;
    assert_eq!(resolved.status, StatusCode::OK, "{resolved:?}");
    let before = app.get(&format!("/api/v1/conversations/{conversation}")).await.body;
    let out_of_office = mail(
        "ana@example.com",
        "Automatic reply: Re: Broken login",
        "ooo@example.com",
        &[("Auto-Submitted", "auto-replied"), ("In-Reply-To", &format!("<{our_id}>"))],
        "I am out of the office until Monday.",
    );
    assert_eq!(received(&app, channel, &out_of_office).await["conversation_id"], conversation);
    // Exchange marks its auto-replies only with X-Auto-Response-Suppress.
    let exchange = mail(
        "ana@example.com",
        "Automatic reply: Re: Broken login",
        "ooo2@example.com",
        &[("X-Auto-Response-Suppress", "All"), ("In-Reply-To", &format!("<{our_id}>"))],
        "Away.",
    );
    assert_eq!(received(&app, channel, &exchange).await["conversation_id"], conversation);
    let after = app.get(&format!("/api/v1/conversations/{conversation}")).await.body;
    assert_eq!(after["status"], "resolved");
    assert_eq!(after["unread_count"], before["unread_count"]);
    let thread = messages(&app, conversation).await;
    let automated: Vec<&Value> = thread.iter().filter(|m| !m["payload"]["email"]["automated"].is_null()).collect();
    assert_eq!(automated.len(), 2, "{thread:?}");
    assert_eq!(automated[0]["payload"]["email"]["automated"], "auto_submitted");
    assert_eq!(automated[1]["payload"]["email"]["automated"], "auto_response");
    // Nothing answered them.
    app.drain_jobs().await;
    assert_eq!(smtp.delivered().len(), 1);
}

async fn a_bounce_fails_the_message_it_reports_on(app: TestApp) {
    let smtp = Smtp::start().await;
    let channel = channel(&app, &smtp, json!({})).await;
    let conversation = received(&app, channel, &mail("gone@example.com", "Hello", "g1@example.com", &[], "Hi")).await
        ["conversation_id"]
        .as_i64()
        .expect("conversation");
    let sent = reply_and_send(&app, conversation, json!({"text": "Hello back"})).await;
    let other = reply_and_send(&app, conversation, json!({"text": "And another thing"})).await;
    let our_id = sent["provider_message_id"].as_str().expect("id");
    let bounce = format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\nTo: {ADDRESS}\r\nSubject: Undelivered Mail Returned to Sender\r\n\
         Message-ID: <bounce1@mx.example.com>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
         --B\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n\
         --B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n\
         Final-Recipient: rfc822; gone@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown\r\n\r\n\
         --B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: {ADDRESS}\r\nTo: gone@example.com\r\nMessage-ID: <{our_id}>\r\nSubject: Re: Hello\r\n\r\n\
         --B--\r\n"
    );
    received(&app, channel, &bounce).await;
    let thread = messages(&app, conversation).await;
    let failed = thread.iter().find(|m| m["id"] == sent["id"]).expect("sent");
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["error"]["code"], "5.1.1");
    assert!(failed["error"]["text"].as_str().expect("diagnostic").contains("User unknown"));
    let untouched = thread.iter().find(|m| m["id"] == other["id"]).expect("other");
    assert_eq!(untouched["status"], "sent", "only the reported message fails");
    let report =
        thread.iter().find(|m| m["payload"]["email"]["report"]["status"] == "5.1.1").expect("the bounce is shown");
    assert_eq!(report["payload"]["email"]["automated"], "auto_submitted");

    // A spam complaint about our mail opts its recipient out of the channel.
    let complaint = format!(
        "From: abuse@mailbox.example.net\r\nTo: {ADDRESS}\r\nSubject: Abuse report\r\nMessage-ID: <arf1@mailbox.example.net>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\r\n\r\n\
         --F\r\nContent-Type: text/plain\r\n\r\nA user marked this mail as spam.\r\n\
         --F\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: Reporter/1.0\r\nVersion: 1\r\n\
         Original-Rcpt-To: gone@example.com\r\n\r\n\
         --F\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: {ADDRESS}\r\nMessage-ID: <{}>\r\n\r\n--F--\r\n",
        other["provider_message_id"].as_str().expect("id")
    );
    received(&app, channel, &complaint).await;
    let refused =
        app.post(&format!("/api/v1/conversations/{conversation}/messages"), json!({"text": "Still there?"})).await;
    crate::helpers::assert_problem(&refused, StatusCode::UNPROCESSABLE_ENTITY, "opted_out");

    // A delay (4.x.x) is noted on the thread and fails nothing.
    let delay =
        bounce.replace("Action: failed", "Action: delayed").replace("5.1.1", "4.2.2").replace("bounce1@", "bounce2@");
    received(&app, channel, &delay).await;
    let thread = messages(&app, conversation).await;
    assert!(thread.iter().any(|m| m["payload"]["email"]["report"]["action"] == "delayed"));
    assert_eq!(thread.iter().find(|m| m["id"] == other["id"]).expect("other")["status"], "sent");
}

/// A multipart form with these text fields.
fn multipart(fields: &[(&str, &str)]) -> (String, String) {
    let boundary = "----parleytestboundary";
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn providers_post_raw_mail_with_their_own_auth(app: TestApp) {
    let smtp = Smtp::start().await;
    let signing_key = "key-mailgun-signing";
    let channel = channel(&app, &smtp, json!({"mailgun_signing_key": signing_key})).await;
    let kinds = app.get("/api/v1/channel-kinds").await.body;
    let email = kinds["data"].as_array().expect("kinds").iter().find(|k| k["kind"] == "email").cloned().expect("email");
    assert_eq!(email["webhook_path"], "email/{channel}");
    assert_eq!(email["capabilities"]["threads"], true);
    let url = format!("{}/hooks/email/{channel}", app.base);
    let post = |content_type: String, body: String, basic: Option<&'static str>| {
        let mut request = app.client.post(&url).header("Content-Type", content_type).body(body);
        if let Some(password) = basic {
            request = request.basic_auth("provider", Some(password));
        }
        async move { Reply::of(request.send().await.expect("request")).await }
    };
    let sign = |timestamp: &str, token: &str| {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(signing_key.as_bytes()).expect("key");
        mac.update(format!("{timestamp}{token}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    };
    let now = (parley::domain::time::now_ms() / 1000).to_string();

    // Mailgun: body-mime, signed.
    let raw = mail("a@example.com", "Via Mailgun", "mg1@example.com", &[], "Hello from Mailgun");
    let (kind, body) =
        multipart(&[("body-mime", &raw), ("timestamp", &now), ("token", "tok1"), ("signature", &sign(&now, "tok1"))]);
    let reply = post(kind, body, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let forged = mail("a@example.com", "Forged", "mg2@example.com", &[], "Forged");
    let (kind, body) = multipart(&[
        ("body-mime", &forged),
        ("timestamp", &now),
        ("token", "tok2"),
        ("signature", &sign(&now, "other")),
    ]);
    assert_eq!(post(kind, body, None).await.status, StatusCode::UNAUTHORIZED);
    let stale = (parley::domain::time::now_ms() / 1000 - 3600).to_string();
    let (kind, body) = multipart(&[
        ("body-mime", &forged),
        ("timestamp", &stale),
        ("token", "tok3"),
        ("signature", &sign(&stale, "tok3")),
    ]);
    assert_eq!(post(kind, body, None).await.status, StatusCode::UNAUTHORIZED, "an old signature is refused");

    // Postmark: JSON RawEmail with Basic auth.
    let raw = mail("b@example.com", "Via Postmark", "pm1@example.com", &[], "Hello from Postmark");
    let json_body = json!({"From": "ignored@example.com", "RawEmail": raw}).to_string();
    assert_eq!(
        post("application/json".to_owned(), json_body.clone(), Some("wrong")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(post("application/json".to_owned(), json_body, Some(HOOK_PASSWORD)).await.status, StatusCode::OK);

    // SendGrid: the raw MIME in the `email` field, Basic auth.
    let raw = mail("c@example.com", "Via SendGrid", "sg1@example.com", &[], "Hello from SendGrid");
    let (kind, body) = multipart(&[("email", &raw), ("to", ADDRESS)]);
    assert_eq!(post(kind.clone(), body.clone(), None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(post(kind, body, Some(HOOK_PASSWORD)).await.status, StatusCode::OK);

    // A very long mail is taken, its text cut to what a message holds (the raw mail keeps all).
    let long = mail("d@example.com", "Logs", "long1@example.com", &[], &"All the logs. ".repeat(8_000));
    let taken = post_mail(&app, channel, &long).await;
    assert_eq!(taken.status, StatusCode::OK, "{taken:?}");

    // Not a mail: a clear error, nothing stored.
    let unreadable =
        post("message/rfc822".to_owned(), "Subject: no sender\r\n\r\nHi".to_owned(), Some(HOOK_PASSWORD)).await;
    assert_eq!(unreadable.status, StatusCode::UNPROCESSABLE_ENTITY, "{unreadable:?}");
    assert_eq!(unreadable.body["code"], "unreadable_mail");
    let xml = post("application/xml".to_owned(), "<mail/>".to_owned(), Some(HOOK_PASSWORD)).await;
    assert_eq!(xml.status, StatusCode::BAD_REQUEST, "{xml:?}");
    let texts: Vec<Value> = app.get("/api/v1/conversations").await.body["data"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c["last_message_preview"].clone())
        .collect();
    assert_eq!(texts.len(), 4, "{texts:?}");
    // An unknown channel, or one of another network, has no mail hook.
    let sms = app.channel("sms", "+15005550006", true).await;
    for missing in [999_999, sms] {
        let reply = post_mail(&app, missing, &raw).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{reply:?}");
    }
}

async fn every_fixture_goes_in(app: TestApp) {
    let smtp = Smtp::start().await;
    let channel = channel(&app, &smtp, json!({})).await;
    let base = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/email");
    let mut taken = 0;
    for folder in ["mikel-mail", "set-of-emails", "mail-parser"] {
        for entry in std::fs::read_dir(format!("{base}/{folder}")).expect("folder") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|ext| ext != "eml") {
                continue;
            }
            let raw = std::fs::read(&path).expect("mail");
            let response = app
                .client
                .post(format!("{}/hooks/email/{channel}", app.base))
                .basic_auth("mta", Some(HOOK_PASSWORD))
                .header("Content-Type", "message/rfc822")
                .body(raw)
                .send()
                .await
                .expect("request");
            let reply = Reply::of(response).await;
            assert_eq!(reply.status, StatusCode::OK, "{}: {reply:?}", path.display());
            taken += 1;
        }
    }
    assert_eq!(taken, 17);
    // The PDF arrives as an attachment in the media store.
    let media = app.get("/api/v1/media?limit=100").await.body;
    assert!(
        media["data"].as_array().expect("media").iter().any(|file| file["content_type"] == "application/pdf"),
        "{media}"
    );
}

async fn smtp_refusals_fail_and_delays_retry(app: TestApp) {
    let smtp = Smtp::start().await;
    let channel = channel(&app, &smtp, json!({})).await;
    for (address, id) in [("reject-me@example.com", "r1@example.com"), ("tempfail-me@example.com", "t1@example.com")] {
        received(&app, channel, &mail(address, "Hi", id, &[], "Hello")).await;
    }
    let rejected = conversation_from(&app, "reject-me@example.com").await;
    let delayed = conversation_from(&app, "tempfail-me@example.com").await;
    let failed = reply_and_send(&app, rejected, json!({"text": "Hello"})).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["error"]["code"], "smtp_550");
    assert!(failed["error"]["text"].as_str().expect("server's answer").contains("User unknown"), "{failed}");
    let waiting = reply_and_send(&app, delayed, json!({"text": "Hello"})).await;
    assert_eq!(waiting["status"], "queued", "a 4xx answer is retried later: {waiting}");
    assert!(smtp.delivered().is_empty());
}

/// The conversation whose first mail came from `address`.
async fn conversation_from(app: &TestApp, address: &str) -> i64 {
    let list = app.get("/api/v1/conversations?limit=100").await.body;
    for id in list["data"].as_array().expect("list").iter().filter_map(|c| c["id"].as_i64()) {
        if messages(app, id).await[0]["payload"]["email"]["from"] == address {
            return id;
        }
    }
    panic!("no conversation from {address}");
}

/// Waits until `check` holds (polling the database-backed API), at most 20 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn conversation_count(app: &TestApp) -> usize {
    app.get("/api/v1/conversations?limit=100").await.body["data"].as_array().map_or(0, Vec::len)
}

async fn mailbox_channel(
    app: &TestApp,
    smtp: &Smtp,
    dovecot: &Dovecot,
    extra: Value,
) -> parley::store::channels::ChannelRow {
    let mut settings = dovecot.settings("support");
    for (key, value) in extra.as_object().cloned().unwrap_or_default() {
        settings[key] = value;
    }
    let id = channel(app, smtp, settings).await;
    parley::store::channels::find_undeleted(app.state.db.reader(), id).await.expect("db").expect("channel")
}

async fn imap_reads_each_mail_once_across_restarts(app: TestApp) {
    let smtp = Smtp::start().await;
    let dovecot = Dovecot::start().await;
    let channel = mailbox_channel(&app, &smtp, &dovecot, json!({"imap_sent_folder": "Sent"})).await;
    let sync =
        || async { parley::service::mailboxes::sync_once(&app.state, &channel).await.expect("db").expect("sync") };

    let first = mail("ana@example.com", "Hello over IMAP", "i1@example.com", &[], "Is anyone there?");
    dovecot.deliver("support", "INBOX", first.as_bytes()).await;
    assert_eq!(sync().await.received, 1);
    assert_eq!(conversation_count(&app).await, 1);
    let view = app.get(&format!("/api/v1/channels/{}", channel.id)).await.body;
    let notice = &view["notices"]["mailbox"];
    assert!(notice["synced_at"].is_i64(), "{view}");
    assert_eq!(notice["error"], Value::Null);
    // Nothing new: nothing fetched again (the mail stays on the server), also by a Parley
    // started afresh over the same database.
    assert_eq!(sync().await.received, 0);
    let restarted = parley::state::AppState::open(app.state.config.clone()).await.expect("restart");
    let again = parley::service::mailboxes::sync_once(&restarted, &channel).await.expect("db").expect("sync");
    assert_eq!(again, parley::service::mailboxes::Synced::default());

    // A day of mail while Parley was down (and Dovecot restarted): all of it, in order, once.
    for n in 0..5 {
        let raw = mail(
            &format!("customer{n}@example.com"),
            &format!("Question {n}"),
            &format!("d{n}@example.com"),
            &[],
            "Hi",
        );
        dovecot.deliver("support", "INBOX", raw.as_bytes()).await;
    }
    let garbage = b"Subject: no sender at all\r\n\r\nThis mail has no From.\r\n";
    dovecot.deliver("support", "INBOX", garbage).await;
    let synced = sync().await;
    assert_eq!((synced.received, synced.failed), (5, 1));
    assert_eq!(conversation_count(&app).await, 6);
    let subjects: Vec<Value> = {
        let list = app.get("/api/v1/conversations?limit=100").await.body;
        let mut ids: Vec<i64> =
            list["data"].as_array().expect("list").iter().filter_map(|c| c["id"].as_i64()).collect();
        ids.sort_unstable();
        let mut subjects = Vec::new();
        for id in ids {
            subjects.push(app.get(&format!("/api/v1/conversations/{id}")).await.body["subject"].clone());
        }
        subjects
    };
    assert_eq!(
        subjects[1..],
        [json!("Question 0"), json!("Question 1"), json!("Question 2"), json!("Question 3"), json!("Question 4")]
    );
    // The unreadable mail is recorded once, and never fetched again.
    assert_eq!(sync().await, parley::service::mailboxes::Synced::default());
    let failures = parley::store::mailboxes::list_failures(app.state.db.reader(), channel.id, 10).await.expect("db");
    assert_eq!(failures.len(), 1);
    assert!(failures[0].reason.contains("From"), "{:?}", failures[0]);
    assert!(failures[0].raw_media_key.is_some());
    let view = app.get(&format!("/api/v1/channels/{}", channel.id)).await.body;
    assert_eq!(view["notices"]["mailbox"]["failed_imports"], 1);
    let listed = app.get(&format!("/api/v1/channels/{}/mail-failures", channel.id)).await;
    assert_eq!(listed.body["data"][0]["reason"], json!(failures[0].reason), "{listed:?}");
    let raw =
        app.get(&format!("/api/v1/media/{}", listed.body["data"][0]["raw_media_key"].as_str().expect("key"))).await;
    assert_eq!(raw.body["content_type"], "message/rfc822", "{raw:?}");
    let other = app.other_account_key().await;
    let hidden = app
        .call_as(&other, reqwest::Method::GET, &format!("/api/v1/channels/{}/mail-failures", channel.id), None)
        .await;
    crate::helpers::assert_problem(&hidden, StatusCode::NOT_FOUND, "not_found");

    // The reply goes out over SMTP and a copy lands in the Sent folder.
    let list = app.get("/api/v1/conversations?limit=100").await.body;
    let first_conversation =
        list["data"].as_array().expect("list").iter().filter_map(|c| c["id"].as_i64()).min().expect("id");
    let sent = reply_and_send(&app, first_conversation, json!({"text": "Yes, we are here."})).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    let copies = dovecot.mails("support", "Sent").await;
    assert_eq!(copies.len(), 1);
    let copy = mail_parser::MessageParser::default().parse(&copies[0]).expect("copy");
    assert_eq!(Some(sent["provider_message_id"].as_str().expect("id")), copy.message_id());
    // The customer's reply, delivered to the mailbox, threads under it.
    let answer = mail(
        "ana@example.com",
        "Re: Hello over IMAP",
        "i2@example.com",
        &[("In-Reply-To", &format!("<{}>", sent["provider_message_id"].as_str().expect("id")))],
        "Great!",
    );
    dovecot.deliver("support", "INBOX", answer.as_bytes()).await;
    assert_eq!(sync().await.received, 1);
    assert_eq!(messages(&app, first_conversation).await.len(), 3);
}

async fn imap_idle_takes_new_mail_and_survives_an_outage(app: TestApp) {
    let smtp = Smtp::start().await;
    let mut dovecot = Dovecot::start().await;
    let channel = mailbox_channel(&app, &smtp, &dovecot, json!({})).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let watcher = tokio::spawn(parley::service::mailboxes::watch(app.state.clone(), channel.clone(), stop.clone()));
    let notice =
        || async { app.get(&format!("/api/v1/channels/{}", channel.id)).await.body["notices"]["mailbox"].clone() };
    eventually("the first read", || async { notice().await["synced_at"].is_i64() }).await;

    // A mail arriving while the watcher waits in IDLE is taken at once.
    dovecot.deliver("support", "INBOX", mail("ana@example.com", "Live", "l1@example.com", &[], "Hi").as_bytes()).await;
    eventually("the mail taken during IDLE", || async { conversation_count(&app).await == 1 }).await;

    // The server goes away: the error shows on the channel; mail delivered meanwhile is taken
    // once it is back.
    dovecot.stop().await;
    eventually("the error on the channel", || async { notice().await["error"].is_string() }).await;
    dovecot.run().await;
    dovecot.deliver("support", "INBOX", mail("bea@example.com", "Back", "l2@example.com", &[], "Hi").as_bytes()).await;
    eventually("the mail after the outage", || async { conversation_count(&app).await == 2 }).await;
    eventually("the error cleared", || async { notice().await["error"].is_null() }).await;
    stop.cancel();
    watcher.await.expect("watcher");
}

async fn a_virtual_agent_never_answers_machines_and_stops_looping(app: TestApp) {
    let smtp = Smtp::start().await;
    let channel = channel(&app, &smtp, json!({})).await;
    let agent = app
        .post(
            "/api/v1/agents",
            json!({"name": "Mailbot", "engine": "knowledge_base", "languages": ["en"],
                "channels": [{"channel_id": channel, "answers_first": true}]}),
        )
        .await;
    assert_eq!(agent.status, StatusCode::CREATED, "{agent:?}");
    let article = app
        .post(
            &format!("/api/v1/agents/{}/articles", agent.body["id"]),
            json!({"title": "Shipping costs", "body": "Shipping costs 4.90 euro in Europe.", "language": "en"}),
        )
        .await;
    assert_eq!(article.status, StatusCode::CREATED, "{article:?}");
    let bot_answers = |conversation: i64| {
        let app = &app;
        async move { messages(app, conversation).await.iter().filter(|m| m["sender"]["type"] == "virtual_agent").count() }
    };

    // An auto-reply is never answered.
    let ooo =
        mail("ana@example.com", "Out of office", "a0@example.com", &[("Auto-Submitted", "auto-replied")], "Away.");
    let quiet = received(&app, channel, &ooo).await["conversation_id"].as_i64().expect("conversation");
    app.drain_jobs().await;
    assert_eq!(bot_answers(quiet).await, 0);

    // A machine that does not say it is one: answered ten times within the hour, then people
    // take over instead of an eleventh answer.
    let mut conversations = Vec::new();
    for n in 0..11 {
        let question = mail(
            "robot@example.com",
            "Shipping?",
            &format!("loop{n}@example.com"),
            &[],
            "How much does shipping cost?",
        );
        conversations.push(received(&app, channel, &question).await["conversation_id"].as_i64().expect("conversation"));
        app.drain_jobs().await;
    }
    for conversation in &conversations[..10] {
        assert_eq!(bot_answers(*conversation).await, 1, "conversation {conversation}");
    }
    // What the agent writes by itself is marked so that other systems do not answer it.
    let answers = smtp.delivered();
    assert_eq!(answers.len(), 11, "ten answers, and the notice that a person follows");
    assert_eq!(header(&answers[0], "Auto-Submitted"), "auto-generated");
    assert_eq!(header(&answers[0], "X-Auto-Response-Suppress"), "All");
    let last = conversations[10];
    let view = app.get(&format!("/api/v1/conversations/{last}")).await.body;
    assert_eq!(view["handler"], "human", "{view}");
    let escalated = app.get(&format!("/api/v1/conversations/{last}/escalations")).await.body;
    assert!(escalated["data"][0]["detail"].as_str().expect("detail").contains("within the hour"), "{escalated}");
}

async fn a_renumbered_folder_is_read_again_without_doubles(app: TestApp) {
    let smtp = Smtp::start().await;
    let dovecot = Dovecot::start().await;
    dovecot.recreate("support", "Support").await;
    let channel = mailbox_channel(&app, &smtp, &dovecot, json!({"imap_folder": "Support"})).await;
    let sync =
        || async { parley::service::mailboxes::sync_once(&app.state, &channel).await.expect("db").expect("sync") };
    let first = mail("ana@example.com", "First", "r1@example.com", &[], "One");
    dovecot.deliver("support", "Support", first.as_bytes()).await;
    dovecot
        .deliver("support", "INBOX", mail("x@example.com", "Elsewhere", "x1@example.com", &[], "Not read").as_bytes())
        .await;
    assert_eq!(sync().await.received, 1, "only the configured folder is read");

    // The folder is rebuilt (a server migration): its UIDs start again under a new UIDVALIDITY.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    dovecot.recreate("support", "Support").await;
    dovecot.deliver("support", "Support", first.as_bytes()).await;
    dovecot
        .deliver("support", "Support", mail("bea@example.com", "Second", "r2@example.com", &[], "Two").as_bytes())
        .await;
    assert_eq!(sync().await.received, 2, "both mails are read again");
    let list = app.get("/api/v1/conversations?limit=100").await.body;
    assert_eq!(list["data"].as_array().expect("list").len(), 2, "the first mail is not doubled: {list}");
    for conversation in list["data"].as_array().expect("list") {
        assert_eq!(messages(&app, conversation["id"].as_i64().expect("id")).await.len(), 1);
    }
}
