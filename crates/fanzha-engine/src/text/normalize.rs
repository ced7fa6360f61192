//! Text normalisation shared by the lexicon and the model.
//!
//! One character in, at most one character out, so the model can hash
//! n-grams on the fly without a buffer:
//! - full-width ASCII (U+FF01..U+FF5E) becomes half-width, U+3000 a space;
//! - letters are lower-cased (ASCII and single-character mappings);
//! - every ASCII or full-width decimal digit becomes `'0'`;
//! - every whitespace character becomes `' '`, and a run of them one space;
//! - control characters and zero-width characters are dropped.

/// The character every digit maps to.
pub const DIGIT: char = '0';

/// Maps one character; `None` drops it. Whitespace maps to `' '`
/// (the run-collapsing is done by [`Normalizer`]).
#[inline]
pub fn map_char(c: char) -> Option<char> {
    // Fast path: CJK ideographs and CJK punctuation other than U+3000 map to
    // themselves (most of a Chinese text).
    if matches!(c as u32, 0x4E00..=0x9FFF | 0x3001..=0x303F) {
        return Some(c);
    }
    let c = match c as u32 {
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        0x3000 => ' ',
        _ => c,
    };
    if c.is_ascii() {
        return match c {
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            '0'..='9' => Some(DIGIT),
            ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c' => Some(' '),
            '\0'..='\x1f' | '\x7f' => None,
            _ => Some(c),
        };
    }
    match c {
        // Zero-width space/joiners, BOM, soft hyphen: invisible, used to dodge filters.
        '\u{200b}'..='\u{200f}' | '\u{2060}' | '\u{feff}' | '\u{00ad}' => None,
        _ if c.is_whitespace() => Some(' '),
        _ if c.is_control() => None,
        _ if c.is_uppercase() => {
            let mut l = c.to_lowercase();
            match (l.next(), l.next()) {
                (Some(one), None) => Some(one),
                _ => Some(c),
            }
        }
        _ => Some(c),
    }
}

/// Streams the normalised characters of a text; no allocation.
#[derive(Clone, Debug)]
pub struct Normalizer<'a> {
    chars: std::str::Chars<'a>,
    last_space: bool,
}

impl<'a> Normalizer<'a> {
    pub fn new(text: &'a str) -> Self {
        // Leading whitespace is dropped, as if a space had just been seen.
        Normalizer {
            chars: text.chars(),
            last_space: true,
        }
    }
}

impl Iterator for Normalizer<'_> {
    type Item = char;

    #[inline]
    fn next(&mut self) -> Option<char> {
        loop {
            let c = self.chars.next()?;
            let Some(m) = map_char(c) else { continue };
            if m == ' ' {
                if self.last_space {
                    continue;
                }
                self.last_space = true;
            } else {
                self.last_space = false;
            }
            return Some(m);
        }
    }
}

/// The normalised text as a `String` (a trailing space may remain).
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    out.extend(Normalizer::new(text));
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// Characters dropped by [`normalize_compact`]: spacing and the separators
/// senders put between characters to dodge keyword filters (安*全*账*户).
fn is_filler(c: char) -> bool {
    matches!(
        c,
        ' ' | '*' | '·' | '丶' | '_' | '|' | '~' | '^' | '#' | '`' | '\'' | '"' | '\u{30fb}'
    )
}

/// [`normalize`], then without spaces and filler separators. The lexicon
/// matches on this form, phrases and text alike.
pub fn normalize_compact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    out.extend(Normalizer::new(text).filter(|c| !is_filler(*c)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_width_case_digits_space() {
        assert_eq!(normalize("ＱＱ号：１２３ ABC\u{3000}\u{3000}x"), "qq号:000 abc x");
        assert_eq!(normalize("  安全\u{200b}账户\r\n\t转账 "), "安全账户 转账");
        assert_eq!(normalize(""), "");
        assert_eq!(normalize_compact("安*全 账·户 ＵＳＤＴ"), "安全账户usdt");
    }
}
