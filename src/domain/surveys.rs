//! Reading a satisfaction vote from a customer's reply: "5", "5/5", "4 stelle", "⭐⭐⭐⭐",
//! "cinque", "três estrelas", "4 out of 5" — in English, Italian and Portuguese. Only a reply that
//! is a vote and nothing else counts: "5 minuti fa…" or "ho ordinato 3 paia" are ordinary
//! messages.

/// Words for the numbers of the scale, per language.
const NUMBER_WORDS: &[(&str, u8)] = &[
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("uno", 1),
    ("una", 1),
    ("due", 2),
    ("tre", 3),
    ("quattro", 4),
    ("cinque", 5),
    ("um", 1),
    ("uma", 1),
    ("dois", 2),
    ("duas", 2),
    ("três", 3),
    ("tres", 3),
    ("quatro", 4),
    ("cinco", 5),
];

/// Words that may follow the number: stars and points.
const UNIT_WORDS: &[&str] = &["stars", "star", "stelle", "stella", "estrelas", "estrela", "punti", "pontos", "points"];

/// Words that may come before the number ("voto 4", "nota: 5", "rating 3").
const LEAD_WORDS: &[&str] = &["voto", "nota", "rating", "score", "valutazione", "avaliação", "avaliacao"];

/// Words that introduce the top of the scale ("4 su 5", "4 de 5", "4 out of 5").
const OF_WORDS: &[&str] = &["su", "de", "of", "di"];

fn is_star(c: char) -> bool {
    matches!(c, '⭐' | '★' | '🌟')
}

/// The vote (1 to 5) a reply gives, or `None` when the reply is not a vote.
pub fn parse_rating(reply: &str) -> Option<u8> {
    let text: String = reply
        .trim()
        .trim_end_matches(['!', '.', '?'])
        .chars()
        .filter(|c| *c != '\u{FE0F}')
        .flat_map(char::to_lowercase)
        .collect();
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if !compact.is_empty() && compact.chars().all(is_star) {
        return scale(compact.chars().count());
    }
    let spaced = text.replace('/', " / ").replace(':', " ");
    let mut words: Vec<&str> = spaced.split_whitespace().collect();
    if words.first().is_some_and(|w| LEAD_WORDS.contains(w)) {
        words.remove(0);
    }
    let (first, rest) = words.split_first()?;
    let vote = number(first)?;
    let valid = match rest {
        [] => true,
        [unit] => UNIT_WORDS.contains(unit) || unit.chars().all(is_star),
        ["/", top] => number(top) == Some(5),
        [of, top] if OF_WORDS.contains(of) => number(top) == Some(5),
        ["out", "of", top] => number(top) == Some(5),
        _ => false,
    };
    valid.then_some(vote)
}

/// A number of the scale written as digits or a word.
fn number(word: &str) -> Option<u8> {
    let value = match word.parse::<u8>() {
        Ok(value) => value,
        Err(_) => NUMBER_WORDS.iter().find(|(name, _)| *name == word)?.1,
    };
    scale(usize::from(value))
}

fn scale(value: usize) -> Option<u8> {
    u8::try_from(value).ok().filter(|v| (1..=5).contains(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn votes_in_three_languages() {
        let table: &[(&str, Option<u8>)] = &[
            ("5", Some(5)),
            (" 4 ", Some(4)),
            ("5!", Some(5)),
            ("5/5", Some(5)),
            ("4 / 5", Some(4)),
            ("3 su 5", Some(3)),
            ("3 de 5", Some(3)),
            ("4 out of 5", Some(4)),
            ("4 stelle", Some(4)),
            ("1 stella", Some(1)),
            ("4 estrelas", Some(4)),
            ("2 stars", Some(2)),
            ("⭐⭐⭐⭐", Some(4)),
            ("⭐️⭐️⭐️", Some(3)),
            ("★★★★★", Some(5)),
            ("5 ⭐", Some(5)),
            ("cinque", Some(5)),
            ("Tre", Some(3)),
            ("tre stelle", Some(3)),
            ("três estrelas", Some(3)),
            ("cinco", Some(5)),
            ("dois", Some(2)),
            ("Five", Some(5)),
            ("three stars", Some(3)),
            ("voto 4", Some(4)),
            ("Nota: 5", Some(5)),
            ("rating: 2", Some(2)),
        ];
        for (reply, vote) in table {
            assert_eq!(parse_rating(reply), *vote, "{reply:?}");
        }
    }

    #[test]
    fn other_replies_are_not_votes() {
        for reply in [
            "5 minuti fa ho scritto",
            "5 minuti fa…",
            "ho ordinato 3 paia",
            "tra 5 giorni",
            "5 euro",
            "la taglia 5",
            "0",
            "6",
            "10",
            "6/5",
            "4/10",
            "⭐⭐⭐⭐⭐⭐",
            "",
            "ciao",
            "tre paia di scarpe",
            "one more question",
            "Quando arriva il mio ordine?",
            "3 de 10",
        ] {
            assert_eq!(parse_rating(reply), None, "{reply:?}");
        }
    }
}
