//! The reply in an email: the text before the quoted history, forwarded mail and signature,
//! which clients put under a reply in many languages and shapes ("On … wrote:", Outlook's
//! `From:`/`Sent:` block, `-- `, "Sent from my iPhone"…). Everything from the first such line on is
//! cut.

/// Words that end a quote header ("On Tue, … Ana <ana@example.com> wrote:") in the languages
/// mail clients write them in.
const QUOTE_HEADER_ENDINGS: &[&str] = &[
    "wrote:",
    "schrieb:",
    "a écrit :",
    "a écrit:",
    "escribió:",
    "ha scritto:",
    "schreef:",
    "skrev:",
    "napisał:",
    "escreveu:",
    "kirjoitti:",
    "írta:",
    "написал:",
    "написал(а):",
    "yazdı:",
    "έγραψε:",
];

/// How a header block of a quoted or forwarded mail starts (Outlook, Gmail's forwards).
const HEADER_FIELDS: &[&str] = &["from:", "*from:*", "von:", "de :", "de:", "da:", "van:", "från:", "od:"];

/// How the lines clients add under a message from a phone or an app start.
const DEVICE_SIGNATURES: &[&str] = &[
    "sent from ",
    "sent with ",
    "sent via ",
    "sent by ",
    "envoyé depuis ",
    "envoyé de mon ",
    "von meinem ",
    "diese nachricht wurde von meinem ",
    "gesendet von ",
    "verzonden met ",
    "verzonden vanaf ",
    "enviado desde ",
    "enviado do meu ",
    "inviato da ",
    "get outlook for ",
    "get [outlook for ",
    "從我的 ",
    "<<sent by ",
    "(sent from ",
];

/// The reply part of a mail's text: cut at the first line that starts quoted history, a
/// forwarded mail or a signature, with trailing blank lines dropped. The whole text when nothing
/// is cut would leave the reply empty.
pub fn reply(text: &str) -> &str {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut offset = 0;
    for (index, line) in lines.iter().enumerate() {
        if starts_cut(line, lines.get(index + 1).copied()) {
            let kept = text[..offset].trim_end();
            if !kept.is_empty() {
                return kept;
            }
            break;
        }
        offset += line.len();
    }
    text.trim_end()
}

/// Whether `line` (followed by `next`) starts what is cut from a reply.
fn starts_cut(line: &str, next: Option<&str>) -> bool {
    let trimmed = line.trim();
    let lower = trimmed.to_lowercase();
    if trimmed.starts_with('>') || trimmed == "--" || line.trim_end_matches(['\r', '\n']) == "-- " {
        return true;
    }
    // Outlook's rule and Gmail's "---------- Forwarded message ---------".
    if trimmed.len() >= 5 && (trimmed.starts_with("-----") || trimmed.starts_with("_____")) {
        return true;
    }
    if HEADER_FIELDS.iter().any(|field| lower.starts_with(field)) && lower.len() > 6 {
        return true;
    }
    if DEVICE_SIGNATURES.iter().any(|start| lower.starts_with(start)) {
        return true;
    }
    is_quote_header(&lower)
        || next.is_some_and(|next| is_quote_header(&format!("{lower} {}", next.trim().to_lowercase())))
}

/// Whether a line (or two joined, as clients wrap it) is a quote header: it ends with "wrote:"
/// or its translation, and it is not a whole paragraph of the reply.
fn is_quote_header(line: &str) -> bool {
    line.chars().count() <= 300 && QUOTE_HEADER_ENDINGS.iter().any(|ending| line.ends_with(ending))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reply trimmer's test pairs (Discourse's email_reply_trimmer, MIT): each mail trims to
    /// its pair.
    #[test]
    fn trims_the_reference_pairs() {
        let base = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/email/email_reply_trimmer");
        let mut checked = 0;
        for entry in std::fs::read_dir(format!("{base}/emails")).expect("fixtures") {
            let path = entry.expect("entry").path();
            let name = path.file_name().expect("name").to_string_lossy().into_owned();
            let mail = std::fs::read_to_string(&path).expect("mail");
            let trimmed = std::fs::read_to_string(format!("{base}/trimmed/{name}")).expect("trimmed");
            assert_eq!(reply(&mail), trimmed.trim_end(), "{name}");
            checked += 1;
        }
        assert_eq!(checked, 6);
    }

    #[test]
    fn keeps_a_reply_without_history_and_cuts_a_wrapped_quote_header() {
        assert_eq!(reply("Thanks, that works.\n"), "Thanks, that works.");
        let wrapped = "Great!\n\nOn Tue, 3 Mar 2026 at 10:00, Parley Support <support@example.com>\nwrote:\n> Hello";
        assert_eq!(reply(wrapped), "Great!");
        // A mail that is all quote keeps its text rather than becoming empty.
        assert_eq!(reply("> only a quote"), "> only a quote");
    }
}
