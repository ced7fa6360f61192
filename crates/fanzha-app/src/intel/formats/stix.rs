//! STIX 2.1 bundles: import of `indicator` objects, export of a bundle.
//!
//! # Import
//!
//! The file is a bundle (`{"type": "bundle", "objects": [...]}`), a single
//! object, or a JSON array of objects. Each object is one "line" of the
//! report, numbered by its position. Objects other than indicators are
//! skipped, revoked indicators too. An indicator gives one draft per
//! alternative of its pattern ([`super::stix_pattern::disjuncts`]):
//!
//! | pattern comparison | draft |
//! |---|---|
//! | `domain-name:value = '…'` | domain |
//! | `url:value = '…'` | URL |
//! | `ipv4-addr:value = '…'`, `ipv6-addr:value = '…'` | IP or network |
//! | `file:hashes.'SHA-256' = '…'` | app, `apk:<hash>` |
//! | `x509-certificate:hashes.'SHA-256' = '…'` | app, `cert:<hash>` |
//!
//! Patterns with `AND`, `FOLLOWEDBY` or qualifiers are reported unsupported
//! whole; within an `OR`, an alternative that is not one of the above (other
//! object types or hashes, operators other than `=`, `NOT`) is reported
//! unsupported and the others are taken. `pattern_type` other than `stix`
//! is unsupported.
//!
//! Properties: `valid_from`, `valid_until`, `confidence` (0–100) as they
//! are; `id` → `external_id`; `name` and `description` → description; each
//! of `labels`: the first that names a fraud type (code, Chinese label or 165
//! label) → fraud type, the others → tags; `indicator_types` → tags.
//!
//! # Export
//!
//! One `identity` object for the producer, then one `indicator` per domain,
//! URL, IP, APK hash and certificate hash, sorted by kind and value:
//! pattern as above (`pattern_type` `stix`, `pattern_version` `2.1`),
//! `indicator_types` `["malicious-activity"]`, `labels` the fraud type code
//! then the tags, `confidence`, `valid_from` (the item's, or its creation
//! time), `valid_until` when set, `created`/`modified` from the item's
//! times, `revoked: true` for revoked items.
//!
//! Ids are deterministic: UUIDv5 in [`NAMESPACE`] of `kind:value` for
//! indicators, of `identity:<producer>` for the identity, and of the SHA-256
//! of the serialised objects for the bundle. Timestamps are RFC 3339 in UTC
//! with milliseconds.
//!
//! **Phones, bank/payment/social accounts and package names are left out**
//! (counted as [`ExportSkip::Kind`]): STIX 2.1 has no cyber-observable for
//! them, and custom `x-` observables would need an extension definition that
//! the partners' tools do not know. They go out in the CSV/XLSX exports.

use super::export::{
    ExportError, ExportItem, ExportOptions, ExportOutput, ExportSkip, IndicatorStatus, Skips, select,
};
use super::stix_pattern::{Target, disjuncts, parse_pattern, quote};
use super::time::{format_rfc3339_millis, parse_rfc3339};
use super::{Builder, IndicatorDraft, MAX_DESCRIPTION_CHARS, SkipReason, clean_text, clean_text_short};
use fanzha_core::IndicatorKind;
use fanzha_core::i18n::Msg;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The namespace of Fanzha's deterministic STIX ids.
pub const NAMESPACE: Uuid = Uuid::from_u128(0x3c5f_2b9e_8d41_4f6a_b0c7_5e19_a2d4_7f03);

pub(crate) fn parse(bytes: &[u8], b: &mut Builder<'_>) {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return b.fail(Msg::new("intel.import.empty_file"));
    }
    let v: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            return b.fail(
                Msg::new("intel.import.stix_bad_json")
                    .arg("line", e.line())
                    .arg("column", e.column()),
            );
        }
    };
    let objects: Vec<&Value> = match &v {
        Value::Object(m) if m.get("type").and_then(Value::as_str) == Some("bundle") => {
            match m.get("objects") {
                Some(Value::Array(a)) => a.iter().collect(),
                None => Vec::new(),
                Some(_) => return b.fail(Msg::new("intel.import.stix_not_bundle")),
            }
        }
        Value::Object(m) if m.get("type").is_some_and(Value::is_string) => vec![&v],
        Value::Array(a) => a.iter().collect(),
        _ => return b.fail(Msg::new("intel.import.stix_not_bundle")),
    };
    b.set_lines(objects.len());
    for (i, o) in objects.into_iter().enumerate() {
        indicator(b, i + 1, o);
    }
}

fn json_excerpt(v: &Value) -> String {
    let s = v.to_string();
    s.chars().take(super::EXCERPT_CHARS + 1).collect()
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(s)) => vec![s.as_str()],
        _ => Vec::new(),
    }
}

fn indicator(b: &mut Builder<'_>, line: usize, o: &Value) {
    let Some(m) = o.as_object() else {
        return b.reject(line, Msg::new("intel.import.stix_bad_object"), &json_excerpt(o));
    };
    if m.get("type").and_then(Value::as_str) != Some("indicator") {
        return b.skip(line, SkipReason::OtherObject);
    }
    if m.get("revoked").and_then(Value::as_bool) == Some(true) {
        return b.skip(line, SkipReason::Revoked);
    }
    let id = m.get("id").and_then(Value::as_str);
    let pattern_type = m.get("pattern_type").and_then(Value::as_str).unwrap_or("stix");
    if pattern_type != "stix" {
        return b.unsupported(
            line,
            Msg::new("intel.import.stix_pattern_type").arg("type", super::excerpt(pattern_type)),
            id.unwrap_or(""),
        );
    }
    let Some(pattern) = m.get("pattern").and_then(Value::as_str) else {
        return b.reject(line, Msg::new("intel.import.stix_no_pattern"), id.unwrap_or(""));
    };
    let parsed = match parse_pattern(pattern) {
        Ok(p) => p,
        Err(e) => {
            return b.reject(
                line,
                Msg::new("intel.import.stix_pattern_syntax").arg("detail", e),
                pattern,
            );
        }
    };
    let alternatives = match disjuncts(&parsed) {
        Ok(a) => a,
        Err(u) => {
            return b.unsupported(
                line,
                Msg::new("intel.import.stix_pattern_unsupported").arg("what", u),
                pattern,
            );
        }
    };

    let mut meta = IndicatorDraft::new(IndicatorKind::Domain, String::new());
    for (field, slot) in [
        ("valid_from", &mut meta.valid_from),
        ("valid_until", &mut meta.valid_until),
    ] {
        if let Some(t) = m.get(field) {
            match t.as_str().and_then(parse_rfc3339) {
                Some(ts) => *slot = Some(ts),
                None => {
                    return b.reject(
                        line,
                        Msg::new("intel.import.stix_bad_time").arg("field", field),
                        pattern,
                    );
                }
            }
        }
    }
    if let Some(c) = m.get("confidence") {
        match c.as_u64().filter(|c| *c <= 100) {
            Some(c) => meta.confidence = u8::try_from(c).ok(),
            None => b.note(line, Msg::new("intel.import.stix_bad_confidence")),
        }
    }
    for label in strings(m.get("labels")) {
        match super::tw165::parse_fraud_type(label) {
            Some(t) if meta.fraud_type.is_none() => meta.fraud_type = Some(t),
            _ => meta.tags.push(label.to_string()),
        }
    }
    meta.tags
        .extend(strings(m.get("indicator_types")).into_iter().map(str::to_string));
    let name = m
        .get("name")
        .and_then(Value::as_str)
        .and_then(|s| clean_text(s, MAX_DESCRIPTION_CHARS));
    let desc = m
        .get("description")
        .and_then(Value::as_str)
        .and_then(|s| clean_text(s, MAX_DESCRIPTION_CHARS));
    meta.description = match (name, desc) {
        (Some(n), Some(d)) => clean_text(&format!("{n}: {d}"), MAX_DESCRIPTION_CHARS),
        (n, d) => n.or(d),
    };
    meta.external_id = id.and_then(clean_text_short);

    for alt in alternatives {
        let (target, value) = match alt {
            Ok(x) => x,
            Err(u) => {
                b.unsupported(
                    line,
                    Msg::new("intel.import.stix_pattern_unsupported").arg("what", u),
                    pattern,
                );
                continue;
            }
        };
        let (kind, raw) = match target {
            Target::DomainName => (IndicatorKind::Domain, value),
            Target::Url => (IndicatorKind::Url, value),
            Target::Ipv4 | Target::Ipv6 => (IndicatorKind::Ip, value),
            Target::FileSha256 => (IndicatorKind::App, format!("apk:{value}")),
            Target::CertSha256 => (IndicatorKind::App, format!("cert:{value}")),
        };
        if let Some((kind, v)) = b.value(line, Some(kind), &raw) {
            let mut d = meta.clone();
            d.kind = kind;
            d.value = v;
            b.accept(line, d);
        }
    }
}

/// The pattern of an item, or `None` when STIX has no observable for it.
pub fn pattern_of(kind: IndicatorKind, value: &str) -> Option<String> {
    let (path, v) = match kind {
        IndicatorKind::Domain => ("domain-name:value", value),
        IndicatorKind::Url => ("url:value", value),
        IndicatorKind::Ip if value.contains(':') => ("ipv6-addr:value", value),
        IndicatorKind::Ip => ("ipv4-addr:value", value),
        IndicatorKind::App => {
            if let Some(h) = value.strip_prefix("apk:") {
                ("file:hashes.'SHA-256'", h)
            } else if let Some(h) = value.strip_prefix("cert:") {
                ("x509-certificate:hashes.'SHA-256'", h)
            } else {
                return None;
            }
        }
        _ => return None,
    };
    Some(format!("[{path} = {}]", quote(v)))
}

/// The deterministic id of an item's indicator.
pub fn indicator_id(kind: IndicatorKind, value: &str) -> String {
    format!(
        "indicator--{}",
        Uuid::new_v5(&NAMESPACE, format!("{}:{value}", kind.code()).as_bytes())
    )
}

#[derive(Serialize)]
struct Identity<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    spec_version: &'static str,
    id: &'a str,
    created: &'a str,
    modified: &'a str,
    name: &'a str,
    identity_class: &'static str,
}

#[derive(Serialize)]
struct Indicator<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    spec_version: &'static str,
    id: String,
    created_by_ref: &'a str,
    created: String,
    modified: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    indicator_types: [&'static str; 1],
    pattern: String,
    pattern_type: &'static str,
    pattern_version: &'static str,
    valid_from: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_until: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    labels: Vec<&'a str>,
    confidence: u8,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    revoked: bool,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Object<'a> {
    Identity(Identity<'a>),
    Indicator(Indicator<'a>),
}

#[derive(Serialize)]
struct Bundle<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    id: String,
    objects: Vec<Object<'a>>,
}

pub(crate) fn export(items: &[ExportItem], o: &ExportOptions) -> Result<ExportOutput, ExportError> {
    let mut skips = Skips::default();
    let sel = select(
        items,
        o,
        false,
        |i| pattern_of(i.kind, &i.value).is_some(),
        &mut skips,
    );
    let json = |e: serde_json::Error| ExportError::Json(e.to_string());
    let producer = o.stix_producer.trim();
    let producer = if producer.is_empty() { "Fanzha" } else { producer };
    let identity_id = format!(
        "identity--{}",
        Uuid::new_v5(&NAMESPACE, format!("identity:{producer}").as_bytes())
    );
    let created = format_rfc3339_millis(o.stix_identity_created);
    let mut objects = Vec::with_capacity(sel.len() + 1);
    objects.push(Object::Identity(Identity {
        ty: "identity",
        spec_version: "2.1",
        id: &identity_id,
        created: &created,
        modified: &created,
        name: producer,
        identity_class: "organization",
    }));
    let mut written = 0;
    for it in sel {
        if fanzha_core::indicator::normalize(it.kind, &it.value)
            .ok()
            .as_deref()
            != Some(it.value.as_str())
        {
            skips.add(ExportSkip::BadValue);
            continue;
        }
        let Some(pattern) = pattern_of(it.kind, &it.value) else {
            continue;
        };
        let valid_from = it.valid_from.unwrap_or(it.created_at);
        if it.valid_until.is_some_and(|u| u <= valid_from) {
            skips.add(ExportSkip::NotValid);
            continue;
        }
        let mut labels: Vec<&str> = it.fraud_type.map(|t| t.code()).into_iter().collect();
        labels.extend(
            it.tags
                .iter()
                .map(String::as_str)
                .filter(|t| !t.trim().is_empty()),
        );
        let ind = Indicator {
            ty: "indicator",
            spec_version: "2.1",
            id: indicator_id(it.kind, &it.value),
            created_by_ref: &identity_id,
            created: format_rfc3339_millis(it.created_at),
            modified: format_rfc3339_millis(it.updated_at.max(it.created_at)),
            name: format!("{} {}", it.kind.code(), it.value),
            description: it.description.as_deref().filter(|d| !d.trim().is_empty()),
            indicator_types: ["malicious-activity"],
            pattern,
            pattern_type: "stix",
            pattern_version: "2.1",
            valid_from: format_rfc3339_millis(valid_from),
            valid_until: it.valid_until.map(format_rfc3339_millis),
            labels,
            confidence: it.confidence.min(100),
            revoked: it.status == IndicatorStatus::Revoked,
        };
        objects.push(Object::Indicator(ind));
        written += 1;
    }
    let content = serde_json::to_vec(&objects).map_err(json)?;
    let digest = Sha256::digest(&content);
    let bundle = Bundle {
        ty: "bundle",
        id: format!("bundle--{}", Uuid::new_v5(&NAMESPACE, &digest)),
        objects,
    };
    let mut bytes = serde_json::to_vec_pretty(&bundle).map_err(json)?;
    bytes.push(b'\n');
    Ok(ExportOutput {
        bytes,
        written,
        skipped: skips.into_vec(),
    })
}
