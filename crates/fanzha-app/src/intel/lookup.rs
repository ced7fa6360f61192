//! Lookups (风险查询): is this number, URL, domain, IP, app or account known?
//!
//! A value is recognised ([`fanzha_core::indicator::detect`], or normalised
//! as a given kind), checked against the allowlist first (which wins), then
//! against the live index. Matches are confirmed against the stored rows
//! (cached for at most a second and dropped on every change made through
//! the app), so an indicator revoked a moment ago no longer counts even
//! before the index is rebuilt.
//!
//! * Staff ([`App::lookup`], [`App::lookup_batch`]): every active match,
//!   pending ones included, with kind, fraud type, confidence and status;
//!   sources, descriptions and notes only for roles that may view intel.
//!   Each call writes one audit entry (kind and counts, never the value);
//!   single lookups by API token are counted and audited per user in one
//!   entry every few seconds instead.
//! * The public ([`App::public_lookup`]): a verdict and fraud types only.
//!   Rate-limited per address. A pending indicator counts only from
//!   [`super::IntelConfig::public_pending_min_confidence`] and never when it
//!   came from a public report, so reports alone cannot flag a number. Every
//!   counted match is a sighting.

use super::allowlist::normalize_value;
use super::service::intel_gate;
use crate::{Actor, App, AppError, Result};
use fanzha_core::i18n::Msg;
use fanzha_core::roles::Action;
use fanzha_core::{FraudType, IndicatorKind, Timestamp};
use fanzha_engine::index::{Hit, MatchVia};
use fanzha_store::{Indicator, IndicatorSource, IndicatorStatus};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// The answer of a lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// At least one active indicator matches.
    Flagged,
    /// The allowlist covers the value.
    Allowlisted,
    /// Nothing matches.
    Clean,
    /// The value could not be recognised (batch lookups only; a single
    /// lookup answers with an error).
    Invalid,
}

/// How an indicator matched the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// The same value.
    Exact,
    /// A domain indicator for the value's domain or a parent of it (for a
    /// URL: of its host).
    Domain,
    /// An IP network containing the address.
    Cidr,
}

/// One indicator that matched.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LookupMatch {
    pub indicator_id: i64,
    pub kind: IndicatorKind,
    /// The indicator's own value (e.g. the parent domain that matched).
    pub value: String,
    #[serde(rename = "match")]
    pub matched: MatchKind,
    pub fraud_type: FraudType,
    pub confidence: u8,
    pub status: IndicatorStatus,
    pub valid_until: Option<Timestamp>,
    /// Only for roles that may view intel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// An allowlist entry that covers the value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AllowMatch {
    pub kind: IndicatorKind,
    pub value: String,
    pub note: String,
    pub builtin: bool,
}

/// The answer for one value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LookupResult {
    /// The value as given (trimmed).
    pub value: String,
    pub kind: Option<IndicatorKind>,
    /// Its canonical form.
    pub canonical: Option<String>,
    pub verdict: Verdict,
    /// Highest confidence among the matches.
    pub max_confidence: Option<u8>,
    pub matches: Vec<LookupMatch>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowlisted_by: Vec<AllowMatch>,
    /// Why the value was not recognised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Msg>,
}

/// What the public sees.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PublicLookup {
    pub kind: IndicatorKind,
    pub verdict: Verdict,
    /// The fraud types reported for it (empty unless flagged).
    pub fraud_types: Vec<FraudType>,
}

fn matched(via: MatchVia) -> MatchKind {
    match via {
        MatchVia::Exact => MatchKind::Exact,
        MatchVia::Domain { .. } => MatchKind::Domain,
        MatchVia::Cidr { .. } => MatchKind::Cidr,
    }
}

/// A recognised value and its index hits.
struct Probe {
    value: String,
    kind: IndicatorKind,
    canonical: String,
    allow: Vec<i64>,
    hits: Vec<Hit>,
}

impl App {
    fn probe(&self, raw: &str, kind: Option<IndicatorKind>) -> Result<Probe> {
        let (kind, canonical) = normalize_value(kind, raw)?;
        let allow = self.intel.allow_hits(kind, &canonical);
        let mut hits = Vec::new();
        if allow.is_empty() {
            self.intel.index.for_each_hit(kind, &canonical, |h| hits.push(h));
        }
        Ok(Probe {
            value: raw.trim().to_string(),
            kind,
            canonical,
            allow,
            hits,
        })
    }

    /// The store's rows of the hits, live ones only.
    async fn live_rows(&self, ids: &[i64]) -> Result<HashMap<i64, Indicator>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let now = self.now();
        let mut out = HashMap::with_capacity(ids.len());
        let mut missing = Vec::new();
        let epoch = {
            let cache = super::state::lock(&self.intel.rows);
            for id in ids {
                match cache.get(*id) {
                    Some(r) => {
                        out.insert(r.id, r.clone());
                    }
                    None => missing.push(*id),
                }
            }
            cache.epoch
        };
        if !missing.is_empty() {
            let rows = self.store.indicators_by_ids(&missing).await?;
            super::state::lock(&self.intel.rows).put(epoch, &rows);
            out.extend(rows.into_iter().map(|r| (r.id, r)));
        }
        out.retain(|_, i| i.is_live_at(now));
        Ok(out)
    }

    async fn allow_matches(&self, ids: &[i64]) -> Result<Vec<AllowMatch>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(e) = self.store.get_allow_entry(*id).await? {
                out.push(AllowMatch {
                    kind: e.kind,
                    value: e.value,
                    note: e.note,
                    builtin: e.builtin,
                });
            }
        }
        Ok(out)
    }

    fn result_of(
        &self,
        p: Probe,
        rows: &HashMap<i64, Indicator>,
        allowlisted_by: Vec<AllowMatch>,
        detailed: bool,
    ) -> LookupResult {
        let mut matches: Vec<LookupMatch> = Vec::new();
        for h in &p.hits {
            let Some(i) = rows.get(&h.id) else { continue };
            if matches.iter().any(|m| m.indicator_id == h.id) {
                continue;
            }
            matches.push(LookupMatch {
                indicator_id: i.id,
                kind: i.kind,
                value: i.value.clone(),
                matched: matched(h.via),
                fraud_type: i.fraud_type,
                confidence: i.confidence,
                status: i.status,
                valid_until: i.valid_until,
                source: detailed.then(|| i.source.code()),
                description: detailed.then(|| i.description.clone()).filter(|d| !d.is_empty()),
                notes: detailed.then(|| i.notes.clone()).filter(|n| !n.is_empty()),
            });
        }
        matches.sort_by(|a, b| {
            b.confidence
                .cmp(&a.confidence)
                .then(a.indicator_id.cmp(&b.indicator_id))
        });
        let verdict = if !p.allow.is_empty() {
            Verdict::Allowlisted
        } else if matches.is_empty() {
            Verdict::Clean
        } else {
            Verdict::Flagged
        };
        LookupResult {
            value: p.value,
            kind: Some(p.kind),
            canonical: Some(p.canonical),
            verdict,
            max_confidence: matches.iter().map(|m| m.confidence).max(),
            matches,
            allowlisted_by,
            error: None,
        }
    }

    /// Looks one value up (staff). `kind` forces the kind; otherwise it is
    /// detected. An unrecognised value is an error.
    pub async fn lookup(
        &self,
        actor: &Actor,
        raw: &str,
        kind: Option<IndicatorKind>,
    ) -> Result<LookupResult> {
        if !actor.can(Action::LookupIntel) {
            intel_gate(actor, Action::ViewIntel)?;
        }
        self.ensure_intel().await?;
        let p = self.probe(raw, kind)?;
        let ids: Vec<i64> = p.hits.iter().map(|h| h.id).collect();
        let rows = self.live_rows(&ids).await?;
        let allow = self.allow_matches(&p.allow).await?;
        let r = self.result_of(p, &rows, allow, actor.can(Action::ViewIntel));
        if actor.via == crate::AuthVia::Token {
            // Machine clients: tallied and audited per user in one entry.
            self.tally_lookup(actor, r.verdict == Verdict::Flagged);
            return Ok(r);
        }
        let detail = format!(
            "kind={} verdict={} matches={}",
            r.kind.map_or("?", |k| k.code()),
            verdict_code(r.verdict),
            r.matches.len()
        );
        let audit = self.audit(actor, "intel.lookup", "", detail);
        self.store.append_audit(&audit).await?;
        Ok(r)
    }

    /// Looks up to [`super::IntelConfig::max_batch_lookup`] values at once;
    /// an unrecognised value gets [`Verdict::Invalid`] and its reason. One
    /// audit entry for the batch.
    pub async fn lookup_batch(
        &self,
        actor: &Actor,
        values: &[String],
        kind: Option<IndicatorKind>,
    ) -> Result<Vec<LookupResult>> {
        if !actor.can(Action::LookupIntel) {
            intel_gate(actor, Action::ViewIntel)?;
        }
        let max = self.cfg.intel.max_batch_lookup;
        if values.len() > max {
            return Err(AppError::Invalid(
                Msg::new("intel.error.too_many").arg("max", max),
            ));
        }
        self.ensure_intel().await?;
        let probes: Vec<std::result::Result<Probe, (String, Msg)>> = values
            .iter()
            .map(|v| self.probe(v, kind).map_err(|e| (v.trim().to_string(), e.msg())))
            .collect();
        let mut ids: Vec<i64> = probes
            .iter()
            .filter_map(|p| p.as_ref().ok())
            .flat_map(|p| p.hits.iter().map(|h| h.id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let rows = self.live_rows(&ids).await?;
        let mut allow_ids: Vec<i64> = probes
            .iter()
            .filter_map(|p| p.as_ref().ok())
            .flat_map(|p| p.allow.iter().copied())
            .collect();
        allow_ids.sort_unstable();
        allow_ids.dedup();
        let allow: HashMap<i64, AllowMatch> = {
            let mut m = HashMap::new();
            for id in allow_ids {
                if let Some(a) = self.allow_matches(&[id]).await?.pop() {
                    m.insert(id, a);
                }
            }
            m
        };
        let detailed = actor.can(Action::ViewIntel);
        let mut out = Vec::with_capacity(probes.len());
        let (mut flagged, mut invalid) = (0, 0);
        for p in probes {
            match p {
                Ok(p) => {
                    let by = p.allow.iter().filter_map(|id| allow.get(id).cloned()).collect();
                    let r = self.result_of(p, &rows, by, detailed);
                    flagged += usize::from(r.verdict == Verdict::Flagged);
                    out.push(r);
                }
                Err((value, msg)) => {
                    invalid += 1;
                    out.push(LookupResult {
                        value,
                        kind: None,
                        canonical: None,
                        verdict: Verdict::Invalid,
                        max_confidence: None,
                        matches: Vec::new(),
                        allowlisted_by: Vec::new(),
                        error: Some(msg),
                    });
                }
            }
        }
        let detail = format!("values={} flagged={flagged} invalid={invalid}", values.len());
        let audit = self.audit(actor, "intel.lookup.batch", "", detail);
        self.store.append_audit(&audit).await?;
        Ok(out)
    }

    /// The public lookup: verdict and fraud types only, rate-limited per
    /// client address (`ip`), and counted as a sighting of each indicator
    /// that made the verdict.
    pub async fn public_lookup(
        &self,
        raw: &str,
        kind: Option<IndicatorKind>,
        ip: &str,
    ) -> Result<PublicLookup> {
        if !self.intel.lookup_limiter.allow(ip, self.now()) {
            return Err(AppError::RateLimited);
        }
        self.ensure_intel().await?;
        let p = self.probe(raw, kind)?;
        if !p.allow.is_empty() {
            return Ok(PublicLookup {
                kind: p.kind,
                verdict: Verdict::Allowlisted,
                fraud_types: Vec::new(),
            });
        }
        let ids: Vec<i64> = p.hits.iter().map(|h| h.id).collect();
        let rows = self.live_rows(&ids).await?;
        let min = self.cfg.intel.public_pending_min_confidence;
        let counted: Vec<&Indicator> = rows
            .values()
            .filter(|i| match i.status {
                IndicatorStatus::Confirmed | IndicatorStatus::Disposed => true,
                IndicatorStatus::Pending => i.confidence >= min && i.source != IndicatorSource::PublicReport,
                IndicatorStatus::Revoked | IndicatorStatus::Expired => false,
            })
            .collect();
        let fraud_types: BTreeSet<FraudType> = counted.iter().map(|i| i.fraud_type).collect();
        let seen: Vec<i64> = counted.iter().map(|i| i.id).collect();
        self.record_sightings(&seen);
        Ok(PublicLookup {
            kind: p.kind,
            verdict: if counted.is_empty() {
                Verdict::Clean
            } else {
                Verdict::Flagged
            },
            fraud_types: fraud_types.into_iter().collect(),
        })
    }
}

fn verdict_code(v: Verdict) -> &'static str {
    match v {
        Verdict::Flagged => "flagged",
        Verdict::Allowlisted => "allowlisted",
        Verdict::Clean => "clean",
        Verdict::Invalid => "invalid",
    }
}
