//! WhatsApp message templates at Meta: a live channel with a `waba_id` submits templates to
//! `POST /{waba_id}/message_templates` and reads them back from the same path.

use serde_json::json;

use super::graph::classify;
use super::settings::Settings;
use super::webhook::id_text;
use crate::channels::meta::graph as meta_graph;
use crate::channels::{Failure, ProviderTemplate};
use crate::store::channels::ChannelRow;

/// The Graph API access of a live channel with a business account: base URL, WABA id, token.
fn account(channel: &ChannelRow) -> Option<(String, String, String)> {
    let settings = Settings::parse(&channel.settings);
    match (channel.simulation, settings.waba_id.clone(), settings.access_token.clone()) {
        (0, Some(waba_id), Some(token)) => Some((settings.graph_base_url().to_owned(), waba_id, token)),
        _ => None,
    }
}

/// Submits a template for review: its status and Meta's id, or `None` without a business account.
pub async fn submit(
    http: &reqwest::Client,
    channel: &ChannelRow,
    template: &ProviderTemplate,
) -> Result<Option<ProviderTemplate>, Failure> {
    let Some((base, waba_id, token)) = account(channel) else { return Ok(None) };
    let body = json!({"name": template.name, "language": template.language, "category": template.category,
                      "components": template.components});
    let path = format!("{waba_id}/message_templates");
    let answer = meta_graph::post(http, &base, &path, &token, &body, classify).await?;
    Ok(Some(ProviderTemplate {
        status: answer["status"].as_str().unwrap_or("PENDING").to_owned(),
        provider_template_id: id_text(&answer["id"]),
        ..template.clone()
    }))
}

/// The business account's templates, or `None` without one.
pub async fn list(http: &reqwest::Client, channel: &ChannelRow) -> Result<Option<Vec<ProviderTemplate>>, Failure> {
    let Some((base, waba_id, token)) = account(channel) else { return Ok(None) };
    let path = format!("{waba_id}/message_templates?limit=1000");
    let answer = meta_graph::get(http, &base, &path, &token, classify).await?;
    let items = answer["data"].as_array().map(Vec::as_slice).unwrap_or_default();
    Ok(Some(
        items
            .iter()
            .filter_map(|item| {
                Some(ProviderTemplate {
                    name: item["name"].as_str()?.to_owned(),
                    language: item["language"].as_str()?.to_owned(),
                    category: item["category"].as_str().unwrap_or("UTILITY").to_owned(),
                    status: item["status"].as_str().unwrap_or("PENDING").to_owned(),
                    components: item.get("components").cloned().unwrap_or(json!([])),
                    provider_template_id: id_text(&item["id"]),
                    reason: item["rejected_reason"].as_str().filter(|r| *r != "NONE").map(str::to_owned),
                })
            })
            .collect(),
    ))
}
