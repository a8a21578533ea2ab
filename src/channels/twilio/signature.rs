//! `X-Twilio-Signature`: Twilio signs every webhook request with the account's auth token, as
//! the base64 HMAC-SHA1 of the full URL it called followed by each form parameter's name and
//! value, sorted by name. The SDKs accept the URL with or without its default port, because
//! Twilio's own signing is inconsistent about it; so does Parley.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The header carrying the signature.
pub const HEADER: &str = "x-twilio-signature";

fn mac(auth_token: &str, url: &str, params: &[(String, String)]) -> Hmac<Sha1> {
    let mut mac =
        Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(url.as_bytes());
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// The signature Twilio sends for a form request to `url` with `params`.
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    base64::engine::general_purpose::STANDARD.encode(mac(auth_token, url, params).finalize().into_bytes())
}

/// Whether `header` signs the request to `url` with `params`, the URL taken with and without its
/// default port; digests are compared in constant time.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], header: &str) -> bool {
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(header.trim()) else { return false };
    url_variants(url).iter().any(|url| mac(auth_token, url, params).verify_slice(&expected).is_ok())
}

/// `url` as given, and with its scheme's default port added or removed.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    if let Ok(mut parsed) = url::Url::parse(url) {
        let default = parsed.port_or_known_default();
        let other = match parsed.port() {
            Some(_) => parsed.set_port(None).map(|()| parsed.to_string()),
            // `Url` leaves a default port out of its text: write it in by hand.
            None => default.map_or(Err(()), |port| {
                let host = parsed.host_str().unwrap_or_default().to_owned();
                Ok(url.replacen(&host, &format!("{host}:{port}"), 1))
            }),
        };
        variants.extend(other.ok().filter(|other| other != url));
    }
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
    }

    /// The published vector: twilio-python's `tests/unit/test_request_validator.py`.
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const SIGNATURE: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";

    fn vector() -> Vec<(String, String)> {
        params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ])
    }

    #[test]
    fn the_published_vector_verifies() {
        assert_eq!(sign("12345", URL, &vector()), SIGNATURE);
        assert!(verify("12345", URL, &vector(), SIGNATURE));
        // Twilio may have signed the URL with its default port.
        let with_port = sign("12345", "https://mycompany.com:443/myapp.php?foo=1&bar=2", &vector());
        assert!(verify("12345", URL, &vector(), &with_port));
    }

    #[test]
    fn another_token_url_or_parameter_fails() {
        assert!(!verify("54321", URL, &vector(), SIGNATURE));
        assert!(!verify("12345", "https://mycompany.com/myapp.php?foo=1&bar=3", &vector(), SIGNATURE));
        let mut tampered = vector();
        tampered[2].1 = "1235".to_owned();
        assert!(!verify("12345", URL, &tampered, SIGNATURE));
        assert!(!verify("12345", URL, &vector(), "not base64!"));
        assert!(!verify("12345", URL, &vector(), ""));
    }
}
