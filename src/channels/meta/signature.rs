//! `X-Hub-Signature-256`: Meta signs every webhook body with the app secret, as
//! `sha256=<lowercase hex HMAC-SHA256(app secret, raw body)>`. The raw bytes as received are what
//! is signed, never a re-serialisation.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const HEADER: &str = "x-hub-signature-256";

fn mac(app_secret: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(body);
    mac
}

/// The header value Meta sends for `body` signed with `app_secret`.
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(mac(app_secret, body).finalize().into_bytes()))
}

/// Whether `header` is `body`'s signature with `app_secret`; the digests are compared in
/// constant time.
pub fn verify(app_secret: &str, body: &[u8], header: &str) -> bool {
    let Some(digest) = header.trim().strip_prefix("sha256=") else { return false };
    let Ok(expected) = hex::decode(digest) else { return false };
    mac(app_secret, body).verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published vector: pywa's `tests/test_server.py::test_webhook_updates_validator`
    /// (an app secret that has since been reset, and a real Cloud API text webhook body).
    const APP_SECRET: &str = "1222e786b144d0e85b9f365372d93676";
    const BODY: &[u8] = br#"{"object":"whatsapp_business_account","entry":[{"id":"264937493375603","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550953877","phone_number_id":"277321005464405"},"contacts":[{"profile":{"name":"PyWa Tests"},"wa_id":"972544401243"}],"messages":[{"from":"972544401243","id":"wamid.HBgMOTcyNTQ0NDAxMjQzFQIAEhggM0RFQTNCMEEwRTY3QzUwODYzMDc4NjQ4QzM4ODAxM0YA","timestamp":"1730231903","text":{"body":"Hey there! I am using PyWa."},"type":"text"}]},"field":"messages"}]}]}"#;
    const SIGNATURE: &str = "sha256=54edfa1d7259e0eb13c677cc7d73d1b5c86cfa12433d19156e058ab9251bc441";

    #[test]
    fn matches_the_published_vector() {
        assert_eq!(sign(APP_SECRET, BODY), SIGNATURE);
        assert!(verify(APP_SECRET, BODY, SIGNATURE));
        assert!(verify(APP_SECRET, BODY, &SIGNATURE.to_uppercase().replace("SHA256=", "sha256=")));
    }

    #[test]
    fn refuses_anything_else() {
        let mut tampered = BODY.to_vec();
        tampered[60] ^= 1;
        assert!(!verify(APP_SECRET, &tampered, SIGNATURE), "one changed byte");
        assert!(!verify("another secret", BODY, SIGNATURE), "another app's secret");
        assert!(!verify(APP_SECRET, BODY, SIGNATURE.trim_start_matches("sha256=")), "no sha256= prefix");
        assert!(!verify(APP_SECRET, BODY, "sha256=zz"), "not hex");
        assert!(!verify(APP_SECRET, BODY, &SIGNATURE[..SIGNATURE.len() - 2]), "truncated");
        assert!(!verify(APP_SECRET, BODY, ""));
    }
}
