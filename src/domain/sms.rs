//! How an SMS text travels: in the GSM 7-bit alphabet (160 characters alone, 153 per part of a
//! longer message) when every character is in it, else in UCS-2 (70 alone, 67 per part). A
//! character of the alphabet's extension table (`€ [ ] { } \ ~ ^ |`) takes two of the 7-bit
//! places, and neither an extension pair nor a UTF-16 surrogate pair is split across parts.

use serde::Serialize;
use utoipa::ToSchema;

/// The GSM 03.38 default alphabet.
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// Its extension table: each character is sent as an escape and itself.
const GSM_EXTENDED: &str = "\u{c}^{}\\[~]|€";

/// The encoding of an SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Encoding {
    /// The GSM 7-bit default alphabet.
    Gsm7,
    /// UCS-2 (UTF-16): any other character makes the whole message UCS-2.
    Ucs2,
}

/// How a text is sent as SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Segments {
    pub encoding: Encoding,
    /// Parts the message is sent (and charged) as; 0 for an empty text.
    pub parts: u32,
    /// Units the text takes: 7-bit places in GSM-7, UTF-16 units in UCS-2.
    pub units: u32,
    /// Units left in the last part before another part starts.
    pub remaining: u32,
}

impl Segments {
    /// The encoding and parts of `text`.
    pub fn of(text: &str) -> Segments {
        let gsm: Option<Vec<u32>> = text
            .chars()
            .map(|c| {
                if GSM_BASIC.contains(c) {
                    Some(1)
                } else if GSM_EXTENDED.contains(c) {
                    Some(2)
                } else {
                    None
                }
            })
            .collect();
        match gsm {
            Some(widths) => pack(Encoding::Gsm7, &widths, 160, 153),
            None => {
                let widths: Vec<u32> = text.chars().map(|c| c.len_utf16() as u32).collect();
                pack(Encoding::Ucs2, &widths, 70, 67)
            }
        }
    }
}

/// Fills parts of `per_part` units with characters of these widths, never splitting one; a text
/// within `single` units goes as one part.
fn pack(encoding: Encoding, widths: &[u32], single: u32, per_part: u32) -> Segments {
    let units: u32 = widths.iter().sum();
    if units <= single {
        let parts = u32::from(units > 0);
        return Segments { encoding, parts, units, remaining: single - units };
    }
    let (mut parts, mut used) = (1, 0);
    for width in widths {
        if used + width > per_part {
            parts += 1;
            used = 0;
        }
        used += width;
    }
    Segments { encoding, parts, units, remaining: per_part - used }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm_texts_take_160_alone_and_153_per_part() {
        let table = [(0, 0, 160), (1, 1, 159), (160, 1, 0), (161, 2, 145), (306, 2, 0), (307, 3, 152)];
        for (length, parts, remaining) in table {
            let segments = Segments::of(&"a".repeat(length));
            assert_eq!((segments.encoding, segments.parts, segments.remaining), (Encoding::Gsm7, parts, remaining));
        }
        assert_eq!(Segments::of("Ciao, è già arrivato? 10 € @ 5£").encoding, Encoding::Gsm7);
    }

    #[test]
    fn extension_characters_take_two_places_and_stay_whole() {
        let segments = Segments::of(&"€".repeat(80));
        assert_eq!((segments.units, segments.parts), (160, 1));
        // 152 places, then a pair that would straddle the part boundary moves to the next part.
        let text = format!("{}€", "a".repeat(152));
        let segments = Segments::of(&format!("{text}{}", "a".repeat(10)));
        assert_eq!((segments.units, segments.parts, segments.remaining), (164, 2, 153 - 12));
    }

    #[test]
    fn any_other_character_makes_ucs2_with_70_and_67() {
        let table = [(70, 1, 0), (71, 2, 63), (134, 2, 0), (135, 3, 66)];
        for (length, parts, remaining) in table {
            let segments = Segments::of(&format!("ã{}", "a".repeat(length - 1)));
            assert_eq!((segments.encoding, segments.parts, segments.remaining), (Encoding::Ucs2, parts, remaining));
        }
        // An emoji is two UTF-16 units and is never split.
        let segments = Segments::of(&format!("{}😀", "a".repeat(66)));
        assert_eq!((segments.units, segments.parts, segments.remaining), (68, 1, 2));
        let segments = Segments::of(&format!("{}😀", "a".repeat(70)));
        assert_eq!((segments.units, segments.parts, segments.remaining), (72, 2, 67 - 5));
    }
}
