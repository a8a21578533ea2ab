//! Email in a real browser: the thread shows the mail's subject and its reply without the quoted
//! history, folds the whole mail (its HTML in a sandboxed frame, the inline image from the mail's
//! own files) and its attachment; the composer writes with subject and copies, and the reply
//! reaches the SMTP server with them.

use serde_json::json;

use super::Browser;
use crate::helpers::{spawn_app_with, Backend};
use crate::mail_servers::Smtp;

/// A 1×1 PNG, base64.
const PIXEL: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_thread_folds_its_quote_and_the_reply_goes_out_with_copies() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await;
    let smtp = Smtp::start().await;
    let mut settings = smtp.settings();
    settings["hook_password"] = json!("hook-secret");
    settings["display_name"] = json!("Acme Support");
    let channel = app
        .post(
            "/api/v1/channels",
            json!({"kind": "email", "name": "Support", "address": "support@acme.test", "settings": settings}),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let raw = format!(
        "From: Ana Costa <ana@example.com>\r\nTo: support@acme.test\r\nSubject: Order 42 is late\r\n\
         Message-ID: <b1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"M\"\r\n\r\n\
         --M\r\nContent-Type: multipart/related; boundary=\"R\"\r\n\r\n\
         --R\r\nContent-Type: multipart/alternative; boundary=\"A\"\r\n\r\n\
         --A\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nWhere is my order?\r\n\r\nOn Tue, Acme wrote:\r\n> It ships soon.\r\n\
         --A\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Where is my order?</p><img src=\"cid:logo@example.com\">\
         <script>alert('x')</script><blockquote>It ships soon.</blockquote>\r\n--A--\r\n\
         --R\r\nContent-Type: image/png\r\nContent-ID: <logo@example.com>\r\nContent-Disposition: inline\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{PIXEL}\r\n--R--\r\n\
         --M\r\nContent-Type: application/pdf; name=\"receipt.pdf\"\r\nContent-Disposition: attachment; filename=\"receipt.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJSVFT0YK\r\n--M--\r\n"
    );
    let posted = app
        .client
        .post(format!("{}/hooks/email/{channel}", app.base))
        .basic_auth("mta", Some("hook-secret"))
        .header("Content-Type", "message/rfc822")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), reqwest::StatusCode::OK);
    let id = posted.json::<serde_json::Value>().await.unwrap()["conversation_id"].as_i64().unwrap();

    let browser = Browser::open(&app).await;
    browser.login().await;
    browser.goto(&format!("/#/c/{id}")).await;
    browser.wait_for_text("[data-testid=thread-subject]", "Order 42 is late").await;
    browser.wait_for_text("[data-testid=thread]", "Where is my order?").await;
    assert!(!browser.text("[data-testid=thread]").await.contains("It ships soon"), "the quote is folded");
    browser.wait_for_text("[data-testid=message-document]", "receipt.pdf").await;
    browser.click("[data-testid=message-quoted] summary").await;
    browser.wait_for("[data-testid=message-original-html]").await;
    assert_eq!(browser.attr("[data-testid=message-original-html]", "sandbox").await.as_deref(), Some(""));
    let srcdoc = browser.attr("[data-testid=message-original-html]", "srcdoc").await.unwrap_or_default();
    assert!(srcdoc.contains("It ships soon") && !srcdoc.contains("<script"), "{srcdoc}");
    browser
        .wait_until("document.querySelector('[data-testid=message-original-html]').srcdoc.includes('data:image/png')")
        .await;
    browser.screenshot("email-thread").await;

    browser.wait_for("[data-testid=email-fields]:not([hidden])").await;
    browser.type_into("[data-testid=composer-cc]", "boss@example.com").await;
    browser.type_into("[data-testid=composer-input]", "It ships today.").await;
    browser.press_enter().await;
    browser.wait_for("[data-testid=message][data-direction=outbound]").await;
    browser.wait_for_text("[data-testid=message-copies]", "boss@example.com").await;
    app.drain_jobs().await;
    let delivered = smtp.delivered();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].rcpt_tos, vec!["ana@example.com", "boss@example.com"]);
    let mail = delivered[0].parsed();
    assert_eq!(mail.subject(), Some("Re: Order 42 is late"));
    // The operator writing signs the mail.
    assert_eq!(mail.from().and_then(|a| a.first()).and_then(|a| a.name()), Some("Administrator (Acme Support)"));
    browser.close().await;
}
