//! Domain names: lower-case ASCII (IDNA/punycode), no trailing dot.
//!
//! # Canonical form
//!
//! * Internationalised names become punycode through UTS #46 (`例子.中国` →
//!   `xn--fsqu00a.xn--fiqs8s`); ASCII is lower-cased.
//! * One trailing dot (the DNS root) is removed. A leading `*.` or `.`
//!   (the usual ways to write "this domain and its subdomains") is removed:
//!   domain indicators always cover their subdomains.
//! * Defanged forms are accepted: `example[.]com`, `example(.)com`, `example{.}com`.
//! * Labels are 1–63 characters of letters, digits, `-` and `_`, and do not
//!   start or end with `-`. `_` is accepted outside the top-level label
//!   because real hosts use it and browsers resolve them. The whole name is
//!   at most 253 characters and has at least two labels. The top-level label
//!   is letters only, or punycode (`xn--…`): an all-numeric name is an IP
//!   address, not a domain.
//!
//! [`registrable_domain`] uses the public suffix list compiled into the
//! `psl` crate (ICANN and private sections); nothing is downloaded.

use std::borrow::Cow;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("the domain is empty")]
    Empty,
    #[error("the domain is longer than 253 characters")]
    TooLong,
    #[error("the domain has an empty label (two dots in a row, or a dot at the start)")]
    EmptyLabel,
    #[error("a label of the domain is longer than 63 characters")]
    LabelTooLong,
    #[error("the domain contains a character that is not allowed in host names")]
    BadChar,
    #[error("a label of the domain starts or ends with a hyphen")]
    BadHyphen,
    #[error("a domain needs at least two labels, like example.com")]
    SingleLabel,
    #[error("the top-level label of the domain must be letters or punycode")]
    BadTld,
    #[error("the domain is not valid under IDNA (internationalised domain names)")]
    Idna,
    #[error("this looks like a URL, not a bare domain")]
    LooksLikeUrl,
    #[error("this looks like an IP address, not a domain")]
    LooksLikeIp,
}

/// Normalises a domain name to its canonical form (see the module docs).
pub fn normalize(input: &str) -> Result<String, DomainError> {
    normalize_cow(input).map(Cow::into_owned)
}

/// Like [`normalize`], but borrows the input when it already is canonical.
pub fn normalize_cow(input: &str) -> Result<Cow<'_, str>, DomainError> {
    let t = input.trim();
    if is_canonical(t) {
        return Ok(Cow::Borrowed(t));
    }
    if t.is_empty() {
        return Err(DomainError::Empty);
    }
    if t.contains("://") || t.contains('/') || t.contains('?') {
        return Err(DomainError::LooksLikeUrl);
    }
    match crate::indicator::refang(t) {
        Cow::Borrowed(b) => normalize_host(b),
        Cow::Owned(s) => normalize_host(&s).map(|c| Cow::Owned(c.into_owned())),
    }
}

/// Normalises a host name that has already been separated from any URL
/// syntax and refanged. Borrows from `t` when nothing changes.
pub(crate) fn normalize_host(t: &str) -> Result<Cow<'_, str>, DomainError> {
    if is_canonical(t) {
        return Ok(Cow::Borrowed(t));
    }
    normalize_host_full(t)
}

/// [`normalize_host`] without the one-pass fast path.
fn normalize_host_full(t: &str) -> Result<Cow<'_, str>, DomainError> {
    let mut s = t;
    if let Some(rest) = s.strip_prefix("*.") {
        s = rest;
    } else if let Some(rest) = s.strip_prefix('.') {
        s = rest;
    }
    if let Some(rest) = s.strip_suffix('.') {
        s = rest;
    }
    if s.is_empty() {
        return Err(DomainError::Empty);
    }
    let b = s.as_bytes();
    let simple = b
        .iter()
        .all(|&c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_'));
    if simple && !has_punycode_label(s) {
        validate_ascii(s)?;
        return Ok(Cow::Borrowed(s));
    }
    let upper_only = b
        .iter()
        .all(|&c| matches!(c, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_'));
    if upper_only && !has_punycode_label(s) {
        let lower = s.to_ascii_lowercase();
        validate_ascii(&lower)?;
        return Ok(Cow::Owned(lower));
    }
    // ASCII that cannot be in a host name; UTS #46 only sees the rest.
    if b.iter()
        .any(|&c| c.is_ascii() && !c.is_ascii_alphanumeric() && !matches!(c, b'-' | b'.' | b'_'))
    {
        return Err(DomainError::BadChar);
    }
    let ascii = idna::uts46::Uts46::new()
        .to_ascii(
            b,
            HOST_DENY,
            idna::uts46::Hyphens::Allow,
            idna::uts46::DnsLength::Ignore,
        )
        .map_err(|_| DomainError::Idna)?;
    // UTS #46 maps full-width dots, so the trailing-dot rule applies again.
    let trimmed = ascii.strip_suffix('.').unwrap_or(&ascii);
    validate_ascii(trimmed)?;
    Ok(Cow::Owned(trimmed.to_owned()))
}

/// True when `s` already is a canonical domain, checked in one pass (the
/// fast path for values that arrive normalised). Punycode labels are left to
/// the full check, which validates them.
pub fn is_canonical(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 253 {
        return false;
    }
    let mut labels = 0usize;
    let mut start = 0usize;
    for i in 0..=b.len() {
        let c = b.get(i).copied().unwrap_or(b'.');
        if c != b'.' {
            if !matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_') {
                return false;
            }
            continue;
        }
        let label = &b[start..i];
        let (Some(&first), Some(&last)) = (label.first(), label.last()) else {
            return false;
        };
        if label.len() > 63 || first == b'-' || last == b'-' || label.starts_with(b"xn--") {
            return false;
        }
        labels += 1;
        if i == b.len() {
            // The top-level label: letters only, at least two.
            return labels >= 2 && label.len() >= 2 && label.iter().all(u8::is_ascii_lowercase);
        }
        start = i + 1;
    }
    false
}

/// Every printable ASCII character that cannot appear in a host name except
/// `-`, `.` and `_` (letters and digits are never denied).
const HOST_DENY: idna::uts46::AsciiDenyList =
    idna::uts46::AsciiDenyList::new(true, "!\"#$%&'()*+,/:;<=>?@[\\]^`{|}~");

fn has_punycode_label(s: &str) -> bool {
    s.split('.')
        .any(|l| l.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--")))
}

/// Structural checks on a lower-case ASCII name.
fn validate_ascii(s: &str) -> Result<(), DomainError> {
    if s.len() > 253 {
        return Err(DomainError::TooLong);
    }
    let mut labels = 0usize;
    let mut last = "";
    let mut all_numeric = true;
    for label in s.split('.') {
        labels += 1;
        if label.is_empty() {
            return Err(DomainError::EmptyLabel);
        }
        if label.len() > 63 {
            return Err(DomainError::LabelTooLong);
        }
        let lb = label.as_bytes();
        if !lb
            .iter()
            .all(|&c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_'))
        {
            return Err(DomainError::BadChar);
        }
        if lb.first() == Some(&b'-') || lb.last() == Some(&b'-') {
            return Err(DomainError::BadHyphen);
        }
        all_numeric &= lb.iter().all(u8::is_ascii_digit);
        last = label;
    }
    if all_numeric || last.bytes().all(|c| c.is_ascii_digit()) {
        return Err(DomainError::LooksLikeIp);
    }
    if labels < 2 {
        return Err(DomainError::SingleLabel);
    }
    let tld_ok = if let Some(puny) = last.strip_prefix("xn--") {
        !puny.is_empty() && puny.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
    } else {
        last.len() >= 2 && last.bytes().all(|c| c.is_ascii_lowercase())
    };
    if !tld_ok {
        return Err(DomainError::BadTld);
    }
    Ok(())
}

/// The registrable domain ("eTLD+1") of a canonical domain: `www.example.com.cn`
/// → `example.com.cn`, `a.b.github.io` → `b.github.io`. `None` when the name
/// is itself a public suffix (`com.cn`). Unknown top-level labels follow the
/// list's default rule (`a.b.unknowntld` → `b.unknowntld`).
pub fn registrable_domain(domain: &str) -> Option<&str> {
    psl::domain_str(domain)
}

/// The public suffix of a canonical domain (`www.example.com.cn` → `com.cn`).
pub fn public_suffix(domain: &str) -> Option<&str> {
    psl::suffix_str(domain)
}

/// True when the domain ends in a suffix that the public suffix list knows
/// (rather than one that only the list's default rule covers).
pub fn has_known_suffix(domain: &str) -> bool {
    psl::suffix(domain.as_bytes()).is_some_and(|s| s.is_known())
}

/// True when `host` is `parent` or one of its subdomains (both canonical).
pub fn is_within(host: &str, parent: &str) -> bool {
    match host.strip_suffix(parent) {
        Some("") => true,
        Some(rest) => rest.ends_with('.'),
        None => false,
    }
}

/// The name and each of its parent names, longest first:
/// `a.b.example.com`, `b.example.com`, `example.com`, `com`.
/// This is the lookup order for "a domain indicator covers its subdomains".
pub fn self_and_parents(domain: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(domain);
    std::iter::from_fn(move || {
        let cur = next?;
        next = cur
            .split_once('.')
            .map(|(_, rest)| rest)
            .filter(|r| !r.is_empty());
        Some(cur)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_path_borrows() {
        assert!(matches!(
            normalize_cow("www.example.com"),
            Ok(Cow::Borrowed("www.example.com"))
        ));
        assert!(matches!(
            normalize_cow(" www.example.com. "),
            Ok(Cow::Borrowed("www.example.com"))
        ));
        assert!(matches!(normalize_cow("WWW.Example.com"), Ok(Cow::Owned(_))));
    }

    proptest::proptest! {
        /// The one-pass fast path accepts exactly what the full check leaves unchanged.
        #[test]
        fn fast_path_agrees_with_full_check(s in "[a-z0-9._-]{0,24}|[a-z]{1,8}\\.[a-z]{1,4}") {
            let full = normalize_host_full(&s);
            let unchanged = matches!(&full, Ok(v) if *v == s) && !s.starts_with('.') && !s.ends_with('.');
            proptest::prop_assert_eq!(is_canonical(&s), unchanged && !has_punycode_label(&s), "{:?}", full);
        }
    }

    #[test]
    fn parents_and_within() {
        let v: Vec<&str> = self_and_parents("a.b.example.com").collect();
        assert_eq!(v, ["a.b.example.com", "b.example.com", "example.com", "com"]);
        assert!(is_within("a.example.com", "example.com"));
        assert!(is_within("example.com", "example.com"));
        assert!(!is_within("badexample.com", "example.com"));
        assert_eq!(registrable_domain("www.example.com.cn"), Some("example.com.cn"));
        assert_eq!(public_suffix("www.example.com.cn"), Some("com.cn"));
        assert!(has_known_suffix("example.cn") && !has_known_suffix("example.notatld"));
    }
}
