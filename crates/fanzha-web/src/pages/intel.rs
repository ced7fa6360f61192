//! The intelligence base (情报库) pages: indicator list with filters and
//! bulk actions, detail with history, new and edit forms, the analyst
//! lookup (one value or many pasted), import with its full report, export
//! downloads, the allowlist, the public reports queue and disposal records.
//! Every action goes through the app's gate; the pages only hide what a
//! role cannot use.

use super::common::{Signed, back_to, back_to_record, clip, err_text, fail, flash, is_form_error, status_of};
use crate::api::Params;
use crate::api::intel::{
    ImportFields, batch_values, bulk_action, download, export_request, read_multipart, verdict_code,
};
use crate::auth::Ctx;
use crate::error::{Form, Path, Query};
use crate::render::page;
use crate::state::AppState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use fanzha_app::intel::allowlist::{AllowForm, AllowQuery};
use fanzha_app::intel::disposal::{DisposalForm, DisposalQuery, DisposalUpdate};
use fanzha_app::intel::formats::ExportFormat;
use fanzha_app::intel::import::IntelImportReport;
use fanzha_app::intel::lookup::LookupResult;
use fanzha_app::intel::reports::{ReportQuery, ReportReview, ReviewIndicator};
use fanzha_app::intel::service::{IndicatorEdit, IndicatorForm, IndicatorQuery};
use fanzha_app::intel::{DisposalStatus, DisposalTarget, Indicator, IndicatorStatus, ReportStatus};
use fanzha_app::{Actor, AppError};
use fanzha_core::i18n::{Lang, Msg, tr};
use fanzha_core::roles::Action;
use fanzha_core::time::Date;
use fanzha_core::{FraudType, IndicatorKind, Timestamp};
use minijinja::context;
use minijinja::value::{Serde, Value};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

const PER_PAGE: usize = 50;
/// Values a pasted lookup takes at once (the API takes more).
const PASTE_MAX: usize = 1_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/intel", get(list))
        .route("/intel/bulk", back_to("/intel").post(bulk))
        .route("/intel/new", get(new_page).post(create))
        .route("/intel/lookup", get(lookup_page).post(lookup_many))
        .route("/intel/import", get(import_page).post(import))
        .route("/intel/imports/{id}", get(import_job))
        .route("/intel/export", get(export_page))
        .route("/intel/export/download", get(export_download))
        .route("/intel/allowlist", get(allowlist).post(allow_add))
        .route(
            "/intel/allowlist/{id}/delete",
            post(allow_remove).get(|| async { Redirect::to("/intel/allowlist") }),
        )
        .route("/intel/reports", get(reports))
        .route("/intel/reports/{id}", get(report_detail))
        .route(
            "/intel/reports/{id}/review",
            back_to_record("/intel/reports").post(report_review),
        )
        .route(
            "/intel/reports/{id}/reveal",
            back_to_record("/intel/reports").post(report_reveal),
        )
        .route("/intel/disposals", get(disposals))
        .route(
            "/intel/disposals/new",
            get(disposal_new_page).post(disposal_create),
        )
        .route(
            "/intel/disposals/{id}",
            get(disposal_detail).post(disposal_update),
        )
        .route("/intel/{id}", get(detail))
        .route("/intel/{id}/edit", get(edit_page).post(update))
        .route("/intel/{id}/delete", back_to_record("/intel").post(delete))
}

fn forbidden(action: Action) -> AppError {
    AppError::Forbidden(Msg::new("error.forbidden_action").arg("action", action.code()))
}

fn need(actor: &Actor, action: Action) -> Result<(), AppError> {
    if actor.can(action) {
        Ok(())
    } else {
        Err(forbidden(action))
    }
}

fn can_lookup(actor: &Actor) -> bool {
    actor.can(Action::LookupIntel) || actor.can(Action::ViewIntel)
}

/// What the intel pages' tabs show for this role.
fn tabs(actor: &Actor) -> Value {
    context! {
        list => actor.can(Action::ViewIntel),
        lookup => can_lookup(actor),
        import => actor.can(Action::ImportIntel),
        export => actor.can(Action::ExportIntel),
        allowlist => actor.can(Action::ViewIntel) || actor.can(Action::ManageAllowlist),
        reports => actor.can(Action::ReviewReports),
        disposals => actor.can(Action::ViewIntel),
    }
}

/// The choices of the forms' selects.
fn choices() -> Value {
    context! {
        kinds => IndicatorKind::ALL.iter().map(|k| k.code()).collect::<Vec<_>>(),
        statuses => IndicatorStatus::ALL.iter().map(|s| s.code()).collect::<Vec<_>>(),
        fraud_types => FraudType::ALL.iter().map(|f| f.code()).collect::<Vec<_>>(),
        report_statuses => ReportStatus::ALL.iter().map(|s| s.code()).collect::<Vec<_>>(),
        disposal_statuses => DisposalStatus::ALL.iter().map(|s| s.code()).collect::<Vec<_>>(),
        disposal_targets => DisposalTarget::ALL.iter().map(|s| s.code()).collect::<Vec<_>>(),
        export_formats => ExportFormat::ALL.iter().map(|s| s.code()).collect::<Vec<_>>(),
    }
}

/// A flash message for the intel pages' own codes, else the common ones.
fn intel_flash(ctx: &Ctx, ok: Option<&str>) -> Option<String> {
    let key = match ok? {
        "bulk" => "intel.page.ok_bulk",
        "reviewed" => "intel.page.ok_reviewed",
        "bulk_partial" => "intel.page.ok_bulk",
        other => return flash(ctx, Some(other)),
    };
    Some(tr(ctx.lang, key).to_string())
}

/// `YYYY-MM-DD` as the start of that day in China time (UTC+8).
fn day_start(s: &str) -> Option<Timestamp> {
    let t = s.trim();
    let mut it = t.splitn(3, '-');
    let y = it.next()?.parse::<i32>().ok()?;
    let m = it.next()?.parse::<u8>().ok()?;
    let d = it.next()?.parse::<u8>().ok()?;
    let date = Date::new(y, m, d)?;
    Some(Timestamp(date.days_since_epoch() * 86_400_000 - 8 * 3_600_000))
}

/// A timestamp as the China-time date it falls on.
fn day_of(ts: Timestamp) -> String {
    Date::from_timestamp(Timestamp(ts.0 + 8 * 3_600_000)).to_string()
}

/// An optional date field: empty is `None`, a bad date names the field.
fn opt_day(s: &str, field: &str) -> Result<Option<Timestamp>, AppError> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    day_start(s)
        .map(Some)
        .ok_or_else(|| AppError::Invalid(Msg::new("intel.page.bad_date").arg("field", field)))
}

fn opt_enum<T>(
    s: &Option<String>,
    field: &str,
    f: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, AppError> {
    match s.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => f(v)
            .map(Some)
            .ok_or_else(|| AppError::Invalid(Msg::new("pages.bad_value").arg("field", field))),
    }
}

fn opt_u8(s: &Option<String>, field: &str, max: u8) -> Result<Option<u8>, AppError> {
    match s.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<u8>()
            .ok()
            .filter(|n| *n <= max)
            .map(Some)
            .ok_or_else(|| AppError::Invalid(Msg::new("pages.bad_number").arg("field", field))),
    }
}

/// An indicator as a list row.
#[derive(Serialize)]
struct Row {
    id: i64,
    kind: &'static str,
    value: String,
    fraud_type: &'static str,
    confidence: u8,
    status: &'static str,
    source: String,
    valid_until: Option<String>,
    sightings: i64,
    tags: Vec<String>,
}

fn row(i: &Indicator) -> Row {
    Row {
        id: i.id,
        kind: i.kind.code(),
        value: i.value.clone(),
        fraud_type: i.fraud_type.code(),
        confidence: i.confidence,
        status: i.status.code(),
        source: i.source.code(),
        valid_until: i.valid_until.map(day_of),
        sightings: i.sightings,
        tags: i.tags.clone(),
    }
}

// ---- list and bulk ----

#[derive(Deserialize, Default, Clone, Serialize)]
struct ListQ {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    fraud_type: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    min_confidence: Option<String>,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    ok: Option<String>,
}

impl ListQ {
    fn parse(&self) -> Result<IndicatorQuery, AppError> {
        let text =
            |o: &Option<String>, n: usize| o.as_deref().map(|s| clip(s.trim(), n)).filter(|s| !s.is_empty());
        let page = match self.page.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(p) => Some(
                p.parse::<usize>()
                    .ok()
                    .filter(|p| (1..=1_000_000).contains(p))
                    .ok_or_else(|| {
                        AppError::Invalid(Msg::new("pages.bad_number").arg("field", "pages.page"))
                    })?,
            ),
        };
        Ok(IndicatorQuery {
            q: text(&self.q, 200),
            kind: opt_enum(&self.kind, "intel.kind", |v| IndicatorKind::parse(v).ok())?,
            status: opt_enum(&self.status, "intel.status", IndicatorStatus::parse)?,
            fraud_type: opt_enum(&self.fraud_type, "intel.fraud_type", |v| FraudType::parse(v).ok())?,
            source: text(&self.source, 80),
            min_confidence: opt_u8(&self.min_confidence, "intel.min_confidence", 100)?,
            tag: text(&self.tag, 40),
            page,
            per_page: Some(PER_PAGE),
        })
    }

    fn clipped(&self) -> ListQ {
        let c = |o: &Option<String>, n: usize| Some(clip(o.as_deref().unwrap_or(""), n));
        ListQ {
            q: c(&self.q, 200),
            kind: c(&self.kind, 30),
            status: c(&self.status, 20),
            fraud_type: c(&self.fraud_type, 40),
            source: c(&self.source, 80),
            min_confidence: c(&self.min_confidence, 3),
            tag: c(&self.tag, 40),
            page: None,
            ok: None,
        }
    }

    fn filters(&self) -> String {
        let c = self.clipped();
        let v = |o: &Option<String>| o.clone().unwrap_or_default();
        super::common::query_prefix(&[
            ("q", &v(&c.q)),
            ("kind", &v(&c.kind)),
            ("status", &v(&c.status)),
            ("fraud_type", &v(&c.fraud_type)),
            ("source", &v(&c.source)),
            ("min_confidence", &v(&c.min_confidence)),
            ("tag", &v(&c.tag)),
        ])
    }
}

async fn list(State(st): State<AppState>, Signed(ctx, actor): Signed, Query(q): Query<ListQ>) -> Response {
    if !actor.can(Action::ViewIntel) {
        // Roles that may only look values up land on the lookup page.
        if actor.can(Action::LookupIntel) {
            return Redirect::to("/intel/lookup").into_response();
        }
        return fail(&ctx, forbidden(Action::ViewIntel));
    }
    let (result, error) = match q.parse() {
        Ok(query) => match st.app.list_indicators(&actor, &query).await {
            Ok(p) => (Some(p), None),
            Err(e) if is_form_error(&e) => (None, Some(e)),
            Err(e) => return fail(&ctx, e),
        },
        Err(e) => (None, Some(e)),
    };
    let overview = st.app.intel_overview(&actor).await.ok();
    let rows: Vec<Row> = result
        .as_ref()
        .map(|p| p.items.iter().map(row).collect())
        .unwrap_or_default();
    let filters = q.filters();
    let status = error.as_ref().map(status_of).unwrap_or(StatusCode::OK);
    let html = page(
        &st,
        &ctx,
        "intel_list.html",
        context! {
            tabs => tabs(&actor),
            c => choices(),
            rows => Serde(&rows),
            total => result.as_ref().map(|p| p.total).unwrap_or(0),
            page_no => result.as_ref().map(|p| p.page).unwrap_or(1),
            pages => result.as_ref().map(|p| p.pages()).unwrap_or(1),
            pager_base => format!("/intel?{filters}"),
            back => format!("/intel?{filters}"),
            f => Serde(q.clipped()),
            overview => overview.map(|o| context! {
                indicators => o.counts.indicators,
                by_status => Serde(o.counts.by_status.iter().map(|(s, n)| (s.code(), *n)).collect::<Vec<_>>()),
                reports_new => o.counts.reports_new,
                disposals_open => o.counts.disposals_open,
                live => o.index.indicators,
            }),
            can_edit => actor.can(Action::EditIntel),
            flash => intel_flash(&ctx, q.ok.as_deref()),
            error => error.as_ref().map(|e| err_text(&ctx, e)),
        },
    );
    (status, html).into_response()
}

/// The form fields as pairs, repeated keys kept (`id=1&id=2`).
fn pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn field<'a>(p: &'a [(String, String)], name: &str) -> &'a str {
    p.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// Only local pages of the intel base are return targets.
fn back_target(s: &str) -> String {
    if s.starts_with("/intel") && !s.starts_with("//") && !s.contains('\\') {
        s.to_string()
    } else {
        "/intel".to_string()
    }
}

fn with_ok(to: &str, code: &str) -> String {
    let sep = if to.contains('?') { '&' } else { '?' };
    format!("{to}{sep}ok={code}")
}

async fn bulk(State(st): State<AppState>, Signed(ctx, actor): Signed, body: Bytes) -> Response {
    if let Err(e) = need(&actor, Action::EditIntel) {
        return fail(&ctx, e);
    }
    let p = pairs(&body);
    let back = back_target(field(&p, "back"));
    let mut ids = Vec::new();
    for (k, v) in &p {
        if k == "id" {
            match v.trim().parse::<i64>() {
                Ok(id) => ids.push(id),
                Err(_) => return fail(&ctx, AppError::invalid("intel.page.bad_selection")),
            }
        }
    }
    if ids.is_empty() {
        return fail(&ctx, AppError::invalid("intel.page.none_selected"));
    }
    let days = match field(&p, "days").trim() {
        "" => None,
        d => match d.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                return fail(
                    &ctx,
                    AppError::Invalid(Msg::new("pages.bad_number").arg("field", "intel.page.days")),
                );
            }
        },
    };
    let until = match opt_day(field(&p, "valid_until"), "intel.valid_until") {
        // The end of the chosen day.
        Ok(u) => u.map(|t| Timestamp(t.0 + 86_400_000 - 1)),
        Err(e) => return fail(&ctx, e),
    };
    let action = match bulk_action(field(&p, "action"), until, days) {
        Ok(a) => a,
        Err(e) => return fail(&ctx, e),
    };
    match st
        .app
        .bulk_indicators(&actor, &ids, action, field(&p, "reason"))
        .await
    {
        Ok(r) => {
            let code = if r.refused.is_empty() && r.not_found.is_empty() {
                "bulk"
            } else {
                "bulk_partial"
            };
            let to = with_ok(&back, code);
            let to = format!(
                "{to}&changed={}&refused={}",
                r.changed.len(),
                r.refused.len() + r.not_found.len()
            );
            Redirect::to(&to).into_response()
        }
        Err(e) => fail(&ctx, e),
    }
}

// ---- detail ----

#[derive(Deserialize, Default)]
struct DetailQ {
    #[serde(default)]
    ok: Option<String>,
    #[serde(default)]
    changed: Option<String>,
    #[serde(default)]
    refused: Option<String>,
}

async fn detail(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
    Query(q): Query<DetailQ>,
) -> Response {
    let d = match st.app.indicator_detail(&actor, id).await {
        Ok(d) => d,
        Err(e) => return fail(&ctx, e),
    };
    let i = &d.indicator;
    let flash_msg = match q.ok.as_deref() {
        Some("bulk") | Some("bulk_partial") => Some(
            Msg::new("intel.page.bulk_done")
                .arg("changed", clip(q.changed.as_deref().unwrap_or("0"), 8))
                .arg("refused", clip(q.refused.as_deref().unwrap_or("0"), 8))
                .render(ctx.lang),
        ),
        other => intel_flash(&ctx, other),
    };
    let history: Vec<Value> = d
        .history
        .iter()
        .map(|e| {
            context! {
                at => e.fields.at.0,
                actor => e.fields.actor.clone(),
                action => e.fields.action.clone(),
                detail => e.fields.detail.clone(),
            }
        })
        .collect();
    let reports: Vec<Value> = d
        .reports
        .iter()
        .map(|r| {
            context! {
                id => r.id, reference => r.reference.clone(), status => r.status.code(),
                fraud_type => r.fraud_type.map(|f| f.code()), description => r.description.clone(),
                created_at => r.created_at.0,
            }
        })
        .collect();
    let disposals: Vec<Value> = d
        .disposals
        .iter()
        .map(|x| {
            context! {
                id => x.id, target => x.target.code(), target_name => x.target_name.clone(),
                status => x.status.code(), requested_at => x.requested_at.0,
            }
        })
        .collect();
    let html = page(
        &st,
        &ctx,
        "intel_detail.html",
        context! {
            tabs => tabs(&actor),
            i => context! {
                id => i.id, kind => i.kind.code(), value => i.value.clone(), fraud_type => i.fraud_type.code(),
                confidence => i.confidence, status => i.status.code(), source => i.source.code(),
                valid_from => i.valid_from.0, valid_until => i.valid_until.map(|t| t.0),
                first_seen => i.first_seen.0, last_seen => i.last_seen.0, sightings => i.sightings,
                tags => i.tags.clone(), description => i.description.clone(), notes => i.notes.clone(),
                external_id => i.external_id.clone(), version => i.version, updated_at => i.updated_at.0,
            },
            live => d.live,
            history => history,
            same_value => Serde(d.same_value.iter().map(row).collect::<Vec<_>>()),
            reports => reports,
            disposals => disposals,
            can_edit => actor.can(Action::EditIntel),
            can_dispose => actor.can(Action::ManageDisposal),
            can_reports => actor.can(Action::ReviewReports),
            flash => flash_msg,
        },
    );
    html.into_response()
}

// ---- new and edit ----

#[derive(Deserialize, Default, Serialize, Clone)]
struct IndicatorInput {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    value: String,
    #[serde(default)]
    fraud_type: Option<String>,
    #[serde(default)]
    confidence: Option<String>,
    #[serde(default)]
    source: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    valid_from: String,
    #[serde(default)]
    valid_until: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    expected_version: String,
}

impl IndicatorInput {
    fn clipped(&self) -> IndicatorInput {
        let o = |s: &Option<String>, n| s.as_deref().map(|v| clip(v, n));
        IndicatorInput {
            kind: o(&self.kind, 30),
            value: clip(&self.value, 2_100),
            fraud_type: o(&self.fraud_type, 40),
            confidence: o(&self.confidence, 4),
            source: clip(&self.source, 80),
            status: o(&self.status, 20),
            valid_from: clip(&self.valid_from, 12),
            valid_until: clip(&self.valid_until, 12),
            tags: clip(&self.tags, 500),
            description: clip(&self.description, 2_100),
            notes: clip(&self.notes, 2_100),
            expected_version: clip(&self.expected_version, 20),
        }
    }

    fn to_create(&self) -> Result<IndicatorForm, AppError> {
        Ok(IndicatorForm {
            kind: opt_enum(&self.kind, "intel.kind", |v| IndicatorKind::parse(v).ok())?,
            value: self.value.clone(),
            fraud_type: opt_enum(&self.fraud_type, "intel.fraud_type", |v| FraudType::parse(v).ok())?,
            confidence: opt_u8(&self.confidence, "intel.confidence", 100)?,
            source: Some(self.source.clone()).filter(|s| !s.trim().is_empty()),
            status: opt_enum(&self.status, "intel.status", IndicatorStatus::parse)?,
            valid_from: opt_day(&self.valid_from, "intel.valid_from")?,
            valid_until: opt_day(&self.valid_until, "intel.valid_until")?
                .map(|t| Timestamp(t.0 + 86_400_000 - 1)),
            tags: self.tags.clone(),
            description: self.description.clone(),
            notes: self.notes.clone(),
        })
    }

    fn to_edit(&self, current: &Indicator) -> Result<IndicatorEdit, AppError> {
        Ok(IndicatorEdit {
            fraud_type: opt_enum(&self.fraud_type, "intel.fraud_type", |v| FraudType::parse(v).ok())?
                .unwrap_or(current.fraud_type),
            confidence: opt_u8(&self.confidence, "intel.confidence", 100)?.unwrap_or(current.confidence),
            valid_from: opt_day(&self.valid_from, "intel.valid_from")?.unwrap_or(current.valid_from),
            valid_until: opt_day(&self.valid_until, "intel.valid_until")?
                .map(|t| Timestamp(t.0 + 86_400_000 - 1)),
            tags: self.tags.clone(),
            description: self.description.clone(),
            notes: self.notes.clone(),
            external_id: current.external_id.clone(),
            expected_version: self.expected_version.trim().parse().ok(),
        })
    }
}

async fn render_form(
    st: &AppState,
    ctx: &Ctx,
    actor: &Actor,
    current: Option<&Indicator>,
    input: &IndicatorInput,
    error: Option<AppError>,
) -> Response {
    if let Err(e) = need(actor, Action::EditIntel) {
        return fail(ctx, e);
    }
    let status = error.as_ref().map(status_of).unwrap_or(StatusCode::OK);
    let html = page(
        st,
        ctx,
        "intel_form.html",
        context! {
            tabs => tabs(actor),
            c => choices(),
            current => current.map(|i| context! { id => i.id, kind => i.kind.code(), value => i.value.clone(), source => i.source.code() }),
            f => Serde(input.clipped()),
            error => error.as_ref().map(|e| err_text(ctx, e)),
        },
    );
    (status, html).into_response()
}

async fn new_page(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    // A lookup or a report can hand its value over.
    let input = IndicatorInput {
        value: clip(q.get("value").map(String::as_str).unwrap_or(""), 2_048),
        ..Default::default()
    };
    render_form(&st, &ctx, &actor, None, &input, None).await
}

async fn create(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Form(f): Form<IndicatorInput>,
) -> Response {
    if let Err(e) = need(&actor, Action::EditIntel) {
        return fail(&ctx, e);
    }
    let r = match f.to_create() {
        Ok(form) => st.app.create_indicator(&actor, &form).await,
        Err(e) => Err(e),
    };
    match r {
        Ok(i) => Redirect::to(&format!("/intel/{}?ok=created", i.id)).into_response(),
        Err(e) if is_form_error(&e) => render_form(&st, &ctx, &actor, None, &f, Some(e)).await,
        Err(e) => fail(&ctx, e),
    }
}

fn input_of(i: &Indicator) -> IndicatorInput {
    IndicatorInput {
        kind: Some(i.kind.code().to_string()),
        value: i.value.clone(),
        fraud_type: Some(i.fraud_type.code().to_string()),
        confidence: Some(i.confidence.to_string()),
        source: i.source.code(),
        status: Some(i.status.code().to_string()),
        valid_from: day_of(i.valid_from),
        valid_until: i.valid_until.map(day_of).unwrap_or_default(),
        tags: i.tags.join("、"),
        description: i.description.clone(),
        notes: i.notes.clone(),
        expected_version: i.version.to_string(),
    }
}

async fn edit_page(State(st): State<AppState>, Signed(ctx, actor): Signed, Path(id): Path<i64>) -> Response {
    let d = match st.app.indicator_detail(&actor, id).await {
        Ok(d) => d,
        Err(e) => return fail(&ctx, e),
    };
    render_form(
        &st,
        &ctx,
        &actor,
        Some(&d.indicator),
        &input_of(&d.indicator),
        None,
    )
    .await
}

async fn update(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
    Form(f): Form<IndicatorInput>,
) -> Response {
    let d = match st.app.indicator_detail(&actor, id).await {
        Ok(d) => d,
        Err(e) => return fail(&ctx, e),
    };
    if let Err(e) = need(&actor, Action::EditIntel) {
        return fail(&ctx, e);
    }
    let r = match f.to_edit(&d.indicator) {
        Ok(edit) => st.app.update_indicator(&actor, id, &edit).await,
        Err(e) => Err(e),
    };
    match r {
        Ok(_) => Redirect::to(&format!("/intel/{id}?ok=saved")).into_response(),
        Err(e) if is_form_error(&e) => render_form(&st, &ctx, &actor, Some(&d.indicator), &f, Some(e)).await,
        Err(e) => fail(&ctx, e),
    }
}

async fn delete(State(st): State<AppState>, Signed(ctx, actor): Signed, Path(id): Path<i64>) -> Response {
    match st.app.delete_indicator(&actor, id).await {
        Ok(()) => Redirect::to("/intel?ok=deleted").into_response(),
        Err(e) => fail(&ctx, e),
    }
}

// ---- lookup ----

/// A lookup result for the page.
fn result_row(lang: Lang, r: &LookupResult) -> Value {
    context! {
        value => r.value.clone(),
        kind => r.kind.map(|k| k.code()),
        canonical => r.canonical.clone(),
        verdict => verdict_code(r.verdict),
        max_confidence => r.max_confidence,
        error => r.error.as_ref().map(|m| m.render(lang)),
        allowlisted_by => r.allowlisted_by.iter().map(|a| context! { value => a.value.clone(), note => a.note.clone() }).collect::<Vec<_>>(),
        matches => r.matches.iter().map(|m| context! {
            id => m.indicator_id, kind => m.kind.code(), value => m.value.clone(),
            fraud_type => m.fraud_type.code(), confidence => m.confidence, status => m.status.code(),
            source => m.source.clone(),
        }).collect::<Vec<_>>(),
    }
}

#[allow(clippy::too_many_arguments)]
fn render_lookup(
    st: &AppState,
    ctx: &Ctx,
    actor: &Actor,
    q: &str,
    pasted: &str,
    kind: &str,
    results: Vec<Value>,
    summary: Option<Value>,
    error: Option<AppError>,
) -> Response {
    let status = error.as_ref().map(status_of).unwrap_or(StatusCode::OK);
    let html = page(
        st,
        ctx,
        "intel_lookup.html",
        context! {
            tabs => tabs(actor),
            c => choices(),
            q => clip(q, 2_048),
            pasted => clip(pasted, 200_000),
            kind => clip(kind, 30),
            results => results,
            summary => summary,
            paste_max => PASTE_MAX,
            can_view => actor.can(Action::ViewIntel),
            can_edit => actor.can(Action::EditIntel),
            error => error.as_ref().map(|e| err_text(ctx, e)),
        },
    );
    (status, html).into_response()
}

async fn lookup_page(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !can_lookup(&actor) {
        return fail(&ctx, forbidden(Action::LookupIntel));
    }
    let value = q.get("q").map(|s| s.trim().to_string()).unwrap_or_default();
    let kind_s = q.get("kind").cloned().unwrap_or_default();
    if value.is_empty() {
        return render_lookup(&st, &ctx, &actor, "", "", &kind_s, Vec::new(), None, None);
    }
    let kind = match opt_enum(&Some(kind_s.clone()), "intel.kind", |v| {
        IndicatorKind::parse(v).ok()
    }) {
        Ok(k) => k,
        Err(e) => return render_lookup(&st, &ctx, &actor, &value, "", &kind_s, Vec::new(), None, Some(e)),
    };
    if value.chars().count() > 2_048 {
        let e = AppError::Invalid(Msg::new("intel.error.text_too_long").arg("max", 2_048));
        return render_lookup(&st, &ctx, &actor, &value, "", &kind_s, Vec::new(), None, Some(e));
    }
    match st.app.lookup(&actor, &value, kind).await {
        Ok(r) => {
            let rows = vec![result_row(ctx.lang, &r)];
            render_lookup(&st, &ctx, &actor, &value, "", &kind_s, rows, None, None)
        }
        Err(e) if is_form_error(&e) => {
            render_lookup(&st, &ctx, &actor, &value, "", &kind_s, Vec::new(), None, Some(e))
        }
        Err(e) => fail(&ctx, e),
    }
}

#[derive(Deserialize, Default)]
struct PasteForm {
    #[serde(default)]
    values: String,
    #[serde(default)]
    kind: String,
}

async fn lookup_many(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Form(f): Form<PasteForm>,
) -> Response {
    if !can_lookup(&actor) {
        return fail(&ctx, forbidden(Action::LookupIntel));
    }
    let kind = match opt_enum(&Some(f.kind.clone()), "intel.kind", |v| {
        IndicatorKind::parse(v).ok()
    }) {
        Ok(k) => k,
        Err(e) => {
            return render_lookup(
                &st,
                &ctx,
                &actor,
                "",
                &f.values,
                &f.kind,
                Vec::new(),
                None,
                Some(e),
            );
        }
    };
    // One value a line (commas and spaces separate too, except in URLs).
    let values: Vec<String> = match batch_values(f.values.as_bytes(), false) {
        Ok(v) => v,
        Err(e) => {
            return render_lookup(
                &st,
                &ctx,
                &actor,
                "",
                &f.values,
                &f.kind,
                Vec::new(),
                None,
                Some(e),
            );
        }
    };
    if values.is_empty() {
        let e = AppError::invalid("intel.error.empty_value");
        return render_lookup(
            &st,
            &ctx,
            &actor,
            "",
            &f.values,
            &f.kind,
            Vec::new(),
            None,
            Some(e),
        );
    }
    if values.len() > PASTE_MAX {
        let e = AppError::Invalid(Msg::new("intel.error.too_many").arg("max", PASTE_MAX));
        return render_lookup(
            &st,
            &ctx,
            &actor,
            "",
            &f.values,
            &f.kind,
            Vec::new(),
            None,
            Some(e),
        );
    }
    match st.app.lookup_batch(&actor, &values, kind).await {
        Ok(rs) => {
            use fanzha_app::intel::lookup::Verdict;
            let n = |v| rs.iter().filter(|r| r.verdict == v).count();
            let summary = context! {
                count => rs.len(), flagged => n(Verdict::Flagged), allowlisted => n(Verdict::Allowlisted),
                clean => n(Verdict::Clean), invalid => n(Verdict::Invalid),
            };
            let rows = rs.iter().map(|r| result_row(ctx.lang, r)).collect();
            render_lookup(
                &st,
                &ctx,
                &actor,
                "",
                &f.values,
                &f.kind,
                rows,
                Some(summary),
                None,
            )
        }
        Err(e) if is_form_error(&e) => render_lookup(
            &st,
            &ctx,
            &actor,
            "",
            &f.values,
            &f.kind,
            Vec::new(),
            None,
            Some(e),
        ),
        Err(e) => fail(&ctx, e),
    }
}

// ---- import ----

fn report_value(lang: Lang, rep: &IntelImportReport) -> Value {
    let skipped: Vec<(String, usize)> = rep
        .skipped_lines
        .iter()
        .map(|(k, n)| (tr(lang, &format!("intel.skip.{k}")).to_string(), *n))
        .collect();
    context! {
        job_id => rep.job_id, file => rep.file_name.clone(), format => rep.format.clone(), source => rep.source.clone(),
        lines => rep.lines, values => rep.values, added => rep.added, updated => rep.updated,
        unchanged => rep.unchanged, kept_revoked => rep.kept_revoked, duplicate_lines => rep.duplicate_lines,
        allowlisted => rep.allowlisted.iter().map(|a| context! {
            line => a.line, kind => a.kind.code(), value => a.value.clone(), entry => a.entry.clone(), note => a.note.clone(),
        }).collect::<Vec<_>>(),
        skipped => Serde(skipped),
        rejected => rep.rejected.iter().take(2_000).map(|r| context! {
            line => r.line, reason => r.reason.render(lang), excerpt => clip(&r.excerpt, 120),
        }).collect::<Vec<_>>(),
        rejected_total => rep.rejected.len(),
        candidates => rep.allowlist_candidates.len(),
    }
}

async fn render_import(
    st: &AppState,
    ctx: &Ctx,
    actor: &Actor,
    fields: &ImportFields,
    report: Option<Value>,
    error: Option<AppError>,
) -> Response {
    if let Err(e) = need(actor, Action::ImportIntel) {
        return fail(ctx, e);
    }
    let jobs = st
        .app
        .list_import_jobs(actor, 1, 20)
        .await
        .map(|p| p.items)
        .unwrap_or_default();
    let status = error.as_ref().map(status_of).unwrap_or(StatusCode::OK);
    let html = page(
        st,
        ctx,
        "intel_import.html",
        context! {
            tabs => tabs(actor),
            c => choices(),
            f => context! {
                format => clip(&fields.format, 20), source => clip(&fields.source, 80),
                fraud_type => clip(&fields.fraud_type, 40), kind => clip(&fields.kind, 30),
                confidence => clip(&fields.confidence, 4), status => clip(&fields.status, 20),
            },
            max_size => format!("{} KB", st.app.config().max_upload_bytes.div_ceil(1024)),
            jobs => jobs.iter().map(|j| context! {
                id => j.id, file => j.file_name.clone(), format => j.format.clone(), source => j.source_name.clone(),
                added => j.added, updated => j.updated, unchanged => j.unchanged, skipped => j.skipped,
                rejected => j.rejected, at => j.created_at.0,
            }).collect::<Vec<_>>(),
            report => report,
            error => error.as_ref().map(|e| err_text(ctx, e)),
        },
    );
    (status, html).into_response()
}

async fn import_page(State(st): State<AppState>, Signed(ctx, actor): Signed) -> Response {
    render_import(&st, &ctx, &actor, &ImportFields::default(), None, None).await
}

async fn import(State(st): State<AppState>, Signed(ctx, actor): Signed, req: Request) -> Response {
    if let Err(e) = need(&actor, Action::ImportIntel) {
        return fail(&ctx, e);
    }
    let limit = st.app.config().max_upload_bytes;
    let mut fields = ImportFields::default();
    let (bytes, name) = match read_multipart(&st, req, limit, &mut fields).await {
        Ok(x) => x,
        Err(e) => return render_import(&st, &ctx, &actor, &fields, None, Some(e)).await,
    };
    if bytes.is_empty() {
        let e = AppError::invalid("intel.page.no_file");
        return render_import(&st, &ctx, &actor, &fields, None, Some(e)).await;
    }
    let req = match fields.request(name.as_deref(), &bytes) {
        Ok(r) => r,
        Err(e) => return render_import(&st, &ctx, &actor, &fields, None, Some(e)).await,
    };
    match st.app.import_intel(&actor, &bytes, &req, &|_| {}).await {
        Ok(rep) => {
            let v = report_value(ctx.lang, &rep);
            render_import(&st, &ctx, &actor, &fields, Some(v), None).await
        }
        Err(e) if is_form_error(&e) => render_import(&st, &ctx, &actor, &fields, None, Some(e)).await,
        Err(e) => fail(&ctx, e),
    }
}

async fn import_job(State(st): State<AppState>, Signed(ctx, actor): Signed, Path(id): Path<i64>) -> Response {
    match st.app.import_job(&actor, id).await {
        Ok((_, Some(rep))) => {
            let v = report_value(ctx.lang, &rep);
            render_import(&st, &ctx, &actor, &ImportFields::default(), Some(v), None).await
        }
        Ok((_, None)) => fail(&ctx, AppError::not_found("error.not_found")),
        Err(e) => fail(&ctx, e),
    }
}

// ---- export ----

async fn export_page(State(st): State<AppState>, Signed(ctx, actor): Signed) -> Response {
    if let Err(e) = need(&actor, Action::ExportIntel) {
        return fail(&ctx, e);
    }
    page(
        &st,
        &ctx,
        "intel_export.html",
        context! { tabs => tabs(&actor), c => choices() },
    )
    .into_response()
}

async fn export_download(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(e) = need(&actor, Action::ExportIntel) {
        return fail(&ctx, e);
    }
    // Status boxes arrive one per checked status; the API takes a list.
    let req = match export_request(&Params(q)) {
        Ok(r) => r,
        Err(e) => return fail(&ctx, e),
    };
    match st.app.export_intel(&actor, &req).await {
        Ok(e) => download(e),
        Err(e) => fail(&ctx, e),
    }
}

// ---- allowlist ----

#[derive(Deserialize, Default)]
struct AllowQ {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    builtin: Option<String>,
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    ok: Option<String>,
}

async fn render_allowlist(
    st: &AppState,
    ctx: &Ctx,
    actor: &Actor,
    q: &AllowQ,
    form: Option<&AllowInput>,
    error: Option<AppError>,
) -> Response {
    let parsed = (|| -> Result<AllowQuery, AppError> {
        Ok(AllowQuery {
            kind: opt_enum(&q.kind, "intel.kind", |v| IndicatorKind::parse(v).ok())?,
            builtin: opt_enum(&q.builtin, "intel.allow.builtin", |v| match v {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            })?,
            q: q.q
                .as_deref()
                .map(|s| clip(s.trim(), 200))
                .filter(|s| !s.is_empty()),
            page: super::common::opt_num::<usize>(q.page.as_deref(), "pages.page")?
                .map(|p| p.clamp(1, 1_000_000)),
            per_page: Some(PER_PAGE),
        })
    })();
    let (result, list_error) = match parsed {
        Ok(p) => match st.app.list_allowlist(actor, &p).await {
            Ok(r) => (Some(r), None),
            Err(e) if is_form_error(&e) => (None, Some(e)),
            Err(e) => return fail(ctx, e),
        },
        Err(e) => (None, Some(e)),
    };
    let error = error.or(list_error);
    let status = error.as_ref().map(status_of).unwrap_or(StatusCode::OK);
    let c = |o: &Option<String>, n| clip(o.as_deref().unwrap_or(""), n);
    let filters = super::common::query_prefix(&[
        ("q", &c(&q.q, 200)),
        ("kind", &c(&q.kind, 30)),
        ("builtin", &c(&q.builtin, 5)),
    ]);
    let html = page(
        st,
        ctx,
        "intel_allowlist.html",
        context! {
            tabs => tabs(actor),
            c => choices(),
            rows => result.as_ref().map(|p| p.items.iter().map(|e| context! {
                id => e.id, kind => e.kind.code(), value => e.value.clone(), note => e.note.clone(),
                builtin => e.builtin, created_at => e.created_at.0,
            }).collect::<Vec<_>>()).unwrap_or_default(),
            total => result.as_ref().map(|p| p.total).unwrap_or(0),
            page_no => result.as_ref().map(|p| p.page).unwrap_or(1),
            pages => result.as_ref().map(|p| p.pages()).unwrap_or(1),
            pager_base => format!("/intel/allowlist?{filters}"),
            fq => context! { q => c(&q.q, 200), kind => c(&q.kind, 30), builtin => c(&q.builtin, 5) },
            form => form.map(|f| context! { kind => clip(&f.kind, 30), value => clip(&f.value, 2_100), note => clip(&f.note, 210) }),
            can_manage => actor.can(Action::ManageAllowlist),
            flash => intel_flash(ctx, q.ok.as_deref()),
            error => error.as_ref().map(|e| err_text(ctx, e)),
        },
    );
    (status, html).into_response()
}

async fn allowlist(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Query(q): Query<AllowQ>,
) -> Response {
    if !(actor.can(Action::ViewIntel) || actor.can(Action::ManageAllowlist)) {
        return fail(&ctx, forbidden(Action::ViewIntel));
    }
    render_allowlist(&st, &ctx, &actor, &q, None, None).await
}

#[derive(Deserialize, Default)]
struct AllowInput {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    note: String,
}

async fn allow_add(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Form(f): Form<AllowInput>,
) -> Response {
    if let Err(e) = need(&actor, Action::ManageAllowlist) {
        return fail(&ctx, e);
    }
    let r = match opt_enum(&Some(f.kind.clone()), "intel.kind", |v| {
        IndicatorKind::parse(v).ok()
    }) {
        Ok(kind) => {
            st.app
                .add_allow_entry(
                    &actor,
                    &AllowForm {
                        kind,
                        value: f.value.clone(),
                        note: f.note.clone(),
                    },
                )
                .await
        }
        Err(e) => Err(e),
    };
    match r {
        Ok(_) => Redirect::to("/intel/allowlist?builtin=false&ok=created").into_response(),
        Err(e) if is_form_error(&e) => {
            render_allowlist(&st, &ctx, &actor, &AllowQ::default(), Some(&f), Some(e)).await
        }
        Err(e) => fail(&ctx, e),
    }
}

async fn allow_remove(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
) -> Response {
    match st.app.remove_allow_entry(&actor, id).await {
        Ok(()) => Redirect::to("/intel/allowlist?builtin=false&ok=deleted").into_response(),
        Err(e) => fail(&ctx, e),
    }
}

// ---- reports ----

#[derive(Deserialize, Default)]
struct ReportsQ {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    ok: Option<String>,
}

async fn reports(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Query(q): Query<ReportsQ>,
) -> Response {
    if let Err(e) = need(&actor, Action::ReviewReports) {
        return fail(&ctx, e);
    }
    // The queue shows new reports unless another status is chosen.
    let status_s = q.status.clone().unwrap_or_else(|| "new".to_string());
    let parsed = (|| -> Result<ReportQuery, AppError> {
        Ok(ReportQuery {
            status: opt_enum(&Some(status_s.clone()), "intel.status", ReportStatus::parse)?,
            kind: opt_enum(&q.kind, "intel.kind", |v| IndicatorKind::parse(v).ok())?,
            page: super::common::opt_num::<usize>(q.page.as_deref(), "pages.page")?
                .map(|p| p.clamp(1, 1_000_000)),
            per_page: Some(PER_PAGE),
        })
    })();
    let (result, error) = match parsed {
        Ok(p) => match st.app.list_reports(&actor, &p).await {
            Ok(r) => (Some(r), None),
            Err(e) if is_form_error(&e) => (None, Some(e)),
            Err(e) => return fail(&ctx, e),
        },
        Err(e) => (None, Some(e)),
    };
    let status = error.as_ref().map(status_of).unwrap_or(StatusCode::OK);
    let filters = super::common::query_prefix(&[
        ("status", &clip(&status_s, 20)),
        ("kind", &clip(q.kind.as_deref().unwrap_or(""), 30)),
    ]);
    let html = page(
        &st,
        &ctx,
        "intel_reports.html",
        context! {
            tabs => tabs(&actor),
            c => choices(),
            rows => result.as_ref().map(|p| p.items.iter().map(|r| context! {
                id => r.id, reference => r.reference.clone(), kind => r.kind.code(), value => r.value.clone(),
                fraud_type => r.fraud_type.map(|f| f.code()), description => clip(&r.description, 80),
                status => r.status.code(), indicator_id => r.indicator_id, created_at => r.created_at.0,
            }).collect::<Vec<_>>()).unwrap_or_default(),
            total => result.as_ref().map(|p| p.total).unwrap_or(0),
            page_no => result.as_ref().map(|p| p.page).unwrap_or(1),
            pages => result.as_ref().map(|p| p.pages()).unwrap_or(1),
            pager_base => format!("/intel/reports?{filters}"),
            fq => context! { status => clip(&status_s, 20), kind => clip(q.kind.as_deref().unwrap_or(""), 30) },
            flash => intel_flash(&ctx, q.ok.as_deref()),
            error => error.as_ref().map(|e| err_text(&ctx, e)),
        },
    );
    (status, html).into_response()
}

async fn render_report(
    st: &AppState,
    ctx: &Ctx,
    actor: &Actor,
    id: i64,
    contact: Option<String>,
    flash_msg: Option<String>,
) -> Response {
    let r = match st.app.get_report(actor, id).await {
        Ok(r) => r,
        Err(e) => return fail(ctx, e),
    };
    page(
        st,
        ctx,
        "intel_report.html",
        context! {
            tabs => tabs(actor),
            r => context! {
                id => r.id, reference => r.reference.clone(), kind => r.kind.code(), value => r.value.clone(),
                fraud_type => r.fraud_type.map(|f| f.code()), description => r.description.clone(),
                contact => contact.clone().or(r.contact_masked.clone()), contact_full => contact.is_some(),
                has_contact => r.contact_masked.is_some(),
                status => r.status.code(), indicator_id => r.indicator_id, review_note => r.review_note.clone(),
                created_at => r.created_at.0, updated_at => r.updated_at.0,
            },
            can_reveal => actor.can(Action::RevealPhone),
            flash => flash_msg,
        },
    )
    .into_response()
}

async fn report_detail(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
    Query(q): Query<DetailQ>,
) -> Response {
    let f = intel_flash(&ctx, q.ok.as_deref());
    render_report(&st, &ctx, &actor, id, None, f).await
}

#[derive(Deserialize, Default)]
struct ReviewInput {
    #[serde(default)]
    status: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    indicator: String,
}

async fn report_review(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
    Form(f): Form<ReviewInput>,
) -> Response {
    let status = match ReportStatus::parse(&f.status) {
        Some(s) => s,
        None => return fail(&ctx, AppError::invalid("intel.error.bad_review")),
    };
    let indicator = match f.indicator.trim() {
        "" | "keep" => ReviewIndicator::Keep,
        "confirm" => ReviewIndicator::Confirm,
        "revoke" => ReviewIndicator::Revoke,
        _ => return fail(&ctx, AppError::invalid("intel.error.bad_review")),
    };
    let review = ReportReview {
        status,
        note: f.note.clone(),
        indicator,
    };
    match st.app.review_report(&actor, id, &review).await {
        Ok(_) => Redirect::to(&format!("/intel/reports/{id}?ok=reviewed")).into_response(),
        Err(e) => fail(&ctx, e),
    }
}

async fn report_reveal(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
) -> Response {
    match st.app.reveal_report_contact(&actor, id).await {
        Ok(c) => {
            let note = Some(tr(ctx.lang, "resident.reveal_logged").to_string());
            render_report(&st, &ctx, &actor, id, Some(c), note).await
        }
        Err(e) => fail(&ctx, e),
    }
}

// ---- disposals ----

#[derive(Deserialize, Default)]
struct DisposalsQ {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    ok: Option<String>,
}

async fn disposals(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Query(q): Query<DisposalsQ>,
) -> Response {
    if let Err(e) = need(&actor, Action::ViewIntel) {
        return fail(&ctx, e);
    }
    let parsed = (|| -> Result<DisposalQuery, AppError> {
        Ok(DisposalQuery {
            status: opt_enum(&q.status, "intel.status", DisposalStatus::parse)?,
            target: opt_enum(&q.target, "intel.disposal.target", DisposalTarget::parse)?,
            indicator_id: None,
            page: super::common::opt_num::<usize>(q.page.as_deref(), "pages.page")?
                .map(|p| p.clamp(1, 1_000_000)),
            per_page: Some(PER_PAGE),
        })
    })();
    let (result, error) = match parsed {
        Ok(p) => match st.app.list_disposals(&actor, &p).await {
            Ok(r) => (Some(r), None),
            Err(e) if is_form_error(&e) => (None, Some(e)),
            Err(e) => return fail(&ctx, e),
        },
        Err(e) => (None, Some(e)),
    };
    let status = error.as_ref().map(status_of).unwrap_or(StatusCode::OK);
    let c = |o: &Option<String>, n| clip(o.as_deref().unwrap_or(""), n);
    let filters =
        super::common::query_prefix(&[("status", &c(&q.status, 20)), ("target", &c(&q.target, 20))]);
    let html = page(
        &st,
        &ctx,
        "intel_disposals.html",
        context! {
            tabs => tabs(&actor),
            c => choices(),
            rows => result.as_ref().map(|p| p.items.iter().map(|d| context! {
                id => d.id, target => d.target.code(), target_name => d.target_name.clone(), status => d.status.code(),
                count => d.indicator_ids.len(), filter => d.filter_description.clone(), requested_at => d.requested_at.0,
                updated_at => d.updated_at.0,
            }).collect::<Vec<_>>()).unwrap_or_default(),
            total => result.as_ref().map(|p| p.total).unwrap_or(0),
            page_no => result.as_ref().map(|p| p.page).unwrap_or(1),
            pages => result.as_ref().map(|p| p.pages()).unwrap_or(1),
            pager_base => format!("/intel/disposals?{filters}"),
            fq => context! { status => c(&q.status, 20), target => c(&q.target, 20) },
            can_manage => actor.can(Action::ManageDisposal),
            flash => intel_flash(&ctx, q.ok.as_deref()),
            error => error.as_ref().map(|e| err_text(&ctx, e)),
        },
    );
    (status, html).into_response()
}

#[derive(Deserialize, Default, Serialize)]
struct DisposalInput {
    #[serde(default)]
    indicator_ids: String,
    #[serde(default)]
    filter_description: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    target_name: String,
    #[serde(default)]
    request_note: String,
}

impl DisposalInput {
    fn to_form(&self) -> Result<DisposalForm, AppError> {
        let mut ids = Vec::new();
        for part in self
            .indicator_ids
            .split(|c: char| c == ',' || c == '，' || c.is_whitespace())
            .filter(|s| !s.is_empty())
        {
            ids.push(
                part.parse::<i64>()
                    .map_err(|_| AppError::invalid("intel.page.bad_selection"))?,
            );
        }
        let target = DisposalTarget::parse(&self.target).ok_or_else(|| {
            AppError::Invalid(Msg::new("pages.bad_value").arg("field", "intel.disposal.target"))
        })?;
        let name = self.target_name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(AppError::invalid("intel.page.target_name_required"));
        }
        if self.request_note.chars().count() > 2_000 || self.filter_description.chars().count() > 2_000 {
            return Err(AppError::Invalid(
                Msg::new("intel.error.text_too_long").arg("max", 2_000),
            ));
        }
        Ok(DisposalForm {
            indicator_ids: ids,
            filter_description: self.filter_description.trim().to_string(),
            target,
            target_name: name.to_string(),
            request_note: self.request_note.trim().to_string(),
        })
    }
}

fn render_disposal_form(
    st: &AppState,
    ctx: &Ctx,
    actor: &Actor,
    f: &DisposalInput,
    error: Option<AppError>,
) -> Response {
    if let Err(e) = need(actor, Action::ManageDisposal) {
        return fail(ctx, e);
    }
    let status = error.as_ref().map(status_of).unwrap_or(StatusCode::OK);
    let html = page(
        st,
        ctx,
        "intel_disposal_form.html",
        context! {
            tabs => tabs(actor),
            c => choices(),
            f => context! {
                indicator_ids => clip(&f.indicator_ids, 20_000), filter_description => clip(&f.filter_description, 2_100),
                target => clip(&f.target, 20), target_name => clip(&f.target_name, 210), request_note => clip(&f.request_note, 2_100),
            },
            error => error.as_ref().map(|e| err_text(ctx, e)),
        },
    );
    (status, html).into_response()
}

async fn disposal_new_page(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let f = DisposalInput {
        indicator_ids: clip(q.get("ids").map(String::as_str).unwrap_or(""), 20_000),
        ..Default::default()
    };
    render_disposal_form(&st, &ctx, &actor, &f, None)
}

async fn disposal_create(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Form(f): Form<DisposalInput>,
) -> Response {
    if let Err(e) = need(&actor, Action::ManageDisposal) {
        return fail(&ctx, e);
    }
    let r = match f.to_form() {
        Ok(form) => st.app.create_disposal(&actor, &form).await,
        Err(e) => Err(e),
    };
    match r {
        Ok(d) => Redirect::to(&format!("/intel/disposals/{}?ok=created", d.id)).into_response(),
        Err(e) if is_form_error(&e) => render_disposal_form(&st, &ctx, &actor, &f, Some(e)),
        Err(e) => fail(&ctx, e),
    }
}

async fn render_disposal(
    st: &AppState,
    ctx: &Ctx,
    actor: &Actor,
    id: i64,
    error: Option<AppError>,
    flash_msg: Option<String>,
) -> Response {
    let d = match st.app.get_disposal(actor, id).await {
        Ok(d) => d,
        Err(e) => return fail(ctx, e),
    };
    let shown: Vec<i64> = d.indicator_ids.iter().take(200).copied().collect();
    let mut items = Vec::new();
    for iid in &shown {
        if let Ok(x) = st.app.indicator_detail(actor, *iid).await {
            items.push(row(&x.indicator));
        }
    }
    let next: Vec<&str> = DisposalStatus::ALL
        .iter()
        .filter(|s| d.status.can_move_to(**s))
        .map(|s| s.code())
        .collect();
    let status = error.as_ref().map(status_of).unwrap_or(StatusCode::OK);
    let html = page(
        st,
        ctx,
        "intel_disposal.html",
        context! {
            tabs => tabs(actor),
            d => context! {
                id => d.id, target => d.target.code(), target_name => d.target_name.clone(),
                request_note => d.request_note.clone(), filter => d.filter_description.clone(),
                status => d.status.code(), result => d.result.clone(), requested_at => d.requested_at.0,
                updated_at => d.updated_at.0, version => d.version, count => d.indicator_ids.len(),
            },
            items => Serde(items),
            next => next,
            can_manage => actor.can(Action::ManageDisposal),
            flash => flash_msg,
            error => error.as_ref().map(|e| err_text(ctx, e)),
        },
    );
    (status, html).into_response()
}

async fn disposal_detail(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
    Query(q): Query<DetailQ>,
) -> Response {
    let f = intel_flash(&ctx, q.ok.as_deref());
    render_disposal(&st, &ctx, &actor, id, None, f).await
}

#[derive(Deserialize, Default)]
struct DisposalUpdateInput {
    #[serde(default)]
    status: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    expected_version: String,
}

async fn disposal_update(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
    Form(f): Form<DisposalUpdateInput>,
) -> Response {
    if let Err(e) = need(&actor, Action::ManageDisposal) {
        return fail(&ctx, e);
    }
    let r = match DisposalStatus::parse(&f.status) {
        Some(status) if f.result.chars().count() <= 2_000 => {
            st.app
                .update_disposal(
                    &actor,
                    id,
                    &DisposalUpdate {
                        status,
                        result: f.result.trim().to_string(),
                        expected_version: f.expected_version.trim().parse().ok(),
                    },
                )
                .await
        }
        Some(_) => Err(AppError::Invalid(
            Msg::new("intel.error.text_too_long").arg("max", 2_000),
        )),
        None => Err(AppError::Invalid(
            Msg::new("pages.bad_value").arg("field", "intel.status"),
        )),
    };
    match r {
        Ok(_) => Redirect::to(&format!("/intel/disposals/{id}?ok=saved")).into_response(),
        Err(e) if is_form_error(&e) => render_disposal(&st, &ctx, &actor, id, Some(e), None).await,
        Err(e) => fail(&ctx, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_china_time() {
        let t = day_start("2026-03-05").unwrap();
        assert_eq!(day_of(t), "2026-03-05");
        assert_eq!(day_of(Timestamp(t.0 + 86_400_000 - 1)), "2026-03-05");
        assert!(day_start("2026-02-30").is_none());
        assert!(day_start("tomorrow").is_none());
        assert!(opt_day("", "x").unwrap().is_none());
    }

    #[test]
    fn back_targets_stay_in_intel() {
        assert_eq!(back_target("/intel?kind=phone&"), "/intel?kind=phone&");
        assert_eq!(back_target("https://evil.example/"), "/intel");
        assert_eq!(back_target("//evil.example"), "/intel");
        assert_eq!(with_ok("/intel", "bulk"), "/intel?ok=bulk");
        assert_eq!(with_ok("/intel?a=1&", "bulk"), "/intel?a=1&&ok=bulk");
    }
}
