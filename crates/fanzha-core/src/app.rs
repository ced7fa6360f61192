//! App indicators: an Android package name, the SHA-256 of an app's signing
//! certificate, or the SHA-256 of an APK file.
//!
//! # Canonical strings
//!
//! | indicator | canonical | accepted input |
//! |---|---|---|
//! | package | `pkg:com.example.app` | `pkg:` / `package:` prefix, or a bare dotted name |
//! | signing certificate | `cert:<64 lower-case hex>` | `cert:` / `sig:` prefix, or a colon-separated fingerprint |
//! | APK file | `apk:<64 lower-case hex>` | `apk:` / `file:` prefix, or 64 bare hex digits |
//!
//! * Package names follow Android's rule: at least two dot-separated
//!   segments, each a letter followed by letters, digits or `_`, at most 255
//!   characters. **Case is kept**: Android treats `com.Foo` and `com.foo` as
//!   different apps.
//! * Hashes accept upper or lower case, with or without `:` or spaces between
//!   byte pairs, and a leading `SHA256:` / `SHA-256:` label as `keytool` and
//!   `apksigner` print it. They are written as 64 lower-case hex digits.
//! * Without a prefix a hash is read by its shape: a fingerprint written with
//!   separators (`AB:CD:…`, the form tools print for certificates) is a
//!   certificate; 64 contiguous hex digits (the form `sha256sum` prints for
//!   files) is an APK.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    #[error("the app indicator is empty")]
    Empty,
    #[error("not a valid Android package name (like com.example.app)")]
    BadPackage,
    #[error("a SHA-256 hash has 64 hex digits; this has {0}")]
    BadHashLength(usize),
    #[error("only SHA-256 hashes are accepted; this looks like {0}")]
    WrongHashType(&'static str),
    #[error("the hash contains characters other than hex digits and separators")]
    BadHashChar,
    #[error("unknown app indicator prefix (use pkg:, cert: or apk:)")]
    UnknownPrefix,
}

/// Which of the three app indicators a value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppKind {
    Package,
    Cert,
    Apk,
}

impl AppKind {
    /// The prefix of the canonical string, without the colon.
    pub const fn prefix(self) -> &'static str {
        match self {
            AppKind::Package => "pkg",
            AppKind::Cert => "cert",
            AppKind::Apk => "apk",
        }
    }
}

/// A parsed app indicator. [`fmt::Display`] gives the canonical string.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AppIndicator {
    Package(String),
    Cert([u8; 32]),
    Apk([u8; 32]),
}

impl AppIndicator {
    pub fn kind(&self) -> AppKind {
        match self {
            AppIndicator::Package(_) => AppKind::Package,
            AppIndicator::Cert(_) => AppKind::Cert,
            AppIndicator::Apk(_) => AppKind::Apk,
        }
    }

    /// Parses any accepted spelling (see the module docs).
    pub fn parse(input: &str) -> Result<Self, AppError> {
        let t = input.trim();
        if t.is_empty() {
            return Err(AppError::Empty);
        }
        if let Some((prefix, rest)) = split_prefix(t) {
            let rest = rest.trim();
            return match prefix.to_ascii_lowercase().as_str() {
                "pkg" | "package" => normalize_package(rest).map(AppIndicator::Package),
                "cert" | "sig" | "signature" => parse_sha256(rest).map(AppIndicator::Cert),
                "apk" | "file" => parse_sha256(rest).map(AppIndicator::Apk),
                "sha256" | "sha-256" => hash_by_shape(rest),
                _ => Err(AppError::UnknownPrefix),
            };
        }
        if t.bytes()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, b':' | b' ' | b'\t'))
        {
            return hash_by_shape(t);
        }
        normalize_package(t).map(AppIndicator::Package)
    }
}

impl fmt::Display for AppIndicator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppIndicator::Package(p) => write!(f, "pkg:{p}"),
            AppIndicator::Cert(h) => write!(f, "cert:{}", hex::encode(h)),
            AppIndicator::Apk(h) => write!(f, "apk:{}", hex::encode(h)),
        }
    }
}

/// Normalises an app indicator to its canonical string.
pub fn normalize(input: &str) -> Result<String, AppError> {
    AppIndicator::parse(input).map(|a| a.to_string())
}

/// `prefix:rest` where `prefix` is a plain word (a hash fingerprint like
/// `AB:CD:…` is not split).
fn split_prefix(t: &str) -> Option<(&str, &str)> {
    let (p, rest) = t.split_once([':', '：'])?;
    let p = p.trim();
    let word = !p.is_empty()
        && p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        && p.bytes()
            .any(|c| c.is_ascii_alphabetic() && !c.is_ascii_hexdigit());
    word.then_some((p, rest))
}

fn hash_by_shape(t: &str) -> Result<AppIndicator, AppError> {
    let t = t.trim();
    let h = parse_sha256(t)?;
    Ok(if t.contains([':', ' ', '\t']) {
        AppIndicator::Cert(h)
    } else {
        AppIndicator::Apk(h)
    })
}

/// Validates a package name; keeps its case.
pub fn normalize_package(input: &str) -> Result<String, AppError> {
    let t = input.trim();
    if t.is_empty() {
        return Err(AppError::Empty);
    }
    if is_package_name(t) {
        Ok(t.to_owned())
    } else {
        Err(AppError::BadPackage)
    }
}

/// Android's package-name rule.
pub fn is_package_name(s: &str) -> bool {
    if s.len() > 255 {
        return false;
    }
    let mut segments = 0;
    for seg in s.split('.') {
        segments += 1;
        let b = seg.as_bytes();
        if !b.first().is_some_and(u8::is_ascii_alphabetic)
            || !b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
        {
            return false;
        }
    }
    segments >= 2
}

/// Parses a SHA-256 written as hex, with optional `:`/space separators and an
/// optional `SHA256:` label.
pub fn parse_sha256(input: &str) -> Result<[u8; 32], AppError> {
    let mut t = input.trim();
    for label in ["SHA256:", "SHA-256:", "sha256:", "sha-256:"] {
        if let Some(rest) = t.strip_prefix(label) {
            t = rest.trim_start();
            break;
        }
    }
    let mut out = [0u8; 32];
    let mut n = 0usize;
    for c in t.bytes() {
        if matches!(c, b':' | b' ' | b'\t') {
            continue;
        }
        if !c.is_ascii_hexdigit() {
            return Err(AppError::BadHashChar);
        }
        if let Some(slot) = out.get_mut(n / 2) {
            let v = (c as char).to_digit(16).unwrap_or(0) as u8;
            *slot = if n.is_multiple_of(2) { v << 4 } else { *slot | v };
        }
        n += 1;
    }
    match n {
        64 => Ok(out),
        32 => Err(AppError::WrongHashType("MD5")),
        40 => Err(AppError::WrongHashType("SHA-1")),
        _ => Err(AppError::BadHashLength(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let hex = "ab".repeat(32);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(normalize(&hex).unwrap(), format!("apk:{hex}"));
        assert_eq!(normalize(&colons).unwrap(), format!("cert:{hex}"));
        assert_eq!(
            normalize(&format!("SHA256: {colons}")).unwrap(),
            format!("cert:{hex}")
        );
        assert_eq!(normalize("com.Example.app").unwrap(), "pkg:com.Example.app");
        assert_eq!(normalize("pkg:1com.x"), Err(AppError::BadPackage));
        assert_eq!(normalize(&"a".repeat(40)), Err(AppError::WrongHashType("SHA-1")));
    }
}
