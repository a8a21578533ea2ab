//! What a message says, whatever the network: the channel-neutral content each adapter maps to
//! and from its provider's wire format. A message's stored payload names its structured content
//! under one key ([`PAYLOAD_KEYS`]); Meta's message object shapes are accepted for the keys they
//! share with WhatsApp, and `native` carries a provider's own message object as is.

use serde_json::{json, Map, Value};

use super::MessageType;

/// The payload keys that carry structured content, and the message type each gives.
pub const PAYLOAD_KEYS: [(&str, MessageType); 13] = [
    ("location", MessageType::Location),
    ("contacts", MessageType::Contacts),
    ("interactive", MessageType::Interactive),
    ("choices", MessageType::Interactive),
    ("cards", MessageType::Interactive),
    ("template", MessageType::Template),
    ("reaction", MessageType::Reaction),
    ("image", MessageType::Image),
    ("video", MessageType::Video),
    ("audio", MessageType::Audio),
    ("document", MessageType::Document),
    ("sticker", MessageType::Sticker),
    ("native", MessageType::Interactive),
];

/// The kinds of content, as capabilities list them. `actions` are choices or card buttons that
/// do more than answer or open a link (dial, show or share a location, add a calendar event).
pub const KINDS: &[&str] =
    &["text", "media", "location", "contacts", "choices", "cards", "actions", "template", "reaction", "native"];

/// A message's content as adapters send it.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Text(String),
    Media(Media),
    Location(Location),
    /// Contact cards (Meta's `contacts` objects: name, phones, emails, addresses…).
    Contacts(Vec<Value>),
    /// Text with choices the customer picks from (reply buttons, a list menu, quick replies).
    Choices(Choices),
    /// Cards side by side (one card alone is a card, several a carousel).
    Cards(Cards),
    /// An approved message template.
    Template(Template),
    /// An emoji on an earlier message; an empty emoji removes it.
    Reaction {
        /// The provider's id of the message reacted to.
        message_id: String,
        emoji: String,
    },
    /// The provider's own message object, sent as is (WhatsApp: merged into the request body;
    /// Messenger and Instagram: the `message` object).
    Native(Map<String, Value>),
}

/// The kind of file a media message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    Document,
    Sticker,
}

impl MediaKind {
    /// The media kind of a message type, if it carries a file.
    pub fn of(kind: MessageType) -> Option<MediaKind> {
        Some(match kind {
            MessageType::Image => MediaKind::Image,
            MessageType::Video => MediaKind::Video,
            MessageType::Audio => MediaKind::Audio,
            MessageType::Document => MediaKind::Document,
            MessageType::Sticker => MediaKind::Sticker,
            _ => return None,
        })
    }
}

/// Where the provider gets a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaSource {
    /// A URL the provider fetches (Parley's media store signs one for uploaded files).
    Link(String),
    /// A file already uploaded to the provider.
    ProviderId(String),
}

/// A file with its caption.
#[derive(Debug, Clone, PartialEq)]
pub struct Media {
    pub kind: MediaKind,
    pub source: MediaSource,
    pub caption: Option<String>,
    /// The file name, shown for documents.
    pub filename: Option<String>,
}

/// A place on the map. Coordinates are kept as given (a number or a decimal string).
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub latitude: Value,
    pub longitude: Value,
    pub name: Option<String>,
    pub address: Option<String>,
}

/// Text with choices. One untitled section without `list_button` is a set of reply buttons; a
/// `list_button` makes a menu that opens on that button.
#[derive(Debug, Clone, PartialEq)]
pub struct Choices {
    pub text: String,
    pub header: Option<Header>,
    pub footer: Option<String>,
    pub list_button: Option<String>,
    pub sections: Vec<Section>,
}

impl Choices {
    /// Every choice, across sections.
    pub fn all(&self) -> impl Iterator<Item = &Choice> {
        self.sections.iter().flat_map(|section| section.choices.iter())
    }
}

/// What heads a message with choices.
#[derive(Debug, Clone, PartialEq)]
pub enum Header {
    Text(String),
    Media(Media),
}

/// A titled group of choices.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub title: Option<String>,
    pub choices: Vec<Choice>,
}

/// One choice: the customer sees the title; the answer carries the id. A choice with an action
/// does that instead of answering (where the network has such suggestions).
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub action: Option<ButtonAction>,
}

/// Cards and how they are laid out.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cards {
    pub items: Vec<Card>,
    /// `VERTICAL` or `HORIZONTAL` (picture beside the text), for one card alone.
    pub orientation: Option<String>,
    /// `LEFT` or `RIGHT`: where the picture of a horizontal card sits.
    pub image_alignment: Option<String>,
    /// `SMALL` or `MEDIUM`: the width of a carousel's cards.
    pub width: Option<String>,
}

/// A card: a title, an optional picture and subtitle, and buttons.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub title: String,
    pub subtitle: Option<String>,
    pub image_url: Option<String>,
    /// `SHORT`, `MEDIUM` or `TALL`: the height of the picture.
    pub media_height: Option<String>,
    pub buttons: Vec<Button>,
}

/// A button on a card.
#[derive(Debug, Clone, PartialEq)]
pub struct Button {
    pub title: String,
    pub action: ButtonAction,
}

/// What a card button (or a choice with an action) does.
#[derive(Debug, Clone, PartialEq)]
pub enum ButtonAction {
    /// Sends this payload back, as a postback.
    Postback(String),
    /// Opens this URL.
    Url(String),
    /// Calls this phone number.
    Dial(String),
    /// Shows a place on the map.
    ViewLocation { latitude: f64, longitude: f64, label: Option<String> },
    /// Asks the customer to share where they are.
    ShareLocation,
    /// Offers to add an event to the customer's calendar (times in RFC 3339).
    Calendar { title: String, description: Option<String>, start: String, end: String },
}

impl ButtonAction {
    /// Whether a card button with the action is more than a postback or a link (the `actions`
    /// content kind).
    pub fn is_rich(&self) -> bool {
        !matches!(self, ButtonAction::Postback(_) | ButtonAction::Url(_))
    }
}

/// A template with its language and parameters (Meta's component objects).
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub name: String,
    pub language: String,
    pub components: Vec<Value>,
}

/// Why a payload is not content: the field (under `payload.`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub detail: String,
}

impl Problem {
    fn new(field: impl Into<String>, detail: impl Into<String>) -> Problem {
        Problem { field: field.into(), detail: detail.into() }
    }
}

/// The structured part of a payload: its content key and the message type it gives.
pub fn payload_key(payload: &Map<String, Value>) -> Option<(&'static str, MessageType)> {
    PAYLOAD_KEYS.iter().copied().find(|(key, _)| payload.contains_key(*key))
}

/// The kind of content a message with this payload (and files, when `has_media`) carries.
pub fn kind_of(payload: &Map<String, Value>, has_media: bool) -> &'static str {
    match payload_key(payload) {
        Some(("interactive", _)) => {
            match payload["interactive"].get("type").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
                Some("button" | "list") => "choices",
                _ => "native",
            }
        }
        Some((_, kind)) if MediaKind::of(kind).is_some() => "media",
        Some(("choices" | "cards", _)) if has_rich_action(payload) => "actions",
        Some((key, _)) => KINDS.iter().copied().find(|kind| *kind == key).unwrap_or("native"),
        None if has_media => "media",
        None => "text",
    }
}

/// Whether a payload's choices carry actions, or its card buttons actions beyond a postback or a
/// link.
fn has_rich_action(payload: &Map<String, Value>) -> bool {
    match parse(MessageType::Interactive, Some("-"), payload, None) {
        Ok(Content::Choices(choices)) => choices.all().any(|choice| choice.action.is_some()),
        Ok(Content::Cards(cards)) => {
            cards.items.iter().flat_map(|card| &card.buttons).any(|button| button.action.is_rich())
        }
        _ => false,
    }
}

/// Checks a payload's structured content and puts it in canonical form (lowercase interactive
/// types, Meta's `{"code": …}` template language). `text` is the message's text.
pub fn normalize_payload(payload: &mut Map<String, Value>, text: Option<&str>) -> Result<(), Problem> {
    if let Some(key) = payload.keys().find(|key| !PAYLOAD_KEYS.iter().any(|(name, _)| name == key)) {
        return Err(Problem::new(format!("payload.{key}"), "unknown payload key"));
    }
    if payload.len() > 1 {
        return Err(Problem::new("payload", "carries one message type at a time"));
    }
    let Some((key, _)) = payload_key(payload) else { return Ok(()) };
    if let Some(value) = payload.get_mut(key) {
        match key {
            "interactive" => {
                let lowered = value.get("type").and_then(Value::as_str).map(str::to_ascii_lowercase);
                if let (Some(kind), Some(object)) = (lowered, value.as_object_mut()) {
                    object.insert("type".into(), Value::String(kind));
                }
            }
            "template" => {
                if let Some(Value::String(code)) = value.get("language").cloned() {
                    value["language"] = json!({ "code": code });
                }
            }
            _ => {}
        }
    }
    // References to other messages are resolved when the message is stored; a placeholder stands
    // in for the check.
    let mut checked = payload.clone();
    if let Some(reaction) = checked.get_mut("reaction").and_then(Value::as_object_mut) {
        match reaction.get("message_id") {
            Some(Value::Number(id)) if id.is_i64() => {
                reaction.insert("message_id".into(), json!("checked"));
            }
            _ => {
                return Err(Problem::new(
                    "payload.reaction.message_id",
                    "must be the id of a message in this conversation",
                ))
            }
        }
    }
    parse(MessageType::Text, text, &checked, None).map(|_| ())
}

/// A stored message's content: its structured payload, else its first file (`media`, a link to
/// the media store), else its text.
pub fn parse(
    kind: MessageType,
    text: Option<&str>,
    payload: &Map<String, Value>,
    media: Option<(String, Option<String>)>,
) -> Result<Content, Problem> {
    let text = text.filter(|text| !text.trim().is_empty());
    let Some((key, kind_of_key)) = payload_key(payload) else {
        return Ok(match (MediaKind::of(kind), media) {
            (Some(media_kind), Some((link, filename))) => Content::Media(Media {
                kind: media_kind,
                source: MediaSource::Link(link),
                caption: text.map(str::to_owned),
                filename,
            }),
            _ => Content::Text(text.unwrap_or_default().to_owned()),
        });
    };
    let value = &payload[key];
    let field = |name: &str| format!("payload.{key}.{name}");
    if key == "contacts" {
        return match value.as_array() {
            Some(list) if !list.is_empty() => Ok(Content::Contacts(list.clone())),
            _ => Err(Problem::new(format!("payload.{key}"), "must be a non-empty list of contacts")),
        };
    }
    if key == "cards" {
        return cards(value).map(Content::Cards);
    }
    let Some(object) = value.as_object() else {
        return Err(Problem::new(format!("payload.{key}"), "must be an object"));
    };
    if let Some(media_kind) = MediaKind::of(kind_of_key) {
        return media_of(media_kind, object, text, &field).map(Content::Media);
    }
    match key {
        "location" => {
            for name in ["latitude", "longitude"] {
                if object.get(name).and_then(decimal).is_none() {
                    return Err(Problem::new(field(name), "must be a number"));
                }
            }
            Ok(Content::Location(Location {
                latitude: object["latitude"].clone(),
                longitude: object["longitude"].clone(),
                name: string(object, "name"),
                address: string(object, "address"),
            }))
        }
        "interactive" => interactive(object),
        "choices" => choices(object, text),
        "template" => {
            let name = string(object, "name").ok_or_else(|| Problem::new(field("name"), "is required"))?;
            let language = match object.get("language") {
                Some(Value::String(code)) => Some(code.clone()),
                Some(language) => language.get("code").and_then(Value::as_str).map(str::to_owned),
                None => None,
            }
            .ok_or_else(|| Problem::new(field("language"), "is required"))?;
            let components = object.get("components").and_then(Value::as_array).cloned().unwrap_or_default();
            Ok(Content::Template(Template { name, language, components }))
        }
        "reaction" => {
            let message_id = string(object, "message_id")
                .ok_or_else(|| Problem::new(field("message_id"), "must be the id of a message in this conversation"))?;
            let emoji = object
                .get("emoji")
                .and_then(Value::as_str)
                .ok_or_else(|| Problem::new(field("emoji"), "must be an emoji, or empty to remove the reaction"))?;
            Ok(Content::Reaction { message_id, emoji: emoji.to_owned() })
        }
        _ if object.is_empty() => Err(Problem::new(format!("payload.{key}"), "must not be empty")),
        _ => Ok(Content::Native(object.clone())),
    }
}

fn media_of(
    kind: MediaKind,
    object: &Map<String, Value>,
    text: Option<&str>,
    field: &dyn Fn(&str) -> String,
) -> Result<Media, Problem> {
    let source = match (string(object, "id"), string(object, "link")) {
        (Some(id), _) => MediaSource::ProviderId(id),
        (None, Some(link)) => MediaSource::Link(link),
        (None, None) => return Err(Problem::new(field("id"), "an uploaded media id or a link is required")),
    };
    Ok(Media {
        kind,
        source,
        caption: string(object, "caption").or_else(|| text.map(str::to_owned)),
        filename: string(object, "filename"),
    })
}

/// Meta's interactive object: reply buttons and list menus become choices; other kinds (URL
/// buttons, products, flows…) are WhatsApp's own and stay native.
fn interactive(object: &Map<String, Value>) -> Result<Content, Problem> {
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| Problem::new("payload.interactive.type", "is required (button, list, cta_url, …)"))?;
    if object.get("action").is_none_or(Value::is_null) {
        return Err(Problem::new("payload.interactive.action", "is required"));
    }
    let native = || Content::Native(Map::from_iter([("interactive".to_owned(), Value::Object(object.clone()))]));
    let action = &object["action"];
    let header = match object.get("header") {
        None => None,
        Some(header) => match header.get("type").and_then(Value::as_str) {
            Some("text") => header.get("text").and_then(Value::as_str).map(|text| Header::Text(text.to_owned())),
            Some(name) => {
                let media_kind = MessageType::parse(name).and_then(MediaKind::of);
                match (media_kind, header.get(name).and_then(Value::as_object)) {
                    (Some(kind), Some(media_object)) => {
                        Some(Header::Media(media_of(kind, media_object, None, &|n| {
                            format!("payload.interactive.header.{n}")
                        })?))
                    }
                    _ => return Ok(native()),
                }
            }
            None => return Ok(native()),
        },
    };
    let nested = |key: &str| object.get(key).and_then(|part| part.get("text")).and_then(Value::as_str);
    let text = nested("body").unwrap_or_default().to_owned();
    let footer = nested("footer").map(str::to_owned);
    let sections = match kind {
        "button" => {
            let mut choices = Vec::new();
            for button in action["buttons"].as_array().into_iter().flatten() {
                let (Some(id), Some(title)) = (button["reply"]["id"].as_str(), button["reply"]["title"].as_str())
                else {
                    return Ok(native());
                };
                choices.push(Choice { id: id.to_owned(), title: title.to_owned(), description: None, action: None });
            }
            vec![Section { title: None, choices }]
        }
        "list" => {
            let mut sections = Vec::new();
            for section in action["sections"].as_array().into_iter().flatten() {
                let mut choices = Vec::new();
                for row in section["rows"].as_array().into_iter().flatten() {
                    let (Some(id), Some(title)) = (row["id"].as_str(), row["title"].as_str()) else {
                        return Ok(native());
                    };
                    let description = row["description"].as_str().map(str::to_owned);
                    choices.push(Choice { id: id.to_owned(), title: title.to_owned(), description, action: None });
                }
                sections.push(Section { title: section["title"].as_str().map(str::to_owned), choices });
            }
            sections
        }
        _ => return Ok(native()),
    };
    let list_button = (kind == "list").then(|| action["button"].as_str().unwrap_or_default().to_owned());
    Ok(Content::Choices(Choices { text, header, footer, list_button, sections }))
}

/// Parley's own choices shape: `{"text"?, "options": [{"id"?, "title", "description"?, action?}],
/// "list_button"?, "footer"?}`, where an option's action is one of the keys [`action`] reads
/// (`url`, `dial`, `view_location`, `share_location`, `calendar`); the message text is used when
/// `text` is absent.
fn choices(object: &Map<String, Value>, text: Option<&str>) -> Result<Content, Problem> {
    let options = object
        .get("options")
        .and_then(Value::as_array)
        .filter(|options| !options.is_empty())
        .ok_or_else(|| Problem::new("payload.choices.options", "must be a non-empty list of {id, title}"))?;
    let mut choices = Vec::new();
    for (index, option) in options.iter().enumerate() {
        let title = option
            .get("title")
            .and_then(Value::as_str)
            .filter(|title| !title.trim().is_empty())
            .ok_or_else(|| Problem::new(format!("payload.choices.options[{index}].title"), "is required"))?;
        let id = option.get("id").and_then(Value::as_str).unwrap_or(title);
        let description = option.get("description").and_then(Value::as_str).map(str::to_owned);
        let object = option.as_object().cloned().unwrap_or_default();
        let action = action(&object, &format!("payload.choices.options[{index}]"))?;
        choices.push(Choice { id: id.to_owned(), title: title.to_owned(), description, action });
    }
    let text = string(object, "text")
        .or_else(|| text.map(str::to_owned))
        .ok_or_else(|| Problem::new("payload.choices.text", "a message with choices needs text"))?;
    Ok(Content::Choices(Choices {
        text,
        header: None,
        footer: string(object, "footer"),
        list_button: string(object, "list_button"),
        sections: vec![Section { title: None, choices }],
    }))
}

/// Parley's cards shape: `[card…]`, or `{"items": [card…], "orientation"?, "image_alignment"?,
/// "width"?}` with the layout, where a card is `{"title", "subtitle"?, "image_url"?,
/// "media_height"?, "buttons"?: [{"title", "payload" | action}]}` (see [`action`]); one to ten
/// cards, at most four buttons each.
fn cards(value: &Value) -> Result<Cards, Problem> {
    let (list, layout) = match value {
        Value::Object(object) => (object.get("items"), Some(object)),
        list => (Some(list), None),
    };
    let list = list
        .and_then(Value::as_array)
        .filter(|list| (1..=10).contains(&list.len()))
        .ok_or_else(|| Problem::new("payload.cards", "must be a list of 1 to 10 cards (or {\"items\": [...]})"))?;
    let mut items = Vec::new();
    for (index, card) in list.iter().enumerate() {
        let field = |name: &str| format!("payload.cards[{index}].{name}");
        let object = card.as_object().ok_or_else(|| Problem::new(field("title"), "a card is an object"))?;
        let title = string(object, "title").ok_or_else(|| Problem::new(field("title"), "is required"))?;
        let mut buttons = Vec::new();
        for (number, button) in object.get("buttons").and_then(Value::as_array).into_iter().flatten().enumerate() {
            let at = format!("payload.cards[{index}].buttons[{number}]");
            let button =
                button.as_object().ok_or_else(|| Problem::new(format!("{at}.title"), "a button is an object"))?;
            let title = string(button, "title").ok_or_else(|| Problem::new(format!("{at}.title"), "is required"))?;
            let action = match (action(button, &at)?, string(button, "payload")) {
                (Some(action), _) => action,
                (None, Some(payload)) => ButtonAction::Postback(payload),
                (None, None) => {
                    return Err(Problem::new(format!("{at}.payload"), "a button needs a payload, a url or an action"))
                }
            };
            buttons.push(Button { title, action });
        }
        if buttons.len() > 4 {
            return Err(Problem::new(field("buttons"), "at most 4 buttons per card"));
        }
        items.push(Card {
            title,
            subtitle: string(object, "subtitle"),
            image_url: string(object, "image_url"),
            media_height: choice(object, "media_height", &["SHORT", "MEDIUM", "TALL"], &field("media_height"))?,
            buttons,
        });
    }
    let layout = layout.cloned().unwrap_or_default();
    Ok(Cards {
        items,
        orientation: choice(&layout, "orientation", &["VERTICAL", "HORIZONTAL"], "payload.cards.orientation")?,
        image_alignment: choice(&layout, "image_alignment", &["LEFT", "RIGHT"], "payload.cards.image_alignment")?,
        width: choice(&layout, "width", &["SMALL", "MEDIUM"], "payload.cards.width")?,
    })
}

/// One of `options` (given in any case), upper-cased.
fn choice(object: &Map<String, Value>, name: &str, options: &[&str], field: &str) -> Result<Option<String>, Problem> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_str()
            .map(str::to_ascii_uppercase)
            .filter(|value| options.contains(&value.as_str()))
            .map(Some)
            .ok_or_else(|| Problem::new(field, format!("must be one of {}", options.join(", ")))),
    }
}

/// The action a button or choice object names: `url`, `dial` (a phone number),
/// `view_location` (`{latitude, longitude, label?}`), `share_location` (true) or `calendar`
/// (`{title, description?, start_time, end_time}`); `None` when it names none. `at` is the
/// object's field.
fn action(object: &Map<String, Value>, at: &str) -> Result<Option<ButtonAction>, Problem> {
    if let Some(url) = string(object, "url") {
        return Ok(Some(ButtonAction::Url(url)));
    }
    if let Some(number) = object.get("dial") {
        let number = number
            .as_str()
            .filter(|number| crate::domain::AddressKind::Phone.normalize(number).is_ok())
            .ok_or_else(|| Problem::new(format!("{at}.dial"), "must be a phone number in E.164 (+393331234567)"))?;
        return Ok(Some(ButtonAction::Dial(number.to_owned())));
    }
    if let Some(place) = object.get("view_location") {
        let coordinate = |name: &str| {
            place
                .get(name)
                .and_then(decimal)
                .ok_or_else(|| Problem::new(format!("{at}.view_location.{name}"), "must be a number"))
        };
        let label = place.get("label").and_then(Value::as_str).map(str::to_owned);
        return Ok(Some(ButtonAction::ViewLocation {
            latitude: coordinate("latitude")?,
            longitude: coordinate("longitude")?,
            label,
        }));
    }
    if object.get("share_location").is_some_and(|share| *share == Value::Bool(true)) {
        return Ok(Some(ButtonAction::ShareLocation));
    }
    if let Some(event) = object.get("calendar") {
        let event = event.as_object().cloned().unwrap_or_default();
        let required = |name: &str| {
            string(&event, name).ok_or_else(|| Problem::new(format!("{at}.calendar.{name}"), "is required"))
        };
        let time = |name: &str| {
            let value = required(name)?;
            chrono::DateTime::parse_from_rfc3339(&value)
                .map(|_| value)
                .map_err(|_| Problem::new(format!("{at}.calendar.{name}"), "must be an RFC 3339 time"))
        };
        return Ok(Some(ButtonAction::Calendar {
            title: required("title")?,
            description: string(&event, "description"),
            start: time("start_time")?,
            end: time("end_time")?,
        }));
    }
    Ok(None)
}

/// The distinct numbered placeholders (`{{1}}`, `{{2}}`…) in a template text.
pub fn placeholder_count(text: &str) -> usize {
    let mut seen = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        rest = &rest[start + 2..];
        if let Some(end) = rest.find("}}") {
            let inner = rest[..end].trim();
            if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
                seen.insert(inner.to_owned());
            }
        }
    }
    seen.len()
}

fn string(object: &Map<String, Value>, name: &str) -> Option<String> {
    object.get(name).and_then(Value::as_str).map(str::to_owned)
}

/// A number, or a decimal number in a string.
fn decimal(value: &Value) -> Option<f64> {
    value.as_f64().or_else(|| value.as_str().and_then(|text| text.trim().parse().ok()))
}

/// The media type of a photo or video from its first bytes (JPEG, PNG, GIF, WebP, HEIC, MP4,
/// QuickTime, WebM), or `None` for anything else.
pub fn sniff_type(bytes: &[u8]) -> Option<&'static str> {
    let at = |offset: usize, magic: &[u8]| bytes.get(offset..offset + magic.len()) == Some(magic);
    if at(0, &[0xFF, 0xD8, 0xFF]) {
        return Some("image/jpeg");
    }
    if at(0, b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    if at(0, b"GIF87a") || at(0, b"GIF89a") {
        return Some("image/gif");
    }
    if at(0, b"RIFF") && at(8, b"WEBP") {
        return Some("image/webp");
    }
    if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        return Some("video/webm");
    }
    if at(4, b"ftyp") {
        return match bytes.get(8..12) {
            Some(b"heic" | b"heix" | b"mif1") => Some("image/heic"),
            Some(b"qt  ") => Some("video/quicktime"),
            Some(_) => Some("video/mp4"),
            None => None,
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn placeholders_are_counted_once_each() {
        assert_eq!(placeholder_count("Hi {{1}}, order {{2}} ships {{ 3 }}; {{1}} again {{x}}"), 3);
        assert_eq!(placeholder_count("no parameters {{"), 0);
    }

    #[test]
    fn reply_buttons_become_choices() {
        let given = payload(json!({"interactive": {"type": "button", "body": {"text": "Confirm?"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "y", "title": "Yes"}}]}}}));
        let content = parse(MessageType::Interactive, None, &given, None);
        let Ok(Content::Choices(choices)) = content else { panic!("choices: {content:?}") };
        assert_eq!((choices.text.as_str(), choices.list_button.as_deref()), ("Confirm?", None));
        assert_eq!(choices.all().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["y"]);
    }

    #[test]
    fn unknown_interactive_kinds_stay_native() {
        let given = payload(json!({"interactive": {"type": "cta_url", "action": {"name": "cta_url"}}}));
        assert!(matches!(parse(MessageType::Interactive, None, &given, None), Ok(Content::Native(_))));
    }

    #[test]
    fn problems_name_their_field() {
        for (given, field) in [
            (json!({"location": {"latitude": "north"}}), "payload.location.latitude"),
            (json!({"interactive": {"action": {}}}), "payload.interactive.type"),
            (json!({"template": {"language": "en_US"}}), "payload.template.name"),
            (json!({"image": {"caption": "x"}}), "payload.image.id"),
            (json!({"cards": [{"title": "A", "buttons": [{"title": "B"}]}]}), "payload.cards[0].buttons[0].payload"),
            (json!({"choices": {"options": []}}), "payload.choices.options"),
            (json!({"poll": {}}), "payload.poll"),
        ] {
            let problem = normalize_payload(&mut payload(given.clone()), Some("text")).expect_err("refused");
            assert_eq!(problem.field, field, "{given}");
        }
    }

    #[test]
    fn plain_messages_are_text_or_their_file() {
        let empty = Map::new();
        assert_eq!(parse(MessageType::Text, Some("hi"), &empty, None), Ok(Content::Text("hi".into())));
        let file =
            parse(MessageType::Document, Some("Invoice"), &empty, Some(("https://x/f".into(), Some("f.pdf".into()))));
        let Ok(Content::Media(media)) = file else { panic!("media: {file:?}") };
        assert_eq!(
            (media.kind, media.caption.as_deref(), media.filename.as_deref()),
            (MediaKind::Document, Some("Invoice"), Some("f.pdf"))
        );
    }
}
