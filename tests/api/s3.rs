//! The media store on an S3-compatible bucket: a local moto server (installed into the test
//! virtual environment by scripts/test) stands in for S3; uploads, signed downloads and inbound
//! WhatsApp media must all go through the bucket.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use tokio::process::{Child, Command};

use crate::helpers::*;
use crate::whatsapp::message;
use crate::whatsapp_media::{channel_on, deliver_image, download_link, GraphStandIn, Serve};

/// A moto S3 server on a free local port, stopped when dropped.
pub struct S3Server {
    pub endpoint: String,
    _child: Child,
}

impl S3Server {
    pub async fn start() -> S3Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let python = std::env::var("PARLEY_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let child = Command::new(&python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {python}: {e} (run the suite with scripts/test)"));
        let endpoint = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client.get(format!("{endpoint}/moto-api/")).send().await.is_ok() {
                return S3Server { endpoint, _child: child };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto did not start: is moto[server] installed? run the suite with scripts/test");
    }

    pub async fn create_bucket(&self, bucket: &str) {
        let response = reqwest::Client::new().put(format!("{}/{bucket}", self.endpoint)).send().await.unwrap();
        assert!(response.status().is_success(), "creating bucket: {}", response.status());
    }

    /// The keys in the bucket.
    pub async fn keys(&self, bucket: &str) -> Vec<String> {
        let xml = reqwest::get(format!("{}/{bucket}?list-type=2", self.endpoint)).await.unwrap().text().await.unwrap();
        xml.split("<Key>").skip(1).filter_map(|part| part.split("</Key>").next()).map(str::to_owned).collect()
    }
}

async fn media_lives_in_the_bucket(backend: Backend) {
    let s3 = S3Server::start().await;
    let bucket = "parley-media";
    s3.create_bucket(bucket).await;
    let flags = [
        "--media-store",
        "s3",
        "--s3-bucket",
        bucket,
        "--s3-endpoint",
        &s3.endpoint,
        "--s3-access-key-id",
        "testing",
        "--s3-secret-access-key",
        "testing",
        "--s3-path-style",
        "true",
    ];
    let app = spawn_app_with(backend, &flags).await;

    // An upload is stored in the bucket and served by its signed link.
    let uploaded = crate::media::upload_png(&app).await;
    let key = uploaded["key"].as_str().unwrap().to_owned();
    assert_eq!(s3.keys(bucket).await, std::slice::from_ref(&key));
    let (status, bytes) = download_link(uploaded["url"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes.len() as i64, uploaded["size"].as_i64().unwrap());

    // So is a file fetched from the Graph API for an inbound WhatsApp message.
    let graph = GraphStandIn::start(Serve::Bytes).await;
    let channel = channel_on(&app, &graph).await;
    deliver_image(&app, "wamid.s3", &graph.webhook_sha256()).await;
    app.drain_jobs().await;
    let fetched = message(&app, channel, "wamid.s3").await.unwrap();
    let media_key = fetched["media_keys"][0].as_str().unwrap().to_owned();
    let mut keys = s3.keys(bucket).await;
    keys.sort();
    let mut expected = vec![key, media_key.clone()];
    expected.sort();
    assert_eq!(keys, expected);
    let reply = app.get(&format!("/api/files/{media_key}?expireMinutes=1")).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(download_link(reply.body["url"].as_str().unwrap()).await.1, graph.bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_lives_in_the_bucket_sqlite() {
    media_lives_in_the_bucket(Backend::Sqlite).await;
}

crate::postgres_test!(
    async fn media_lives_in_the_bucket_postgres() {
        media_lives_in_the_bucket(Backend::Postgres).await;
    }
);
