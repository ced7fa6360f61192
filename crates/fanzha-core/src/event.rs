//! Events: what the detection engine consumes (DESIGN.md §5 "Events").
//!
//! An event is one call, SMS, web visit, app action or money transfer seen by
//! an operator, bank or platform. The app, the store, the bus and the web API
//! share this model; the engine turns events into signals.
//!
//! # Wire format (NDJSON)
//!
//! One JSON object per line. Common fields:
//!
//! | field | type | |
//! |---|---|---|
//! | `id` | string ≤ 128 bytes | optional: the source's id; when absent or empty the id is derived from the content ([`derive_event_id`]) |
//! | `ts` | integer ms since the epoch, or an RFC 3339 string (`2024-06-01T08:00:00+08:00`, `…Z`, fractions allowed) | required; not before 2000-01-01, not more than [`ParseOptions::max_future_skew_ms`] after `now` |
//! | `source` | string ≤ 64 bytes | required: who delivered the event (`cmcc`, `bank:icbc`…) |
//! | `kind` | `call`, `sms`, `web`, `app`, `transfer` | required |
//!
//! Per kind (phones in any form [`crate::phone`] accepts; stored as E.164):
//!
//! | kind | fields |
//! |---|---|
//! | `call` | `caller`, `callee` (phones), `direction` (`in`: the callee is our subscriber, `out`: the caller is), `duration_s` (integer ≥ 0, default 0), `start` (time, default `ts`), `transcript` (optional text) |
//! | `sms` | `sender`, `receiver` (phones; the receiver is the subscriber), `text` (optional) |
//! | `web` | `subscriber` (phone), `url` and/or `domain` (at least one), `ip` (optional server address) |
//! | `app` | `subscriber` (phone), `package`, `cert_sha256`, `apk_sha256` (at least one), `action` (`install`, `open`, `uninstall`) |
//! | `transfer` | `payer` (the subscriber: a phone string, or `{"kind": "bank_account", "value": "…"}`), `payee` (`{"kind": "bank_account" \| "payment_account" \| "social_account", "value": "…"}`), `amount_fen` (integer, 0 to 10^15), `channel` (optional string ≤ 32 bytes) |
//!
//! ```json
//! {"id":"c-1","ts":"2024-06-01T08:00:00+08:00","source":"cmcc","kind":"call","caller":"+8613800000001","callee":"13900000002","direction":"in","duration_s":620}
//! {"ts":1717200000000,"source":"bank:icbc","kind":"transfer","payer":"13900000002","payee":{"kind":"bank_account","value":"6222 0000 1111 2222"},"amount_fen":5000000,"channel":"mobile_banking"}
//! ```
//!
//! Unknown fields are ignored. Texts (`text`, `transcript`) are limited to
//! [`ParseOptions::max_text_bytes`] (default 4 KiB), the whole line to
//! [`MAX_LINE_BYTES`]. Errors name the field and the reason and never echo a
//! personal value (an unknown `kind` is shown as a short sanitised excerpt).
//!
//! Parsing normalises: phones to E.164, the URL to its canonical form (and its
//! host, when a name, to `domain`), domains, IPs, app hashes (lower-case hex),
//! accounts (bank accounts without the Luhn check, as banks record them).
//! [`Event`]'s `Serialize` writes the same shape with `ts` in milliseconds, so
//! a serialised event parses back to itself.
//!
//! # The subscriber
//!
//! The person we protect: the callee of an inbound call, the caller of an
//! outbound one; the SMS receiver; the web/app subscriber; the transfer payer.
//! [`Event::person_key`] hashes the subscriber's canonical value to the `u64`
//! that keys risk state and partitions the bus.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::account::{self, AccountError};
use crate::app::{self, AppError};
use crate::domain::{self, DomainError};
use crate::ip::{self, IpError};
use crate::phone::{self, PhoneError};
use crate::taxonomy::IndicatorKind;
use crate::time::{Date, Timestamp};
use crate::url::{self, UrlError};

/// Longest line [`parse_event_line`] accepts, in bytes.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Default limit for `text` and `transcript`, in bytes.
pub const DEFAULT_MAX_TEXT_BYTES: usize = 4096;
/// Longest `id`, in bytes.
pub const MAX_ID_BYTES: usize = 128;
/// Longest `source`, in bytes.
pub const MAX_SOURCE_BYTES: usize = 64;
/// Longest `channel`, in bytes.
pub const MAX_CHANNEL_BYTES: usize = 32;
/// Largest `amount_fen` (10 trillion yuan).
pub const MAX_AMOUNT_FEN: i64 = 1_000_000_000_000_000;
/// Longest call accepted, in seconds (7 days).
pub const MAX_DURATION_S: u32 = 7 * 24 * 3600;
/// 2000-01-01T00:00:00Z: earlier timestamps are rejected.
pub const MIN_TS: Timestamp = Timestamp(946_684_800_000);

/// What the parser checks against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseOptions {
    /// The current time, as the caller reads it.
    pub now: Timestamp,
    /// How far past `now` a timestamp may lie (clock skew), in ms.
    pub max_future_skew_ms: i64,
    /// Longest `text` / `transcript`, in bytes.
    pub max_text_bytes: usize,
}

impl ParseOptions {
    /// Defaults (15 minutes of skew, 4 KiB texts) at `now`.
    pub fn at(now: Timestamp) -> ParseOptions {
        ParseOptions {
            now,
            max_future_skew_ms: 15 * 60 * 1000,
            max_text_bytes: DEFAULT_MAX_TEXT_BYTES,
        }
    }
}

/// Call direction, seen from the operator's subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The callee is our subscriber.
    In,
    /// The caller is our subscriber.
    Out,
}

/// What happened to an app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppAction {
    Install,
    Open,
    Uninstall,
}

impl AppAction {
    pub const fn code(self) -> &'static str {
        match self {
            AppAction::Install => "install",
            AppAction::Open => "open",
            AppAction::Uninstall => "uninstall",
        }
    }
    pub fn parse(s: &str) -> Option<AppAction> {
        match s {
            "install" => Some(AppAction::Install),
            "open" => Some(AppAction::Open),
            "uninstall" => Some(AppAction::Uninstall),
            _ => None,
        }
    }
}

/// An account: kind and canonical value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct AccountRef {
    pub kind: IndicatorKind,
    pub value: String,
}

/// Who pays: a phone (the account holder's registered mobile) or an account.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum Party {
    Phone(String),
    Account(AccountRef),
}

/// A borrowed view of the subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PartyRef<'a> {
    Phone(&'a str),
    Account(IndicatorKind, &'a str),
}

impl Party {
    pub fn as_ref(&self) -> PartyRef<'_> {
        match self {
            Party::Phone(p) => PartyRef::Phone(p),
            Party::Account(a) => PartyRef::Account(a.kind, &a.value),
        }
    }
}

const PERSON_SEED: u64 = 0x6661_6e7a_6861_7031; // "fanzhap1"

impl<'a> PartyRef<'a> {
    /// The person key: xxh3-64 of the canonical value, seeded per kind, so a
    /// phone and an account with the same digits never collide. Stable across
    /// versions (the bus partitions by it).
    pub fn key(self) -> u64 {
        match self {
            PartyRef::Phone(p) => xxhash_rust::xxh3::xxh3_64_with_seed(p.as_bytes(), PERSON_SEED),
            PartyRef::Account(kind, v) => {
                let tag = IndicatorKind::ALL.iter().position(|k| *k == kind).unwrap_or(0) as u64 + 1;
                xxhash_rust::xxh3::xxh3_64_with_seed(v.as_bytes(), PERSON_SEED ^ (tag << 56))
            }
        }
    }
    /// The canonical value (a phone, or an account value).
    pub fn value(self) -> &'a str {
        match self {
            PartyRef::Phone(p) => p,
            PartyRef::Account(_, v) => v,
        }
    }
    /// `phone`, or the account's kind code.
    pub fn kind_code(self) -> &'static str {
        match self {
            PartyRef::Phone(_) => "phone",
            PartyRef::Account(k, _) => k.code(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Call {
    pub caller: String,
    pub callee: String,
    pub direction: Direction,
    /// When the call started (defaults to the event's `ts`).
    pub start: Timestamp,
    pub duration_s: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sms {
    pub sender: String,
    pub receiver: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Web {
    pub subscriber: String,
    /// Canonical URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Canonical domain: the `domain` field, or the URL's host when it is a name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Canonical server address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AppEvent {
    pub subscriber: String,
    /// Package name (case kept, without `pkg:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// 64 lower-case hex digits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_sha256: Option<String>,
    /// 64 lower-case hex digits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apk_sha256: Option<String>,
    pub action: AppAction,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Transfer {
    pub payer: Party,
    pub payee: AccountRef,
    pub amount_fen: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub channel: String,
}

/// The kind-specific part of an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventBody {
    Call(Call),
    Sms(Sms),
    Web(Web),
    App(AppEvent),
    Transfer(Transfer),
}

impl EventBody {
    pub const fn kind_code(&self) -> &'static str {
        match self {
            EventBody::Call(_) => "call",
            EventBody::Sms(_) => "sms",
            EventBody::Web(_) => "web",
            EventBody::App(_) => "app",
            EventBody::Transfer(_) => "transfer",
        }
    }
}

/// One event, normalised. Build it with [`parse_event_line`], or fill the
/// fields with canonical values (the engine trusts them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    pub id: String,
    pub ts: Timestamp,
    pub source: String,
    #[serde(flatten)]
    pub body: EventBody,
}

impl Event {
    /// The person we protect (see the module docs).
    pub fn subscriber(&self) -> PartyRef<'_> {
        match &self.body {
            EventBody::Call(c) => PartyRef::Phone(match c.direction {
                Direction::In => &c.callee,
                Direction::Out => &c.caller,
            }),
            EventBody::Sms(s) => PartyRef::Phone(&s.receiver),
            EventBody::Web(w) => PartyRef::Phone(&w.subscriber),
            EventBody::App(a) => PartyRef::Phone(&a.subscriber),
            EventBody::Transfer(t) => t.payer.as_ref(),
        }
    }

    /// The other party of a call or SMS.
    pub fn peer_phone(&self) -> Option<&str> {
        match &self.body {
            EventBody::Call(c) => Some(match c.direction {
                Direction::In => &c.caller,
                Direction::Out => &c.callee,
            }),
            EventBody::Sms(s) => Some(&s.sender),
            _ => None,
        }
    }

    /// [`PartyRef::key`] of the subscriber.
    pub fn person_key(&self) -> u64 {
        self.subscriber().key()
    }

    /// The event as one NDJSON line (without the newline).
    pub fn to_json_line(&self) -> String {
        // Serialising plain strings and integers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Why a line is not a valid event. Messages name the field and never echo
/// a personal value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the line is empty")]
    Empty,
    #[error("the line is too long ({len} bytes; at most {max})")]
    LineTooLong { len: usize, max: usize },
    #[error("the line is not valid UTF-8 (at byte {offset})")]
    InvalidUtf8 { offset: usize },
    #[error("not valid JSON: {reason}")]
    Json { reason: String },
    #[error("the line is not a JSON object")]
    NotObject,
    #[error("unknown event kind \"{kind}\" (expected call, sms, web, app or transfer)")]
    UnknownKind { kind: String },
    #[error("missing field `{field}`")]
    Missing { field: &'static str },
    #[error("an event of kind {kind} needs {what}")]
    MissingOneOf { kind: &'static str, what: &'static str },
    #[error("field `{field}` must be {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    #[error("field `{field}` is too long ({len} bytes; at most {max})")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("field `{field}` is empty")]
    EmptyField { field: &'static str },
    #[error("field `{field}`: {reason}")]
    BadTime { field: &'static str, reason: TimeError },
    #[error("field `{field}`: {reason}")]
    BadValue { field: &'static str, reason: ValueError },
    #[error("field `{field}` must be one of {expected}")]
    BadEnum {
        field: &'static str,
        expected: &'static str,
    },
    #[error("field `{field}` must be a whole number from {min} to {max}")]
    OutOfRange { field: &'static str, min: i64, max: i64 },
}

/// Why a timestamp was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("not an RFC 3339 time (like 2024-06-01T08:00:00+08:00) or milliseconds since the epoch")]
    Format,
    #[error("before 2000-01-01")]
    TooEarly,
    #[error("{ahead_s} s in the future (at most {max_s} s allowed)")]
    TooFarAhead { ahead_s: i64, max_s: i64 },
}

/// Why a phone, URL, domain, IP, app hash or account was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("not a valid phone number: {0}")]
    Phone(PhoneError),
    #[error("not a valid URL: {0}")]
    Url(UrlError),
    #[error("not a valid domain: {0}")]
    Domain(DomainError),
    #[error("not a valid IP address: {0}")]
    Ip(IpError),
    #[error("an address is expected, not a network")]
    IpNetwork,
    #[error("not a valid app value: {0}")]
    App(AppError),
    #[error("not a valid account: {0}")]
    Account(AccountError),
    #[error("an account kind must be bank_account, payment_account or social_account")]
    AccountKind,
}

/// A short, sanitised excerpt of a non-personal value (an unknown code).
fn code_excerpt(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(16)
        .map(|c| if c.is_control() || c == '"' { '?' } else { c })
        .collect();
    if s.chars().count() > 16 {
        out.push('…');
    }
    out
}

/// Parses and validates one NDJSON line (see the module docs). Trailing
/// `\r`/`\n` and surrounding whitespace are ignored.
pub fn parse_event_line(line: &[u8], opts: &ParseOptions) -> Result<Event, EventError> {
    if line.len() > MAX_LINE_BYTES {
        return Err(EventError::LineTooLong {
            len: line.len(),
            max: MAX_LINE_BYTES,
        });
    }
    let text = std::str::from_utf8(line).map_err(|e| EventError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(EventError::Empty);
    }
    let value: Value = serde_json::from_str(text).map_err(|e| EventError::Json {
        reason: json_reason(&e),
    })?;
    let Value::Object(obj) = value else {
        return Err(EventError::NotObject);
    };
    parse_event_object(&obj, opts)
}

/// A JSON error's reason without any of the input.
fn json_reason(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Io => "read error",
        Category::Syntax => "syntax error",
        Category::Data => "unexpected data",
        Category::Eof => "unexpected end of input",
    };
    format!("{what} at column {}", e.column())
}

/// Validates an already parsed JSON object as an event.
pub fn parse_event_object(obj: &Map<String, Value>, opts: &ParseOptions) -> Result<Event, EventError> {
    let f = Fields(obj);
    let ts = f.time("ts", opts)?.ok_or(EventError::Missing { field: "ts" })?;
    let source = f
        .string("source", MAX_SOURCE_BYTES)?
        .ok_or(EventError::Missing { field: "source" })?;
    if source.is_empty() {
        return Err(EventError::EmptyField { field: "source" });
    }
    let id = f.string("id", MAX_ID_BYTES)?.unwrap_or_default();
    if id.chars().any(char::is_control) {
        return Err(EventError::WrongType {
            field: "id",
            expected: "a string without control characters",
        });
    }
    let kind = match obj.get("kind") {
        None | Some(Value::Null) => return Err(EventError::Missing { field: "kind" }),
        Some(Value::String(s)) => s.as_str(),
        Some(_) => {
            return Err(EventError::WrongType {
                field: "kind",
                expected: "a string",
            });
        }
    };
    let body = match kind {
        "call" => {
            let caller = f.phone("caller")?;
            let callee = f.phone("callee")?;
            let direction = match f.req_str("direction")? {
                "in" => Direction::In,
                "out" => Direction::Out,
                _ => {
                    return Err(EventError::BadEnum {
                        field: "direction",
                        expected: "in, out",
                    });
                }
            };
            let start = f.time("start", opts)?.unwrap_or(ts);
            let duration_s = f.int("duration_s", 0, i64::from(MAX_DURATION_S))?.unwrap_or(0) as u32;
            let transcript = f.text("transcript", opts.max_text_bytes)?;
            EventBody::Call(Call {
                caller,
                callee,
                direction,
                start,
                duration_s,
                transcript,
            })
        }
        "sms" => EventBody::Sms(Sms {
            sender: f.phone("sender")?,
            receiver: f.phone("receiver")?,
            text: f.text("text", opts.max_text_bytes)?,
        }),
        "web" => {
            let subscriber = f.phone("subscriber")?;
            let url = match f.string("url", url::MAX_URL_LEN)? {
                Some(u) if !u.is_empty() => {
                    Some(url::canonicalize(&u).map_err(|e| EventError::BadValue {
                        field: "url",
                        reason: ValueError::Url(e),
                    })?)
                }
                _ => None,
            };
            let domain = match f.string("domain", 253 * 4)? {
                Some(d) if !d.is_empty() => {
                    Some(domain::normalize(&d).map_err(|e| EventError::BadValue {
                        field: "domain",
                        reason: ValueError::Domain(e),
                    })?)
                }
                _ => url.as_ref().and_then(|u| u.domain().map(str::to_owned)),
            };
            if url.is_none() && domain.is_none() {
                return Err(EventError::MissingOneOf {
                    kind: "web",
                    what: "a `url` or a `domain`",
                });
            }
            let ip = match f.string("ip", 64)? {
                Some(s) if !s.is_empty() => Some(ip_address(&s)?),
                _ => None,
            };
            EventBody::Web(Web {
                subscriber,
                url: url.map(url::CanonUrl::into_string),
                domain,
                ip,
            })
        }
        "app" => {
            let subscriber = f.phone("subscriber")?;
            let package = match f.string("package", 255)? {
                Some(p) if !p.is_empty() => {
                    let bare = p.strip_prefix("pkg:").unwrap_or(&p);
                    Some(app::normalize_package(bare).map_err(|e| EventError::BadValue {
                        field: "package",
                        reason: ValueError::App(e),
                    })?)
                }
                _ => None,
            };
            let cert_sha256 = f.sha256("cert_sha256")?;
            let apk_sha256 = f.sha256("apk_sha256")?;
            if package.is_none() && cert_sha256.is_none() && apk_sha256.is_none() {
                return Err(EventError::MissingOneOf {
                    kind: "app",
                    what: "a `package`, `cert_sha256` or `apk_sha256`",
                });
            }
            let action = AppAction::parse(f.req_str("action")?).ok_or(EventError::BadEnum {
                field: "action",
                expected: "install, open, uninstall",
            })?;
            EventBody::App(AppEvent {
                subscriber,
                package,
                cert_sha256,
                apk_sha256,
                action,
            })
        }
        "transfer" => {
            let payer = match obj.get("payer") {
                None | Some(Value::Null) => return Err(EventError::Missing { field: "payer" }),
                Some(Value::String(_)) => Party::Phone(f.phone("payer")?),
                Some(Value::Object(o)) => Party::Account(account_ref("payer", o)?),
                Some(_) => {
                    return Err(EventError::WrongType {
                        field: "payer",
                        expected: "a phone number or an object {kind, value}",
                    });
                }
            };
            let payee = match obj.get("payee") {
                None | Some(Value::Null) => return Err(EventError::Missing { field: "payee" }),
                Some(Value::Object(o)) => account_ref("payee", o)?,
                Some(_) => {
                    return Err(EventError::WrongType {
                        field: "payee",
                        expected: "an object {kind, value}",
                    });
                }
            };
            let amount_fen = f
                .int("amount_fen", 0, MAX_AMOUNT_FEN)?
                .ok_or(EventError::Missing { field: "amount_fen" })?;
            let channel = f.string("channel", MAX_CHANNEL_BYTES)?.unwrap_or_default();
            EventBody::Transfer(Transfer {
                payer,
                payee,
                amount_fen,
                channel,
            })
        }
        other => {
            return Err(EventError::UnknownKind {
                kind: code_excerpt(other),
            });
        }
    };
    let mut ev = Event { id, ts, source, body };
    if ev.id.is_empty() {
        ev.id = derive_event_id(&ev);
    }
    Ok(ev)
}

fn ip_address(s: &str) -> Result<String, EventError> {
    let bad = |reason| EventError::BadValue { field: "ip", reason };
    let v = ip::normalize(s).map_err(|e| bad(ValueError::Ip(e)))?;
    if v.contains('/') {
        return Err(bad(ValueError::IpNetwork));
    }
    Ok(v)
}

fn account_ref(field: &'static str, o: &Map<String, Value>) -> Result<AccountRef, EventError> {
    let bad = |reason| EventError::BadValue { field, reason };
    let kind = match o.get("kind") {
        Some(Value::String(k)) => IndicatorKind::parse(k).map_err(|_| bad(ValueError::AccountKind))?,
        _ => return Err(bad(ValueError::AccountKind)),
    };
    let raw = match o.get("value") {
        Some(Value::String(v)) => v.as_str(),
        None | Some(Value::Null) => return Err(EventError::Missing { field }),
        Some(_) => {
            return Err(EventError::WrongType {
                field,
                expected: "an object whose `value` is a string",
            });
        }
    };
    if raw.len() > crate::indicator::MAX_RAW_LEN {
        return Err(EventError::TooLong {
            field,
            len: raw.len(),
            max: crate::indicator::MAX_RAW_LEN,
        });
    }
    let value = match kind {
        IndicatorKind::BankAccount => account::normalize_bank_account_lenient(raw),
        IndicatorKind::PaymentAccount => account::normalize_payment_account(raw),
        IndicatorKind::SocialAccount => account::normalize_social_account(raw),
        _ => return Err(bad(ValueError::AccountKind)),
    }
    .map_err(|e| bad(ValueError::Account(e)))?;
    Ok(AccountRef { kind, value })
}

struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn string(&self, field: &'static str, max: usize) -> Result<Option<String>, EventError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => {
                if s.len() > max {
                    return Err(EventError::TooLong {
                        field,
                        len: s.len(),
                        max,
                    });
                }
                Ok(Some(s.trim().to_owned()))
            }
            Some(_) => Err(EventError::WrongType {
                field,
                expected: "a string",
            }),
        }
    }

    fn req_str(&self, field: &'static str) -> Result<&str, EventError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Err(EventError::Missing { field }),
            Some(Value::String(s)) => Ok(s.trim()),
            Some(_) => Err(EventError::WrongType {
                field,
                expected: "a string",
            }),
        }
    }

    /// Free text: kept as given (not trimmed); `None` when absent or empty.
    fn text(&self, field: &'static str, max: usize) -> Result<Option<String>, EventError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => {
                if s.len() > max {
                    return Err(EventError::TooLong {
                        field,
                        len: s.len(),
                        max,
                    });
                }
                Ok(Some(s.clone()))
            }
            Some(_) => Err(EventError::WrongType {
                field,
                expected: "a string",
            }),
        }
    }

    fn phone(&self, field: &'static str) -> Result<String, EventError> {
        let raw = self.req_str(field)?;
        if raw.len() > 64 {
            return Err(EventError::TooLong {
                field,
                len: raw.len(),
                max: 64,
            });
        }
        phone::normalize(raw).map_err(|e| EventError::BadValue {
            field,
            reason: ValueError::Phone(e),
        })
    }

    fn sha256(&self, field: &'static str) -> Result<Option<String>, EventError> {
        match self.string(field, 200)? {
            Some(s) if !s.is_empty() => {
                app::parse_sha256(&s)
                    .map(|h| Some(hex::encode(h)))
                    .map_err(|e| EventError::BadValue {
                        field,
                        reason: ValueError::App(e),
                    })
            }
            _ => Ok(None),
        }
    }

    fn int(&self, field: &'static str, min: i64, max: i64) -> Result<Option<i64>, EventError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
                _ => Err(EventError::OutOfRange { field, min, max }),
            },
            Some(_) => Err(EventError::WrongType {
                field,
                expected: "an integer",
            }),
        }
    }

    fn time(&self, field: &'static str, opts: &ParseOptions) -> Result<Option<Timestamp>, EventError> {
        let bad = |reason| EventError::BadTime { field, reason };
        let ts = match self.0.get(field) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(n)) => Timestamp(n.as_i64().ok_or(bad(TimeError::Format))?),
            Some(Value::String(s)) => parse_time(s).ok_or(bad(TimeError::Format))?,
            Some(_) => return Err(bad(TimeError::Format)),
        };
        check_time(ts, opts).map_err(bad)?;
        Ok(Some(ts))
    }
}

/// Checks a timestamp against [`MIN_TS`] and the allowed skew past `now`.
pub fn check_time(ts: Timestamp, opts: &ParseOptions) -> Result<(), TimeError> {
    if ts < MIN_TS {
        return Err(TimeError::TooEarly);
    }
    let limit = opts.now.0.saturating_add(opts.max_future_skew_ms.max(0));
    if ts.0 > limit {
        return Err(TimeError::TooFarAhead {
            ahead_s: ts.0.saturating_sub(opts.now.0) / 1000,
            max_s: opts.max_future_skew_ms.max(0) / 1000,
        });
    }
    Ok(())
}

/// Parses RFC 3339 (`2024-06-01T08:00:00Z`, `…+08:00`, fractions of a
/// second, `t`/space for `T`, `z` for `Z`) or a string of digits (ms since
/// the epoch). Milliseconds are kept; finer fractions are truncated.
pub fn parse_time(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    let b = s.as_bytes();
    if !b.is_empty() && b.len() <= 15 && b.iter().all(u8::is_ascii_digit) {
        return s.parse::<i64>().ok().map(Timestamp);
    }
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let d = b.get(r)?;
        if !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(d.iter().fold(0u32, |a, c| a * 10 + u32::from(c - b'0')))
    };
    let sep = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let year = num(0..4)? as i32;
    let month = num(5..7)? as u8;
    let day = num(8..10)? as u8;
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let date = Date::new(year, month, day)?;
    let mut i = 19;
    let mut ms = 0u32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                ms = ms * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 9 {
            return None;
        }
        for _ in n..3 {
            ms *= 10;
        }
    }
    let offset_s: i64 = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        c @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let o = i64::from(oh * 3600 + om * 60);
            if *c == b'-' { -o } else { o }
        }
        _ => return None,
    };
    let secs = date.days_since_epoch() * 86_400 + i64::from(h * 3600 + mi * 60 + sec) - offset_s;
    Some(Timestamp(secs * 1000 + i64::from(ms)))
}

/// The id of an event that came without one: `h` followed by the 32 hex
/// digits of the xxh3-128 of its normalised content (source, ts and every
/// kind field, separated by 0x1F; the `id` itself excluded). Redelivered
/// copies of the same event get the same id.
pub fn derive_event_id(ev: &Event) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut put = |s: &[u8]| {
        h.update(s);
        h.update(&[0x1f]);
    };
    put(ev.source.as_bytes());
    put(&ev.ts.0.to_le_bytes());
    put(ev.body.kind_code().as_bytes());
    let opt = |o: &Option<String>| o.as_deref().unwrap_or("\u{0}").as_bytes().to_vec();
    match &ev.body {
        EventBody::Call(c) => {
            put(c.caller.as_bytes());
            put(c.callee.as_bytes());
            put(if c.direction == Direction::In {
                b"in"
            } else {
                b"out"
            });
            put(&c.start.0.to_le_bytes());
            put(&c.duration_s.to_le_bytes());
            put(&opt(&c.transcript));
        }
        EventBody::Sms(s) => {
            put(s.sender.as_bytes());
            put(s.receiver.as_bytes());
            put(&opt(&s.text));
        }
        EventBody::Web(w) => {
            put(w.subscriber.as_bytes());
            put(&opt(&w.url));
            put(&opt(&w.domain));
            put(&opt(&w.ip));
        }
        EventBody::App(a) => {
            put(a.subscriber.as_bytes());
            put(&opt(&a.package));
            put(&opt(&a.cert_sha256));
            put(&opt(&a.apk_sha256));
            put(a.action.code().as_bytes());
        }
        EventBody::Transfer(t) => {
            match &t.payer {
                Party::Phone(p) => put(p.as_bytes()),
                Party::Account(a) => {
                    put(a.kind.code().as_bytes());
                    put(a.value.as_bytes());
                }
            }
            put(t.payee.kind.code().as_bytes());
            put(t.payee.value.as_bytes());
            put(&t.amount_fen.to_le_bytes());
            put(t.channel.as_bytes());
        }
    }
    format!("h{:032x}", h.digest128())
}

impl fmt::Display for PartyRef<'_> {
    /// Masked, for logs and messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartyRef::Phone(p) => f.write_str(&crate::mask::phone(p)),
            PartyRef::Account(k, v) => write!(f, "{}:{}", k.code(), crate::mask::keep_ends(v, 4, 4)),
        }
    }
}
