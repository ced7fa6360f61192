//! SMS length and segments (3GPP TS 23.038 / 23.040).
//!
//! A text that fits the GSM 03.38 default alphabet travels as GSM-7: 160
//! septets in one message, 153 per part when concatenated (the user-data
//! header takes the rest); characters of the extension table (`^ { } \ [ ~
//! ] | €` and form feed) take two septets and are never split across parts.
//! Anything else, Chinese included, travels as UCS-2: 70 UTF-16 units in
//! one message, 67 per part; a character outside the BMP takes two units
//! (a surrogate pair), never split.

use serde::{Deserialize, Serialize};

/// The encoding a text travels in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsEncoding {
    Gsm7,
    Ucs2,
}

impl SmsEncoding {
    /// Units in a message that is not split.
    pub const fn single(self) -> usize {
        match self {
            SmsEncoding::Gsm7 => 160,
            SmsEncoding::Ucs2 => 70,
        }
    }
    /// Units in each part of a concatenated message.
    pub const fn part(self) -> usize {
        match self {
            SmsEncoding::Gsm7 => 153,
            SmsEncoding::Ucs2 => 67,
        }
    }
    pub const fn code(self) -> &'static str {
        match self {
            SmsEncoding::Gsm7 => "gsm7",
            SmsEncoding::Ucs2 => "ucs2",
        }
    }
}

/// A text ready to send, with its size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsText {
    pub text: String,
    pub encoding: SmsEncoding,
    /// Length in the encoding's units: septets for GSM-7 (an extension
    /// character counts 2), UTF-16 units for UCS-2.
    pub chars: usize,
    /// Messages the operator bills: 0 for an empty text.
    pub segments: usize,
}

/// Characters of the GSM 03.38 default alphabet other than ASCII letters and
/// digits (one septet each).
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà";
/// Characters of the extension table (two septets each).
const GSM_EXT: &str = "\u{c}^{}\\[~]|€";

/// Septets `c` takes in GSM-7, or `None` when it needs UCS-2.
fn gsm_septets(c: char) -> Option<usize> {
    if c.is_ascii_alphanumeric() {
        return Some(1);
    }
    if GSM_BASIC.contains(c) {
        Some(1)
    } else if GSM_EXT.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Packs characters of the given unit widths into parts of `part` units
/// without splitting one, and counts the parts.
fn pack(widths: impl Iterator<Item = usize>, part: usize) -> usize {
    let mut parts = 1;
    let mut used = 0;
    for w in widths {
        if used + w > part {
            parts += 1;
            used = 0;
        }
        used += w;
    }
    parts
}

/// Measures `text`: its encoding, length in units and segments.
pub fn count_sms(text: &str) -> SmsText {
    let gsm: Option<usize> = text.chars().map(gsm_septets).sum();
    let (encoding, chars) = match gsm {
        Some(n) => (SmsEncoding::Gsm7, n),
        None => (SmsEncoding::Ucs2, text.encode_utf16().count()),
    };
    let segments = if chars == 0 {
        0
    } else if chars <= encoding.single() {
        1
    } else {
        match encoding {
            SmsEncoding::Gsm7 => pack(text.chars().filter_map(gsm_septets), encoding.part()),
            SmsEncoding::Ucs2 => pack(text.chars().map(char::len_utf16), encoding.part()),
        }
    };
    SmsText {
        text: text.to_string(),
        encoding,
        chars,
        segments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries() {
        assert_eq!(count_sms(&"a".repeat(160)).segments, 1);
        assert_eq!(count_sms(&"a".repeat(161)).segments, 2);
        assert_eq!(count_sms(&"中".repeat(70)).segments, 1);
        assert_eq!(count_sms(&"中".repeat(71)).segments, 2);
        assert_eq!(count_sms(&"中".repeat(134)).segments, 2);
        assert_eq!(count_sms(&"中".repeat(135)).segments, 3);
        assert_eq!(count_sms("").segments, 0);
        // One Chinese character turns the whole text into UCS-2.
        assert_eq!(count_sms("hello 中").encoding, SmsEncoding::Ucs2);
        assert_eq!(count_sms("a€").chars, 3);
    }
}
