//! Quick replies' texts: `{{name}}` variables filled from the conversation they answer.

/// The text with each `{{ name }}` replaced by `value(name)`; a name without a value becomes
/// empty, and braces that close no variable stay as they are.
pub fn fill(template: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut filled = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(length) = rest[start + 2..].find("}}") else { break };
        filled.push_str(&rest[..start]);
        let name = rest[start + 2..start + 2 + length].trim();
        filled.push_str(&value(name).unwrap_or_default());
        rest = &rest[start + 2 + length + 2..];
    }
    filled.push_str(rest);
    filled
}

/// A quick reply's short code as stored: without the leading `/`, lower-case, 1 to 32 letters,
/// digits, `-` or `_`.
pub fn shortcode(raw: &str) -> Option<String> {
    let code = raw.trim().trim_start_matches('/').to_lowercase();
    let valid = !code.is_empty()
        && code.chars().count() <= 32
        && code.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_');
    valid.then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_filled_and_unknown_ones_emptied() {
        let value = |name: &str| match name {
            "contact.first_name" => Some("Giulia".to_owned()),
            "operator.name" => Some("Marco".to_owned()),
            _ => None,
        };
        assert_eq!(
            fill("Ciao {{contact.first_name}}, sono {{ operator.name }}.{{contact.city}}", value),
            "Ciao Giulia, sono Marco."
        );
        assert_eq!(fill("no variables {{ left open", value), "no variables {{ left open");
    }

    #[test]
    fn shortcodes_are_folded() {
        assert_eq!(shortcode("/Spedizione").as_deref(), Some("spedizione"));
        assert_eq!(shortcode("orari_negozio").as_deref(), Some("orari_negozio"));
        assert_eq!(shortcode("two words"), None);
        assert_eq!(shortcode("/"), None);
    }
}
