//! Full-text conditions shared by lists: message words (SQLite FTS5 `messages_fts`, PostgreSQL
//! the `search_words` column, a `tsvector` over the `parley_search` configuration) and contact substrings (FTS5 trigram
//! `contacts_fts`, PostgreSQL `pg_trgm` over `parley_fold`). Both fold case and diacritics.

use super::Backend;
use crate::domain::knowledge::{fold, words};

/// How many of the newest matching messages, and of the newest matching contacts, a search looks
/// at: frequent words stay as fast as rare ones, and narrowing the words reaches older matches.
pub const SEARCH_HITS: i64 = 1_000;

/// The fewest characters a contact substring search uses the trigram index for.
pub const MIN_SUBSTRING_CHARS: usize = 3;

/// Words of a search a message must all contain, at most (on SQLite).
const MAX_WORDS_SQLITE: usize = 8;

/// What a search for `text` binds: its message words and its contact substring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText {
    /// The message-word query in the backend's syntax (FTS5 MATCH expression, or the text for
    /// `plainto_tsquery`, which parses it as the index did); `None` when the text has no word.
    pub words: Option<String>,
    /// The contact substring parameter (FTS5 trigram phrase, or `LIKE`-escaped text); `None` when
    /// shorter than [`MIN_SUBSTRING_CHARS`].
    pub substring: Option<String>,
}

impl SearchText {
    /// Parses a user's search text for `backend`.
    pub fn new(backend: Backend, text: &str) -> SearchText {
        let text = text.trim();
        let folded = fold(text);
        let terms: Vec<&str> = words(&folded).take(MAX_WORDS_SQLITE).collect();
        let words = (!terms.is_empty()).then(|| match backend {
            Backend::Sqlite => terms.iter().map(|w| format!("\"{w}\"")).collect::<Vec<_>>().join(" "),
            Backend::Postgres => text.to_owned(),
        });
        let substring = (text.chars().count() >= MIN_SUBSTRING_CHARS).then(|| match backend {
            Backend::Sqlite => format!("\"{}\"", text.replace('"', "\"\"")),
            Backend::Postgres => like_escaped(text),
        });
        SearchText { words, substring }
    }
}

/// Text with `LIKE`'s wildcards escaped by backslashes (`ESCAPE '\\'`).
pub fn like_escaped(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// SQL selecting the ids of the account's contacts whose name, phone or email contains the
/// substring bound at `substring`, newest first, at most [`SEARCH_HITS`].
pub fn matching_contacts(backend: Backend, account: &str, substring: &str) -> String {
    match backend {
        Backend::Sqlite => format!(
            "SELECT ct.id FROM contacts_fts JOIN contacts ct ON ct.id = contacts_fts.rowid \
             WHERE contacts_fts MATCH {substring} AND ct.account_id = {account} \
             ORDER BY contacts_fts.rowid DESC LIMIT {SEARCH_HITS}"
        ),
        // `id + 0`: the trigram index finds the matches; walking the primary key instead would
        // fold every contact's name when nothing matches (seconds at 750k contacts).
        Backend::Postgres => format!(
            "SELECT ct.id FROM contacts ct WHERE ct.account_id = {account} AND {} \
             ORDER BY ct.id + 0 DESC LIMIT {SEARCH_HITS}",
            contact_contains("ct", substring)
        ),
    }
}

/// PostgreSQL condition: the contact aliased `alias` contains the `LIKE`-escaped text bound at
/// `substring` in its name, phone or email (the expression of the `contacts_search` index).
pub fn contact_contains(alias: &str, substring: &str) -> String {
    format!(
        "parley_fold(COALESCE({alias}.name, '') || ' ' || COALESCE({alias}.phone, '') || ' ' || \
         COALESCE({alias}.email, '')) LIKE '%' || parley_fold({substring}) || '%'"
    )
}

/// SQL selecting the conversation ids of the account's newest messages containing every word
/// bound at `words`, at most [`SEARCH_HITS`] messages.
pub fn matching_message_conversations(backend: Backend, account: &str, words: &str) -> String {
    match backend {
        Backend::Sqlite => format!(
            "SELECT m.conversation_id FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid \
             WHERE messages_fts MATCH {words} AND m.account_id = {account} \
             ORDER BY messages_fts.rowid DESC LIMIT {SEARCH_HITS}"
        ),
        Backend::Postgres => format!(
            "SELECT m.conversation_id FROM messages m WHERE m.account_id = {account} AND \
             m.search_words @@ plainto_tsquery('parley_search', {words}) \
             ORDER BY m.id DESC LIMIT {SEARCH_HITS}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_folded_and_quoted_for_fts5_and_plain_for_postgres() {
        let sqlite = SearchText::new(Backend::Sqlite, "  Perché \"ordine\" N°42 ");
        assert_eq!(sqlite.words.as_deref(), Some("\"perche\" \"ordine\" \"n\" \"42\""));
        assert_eq!(sqlite.substring.as_deref(), Some("\"Perché \"\"ordine\"\" N°42\""));
        let postgres = SearchText::new(Backend::Postgres, "100%_a\\b");
        assert_eq!(postgres.words.as_deref(), Some("100%_a\\b"));
        assert_eq!(postgres.substring.as_deref(), Some("100\\%\\_a\\\\b"));
    }

    #[test]
    fn short_text_has_no_substring_and_punctuation_no_words() {
        assert_eq!(SearchText::new(Backend::Sqlite, "42").substring, None);
        assert_eq!(SearchText::new(Backend::Sqlite, "42").words.as_deref(), Some("\"42\""));
        assert_eq!(SearchText::new(Backend::Postgres, "%%%").words, None);
    }
}
