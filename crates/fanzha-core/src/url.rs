//! URLs, canonicalised the way Google Safe Browsing does, so that the many
//! spellings of one address compare equal as strings.
//!
//! # Rules
//!
//! 1. Leading and trailing whitespace is removed, and every tab, CR and LF
//!    inside. Defanged spellings are refanged: `hxxp://`, `[://]` and `[:]`
//!    after the scheme, and `[.]`, `(.)`, `{.}`, `[dot]`, `[:]` in the host
//!    part (not in the path or query, where they are data).
//! 2. The fragment (`#…`) is dropped.
//! 3. A missing scheme becomes `http://`. Only `http` and `https` are
//!    accepted; the scheme is lower-cased and any run of `/` or `\` after
//!    `http:` is read as `//` (as browsers do).
//! 4. User information (`user:pass@`) is dropped: it never changes where a
//!    browser goes, and phishing links use it to disguise the host.
//! 5. Host: percent-unescaped repeatedly; full-width dots become `.`;
//!    leading and trailing dots are removed and runs of dots collapse to one;
//!    lower-cased. A host whose last label is a number is an IPv4 address and
//!    is read like `inet_aton` (and browsers) do: 1 to 4 parts, each decimal,
//!    octal (leading `0`) or hex (`0x`), so `3279880203`, `0xc37f000b` and
//!    `0303.0177.0.013` all become `195.127.0.11`. `[…]` is an IPv6 address,
//!    written in its RFC 5952 form. Anything else must be a valid domain name
//!    and is normalised by [`crate::domain`] (IDNA/punycode).
//! 6. Port: the default port of the scheme (80, 443) is removed, other ports
//!    are kept (a deviation from Safe Browsing, which drops every port: a
//!    fraud site on `:8888` is a distinct service, and the host still matches
//!    domain indicators).
//! 7. Path: percent-unescaped repeatedly until no escape is left; `.` and
//!    `..` segments are resolved; runs of `/` collapse to one; an empty path
//!    becomes `/`.
//! 8. Query: kept after the first `?` (even when empty), unescaped repeatedly,
//!    no path rules applied.
//! 9. Path and query are re-escaped: every byte ≤ 0x20 or ≥ 0x7F, `#` and
//!    `%` becomes `%XX` with upper-case hex. In the path `?` and `\` are
//!    escaped as well, so that the result parses back to itself.
//!
//! Canonicalising a canonical URL returns it unchanged.

use crate::domain::DomainError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Longest raw URL accepted, in bytes.
pub const MAX_URL_LEN: usize = crate::indicator::MAX_RAW_LEN;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("the URL is empty")]
    Empty,
    #[error("the URL is longer than {MAX_URL_LEN} bytes")]
    TooLong,
    #[error("only http and https URLs are accepted")]
    UnsupportedScheme,
    #[error("the URL has no host")]
    NoHost,
    #[error("the host of the URL is not valid: {0}")]
    BadHost(DomainError),
    #[error("the host of the URL is not a valid IP address")]
    BadIp,
    #[error("the port of the URL is not a number from 0 to 65535")]
    BadPort,
}

/// What the host of a canonical URL is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HostKind {
    Domain,
    Ipv4,
    Ipv6,
}

/// A canonical URL with the positions of its parts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CanonUrl {
    s: String,
    scheme_end: usize,
    host_start: usize,
    host_end: usize,
    port: Option<u16>,
    path_start: usize,
    query_start: Option<usize>,
    host_kind: HostKind,
}

impl CanonUrl {
    /// The canonical string.
    pub fn as_str(&self) -> &str {
        &self.s
    }
    pub fn into_string(self) -> String {
        self.s
    }
    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        &self.s[..self.scheme_end]
    }
    /// The host: a canonical domain, a dotted IPv4 address, or `[v6]`.
    pub fn host(&self) -> &str {
        &self.s[self.host_start..self.host_end]
    }
    pub fn host_kind(&self) -> HostKind {
        self.host_kind
    }
    /// The host when it is a domain name (not an IP address).
    pub fn domain(&self) -> Option<&str> {
        (self.host_kind == HostKind::Domain).then(|| self.host())
    }
    /// The host as an IP address, when it is one.
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        match self.host_kind {
            HostKind::Domain => None,
            HostKind::Ipv4 => self.host().parse::<Ipv4Addr>().ok().map(Into::into),
            HostKind::Ipv6 => {
                let h = self.host();
                h.get(1..h.len().saturating_sub(1))?
                    .parse::<Ipv6Addr>()
                    .ok()
                    .map(Into::into)
            }
        }
    }
    /// The registrable domain of the host (see [`crate::domain::registrable_domain`]).
    pub fn registrable_domain(&self) -> Option<&str> {
        self.domain().and_then(crate::domain::registrable_domain)
    }
    /// A non-default port, if the URL has one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
    /// The path, starting with `/`, without the query.
    pub fn path(&self) -> &str {
        &self.s[self.path_start..self.query_start.unwrap_or(self.s.len())]
    }
    /// The query without its `?`, if the URL has one (possibly empty).
    pub fn query(&self) -> Option<&str> {
        self.query_start.map(|q| &self.s[q + 1..])
    }
    /// Path and query: everything after the host and port.
    pub fn path_and_query(&self) -> &str {
        &self.s[self.path_start..]
    }
}

impl fmt::Display for CanonUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.s)
    }
}

impl AsRef<str> for CanonUrl {
    fn as_ref(&self) -> &str {
        &self.s
    }
}

impl Serialize for CanonUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.s)
    }
}

impl<'de> Deserialize<'de> for CanonUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(d)?;
        canonicalize(&s).map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for CanonUrl {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        canonicalize(s)
    }
}

/// Canonicalises a URL (see the module docs for the rules).
pub fn canonicalize(input: &str) -> Result<CanonUrl, UrlError> {
    if input.len() > MAX_URL_LEN {
        return Err(UrlError::TooLong);
    }
    let t = input.trim();
    if t.is_empty() {
        return Err(UrlError::Empty);
    }
    let cleaned: Cow<'_, str> = if t.contains(['\t', '\r', '\n']) {
        Cow::Owned(t.chars().filter(|c| !matches!(c, '\t' | '\r' | '\n')).collect())
    } else {
        Cow::Borrowed(t)
    };
    let refanged = refang_scheme(&cleaned);
    let s: &str = &refanged;
    let s = s.split_once('#').map_or(s, |(before, _)| before);

    let (https, rest) = split_scheme(s)?;
    let (before_q, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match before_q.find(['/', '\\']) {
        Some(i) => (&before_q[..i], &before_q[i..]),
        None => (before_q, ""),
    };
    // Defanged dots are undone in the authority only: in the path and
    // query they are data, and unescaping could otherwise create them.
    let authority = crate::indicator::refang(authority);
    let authority: &str = &authority;
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host_raw, port_raw) = split_port(hostport)?;
    let (host, host_kind) = canon_host(host_raw)?;
    let port = parse_port(port_raw)?.filter(|&p| p != if https { 443 } else { 80 });

    let mut out = String::with_capacity(s.len() + 16);
    out.push_str(if https { "https" } else { "http" });
    let scheme_end = out.len();
    out.push_str("://");
    let host_start = out.len();
    out.push_str(&host);
    let host_end = out.len();
    if let Some(p) = port {
        let _ = write!(out, ":{p}");
    }
    let path_start = out.len();
    // Browsers read `\` as `/` before the query.
    let path_bytes: Cow<'_, [u8]> = if path.contains('\\') {
        Cow::Owned(path.bytes().map(|b| if b == b'\\' { b'/' } else { b }).collect())
    } else {
        Cow::Borrowed(path.as_bytes())
    };
    push_path(&mut out, &unescape_full(&path_bytes));
    let query_start = query.map(|q| {
        let at = out.len();
        out.push('?');
        push_escaped(&mut out, &unescape_full(q.as_bytes()), false);
        at
    });
    Ok(CanonUrl {
        s: out,
        scheme_end,
        host_start,
        host_end,
        port,
        path_start,
        query_start,
        host_kind,
    })
}

/// `hxxp(s)` → `http(s)` and a defanged `[://]` / `[:]//` after the scheme.
fn refang_scheme(s: &str) -> Cow<'_, str> {
    let end = s.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(s.len());
    let rest = &s[end..];
    let hxxp = crate::indicator::is_hxxp_scheme(s);
    let sep = ["[://]", "[:]//", "[:]"]
        .into_iter()
        .find(|p| rest.starts_with(p));
    if !hxxp && sep.is_none() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    if hxxp {
        out.push_str("http");
        out.push_str(&s[4..end]);
    } else {
        out.push_str(&s[..end]);
    }
    match sep {
        Some(p) => {
            out.push_str(if p == "[:]" { ":" } else { "://" });
            out.push_str(&rest[p.len()..]);
        }
        None => out.push_str(rest),
    }
    Cow::Owned(out)
}

/// Schemes that are recognisably not web addresses.
const OTHER_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "mailto",
    "tel",
    "sms",
    "file",
    "ftp",
    "about",
    "blob",
    "vbscript",
    "ws",
    "wss",
    "intent",
    "market",
    "weixin",
    "alipays",
    "alipay",
    "itms-services",
];

/// Splits off the scheme. Returns whether it is https, and the rest after
/// `scheme://` (or the whole input when there is no scheme).
fn split_scheme(s: &str) -> Result<(bool, &str), UrlError> {
    if let Some(i) = s.find(':') {
        let cand = &s[..i];
        let valid = cand.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
            && cand
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'.' | b'-'));
        if valid {
            let after = &s[i + 1..];
            let https = cand.eq_ignore_ascii_case("https");
            if https || cand.eq_ignore_ascii_case("http") {
                return Ok((https, after.trim_start_matches(['/', '\\'])));
            }
            if after.starts_with("//") || OTHER_SCHEMES.iter().any(|o| cand.eq_ignore_ascii_case(o)) {
                return Err(UrlError::UnsupportedScheme);
            }
        }
    }
    Ok((false, s.trim_start_matches(['/', '\\'])))
}

fn split_port(hostport: &str) -> Result<(&str, &str), UrlError> {
    if hostport.starts_with('[') {
        let end = hostport.find(']').ok_or(UrlError::BadIp)?;
        let (host, after) = hostport.split_at(end + 1);
        return match after {
            "" => Ok((host, "")),
            a => a.strip_prefix(':').map(|p| (host, p)).ok_or(UrlError::BadPort),
        };
    }
    Ok(hostport.rsplit_once(':').unwrap_or((hostport, "")))
}

fn parse_port(p: &str) -> Result<Option<u16>, UrlError> {
    if p.is_empty() {
        return Ok(None);
    }
    if !p.bytes().all(|c| c.is_ascii_digit()) {
        return Err(UrlError::BadPort);
    }
    let digits = p.trim_start_matches('0');
    if digits.len() > 5 {
        return Err(UrlError::BadPort);
    }
    if digits.is_empty() {
        return Ok(Some(0));
    }
    digits.parse::<u16>().map(Some).map_err(|_| UrlError::BadPort)
}

fn canon_host(raw: &str) -> Result<(Cow<'_, str>, HostKind), UrlError> {
    let bytes = unescape_full(raw.as_bytes());
    let h = std::str::from_utf8(&bytes).map_err(|_| UrlError::BadHost(DomainError::BadChar))?;
    if let Some(inner) = h.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or(UrlError::BadIp)?;
        let a: Ipv6Addr = inner.parse().map_err(|_| UrlError::BadIp)?;
        return Ok((Cow::Owned(format!("[{a}]")), HostKind::Ipv6));
    }
    let dotted = clean_dots(h);
    if dotted.is_empty() {
        return Err(UrlError::NoHost);
    }
    let last = dotted.rsplit('.').next().unwrap_or("");
    if is_numeric_part(last) {
        let a = parse_ipv4_lenient(&dotted).ok_or(UrlError::BadIp)?;
        return Ok((Cow::Owned(a.to_string()), HostKind::Ipv4));
    }
    let host = crate::domain::normalize_host(&dotted).map_err(UrlError::BadHost)?;
    if *host == *raw {
        return Ok((Cow::Borrowed(raw), HostKind::Domain));
    }
    Ok((Cow::Owned(host.into_owned()), HostKind::Domain))
}

/// Full-width dots become `.`, leading/trailing dots go, runs collapse.
fn clean_dots(h: &str) -> Cow<'_, str> {
    let odd_dots = h.contains(['\u{3002}', '\u{FF0E}', '\u{FF61}']);
    if !odd_dots && !h.starts_with('.') && !h.ends_with('.') && !h.contains("..") {
        return Cow::Borrowed(h);
    }
    let mut out = String::with_capacity(h.len());
    for label in h
        .split(['.', '\u{3002}', '\u{FF0E}', '\u{FF61}'])
        .filter(|l| !l.is_empty())
    {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(label);
    }
    Cow::Owned(out)
}

fn is_numeric_part(p: &str) -> bool {
    if let Some(hex) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
        return hex.bytes().all(|c| c.is_ascii_hexdigit());
    }
    !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit())
}

fn parse_part(p: &str) -> Option<u64> {
    let (digits, radix) = if let Some(hex) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
        (hex, 16)
    } else if p.len() > 1 && p.starts_with('0') {
        (&p[1..], 8)
    } else {
        (p, 10)
    };
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return (!p.is_empty()).then_some(0);
    }
    if digits.len() > 11 {
        return None;
    }
    u64::from_str_radix(digits, radix)
        .ok()
        .filter(|&v| v <= u64::from(u32::MAX))
}

/// IPv4 in any form `inet_aton` accepts: `a`, `a.b`, `a.b.c`, `a.b.c.d`,
/// each part decimal, octal or hex; the last part fills the remaining bytes.
pub fn parse_ipv4_lenient(h: &str) -> Option<Ipv4Addr> {
    let mut nums = [0u64; 4];
    let mut n = 0usize;
    for part in h.split('.') {
        let slot = nums.get_mut(n)?;
        *slot = parse_part(part)?;
        n += 1;
    }
    let (last, head) = nums[..n].split_last()?;
    if head.iter().any(|&v| v > 255) {
        return None;
    }
    if *last >= 1u64 << (8 * (5 - n)) {
        return None;
    }
    let mut v = *last;
    for (i, &b) in head.iter().enumerate() {
        v |= b << (8 * (3 - i));
    }
    u32::try_from(v).ok().map(Ipv4Addr::from)
}

fn is_escape_at(b: &[u8], i: usize) -> bool {
    b.get(i) == Some(&b'%')
        && b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
        && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

fn unescape_once(b: &[u8]) -> Option<Vec<u8>> {
    let first = (0..b.len()).find(|&i| is_escape_at(b, i))?;
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&b[..first]);
    let mut i = first;
    while let Some(&c) = b.get(i) {
        if is_escape_at(b, i) {
            out.push(hex_val(b[i + 1]) << 4 | hex_val(b[i + 2]));
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Some(out)
}

/// Percent-unescapes until no escape is left.
fn unescape_full(b: &[u8]) -> Cow<'_, [u8]> {
    let mut cur = Cow::Borrowed(b);
    while let Some(next) = unescape_once(&cur) {
        cur = Cow::Owned(next);
    }
    cur
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn needs_escape(b: u8, in_path: bool) -> bool {
    b <= 0x20 || b >= 0x7F || b == b'#' || b == b'%' || (in_path && (b == b'?' || b == b'\\'))
}

fn push_escaped(out: &mut String, seg: &[u8], in_path: bool) {
    let mut rest = seg;
    while !rest.is_empty() {
        // Copy the run of bytes that stay as they are in one go.
        let run = rest
            .iter()
            .position(|&b| needs_escape(b, in_path))
            .unwrap_or(rest.len());
        let (plain, tail) = rest.split_at(run);
        // `plain` is printable ASCII, so always valid UTF-8.
        out.push_str(std::str::from_utf8(plain).unwrap_or_default());
        if let Some((&b, after)) = tail.split_first() {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
            rest = after;
        } else {
            rest = tail;
        }
    }
}

/// Appends the canonical path: dot segments resolved, empty segments
/// dropped, each segment escaped.
fn push_path(out: &mut String, path: &[u8]) {
    let base = out.len();
    out.push('/');
    let mut trailing = true;
    for seg in path.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => trailing = true,
            b".." => {
                // `out` ends with '/': drop the last segment, if any.
                if out.len() > base + 1 {
                    let cut = out[base..out.len() - 1]
                        .rfind('/')
                        .map_or(base + 1, |i| base + i + 1);
                    out.truncate(cut);
                }
                trailing = true;
            }
            _ => {
                push_escaped(out, seg, true);
                out.push('/');
                trailing = false;
            }
        }
    }
    if !trailing && out.len() > base + 1 {
        out.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_reported() {
        let u = canonicalize("HTTPS://User:pw@WWW.Example.COM:8443/a/./b/../c?x=1#frag").unwrap();
        assert_eq!(u.as_str(), "https://www.example.com:8443/a/c?x=1");
        assert_eq!(u.scheme(), "https");
        assert_eq!(u.host(), "www.example.com");
        assert_eq!(u.port(), Some(8443));
        assert_eq!(u.path(), "/a/c");
        assert_eq!(u.query(), Some("x=1"));
        assert_eq!(u.registrable_domain(), Some("example.com"));
        let ip = canonicalize("http://0xc37f000b/").unwrap();
        assert_eq!(ip.host(), "195.127.0.11");
        assert_eq!(ip.host_kind(), HostKind::Ipv4);
        assert!(ip.ip().is_some() && ip.domain().is_none());
        let v6 = canonicalize("http://[2001:DB8:0:0::1]:80/").unwrap();
        assert_eq!(v6.as_str(), "http://[2001:db8::1]/");
        assert_eq!(v6.ip(), Some("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn lenient_ipv4() {
        for (s, want) in [
            ("3279880203", Some("195.127.0.11")),
            ("0303.0177.0.013", Some("195.127.0.11")),
            ("195.127.11", Some("195.127.0.11")),
            ("1.2.3.256", None),
            ("1.2.3.4.5", None),
            ("09.1.1.1", None),
            ("4294967296", None),
        ] {
            assert_eq!(
                parse_ipv4_lenient(s).map(|a| a.to_string()).as_deref(),
                want,
                "{s}"
            );
        }
    }
}
