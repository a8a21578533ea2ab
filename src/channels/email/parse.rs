//! Reading a raw RFC 822 mail, whichever way it came in (IMAP, a provider's raw-MIME webhook, an
//! MTA pipe): its addresses and thread, its text (full and trimmed to the reply), HTML and files,
//! whether a machine sent it, and the delivery or complaint report it carries.

use mail_parser::{Address, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType};

use super::trim;

/// The most HTML kept with a message; a longer body stays in the raw mail only.
const MAX_HTML_BYTES: usize = 512 * 1024;

/// A mail as Parley keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Mail {
    /// The Message-ID without its angle brackets (a hash of the mail when it has none).
    pub message_id: String,
    /// The sender's address, lower-cased.
    pub from: String,
    pub name: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: Option<String>,
    /// The mails it answers, nearest first: In-Reply-To, then References from the newest.
    pub thread: Vec<String>,
    /// The whole text (converted from the HTML when the mail has no text part).
    pub text: Option<String>,
    /// The reply part of the text: without quoted history and signature.
    pub reply: Option<String>,
    pub html: Option<String>,
    pub files: Vec<File>,
    /// Why a machine sent it (an auto-reply, a bounce, a list), when one did.
    pub automated: Option<&'static str>,
    pub report: Option<Report>,
    /// The Date header, Unix ms.
    pub sent_at: Option<i64>,
}

/// An attachment or inline image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub name: Option<String>,
    pub content_type: String,
    pub bytes: Vec<u8>,
    /// The Content-ID an HTML body shows it by (`cid:`), without angle brackets.
    pub content_id: Option<String>,
}

/// What a report a mail server or mailbox provider sends says about a mail Parley sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// A delivery status notification (RFC 3464, or a text bounce).
    Delivery {
        /// The Message-ID of the mail it reports on.
        original: Option<String>,
        /// `failed` or `delayed`.
        action: String,
        /// The enhanced status code (5.1.1 permanent, 4.2.2 transient).
        status: String,
        recipient: Option<String>,
        diagnostic: Option<String>,
    },
    /// A recipient marked the mail as spam (ARF feedback report).
    Complaint { original: Option<String>, recipient: Option<String>, feedback_type: Option<String> },
}

impl Report {
    /// Whether it reports that the mail will never be delivered.
    pub fn is_permanent_failure(&self) -> bool {
        matches!(self, Report::Delivery { action, status, .. } if action == "failed" || status.starts_with('5'))
    }
}

/// Reads a raw mail; `own_addresses` are the channel's (mail from them is automated). The error
/// says why the mail cannot be taken.
pub fn parse(raw: &[u8], own_addresses: &[&str]) -> Result<Mail, String> {
    let message = MessageParser::default().parse(raw).ok_or("not an RFC 822 mail")?;
    let sender = message
        .from()
        .and_then(Address::first)
        .or_else(|| message.sender().and_then(Address::first))
        .ok_or("the mail has no From address")?;
    let from = sender
        .address()
        .map(|address| address.trim().to_lowercase())
        .filter(|address| crate::domain::text::is_email(address))
        .ok_or("the From address is not an email address")?;
    let message_id = match message.message_id() {
        Some(id) if !id.trim().is_empty() => id.trim().to_owned(),
        _ => format!("{}@parley.invalid", hex::encode(&sha2_digest(raw)[..16])),
    };
    let mut thread = ids(message.in_reply_to());
    thread.extend(ids(message.references()).into_iter().rev());
    let mut seen = std::collections::HashSet::new();
    thread.retain(|id| *id != message_id && seen.insert(id.clone()));
    let text = message.body_text(0).map(|text| text.replace("\r\n", "\n")).filter(|text| !text.trim().is_empty());
    let reply = text.as_deref().map(|text| trim::reply(text).to_owned());
    // Without an HTML part the parser would make one from the text.
    let has_html = message.html_part(0).is_some_and(MessagePart::is_text_html);
    let html = message.body_html(0).filter(|_| has_html).map(|html| sanitize(&html));
    let report = report(&message, text.as_deref());
    let automated = automated(&message, &from, own_addresses, report.is_some());
    Ok(Mail {
        message_id,
        name: sender.name().map(str::trim).filter(|name| !name.is_empty() && *name != from).map(str::to_owned),
        from,
        to: addresses(message.to()),
        cc: addresses(message.cc()),
        subject: message.subject().map(|subject| subject.trim().to_owned()).filter(|subject| !subject.is_empty()),
        thread,
        reply,
        text,
        html: html.filter(|html| html.len() <= MAX_HTML_BYTES),
        files: files(&message),
        automated,
        report,
        sent_at: message.date().map(|date| date.to_timestamp() * 1000),
    })
}

/// An HTML body without scripts, event handlers, forms or frames, keeping its layout, links and
/// images (`cid:` ones too, which the inbox shows from the mail's own files).
fn sanitize(html: &str) -> String {
    ammonia::Builder::default()
        .add_url_schemes(&["cid"])
        .add_generic_attributes(&["style", "align", "valign", "bgcolor", "width", "height"])
        .clean(html)
        .to_string()
}

fn sha2_digest(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

/// The message ids of an In-Reply-To or References header (a malformed entry is skipped).
fn ids(value: &HeaderValue) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => vec![id.to_string()],
        HeaderValue::TextList(ids) => ids.iter().map(|id| id.to_string()).collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .map(|id| id.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
    .filter(|id| id.contains('@') && !id.contains(char::is_whitespace))
    .collect()
}

/// The email addresses of a To or Cc header, lower-cased.
fn addresses(address: Option<&Address>) -> Vec<String> {
    address
        .map(|address| address.iter().filter_map(|addr| addr.address()).map(|a| a.trim().to_lowercase()).collect())
        .unwrap_or_default()
}

/// The mail's attachments and inline images (not its text and HTML bodies).
fn files(message: &Message) -> Vec<File> {
    message
        .attachments()
        .filter_map(|part| {
            let content_type = match part.content_type() {
                Some(kind) => match kind.subtype() {
                    Some(subtype) => format!("{}/{}", kind.ctype(), subtype).to_lowercase(),
                    None => kind.ctype().to_lowercase(),
                },
                None => "application/octet-stream".to_owned(),
            };
            let bytes = match &part.body {
                PartType::Message(inner) => inner.raw_message().to_vec(),
                _ => part.contents().to_vec(),
            };
            (!bytes.is_empty()).then(|| File {
                name: part.attachment_name().map(str::to_owned),
                content_type,
                bytes,
                content_id: part.content_id().map(|id| id.trim_start_matches('<').trim_end_matches('>').to_owned()),
            })
        })
        .collect()
}

/// How auto-responders that mark their mail no other way begin its subject.
const AUTO_REPLY_SUBJECTS: &[&str] = &[
    "auto reply:",
    "autoreply:",
    "auto-reply:",
    "automatic reply:",
    "out of office:",
    "out of office autoreply:",
    "abwesenheitsnotiz:",
    "automatische antwort:",
    "réponse automatique",
    "respuesta automática:",
    "risposta automatica:",
];

/// Addresses machines send from.
const MACHINE_SENDERS: &[&str] = &["mailer-daemon@", "postmaster@"];

/// Why a machine sent the mail (RFC 3834 and the marks auto-responders, lists and bounces carry),
/// or `None` for a person's mail.
fn automated(message: &Message, from: &str, own_addresses: &[&str], is_report: bool) -> Option<&'static str> {
    let header = |name: &'static str| message.header_raw(name).map(str::trim);
    if header("Auto-Submitted").is_some_and(|value| !value.eq_ignore_ascii_case("no")) {
        return Some("auto_submitted");
    }
    let vacation = header("X-Apple-Action").is_some_and(|action| action.eq_ignore_ascii_case("vacation"));
    if vacation
        || header("X-Auto-Response-Suppress").is_some()
        || header("X-Autoreply").is_some()
        || header("X-Autorespond").is_some()
    {
        return Some("auto_response");
    }
    let subject = message.subject().unwrap_or_default().trim_start().to_lowercase();
    if AUTO_REPLY_SUBJECTS.iter().any(|start| subject.starts_with(start)) {
        return Some("auto_reply_subject");
    }
    let precedence = header("Precedence").unwrap_or_default().to_ascii_lowercase();
    if ["bulk", "junk", "list", "auto_reply"].contains(&precedence.as_str()) {
        return Some("bulk");
    }
    if header("List-Id").is_some() || header("List-Unsubscribe").is_some() {
        return Some("mailing_list");
    }
    if is_report
        || message.content_type().is_some_and(|kind| {
            kind.ctype().eq_ignore_ascii_case("multipart")
                && kind.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report"))
        })
    {
        return Some("report");
    }
    if MACHINE_SENDERS.iter().any(|sender| from.starts_with(sender)) || header("X-Failed-Recipients").is_some() {
        return Some("mailer_daemon");
    }
    if header("Return-Path").is_some_and(|path| path == "<>") {
        return Some("null_return_path");
    }
    if own_addresses.iter().any(|own| own.eq_ignore_ascii_case(from)) {
        return Some("own_address");
    }
    None
}

/// The delivery or complaint report a mail carries: a `multipart/report` (RFC 3464 or ARF), or
/// a text bounce from a mailer daemon (Gmail's) with the original mail quoted under it.
fn report(message: &Message, text: Option<&str>) -> Option<Report> {
    let original = original_id(message);
    for part in &message.parts {
        let Some(kind) = part.content_type() else { continue };
        let subtype = kind.subtype().unwrap_or_default().to_ascii_lowercase();
        if !kind.ctype().eq_ignore_ascii_case("message") {
            continue;
        }
        if subtype == "delivery-status" {
            if let Some(report) = delivery_status(&part_text(part), original.clone()) {
                return Some(report);
            }
        } else if subtype == "feedback-report" {
            let fields = fields(&part_text(part));
            let field = |name: &str| fields.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
            return Some(Report::Complaint {
                original,
                recipient: field("original-rcpt-to").map(|rcpt| rcpt.to_lowercase()),
                feedback_type: field("feedback-type"),
            });
        }
    }
    text_bounce(message, text?)
}

/// A part's content as text.
fn part_text(part: &MessagePart) -> String {
    match &part.body {
        PartType::Message(inner) => String::from_utf8_lossy(inner.raw_message()).into_owned(),
        _ => String::from_utf8_lossy(part.contents()).into_owned(),
    }
}

/// The first failed or delayed recipient of a `message/delivery-status` part.
fn delivery_status(text: &str, original: Option<String>) -> Option<Report> {
    // Per-message fields, then one block per recipient, separated by blank lines.
    for block in text.replace("\r\n", "\n").split("\n\n") {
        let fields = fields(block);
        let field = |name: &str| fields.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
        let action = field("action").map(|action| action.to_ascii_lowercase());
        let Some(action) = action.filter(|action| action == "failed" || action == "delayed") else { continue };
        let recipient = field("final-recipient").or_else(|| field("original-recipient")).map(|recipient| {
            let address = recipient.split_once(';').map_or(recipient.as_str(), |(_, address)| address);
            address.trim().trim_start_matches('<').trim_end_matches('>').to_lowercase()
        });
        return Some(Report::Delivery {
            original,
            status: field("status").unwrap_or_else(|| if action == "failed" { "5.0.0" } else { "4.0.0" }.to_owned()),
            action,
            recipient,
            diagnostic: field("diagnostic-code")
                .map(|code| code.split_once(';').map_or(code.as_str(), |(_, text)| text).trim().to_owned()),
        });
    }
    None
}

/// `Name: value` lines (names lower-cased, folded lines joined).
fn fields(block: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    fields
}

/// The Message-ID of the mail a report is about: from its attached `message/rfc822` or
/// `text/rfc822-headers` part.
fn original_id(message: &Message) -> Option<String> {
    message.parts.iter().find_map(|part| {
        let kind = part.content_type()?;
        let subtype = kind.subtype().unwrap_or_default().to_ascii_lowercase();
        match &part.body {
            PartType::Message(inner) => inner.message_id().map(str::to_owned),
            _ if subtype == "rfc822-headers" || subtype == "rfc822" => {
                MessageParser::default().parse(part.contents())?.message_id().map(str::to_owned)
            }
            _ => None,
        }
    })
}

/// Marks of the original mail quoted under a text bounce.
const ORIGINAL_MARKERS: &[&str] = &["----- Original message -----", "------ This is a copy of the message"];

/// A mailer daemon's text bounce (no report part): the status in its text, the original mail's
/// Message-ID in the copy quoted under it.
fn text_bounce(message: &Message, text: &str) -> Option<Report> {
    let from = message.from().and_then(Address::first).and_then(|a| a.address()).unwrap_or_default().to_lowercase();
    if !MACHINE_SENDERS.iter().any(|sender| from.starts_with(sender)) {
        return None;
    }
    let (notice, quoted) = ORIGINAL_MARKERS.iter().find_map(|marker| text.split_once(marker))?;
    let original = MessageParser::default().parse(quoted.trim_start().as_bytes())?.message_id().map(str::to_owned);
    let status = enhanced_status(notice)?;
    let diagnostic = notice.lines().find(|line| line.contains(&status)).map(|line| line.trim().to_owned());
    Some(Report::Delivery {
        original,
        action: if status.starts_with('5') { "failed" } else { "delayed" }.to_owned(),
        recipient: message.header_raw("X-Failed-Recipients").map(|rcpt| rcpt.trim().to_lowercase()),
        status,
        diagnostic,
    })
}

/// The first enhanced status code (`5.1.1`) in a text.
fn enhanced_status(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.')).find_map(|word| {
        let parts: Vec<&str> = word.split('.').collect();
        let valid = parts.len() == 3
            && matches!(parts[0], "2" | "4" | "5")
            && parts[1..].iter().all(|part| (1..=3).contains(&part.len()));
        valid.then(|| word.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/fixtures/email/{name}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
    }

    #[test]
    fn every_fixture_parses() {
        let base = format!("{}/tests/fixtures/email", env!("CARGO_MANIFEST_DIR"));
        let mut parsed = 0;
        for folder in ["mikel-mail", "set-of-emails", "mail-parser"] {
            for entry in std::fs::read_dir(format!("{base}/{folder}")).expect("folder") {
                let path = entry.expect("entry").path();
                if path.extension().is_some_and(|ext| ext == "eml") {
                    let mail = parse(&std::fs::read(&path).expect("mail"), &[]);
                    assert!(mail.is_ok(), "{}: {mail:?}", path.display());
                    parsed += 1;
                }
            }
        }
        assert_eq!(parsed, 17);
    }

    #[test]
    fn auto_replies_are_automated_and_a_persons_mail_is_not() {
        for name in ["rfc3834-01", "rfc3834-02", "rfc3834-03", "rfc3834-04"] {
            let mail = parse(&fixture(&format!("set-of-emails/{name}.eml")), &[]).expect("parses");
            assert!(mail.automated.is_some(), "{name}");
        }
        let person = parse(&fixture("mikel-mail/raw_email11.eml"), &[]).expect("parses");
        assert_eq!(person.automated, None);
        let own = parse(&fixture("mikel-mail/raw_email11.eml"), &[person.from.as_str()]).expect("parses");
        assert_eq!(own.automated, Some("own_address"));
    }

    #[test]
    fn bounces_name_the_mail_they_report_on() {
        let failed = parse(&fixture("set-of-emails/rfc3464-01.eml"), &[]).expect("parses");
        let Some(Report::Delivery { original, action, status, recipient, diagnostic }) = failed.report else {
            panic!("no report: {failed:?}")
        };
        assert_eq!(original.as_deref(), Some("E1C50F1B-1C83-4820-BC36-AC6FBFBE8568@example.org"));
        assert_eq!((action.as_str(), status.as_str()), ("failed", "5.1.1"));
        assert_eq!(recipient.as_deref(), Some("userunknown@bouncehammer.jp"));
        assert!(diagnostic.is_some_and(|text| text.contains("User Unknown")));

        let delayed = parse(&fixture("mikel-mail/report_422.eml"), &[]).expect("parses");
        assert!(
            matches!(&delayed.report, Some(Report::Delivery { action, status, original: Some(_), .. }) if action == "delayed" && status == "4.2.2"),
            "{:?}",
            delayed.report
        );

        let gmail = parse(&fixture("set-of-emails/lhost-gmail-01.eml"), &[]).expect("parses");
        assert!(
            matches!(&gmail.report, Some(Report::Delivery { status, original: Some(_), .. }) if status == "5.1.1"),
            "{:?}",
            gmail.report
        );
        let complaint = parse(&fixture("set-of-emails/arf-01.eml"), &[]).expect("parses");
        assert!(matches!(complaint.report, Some(Report::Complaint { .. })), "{:?}", complaint.report);
    }

    #[test]
    fn html_is_sanitized() {
        let raw = b"From: a@example.com\r\nContent-Type: text/html\r\n\r\n<p onclick=\"x()\">Hi<script>alert(1)</script><img src=\"cid:logo\"></p>";
        let mail = parse(raw, &[]).expect("parses");
        let html = mail.html.expect("html");
        assert!(!html.contains("script") && !html.contains("onclick"), "{html}");
        assert!(html.contains("src=\"cid:logo\""), "{html}");
    }

    #[test]
    fn threads_attachments_and_bad_input() {
        let mail = parse(&fixture("mikel-mail/attachment_with_encoded_name.eml"), &[]).expect("parses");
        assert!(!mail.thread.is_empty());
        assert!(mail.files.iter().any(|file| file.name.is_some()), "{:?}", mail.files);
        let tolerant = parse(&fixture("mikel-mail/multiple_references_with_one_invalid.eml"), &[]).expect("parses");
        assert!(tolerant.thread.iter().all(|id| id.contains('@')));
        assert!(parse(b"", &[]).is_err());
        assert!(parse(b"Subject: hi\r\n\r\nno sender\r\n", &[]).is_err());
    }
}
