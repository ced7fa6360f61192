//! The allowlist (白名单): values that must never be flagged. A built-in
//! list ships with the product (`allowlist_builtin.tsv`: emergency and
//! public-service numbers, banks' and operators' service numbers, official
//! domains, public resolvers) and is kept in the store as built-in entries;
//! administrators add and remove their own.
//!
//! Matching is the index's: a domain entry covers its subdomains (`gov.cn`
//! covers `www.mps.gov.cn` and any URL on it), an IP network its addresses,
//! everything else matches exactly. Indicators the allowlist covers are
//! refused when entered, skipped on import, left out of the match index and
//! of exports, and a lookup of such a value answers "allowlisted".

use super::service::intel_gate;
use crate::{Actor, App, AppError, Page, Result};
use fanzha_core::IndicatorKind;
use fanzha_core::i18n::Msg;
use fanzha_core::indicator;
use fanzha_core::roles::Action;
use fanzha_store::{AllowEntry, AllowFilter, NewAllowEntry};
use serde::{Deserialize, Serialize};

/// The shipped list: `kind<TAB>value<TAB>note`, `#` comments.
pub const BUILTIN_TSV: &str = include_str!("allowlist_builtin.tsv");

/// The built-in entries, normalised. A line that does not normalise is left
/// out and logged (a unit test keeps the shipped file clean).
pub fn builtin_entries() -> Vec<NewAllowEntry> {
    let mut out = Vec::new();
    for (i, line) in BUILTIN_TSV.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let mut cols = t.split('\t');
        let (Some(kind), Some(value)) = (cols.next(), cols.next()) else {
            tracing::error!(line = i + 1, "built-in allowlist line has too few columns");
            continue;
        };
        let note = cols.next().unwrap_or("").trim().to_string();
        let Ok(kind) = IndicatorKind::parse(kind) else {
            tracing::error!(line = i + 1, "built-in allowlist line has an unknown kind");
            continue;
        };
        match indicator::normalize(kind, value) {
            Ok(value) => out.push(NewAllowEntry { kind, value, note }),
            Err(e) => tracing::error!(line = i + 1, error = %e, "built-in allowlist value is invalid"),
        }
    }
    out
}

/// An allowlist entry as entered.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AllowForm {
    /// Detected from the value when missing.
    #[serde(default)]
    pub kind: Option<IndicatorKind>,
    pub value: String,
    #[serde(default)]
    pub note: String,
}

/// Search of the allowlist page.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AllowQuery {
    #[serde(default)]
    pub kind: Option<IndicatorKind>,
    #[serde(default)]
    pub builtin: Option<bool>,
    /// A value or its beginning.
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub page: Option<usize>,
    #[serde(default)]
    pub per_page: Option<usize>,
}

/// What adding an entry did.
#[derive(Clone, Debug, Serialize)]
pub struct AllowAdded {
    pub id: i64,
    pub kind: IndicatorKind,
    pub value: String,
    /// Active indicators the new entry covers: they stop matching.
    pub covered_indicators: usize,
}

/// Normalises a value of a known or detected kind; the error says why not.
pub(crate) fn normalize_value(kind: Option<IndicatorKind>, raw: &str) -> Result<(IndicatorKind, String)> {
    match kind {
        Some(k) => indicator::normalize(k, raw)
            .map(|v| (k, v))
            .map_err(|e| AppError::Invalid(Msg::new("intel.error.invalid_value").arg("detail", e))),
        None => indicator::detect(raw).ok_or_else(|| {
            if raw.trim().is_empty() {
                AppError::invalid("intel.error.empty_value")
            } else {
                AppError::invalid("intel.error.unknown_kind")
            }
        }),
    }
}

impl App {
    /// The allowlist entries covering `value` (built-in or not), from the
    /// current matcher.
    pub async fn allowlisted_by(&self, kind: IndicatorKind, value: &str) -> Result<Vec<AllowEntry>> {
        self.ensure_intel().await?;
        let ids = self.intel.allow_hits(kind, value);
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(e) = self.store.get_allow_entry(id).await? {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Refuses a value the allowlist covers, naming the entry.
    pub(crate) async fn refuse_allowlisted(&self, kind: IndicatorKind, value: &str) -> Result<()> {
        if let Some(e) = self.allowlisted_by(kind, value).await?.into_iter().next() {
            return Err(AppError::Invalid(
                Msg::new("intel.error.allowlisted")
                    .arg("value", &e.value)
                    .arg("note", &e.note),
            ));
        }
        Ok(())
    }

    /// A page of allowlist entries (by kind, then value).
    pub async fn list_allowlist(&self, actor: &Actor, q: &AllowQuery) -> Result<Page<AllowEntry>> {
        if !actor.can(Action::ManageAllowlist) {
            intel_gate(actor, Action::ViewIntel)?;
        }
        let per_page = q.per_page.unwrap_or(50).clamp(1, 500);
        let page = q.page.unwrap_or(1).max(1);
        let prefix =
            q.q.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| indicator::detect(s).map_or_else(|| s.to_lowercase(), |(_, v)| v));
        let (items, total) = self
            .store
            .list_allowlist(&AllowFilter {
                kind: q.kind,
                builtin: q.builtin,
                value_prefix: prefix,
                limit: Some(per_page),
                offset: (page - 1) * per_page,
            })
            .await?;
        Ok(Page {
            items,
            total,
            page,
            per_page,
        })
    }

    /// Adds an allowlist entry (administrators). The index is rebuilt
    /// without the indicators it covers.
    pub async fn add_allow_entry(&self, actor: &Actor, f: &AllowForm) -> Result<AllowAdded> {
        intel_gate(actor, Action::ManageAllowlist)?;
        self.ensure_intel().await?;
        let (kind, value) = normalize_value(f.kind, &f.value)?;
        let note = f.note.trim();
        if note.chars().count() > 200 {
            return Err(AppError::Invalid(
                Msg::new("intel.error.text_too_long").arg("max", 200),
            ));
        }
        // Count what it covers with a matcher of the new entry alone.
        let one = fanzha_engine::index::IndexSnapshot::build([(
            1i64,
            kind,
            value.as_str(),
            fanzha_core::FraudType::Other,
            0u8,
        )])
        .map_err(|e| AppError::Invalid(Msg::new("intel.error.invalid_value").arg("detail", e)))?;
        let covered = self.covered_by(&one).await?;
        let audit = self.audit(actor, "allow.add", "", format!("kind={kind}"));
        let id = self
            .store
            .add_allow_entry(
                &NewAllowEntry {
                    kind,
                    value: value.clone(),
                    note: note.to_string(),
                },
                &audit,
            )
            .await
            .map_err(|e| match e {
                fanzha_store::StoreError::Conflict { .. } => AppError::conflict("intel.error.allow_exists"),
                other => other.into(),
            })?;
        self.refresh_allow_matcher().await?;
        self.intel_changed();
        Ok(AllowAdded {
            id,
            kind,
            value,
            covered_indicators: covered,
        })
    }

    /// Active indicators a matcher covers (a scan of the live index's
    /// source rows, page by page).
    async fn covered_by(&self, matcher: &fanzha_engine::index::IndexSnapshot) -> Result<usize> {
        let now = self.now();
        let mut n = 0;
        let mut after = 0;
        loop {
            let page = self.store.active_indicators_page(now, after, 20_000).await?;
            for a in &page {
                if matcher.for_each_hit(a.kind, &a.value, |_| {}) > 0 {
                    n += 1;
                }
            }
            match page.last() {
                Some(l) if page.len() == 20_000 => after = l.id,
                _ => return Ok(n),
            }
        }
    }

    /// Removes an administrator's entry; built-in ones stay.
    pub async fn remove_allow_entry(&self, actor: &Actor, id: i64) -> Result<()> {
        intel_gate(actor, Action::ManageAllowlist)?;
        let audit = self.audit(actor, "allow.remove", format!("allow:{id}"), "");
        self.store
            .remove_allow_entry(id, &audit)
            .await
            .map_err(|e| match e {
                fanzha_store::StoreError::Conflict { .. } => AppError::conflict("intel.error.allow_builtin"),
                fanzha_store::StoreError::NotFound { .. } => AppError::not_found("error.not_found"),
                other => other.into(),
            })?;
        self.refresh_allow_matcher().await?;
        self.intel_changed();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_line_is_valid() {
        let lines = BUILTIN_TSV
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .count();
        let entries = builtin_entries();
        assert_eq!(entries.len(), lines, "every shipped line normalises");
        let mut keys: Vec<_> = entries.iter().map(|e| (e.kind, e.value.clone())).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), entries.len(), "no entry twice");
        assert!(
            entries.iter().all(|e| !e.note.is_empty()),
            "every entry says what it is"
        );
        for (kind, value) in [
            (IndicatorKind::Phone, "+86110"),
            (IndicatorKind::Phone, "+8696110"),
            (IndicatorKind::Phone, "+8695588"),
            (IndicatorKind::Phone, "+8610086"),
            (IndicatorKind::Domain, "gov.cn"),
            (IndicatorKind::Domain, "icbc.com.cn"),
        ] {
            assert!(keys.contains(&(kind, value.to_string())), "{value}");
        }
    }
}
