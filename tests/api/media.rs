//! `/api/v1/media` uploads and the signed download links at `/media/{key}`.
//!
//! Uploads are built by hand as `multipart/form-data` because the crate's reqwest is built
//! without its `multipart` feature.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::*;

/// A small PNG-looking payload: the PNG signature followed by arbitrary bytes.
pub fn png_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
    bytes.extend((0..len.saturating_sub(8)).map(|i| (i * 7 % 251) as u8));
    bytes
}

pub const BOUNDARY: &str = "parley-test-boundary-7f3a9c";

/// A `multipart/form-data` body with one file part.
pub fn multipart(field: &str, filename: &str, content_type: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n\
         Content-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// Posts a multipart body to `/api/v1/media` with `key`.
async fn upload_raw(app: &TestApp, key: &str, body: Vec<u8>) -> Reply {
    let response = app
        .client
        .post(format!("{}/api/v1/media", app.base))
        .header("X-Api-Key", key)
        .header("Content-Type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(body)
        .send()
        .await
        .expect("request");
    Reply::of(response).await
}

/// Uploads a file as `file` with the app's key.
pub async fn upload(app: &TestApp, filename: &str, content_type: &str, bytes: &[u8]) -> Reply {
    upload_raw(app, &app.key, multipart("file", filename, content_type, bytes)).await
}

/// Uploads a PNG and returns the response body.
pub async fn upload_png(app: &TestApp) -> Value {
    let reply = upload(app, "a.png", "image/png", &png_bytes(300)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    reply.body
}

/// Fetches a URL without any API key: status, content type and bytes.
async fn download(app: &TestApp, url: &str) -> (StatusCode, String, Vec<u8>) {
    let response = app.client.get(url).send().await.expect("download");
    let status = response.status();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (status, content_type, response.bytes().await.expect("bytes").to_vec())
}

fn is_media_key(key: &str) -> bool {
    let parts: Vec<&str> = key.split('/').collect();
    parts.len() == 3
        && parts.iter().zip([8, 8, 32]).all(|(part, len)| {
            part.len() == len && part.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        })
}

fn now_seconds() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

fn listed_keys(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body["data"].as_array().expect("data").iter().map(|m| m["key"].as_str().expect("key").to_owned()).collect()
}

async fn upload_then_download_with_a_signed_link(app: TestApp) {
    let bytes = png_bytes(300);
    let reply = upload(&app, "a.png", "image/png", &bytes).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    let key = reply.body["key"].as_str().expect("key").to_owned();
    assert!(is_media_key(&key), "key shaped like xxxxxxxx/xxxxxxxx/<32 hex>: {key}");
    assert_eq!(reply.body["sha256"], hex::encode(Sha256::digest(&bytes)));
    assert_eq!(reply.body["size"], bytes.len());
    assert_eq!(reply.body["content_type"], "image/png");
    assert_eq!(reply.body["filename"], "a.png");
    let url = reply.body["url"].as_str().expect("url").to_owned();
    assert!(url.starts_with(&format!("{}/media/{key}?", app.base)), "{url}");
    assert!(url.contains("signature="), "{url}");

    let (status, content_type, body) = download(&app, &url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "image/png");
    assert_eq!(body, bytes, "the download returns exactly the uploaded bytes");

    let list = app.get("/api/v1/media").await;
    assert_eq!(listed_keys(&list), vec![key.clone()]);
    assert_eq!(list.body["data"][0]["size"], bytes.len());

    // Every upload gets its own key, even for the same bytes.
    let again = upload(&app, "a.png", "image/png", &bytes).await;
    assert_eq!(again.status, StatusCode::CREATED, "{again:?}");
    assert_ne!(again.body["key"], key.as_str());
    assert_eq!(again.body["sha256"], reply.body["sha256"]);
    assert_eq!(listed_keys(&app.get("/api/v1/media").await).len(), 2);
}

async fn tampered_or_expired_links_are_refused(app: TestApp) {
    let uploaded = upload_png(&app).await;
    let key = uploaded["key"].as_str().expect("key").to_owned();
    let url = uploaded["url"].as_str().expect("url").to_owned();

    // A different signature.
    let (signed, signature) = url.rsplit_once("signature=").expect("signature");
    let flipped: String = signature
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 0 {
                if c == '0' {
                    '1'
                } else {
                    '0'
                }
            } else {
                c
            }
        })
        .collect();
    let (status, _, body) = download(&app, &format!("{signed}signature={flipped}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_ne!(body, png_bytes(300));
    let (status, _, _) = download(&app, &format!("{signed}signature=")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The same signature on another key.
    let last = key.chars().last().expect("last");
    let other_key = format!("{}{}", &key[..key.len() - 1], if last == '0' { '1' } else { '0' });
    let (status, _, _) = download(&app, &url.replace(&key, &other_key)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The same signature with a later expiry.
    let expires: i64 =
        url.split("expires=").nth(1).and_then(|s| s.split('&').next()).expect("expires").parse().unwrap();
    let (status, _, _) =
        download(&app, &url.replace(&format!("expires={expires}"), &format!("expires={}", expires + 3600))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A correctly signed link that has expired.
    let expired = app.state.media.signed_url(&key, now_seconds() - 60);
    let (status, _, _) = download(&app, &expired).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A correctly signed link to a key that was never uploaded.
    let ghost = "0123abcd/4567ef01/0123456789abcdef0123456789abcdef";
    let (status, _, _) = download(&app, &app.state.media.signed_url(ghost, now_seconds() + 600)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The genuine link still works.
    let (status, _, body) = download(&app, &url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, png_bytes(300));
}

async fn fresh_links_on_request(app: TestApp) {
    let uploaded = upload_png(&app).await;
    let key = uploaded["key"].as_str().expect("key").to_owned();

    let reply = app.get(&format!("/api/v1/media/{key}?expire_minutes=5")).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body["key"], key.as_str());
    assert_eq!(reply.body["sha256"], uploaded["sha256"]);
    let url = reply.body["url"].as_str().expect("url");
    let expires: i64 =
        url.split("expires=").nth(1).and_then(|s| s.split('&').next()).expect("expires").parse().unwrap();
    let lifetime = expires - now_seconds();
    assert!((240..=300).contains(&lifetime), "a 5-minute link expires in about 300 s, not {lifetime}");
    let (status, content_type, body) = download(&app, url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "image/png");
    assert_eq!(body, png_bytes(300));

    let default = app.get(&format!("/api/v1/media/{key}")).await;
    assert_eq!(default.status, StatusCode::OK, "{default:?}");

    for bad in ["0", "-1", "10081"] {
        let reply = app.get(&format!("/api/v1/media/{key}?expire_minutes={bad}")).await;
        assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(reply.body["errors"][0]["field"], "expire_minutes", "{reply:?}");
    }
    let reply = app.get(&format!("/api/v1/media/{key}?expire_minutes=soon")).await;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_query");

    let reply = app.get("/api/v1/media/0123abcd/4567ef01/0123456789abcdef0123456789abcdef").await;
    assert_problem(&reply, StatusCode::NOT_FOUND, "not_found");
}

async fn upload_rejects_bad_files(app: TestApp) {
    let reply = upload(&app, "setup.exe", "application/x-msdownload", b"MZ\x90\x00 not really a program").await;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], "file", "{reply:?}");
    assert!(reply.body["detail"].as_str().unwrap_or_default().contains("application/x-msdownload"), "{reply:?}");

    let reply = upload(&app, "empty.png", "image/png", b"").await;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], "file", "{reply:?}");

    let reply = upload_raw(&app, &app.key, multipart("attachment", "a.png", "image/png", &png_bytes(100))).await;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], "file", "{reply:?}");

    let reply =
        upload_raw(&app, "pk_not_a_real_key_0000000000", multipart("file", "a.png", "image/png", &png_bytes(100)))
            .await;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");

    assert_eq!(listed_keys(&app.get("/api/v1/media").await), Vec::<String>::new(), "nothing was stored");
}

async fn media_of_another_account_answer_404(app: TestApp) {
    let other = app.other_account_key().await;
    let uploaded = upload_png(&app).await;
    let key = uploaded["key"].as_str().expect("key").to_owned();

    let reply = app.call_as(&other, Method::GET, &format!("/api/v1/media/{key}"), None).await;
    assert_problem(&reply, StatusCode::NOT_FOUND, "not_found");
    let theirs = app.call_as(&other, Method::GET, "/api/v1/media", None).await;
    assert_eq!(listed_keys(&theirs), Vec::<String>::new());

    // Nor can they attach our file to a message on their channel.
    let reply = app
        .call_as(
            &other,
            Method::POST,
            "/api/v1/channels",
            Some(json!({"kind": "whatsapp", "name": "Theirs", "address": "+390255555555", "simulation": true})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    let their_channel = reply.body["id"].as_i64().expect("id");
    let reply = app
        .call_as(
            &other,
            Method::POST,
            &format!("/api/v1/channels/{their_channel}/inbound"),
            Some(json!({"from": "+393471234567", "media_key": key})),
        )
        .await;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], "media_key", "{reply:?}");

    assert_eq!(app.get(&format!("/api/v1/media/{key}")).await.status, StatusCode::OK, "still ours");
}

async fn inbound_message_with_uploaded_media(app: TestApp) {
    let channel = app.channel("whatsapp", "+390212345678", true).await;
    let uploaded = upload_png(&app).await;
    let key = uploaded["key"].as_str().expect("key").to_owned();
    let inbound = format!("/api/v1/channels/{channel}/inbound");

    let unknown = "0123abcd/4567ef01/0123456789abcdef0123456789abcdef";
    let reply = app.post(&inbound, json!({"from": "+393471234567", "name": "Ada", "media_key": unknown})).await;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], "media_key", "{reply:?}");
    assert_eq!(app.get("/api/v1/conversations").await.body["data"], json!([]), "a refused message creates nothing");
    assert_eq!(app.get("/api/v1/contacts").await.body["data"], json!([]), "nor a contact");

    let reply = app.post(&inbound, json!({"from": "+393471234567", "name": "Ada", "media_key": key})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    assert_eq!(reply.body["message"]["type"], "image", "a message with media defaults to an image");
    assert_eq!(reply.body["message"]["media_keys"], json!([key]));
    let conversation_id = reply.body["conversation"]["id"].as_i64().expect("conversation id");

    let messages = app.get(&format!("/api/v1/conversations/{conversation_id}/messages")).await;
    assert_eq!(messages.status, StatusCode::OK, "{messages:?}");
    assert_eq!(messages.body["data"].as_array().map(Vec::len), Some(1), "{messages:?}");
    assert_eq!(messages.body["data"][0]["media_keys"], json!([key]));

    let reply = app
        .post(&inbound, json!({"from": "+393471234567", "type": "document", "text": "the invoice", "media_key": key}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    assert_eq!(reply.body["message"]["type"], "document", "an explicit type wins");
}

/// Uploads over `--max-media-bytes` are refused with 413 and store nothing.
async fn oversized_upload_is_refused(app: TestApp) {
    let reply = upload(&app, "big.png", "image/png", &png_bytes(5000)).await;
    assert_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert!(reply.body["detail"].as_str().unwrap_or_default().contains("1000"), "{reply:?}");
    assert_eq!(listed_keys(&app.get("/api/v1/media").await), Vec::<String>::new(), "nothing was stored");

    let reply = upload(&app, "small.png", "image/png", &png_bytes(1000)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "a file at the limit is fine: {reply:?}");
    assert_eq!(listed_keys(&app.get("/api/v1/media").await).len(), 1);
}

mod small_files {
    use super::*;

    const FLAGS: &[&str] = &["--max-media-bytes", "1000"];
    crate::backend_tests!(with FLAGS; oversized_upload_is_refused);
}

crate::backend_tests!(
    upload_then_download_with_a_signed_link,
    tampered_or_expired_links_are_refused,
    fresh_links_on_request,
    upload_rejects_bad_files,
    media_of_another_account_answer_404,
    inbound_message_with_uploaded_media,
    upload_accepts_content_type_parameters,
    non_multipart_upload_is_a_problem,
    uploads_record_their_origin_and_the_library_filters_on_it,
    library_sorts_by_date_or_format_across_pages,
    content_serves_the_bytes_to_their_account_only,
);

/// A file whose content type carries parameters (`text/plain; charset=utf-8`) is accepted by its type.
async fn upload_accepts_content_type_parameters(app: TestApp) {
    let reply = upload(&app, "notes.txt", "text/plain; charset=utf-8", b"hello").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    assert!(reply.body["content_type"].as_str().unwrap_or_default().starts_with("text/plain"), "{reply:?}");
    let (status, content_type, body) = download(&app, reply.body["url"].as_str().expect("url")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert_eq!(body, b"hello");
}

/// An upload that is not multipart gets a problem document like every other error.
async fn non_multipart_upload_is_a_problem(app: TestApp) {
    let response = app
        .client
        .post(format!("{}/api/v1/media", app.base))
        .header("X-Api-Key", &app.key)
        .header("Content-Type", "image/png")
        .body(png_bytes(100))
        .send()
        .await
        .expect("upload");
    let status = response.status();
    let headers = response.headers().clone();
    let body = serde_json::from_str(&response.text().await.expect("text")).unwrap_or(Value::Null);
    let reply = Reply { status, body, headers };
    assert!(reply.status.is_client_error(), "{reply:?}");
    assert_problem(&reply, reply.status, reply.body["code"].as_str().unwrap_or("a code"));
    assert_eq!(listed_keys(&app.get("/api/v1/media").await), Vec::<String>::new());
}

/// A `multipart/form-data` body with a text field `origin` before or after the file part.
fn multipart_with_origin(origin: &str, origin_first: bool, filename: &str, bytes: &[u8]) -> Vec<u8> {
    let text =
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"origin\"\r\n\r\n{origin}\r\n").into_bytes();
    let file = multipart("file", filename, "image/png", bytes);
    if origin_first {
        [text, file].concat()
    } else {
        let file_part = &file[..file.len() - format!("--{BOUNDARY}--\r\n").len()];
        [file_part.to_vec(), text, format!("--{BOUNDARY}--\r\n").into_bytes()].concat()
    }
}

/// `origin` is `original` unless the upload says `ai_generated`; a bad value stores nothing.
async fn uploads_record_their_origin_and_the_library_filters_on_it(app: TestApp) {
    let plain = upload_png(&app).await;
    assert_eq!(plain["origin"], "original");
    let reply = upload_raw(&app, &app.key, multipart_with_origin("ai_generated", true, "ai.png", &png_bytes(50))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    assert_eq!(reply.body["origin"], "ai_generated");
    let ai = reply.body["key"].as_str().expect("key").to_owned();
    let reply = upload_raw(&app, &app.key, multipart_with_origin("original", false, "b.png", &png_bytes(60))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "the field may follow the file: {reply:?}");
    assert_eq!(reply.body["origin"], "original");
    let original = reply.body["key"].as_str().expect("key").to_owned();

    for origin_first in [true, false] {
        let reply =
            upload_raw(&app, &app.key, multipart_with_origin("generated", origin_first, "c.png", &png_bytes(70))).await;
        assert_field_error(&reply, "origin");
    }
    let all = app.get("/api/v1/media").await;
    assert_eq!(listed_keys(&all).len(), 3, "the refused uploads stored nothing");
    assert_eq!(all.body["data"][0]["origin"], "original");
    assert_eq!(all.body["data"][1]["origin"], "ai_generated");

    assert_eq!(listed_keys(&app.get("/api/v1/media?origin=ai_generated").await), vec![ai]);
    let plain_key = plain["key"].as_str().expect("key").to_owned();
    assert_eq!(listed_keys(&app.get("/api/v1/media?origin=original").await), vec![original, plain_key]);
    assert_field_error(&app.get("/api/v1/media?origin=fake").await, "origin");
}

/// Every page of a sort, followed through `next_cursor`, as (key, content type).
async fn all_pages(app: &TestApp, sort: &str, limit: usize) -> Vec<(String, String)> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/media?sort={sort}&limit={limit}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let reply = app.get(&path).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        let page = reply.body["data"].as_array().expect("data");
        assert!(page.len() <= limit);
        items.extend(page.iter().map(|m| {
            (m["key"].as_str().expect("key").to_owned(), m["content_type"].as_str().expect("type").to_owned())
        }));
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

/// Date and format orders, both directions, ties in upload order, pages that neither skip nor repeat.
async fn library_sorts_by_date_or_format_across_pages(app: TestApp) {
    let files: [(&str, &str); 5] = [
        ("a.png", "image/png"),
        ("b.pdf", "application/pdf"),
        ("c.png", "image/png"),
        ("d.txt", "text/plain"),
        ("e.jpg", "image/jpeg"),
    ];
    let mut uploaded = Vec::new();
    for (name, content_type) in files {
        let reply = upload(&app, name, content_type, &png_bytes(40)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        uploaded.push((reply.body["key"].as_str().expect("key").to_owned(), content_type.to_owned()));
    }
    let newest_first: Vec<_> = uploaded.iter().rev().cloned().collect();
    assert_eq!(all_pages(&app, "-created_at", 2).await, newest_first);
    assert_eq!(all_pages(&app, "created_at", 2).await, uploaded);
    let mut by_type = uploaded.clone();
    by_type.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(all_pages(&app, "content_type", 2).await, by_type, "ties stay in upload order");
    assert_eq!(all_pages(&app, "content_type", 1).await, by_type);
    let mut by_type_desc = uploaded.iter().rev().cloned().collect::<Vec<_>>();
    by_type_desc.sort_by(|a, b| b.1.cmp(&a.1));
    assert_eq!(all_pages(&app, "-content_type", 3).await, by_type_desc);

    let first = app.get("/api/v1/media?limit=2").await;
    assert_eq!(listed_keys(&first).len(), 2, "the default order is newest first");
    assert_eq!(first.body["data"][0]["key"], newest_first[0].0.as_str());
    let cursor = first.body["next_cursor"].as_str().expect("cursor");
    assert_field_error(&app.get(&format!("/api/v1/media?sort=content_type&cursor={cursor}")).await, "cursor");
    assert_field_error(&app.get("/api/v1/media?cursor=not-a-cursor").await, "cursor");
    assert_field_error(&app.get("/api/v1/media?sort=size").await, "sort");
    for limit in ["0", "201"] {
        assert_field_error(&app.get(&format!("/api/v1/media?limit={limit}")).await, "limit");
    }
    let reply = app.get("/api/v1/media?limit=200").await;
    assert_eq!(listed_keys(&reply).len(), 5);
    assert_eq!(reply.body["next_cursor"], Value::Null);
}

/// `GET /api/v1/media/{key}/content`: the bytes with their type, shown inline under a safely quoted
/// name, privately cacheable; 404 for another account's key or an unknown one.
async fn content_serves_the_bytes_to_their_account_only(app: TestApp) {
    let bytes = png_bytes(500);
    let reply = upload(&app, "fattura.png", "image/png", &bytes).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    let key = reply.body["key"].as_str().expect("key").to_owned();
    // A name with quotes, a backslash and non-ASCII text, as a provider may report it.
    sqlx::query("UPDATE media SET filename = $1 WHERE key = $2")
        .bind("Fattura \"marzo\" \\ è.png")
        .bind(&key)
        .execute(app.state.db.writer())
        .await
        .expect("rename");

    let fetch = |api_key: String, path: String| {
        let client = app.client.clone();
        let url = format!("{}{path}", app.base);
        async move { client.get(url).header("X-Api-Key", api_key).send().await.expect("content") }
    };
    let response = fetch(app.key.clone(), format!("/api/v1/media/{key}/content")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(header("content-type"), "image/png");
    assert_eq!(header("cache-control"), "private, max-age=300");
    assert_eq!(header("content-length"), bytes.len().to_string());
    let disposition = header("content-disposition");
    assert!(
        disposition.starts_with("inline; filename=\"Fattura _marzo_ _ _.png\"; filename*=UTF-8''"),
        "{disposition}"
    );
    assert!(disposition.ends_with("Fattura%20%22marzo%22%20%5C%20%C3%A8.png"), "{disposition}");
    assert_eq!(response.bytes().await.expect("bytes").to_vec(), bytes);

    // The details of the same key are still at `/api/v1/media/{key}`.
    assert_eq!(app.get(&format!("/api/v1/media/{key}")).await.body["key"], key.as_str());

    let other = app.other_account_key().await;
    let theirs = fetch(other, format!("/api/v1/media/{key}/content")).await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
    let ghost = app.get("/api/v1/media/0123abcd/4567ef01/0123456789abcdef0123456789abcdef/content").await;
    assert_problem(&ghost, StatusCode::NOT_FOUND, "not_found");
    let anonymous = app.client.get(format!("{}/api/v1/media/{key}/content", app.base)).send().await.expect("anonymous");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
