//! Inbound WhatsApp media: the webhook names a Graph API media id; it is looked up
//! (`GET {graph}/{media-id}` with the channel's bearer token), the bytes are downloaded from the
//! returned URL with the same token and checked against the sha256 Meta reported.

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::settings::Settings;
use crate::channels::{FetchError, Fetched};

fn network(e: reqwest::Error) -> FetchError {
    FetchError::new("media_fetch_failed", format!("calling the Graph API failed: {e}"))
}

/// Looks the media id up, downloads at most `max_bytes` and checks them.
pub async fn fetch(
    http: &reqwest::Client,
    settings: &Settings,
    media: &Value,
    max_bytes: usize,
) -> Result<Fetched, FetchError> {
    let token = settings
        .access_token
        .as_deref()
        .ok_or_else(|| FetchError::new("media_fetch_failed", "the channel has no settings.access_token"))?;
    let id = media
        .get("id")
        .and_then(|id| id.as_str().map(str::to_owned).or_else(|| id.as_u64().map(|n| n.to_string())))
        .ok_or_else(|| FetchError::new("media_fetch_failed", "the webhook gave no media id"))?;
    let lookup_url = format!("{}/{}", settings.graph_base_url(), urlencode(&id));
    let lookup: Value = checked(http.get(&lookup_url).bearer_auth(token).send().await, "media id")
        .await?
        .json()
        .await
        .map_err(network)?;
    let url = lookup
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| FetchError::new("media_fetch_failed", "the Graph API media lookup gave no url"))?;
    let Fetched { bytes, content_type: served } =
        crate::channels::download(http, url, crate::channels::Auth::Bearer(token), max_bytes).await?;
    let digest = Sha256::digest(&bytes);
    for reported in [lookup.get("sha256"), media.get("sha256")].into_iter().flatten().filter_map(Value::as_str) {
        if !sha256_matches(reported, &digest) {
            return Err(FetchError::new(
                "media_checksum_mismatch",
                format!("the downloaded file's sha256 is not the reported `{reported}`"),
            ));
        }
    }
    let content_type = [lookup.get("mime_type"), media.get("mime_type")]
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::trim)
        .find(|mime| !mime.is_empty())
        .map_or(served, str::to_owned);
    Ok(Fetched { bytes, content_type })
}

/// The response when it succeeded; 404 and other statuses become failures.
async fn checked(response: reqwest::Result<reqwest::Response>, what: &str) -> Result<reqwest::Response, FetchError> {
    let response = response.map_err(network)?;
    match response.status() {
        status if status.is_success() => Ok(response),
        reqwest::StatusCode::NOT_FOUND => {
            Err(FetchError::new("media_not_found", format!("the Graph API does not know the {what} (404)")))
        }
        status => Err(FetchError::new("media_fetch_failed", format!("the Graph API answered {status} for the {what}"))),
    }
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Whether a sha256 as Meta reports it matches `digest`: hex on the media endpoint, base64 in
/// webhooks (sometimes without padding).
fn sha256_matches(reported: &str, digest: &[u8]) -> bool {
    let reported = reported.trim();
    if reported.len() == 64 && reported.bytes().all(|b| b.is_ascii_hexdigit()) {
        return reported.eq_ignore_ascii_case(&hex::encode(digest));
    }
    let unpadded = reported.trim_end_matches('=');
    [&base64::engine::general_purpose::STANDARD_NO_PAD, &base64::engine::general_purpose::URL_SAFE_NO_PAD]
        .iter()
        .any(|engine| engine.decode(unpadded).is_ok_and(|decoded| decoded == digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_in_both_of_metas_formats() {
        let digest = Sha256::digest(b"hello");
        let hex = hex::encode(digest);
        let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
        assert!(sha256_matches(&hex, &digest));
        assert!(sha256_matches(&hex.to_uppercase(), &digest));
        assert!(sha256_matches(&b64, &digest));
        assert!(sha256_matches(b64.trim_end_matches('='), &digest));
        assert!(!sha256_matches("4654+8g=", &digest));
        assert!(!sha256_matches(&hex::encode(Sha256::digest(b"other")), &digest));
    }
}
