//! The WhatsApp phase: the real door of the busiest network. Signed webhook deliveries as Meta
//! sends them (`POST /hooks/whatsapp`, `X-Hub-Signature-256`, [`PER_DELIVERY`] updates per
//! delivery, one entry each) of customer messages, of messages the business sent from the
//! WhatsApp Business app (echoes, which give outbound messages to report on), then of the
//! `delivered` and `read` statuses of those messages.

use std::sync::Arc;

use futures::FutureExt;

use anyhow::{Context, Result};
use hmac::{Hmac, Mac};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::{load, random_token, Args, Load, Target};

/// Updates per webhook delivery (Meta batches up to 1,000; tens are common under load).
pub const PER_DELIVERY: usize = 10;
const APP_SECRET: &str = "bench-app-secret";
const PHONE_NUMBER_ID: &str = "106540352242922";

/// What the phase measured: each a load of deliveries of [`PER_DELIVERY`] updates.
pub struct WhatsappLoads {
    pub inbound: Load,
    pub echoes: Load,
    pub statuses: Load,
}

/// Creates a live WhatsApp channel and drives its webhook with `args.messages` customer
/// messages, as many echoes, and two statuses for each echo.
pub async fn run(client: &Client, target: &Target, args: &Args) -> Result<WhatsappLoads> {
    let body = json!({
        "kind": "whatsapp", "name": "Bench WhatsApp", "address": "+15550783881",
        "settings": {"phone_number_id": PHONE_NUMBER_ID, "app_secret": APP_SECRET, "verify_token": "bench",
                     "access_token": "bench-access-token"},
    });
    let response = client
        .post(format!("{}/api/v1/channels", target.base))
        .json(&body)
        .send()
        .await
        .context("creating WhatsApp")?;
    anyhow::ensure!(
        response.status() == StatusCode::CREATED,
        "creating the WhatsApp channel: HTTP {}",
        response.status()
    );
    let run_id = random_token(8);
    let deliveries = args.messages.div_ceil(PER_DELIVERY);
    let contacts = args.contacts;
    let message = move |kind: &str, i: usize| -> Value {
        let user = format!("39348{:07}", i % contacts);
        let id = format!("wamid.bench-{run_id}-{kind}-{i}");
        match kind {
            "in" => change(
                "messages",
                json!({"contacts": [{"profile": {"name": format!("Customer {}", i % contacts)}, "wa_id": user}],
                       "messages": [{"from": user, "id": id, "timestamp": "1764100000", "type": "text",
                                     "text": {"body": format!("whatsapp bench message {i} about order ORD-{i}")}}]}),
            ),
            "echo" => change(
                "smb_message_echoes",
                json!({"message_echoes": [{"from": "15550783881", "to": user, "id": id, "timestamp": "1764100000",
                                           "type": "text", "text": {"body": format!("answer {i}")}}]}),
            ),
            status => change(
                "messages",
                json!({"statuses": [{"id": format!("wamid.bench-{run_id}-echo-{i}"), "status": status,
                                     "timestamp": "1764100001", "recipient_id": user}]}),
            ),
        }
    };
    let message = Arc::new(message);
    let mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).context("keying the signature")?;
    let drive = |kinds: &'static [&'static str]| {
        let (client, url, message) = (client.clone(), format!("{}/hooks/whatsapp", target.base), message.clone());
        let mac = mac.clone();
        load(deliveries * kinds.len(), args.connections, StatusCode::OK, move |n| {
            // Deliveries of each kind in turn, so `delivered` of a batch precedes its `read`.
            let (batch, kind) = (n / kinds.len(), kinds[n % kinds.len()]);
            let entries: Vec<Value> = (batch * PER_DELIVERY..(batch + 1) * PER_DELIVERY)
                .map(|i| json!({"id": "102290129340398", "changes": [message(kind, i)]}))
                .collect();
            let body = json!({"object": "whatsapp_business_account", "entry": entries}).to_string();
            client
                .post(&url)
                .header("content-type", "application/json")
                .header("x-hub-signature-256", signature(mac.clone(), &body))
                .body(body)
        })
        .map(|loaded| loaded.map(|loaded| Load { per_request: PER_DELIVERY, ..loaded }))
    };
    crate::progress(format!("WhatsApp webhook: {deliveries} deliveries of {PER_DELIVERY} messages"));
    let inbound = drive(&["in"]).await?;
    crate::progress(format!("WhatsApp webhook: {deliveries} deliveries of {PER_DELIVERY} echoes"));
    let echoes = drive(&["echo"]).await?;
    crate::progress(format!("WhatsApp webhook: {} deliveries of {PER_DELIVERY} statuses", 2 * deliveries));
    let statuses = drive(&["delivered", "read"]).await?;
    Ok(WhatsappLoads { inbound, echoes, statuses })
}

/// One change of `field` for the bench's phone number.
fn change(field: &str, mut value: Value) -> Value {
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID});
    json!({"field": field, "value": value})
}

/// Meta's `X-Hub-Signature-256` of a body, with the keyed `mac`.
fn signature(mut mac: Hmac<Sha256>, body: &str) -> String {
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}
