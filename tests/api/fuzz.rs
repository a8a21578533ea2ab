//! Schemathesis (pinned in `tests/fuzz/requirements.txt`) generates requests from the OpenAPI
//! documents, valid and invalid, against a server on SQLite with some data in it, and fails on any
//! 5xx, any answer that breaks its documented schema or content type, and any undocumented status.

use std::process::Stdio;

use serde_json::json;

use crate::helpers::*;

/// Cases generated per operation.
const EXAMPLES: &str = "5";

/// The app the fuzzer talks to: limits that would only slow it down are out of its way, and
/// there is one of everything (ids 1) for the operations that need an existing resource.
async fn seeded_app() -> TestApp {
    let flags = [
        "--rate-limit-per-minute",
        "1000000",
        "--rate-limit-burst",
        "100000",
        "--auth-failures-per-minute",
        "1000000",
        "--compat-rate-limit-per-minute",
        "1000000",
        "--compat-rate-limit-burst",
        "100000",
    ];
    let app = spawn_app_with(Backend::Sqlite, &flags).await;
    let channel = app.channel("sms", "+393209998800", true).await;
    app.inbound(channel, "+393471234567", "Marco Bianchi", "Buongiorno").await;
    let reply = app.post("/api/v1/webhooks", json!({"url": "http://127.0.0.1:9/hook"})).await;
    assert!(reply.status.is_success(), "{reply:?}");
    crate::media::upload_png(&app).await;
    app
}

/// Runs schemathesis on one of the app's documents; panics with its report when it finds anything.
async fn fuzz(app: &TestApp, document: &str, extra: &[&str]) {
    let python = std::env::var("PARLEY_TEST_PYTHON")
        .expect("PARLEY_TEST_PYTHON names the test venv's python: run the suite with scripts/test");
    let schemathesis = std::path::Path::new(&python).with_file_name("schemathesis");
    // Its reports and caches stay out of the source tree.
    let workdir = crate::browser::screenshot_dir().with_file_name("schemathesis");
    std::fs::create_dir_all(&workdir).expect("schemathesis directory");
    let output = tokio::process::Command::new(&schemathesis)
        .current_dir(&workdir)
        .args(["run", &format!("{}{document}", app.base)])
        .args(["--header", &format!("X-Api-Key: {}", app.key)])
        .args([
            "--max-examples",
            EXAMPLES,
            "--seed",
            "1",
            "--no-color",
            "--suppress-health-check",
            "filter_too_much",
            "--generation-database",
            "none",
        ])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--report", "junit", "--report-dir", "."])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap_or_else(|e| panic!("{} could not run: {e}", schemathesis.display()));
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found problems in {document}:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("passed"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_native_api_answers_as_its_document_says() {
    let app = seeded_app().await;
    // Revoking keys would revoke the fuzzer's own; the key tests cover it.
    fuzz(&app, "/api/v1/openapi.json", &["--exclude-operation-id", "revokeApiKey"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compatible_apis_answer_as_their_document_says() {
    let app = seeded_app().await;
    fuzz(&app, "/api/compat/openapi.json", &[]).await;
}
