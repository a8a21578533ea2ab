//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): `whsec_`-prefixed secrets and
//! `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` signatures.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Prefix of every signing secret.
const PREFIX: &str = "whsec_";

/// A new random signing secret (24 bytes of key).
pub fn generate_secret() -> String {
    let mut key = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut key);
    format!("{PREFIX}{}", STANDARD.encode(key))
}

/// The key bytes of a `whsec_` secret, or why it is not one (keys are 24 to 64 bytes).
pub fn secret_key(secret: &str) -> Result<Vec<u8>, &'static str> {
    let encoded = secret.strip_prefix(PREFIX).ok_or("the secret must start with whsec_")?;
    let key = STANDARD.decode(encoded).map_err(|_| "the secret must be whsec_ followed by base64")?;
    if !(24..=64).contains(&key.len()) {
        return Err("the secret's key must be 24 to 64 bytes");
    }
    Ok(key)
}

/// The `webhook-signature` header value: one `v1,` signature per secret, space separated.
pub fn sign(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    let signatures: Vec<String> = secrets
        .iter()
        .filter_map(|secret| secret_key(secret).ok())
        .map(|key| {
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
            mac.update(format!("{id}.{timestamp}.").as_bytes());
            mac.update(body);
            format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
        })
        .collect();
    signatures.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from the Standard Webhooks specification's reference test vectors.
    #[test]
    fn matches_the_specification_example() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let header = sign(&[secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(header, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn generated_secrets_are_valid_and_distinct() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_ne!(a, b);
        assert_eq!(secret_key(&a).unwrap().len(), 24);
        assert!(secret_key("nope").is_err() && secret_key("whsec_AAAA").is_err());
    }

    #[test]
    fn signs_with_every_secret() {
        let (a, b) = (generate_secret(), generate_secret());
        let header = sign(&[&a, &b], "evt_1", 1, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], sign(&[&a], "evt_1", 1, b"{}"));
    }
}
