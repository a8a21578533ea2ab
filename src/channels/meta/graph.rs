//! Calls to Meta's Graph API: bearer-authenticated JSON requests whose errors each network sorts
//! into what Parley does about them.

use std::time::Duration;

use serde_json::Value;

use crate::channels::Failure;

/// Builds the client for provider calls.
pub fn http_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder().timeout(timeout).connect_timeout(timeout).build()
}

/// GETs `{base}/{path}` with the bearer token; answers the response body, or the failure as
/// `classify` sorts Meta's error answer.
pub async fn get(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    token: &str,
    classify: fn(u16, &Value) -> Failure,
) -> Result<Value, Failure> {
    answer(client.get(format!("{base}/{path}")).bearer_auth(token), classify).await
}

/// POSTs `body` to `{base}/{path}` with the bearer token; answers the response body, or the
/// failure as `classify` sorts Meta's error answer.
pub async fn post(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    token: &str,
    body: &Value,
    classify: fn(u16, &Value) -> Failure,
) -> Result<Value, Failure> {
    answer(client.post(format!("{base}/{path}")).bearer_auth(token).json(body), classify).await
}

async fn answer(request: reqwest::RequestBuilder, classify: fn(u16, &Value) -> Failure) -> Result<Value, Failure> {
    let response = request.send().await.map_err(|e| Failure::Transient(format!("Graph API unreachable: {e}")))?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        Ok(answer)
    } else {
        Err(classify(status.as_u16(), &answer))
    }
}
