//! Delivery receipts (状态报告): the gateway posts the fate of each message
//! to the callback URL. [`parse_receipts`] reads such a payload, a JSON
//! object or an array of them (or a list under `items_path`), into
//! [`Receipt`]s. The web layer exposes the endpoint; the app matches the
//! delivery ids to tasks and records `delivered` or `failed` attempts.
//!
//! Nothing is dropped silently: an item without an id comes back in
//! [`Receipts::errors`] with its position, and an unknown status as
//! [`ReceiptStatus::Unknown`].

use super::NotifyError;
use super::http::json_path;
use fanzha_core::task::ContactResult;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest receipt payload, in bytes.
pub const MAX_RECEIPT_BYTES: usize = 1024 * 1024;
/// Most receipts in one payload.
pub const MAX_RECEIPTS: usize = 10_000;

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// Where the fields are and which status words mean what (compared without
/// regard to case).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiptFormat {
    /// Dotted path to the list of receipts; empty when the payload is one
    /// receipt or a top-level array.
    pub items_path: String,
    pub id_path: String,
    pub status_path: String,
    /// Dotted path to the gateway's error code, if it sends one.
    pub error_path: String,
    pub delivered: Vec<String>,
    pub failed: Vec<String>,
    pub pending: Vec<String>,
}

impl Default for ReceiptFormat {
    fn default() -> Self {
        ReceiptFormat {
            items_path: String::new(),
            id_path: "id".into(),
            status_path: "status".into(),
            error_path: "error".into(),
            delivered: s(&["delivered", "DELIVRD", "success", "answered", "completed"]),
            failed: s(&[
                "failed",
                "UNDELIV",
                "REJECTD",
                "EXPIRED",
                "DELETED",
                "no_answer",
                "busy",
                "fail",
                "error",
            ]),
            pending: s(&["pending", "sent", "accepted", "ENROUTE", "queued", "ringing"]),
        }
    }
}

impl ReceiptFormat {
    pub fn validate(&self) -> Result<(), NotifyError> {
        if self.id_path.trim().is_empty() || self.status_path.trim().is_empty() {
            return Err(NotifyError::Config(
                "receipts.id_path and receipts.status_path are required".into(),
            ));
        }
        let all: Vec<String> = self
            .delivered
            .iter()
            .chain(&self.failed)
            .chain(&self.pending)
            .map(|w| w.to_lowercase())
            .collect();
        for (i, w) in all.iter().enumerate() {
            if all[..i].contains(w) {
                return Err(NotifyError::Config(format!(
                    "receipts: status word {w:?} is listed twice"
                )));
            }
        }
        Ok(())
    }

    fn status(&self, word: &str) -> ReceiptStatus {
        let is = |list: &[String]| list.iter().any(|w| w.eq_ignore_ascii_case(word));
        if is(&self.delivered) {
            ReceiptStatus::Delivered
        } else if is(&self.failed) {
            ReceiptStatus::Failed
        } else if is(&self.pending) {
            ReceiptStatus::Pending
        } else {
            ReceiptStatus::Unknown(word.chars().take(32).collect())
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    Delivered,
    Failed,
    /// Not final yet (sent, queued, ringing…).
    Pending,
    /// A word the format does not list (kept, at most 32 characters).
    Unknown(String),
}

impl ReceiptStatus {
    /// The attempt result to record: `delivered` or `failed`; `None` while
    /// pending or unknown.
    pub fn contact_result(&self) -> Option<ContactResult> {
        match self {
            ReceiptStatus::Delivered => Some(ContactResult::Delivered),
            ReceiptStatus::Failed => Some(ContactResult::Failed),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Receipt {
    pub delivery_id: String,
    pub status: ReceiptStatus,
    /// The gateway's error code, if any (at most 64 characters).
    pub error: Option<String>,
}

/// An item that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReceiptItemError {
    /// Position in the list (0 for a single receipt).
    pub index: usize,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize)]
pub struct Receipts {
    pub items: Vec<Receipt>,
    pub errors: Vec<ReceiptItemError>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("receipt payload larger than {MAX_RECEIPT_BYTES} bytes")]
    TooLarge,
    #[error("receipt payload is not JSON")]
    NotJson,
    #[error("receipt payload has no list at {0}")]
    NoList(String),
    #[error("receipt payload holds more than {MAX_RECEIPTS} receipts")]
    TooMany,
}

impl ReceiptError {
    pub const fn key(&self) -> &'static str {
        "notify.receipt_invalid"
    }
}

/// Reads a receipt payload.
pub fn parse_receipts(format: &ReceiptFormat, body: &[u8]) -> Result<Receipts, ReceiptError> {
    if body.len() > MAX_RECEIPT_BYTES {
        return Err(ReceiptError::TooLarge);
    }
    let v: Value = serde_json::from_slice(body).map_err(|_| ReceiptError::NotJson)?;
    let mut root = &v;
    for part in format.items_path.split('.').filter(|p| !p.is_empty()) {
        root = root
            .get(part)
            .or_else(|| part.parse::<usize>().ok().and_then(|i| root.get(i)))
            .ok_or_else(|| ReceiptError::NoList(format.items_path.clone()))?;
    }
    let items: Vec<&Value> = match root {
        Value::Array(a) => a.iter().collect(),
        Value::Object(_) if format.items_path.is_empty() => vec![root],
        _ => return Err(ReceiptError::NoList(format.items_path.clone())),
    };
    if items.len() > MAX_RECEIPTS {
        return Err(ReceiptError::TooMany);
    }
    let mut out = Receipts::default();
    for (index, item) in items.into_iter().enumerate() {
        let Some(id) = json_path(item, &format.id_path).filter(|id| !id.is_empty() && id.len() <= 128) else {
            out.errors.push(ReceiptItemError {
                index,
                reason: format!("no message id at {}", format.id_path),
            });
            continue;
        };
        let Some(word) = json_path(item, &format.status_path) else {
            out.errors.push(ReceiptItemError {
                index,
                reason: format!("no status at {}", format.status_path),
            });
            continue;
        };
        let error = if format.error_path.is_empty() {
            None
        } else {
            json_path(item, &format.error_path).map(|e| e.chars().take(64).collect())
        };
        out.items.push(Receipt {
            delivery_id: id.into_owned(),
            status: format.status(&word),
            error,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_list_and_nested() {
        let f = ReceiptFormat::default();
        let r = parse_receipts(&f, br#"{"id": "m-1", "status": "DELIVRD"}"#).unwrap();
        assert_eq!(
            r.items,
            vec![Receipt {
                delivery_id: "m-1".into(),
                status: ReceiptStatus::Delivered,
                error: None
            }]
        );
        let r = parse_receipts(
            &f,
            br#"[{"id": 7, "status": "failed", "error": "E42"}, {"status": "delivered"}, {"id": "x", "status": "weird"}]"#,
        )
        .unwrap();
        assert_eq!(r.items[0].status, ReceiptStatus::Failed);
        assert_eq!(r.items[0].delivery_id, "7");
        assert_eq!(r.items[0].error.as_deref(), Some("E42"));
        assert_eq!(
            r.errors,
            vec![ReceiptItemError {
                index: 1,
                reason: "no message id at id".into()
            }]
        );
        assert_eq!(r.items[1].status, ReceiptStatus::Unknown("weird".into()));
        let nested = ReceiptFormat {
            items_path: "data.reports".into(),
            id_path: "msg.id".into(),
            status_path: "msg.state".into(),
            ..ReceiptFormat::default()
        };
        let r = parse_receipts(
            &nested,
            br#"{"data": {"reports": [{"msg": {"id": "a", "state": "sent"}}]}}"#,
        )
        .unwrap();
        assert_eq!(r.items[0].status, ReceiptStatus::Pending);
        assert_eq!(r.items[0].status.contact_result(), None);
        assert_eq!(
            parse_receipts(&nested, b"{}"),
            Err(ReceiptError::NoList("data.reports".into()))
        );
        assert_eq!(parse_receipts(&f, b"<xml/>"), Err(ReceiptError::NotJson));
        assert_eq!(
            parse_receipts(&f, b"\"str\""),
            Err(ReceiptError::NoList(String::new()))
        );
    }

    #[test]
    fn default_format_is_valid() {
        ReceiptFormat::default().validate().unwrap();
        let mut f = ReceiptFormat::default();
        f.pending.push("Delivered".into());
        assert!(f.validate().is_err());
        assert_eq!(
            ReceiptStatus::Delivered.contact_result(),
            Some(ContactResult::Delivered)
        );
    }
}
