//! Rules for text as Parley stores it.

use serde_json::Value;

/// Removes NUL characters from every string and key of a JSON value (what providers send is kept
/// without them rather than refused).
pub fn strip_nul(value: &mut Value) {
    match value {
        Value::String(text) if text.contains('\0') => text.retain(|c| c != '\0'),
        Value::Array(items) => items.iter_mut().for_each(strip_nul),
        Value::Object(map) if map.keys().any(|key| key.contains('\0')) => {
            let entries = std::mem::take(map);
            for (mut key, mut item) in entries {
                key.retain(|c| c != '\0');
                strip_nul(&mut item);
                map.insert(key, item);
            }
        }
        Value::Object(map) => map.values_mut().for_each(strip_nul),
        _ => {}
    }
}

/// A plausible email address: one `@`, a local part, a domain of non-empty labels (`localhost` or
/// dotted), no spaces, at most 254 bytes.
pub fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else { return false };
    text.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && domain.split('.').all(|label| !label.is_empty())
        && !text.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_characters_are_removed_everywhere() {
        let mut value: Value = serde_json::from_str(r#"{"a\u0000": ["x\u0000y", {"b": "\u0000"}], "c": 1}"#).unwrap();
        strip_nul(&mut value);
        assert_eq!(value, serde_json::json!({"a": ["xy", {"b": ""}], "c": 1}));
    }
}
