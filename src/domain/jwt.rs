//! HS256 JSON Web Tokens, the one kind Parley checks (a website's proof of who its visitor is,
//! the seed platforms' signed custom data): the signature in constant time, then `exp` and `iat`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// How far a token's `iat` may be in the future (clocks differ).
const LEEWAY_SECONDS: i64 = 60;

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("not a JWT (three base64url parts)")]
    Malformed,
    #[error("only HS256 tokens are accepted")]
    Algorithm,
    #[error("the signature does not match")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token has no exp, or is issued in the future")]
    Times,
}

/// The claims of an HS256 token signed with `secret`, valid at `now` (Unix seconds): it must have
/// `exp` in the future and may not be issued (`iat`) later than now.
pub fn verify_hs256(token: &str, secret: &[u8], now: i64) -> Result<Value, JwtError> {
    let mut parts = token.trim().split('.');
    let (Some(header_part), Some(claims_part), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).map_err(|_| JwtError::Malformed);
    let header: Value = serde_json::from_slice(&decode(header_part)?).map_err(|_| JwtError::Malformed)?;
    if header["alg"] != "HS256" {
        return Err(JwtError::Algorithm);
    }
    let signed = &token.trim().as_bytes()[..header_part.len() + claims_part.len() + 1];
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| JwtError::Signature)?;
    mac.update(signed);
    mac.verify_slice(&decode(signature)?).map_err(|_| JwtError::Signature)?;
    let claims: Value = serde_json::from_slice(&decode(claims_part)?).map_err(|_| JwtError::Malformed)?;
    let exp = claims["exp"].as_i64().ok_or(JwtError::Times)?;
    if exp <= now {
        return Err(JwtError::Expired);
    }
    if claims["iat"].as_i64().is_some_and(|iat| iat > now + LEEWAY_SECONDS) {
        return Err(JwtError::Times);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Signed with Python's hmac module: HS256 over the first two parts with the key "s3cret",
    // claims {"sub": "u-42", "exp": 2000000000, "iat": 1700000000}.
    const TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
        eyJzdWIiOiJ1LTQyIiwiZXhwIjoyMDAwMDAwMDAwLCJpYXQiOjE3MDAwMDAwMDB9.\
        5Emmff8bRtmPjVFnSqIAL8vS7Gfqa-HU5c1rRhkQvWM";

    #[test]
    fn signature_and_times_are_checked() {
        let claims = verify_hs256(TOKEN, b"s3cret", 1_800_000_000).unwrap();
        assert_eq!(claims["sub"], "u-42");
        assert_eq!(verify_hs256(TOKEN, b"another", 1_800_000_000), Err(JwtError::Signature));
        assert_eq!(verify_hs256(TOKEN, b"s3cret", 2_000_000_001), Err(JwtError::Expired));
        assert_eq!(verify_hs256(TOKEN, b"s3cret", 1_600_000_000), Err(JwtError::Times), "issued in the future");
        let tampered = TOKEN.replacen("eyJzdWIiOiJ1LTQy", "eyJzdWIiOiJ1LTQz", 1);
        assert_eq!(verify_hs256(&tampered, b"s3cret", 1_800_000_000), Err(JwtError::Signature));
        assert_eq!(verify_hs256("a.b", b"s3cret", 0), Err(JwtError::Malformed));
        let none = "eyJhbGciOiJub25lIn0.e30.";
        assert_eq!(verify_hs256(none, b"s3cret", 0), Err(JwtError::Algorithm));
    }
}
