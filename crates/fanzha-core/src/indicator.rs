//! One entry point for every indicator kind: [`normalize`] a value of a known
//! kind, or [`detect`] the kind of a bare value.
//!
//! The canonical forms are documented in each kind's module:
//! [`crate::phone`], [`crate::domain`], [`crate::url`], [`crate::ip`],
//! [`crate::app`] and [`crate::account`] (bank, payment and social accounts).
//!
//! Errors never carry more than the first [`EXCERPT_CHARS`] characters of
//! the input, so they can be shown and logged without leaking a whole phone
//! or account number.

use crate::account::{self, AccountError, Platform};
use crate::app::{self, AppError};
use crate::domain::{self, DomainError};
use crate::ip::{self, IpError};
use crate::phone::{self, PhoneError};
use crate::taxonomy::IndicatorKind;
use crate::url::{self, UrlError};
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// Longest raw value accepted for any kind, in bytes.
pub const MAX_RAW_LEN: usize = 2048;
/// How many characters of the input an error may show.
pub const EXCERPT_CHARS: usize = 8;

/// The start of an input, for error messages: at most [`EXCERPT_CHARS`]
/// characters, control characters replaced, `…` when cut.
#[derive(Clone, PartialEq, Eq)]
pub struct Excerpt(String);

impl Excerpt {
    pub fn of(raw: &str) -> Self {
        let t = raw.trim();
        let mut s = String::with_capacity(EXCERPT_CHARS + 3);
        let mut chars = t.chars();
        for c in chars.by_ref().take(EXCERPT_CHARS) {
            s.push(if c.is_control() { '?' } else { c });
        }
        if chars.next().is_some() {
            s.push('…');
        }
        Excerpt(s)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0)
    }
}

impl fmt::Debug for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a value could not be normalised.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError {
    #[error("the value is empty")]
    Empty,
    #[error("the value is too long ({len} bytes; at most {max})")]
    TooLong { len: usize, max: usize },
    #[error("{input} is not a valid phone number: {source}")]
    Phone { input: Excerpt, source: PhoneError },
    #[error("{input} is not a valid domain: {source}")]
    Domain { input: Excerpt, source: DomainError },
    #[error("{input} is not a valid URL: {source}")]
    Url { input: Excerpt, source: UrlError },
    #[error("{input} is not a valid IP address or network: {source}")]
    Ip { input: Excerpt, source: IpError },
    #[error("{input} is not a valid app indicator: {source}")]
    App { input: Excerpt, source: AppError },
    #[error("{input} is not a valid bank account: {source}")]
    BankAccount { input: Excerpt, source: AccountError },
    #[error("{input} is not a valid payment account: {source}")]
    PaymentAccount { input: Excerpt, source: AccountError },
    #[error("{input} is not a valid social account: {source}")]
    SocialAccount { input: Excerpt, source: AccountError },
}

impl NormalizeError {
    /// The kind whose rules rejected the value (`None` for empty / too long).
    pub fn kind(&self) -> Option<IndicatorKind> {
        Some(match self {
            NormalizeError::Empty | NormalizeError::TooLong { .. } => return None,
            NormalizeError::Phone { .. } => IndicatorKind::Phone,
            NormalizeError::Domain { .. } => IndicatorKind::Domain,
            NormalizeError::Url { .. } => IndicatorKind::Url,
            NormalizeError::Ip { .. } => IndicatorKind::Ip,
            NormalizeError::App { .. } => IndicatorKind::App,
            NormalizeError::BankAccount { .. } => IndicatorKind::BankAccount,
            NormalizeError::PaymentAccount { .. } => IndicatorKind::PaymentAccount,
            NormalizeError::SocialAccount { .. } => IndicatorKind::SocialAccount,
        })
    }
}

fn check_len(raw: &str) -> Result<&str, NormalizeError> {
    if raw.len() > MAX_RAW_LEN {
        return Err(NormalizeError::TooLong {
            len: raw.len(),
            max: MAX_RAW_LEN,
        });
    }
    let t = raw.trim();
    if t.is_empty() {
        return Err(NormalizeError::Empty);
    }
    Ok(t)
}

/// Normalises `raw` as an indicator of `kind` to its canonical string.
pub fn normalize(kind: IndicatorKind, raw: &str) -> Result<String, NormalizeError> {
    normalize_cow(kind, raw).map(Cow::into_owned)
}

/// Like [`normalize`], but borrows the input when it already is canonical
/// (phones, domains and IPs: the values events carry most).
pub fn normalize_cow(kind: IndicatorKind, raw: &str) -> Result<Cow<'_, str>, NormalizeError> {
    let t = check_len(raw)?;
    let x = || Excerpt::of(t);
    match kind {
        IndicatorKind::Phone => {
            phone::normalize_cow(t).map_err(|source| NormalizeError::Phone { input: x(), source })
        }
        IndicatorKind::Domain => {
            domain::normalize_cow(t).map_err(|source| NormalizeError::Domain { input: x(), source })
        }
        IndicatorKind::Url => url::canonicalize(t)
            .map(|u| Cow::Owned(u.into_string()))
            .map_err(|source| NormalizeError::Url { input: x(), source }),
        IndicatorKind::Ip => ip::normalize_cow(t).map_err(|source| NormalizeError::Ip { input: x(), source }),
        IndicatorKind::App => app::normalize(t)
            .map(Cow::Owned)
            .map_err(|source| NormalizeError::App { input: x(), source }),
        IndicatorKind::BankAccount => account::normalize_bank_account(t)
            .map(Cow::Owned)
            .map_err(|source| NormalizeError::BankAccount { input: x(), source }),
        IndicatorKind::PaymentAccount => account::normalize_payment_account(t)
            .map(Cow::Owned)
            .map_err(|source| NormalizeError::PaymentAccount { input: x(), source }),
        IndicatorKind::SocialAccount => account::normalize_social_account(t)
            .map(Cow::Owned)
            .map_err(|source| NormalizeError::SocialAccount { input: x(), source }),
    }
}

/// Guesses the kind of a bare value and normalises it. `None` when no kind
/// fits, or when the value is ambiguous in a way a guess should not settle.
///
/// The rules, in order:
/// 1. `tel:` → phone; `pkg:` / `cert:` / `apk:` → app; `http(s)://` → URL;
///    `platform:account` with a known [`Platform`] → payment account for
///    payment-only platforms (Alipay, UnionPay, PayPal, JD), otherwise social
///    account (so `wechat:` and `qq:` are social).
/// 2. An IPv4/IPv6 address or CIDR network → IP.
/// 3. A SHA-256 (64 hex digits, or a `:`-separated fingerprint) → app.
/// 4. Digits with phone punctuation (or a leading `+`): a valid phone number
///    → phone; otherwise 10 or more digits that pass the bank rules → bank
///    account (a shorter bare number is too ambiguous to guess). An IBAN →
///    bank account.
/// 5. Something with a path, query or port (`host/path`, `host:8080`) → URL.
/// 6. A dotted name: when it reads as a reversed Android package (three or
///    more labels, the first `com`, `org`, `net` or `io`) → app; otherwise a
///    valid domain whose suffix the public suffix list knows → domain
///    (`qq.com`, `gov.on.ca`); otherwise a valid package name
///    (`cn.gov.pbc.dcep`, `tv.danmaku.bili`) → app.
pub fn detect(raw: &str) -> Option<(IndicatorKind, String)> {
    let t = check_len(raw).ok()?;
    let ok = |kind: IndicatorKind| normalize(kind, t).ok().map(|v| (kind, v));

    if let Some((p, _)) = t.split_once([':', '：']) {
        let p = p.trim();
        let lower = p.to_ascii_lowercase();
        match lower.as_str() {
            "tel" => return ok(IndicatorKind::Phone),
            "pkg" | "package" | "cert" | "sig" | "signature" | "apk" | "sha256" | "sha-256" => {
                return ok(IndicatorKind::App);
            }
            "http" | "https" | "hxxp" | "hxxps" => return ok(IndicatorKind::Url),
            _ => {}
        }
        if let Ok(platform) = Platform::from_str(p) {
            let kind = if platform.is_social() {
                IndicatorKind::SocialAccount
            } else {
                IndicatorKind::PaymentAccount
            };
            return ok(kind);
        }
    }
    if t.contains("://") {
        return ok(IndicatorKind::Url);
    }
    if ip::parse_ip_or_cidr(t).is_ok() {
        return ok(IndicatorKind::Ip);
    }
    let hexish = t
        .bytes()
        .all(|c| c.is_ascii_hexdigit() || matches!(c, b':' | b' '));
    if hexish && app::parse_sha256(t).is_ok() {
        return ok(IndicatorKind::App);
    }
    let phoneish = t
        .chars()
        .all(|c| phone::digit_value(c).is_some() || phone::is_separator(c) || matches!(c, '+' | '＋'));
    if phoneish && t.chars().any(|c| phone::digit_value(c).is_some()) {
        if let Some(hit) = ok(IndicatorKind::Phone) {
            return Some(hit);
        }
        if t.starts_with(['+', '＋']) {
            return None;
        }
        let digits = t
            .chars()
            .filter(|c| c.is_ascii_digit() || matches!(c, '０'..='９'))
            .count();
        return if digits >= 10 {
            ok(IndicatorKind::BankAccount)
        } else {
            None
        };
    }
    let b = t.as_bytes();
    if b.len() >= 15
        && b[..2].iter().all(u8::is_ascii_alphabetic)
        && b[2..4].iter().all(u8::is_ascii_digit)
        && let Some(hit) = ok(IndicatorKind::BankAccount)
    {
        return Some(hit);
    }
    if t.contains(['/', '?', '\\']) || has_port(t) {
        return ok(IndicatorKind::Url);
    }
    if t.contains('@') || !t.contains('.') {
        return None;
    }
    let package = app::is_package_name(t);
    if package && reversed_package(t) {
        return ok(IndicatorKind::App);
    }
    if let Ok(d) = domain::normalize(t)
        && domain::has_known_suffix(&d)
    {
        return Some((IndicatorKind::Domain, d));
    }
    if package {
        return ok(IndicatorKind::App);
    }
    None
}

/// `host:1234` or `host:1234/…`.
fn has_port(t: &str) -> bool {
    match t.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && !port.is_empty()
                && port.bytes().all(|c| c.is_ascii_digit())
                && port.len() <= 5
        }
        None => false,
    }
}

const PACKAGE_ROOTS: [&str; 4] = ["com", "org", "net", "io"];

/// `com.x.y`: three or more labels under a root that, in front, only
/// packages use (`gov.on.ca` and `net.hr` are domains).
fn reversed_package(t: &str) -> bool {
    let mut labels = t.split('.');
    let first = labels.next().unwrap_or("");
    PACKAGE_ROOTS.contains(&first) && labels.count() >= 2
}

/// Undoes common defanging: `hxxp://`, `[.]`, `(.)`, `{.}`, `[dot]`, `[:]`.
/// Borrows when there is nothing to undo.
pub fn refang(s: &str) -> Cow<'_, str> {
    let hxxp = is_hxxp_scheme(s);
    if !hxxp && !s.contains(['[', '(', '{']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let rest = if hxxp {
        out.push_str("http");
        &s[4..]
    } else {
        s
    };
    let mut rest = rest;
    'outer: while !rest.is_empty() {
        for (from, to) in REFANG {
            if let Some(r) = rest.strip_prefix(from) {
                out.push_str(to);
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if out == s {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(out)
    }
}

/// `hxxp:` / `hxxps:` (or `hxxp[`…) at the start: a defanged scheme, not a
/// host that happens to start with those letters.
pub(crate) fn is_hxxp_scheme(s: &str) -> bool {
    let Some(head) = s.get(..4) else { return false };
    if !head.eq_ignore_ascii_case("hxxp") {
        return false;
    }
    let rest = &s[4..];
    let rest = rest.strip_prefix(['s', 'S']).unwrap_or(rest);
    rest.starts_with([':', '['])
}

const REFANG: [(&str, &str); 9] = [
    ("[.]", "."),
    ("(.)", "."),
    ("{.}", "."),
    ("[dot]", "."),
    ("[DOT]", "."),
    ("(dot)", "."),
    ("(DOT)", "."),
    ("[://]", "://"),
    ("[:]", ":"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_is_short() {
        assert_eq!(Excerpt::of("13812345678").as_str(), "13812345…");
        assert_eq!(Excerpt::of("ab\ncd").as_str(), "ab?cd");
        let e = normalize(IndicatorKind::Phone, "12345678901234567890123456789").unwrap_err();
        assert!(!e.to_string().contains("1234567890"), "{e}");
    }

    #[test]
    fn refang_forms() {
        assert_eq!(refang("hxxps://evil[.]com"), "https://evil.com");
        assert!(matches!(refang("example.com"), Cow::Borrowed(_)));
        assert!(matches!(refang("[2001:db8::1]"), Cow::Borrowed(_)));
    }

    #[test]
    fn length_limit() {
        let long = "a".repeat(MAX_RAW_LEN + 1);
        assert_eq!(
            normalize(IndicatorKind::Domain, &long),
            Err(NormalizeError::TooLong {
                len: MAX_RAW_LEN + 1,
                max: MAX_RAW_LEN
            })
        );
        assert_eq!(detect(&long), None);
    }
}
