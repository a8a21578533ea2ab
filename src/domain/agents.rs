//! Rules of virtual agents: when a conversation goes from the agent to people, and what the
//! customer is told then.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::knowledge::{guess_language, mentions_keyword};

/// When an agent hands a conversation to people. Outside business hours is not a reason: the
/// agent keeps answering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoffRules {
    /// Words or phrases that ask for a person, per language (`{"it": ["operatore"], "pt":
    /// ["atendente"]}`); matched as whole words, case and accents ignored, in any language.
    #[serde(default)]
    pub keywords: BTreeMap<String, Vec<String>>,
    /// The agent answers at most this many times in a conversation, then a person takes over
    /// (`null`: no limit).
    #[serde(default)]
    pub max_turns: Option<u32>,
    /// What the customer is told when a person takes over, per language; built-in texts in
    /// English, Italian, Portuguese and Spanish fill the gaps.
    #[serde(default)]
    pub messages: BTreeMap<String, String>,
}

impl Default for HandoffRules {
    fn default() -> Self {
        let keywords = [
            ("en", &["human", "agent", "operator", "person"][..]),
            ("it", &["operatore", "persona", "umano"][..]),
            ("pt", &["atendente", "humano", "pessoa"][..]),
            ("es", &["agente", "humano", "persona"][..]),
        ];
        HandoffRules {
            keywords: keywords
                .into_iter()
                .map(|(language, words)| (language.to_owned(), words.iter().map(|w| (*w).to_owned()).collect()))
                .collect(),
            max_turns: Some(10),
            messages: BTreeMap::new(),
        }
    }
}

/// Built-in handoff messages by primary language subtag.
const HANDOFF_MESSAGES: &[(&str, &str)] = &[
    ("en", "I'm passing you to a person on our team: they will answer you here as soon as possible."),
    ("it", "Ti metto in contatto con un operatore: ti risponderà qui appena possibile."),
    ("pt", "Vou transferir você para um atendente: ele vai responder aqui assim que possível."),
    ("es", "Te paso con una persona de nuestro equipo: te responderá aquí lo antes posible."),
];

/// The primary subtag of a language tag, lower-case (`pt-BR` → `pt`).
fn primary(tag: &str) -> String {
    tag.split(['-', '_']).next().unwrap_or_default().to_lowercase()
}

impl HandoffRules {
    /// The keyword a customer's text asks for a person with, if any.
    pub fn asked_keyword(&self, text: &str) -> Option<&str> {
        self.keywords.values().flatten().map(String::as_str).find(|keyword| mentions_keyword(text, keyword))
    }

    /// What to tell the customer when a person takes over, in `language`: the agent's own
    /// message for it, else the built-in one, else the English one.
    pub fn handoff_message(&self, language: &str) -> String {
        let wanted = primary(language);
        self.messages
            .iter()
            .find(|(tag, _)| primary(tag) == wanted)
            .map(|(_, text)| text.clone())
            .or_else(|| HANDOFF_MESSAGES.iter().find(|(tag, _)| *tag == wanted).map(|(_, text)| (*text).to_owned()))
            .unwrap_or_else(|| HANDOFF_MESSAGES[0].1.to_owned())
    }

    /// What is wrong with the rules, as `(field, problem)`.
    pub fn problem(&self) -> Option<(String, String)> {
        for (language, words) in &self.keywords {
            if words.len() > 50 {
                return Some((format!("handoff.keywords.{language}"), "at most 50 keywords per language".to_owned()));
            }
            if words.iter().any(|word| word.trim().is_empty() || word.chars().count() > 64) {
                return Some((
                    format!("handoff.keywords.{language}"),
                    "each keyword must be 1 to 64 characters".to_owned(),
                ));
            }
        }
        if self.max_turns.is_some_and(|turns| !(1..=100).contains(&turns)) {
            return Some(("handoff.max_turns".to_owned(), "must be 1 to 100, or null for no limit".to_owned()));
        }
        if self.messages.values().any(|text| text.trim().is_empty() || text.chars().count() > 1000) {
            return Some(("handoff.messages".to_owned(), "each message must be 1 to 1000 characters".to_owned()));
        }
        None
    }
}

/// The language to answer a customer in: the one of the agent's languages their text looks
/// like, else the agent's first.
pub fn answer_language<'a>(text: &str, languages: &'a [String]) -> &'a str {
    guess_language(text, languages).or(languages.first().map(String::as_str)).unwrap_or("en")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keywords_ask_for_a_person_in_four_languages() {
        let rules = HandoffRules::default();
        assert_eq!(rules.asked_keyword("Vorrei parlare con un operatore"), Some("operatore"));
        assert_eq!(rules.asked_keyword("Quero falar com um atendente"), Some("atendente"));
        assert_eq!(rules.asked_keyword("can I talk to a human please"), Some("human"));
        assert_eq!(rules.asked_keyword("Dove è il mio ordine?"), None);
    }

    #[test]
    fn handoff_messages_fall_back_to_built_in_ones() {
        let mut rules = HandoffRules::default();
        assert!(rules.handoff_message("it").contains("operatore"));
        assert!(rules.handoff_message("pt-BR").contains("atendente"));
        assert!(rules.handoff_message("de").contains("person"));
        rules.messages.insert("it".to_owned(), "Arriva Giulia!".to_owned());
        assert_eq!(rules.handoff_message("it-IT"), "Arriva Giulia!");
    }

    #[test]
    fn rules_are_checked() {
        let rules = HandoffRules { max_turns: Some(0), ..HandoffRules::default() };
        assert_eq!(rules.problem().map(|(field, _)| field).as_deref(), Some("handoff.max_turns"));
        assert_eq!(HandoffRules::default().problem(), None);
    }

    #[test]
    fn the_answer_language_is_the_customers_among_the_agents() {
        let languages = vec!["en".to_owned(), "it".to_owned(), "pt".to_owned()];
        assert_eq!(answer_language("vorrei sapere dove è il mio ordine", &languages), "it");
        assert_eq!(answer_language("quero saber do meu pedido", &languages), "pt");
        assert_eq!(answer_language("ORD-2026", &languages), "en");
    }
}
