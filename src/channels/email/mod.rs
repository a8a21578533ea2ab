//! Email: a mailbox read over IMAP (or fed raw mail by a provider's webhook or an MTA pipe) and
//! written over SMTP. Every way in hands the raw RFC 822 mail to one parser ([`parse`]); replies go
//! out threaded (Message-ID, In-Reply-To, References, `Re:` subject) with a text and an HTML
//! alternative and the files attached.

pub mod imap;
pub mod ingress;
pub mod parse;
pub mod trim;

use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde_json::{Map, Value};

use super::settings::{self, text, Field, Format};
use super::{Capabilities, Channel, Failure, Outbound};
use crate::domain::content::Content;
use crate::domain::{AddressKind, ChannelKind};
use crate::error::FieldError;
use crate::store::channels::ChannelRow;

/// How a connection to a mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (IMAP 993, SMTP 465).
    Tls,
    /// Plain, then upgraded with STARTTLS (IMAP 143, SMTP 587).
    StartTls,
    /// No encryption: only for a server on the same machine or network.
    None,
}

impl Security {
    fn parse(value: Option<&str>) -> Security {
        match value {
            Some("starttls") => Security::StartTls,
            Some("none") => Security::None,
            _ => Security::Tls,
        }
    }
}

/// A mail server and the account on it.
#[derive(Debug, Clone)]
pub struct Server {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub user: String,
    pub password: String,
}

/// A channel's email settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The mailbox's address, lower-cased: mail goes out from it.
    pub address: String,
    pub display_name: Option<String>,
    pub imap: Option<Server>,
    /// The IMAP folder read, INBOX unless set.
    pub folder: String,
    /// The IMAP folder a copy of each sent mail goes to, when set.
    pub sent_folder: Option<String>,
    pub smtp: Option<Server>,
    /// The password of the raw-MIME webhook's Basic auth (SendGrid, Postmark, an MTA pipe).
    pub hook_password: Option<String>,
    /// Mailgun's webhook signing key.
    pub mailgun_signing_key: Option<String>,
}

impl Settings {
    /// A stored channel's settings; the address is the channel's.
    pub fn of(channel: &ChannelRow) -> Settings {
        let map = settings::parse(&channel.settings);
        let server = |prefix: &str, default_port: u16| {
            let field = |name: &str| text(&map, &format!("{prefix}_{name}"));
            let host = field("host")?;
            let security = Security::parse(field("security").as_deref());
            let port = map.get(&format!("{prefix}_port")).and_then(Value::as_u64).and_then(|p| u16::try_from(p).ok());
            let user = field("user").unwrap_or_else(|| channel.address.clone());
            Some(Server { host, port: port.unwrap_or(default_port), security, user, password: field("password")? })
        };
        let imap = server(
            "imap",
            if Security::parse(text(&map, "imap_security").as_deref()) == Security::Tls { 993 } else { 143 },
        );
        let smtp = server(
            "smtp",
            match Security::parse(text(&map, "smtp_security").as_deref()) {
                Security::Tls => 465,
                Security::StartTls => 587,
                Security::None => 25,
            },
        );
        Settings {
            address: channel.address.to_lowercase(),
            display_name: text(&map, "display_name"),
            imap,
            folder: text(&map, "imap_folder").unwrap_or_else(|| "INBOX".to_owned()),
            sent_folder: text(&map, "imap_sent_folder"),
            smtp,
            hook_password: text(&map, "hook_password"),
            mailgun_signing_key: text(&map, "mailgun_signing_key"),
        }
    }
}

const SECURITY: &[&str] = &["tls", "starttls", "none"];

/// The settings of an email channel (its address is the channel's address).
const SCHEMA: &[Field] = &[
    Field { name: "display_name", label: "Display name", help: "The name mail goes out under, after the operator's (\"Ana (Acme Support)\")", secret: false, required: false, format: Format::Text },
    Field { name: "imap_host", label: "IMAP server", help: "e.g. imap.gmail.com or outlook.office365.com; leave empty when mail arrives by the raw-MIME webhook", secret: false, required: false, format: Format::Text },
    Field { name: "imap_port", label: "IMAP port", help: "993 with TLS (default), 143 with STARTTLS", secret: false, required: false, format: Format::Count { min: 1, max: 65535 } },
    Field { name: "imap_security", label: "IMAP security", help: "tls (default), starttls, or none for a server on this machine", secret: false, required: false, format: Format::Choice { options: SECURITY } },
    Field { name: "imap_user", label: "IMAP user", help: "The login, usually the address (the default)", secret: false, required: false, format: Format::Text },
    Field { name: "imap_password", label: "IMAP password", help: "The account's password or app password (Gmail and Outlook with two-step verification)", secret: true, required: false, format: Format::Text },
    Field { name: "imap_folder", label: "Folder", help: "The folder read for new mail, INBOX by default", secret: false, required: false, format: Format::Text },
    Field { name: "imap_sent_folder", label: "Sent folder", help: "Where a copy of each reply is saved (e.g. Sent, or \"[Gmail]/Sent Mail\"); none when empty (Gmail's SMTP saves one itself)", secret: false, required: false, format: Format::Text },
    Field { name: "smtp_host", label: "SMTP server", help: "e.g. smtp.gmail.com or smtp.office365.com", secret: false, required: true, format: Format::Text },
    Field { name: "smtp_port", label: "SMTP port", help: "465 with TLS (default), 587 with STARTTLS", secret: false, required: false, format: Format::Count { min: 1, max: 65535 } },
    Field { name: "smtp_security", label: "SMTP security", help: "tls (default), starttls, or none for a relay on this machine", secret: false, required: false, format: Format::Choice { options: SECURITY } },
    Field { name: "smtp_user", label: "SMTP user", help: "The login, usually the address (the default)", secret: false, required: false, format: Format::Text },
    Field { name: "smtp_password", label: "SMTP password", help: "The account's password or app password", secret: true, required: true, format: Format::Text },
    Field { name: "hook_password", label: "Webhook password", help: "The Basic auth password of /hooks/email/{channel id} (SendGrid, Postmark, an MTA pipe)", secret: true, required: false, format: Format::Text },
    Field { name: "mailgun_signing_key", label: "Mailgun signing key", help: "Mailgun's HTTP webhook signing key, when Mailgun posts the raw mail (body-mime)", secret: true, required: false, format: Format::Text },
];

/// The email adapter.
pub struct Email;

impl Channel for Email {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Email
    }

    /// Each mailbox has its own raw-MIME webhook (`/hooks/email/{channel}`, served apart).
    fn hook_path(&self) -> Option<&'static str> {
        Some("email/{channel}")
    }

    fn check_settings(&self, map: &Map<String, Value>, live: bool) -> Result<Option<String>, Vec<FieldError>> {
        let mut problems = settings::problems(SCHEMA, map, live, "email");
        if map.contains_key("imap_host") != map.contains_key("imap_password") {
            problems.push(FieldError {
                field: "settings.imap_password".to_owned(),
                message: "an IMAP mailbox needs both imap_host and imap_password".to_owned(),
            });
        }
        match problems.is_empty() {
            true => Ok(None),
            false => Err(problems),
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            threads: true,
            files_inline: true,
            names_messages: true,
            content: &["text", "media", "choices"],
            ..Capabilities::unconnected(AddressKind::Email)
        }
    }

    fn message_name(&self, channel: &ChannelRow) -> String {
        let domain = channel.address.rsplit_once('@').map_or("parley.invalid", |(_, domain)| domain);
        format!("{}@{domain}", uuid::Uuid::new_v4())
    }

    fn send<'a>(
        &'a self,
        _http: &'a reqwest::Client,
        channel: &'a ChannelRow,
        message: &'a Outbound,
    ) -> BoxFuture<'a, Result<String, Failure>> {
        async move {
            let settings = Settings::of(channel);
            let mail = compose(&settings, message)?;
            let id =
                message.message_id.clone().ok_or_else(|| permanent("no_message_id", "the mail has no Message-ID"))?;
            let smtp =
                settings.smtp.as_ref().ok_or_else(|| permanent("not_configured", "the channel has no SMTP server"))?;
            transport(smtp)?.send(mail.clone()).await.map_err(smtp_failure)?;
            if let (Some(folder), Some(server)) = (&settings.sent_folder, &settings.imap) {
                // The mail went out: a copy that cannot be saved is logged, never a failed send.
                if let Err(e) = save_copy(server, folder, &mail.formatted()).await {
                    tracing::warn!(channel = channel.id, error = %e, "the sent copy was not saved");
                }
            }
            Ok(id)
        }
        .boxed()
    }

    fn settings_schema(&self) -> &'static [Field] {
        SCHEMA
    }
}

fn permanent(code: &str, text: impl Into<String>) -> Failure {
    Failure::Permanent { code: code.to_owned(), text: text.into() }
}

/// The SMTP connection of a server.
fn transport(server: &Server) -> Result<AsyncSmtpTransport<Tokio1Executor>, Failure> {
    let builder = match server.security {
        Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&server.host),
        Security::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&server.host),
        Security::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&server.host)),
    }
    .map_err(|e| permanent("smtp_settings", format!("SMTP server {}: {e}", server.host)))?;
    Ok(builder
        .port(server.port)
        .timeout(Some(Duration::from_secs(60)))
        .credentials(Credentials::new(server.user.clone(), server.password.clone()))
        .build())
}

/// An SMTP error as a failure: the server's 5xx answer fails the message with its text;
/// 4xx answers and network trouble are retried.
fn smtp_failure(error: lettre::transport::smtp::Error) -> Failure {
    match error.status() {
        Some(code) if error.is_permanent() => permanent(&format!("smtp_{code}"), error.to_string()),
        _ => Failure::Transient(error.to_string()),
    }
}

/// Appends a copy of a sent mail to the Sent folder.
async fn save_copy(server: &Server, folder: &str, mail: &[u8]) -> Result<(), String> {
    let mut mailbox = imap::connect(server).await?;
    let saved = imap::append_sent(&mut mailbox, folder, mail).await;
    imap::logout(mailbox).await;
    saved
}

/// RFC 3834's mark of mail a machine sent, so other systems do not answer it.
#[derive(Clone)]
struct AutoSubmitted;

impl lettre::message::header::Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_owned())
    }
}

/// Asks other systems' auto-responders (Exchange's) not to answer.
#[derive(Clone)]
struct SuppressAutoResponse;

impl lettre::message::header::Header for SuppressAutoResponse {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Auto-Response-Suppress")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(SuppressAutoResponse)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "All".to_owned())
    }
}

/// The mail for a queued message: from the channel's address under the writer's name, to the
/// contact with the message's cc and bcc, threaded under the conversation's mails.
pub fn compose(settings: &Settings, message: &Outbound) -> Result<lettre::Message, Failure> {
    let envelope = message.envelope.clone().unwrap_or_default();
    let bad_address = |address: &str| permanent("invalid_address", format!("`{address}` is not an email address"));
    let mailbox = |address: &str| address.parse::<lettre::Address>().map_err(|_| bad_address(address));
    let name = match (&envelope.sender_name, &settings.display_name) {
        (Some(person), Some(business)) => Some(format!("{person} ({business})")),
        (person, business) => person.clone().or_else(|| business.clone()),
    };
    let to = message.recipients.first().ok_or_else(|| permanent("no_recipient", "the contact has no email address"))?;
    let mut builder = lettre::Message::builder()
        .from(Mailbox::new(name, mailbox(&settings.address)?))
        .to(Mailbox::new(None, mailbox(to)?))
        .subject(subject(envelope.subject.as_deref(), !envelope.references.is_empty()));
    for address in &envelope.cc {
        builder = builder.cc(Mailbox::new(None, mailbox(address)?));
    }
    for address in &envelope.bcc {
        builder = builder.bcc(Mailbox::new(None, mailbox(address)?));
    }
    if let Some(id) = &message.message_id {
        builder = builder.message_id(Some(format!("<{id}>")));
    }
    if let Some(last) = envelope.references.last() {
        builder = builder.in_reply_to(format!("<{last}>"));
        let references: Vec<String> = envelope.references.iter().map(|id| format!("<{id}>")).collect();
        builder = builder.references(references.join(" "));
    }
    if envelope.automatic {
        builder = builder.header(AutoSubmitted).header(SuppressAutoResponse);
    }
    let text = body_text(&message.content);
    let alternative = MultiPart::alternative_plain_html(text.clone(), html(&text));
    let body = if envelope.files.is_empty() {
        alternative
    } else {
        let mut mixed = MultiPart::mixed().multipart(alternative);
        for file in &envelope.files {
            let kind = ContentType::parse(&file.content_type).unwrap_or(
                ContentType::parse("application/octet-stream").map_err(|e| permanent("attachment", e.to_string()))?,
            );
            let part: SinglePart = Attachment::new(file.name.clone()).body(file.bytes.clone(), kind);
            mixed = mixed.singlepart(part);
        }
        mixed
    };
    builder.multipart(body).map_err(|e| permanent("invalid_mail", e.to_string()))
}

/// The subject of a mail: `Re:` before the conversation's subject on a reply (once).
fn subject(subject: Option<&str>, reply: bool) -> String {
    let subject = subject.map(str::trim).filter(|subject| !subject.is_empty()).unwrap_or("(no subject)");
    let already = subject.get(..3).is_some_and(|start| start.eq_ignore_ascii_case("re:"));
    match reply && !already {
        true => format!("Re: {subject}"),
        false => subject.to_owned(),
    }
}

/// The text of a message's content, choices listed one per line under it.
fn body_text(content: &Content) -> String {
    match content {
        Content::Text(text) => text.clone(),
        Content::Media(media) => media.caption.clone().unwrap_or_default(),
        Content::Choices(choices) => {
            let mut text = choices.text.clone();
            for choice in choices.all() {
                text.push_str(&format!("\n- {}", choice.title));
            }
            text
        }
        _ => String::new(),
    }
}

/// The HTML alternative of a text: escaped, paragraphs and line breaks kept.
fn html(text: &str) -> String {
    let escaped = text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let paragraphs: Vec<String> = escaped
        .split("\n\n")
        .filter(|paragraph| !paragraph.trim().is_empty())
        .map(|paragraph| format!("<p>{}</p>", paragraph.trim().replace('\n', "<br>\n")))
        .collect();
    format!("<!DOCTYPE html><html><body>{}</body></html>", paragraphs.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_subjects_get_one_re() {
        assert_eq!(subject(Some("Order 42"), true), "Re: Order 42");
        assert_eq!(subject(Some("RE: Order 42"), true), "RE: Order 42");
        assert_eq!(subject(Some("Order 42"), false), "Order 42");
        assert_eq!(subject(None, false), "(no subject)");
    }

    #[test]
    fn html_alternative_escapes_and_keeps_paragraphs() {
        assert_eq!(
            html("Hi <Ana>,\nthanks\n\nBye & see you"),
            "<!DOCTYPE html><html><body><p>Hi &lt;Ana&gt;,<br>\nthanks</p>\n<p>Bye &amp; see you</p></body></html>"
        );
    }
}
