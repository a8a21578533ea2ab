//! Parley's content as RBM's `AgentContentMessage`: text with suggestions (replies and actions),
//! standalone rich cards and carousels, and files fetched by RBM from Parley's signed links.

use serde_json::{json, Map, Value};

use crate::channels::Failure;
use crate::domain::content::{Button, ButtonAction, Card, Cards, Content, MediaKind, MediaSource};

/// Most suggestions on one message.
const MAX_SUGGESTIONS: usize = 11;

/// Cards in a carousel: RBM takes 2 to 10.
const MAX_CAROUSEL: usize = 10;

/// The `contentMessage` of an RBM agent message.
pub fn content_message(content: &Content) -> Result<Value, Failure> {
    Ok(match content {
        Content::Text(text) => json!({ "text": text }),
        Content::Choices(choices) => {
            let suggestions: Vec<Value> =
                choices.all().map(|choice| suggestion(&choice.title, &choice.id, choice.action.as_ref())).collect();
            if suggestions.len() > MAX_SUGGESTIONS {
                return Err(unsupported(format!("at most {MAX_SUGGESTIONS} suggestions on a message")));
            }
            json!({ "text": choices.text, "suggestions": suggestions })
        }
        Content::Cards(cards) => json!({ "richCard": rich_card(cards)? }),
        Content::Media(media) => {
            let MediaSource::Link(url) = &media.source else {
                return Err(unsupported("RBM fetches files by link only".to_owned()));
            };
            match (&media.caption, media.kind) {
                (None, _) => json!({ "contentInfo": { "fileUrl": url, "forceRefresh": false } }),
                // A file message has no caption: a picture or video with one becomes a card.
                (Some(caption), MediaKind::Image | MediaKind::Video | MediaKind::Sticker) => {
                    json!({ "richCard": { "standaloneCard": { "cardOrientation": "VERTICAL", "cardContent": {
                        "description": caption,
                        "media": { "height": "MEDIUM", "contentInfo": { "fileUrl": url, "forceRefresh": false } },
                    } } } })
                }
                (Some(_), _) => return Err(unsupported("captions on documents and audio".to_owned())),
            }
        }
        Content::Location(location) => {
            let (Some(latitude), Some(longitude)) = (number(&location.latitude), number(&location.longitude)) else {
                return Err(unsupported("a location without numeric coordinates".to_owned()));
            };
            let label = location.name.clone().or_else(|| location.address.clone());
            let text = [location.name.as_deref(), location.address.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("\n");
            let text = if text.is_empty() { format!("{latitude}, {longitude}") } else { text };
            let action = ButtonAction::ViewLocation { latitude, longitude, label };
            json!({ "text": text, "suggestions": [suggestion("View on map", "location", Some(&action))] })
        }
        Content::Native(native) => Value::Object(native.clone()),
        Content::Contacts(_) => return Err(unsupported("contact cards".to_owned())),
        Content::Template(_) => return Err(unsupported("Meta message templates".to_owned())),
        Content::Reaction { .. } => return Err(unsupported("reactions".to_owned())),
    })
}

fn unsupported(what: String) -> Failure {
    Failure::Permanent { code: "content_unsupported".to_owned(), text: format!("RCS does not take {what}") }
}

fn number(value: &Value) -> Option<f64> {
    value.as_f64().or_else(|| value.as_str().and_then(|text| text.trim().parse().ok()))
}

/// A suggestion: a reply (the postback comes back as the customer's answer) or an action.
fn suggestion(text: &str, postback: &str, action: Option<&ButtonAction>) -> Value {
    let (name, object) = match action {
        None => return json!({ "reply": { "text": text, "postbackData": postback } }),
        Some(ButtonAction::Postback(payload)) => return json!({ "reply": { "text": text, "postbackData": payload } }),
        Some(ButtonAction::Url(url)) => ("openUrlAction", json!({ "url": url })),
        Some(ButtonAction::Dial(number)) => ("dialAction", json!({ "phoneNumber": number })),
        Some(ButtonAction::ViewLocation { latitude, longitude, label }) => {
            let mut object = json!({ "latLong": { "latitude": latitude, "longitude": longitude } });
            if let Some(label) = label {
                object["label"] = json!(label);
            }
            ("viewLocationAction", object)
        }
        Some(ButtonAction::ShareLocation) => ("shareLocationAction", json!({})),
        Some(ButtonAction::Calendar { title, description, start, end }) => {
            let mut object = json!({ "startTime": start, "endTime": end, "title": title });
            if let Some(description) = description {
                object["description"] = json!(description);
            }
            ("createCalendarEventAction", object)
        }
    };
    let mut action = Map::from_iter([("text".to_owned(), json!(text)), ("postbackData".to_owned(), json!(postback))]);
    action.insert(name.to_owned(), object);
    json!({ "action": action })
}

/// A button as a card suggestion; its postback is its title when it has none of its own.
fn button_suggestion(button: &Button) -> Value {
    suggestion(&button.title, &button.title, Some(&button.action))
}

/// One card's `cardContent`.
fn card_content(card: &Card) -> Value {
    let mut content = json!({ "title": card.title });
    if let Some(subtitle) = &card.subtitle {
        content["description"] = json!(subtitle);
    }
    if let Some(image) = &card.image_url {
        content["media"] = json!({
            "height": card.media_height.as_deref().unwrap_or("MEDIUM"),
            "contentInfo": { "fileUrl": image, "forceRefresh": false },
        });
    }
    if !card.buttons.is_empty() {
        content["suggestions"] = Value::Array(card.buttons.iter().map(button_suggestion).collect());
    }
    content
}

/// One card alone as a standalone card, several as a carousel.
fn rich_card(cards: &Cards) -> Result<Value, Failure> {
    match cards.items.as_slice() {
        [card] => {
            let orientation = cards.orientation.as_deref().unwrap_or("VERTICAL");
            let mut standalone = json!({ "cardOrientation": orientation, "cardContent": card_content(card) });
            if orientation == "HORIZONTAL" {
                standalone["thumbnailImageAlignment"] = json!(cards.image_alignment.as_deref().unwrap_or("LEFT"));
            }
            Ok(json!({ "standaloneCard": standalone }))
        }
        items if items.len() <= MAX_CAROUSEL => {
            let width = cards.width.as_deref().unwrap_or("MEDIUM");
            if width == "SMALL" && items.iter().any(|card| card.media_height.as_deref() == Some("TALL")) {
                return Err(unsupported("tall pictures in a carousel of small cards".to_owned()));
            }
            Ok(json!({ "carouselCard": {
                "cardWidth": width,
                "cardContents": items.iter().map(card_content).collect::<Vec<_>>(),
            } }))
        }
        _ => Err(unsupported(format!("carousels of more than {MAX_CAROUSEL} cards"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::content::{self as parley, Choice, Choices, Section};

    fn parsed(payload: Value) -> Content {
        parley::parse(
            crate::domain::MessageType::Interactive,
            Some("Hello, world!"),
            payload.as_object().unwrap(),
            None,
        )
        .unwrap()
    }

    #[test]
    fn one_card_is_standalone_and_several_a_carousel() {
        let card = parsed(json!({"cards": {"items": [{"title": "Hello, world!", "subtitle": "RBM is awesome!",
            "image_url": "https://x/dog.jpg", "media_height": "tall",
            "buttons": [{"title": "Suggestion #1", "payload": "suggestion_1"}]}],
            "orientation": "horizontal", "image_alignment": "right"}}));
        let message = content_message(&card).unwrap();
        let standalone = &message["richCard"]["standaloneCard"];
        assert_eq!(standalone["cardOrientation"], "HORIZONTAL");
        assert_eq!(standalone["thumbnailImageAlignment"], "RIGHT");
        assert_eq!(standalone["cardContent"]["media"]["height"], "TALL");
        assert_eq!(
            standalone["cardContent"]["suggestions"],
            json!([{"reply": {"text": "Suggestion #1", "postbackData": "suggestion_1"}}])
        );
        let two = parsed(json!({"cards": {"items": [{"title": "A"}, {"title": "B"}], "width": "small"}}));
        let carousel = &content_message(&two).unwrap()["richCard"]["carouselCard"];
        assert_eq!(
            (carousel["cardWidth"].as_str(), carousel["cardContents"].as_array().map(Vec::len)),
            (Some("SMALL"), Some(2))
        );
    }

    #[test]
    fn too_many_suggestions_are_refused() {
        let choice = |n: usize| Choice { id: n.to_string(), title: n.to_string(), description: None, action: None };
        let choices = Content::Choices(Choices {
            text: "Pick".into(),
            header: None,
            footer: None,
            list_button: None,
            sections: vec![Section { title: None, choices: (0..12).map(choice).collect() }],
        });
        assert!(
            matches!(content_message(&choices), Err(Failure::Permanent { code, .. }) if code == "content_unsupported")
        );
    }
}
