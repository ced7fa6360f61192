//! Leads (线索): the list with filters, the detail with its evidence
//! timeline and an audited reveal of the subscriber, and the import of leads
//! pushed by an upper-level center (上级推送). Every read goes through the
//! app's gate: a lead outside the user's scope is "not found".

use super::common::{
    Signed, back_to_record, clip, err_text, fail, is_form_error, node_options, opt_num, query_prefix,
    size_text, status_of,
};
use crate::auth::Ctx;
use crate::error::{Path, Query};
use crate::render::page;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fanzha_app::detect::leads::{LeadQuery, LeadView};
use fanzha_app::detect::{LeadSource, LeadStatus};
use fanzha_app::{Actor, AppError};
use fanzha_core::i18n::{Lang, Msg, has, tr};
use fanzha_core::roles::Action;
use fanzha_core::time::Date;
use fanzha_core::{FraudType, Grade, IndicatorKind, NodeId, Timestamp};
use minijinja::context;
use minijinja::value::{Serde, Value};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Rows per page of the list.
const PER_PAGE: usize = 50;

/// Grades, most severe first.
pub(crate) const GRADES: [Grade; 4] = [Grade::Critical, Grade::High, Grade::Medium, Grade::Low];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/leads", get(list))
        .route("/leads/import", get(import_page).post(import))
        .route("/leads/{id}", get(detail))
        .route("/leads/{id}/reveal", back_to_record("/leads").post(reveal))
}

fn forbidden(action: Action) -> AppError {
    AppError::Forbidden(Msg::new("error.forbidden_action").arg("action", action.code()))
}

/// A date (`YYYY-MM-DD`) or a local time (`YYYY-MM-DDTHH:MM[:SS]`, also
/// with a space) in China time (UTC+8), as a timestamp.
pub(crate) fn local_time(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    let (date, time) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut d = date.split('-');
    let y: i32 = d.next()?.parse().ok()?;
    let m: u8 = d.next()?.parse().ok()?;
    let day: u8 = d.next()?.parse().ok()?;
    if d.next().is_some() || !(1900..=9999).contains(&y) {
        return None;
    }
    let date = Date::new(y, m, day)?;
    let mut secs = 0i64;
    if let Some(t) = time {
        let parts: Vec<&str> = t.split(':').collect();
        if !(2..=3).contains(&parts.len()) {
            return None;
        }
        let n: Vec<i64> = parts
            .iter()
            .map(|p| p.parse::<i64>().ok())
            .collect::<Option<_>>()?;
        let sec = n.get(2).copied().unwrap_or(0);
        if !(0..24).contains(&n[0]) || !(0..60).contains(&n[1]) || !(0..60).contains(&sec) {
            return None;
        }
        secs = n[0] * 3600 + n[1] * 60 + sec;
    }
    Some(Timestamp(
        (date.days_since_epoch() * 86_400 + secs - 8 * 3600) * 1000,
    ))
}

/// A timestamp as the value of a `datetime-local` input, China time.
pub(crate) fn local_input(ts: Timestamp) -> String {
    let local = ts.0 + 8 * 3600 * 1000;
    let d = Date::from_timestamp(Timestamp(local));
    let secs = local.div_euclid(1000).rem_euclid(86_400);
    format!("{d}T{:02}:{:02}", secs / 3600, (secs % 3600) / 60)
}

// ---- list ----

/// The filters as typed, kept as text so that bad input is reported and
/// shown again instead of failing the page.
#[derive(Deserialize, Default, Clone)]
struct ListQ {
    #[serde(default)]
    grade: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    fraud_type: Option<String>,
    #[serde(default)]
    node: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    page: Option<String>,
}

fn field(v: &Option<String>, max: usize) -> String {
    clip(v.as_deref().unwrap_or("").trim(), max)
}

fn bad_filter(field_key: &str) -> AppError {
    AppError::Invalid(Msg::new("lead.bad_filter").arg("field", field_key))
}

impl ListQ {
    fn parse(&self) -> Result<LeadQuery, AppError> {
        let text = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let grade = match text(&self.grade) {
            None => None,
            Some(g) => Some(Grade::parse(&g).map_err(|_| bad_filter("lead.grade"))?),
        };
        let status = match text(&self.status) {
            None => None,
            Some(s) => Some(LeadStatus::parse(&s).ok_or_else(|| bad_filter("lead.status"))?),
        };
        let fraud_type = match text(&self.fraud_type) {
            None => None,
            Some(f) => Some(FraudType::parse(&f).map_err(|_| bad_filter("lead.fraud_type"))?),
        };
        let source = match text(&self.source) {
            None => None,
            Some(s) => Some(LeadSource::parse(&s).ok_or_else(|| bad_filter("lead.source"))?),
        };
        let from = match text(&self.from) {
            None => None,
            Some(s) => Some(local_time(&s).ok_or_else(|| bad_filter("lead.from"))?),
        };
        // A date "to" includes its whole day.
        let to = match text(&self.to) {
            None => None,
            Some(s) => {
                let t = local_time(&s).ok_or_else(|| bad_filter("lead.to"))?;
                Some(if s.len() <= 10 {
                    Timestamp(t.0 + 86_400_000)
                } else {
                    t
                })
            }
        };
        if let (Some(f), Some(t)) = (from, to)
            && t <= f
        {
            return Err(AppError::invalid("lead.bad_range"));
        }
        let page = opt_num::<usize>(self.page.as_deref(), "pages.page")?;
        if page.is_some_and(|p| p == 0 || p > 1_000_000) {
            return Err(AppError::Invalid(
                Msg::new("pages.bad_number").arg("field", "pages.page"),
            ));
        }
        Ok(LeadQuery {
            grade,
            status,
            fraud_type,
            node: opt_num::<i64>(self.node.as_deref(), "org.node")?.map(NodeId),
            source,
            from,
            to,
            page,
            per_page: Some(PER_PAGE),
        })
    }

    /// The filters as a query string (without page), for the pager.
    fn filters(&self) -> String {
        query_prefix(&[
            ("grade", &field(&self.grade, 20)),
            ("status", &field(&self.status, 20)),
            ("fraud_type", &field(&self.fraud_type, 40)),
            ("node", &field(&self.node, 20)),
            ("source", &field(&self.source, 20)),
            ("from", &field(&self.from, 20)),
            ("to", &field(&self.to, 20)),
        ])
    }
}

#[derive(Serialize)]
struct Row {
    id: i64,
    grade: &'static str,
    score: String,
    fraud_type: Option<&'static str>,
    status: &'static str,
    source: &'static str,
    subscriber: String,
    name: Option<String>,
    node: String,
    opened_at: i64,
    updated_at: i64,
    updates: i64,
    rules_version: Option<i64>,
}

#[derive(Serialize)]
struct Opt {
    code: &'static str,
    label: String,
}

fn opts_of<T: Copy>(items: &[T], code: fn(T) -> &'static str, label: impl Fn(T) -> String) -> Vec<Opt> {
    items
        .iter()
        .map(|x| Opt {
            code: code(*x),
            label: label(*x),
        })
        .collect()
}

fn lang_code(lang: Lang) -> &'static str {
    if lang == Lang::En { "en" } else { "zh" }
}

/// Names of the nodes in the user's scope, with the village for grids
/// (grid names repeat across villages).
async fn node_names(
    st: &AppState,
    actor: &Actor,
) -> Result<(Vec<super::common::NodeOpt>, HashMap<i64, String>), AppError> {
    let tree = st.app.org_nodes(actor).await?;
    let opts = node_options(&tree);
    let names = opts
        .iter()
        .map(|o| {
            let parts: Vec<&str> = o.trail.split(" / ").collect();
            (o.id, parts[parts.len().saturating_sub(2)..].join(" "))
        })
        .collect();
    Ok((opts, names))
}

async fn list(State(st): State<AppState>, Signed(ctx, actor): Signed, Query(q): Query<ListQ>) -> Response {
    if !actor.can(Action::ViewLeads) {
        return fail(&ctx, forbidden(Action::ViewLeads));
    }
    let (nodes, names) = match node_names(&st, &actor).await {
        Ok(x) => x,
        Err(e) => return fail(&ctx, e),
    };
    let (result, error) = match q.parse() {
        Ok(query) => match st.app.leads(&actor, &query).await {
            Ok(p) => (Some(p), None),
            // A node filter outside the scope is bad input here, not a missing page.
            Err(AppError::NotFound(_)) => (None, Some(bad_filter("org.node"))),
            Err(e) if is_form_error(&e) => (None, Some(e)),
            Err(e) => return fail(&ctx, e),
        },
        Err(e) => (None, Some(e)),
    };
    let rows: Vec<Row> = result
        .as_ref()
        .map(|p| {
            p.items
                .iter()
                .map(|l| Row {
                    id: l.id,
                    grade: l.grade.code(),
                    score: format!("{:.1}", l.score_milli as f64 / 1000.0),
                    fraud_type: l.fraud_type.map(|f| f.code()),
                    status: l.status.code(),
                    source: l.source.code(),
                    subscriber: l.subscriber_masked.clone(),
                    name: l.name_masked.clone(),
                    node: l
                        .node_id
                        .and_then(|n| names.get(&n.0).cloned())
                        .or_else(|| l.node_name.clone())
                        .unwrap_or_default(),
                    opened_at: l.opened_at.0,
                    updated_at: l.updated_at.0,
                    updates: l.updates,
                    rules_version: l.rules_version,
                })
                .collect()
        })
        .unwrap_or_default();
    let l = lang_code(ctx.lang);
    let filters = q.filters();
    let status = error.as_ref().map(status_of).unwrap_or(StatusCode::OK);
    let html = page(
        &st,
        &ctx,
        "leads.html",
        context! {
            rows => Serde(&rows),
            total => result.as_ref().map(|p| p.total).unwrap_or(0),
            page_no => result.as_ref().map(|p| p.page).unwrap_or(1),
            pages => result.as_ref().map(|p| p.pages()).unwrap_or(1),
            pager_base => format!("/leads?{filters}"),
            nodes => Serde(&nodes),
            grades => Serde(opts_of(&GRADES, Grade::code, |g| g.label(l).to_string())),
            statuses => Serde(opts_of(LeadStatus::ALL, LeadStatus::code, |s| tr(ctx.lang, &format!("lead_status.{}", s.code())).to_string())),
            sources => Serde(opts_of(LeadSource::ALL, LeadSource::code, |s| tr(ctx.lang, &format!("lead_source.{}", s.code())).to_string())),
            fraud_types => Serde(opts_of(FraudType::ALL, FraudType::code, |f| f.label(l).to_string())),
            f => context! {
                grade => field(&q.grade, 20),
                status => field(&q.status, 20),
                fraud_type => field(&q.fraud_type, 40),
                node => field(&q.node, 20),
                source => field(&q.source, 20),
                from => field(&q.from, 20),
                to => field(&q.to, 20),
            },
            more_open => [&q.fraud_type, &q.node, &q.source, &q.from, &q.to]
                .iter()
                .any(|v| v.as_deref().is_some_and(|s| !s.trim().is_empty())),
            can_import => actor.can(Action::ImportLeads),
            error => error.as_ref().map(|e| err_text(&ctx, e)),
        },
    );
    (status, html).into_response()
}

// ---- detail and reveal ----

/// One label and value of an event or of a signal's evidence.
#[derive(Serialize)]
struct Pair {
    label: String,
    value: String,
    mono: bool,
}

fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let f = fen.unsigned_abs();
    format!("{sign}{}.{:02}", f / 100, f % 100)
}

fn label_of(lang: Lang, prefix: &str, key: &str) -> String {
    let k = format!("{prefix}.{key}");
    if has(&k) {
        tr(lang, &k).to_string()
    } else {
        key.to_string()
    }
}

fn kind_label(lang: Lang, code: &str) -> String {
    IndicatorKind::parse(code)
        .map(|k| k.label(lang_code(lang)).to_string())
        .unwrap_or_else(|_| code.to_string())
}

fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{f:.2}"),
            _ => n.to_string(),
        },
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Array(a) => a.iter().map(scalar).collect::<Vec<_>>().join("、"),
        serde_json::Value::Object(o) => match (o.get("kind"), o.get("value")) {
            (Some(k), Some(v)) => format!("{} {}", scalar(k), scalar(v)),
            _ => serde_json::Value::Object(o.clone()).to_string(),
        },
        serde_json::Value::Null => "—".into(),
    }
}

/// The order event fields are shown in: the parties first, the event id last.
const FIELD_ORDER: &[&str] = &[
    "caller",
    "callee",
    "sender",
    "receiver",
    "subscriber",
    "payer",
    "payee",
    "amount_fen",
    "channel",
    "direction",
    "start",
    "duration_s",
    "text",
    "transcript",
    "url",
    "domain",
    "ip",
    "package",
    "action",
    "cert_sha256",
    "apk_sha256",
    "id",
];

/// A duration in seconds as minutes and seconds.
fn duration(lang: Lang, secs: i64) -> String {
    Msg::new("lead.duration")
        .arg("m", secs / 60)
        .arg("s", secs % 60)
        .render(lang)
}

/// The fields of a masked event, labelled (the time, kind and source are
/// shown apart).
fn event_pairs(lang: Lang, ev: &serde_json::Value) -> Vec<Pair> {
    let Some(obj) = ev.as_object() else {
        return Vec::new();
    };
    let mut keys: Vec<&String> = obj.keys().collect();
    keys.sort_by_key(|k| {
        FIELD_ORDER
            .iter()
            .position(|o| o == k)
            .unwrap_or(FIELD_ORDER.len())
    });
    let mut out = Vec::new();
    for k in keys {
        let v = &obj[k];
        if matches!(k.as_str(), "ts" | "kind" | "source") || v.is_null() {
            continue;
        }
        let value = match (k.as_str(), v) {
            ("amount_fen", serde_json::Value::Number(n)) => {
                format!("{} {}", yuan(n.as_i64().unwrap_or(0)), tr(lang, "lead.yuan"))
            }
            ("start", serde_json::Value::Number(n)) => crate::render::datetime(n.as_i64().unwrap_or(0)),
            ("duration_s", serde_json::Value::Number(n)) => duration(lang, n.as_i64().unwrap_or(0)),
            ("direction", serde_json::Value::String(d)) => label_of(lang, "lead.dir", d),
            ("payer" | "payee", serde_json::Value::Object(o)) => format!(
                "{} {}",
                kind_label(lang, o.get("kind").and_then(|k| k.as_str()).unwrap_or("")),
                o.get("value").map(scalar).unwrap_or_default()
            ),
            _ => scalar(v),
        };
        let mono = !matches!(
            k.as_str(),
            "text" | "transcript" | "direction" | "channel" | "action"
        );
        out.push(Pair {
            label: label_of(lang, "lead.f", k),
            value,
            mono,
        });
    }
    out
}

/// A signal's evidence, labelled.
fn evidence_pairs(lang: Lang, ev: &serde_json::Value) -> (String, Vec<Pair>) {
    let Some(obj) = ev.as_object() else {
        return (String::new(), Vec::new());
    };
    let kind = obj
        .get("type")
        .and_then(|t| t.as_str())
        .map(|t| label_of(lang, "lead.evtype", t))
        .unwrap_or_default();
    let mut out = Vec::new();
    for (k, v) in obj {
        if matches!(k.as_str(), "type" | "start" | "end") || v.is_null() {
            continue;
        }
        let value = match (k.as_str(), v) {
            ("kind", serde_json::Value::String(c)) => kind_label(lang, c),
            ("via", serde_json::Value::String(c)) => label_of(lang, "lead.via", c),
            ("indicator_id", n) => format!("#{}", scalar(n)),
            ("amount_fen", serde_json::Value::Number(n)) => {
                format!("{} {}", yuan(n.as_i64().unwrap_or(0)), tr(lang, "lead.yuan"))
            }
            ("duration_s", serde_json::Value::Number(n)) => duration(lang, n.as_i64().unwrap_or(0)),
            _ => scalar(v),
        };
        out.push(Pair {
            label: label_of(lang, "lead.ev", k),
            value,
            mono: false,
        });
    }
    (kind, out)
}

#[derive(Default)]
struct Revealed {
    subscriber: Option<String>,
}

/// Each (event, signal)'s contribution to the score, from the explanation.
fn contributions(v: &LeadView) -> HashMap<(i64, String), f64> {
    let mut out = HashMap::new();
    if let Some(sigs) = v.explanation.get("signals").and_then(|s| s.as_array()) {
        for s in sigs {
            let seq = s.get("event_seq").and_then(|x| x.as_i64());
            let sig = s.get("signal").and_then(|x| x.as_str());
            let c = s.get("contribution").and_then(|x| x.as_f64());
            if let (Some(seq), Some(sig), Some(c)) = (seq, sig, c) {
                *out.entry((seq, sig.to_string())).or_insert(0.0) += c;
            }
        }
    }
    out
}

async fn detail(State(st): State<AppState>, Signed(ctx, actor): Signed, Path(id): Path<i64>) -> Response {
    render_detail(&st, &ctx, &actor, id, Revealed::default()).await
}

async fn render_detail(st: &AppState, ctx: &Ctx, actor: &Actor, id: i64, revealed: Revealed) -> Response {
    let v = match st.app.lead(actor, id).await {
        Ok(v) => v,
        Err(e) => return fail(ctx, e),
    };
    let lang = ctx.lang;
    let l = lang_code(lang);
    let trail = match v.summary.node_id {
        Some(n) => st
            .app
            .node_trail(n)
            .await
            .map(|t| t.into_iter().map(|n| n.name).collect::<Vec<_>>().join(" / "))
            .unwrap_or_default(),
        None => String::new(),
    };
    let contrib = contributions(&v);
    let timeline: Vec<Value> = v
        .timeline
        .iter()
        .map(|t| {
            let signals: Vec<Value> = t
                .signals
                .iter()
                .map(|s| {
                    let (ev_kind, ev) = evidence_pairs(lang, &s.evidence);
                    context! {
                        signal => label_of(lang, "signal", &s.signal),
                        code => s.signal.clone(),
                        fraud_type => s.fraud_type.map(|f| f.label(l).to_string()),
                        weight => format!("{:.1}", s.weight),
                        contribution => contrib.get(&(t.seq, s.signal.clone())).map(|c| format!("{c:.1}")),
                        evidence_kind => ev_kind,
                        evidence => Serde(ev),
                    }
                })
                .collect();
            context! {
                seq => t.seq,
                ts => t.ts.0,
                kind => label_of(lang, "event_kind", &t.kind),
                kind_code => t.kind.clone(),
                source => t.source.clone(),
                fields => Serde(event_pairs(lang, &t.event)),
                opened => !t.event.is_null(),
                signals => signals,
                deciding => t.deciding,
            }
        })
        .collect();
    let ex = &v.explanation;
    let num = |k: &str| ex.get(k).and_then(|x| x.as_f64()).map(|f| format!("{f:.1}"));
    let chains: Vec<Value> = ex
        .get("chains")
        .and_then(|c| c.as_array())
        .map(|a| {
            a.iter()
                .map(|c| {
                    context! {
                        name => c.get("name").map(scalar).unwrap_or_default(),
                        bonus => c.get("bonus").and_then(|x| x.as_f64()).map(|f| format!("{f:.1}")),
                        contribution => c.get("contribution").and_then(|x| x.as_f64()).map(|f| format!("{f:.1}")),
                        events => c.get("event_seqs").and_then(|x| x.as_array()).map(|s| s.len()).unwrap_or(0),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let multipliers: Vec<Value> = ex
        .get("multipliers")
        .and_then(|c| c.as_array())
        .map(|a| {
            a.iter()
                .map(|m| {
                    context! {
                        source => m.get("source").map(scalar).unwrap_or_default(),
                        multiplier => m.get("multiplier").and_then(|x| x.as_f64()).map(|f| format!("×{f:.2}")),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let s = &v.summary;
    let html = page(
        st,
        ctx,
        "lead.html",
        context! {
            l => context! {
                id => s.id,
                grade => s.grade.code(),
                score => format!("{:.1}", v.score),
                fraud_type => s.fraud_type.map(|f| f.code()),
                status => s.status.code(),
                source => s.source.code(),
                subscriber_kind => s.subscriber_kind.clone(),
                subscriber => revealed.subscriber.clone().unwrap_or_else(|| s.subscriber_masked.clone()),
                subscriber_full => revealed.subscriber.is_some(),
                name => s.name_masked.clone(),
                resident_id => s.resident_id.map(|r| r.0),
                trail => trail,
                upstream_id => s.upstream_id.clone(),
                rules_version => s.rules_version,
                opened_at => s.opened_at.0,
                updated_at => s.updated_at.0,
                updates => s.updates,
                note => v.note.clone(),
            },
            timeline => timeline,
            explained => !ex.is_null(),
            ex => context! {
                signal_sum => num("signal_sum"),
                chain_sum => num("chain_sum"),
                score => num("score"),
                max_multiplier => num("max_multiplier"),
                rules_name => ex.get("rules_name").map(scalar),
            },
            chains => chains,
            multipliers => multipliers,
            revealed => revealed.subscriber.is_some(),
            can_reveal => actor.can(Action::RevealPhone),
            can_residents => actor.can(Action::ViewResidents),
            can_rules => actor.can(Action::EditRules),
        },
    );
    html.into_response()
}

/// Shows the full subscriber on the re-rendered page; never in a URL or a
/// cookie. The app writes the reveal to the audit log.
async fn reveal(State(st): State<AppState>, Signed(ctx, actor): Signed, Path(id): Path<i64>) -> Response {
    let value = match st.app.reveal_lead_subscriber(&actor, id).await {
        Ok(v) => v,
        Err(e) => return fail(&ctx, e),
    };
    let mut r = render_detail(
        &st,
        &ctx,
        &actor,
        id,
        Revealed {
            subscriber: Some(value),
        },
    )
    .await;
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

// ---- import of upper-level pushes ----

fn column_label(lang: Lang, column: &str) -> String {
    match column {
        "" => "—".to_string(),
        c => label_of(lang, "lead.col", c),
    }
}

async fn render_import(
    st: &AppState,
    ctx: &Ctx,
    actor: &Actor,
    report: Option<Value>,
    error: Option<AppError>,
) -> Response {
    if !actor.can(Action::ImportLeads) {
        return fail(ctx, forbidden(Action::ImportLeads));
    }
    let status = error.as_ref().map(status_of).unwrap_or(StatusCode::OK);
    let html = page(
        st,
        ctx,
        "lead_import.html",
        context! {
            max_size => size_text(st.app.config().max_upload_bytes),
            report => report,
            error => error.as_ref().map(|e| err_text(ctx, e)),
        },
    );
    (status, html).into_response()
}

async fn import_page(State(st): State<AppState>, Signed(ctx, actor): Signed) -> Response {
    render_import(&st, &ctx, &actor, None, None).await
}

async fn read_upload(
    mp: Result<Multipart, MultipartRejection>,
    limit: usize,
) -> Result<(Option<String>, Vec<u8>), AppError> {
    let bad = || AppError::invalid("lead.import_bad_upload");
    let mut mp = mp.map_err(|_| bad())?;
    let too_large =
        |e: &axum::extract::multipart::MultipartError| e.status() == StatusCode::PAYLOAD_TOO_LARGE;
    let mut out = (None, Vec::new());
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if too_large(&e) => return Err(AppError::TooLarge { limit }),
            Err(_) => return Err(bad()),
        };
        if field.name() == Some("file") {
            out.0 = field.file_name().map(|n| clip(n, 200));
            out.1 = match field.bytes().await {
                Ok(b) => b.to_vec(),
                Err(e) if too_large(&e) => return Err(AppError::TooLarge { limit }),
                Err(_) => return Err(bad()),
            };
        }
    }
    Ok(out)
}

#[derive(Serialize)]
struct RejectedRow {
    row: usize,
    column: String,
    reason: String,
}

async fn import(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    mp: Result<Multipart, MultipartRejection>,
) -> Response {
    if !actor.can(Action::ImportLeads) {
        return fail(&ctx, forbidden(Action::ImportLeads));
    }
    let limit = st.app.config().max_upload_bytes;
    let (file_name, bytes) = match read_upload(mp, limit).await {
        Ok(u) => u,
        Err(e) => return render_import(&st, &ctx, &actor, None, Some(e)).await,
    };
    if bytes.is_empty() {
        let e = AppError::invalid("lead.import_no_file");
        return render_import(&st, &ctx, &actor, None, Some(e)).await;
    }
    match st.app.import_leads(&actor, file_name.as_deref(), &bytes).await {
        Ok(rep) => {
            let rejected: Vec<RejectedRow> = rep
                .rejected
                .iter()
                .map(|r| RejectedRow {
                    row: r.row,
                    column: column_label(ctx.lang, &r.column),
                    reason: r.reason.render(ctx.lang),
                })
                .collect();
            let leads: Vec<Value> = rep
                .leads
                .iter()
                .map(|(row, id)| context! { row => row, id => id })
                .collect();
            let report = context! {
                file => file_name,
                rows => rep.rows,
                inserted => rep.inserted,
                existing => rep.existing,
                rejected => Serde(&rejected),
                leads => leads,
            };
            render_import(&st, &ctx, &actor, Some(report), None).await
        }
        Err(e) if is_form_error(&e) => render_import(&st, &ctx, &actor, None, Some(e)).await,
        Err(e) => fail(&ctx, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_are_china_time() {
        // 2026-03-05 00:00 +08:00 = 2026-03-04T16:00Z
        let d = local_time("2026-03-05").unwrap();
        assert_eq!(Some(d), fanzha_core::event::parse_time("2026-03-04T16:00:00Z"));
        let t = local_time("2026-03-05T10:30").unwrap();
        assert_eq!(t.0 - d.0, (10 * 60 + 30) * 60_000);
        assert_eq!(local_time("2026-03-05 10:30:15").unwrap().0 - t.0, 15_000);
        assert_eq!(local_input(t), "2026-03-05T10:30");
        for bad in [
            "",
            "2026-13-01",
            "2026-02-30",
            "yesterday",
            "2026-03-05T25:00",
            "2026-03-05T10",
        ] {
            assert!(local_time(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn filters_are_checked() {
        let q = ListQ {
            grade: Some("purple".into()),
            ..Default::default()
        };
        assert!(matches!(q.parse(), Err(AppError::Invalid(m)) if m.key == "lead.bad_filter"));
        let q = ListQ {
            from: Some("2026-03-05".into()),
            to: Some("2026-03-04".into()),
            ..Default::default()
        };
        assert!(matches!(q.parse(), Err(AppError::Invalid(m)) if m.key == "lead.bad_range"));
        let q = ListQ {
            grade: Some("高".into()),
            status: Some("open".into()),
            from: Some("2026-03-05".into()),
            to: Some("2026-03-05".into()),
            ..Default::default()
        };
        let p = q.parse().unwrap();
        assert_eq!(p.grade, Some(Grade::High));
        assert_eq!(p.to.unwrap().0 - p.from.unwrap().0, 86_400_000);
        assert_eq!(
            q.filters(),
            "grade=%E9%AB%98&status=open&from=2026-03-05&to=2026-03-05&"
        );
    }

    #[test]
    fn money_and_evidence() {
        assert_eq!(yuan(800_000), "8000.00");
        assert_eq!(yuan(-5), "-0.05");
        let (kind, pairs) = evidence_pairs(
            Lang::Zh,
            &serde_json::json!({"type": "indicator", "indicator_id": 7, "kind": "phone", "confidence": 90, "via": "exact"}),
        );
        assert!(!kind.is_empty());
        assert!(pairs.iter().any(|p| p.value == "#7"));
    }
}
