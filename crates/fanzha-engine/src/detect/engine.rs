//! The detector: matching, signals, risk state and lead decisions.

use std::sync::Arc;

use fanzha_core::event::{AppAction, Direction, Event, EventBody};
use fanzha_core::{FraudType, Grade, IndicatorKind, Timestamp, phone};
use serde::Serialize;

use super::rules::{CompiledRules, RulesError, default_rules};
use super::score::{Explanation, PersonAttrs, compact_id, explain, fraud_code, multipliers, score, weakest};
use super::signal::{Signal, SignalEvidence, SignalType};
use super::state::{Entry, PersonState, StateStore, state_secs, unix_ms};
use crate::index::{Hit, IndexSnapshot};
use crate::text::TextClassifier;

/// An allowlist predicate: `true` means "never flag this value". The app
/// passes its allowlist (official numbers, government domains…); values
/// arrive canonical (E.164 phones, canonical URLs and domains, `pkg:…` /
/// `cert:…` / `apk:…` app keys, account values).
pub type AllowFn<'a> = &'a (dyn Fn(IndicatorKind, &str) -> bool + Sync);

/// What the detector reads besides the event: the intel snapshot, the text
/// classifier (none: no text signals) and the app's allowlist.
#[derive(Clone, Copy)]
pub struct DetectContext<'a> {
    pub index: &'a IndexSnapshot,
    pub classifier: Option<&'a TextClassifier>,
    pub allow: Option<AllowFn<'a>>,
}

impl<'a> DetectContext<'a> {
    pub fn new(index: &'a IndexSnapshot) -> DetectContext<'a> {
        DetectContext {
            index,
            classifier: None,
            allow: None,
        }
    }
    pub fn with_classifier(mut self, c: &'a TextClassifier) -> Self {
        self.classifier = Some(c);
        self
    }
    pub fn with_allow(mut self, f: AllowFn<'a>) -> Self {
        self.allow = Some(f);
        self
    }
}

/// New lead, or an update of the person's open one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadAction {
    Raise,
    Update,
}

/// Emitted when an event raises a person's grade (DESIGN.md §5 "Leads").
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LeadDecision {
    pub action: LeadAction,
    pub person_key: u64,
    /// `phone` or the account kind of the subscriber.
    pub subscriber_kind: &'static str,
    /// The subscriber's canonical value (personal data: never log it).
    pub subscriber: String,
    pub grade: Grade,
    /// The person's grade just before this event.
    pub previous_grade: Option<Grade>,
    /// For an update: the lead's grade before it.
    pub lead_grade_before: Option<Grade>,
    pub score: f32,
    pub fraud_type: Option<FraudType>,
    /// When the lead was raised (for an update: the original raise, to the
    /// second).
    pub opened_at: Timestamp,
    /// The event that caused this decision.
    pub at: Timestamp,
    pub event_id: String,
    pub event_seq: u64,
    pub rules_version: u32,
    pub rules_name: String,
    pub explanation: Explanation,
}

/// What one event did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Outcome {
    /// Signals the event raised (empty for most events).
    pub signals: Vec<Signal>,
    /// The person's score and grade after the event; only computed when the
    /// event raised a signal.
    pub score: Option<f32>,
    pub grade: Option<Grade>,
    pub previous_grade: Option<Grade>,
    pub decision: Option<LeadDecision>,
    /// The rules that judged the event.
    pub rules_version: u32,
}

impl Outcome {
    pub fn clear(&mut self) {
        self.signals.clear();
        self.score = None;
        self.grade = None;
        self.previous_grade = None;
        self.decision = None;
        self.rules_version = 0;
    }
}

/// Counters since the detector was made.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DetectorStats {
    pub events: u64,
    pub events_with_signals: u64,
    pub signals: u64,
    pub leads_raised: u64,
    pub leads_updated: u64,
    pub allowlisted: u64,
    pub texts_classified: u64,
    pub evicted: u64,
}

/// The real-time detection kernel. One detector owns the state of the
/// persons it sees; run one per partition of the person key.
pub struct Detector {
    rules: Arc<CompiledRules>,
    states: StateStore,
    scratch: String,
    pending: Vec<(Entry, Signal)>,
    stats: DetectorStats,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("rules_version", &self.rules.version)
            .field("persons", &self.states.len())
            .finish()
    }
}

const MAX_PENDING: usize = 8;

fn best_hit(mut each: impl FnMut(&mut dyn FnMut(Hit))) -> Option<Hit> {
    let mut best: Option<Hit> = None;
    each(&mut |h: Hit| {
        let better = match &best {
            None => true,
            Some(b) => (h.confidence, std::cmp::Reverse(h.id)) > (b.confidence, std::cmp::Reverse(b.id)),
        };
        if better {
            best = Some(h);
        }
    });
    best
}

fn small_hash(s: &str) -> u32 {
    xxhash_rust::xxh3::xxh3_64(s.as_bytes()) as u32
}

impl Detector {
    pub fn new(rules: Arc<CompiledRules>) -> Detector {
        Detector {
            rules,
            states: StateStore::new(),
            scratch: String::with_capacity(80),
            pending: Vec::with_capacity(MAX_PENDING),
            stats: DetectorStats::default(),
        }
    }

    /// A detector with the shipped rules.
    pub fn with_default_rules() -> Result<Detector, RulesError> {
        Ok(Detector::new(Arc::new(default_rules()?)))
    }

    pub fn rules(&self) -> &Arc<CompiledRules> {
        &self.rules
    }

    /// Hot reload: later events are judged by `rules`. State is kept (it
    /// holds no weights) and re-scored under the new rules as persons are
    /// touched. Returns the previous rules.
    pub fn set_rules(&mut self, rules: Arc<CompiledRules>) -> Arc<CompiledRules> {
        std::mem::replace(&mut self.rules, rules)
    }

    pub fn stats(&self) -> &DetectorStats {
        &self.stats
    }

    pub fn persons_tracked(&self) -> usize {
        self.states.len()
    }

    /// Bytes allocated for risk state (table and records).
    pub fn state_bytes(&self) -> usize {
        self.states.allocated_bytes()
    }

    /// The fixed size of one person's record.
    pub const fn record_bytes() -> usize {
        size_of::<PersonState>()
    }

    /// Drops every person with no signal inside the window at `now`;
    /// returns how many.
    pub fn evict_idle(&mut self, now: Timestamp) -> usize {
        let now = state_secs(now.0);
        let w = self.rules.window_s;
        let n = self
            .states
            .evict(|p| p.newest().is_none_or(|at| now.saturating_sub(at) > w));
        self.stats.evicted += n as u64;
        n
    }

    /// The person's current score, grade and breakdown at `now`, or `None`
    /// when the person has no state.
    pub fn assess(&self, person_key: u64, now: Timestamp, attrs: &PersonAttrs) -> Option<Explanation> {
        let st = self.states.get(person_key)?;
        Some(explain(&self.rules, st.entries(), state_secs(now.0), attrs))
    }

    /// Processes one event (see [`Detector::process_into`]).
    pub fn process(&mut self, ctx: &DetectContext<'_>, ev: &Event, seq: u64, attrs: &PersonAttrs) -> Outcome {
        let mut out = Outcome::default();
        self.process_into(ctx, ev, seq, attrs, &mut out);
        out
    }

    /// Processes one event: matches its counterparty, classifies its text,
    /// applies the behaviour rules, updates the subscriber's risk state and
    /// decides on a lead. `seq` is the caller's sequence number for the
    /// event (it is what explanations refer to). `out` is cleared first and
    /// its buffers reused. Events must be normalised (see
    /// [`fanzha_core::event`]); any values are safe, none panics.
    pub fn process_into(
        &mut self,
        ctx: &DetectContext<'_>,
        ev: &Event,
        seq: u64,
        attrs: &PersonAttrs,
        out: &mut Outcome,
    ) {
        out.clear();
        self.stats.events += 1;
        let rules = &*self.rules;
        out.rules_version = rules.version;
        let now = state_secs(ev.ts.0);
        self.pending.clear();
        let allowed = |kind: IndicatorKind, v: &str| ctx.allow.is_some_and(|f| f(kind, v));
        let phone_allowed = |p: &str| rules.phone_allowed(p) || allowed(IndicatorKind::Phone, p);
        let mut key: Option<u64> = None;
        let pending = &mut self.pending;
        let mut push = |sig: SignalType,
                        fraud: Option<FraudType>,
                        strength: f32,
                        evidence: u32,
                        full: SignalEvidence| {
            if pending.len() < MAX_PENDING {
                let w = rules.weight[sig as usize];
                if w <= 0.0 {
                    return;
                }
                pending.push((
                    Entry::new(now, seq, sig as u8, fraud_code(fraud), strength, evidence),
                    Signal {
                        signal: sig,
                        fraud_type: fraud,
                        strength,
                        weight: w * strength.clamp(0.0, 1.0),
                        evidence: full,
                    },
                ));
            }
        };
        let hit_evidence = |h: &Hit| SignalEvidence::Indicator {
            indicator_id: h.id,
            kind: h.kind,
            confidence: h.confidence,
            via: h.via,
        };
        let conf = |h: &Hit| f32::from(h.confidence.min(100)) / 100.0;
        let mut classify =
            |text: &str, push: &mut dyn FnMut(SignalType, Option<FraudType>, f32, u32, SignalEvidence)| {
                let Some(c) = ctx.classifier else { return };
                self.stats.texts_classified += 1;
                let v = c.classify(text);
                if let Some(t) = v.fraud_type
                    && v.score >= rules.min_text_score
                {
                    push(
                        SignalType::TextFraud,
                        Some(t),
                        v.score,
                        small_hash(text),
                        SignalEvidence::Text {
                            score: v.score,
                            phrases: v.phrases.into_iter().map(|p| p.phrase).collect(),
                            model_label: v.model.as_ref().map(|m| m.label.clone()),
                            model_probability: v.model.map(|m| m.probability),
                        },
                    );
                }
            };

        match &ev.body {
            EventBody::Call(c) => {
                let peer = match c.direction {
                    Direction::In => &c.caller,
                    Direction::Out => &c.callee,
                };
                if phone_allowed(peer) {
                    self.stats.allowlisted += 1;
                    return;
                }
                if let Some(h) = best_hit(|f| {
                    ctx.index.lookup_phone(peer, f);
                }) {
                    let id = compact_id(h.id);
                    push(
                        SignalType::CallFlagged,
                        Some(h.fraud_type),
                        conf(&h),
                        id,
                        hit_evidence(&h),
                    );
                    if c.duration_s > rules.long_call_s {
                        push(
                            SignalType::LongCallFlagged,
                            Some(h.fraud_type),
                            conf(&h),
                            id,
                            SignalEvidence::LongCall {
                                indicator_id: h.id,
                                duration_s: c.duration_s,
                            },
                        );
                    }
                }
                // Cheapest tests first: most numbers are Chinese, and the
                // attributes may not be in cache.
                if c.direction == Direction::In
                    && !peer.starts_with("+86")
                    && c.duration_s >= rules.intl_call_min_s
                    && let Some(age) = attrs.age
                    && age >= rules.elderly_age
                    && phone::is_international(peer)
                {
                    push(
                        SignalType::IntlCallElderly,
                        None,
                        rules.behaviour_strength,
                        small_hash(peer),
                        SignalEvidence::InternationalCall { age },
                    );
                }
                if let Some(t) = &c.transcript {
                    if let Some(h) = best_link_hit(ctx.index, t, &mut self.scratch) {
                        push(
                            SignalType::LinkFlagged,
                            Some(h.fraud_type),
                            conf(&h),
                            compact_id(h.id),
                            hit_evidence(&h),
                        );
                    }
                    classify(t, &mut push);
                }
            }
            EventBody::Sms(s) => {
                if phone_allowed(&s.sender) {
                    self.stats.allowlisted += 1;
                    return;
                }
                if let Some(h) = best_hit(|f| {
                    ctx.index.lookup_phone(&s.sender, f);
                }) {
                    push(
                        SignalType::SmsFlagged,
                        Some(h.fraud_type),
                        conf(&h),
                        compact_id(h.id),
                        hit_evidence(&h),
                    );
                }
                if let Some(t) = &s.text {
                    if let Some(h) = best_link_hit(ctx.index, t, &mut self.scratch) {
                        push(
                            SignalType::LinkFlagged,
                            Some(h.fraud_type),
                            conf(&h),
                            compact_id(h.id),
                            hit_evidence(&h),
                        );
                    }
                    classify(t, &mut push);
                }
            }
            EventBody::Web(w) => {
                let url_domain = w.url.as_deref().and_then(url_host_name);
                let domain_allowed = |d: &str| rules.domain_allowed(d) || allowed(IndicatorKind::Domain, d);
                if w.url.as_deref().is_some_and(|u| allowed(IndicatorKind::Url, u))
                    || url_domain.is_some_and(domain_allowed)
                    || w.domain.as_deref().is_some_and(domain_allowed)
                    || w.ip.as_deref().is_some_and(|ip| allowed(IndicatorKind::Ip, ip))
                {
                    self.stats.allowlisted += 1;
                    return;
                }
                let hit = best_hit(|f| {
                    if let Some(u) = &w.url {
                        ctx.index.lookup_url(u, &mut *f);
                    }
                    if let Some(d) = &w.domain
                        && (w.url.is_none() || url_domain != Some(d.as_str()))
                    {
                        ctx.index.lookup_domain(d, &mut *f);
                    }
                    if let Some(ip) = &w.ip {
                        ctx.index.lookup_ip(ip, &mut *f);
                    }
                });
                if let Some(h) = hit {
                    push(
                        SignalType::WebFlagged,
                        Some(h.fraud_type),
                        conf(&h),
                        compact_id(h.id),
                        hit_evidence(&h),
                    );
                }
            }
            EventBody::App(a) => {
                let scratch = &mut self.scratch;
                let mut any_allowed = false;
                let mut best: Option<Hit> = None;
                for (prefix, v) in [
                    ("pkg:", &a.package),
                    ("cert:", &a.cert_sha256),
                    ("apk:", &a.apk_sha256),
                ] {
                    let Some(v) = v else { continue };
                    scratch.clear();
                    scratch.push_str(prefix);
                    scratch.push_str(v);
                    if allowed(IndicatorKind::App, scratch) {
                        any_allowed = true;
                        break;
                    }
                    if let Some(h) = best_hit(|f| {
                        ctx.index.lookup_app(scratch, f);
                    }) && best.is_none_or(|b| h.confidence > b.confidence)
                    {
                        best = Some(h);
                    }
                }
                if any_allowed {
                    self.stats.allowlisted += 1;
                    return;
                }
                if a.action != AppAction::Uninstall
                    && let Some(h) = best
                {
                    push(
                        SignalType::AppFlagged,
                        Some(h.fraud_type),
                        conf(&h),
                        compact_id(h.id),
                        hit_evidence(&h),
                    );
                }
                if let Some(pkg) = &a.package
                    && rules.remote_app_actions.contains(&a.action)
                    && let Some((i, app)) = rules.remote_apps.find(pkg)
                {
                    let k = *key.get_or_insert_with(|| ev.person_key());
                    let contact = self.states.get(k).and_then(|st| {
                        st.entries()
                            .iter()
                            .filter(|e| {
                                e.sig < 16
                                    && rules.contact_mask & (1 << e.sig) != 0
                                    && e.at <= now
                                    && now - e.at <= rules.window_s
                            })
                            .max_by_key(|e| e.at)
                            .copied()
                    });
                    if let Some(c) = contact {
                        let fraud = super::score::fraud_of_code(c.fraud);
                        push(
                            SignalType::RemoteAppAfterContact,
                            fraud,
                            app.strength * rules.remote_app_strength,
                            i as u32,
                            SignalEvidence::RemoteApp {
                                package: pkg.clone(),
                                app: app.name.clone(),
                            },
                        );
                    }
                }
            }
            EventBody::Transfer(t) => {
                if allowed(t.payee.kind, &t.payee.value) {
                    self.stats.allowlisted += 1;
                    return;
                }
                let mut flagged = false;
                if let Some(h) = best_hit(|f| {
                    ctx.index.lookup_account(t.payee.kind, &t.payee.value, f);
                }) {
                    flagged = true;
                    push(
                        SignalType::TransferFlagged,
                        Some(h.fraud_type),
                        conf(&h),
                        compact_id(h.id),
                        hit_evidence(&h),
                    );
                }
                if t.amount_fen >= rules.transfer_after_signal_min_fen {
                    let k = *key.get_or_insert_with(|| ev.person_key());
                    if let Some(st) = self.states.get(k) {
                        let live = |e: &&Entry| now.saturating_sub(e.at) <= rules.window_s;
                        let prior = st
                            .entries()
                            .iter()
                            .filter(live)
                            .max_by_key(|e| (e.at, e.strength));
                        if let Some(p) = prior {
                            let fraud = super::score::fraud_of_code(p.fraud);
                            let had_large = st
                                .entries()
                                .iter()
                                .filter(live)
                                .any(|e| e.sig == SignalType::FirstLargeTransfer as u8);
                            if t.amount_fen >= rules.large_transfer_fen && !had_large {
                                push(
                                    SignalType::FirstLargeTransfer,
                                    fraud,
                                    rules.behaviour_strength,
                                    (t.amount_fen / 100).clamp(0, i64::from(u32::MAX)) as u32,
                                    SignalEvidence::Transfer {
                                        amount_fen: t.amount_fen,
                                    },
                                );
                            } else if !flagged {
                                push(
                                    SignalType::TransferAfterSignal,
                                    fraud,
                                    rules.behaviour_strength,
                                    small_hash(&t.payee.value),
                                    SignalEvidence::Transfer {
                                        amount_fen: t.amount_fen,
                                    },
                                );
                            }
                        }
                    }
                }
            }
        }
        if self.pending.is_empty() {
            return;
        }
        self.stats.events_with_signals += 1;
        let key = key.unwrap_or_else(|| ev.person_key());
        let st = self.states.get_or_insert(key);
        st.expire(now, rules.window_s);
        let m = multipliers(rules, attrs);
        let before = score(rules, st.entries(), now, &m);
        for (e, _) in &self.pending {
            add_entry(rules, st, *e, now);
        }
        // Several distinct flagged numbers.
        let w = rules.weight[SignalType::ManyFlaggedContacts as usize];
        let new_contact = self
            .pending
            .iter()
            .any(|(e, _)| rules.contact_mask & (1 << e.sig) != 0);
        if w > 0.0 && new_contact {
            let distinct = distinct_flagged(rules, st, now);
            if distinct >= rules.many_flagged_min {
                let fraud = self
                    .pending
                    .iter()
                    .find(|(e, _)| rules.contact_mask & (1 << e.sig) != 0)
                    .and_then(|(e, _)| super::score::fraud_of_code(e.fraud));
                let strength = rules.behaviour_strength;
                let e = Entry::new(
                    now,
                    seq,
                    SignalType::ManyFlaggedContacts as u8,
                    fraud_code(fraud),
                    strength,
                    distinct,
                );
                add_entry(rules, st, e, now);
                if self.pending.len() < MAX_PENDING {
                    self.pending.push((
                        e,
                        Signal {
                            signal: SignalType::ManyFlaggedContacts,
                            fraud_type: fraud,
                            strength,
                            weight: w * strength,
                            evidence: SignalEvidence::FlaggedContacts { distinct },
                        },
                    ));
                }
            }
        }
        let after = score(rules, st.entries(), now, &m);
        let g_before = rules.grade_of(before.total);
        let g_after = rules.grade_of(after.total);
        self.stats.signals += self.pending.len() as u64;
        out.signals.extend(self.pending.drain(..).map(|(_, s)| s));
        out.score = Some(after.total);
        out.grade = g_after;
        out.previous_grade = g_before;
        let Some(grade) = g_after else { return };
        if g_after <= g_before || grade < rules.lead_min {
            return;
        }
        let code = grade_code(grade);
        let in_dedup = st.lead_grade > 0 && now.saturating_sub(st.lead_at) <= rules.dedup_s;
        let (action, lead_before) = if in_dedup {
            if code <= st.lead_grade {
                return;
            }
            let before = grade_of_code(st.lead_grade);
            st.lead_grade = code;
            self.stats.leads_updated += 1;
            (LeadAction::Update, before)
        } else {
            st.lead_at = now;
            st.lead_grade = code;
            self.stats.leads_raised += 1;
            (LeadAction::Raise, None)
        };
        let opened_at = match action {
            LeadAction::Raise => ev.ts,
            LeadAction::Update => Timestamp(unix_ms(st.lead_at)),
        };
        let explanation = explain(rules, st.entries(), now, attrs);
        let sub = ev.subscriber();
        out.decision = Some(LeadDecision {
            action,
            person_key: key,
            subscriber_kind: sub.kind_code(),
            subscriber: sub.value().to_owned(),
            grade,
            previous_grade: g_before,
            lead_grade_before: lead_before,
            score: after.total,
            fraud_type: explanation.fraud_type,
            opened_at,
            at: ev.ts,
            event_id: ev.id.clone(),
            event_seq: seq,
            rules_version: rules.version,
            rules_name: rules.name.to_string(),
            explanation,
        });
    }
}

/// Most links read from one text.
const MAX_LINKS: usize = 4;

/// The best indicator hit among the `http://` / `https://` links of a text
/// (scheme case-insensitive). A link ends at whitespace, a non-ASCII
/// character (Chinese text runs straight on), a quote or a bracket; trailing
/// punctuation is dropped. Texts without `://` cost one substring search.
fn best_link_hit(index: &IndexSnapshot, text: &str, scratch: &mut String) -> Option<Hit> {
    if !text.contains("://") {
        return None;
    }
    let b = text.as_bytes();
    let mut best: Option<Hit> = None;
    let mut found = 0;
    let mut i = 0;
    while i + 7 <= b.len() && found < MAX_LINKS {
        let rest = &b[i..];
        let head = rest.get(..8).unwrap_or(rest);
        let skip = if head.len() >= 7 && head[..7].eq_ignore_ascii_case(b"http://") {
            7
        } else if head.len() >= 8 && head.eq_ignore_ascii_case(b"https://") {
            8
        } else {
            i += 1;
            continue;
        };
        let mut end = i + skip;
        while end < b.len()
            && b[end].is_ascii_graphic()
            && !matches!(
                b[end],
                b'"' | b'\'' | b'<' | b'>' | b'(' | b')' | b'[' | b']' | b'{' | b'}'
            )
        {
            end += 1;
        }
        let mut link = text.get(i..end).unwrap_or("");
        link = link.trim_end_matches(['.', ',', ';', ':', '!', '?']);
        i = end.max(i + 1);
        if link.len() <= skip {
            continue;
        }
        found += 1;
        let Ok(u) = fanzha_core::url::canonicalize(link) else {
            continue;
        };
        scratch.clear();
        scratch.push_str(u.as_str());
        if let Some(h) = best_hit(|f| {
            index.lookup_url(scratch, f);
        }) && best.is_none_or(|x| h.confidence > x.confidence)
        {
            best = Some(h);
        }
    }
    best
}

/// The host of a canonical URL when it is a name (not an IP address).
fn url_host_name(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = rest.get(..end)?;
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    if host.starts_with('[') {
        return None;
    }
    let host = host.split_once(':').map_or(host, |(h, _)| h);
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    Some(host)
}

const fn grade_code(g: Grade) -> u8 {
    match g {
        Grade::Low => 1,
        Grade::Medium => 2,
        Grade::High => 3,
        Grade::Critical => 4,
    }
}

fn grade_of_code(c: u8) -> Option<Grade> {
    match c {
        1 => Some(Grade::Low),
        2 => Some(Grade::Medium),
        3 => Some(Grade::High),
        4 => Some(Grade::Critical),
        _ => None,
    }
}

/// Adds an entry, merging it with an earlier one of the same type and
/// evidence (a repeated call from the same flagged number refreshes its
/// signal rather than adding another).
fn add_entry(rules: &CompiledRules, st: &mut PersonState, e: Entry, now: u32) {
    let many = e.sig == SignalType::ManyFlaggedContacts as u8;
    let n = usize::from(st.len);
    if let Some(old) = st.entries[..n]
        .iter_mut()
        .find(|o| o.sig == e.sig && (many || o.evidence == e.evidence))
    {
        if e.at >= old.at {
            old.at = e.at;
            old.set_seq(e.seq());
            old.fraud = e.fraud;
        }
        old.strength = old.strength.max(e.strength);
        if many {
            old.evidence = old.evidence.max(e.evidence);
        }
        return;
    }
    st.push(e, |entries| weakest(rules, entries, now));
}

/// Distinct flagged numbers among the person's contact signals.
fn distinct_flagged(rules: &CompiledRules, st: &PersonState, now: u32) -> u32 {
    let hit_types =
        SignalType::CallFlagged.bit() | SignalType::SmsFlagged.bit() | SignalType::LongCallFlagged.bit();
    let mask = rules.contact_mask & hit_types;
    let mut seen = [0u32; super::state::RING];
    let mut n = 0usize;
    for e in st.entries() {
        if e.sig < 16
            && mask & (1 << e.sig) != 0
            && now.saturating_sub(e.at) <= rules.window_s
            && !seen[..n].contains(&e.evidence)
            && n < seen.len()
        {
            seen[n] = e.evidence;
            n += 1;
        }
    }
    n as u32
}
