//! Phone numbers, normalised to E.164 (`+8613812345678`).
//!
//! # Canonical forms
//!
//! Every accepted number becomes `+` followed by digits only:
//!
//! | class | input examples | canonical |
//! |---|---|---|
//! | [`PhoneClass::Mobile`] | `138 1234 5678`, `+86-138-1234-5678`, `013812345678` | `+8613812345678` |
//! | [`PhoneClass::Landline`] | `0571-8888 1234`, `(010)12345678`, `+86 10 12345678` | `+8657188881234`, `+861012345678` |
//! | [`PhoneClass::Service`] | `95588`, `4001234567`, `400-123-4567`, `10690000` | `+8695588`, `+864001234567` |
//! | [`PhoneClass::Short`] | `110`, `12345`, `96110` | `+86110`, `+8612345`, `+8696110` |
//! | [`PhoneClass::International`] | `+886 2 2182 1318`, `001 212 555 0100` | `+886221821318`, `+12125550100` |
//!
//! Chinese numbers are written as `+86` followed by the national significant
//! number (the digits after the trunk `0`). **Short codes and service numbers
//! keep the same `+86` form** (`110` becomes `+86110`): they are only ever
//! dialled inside China, they show up in caller IDs as the bare digits, and
//! one namespace means a call from `95588` and an intel entry `+86 95588`
//! match. `+86110` is not a number that exists outside this system; use
//! [`classify`] to tell the classes apart.
//!
//! # Rules for Chinese numbers
//!
//! * Mobile: 11 digits `1[3-9]xxxxxxxxx`. A leading trunk `0` (`013812345678`,
//!   as call records show a roaming mobile) is dropped.
//! * Landline: trunk `0`, area code, local part of 7–8 digits not starting
//!   with `0`. Area codes `010` and `02x` have two digits after the `0`; all
//!   others (`03xx`–`09xx`) have three. After `+86` / `0086` / `86` the trunk
//!   `0` is optional (`+86 (0)571 …` is accepted too). A bare landline without
//!   its `0` is ambiguous and rejected, so is a local number without an area
//!   code.
//! * Service: `95xxx` and `96xxx` (5–8 digits), `400`/`800` + 7 digits,
//!   `106…` SMS ports (8–20 digits; longer than E.164 allows, kept because
//!   SMS senders use them).
//!   A 9–10 digit `106…` after `+86` or `0` is a Beijing landline (`010-6…`);
//!   [`classify`] labels every 9–10 digit `+86106…` as a landline.
//! * Short: `1xx` (3 digits), `1xxxx` (5 digits) and `96110` (the national
//!   anti-fraud hotline, which by its digits would be a 96 service number).
//! * Prefixes `+86`, `0086`, `+0086` and `86` are removed. A bare `86` is
//!   only taken as the country code when at least 11 digits follow it, so a
//!   number like `86110` is never mangled; an 11-digit mobile never starts
//!   with `86`.
//! * IP long-distance dial prefixes in call records (`17951`, `17911`,
//!   `12593`, `17909`, `10193`) in front of a mobile or a trunk-`0` landline
//!   are removed.
//!
//! # International numbers
//!
//! `+` or `00` (also the messy `+00`), a country code from the ITU list, and
//! 8–15 digits in total. North American numbers (`+1`) must have ten digits
//! with area code and exchange starting 2–9. A `(0)` right after the country
//! code (`+44 (0)20 …`) is dropped.
//!
//! # Accepted noise
//!
//! Surrounding whitespace, a `tel:` prefix, separators (spaces, `-`, `.`,
//! `/`, brackets, their full-width forms and Unicode dashes), full-width
//! digits and `＋`, and an extension after `转`, `分机`, `ext`, `x` or `#`
//! (the extension is dropped: caller IDs never carry it).

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("the phone number is empty")]
    Empty,
    #[error(
        "the phone number contains characters other than digits, spaces, dashes, brackets and a leading +"
    )]
    BadChars,
    #[error("the phone number has the wrong number of digits")]
    BadLength,
    #[error("a + may only stand at the start of a phone number")]
    MisplacedPlus,
    #[error("the phone number has too many digits")]
    TooManyDigits,
    #[error("the international number does not start with a known country code")]
    UnknownCountryCode,
    #[error("the digits after the country code are not a valid number for that country")]
    BadNationalNumber,
    #[error("not a valid Chinese mobile, landline, service or short number")]
    NotChinese,
    #[error("a local number needs its area code (for example 0571-)")]
    MissingAreaCode,
    #[error("a landline needs a leading 0 before its area code, or +86")]
    MissingTrunkZero,
}

/// What kind of number a canonical phone number is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneClass {
    /// Chinese mobile, `+861[3-9]…` (11 national digits).
    Mobile,
    /// Chinese fixed line with area code.
    Landline,
    /// Chinese service number: 95xxx, 96xxx, 400, 800, 106 SMS ports.
    Service,
    /// Chinese short code: 110, 12345, 10086, 96110.
    Short,
    /// Any number outside mainland China (including Hong Kong, Macao, Taiwan).
    International,
}

impl PhoneClass {
    pub const fn code(self) -> &'static str {
        match self {
            PhoneClass::Mobile => "mobile",
            PhoneClass::Landline => "landline",
            PhoneClass::Service => "service",
            PhoneClass::Short => "short",
            PhoneClass::International => "international",
        }
    }
}

/// Most digits a raw number may carry (106 SMS ports with prefixes are the longest).
const MAX_DIGITS: usize = 24;
/// `+86` + 20 digits, or `+` + 15 digits.
const MAX_OUT: usize = 23;

/// Normalises a phone number to its canonical E.164 form (see the module docs).
pub fn normalize(input: &str) -> Result<String, PhoneError> {
    normalize_cow(input).map(Cow::into_owned)
}

/// Like [`normalize`], but borrows the input when it already is canonical
/// (after trimming), so the common case allocates nothing.
pub fn normalize_cow(input: &str) -> Result<Cow<'_, str>, PhoneError> {
    let t = input.trim();
    // Fast paths: an already canonical number, and a bare mobile.
    let b = t.as_bytes();
    if b.first() == Some(&b'+') && classify(t).is_some() {
        return Ok(Cow::Borrowed(t));
    }
    if b.len() == 11 && national_class(b) == Some(PhoneClass::Mobile) {
        let mut s = String::with_capacity(14);
        s.push_str("+86");
        s.push_str(t);
        return Ok(Cow::Owned(s));
    }
    let mut out = Out::new();
    normalize_into(t, &mut out)?;
    let s = out.as_str();
    if s == t {
        Ok(Cow::Borrowed(t))
    } else {
        Ok(Cow::Owned(s.to_owned()))
    }
}

/// True when `s` is exactly a canonical number as [`normalize`] returns it.
pub fn is_canonical(s: &str) -> bool {
    classify(s).is_some()
}

/// The class of a canonical number, or `None` when `e164` is not a canonical
/// number as [`normalize`] produces it.
pub fn classify(e164: &str) -> Option<PhoneClass> {
    let digits = e164.strip_prefix('+')?.as_bytes();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if let Some(nsn) = digits.strip_prefix(b"86") {
        return national_class(nsn);
    }
    match international_ok(digits) {
        Ok(()) => Some(PhoneClass::International),
        Err(_) => None,
    }
}

/// True for a canonical number outside mainland China.
pub fn is_international(e164: &str) -> bool {
    classify(e164) == Some(PhoneClass::International)
}

/// Fixed-size output buffer: canonical numbers are short.
struct Out {
    buf: [u8; MAX_OUT],
    len: usize,
}

impl Out {
    fn new() -> Self {
        Out {
            buf: [0; MAX_OUT],
            len: 0,
        }
    }
    fn set(&mut self, prefix: &[u8], digits: &[u8]) -> Result<(), PhoneError> {
        let n = prefix.len() + digits.len();
        let dst = self.buf.get_mut(..n).ok_or(PhoneError::TooManyDigits)?;
        let (a, b) = dst.split_at_mut(prefix.len());
        a.copy_from_slice(prefix);
        b.copy_from_slice(digits);
        self.len = n;
        Ok(())
    }
    fn as_str(&self) -> &str {
        // Only ASCII `+` and digits are ever written.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

/// The digits of a raw number, and whether it started with `+`.
struct Scanned {
    buf: [u8; MAX_DIGITS],
    len: usize,
    plus: bool,
}

impl Scanned {
    fn digits(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    fn push(&mut self, d: u8) -> Result<(), PhoneError> {
        let slot = self.buf.get_mut(self.len).ok_or(PhoneError::TooManyDigits)?;
        *slot = d;
        self.len += 1;
        Ok(())
    }
}

pub(crate) fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '-' | '.' | '/' | '(' | ')' | '[' | ']' | '\u{00A0}' | '\u{2010}'
            ..='\u{2015}' | '\u{2212}' | '\u{3000}' | '（' | '）' | '－' | '．' | '／' | '·'
    )
}

pub(crate) fn digit_value(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8),
        '０'..='９' => Some(b'0' + (c as u32 - '０' as u32) as u8),
        _ => None,
    }
}

/// Length of an extension marker at the start of `s`, if there is one.
fn extension_marker(s: &str) -> Option<usize> {
    for m in [
        "转", "分机", "ext.", "ext", "EXT.", "EXT", "Ext.", "Ext", "x", "X", "#", "＃",
    ] {
        if s.starts_with(m) {
            return Some(m.len());
        }
    }
    None
}

fn strip_tel(t: &str) -> &str {
    match t.get(..4) {
        Some(p) if p.eq_ignore_ascii_case("tel:") => t[4..].trim_start(),
        _ => t,
    }
}

fn scan(t: &str) -> Result<Scanned, PhoneError> {
    let t = strip_tel(t);
    let mut sc = Scanned {
        buf: [0; MAX_DIGITS],
        len: 0,
        plus: false,
    };
    let mut rest = t;
    while let Some(c) = rest.chars().next() {
        if let Some(d) = digit_value(c) {
            sc.push(d)?;
        } else if c == '+' || c == '＋' {
            if sc.len > 0 || sc.plus {
                return Err(PhoneError::MisplacedPlus);
            }
            sc.plus = true;
        } else if c == '(' && sc.plus && (1..=3).contains(&sc.len) && rest.starts_with("(0)") {
            // `+44 (0)20 …`: the bracketed trunk zero is not dialled from abroad.
            rest = &rest[3..];
            continue;
        } else if is_separator(c) {
            // skip
        } else if let Some(m) = extension_marker(rest) {
            if sc.len == 0 {
                return Err(PhoneError::BadChars);
            }
            // The extension must be 1–6 digits; it is dropped.
            let ext = &rest[m..];
            let mut n = 0usize;
            for e in ext.chars() {
                if digit_value(e).is_some() {
                    n += 1;
                } else if !is_separator(e) {
                    return Err(PhoneError::BadChars);
                }
            }
            if !(1..=6).contains(&n) {
                return Err(PhoneError::BadChars);
            }
            break;
        } else {
            return Err(PhoneError::BadChars);
        }
        rest = &rest[c.len_utf8()..];
    }
    if sc.len == 0 {
        return Err(PhoneError::Empty);
    }
    Ok(sc)
}

fn normalize_into(t: &str, out: &mut Out) -> Result<(), PhoneError> {
    if t.is_empty() {
        return Err(PhoneError::Empty);
    }
    let sc = scan(t)?;
    let d = sc.digits();
    if sc.plus {
        // `+00…` and `+0086…` are the international prefix written twice.
        let d = d.strip_prefix(b"00").unwrap_or(d);
        if let Some(nsn) = d.strip_prefix(b"86") {
            return china_after_cc(nsn, out);
        }
        if d.first() == Some(&b'0') {
            return Err(PhoneError::UnknownCountryCode);
        }
        return international(d, out);
    }
    if let Some(intl) = d.strip_prefix(b"00") {
        if let Some(nsn) = intl.strip_prefix(b"86") {
            return china_after_cc(nsn, out);
        }
        return international(intl, out);
    }
    if let Some(nsn) = d.strip_prefix(b"0") {
        return china_trunk(nsn, out);
    }
    if let Some(rest) = strip_ip_dial_prefix(d)
        && rest.len() >= 11
    {
        if let Some(nsn) = rest.strip_prefix(b"0") {
            if china_trunk(nsn, out).is_ok() {
                return Ok(());
            }
        } else if national_class(rest) == Some(PhoneClass::Mobile) {
            return out.set(b"+86", rest);
        }
    }
    if d.len() >= 11
        && let Some(nsn) = d.strip_prefix(b"86")
        && china_after_cc(nsn, out).is_ok()
    {
        return Ok(());
    }
    // A bare national number: mobile, service or short code. A 10-digit
    // `106…` is an SMS port here (a Beijing landline would carry its `0`).
    match national_class(d) {
        Some(PhoneClass::Mobile | PhoneClass::Service | PhoneClass::Short) => out.set(b"+86", d),
        Some(PhoneClass::Landline) if d.starts_with(b"106") => out.set(b"+86", d),
        Some(PhoneClass::Landline) => Err(PhoneError::MissingTrunkZero),
        _ if (7..=8).contains(&d.len()) && matches!(d.first(), Some(b'2'..=b'9')) => {
            Err(PhoneError::MissingAreaCode)
        }
        _ => Err(PhoneError::NotChinese),
    }
}

const IP_DIAL_PREFIXES: [&[u8]; 5] = [b"17951", b"17911", b"12593", b"17909", b"10193"];

fn strip_ip_dial_prefix(d: &[u8]) -> Option<&[u8]> {
    IP_DIAL_PREFIXES.iter().find_map(|p| d.strip_prefix(*p))
}

/// After `+86`: a national significant number, optionally with its trunk `0`.
fn china_after_cc(nsn: &[u8], out: &mut Out) -> Result<(), PhoneError> {
    let nsn = match nsn.strip_prefix(b"0") {
        Some(rest) if !rest.starts_with(b"0") => rest,
        Some(_) => return Err(PhoneError::NotChinese),
        None => nsn,
    };
    if national_class(nsn).is_some() {
        out.set(b"+86", nsn)
    } else {
        Err(PhoneError::NotChinese)
    }
}

/// After a trunk `0`: a landline (or a mobile dialled with `0`).
fn china_trunk(nsn: &[u8], out: &mut Out) -> Result<(), PhoneError> {
    match national_class(nsn) {
        Some(PhoneClass::Landline | PhoneClass::Mobile) => out.set(b"+86", nsn),
        Some(_) => Err(PhoneError::NotChinese),
        None if nsn.len() < 9 => Err(PhoneError::BadLength),
        None => Err(PhoneError::NotChinese),
    }
}

/// Classifies a Chinese national significant number (no trunk `0`).
fn national_class(n: &[u8]) -> Option<PhoneClass> {
    let len = n.len();
    let (&a, &b) = (n.first()?, n.get(1)?);
    if !n.iter().all(u8::is_ascii_digit) {
        return None;
    }
    match a {
        b'1' => {
            if len == 11 && (b'3'..=b'9').contains(&b) {
                return Some(PhoneClass::Mobile);
            }
            if len == 3 || len == 5 {
                return Some(PhoneClass::Short);
            }
            // Beijing (`10` + 7–8 digits) wins over a 9–10 digit 106 SMS
            // port: both have the same canonical form, only the label differs.
            if b == b'0' && landline_local(n.get(2..).unwrap_or_default()) {
                return Some(PhoneClass::Landline);
            }
            if n.starts_with(b"106") && (8..=20).contains(&len) {
                return Some(PhoneClass::Service);
            }
            None
        }
        b'2' => landline_local(n.get(2..).unwrap_or_default()).then_some(PhoneClass::Landline),
        b'9' if (b == b'5' || b == b'6') && len <= 8 => {
            if n == b"96110" {
                Some(PhoneClass::Short)
            } else if len >= 5 {
                Some(PhoneClass::Service)
            } else {
                None
            }
        }
        b'4' | b'8' if len == 10 && n.get(1..3) == Some(b"00") => Some(PhoneClass::Service),
        b'3'..=b'9' => landline_local(n.get(3..).unwrap_or_default()).then_some(PhoneClass::Landline),
        _ => None,
    }
}

fn landline_local(local: &[u8]) -> bool {
    (7..=8).contains(&local.len()) && local.first().is_some_and(|&c| c != b'0')
}

fn international(d: &[u8], out: &mut Out) -> Result<(), PhoneError> {
    international_ok(d)?;
    out.set(b"+", d)
}

fn international_ok(d: &[u8]) -> Result<(), PhoneError> {
    if d.len() > 15 {
        return Err(PhoneError::TooManyDigits);
    }
    let cc = country_code_len(d).ok_or(PhoneError::UnknownCountryCode)?;
    if d.len() < 8 {
        return Err(PhoneError::BadLength);
    }
    if cc == 2 && d.starts_with(b"86") {
        // Mainland numbers are never "international".
        return Err(PhoneError::UnknownCountryCode);
    }
    if cc == 1 && d[0] == b'1' {
        // North American Numbering Plan: NPA-NXX-XXXX, NPA and NXX start 2–9.
        let nsn = &d[1..];
        if nsn.len() != 10 || nsn[0] < b'2' || nsn[3] < b'2' {
            return Err(PhoneError::BadNationalNumber);
        }
    }
    Ok(())
}

/// Three-digit country codes in use (ITU-T E.164 assignments), as ranges.
const CC3: &[(u16, u16)] = &[
    (211, 213),
    (216, 216),
    (218, 218),
    (220, 258),
    (260, 269),
    (290, 291),
    (297, 299),
    (350, 359),
    (370, 383),
    (385, 387),
    (389, 389),
    (420, 421),
    (423, 423),
    (500, 509),
    (590, 599),
    (670, 670),
    (672, 683),
    (685, 692),
    (800, 800),
    (808, 808),
    (850, 850),
    (852, 853),
    (855, 856),
    (870, 870),
    (878, 878),
    (880, 883),
    (886, 886),
    (888, 888),
    (960, 968),
    (970, 979),
    (992, 996),
    (998, 998),
];

/// Two-digit country codes in use.
const CC2: &[u8] = &[
    20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56, 57, 58,
    60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98,
];

/// Length of the country code at the start of `d` (codes are prefix-free).
fn country_code_len(d: &[u8]) -> Option<usize> {
    let num = |k: usize| -> Option<u16> {
        let s = d.get(..k)?;
        Some(s.iter().fold(0u16, |acc, &c| acc * 10 + u16::from(c - b'0')))
    };
    let one = num(1)?;
    if one == 1 || one == 7 {
        return Some(1);
    }
    if one == 0 {
        return None;
    }
    let two = num(2)?;
    if CC2.binary_search(&(two as u8)).is_ok() {
        return Some(2);
    }
    let three = num(3)?;
    CC3.iter()
        .any(|&(lo, hi)| (lo..=hi).contains(&three))
        .then_some(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms_round_trip_and_classify() {
        for (raw, want, class) in [
            ("138 1234 5678", "+8613812345678", PhoneClass::Mobile),
            ("0571-8888 1234", "+8657188881234", PhoneClass::Landline),
            ("95588", "+8695588", PhoneClass::Service),
            ("110", "+86110", PhoneClass::Short),
            ("96110", "+8696110", PhoneClass::Short),
            ("+886 2 2182 1318", "+886221821318", PhoneClass::International),
        ] {
            let got = normalize(raw).unwrap();
            assert_eq!(got, want, "{raw}");
            assert_eq!(classify(&got), Some(class), "{raw}");
            assert!(matches!(normalize_cow(&got), Ok(Cow::Borrowed(_))));
        }
        assert!(is_international("+12125550100"));
        assert!(!is_international("+8613812345678"));
        assert_eq!(classify("13812345678"), None);
    }

    proptest::proptest! {
        /// The fast paths of `normalize_cow` give what the full scanner gives.
        #[test]
        fn fast_paths_agree_with_scanner(s in "\\+?(86|1|886|00)?[0-9]{0,14}") {
            let mut out = Out::new();
            let slow = normalize_into(s.trim(), &mut out).map(|()| out.as_str().to_owned());
            proptest::prop_assert_eq!(normalize_cow(&s).map(Cow::into_owned), slow);
        }
    }

    #[test]
    fn country_codes_are_prefix_free() {
        for &c in CC2 {
            let s = c.to_string();
            assert_eq!(country_code_len(format!("{s}0").as_bytes()), Some(2), "{s}");
        }
        for &(lo, hi) in CC3 {
            for c in lo..=hi {
                let s = c.to_string();
                assert!(!CC2.contains(&((c / 10) as u8)), "{c} overlaps a 2-digit code");
                assert_eq!(country_code_len(s.as_bytes()), Some(3), "{s}");
            }
        }
    }
}
