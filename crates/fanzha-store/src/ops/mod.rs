//! The store's logic, written once over [`crate::db::Db`] and run by both
//! backends. Each function runs inside the transaction its caller opened.

pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod events;
pub(crate) mod intel;
pub(crate) mod migrate;
pub(crate) mod org;
pub(crate) mod residents;
pub(crate) mod tasks;
pub(crate) mod units;
pub(crate) mod users;

use crate::error::{Result, StoreError};
use crate::model::AuditRecord;

/// Longest name, address or label the store accepts, in characters.
pub(crate) const MAX_TEXT: usize = 200;

/// The audit target: the caller's, or the call's canonical one when empty.
pub(crate) fn target_or(rec: &AuditRecord, default: impl FnOnce() -> String) -> String {
    if rec.target.is_empty() {
        default()
    } else {
        rec.target.clone()
    }
}

/// A trimmed, non-empty, bounded piece of text.
pub(crate) fn required(s: &str, what: &str) -> Result<String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(StoreError::invalid(format!("{what} must not be empty")));
    }
    bounded(t, what)
}

/// A trimmed, bounded piece of text that may be empty.
pub(crate) fn bounded(s: &str, what: &str) -> Result<String> {
    let t = s.trim();
    if t.chars().count() > MAX_TEXT {
        return Err(StoreError::invalid(format!(
            "{what} is longer than {MAX_TEXT} characters"
        )));
    }
    Ok(t.to_string())
}

/// Builds `($k, $k+1, …)` for an `IN` list, binding the ids. The list is
/// padded (repeating its last id) to a power of two so that only a handful of
/// distinct statements reach the prepared-statement caches.
pub(crate) fn in_list(q: &mut crate::db::Q<'_>, ids: &[i64]) {
    q.push("(");
    let Some(last) = ids.last() else {
        q.push("NULL)");
        return;
    };
    let padded = ids.len().next_power_of_two();
    for i in 0..padded {
        if i > 0 {
            q.push(", ");
        }
        q.bind(*ids.get(i).unwrap_or(last));
    }
    q.push(")");
}

/// `"3 child nodes"`, `"1 user"`.
pub(crate) fn counted(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}
