//! Pure text rules of the knowledge-base search: folding text for matching (lower case, no
//! diacritics), search terms of a question, FTS5 and PostgreSQL query expressions, how well a
//! passage covers a question, splitting articles into passages, guessing a customer's language
//! and spotting handoff keywords. The database ranks candidate passages; [`coverage`] decides,
//! identically on every backend, whether the best one is good enough.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Most search terms taken from one question.
const MAX_SEARCH_TERMS: usize = 12;
/// Search terms are cut to this many characters: a crude stem shared by Italian, Portuguese and
/// English ("restituire" and "restituzione" both give "resti").
const STEM_CHARS: usize = 5;
/// Shortest word, in characters, that makes a search term.
const MIN_TERM_CHARS: usize = 2;
/// Longest passage, in characters, before a paragraph is split at sentence ends.
const MAX_PASSAGE_CHARS: usize = 1200;
/// Paragraphs shorter than this many characters are merged with the next one.
const MIN_PASSAGE_CHARS: usize = 80;
/// Most passages taken from one article.
const MAX_PASSAGES: usize = 200;

/// Frequent Italian function words, folded (elided forms such as "dell'" included).
const ITALIAN_STOP_WORDS: &[&str] = &[
    "dell", "all", "dall", "nell", "sull", "quest", "quell", "dov", "il", "lo", "la", "i", "gli", "le", "un", "uno",
    "una", "di", "a", "da", "in", "con", "su", "per", "tra", "fra", "del", "dello", "della", "dei", "degli", "delle",
    "al", "allo", "alla", "ai", "agli", "alle", "dal", "dalla", "dai", "dalle", "nel", "nello", "nella", "nei",
    "negli", "nelle", "sul", "sulla", "sui", "sulle", "e", "ed", "o", "ma", "se", "che", "anche", "pero", "quindi",
    "oppure", "ne", "non", "io", "tu", "lui", "lei", "noi", "voi", "loro", "mi", "ti", "ci", "vi", "si", "me", "te",
    "mio", "mia", "miei", "mie", "tuo", "tua", "suo", "sua", "nostro", "nostra", "vostro", "questo", "questa",
    "questi", "queste", "quello", "quella", "come", "cosa", "chi", "quale", "quali", "quando", "dove", "perche",
    "quanto", "quanta", "quanti", "quante", "sono", "sei", "siamo", "siete", "ho", "hai", "ha", "abbiamo", "avete",
    "hanno", "essere", "avere", "stato", "stata", "era", "posso", "puoi", "puo", "possiamo", "potete", "potrei",
    "devo", "deve", "voglio", "vuoi", "vorrei", "vorremmo", "faccio", "fare", "sapere", "so", "sai", "piu", "molto",
    "gia", "ancora", "ora", "qui", "no", "grazie", "favore", "prego", "ciao", "salve",
];

/// Frequent Portuguese function words, folded.
const PORTUGUESE_STOP_WORDS: &[&str] = &[
    "o", "a", "os", "as", "um", "uma", "uns", "umas", "de", "do", "da", "dos", "das", "em", "no", "na", "nos", "nas",
    "num", "numa", "por", "pelo", "pela", "pelos", "pelas", "para", "pra", "com", "sem", "sobre", "ao", "aos", "ate",
    "entre", "e", "ou", "mas", "se", "que", "porque", "porem", "tambem", "entao", "nem", "eu", "tu", "voce", "voces",
    "ele", "ela", "eles", "elas", "me", "te", "lhe", "lhes", "meu", "minha", "meus", "minhas", "seu", "sua", "seus",
    "suas", "nosso", "nossa", "este", "esta", "estes", "estas", "esse", "essa", "esses", "essas", "isso", "isto",
    "aquele", "aquela", "aquilo", "como", "qual", "quais", "quando", "onde", "quanto", "quanta", "quantos", "quantas",
    "quem", "sou", "somos", "sao", "foi", "era", "ser", "estar", "estou", "estao", "tenho", "tem", "temos", "ter",
    "posso", "pode", "podem", "podemos", "poderia", "quero", "queria", "quer", "gostaria", "preciso", "precisa",
    "faco", "fazer", "saber", "vou", "vai", "nao", "sim", "ja", "mais", "muito", "aqui", "favor", "obrigado",
    "obrigada", "ola", "oi",
];

/// Frequent English function words, folded.
const ENGLISH_STOP_WORDS: &[&str] = &[
    "a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "by", "for", "with", "from", "about",
    "into", "as", "than", "then", "so", "not", "no", "yes", "i", "me", "my", "mine", "you", "your", "yours", "he",
    "him", "his", "she", "her", "it", "its", "we", "us", "our", "they", "them", "their", "this", "that", "these",
    "those", "there", "here", "what", "which", "who", "whom", "whose", "how", "when", "where", "why", "is", "are",
    "was", "were", "be", "been", "being", "am", "do", "does", "did", "done", "have", "has", "had", "can", "could",
    "will", "would", "shall", "should", "may", "might", "must", "want", "need", "like", "get", "know", "tell",
    "please", "thanks", "thank", "hi", "hello", "hey", "just", "some", "any", "all", "up", "out", "don", "doesn",
    "didn", "isn", "aren", "ve", "ll", "re",
];

/// Frequent Spanish function words, folded.
const SPANISH_STOP_WORDS: &[&str] = &[
    "el", "la", "los", "las", "un", "una", "unos", "unas", "lo", "de", "del", "a", "al", "en", "con", "por", "para",
    "sin", "sobre", "entre", "hasta", "desde", "hacia", "y", "e", "o", "u", "pero", "si", "que", "porque", "tambien",
    "ni", "yo", "tu", "ella", "usted", "ustedes", "nosotros", "ellos", "ellas", "me", "te", "se", "le", "les", "nos",
    "mi", "mis", "tus", "su", "sus", "nuestro", "nuestra", "este", "esta", "estos", "estas", "ese", "esa", "esto",
    "eso", "como", "cual", "cuales", "cuando", "donde", "cuanto", "cuanta", "cuantos", "cuantas", "quien", "es", "son",
    "soy", "somos", "fue", "era", "ser", "estar", "estoy", "estan", "he", "ha", "han", "hay", "tengo", "tiene",
    "tener", "puedo", "puede", "pueden", "podemos", "podria", "quiero", "quiere", "quisiera", "necesito", "hago",
    "hacer", "saber", "voy", "va", "no", "ya", "mas", "muy", "aqui", "favor", "gracias", "hola", "buenos", "buenas",
];

/// Stop words by primary language subtag.
const STOP_WORDS: [(&str, &[&str]); 4] =
    [("it", ITALIAN_STOP_WORDS), ("pt", PORTUGUESE_STOP_WORDS), ("en", ENGLISH_STOP_WORDS), ("es", SPANISH_STOP_WORDS)];

/// Lower-cases and strips diacritics (NFD, combining marks dropped; ß, æ, œ, ø, ł, đ spelled out),
/// keeps letters and digits, turns every run of other characters into one space, and trims.
pub fn fold(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    let mut space_pending = false;
    for character in text.chars().flat_map(char::to_lowercase).nfd() {
        if is_combining_mark(character) {
            continue;
        }
        if !character.is_alphanumeric() {
            space_pending = !folded.is_empty();
            continue;
        }
        if space_pending {
            folded.push(' ');
            space_pending = false;
        }
        match character {
            'ß' => folded.push_str("ss"),
            'æ' => folded.push_str("ae"),
            'œ' => folded.push_str("oe"),
            'ø' => folded.push('o'),
            'ł' => folded.push('l'),
            'đ' => folded.push('d'),
            other => folded.push(other),
        }
    }
    folded
}

/// Words of folded text, in order.
pub fn words(folded: &str) -> impl Iterator<Item = &str> {
    folded.split_whitespace()
}

/// The search terms of a question: its folded words less stop words (Italian, Portuguese,
/// English, Spanish) and one-character words, each cut to a 5-character stem, deduplicated, at
/// most 12, in order of first appearance.
pub fn search_terms(question: &str) -> Vec<String> {
    let folded = fold(question);
    let mut terms: Vec<String> = Vec::new();
    for word in words(&folded) {
        if word.chars().count() < MIN_TERM_CHARS || is_stop_word(word) {
            continue;
        }
        let term = stem(word);
        if !terms.iter().any(|known| known == term) {
            terms.push(term.to_string());
            if terms.len() == MAX_SEARCH_TERMS {
                break;
            }
        }
    }
    terms
}

/// FTS5 MATCH expression for the terms, each a quoted prefix query, OR-ed: `"resti"* OR "ordin"*`.
/// Empty terms are skipped; `None` when none is left.
pub fn fts5_query(terms: &[String]) -> Option<String> {
    let parts: Vec<String> = terms
        .iter()
        .filter(|term| !term.is_empty())
        .map(|term| format!("\"{}\"*", term.replace('"', "\"\"")))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" OR "))
}

/// PostgreSQL `to_tsquery('simple', …)` expression for the terms, each a prefix query, OR-ed:
/// `resti:* | ordin:*`. Characters other than letters and digits are dropped from each term and
/// terms left empty are skipped; `None` when none is left.
pub fn tsquery(terms: &[String]) -> Option<String> {
    let parts: Vec<String> = terms
        .iter()
        .map(|term| term.chars().filter(|character| character.is_alphanumeric()).collect::<String>())
        .filter(|term| !term.is_empty())
        .map(|term| format!("{term}:*"))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" | "))
}

/// Share (0.0..=1.0) of the terms found in a passage's folded text, a term being found when some
/// word of the passage starts with it; 0.0 for no terms.
pub fn coverage(terms: &[String], folded_passage: &str) -> f64 {
    if terms.is_empty() {
        return 0.0;
    }
    let found = terms.iter().filter(|term| words(folded_passage).any(|word| word.starts_with(term.as_str()))).count();
    found as f64 / terms.len() as f64
}

/// Splits an article into passages: paragraphs separated by blank lines, those over 1200
/// characters split at sentence ends (or hard-split when a sentence is longer), those under 80
/// characters merged with the next one so a heading stays with its text; trimmed, empty ones
/// dropped, at most 200. An article with no body text gives its title alone (nothing when the
/// title is blank too).
pub fn passages(title: &str, body: &str) -> Vec<String> {
    let mut merged: Vec<String> = Vec::new();
    let mut pending = String::new();
    for paragraph in paragraphs(body) {
        if !pending.is_empty() {
            pending.push_str("\n\n");
        }
        pending.push_str(&paragraph);
        if pending.chars().count() >= MIN_PASSAGE_CHARS {
            merged.push(std::mem::take(&mut pending));
        }
    }
    if !pending.is_empty() {
        merged.push(pending);
    }

    let mut passages: Vec<String> = merged
        .into_iter()
        .flat_map(|paragraph| {
            if paragraph.chars().count() > MAX_PASSAGE_CHARS {
                split_long_paragraph(&paragraph)
            } else {
                vec![paragraph]
            }
        })
        .map(|piece| piece.trim().to_string())
        .filter(|piece| !piece.is_empty())
        .take(MAX_PASSAGES)
        .collect();
    if passages.is_empty() && !title.trim().is_empty() {
        passages.push(title.trim().to_string());
    }
    passages
}

/// Guesses which of `candidates` (language codes such as "it", "pt-BR", "en", "es", compared on
/// their primary subtag, case-insensitively) the text is in, by counting its words that are stop
/// words of each language. Most hits wins, ties go to the earlier candidate; `None` when no
/// candidate scores above zero.
pub fn guess_language<'a>(text: &str, candidates: &'a [String]) -> Option<&'a str> {
    let folded = fold(text);
    let mut best: Option<(&'a str, usize)> = None;
    for candidate in candidates {
        let primary = candidate.split(['-', '_']).next().unwrap_or_default().to_ascii_lowercase();
        let Some((_, stop_words)) = STOP_WORDS.iter().find(|(language, _)| *language == primary) else {
            continue;
        };
        let hits = words(&folded).filter(|word| stop_words.contains(word)).count();
        if hits > best.map_or(0, |(_, best_hits)| best_hits) {
            best = Some((candidate.as_str(), hits));
        }
    }
    best.map(|(candidate, _)| candidate)
}

/// Whether a customer's message names a handoff keyword ("operatore", "falar com humano"): the
/// folded keyword appears in the folded text as whole, consecutive words. A blank keyword never
/// matches.
pub fn mentions_keyword(text: &str, keyword: &str) -> bool {
    let folded_keyword = fold(keyword);
    let keyword_words: Vec<&str> = words(&folded_keyword).collect();
    if keyword_words.is_empty() {
        return false;
    }
    let folded_text = fold(text);
    let text_words: Vec<&str> = words(&folded_text).collect();
    text_words.windows(keyword_words.len()).any(|window| window == keyword_words.as_slice())
}

/// Whether a folded word is a stop word of any supported language.
fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.iter().any(|(_, stop_words)| stop_words.contains(&word))
}

/// The word's first [`STEM_CHARS`] characters.
fn stem(word: &str) -> &str {
    match word.char_indices().nth(STEM_CHARS) {
        Some((end, _)) => &word[..end],
        None => word,
    }
}

/// Paragraphs of a text: runs of non-blank lines (any line ending), separated by blank lines.
fn paragraphs(text: &str) -> Vec<String> {
    let mut paragraphs = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                paragraphs.push(current.join("\n").trim().to_string());
                current.clear();
            }
        } else {
            current.push(line);
        }
    }
    if !current.is_empty() {
        paragraphs.push(current.join("\n").trim().to_string());
    }
    paragraphs
}

/// Splits a long paragraph into pieces of at most [`MAX_PASSAGE_CHARS`] characters, at sentence
/// ends where possible and at any character boundary within a longer sentence.
fn split_long_paragraph(paragraph: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut piece = String::new();
    let mut piece_chars = 0;
    for sentence in sentences(paragraph) {
        let sentence_chars = sentence.chars().count();
        if sentence_chars <= MAX_PASSAGE_CHARS {
            if piece_chars + sentence_chars > MAX_PASSAGE_CHARS {
                pieces.push(std::mem::take(&mut piece));
                piece_chars = 0;
            }
            piece.push_str(sentence);
            piece_chars += sentence_chars;
            continue;
        }
        for character in sentence.chars() {
            if piece_chars == MAX_PASSAGE_CHARS {
                pieces.push(std::mem::take(&mut piece));
                piece_chars = 0;
            }
            piece.push(character);
            piece_chars += 1;
        }
    }
    if !piece.is_empty() {
        pieces.push(piece);
    }
    pieces
}

/// Sentences of a paragraph, each with its ending (". ", "? ", "! " or a newline), so that they
/// join back into the paragraph.
fn sentences(paragraph: &str) -> Vec<&str> {
    let mut sentences = Vec::new();
    let mut start = 0;
    let mut previous = None;
    for (index, character) in paragraph.char_indices() {
        let ends_sentence = character == '\n' || (character == ' ' && matches!(previous, Some('.' | '?' | '!')));
        if ends_sentence {
            let end = index + character.len_utf8();
            sentences.push(&paragraph[start..end]);
            start = end;
        }
        previous = Some(character);
    }
    if start < paragraph.len() {
        sentences.push(&paragraph[start..]);
    }
    sentences
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| item.to_string()).collect()
    }

    #[test]
    fn folding_lowercases_strips_diacritics_and_punctuation() {
        assert_eq!(fold("Perché NON è arrivato l'ordine?"), "perche non e arrivato l ordine");
        assert_eq!(fold("Devolução do PEDIDO: não recebi!"), "devolucao do pedido nao recebi");
        assert_eq!(
            fold("¿Cómo solicito un reembolso? Año, señor, pingüino."),
            "como solicito un reembolso ano senor pinguino"
        );
        assert_eq!(fold("Straße, Æsir, cœur, Øresund, Łódź, Đorđe"), "strasse aesir coeur oresund lodz dorde");
        assert_eq!(fold("  --  Ordine n° 12345 -- "), "ordine n 12345");
        assert_eq!(fold("e\u{301}"), "e");
        assert_eq!(fold("?!"), "");
    }

    #[test]
    fn words_split_folded_text() {
        assert_eq!(words("perche non e").collect::<Vec<_>>(), ["perche", "non", "e"]);
        assert_eq!(words("").count(), 0);
    }

    #[test]
    fn search_terms_drop_stop_words_and_stem() {
        assert_eq!(search_terms("Come posso restituire un prodotto?"), ["resti", "prodo"]);
        let portuguese = search_terms("Quanto custa o frete para o Brasil?");
        for term in ["custa", "frete", "brasi"] {
            assert!(portuguese.contains(&term.to_string()), "{portuguese:?} lacks {term}");
        }
        assert!(!portuguese.contains(&"quant".to_string()));
        assert_eq!(search_terms("How do I reset my password?"), ["reset", "passw"]);
        assert_eq!(search_terms("¿Cómo puedo pedir un reembolso, por favor?"), ["pedir", "reemb"]);
        assert_eq!(search_terms("Vorrei sapere come restituire: restituzione dell'ordine"), ["resti", "ordin"]);
    }

    #[test]
    fn search_terms_are_capped_and_skip_single_characters() {
        assert_eq!(search_terms("x y z"), Vec::<String>::new());
        let many = "alpha bravo charlie delta echoes foxtrot golfs hotel india juliet kilos limas mikes novembers";
        let terms = search_terms(many);
        assert_eq!(terms.len(), 12);
        assert_eq!(terms[0], "alpha");
        assert_eq!(terms[11], "limas");
        assert_eq!(search_terms("Cosa? Come? Perché?"), Vec::<String>::new());
    }

    #[test]
    fn stop_word_lists_are_folded_single_words() {
        for (_, stop_words) in STOP_WORDS {
            for word in stop_words {
                assert_eq!(fold(word), *word);
            }
        }
    }

    #[test]
    fn query_expressions() {
        let terms = strings(&["resti", "ordin"]);
        assert_eq!(fts5_query(&terms).unwrap(), r#""resti"* OR "ordin"*"#);
        assert_eq!(tsquery(&terms).unwrap(), "resti:* | ordin:*");
        assert_eq!(fts5_query(&strings(&["a\"b"])).unwrap(), r#""a""b"*"#);
        assert_eq!(tsquery(&strings(&["a'b&", "|"])).unwrap(), "ab:*");
        assert_eq!(fts5_query(&[]), None);
        assert_eq!(tsquery(&[]), None);
        assert_eq!(fts5_query(&strings(&[""])), None);
    }

    #[test]
    fn coverage_counts_terms_prefixing_a_word() {
        let terms = search_terms("Come posso restituire un prodotto?");
        let passage = fold("Per la restituzione di un prodotto compila il modulo.");
        assert_eq!(coverage(&terms, &passage), 1.0);
        assert_eq!(coverage(&terms, &fold("Resi gratuiti entro 30 giorni per ogni prodotto.")), 0.5);
        assert_eq!(coverage(&terms, "spedizione gratuita"), 0.0);
        assert_eq!(coverage(&strings(&["resti"]), "prestito"), 0.0);
        assert_eq!(coverage(&[], "anything"), 0.0);
    }

    #[test]
    fn passages_split_on_blank_lines_and_merge_short_headings() {
        let long_text = "Per restituire un prodotto apri la pagina degli ordini e scegli quello da rendere.";
        let other_text = "Il rimborso arriva sul metodo di pagamento usato entro quattordici giorni lavorativi.";
        let body = format!("Resi\r\n\r\n{long_text}\n\n\n  \n{other_text}\n\nGrazie!");
        assert_eq!(
            passages("Title", &body),
            [format!("Resi\n\n{long_text}"), other_text.to_string(), "Grazie!".into()]
        );
        assert_eq!(passages("Heading", "Short\n\nAlso short"), ["Short\n\nAlso short"]);
        assert_eq!(passages("  Orari di apertura ", " \n\n "), ["Orari di apertura"]);
        assert_eq!(passages("", ""), Vec::<String>::new());
    }

    #[test]
    fn long_paragraphs_split_at_sentence_ends() {
        let sentence = "Questa frase descrive una regola del servizio clienti in modo abbastanza dettagliato. ";
        let paragraph = sentence.repeat(40);
        let pieces = passages("T", &paragraph);
        assert!(pieces.len() >= 3, "{}", pieces.len());
        for piece in &pieces {
            assert!(piece.chars().count() <= MAX_PASSAGE_CHARS);
            assert!(piece.ends_with('.'), "{piece}");
        }
        assert_eq!(pieces.join(" "), paragraph.trim());
        let with_heading = passages("T", &format!("Come restituire\n\n{paragraph}"));
        assert!(with_heading[0].starts_with("Come restituire\n\nQuesta frase"), "{}", with_heading[0]);
        assert!(with_heading.iter().all(|piece| piece.chars().count() <= MAX_PASSAGE_CHARS));
    }

    #[test]
    fn sentences_longer_than_the_limit_are_hard_split() {
        let paragraph = "è".repeat(3000);
        let pieces = passages("T", &paragraph);
        assert_eq!(pieces.iter().map(|piece| piece.chars().count()).collect::<Vec<_>>(), [1200, 1200, 600]);
        let mixed = format!("Inizio breve? {} Fine.", "x".repeat(1300));
        let pieces = passages("T", &mixed);
        assert_eq!(pieces.iter().map(|piece| piece.chars().count()).collect::<Vec<_>>(), [1200, 120]);
        assert!(pieces[0].starts_with("Inizio breve? xxx"));
        assert_eq!(pieces.concat().chars().filter(|c| *c == 'x').count(), 1300);
    }

    #[test]
    fn passages_are_capped() {
        let paragraph = "Un paragrafo abbastanza lungo da non essere unito al successivo, con qualche parola in più.";
        let body = vec![paragraph; 300].join("\n\n");
        assert_eq!(passages("T", &body).len(), MAX_PASSAGES);
    }

    #[test]
    fn language_is_guessed_from_stop_words() {
        let candidates = strings(&["en", "it", "pt"]);
        assert_eq!(guess_language("vorrei parlare con un operatore", &candidates), Some("it"));
        assert_eq!(guess_language("quero falar com um atendente", &candidates), Some("pt"));
        assert_eq!(guess_language("I want to talk to a person", &candidates), Some("en"));
        let regional = strings(&["it-IT", "pt-BR", "ES", "en"]);
        assert_eq!(guess_language("¿Cómo puedo hablar con una persona?", &regional), Some("ES"));
        assert_eq!(guess_language("Quanto custa o frete para o Brasil?", &regional), Some("pt-BR"));
        assert_eq!(guess_language("Ciao, come posso tracciare il mio ordine?", &regional), Some("it-IT"));
    }

    #[test]
    fn language_guess_breaks_ties_and_gives_up() {
        assert_eq!(guess_language("no", &strings(&["pt", "it"])), Some("pt"));
        assert_eq!(guess_language("no", &strings(&["it", "pt"])), Some("it"));
        assert_eq!(guess_language("zzz qqq", &strings(&["en", "it"])), None);
        assert_eq!(guess_language("the order", &strings(&["fr", "de"])), None);
        assert_eq!(guess_language("the order", &[]), None);
    }

    #[test]
    fn keywords_match_whole_words() {
        assert!(mentions_keyword("Voglio un operatore!", "operatore"));
        assert!(!mentions_keyword("Parlate con gli operatori", "operatore"));
        assert!(mentions_keyword("Quero falar com um atendente, por favor", "atendente"));
        assert!(mentions_keyword("Preciso falar com humano agora", "falar com humano"));
        assert!(!mentions_keyword("Preciso falar com um humano", "falar com humano"));
        assert!(!mentions_keyword("humane treatment", "human"));
        assert!(mentions_keyword("Let me talk to a HUMAN.", "human"));
        assert!(mentions_keyword("ATENDENTÉ", "atendente"));
        assert!(mentions_keyword("quero um atendente", "Atendênte"));
        assert!(!mentions_keyword("anything", ""));
        assert!(!mentions_keyword("anything", "  ?! "));
    }
}
