//! The intelligence base (情报库): lookups, indicators and their lifecycle,
//! the allowlist, imports, disposal exports, public reports and disposal
//! records; and the two public endpoints (风险查询, 举报) that need no login.

use super::openapi::{Doc, r};
use super::{Endpoints, M, MAX_PAGE, MAX_PER_PAGE, Params, created, done, err, fail, ok};
use crate::auth::{Api, Ctx};
use crate::error::{Json, Path, Query};
use crate::state::AppState;
use axum::body::{Body, to_bytes};
use axum::extract::multipart::Multipart;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fanzha_app::AppError;
use fanzha_app::intel::allowlist::{AllowForm, AllowQuery};
use fanzha_app::intel::disposal::{DisposalForm, DisposalQuery, DisposalUpdate};
use fanzha_app::intel::export::IntelExportRequest;
use fanzha_app::intel::formats::{ExportFormat, RpzPolicy};
use fanzha_app::intel::import::{IntelImportReport, IntelImportRequest, parse_import_format};
use fanzha_app::intel::lookup::LookupResult;
use fanzha_app::intel::reports::{PublicReportForm, ReportQuery, ReportReview};
use fanzha_app::intel::service::{BulkAction, IndicatorEdit, IndicatorForm, IndicatorQuery};
use fanzha_app::intel::{DisposalStatus, DisposalTarget, IndicatorStatus, ReportStatus};
use fanzha_core::i18n::{Lang, Msg};
use fanzha_core::roles::Action;
use fanzha_core::{FraudType, IndicatorKind, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

const INDICATOR_FILTERS: &[(&str, &str, &str)] = &[
    ("q", "string", "A value or its beginning (a phone, domain, URL…)"),
    (
        "kind",
        "string",
        "phone, domain, url, ip, app, bank_account, payment_account or social_account",
    ),
    (
        "status",
        "string",
        "pending, confirmed, disposed, revoked or expired",
    ),
    ("fraud_type", "string", "A fraud type code or its Chinese name"),
    (
        "source",
        "string",
        "analyst, upper_push, case, public_report or feed:<name>",
    ),
    ("min_confidence", "integer", "0–100"),
    ("tag", "string", "Indicators with this tag"),
    ("page", "integer", "From 1"),
    ("per_page", "integer", "1–500, default 50"),
];

pub(super) fn add(e: Endpoints) -> Endpoints {
    let e = e
        .add(
            M::Get,
            "/lookup",
            Doc::new(
                "intel",
                "Look one value up (phone, URL, domain, IP, app, account; the kind is detected unless given). \
                 Verdict flagged, allowlisted or clean, with every active matching indicator (kind, fraud type, \
                 confidence, status; sources and notes only for roles that view intel).",
            )
            .query(&[
                ("q", "string", "The value"),
                ("kind", "string", "Force the kind instead of detecting it"),
            ])
            .ok(200, r("LookupResult")),
            lookup_one,
        )
        .add(
            M::Post,
            "/lookup",
            Doc::new(
                "intel",
                "Look up to 10,000 values at once: a JSON array of strings (or of objects with `value`), or \
                 NDJSON (one JSON string, object or plain value a line). Unrecognised values get the verdict \
                 `invalid` with a reason; more values are refused with 422.",
            )
            .query(&[("kind", "string", "Force the kind of every value")])
            .raw_body(&["application/json", "application/x-ndjson"])
            .ok(200, r("LookupBatch")),
            lookup_many,
        )
        .add(
            M::Get,
            "/intel/overview",
            Doc::new("intel", "Counts by status and kind, the live index and the most used tags")
                .ok(200, r("IntelOverview")),
            overview,
        )
        .add(
            M::Get,
            "/intel/indicators",
            Doc::new("intel", "Indicators, newest first, with filters")
                .query(INDICATOR_FILTERS)
                .ok(200, r("IndicatorPage")),
            list_indicators,
        )
        .add(
            M::Post,
            "/intel/indicators",
            Doc::new(
                "intel",
                "Record an indicator (analysts). The value is normalised; allowlisted values are refused.",
            )
            .body(r("IndicatorForm"))
            .ok(201, r("Indicator"))
            .errors(&[409]),
            create_indicator,
        )
        .add(
            M::Post,
            "/intel/indicators/bulk",
            Doc::new(
                "intel",
                "Confirm, revoke (with a reason), extend or mark disposed up to 10,000 indicators at once",
            )
            .body(r("BulkRequest"))
            .ok(200, r("BulkResult")),
            bulk,
        )
        .add(
            M::Get,
            "/intel/indicators/{id}",
            Doc::new(
                "intel",
                "One indicator with its history, other sources of its value, disposal records and reports",
            )
            .ok(200, r("IndicatorDetail"))
            .errors(&[404]),
            get_indicator,
        )
        .add(
            M::Put,
            "/intel/indicators/{id}",
            Doc::new("intel", "Replace an indicator's editable fields (analysts)")
                .body(r("IndicatorEdit"))
                .ok(200, r("IndicatorDetail"))
                .errors(&[404, 409]),
            put_indicator,
        )
        .add(
            M::Delete,
            "/intel/indicators/{id}",
            Doc::new(
                "intel",
                "Delete a mistaken indicator (one named in a disposal record must be revoked instead)",
            )
            .no_content()
            .errors(&[404, 409]),
            delete_indicator,
        );
    let e = e
        .add(
            M::Get,
            "/intel/allowlist",
            Doc::new("intel", "The allowlist (白名单): built-in and added entries")
                .query(&[
                    ("q", "string", "A value or its beginning"),
                    ("kind", "string", "Entries of this kind"),
                    ("builtin", "boolean", "true: shipped entries only; false: added ones only"),
                    ("page", "integer", "From 1"),
                    ("per_page", "integer", "1–500, default 50"),
                ])
                .ok(200, r("AllowPage")),
            list_allow,
        )
        .add(
            M::Post,
            "/intel/allowlist",
            Doc::new(
                "intel",
                "Add a value that must never be flagged (administrators); answers how many active indicators it now covers",
            )
            .body(r("AllowForm"))
            .ok(201, r("AllowAdded"))
            .errors(&[409]),
            add_allow,
        )
        .add(
            M::Delete,
            "/intel/allowlist/{id}",
            Doc::new("intel", "Remove an added allowlist entry (built-in entries stay)")
                .no_content()
                .errors(&[404, 409]),
            remove_allow,
        )
        .add(
            M::Post,
            "/intel/import",
            Doc::new(
                "intel",
                "Import an indicator file (CSV, XLSX, TSV, list, hosts, adblock, STIX 2.1, the 165 lists) sent as \
                 the raw body or as multipart form data (part `file`, other parts as the query parameters). The \
                 report lists what was added, updated, unchanged, skipped (allowlisted, duplicate, comments) and \
                 rejected, each with its reason. Re-importing the same file changes nothing.",
            )
            .query(&[
                ("format", "string", "csv, xlsx, tsv, list, hosts, adblock, stix, tw165; detected when missing"),
                ("file_name", "string", "The file's name (also the default source)"),
                ("source", "string", "Source name of the rows (a feed name or a source code)"),
                ("fraud_type", "string", "Fraud type of rows that give none"),
                ("kind", "string", "Kind of every value of a list"),
                ("confidence", "integer", "Confidence of rows that give none (0–100)"),
                ("status", "string", "confirmed (default) or pending"),
            ])
            .raw_body(&["text/csv", XLSX, "text/plain", "application/json", "multipart/form-data"])
            .ok(200, r("IntelImportReport")),
            import,
        )
        .add(
            M::Get,
            "/intel/imports",
            Doc::new("intel", "Recorded imports, newest first")
                .query(&[("page", "integer", "From 1"), ("per_page", "integer", "1–500, default 50")])
                .ok(200, r("ImportJobPage")),
            list_imports,
        )
        .add(
            M::Get,
            "/intel/imports/{id}",
            Doc::new("intel", "One recorded import with its full report")
                .ok(200, r("ImportJob"))
                .errors(&[404]),
            get_import,
        )
        .add(
            M::Get,
            "/intel/export",
            Doc::new(
                "intel",
                "Download indicators for disposal: an RPZ zone, a hosts file, a domain list, an nftables or ipset \
                 set, CSV, XLSX or a STIX 2.1 bundle. Block lists take confirmed and disposed indicators within \
                 their validity unless statuses are given. Deterministic for the same data; audited.",
            )
            .query(&[
                ("format", "string", "rpz, hosts, domains, nftables, ipset, csv, xlsx or stix"),
                ("status", "string", "Statuses, comma-separated"),
                ("kind", "string", "Only this kind"),
                ("fraud_type", "string", "Only this fraud type"),
                ("min_confidence", "integer", "0–100"),
                ("policy", "string", "RPZ: nxdomain (default), nodata or redirect"),
                ("redirect_host", "string", "RPZ redirect: the warning (劝阻) page's host"),
            ])
            .raw_response(&["text/plain", "text/csv", XLSX, "application/json"]),
            export,
        );
    let e = e
        .add(
            M::Get,
            "/intel/reports",
            Doc::new(
                "intel",
                "Public reports (举报) for review, newest first (contacts masked)",
            )
            .query(&[
                ("status", "string", "new, accepted, rejected or allowlisted"),
                ("kind", "string", "Reports of this kind"),
                ("page", "integer", "From 1"),
                ("per_page", "integer", "1–500, default 50"),
            ])
            .ok(200, r("ReportPage")),
            list_reports,
        )
        .add(
            M::Get,
            "/intel/reports/{id}",
            Doc::new("intel", "One public report (contact masked)")
                .ok(200, r("Report"))
                .errors(&[404]),
            get_report,
        )
        .add(
            M::Post,
            "/intel/reports/{id}/review",
            Doc::new(
                "intel",
                "Accept or reject a report and, when asked, confirm or revoke its pending indicator",
            )
            .body(r("ReportReview"))
            .ok(200, r("Report"))
            .errors(&[404]),
            review_report,
        )
        .add(
            M::Post,
            "/intel/reports/{id}/reveal",
            Doc::new(
                "intel",
                "The reporter's full contact number; the reveal is audited (查询留痕)",
            )
            .ok(200, r("RevealContact"))
            .errors(&[404]),
            reveal_contact,
        )
        .add(
            M::Get,
            "/intel/disposals",
            Doc::new("intel", "Disposal records (处置记录), newest first")
                .query(&[
                    ("status", "string", "requested, in_progress, done or rejected"),
                    ("target", "string", "operator, bank, platform or registrar"),
                    ("indicator_id", "integer", "Records naming this indicator"),
                    ("page", "integer", "From 1"),
                    ("per_page", "integer", "1–500, default 50"),
                ])
                .ok(200, r("DisposalPage")),
            list_disposals,
        )
        .add(
            M::Post,
            "/intel/disposals",
            Doc::new(
                "intel",
                "Record a request to an operator, bank, platform or registrar to act on indicators",
            )
            .body(r("DisposalForm"))
            .ok(201, r("Disposal")),
            create_disposal,
        )
        .add(
            M::Get,
            "/intel/disposals/{id}",
            Doc::new("intel", "One disposal record")
                .ok(200, r("Disposal"))
                .errors(&[404]),
            get_disposal,
        )
        .add(
            M::Put,
            "/intel/disposals/{id}",
            Doc::new(
                "intel",
                "Move a disposal record on (in_progress, done, rejected) with its result; when done, its \
                 confirmed indicators become disposed",
            )
            .body(r("DisposalUpdate"))
            .ok(200, r("Disposal"))
            .errors(&[404, 409]),
            update_disposal,
        );
    e.add(
        M::Get,
        "/public/check",
        Doc::new(
            "public",
            "Public risk check (风险查询), no login: the verdict and fraud types only. Rate-limited per address \
             (429); each check counts as a sighting of the indicators behind a flagged verdict.",
        )
        .public()
        .query(&[("q", "string", "A phone number, URL, domain or account")])
        .ok(200, r("PublicCheck"))
        .errors(&[429]),
        public_check,
    )
    .add(
        M::Post,
        "/public/reports",
        Doc::new(
            "public",
            "Report a number, URL, app or account (举报), no login. Creates a report and a pending indicator for \
             review; answers the reference to check its status. Rate- and length-limited (429, 422).",
        )
        .public()
        .body(r("PublicReportForm"))
        .ok(201, r("ReportReceipt"))
        .errors(&[429]),
        public_report,
    )
    .add(
        M::Get,
        "/public/reports/status",
        Doc::new("public", "The status of a public report by its reference, no login")
            .public()
            .query(&[("reference", "string", "The reference given when reporting, e.g. JB20260101-7K3QX9")])
            .ok(200, r("PublicReportStatus"))
            .errors(&[404, 429]),
        public_report_status,
    )
}

// ---- parameters ----

fn bad(name: &str) -> AppError {
    AppError::Invalid(Msg::new("api.bad_param").arg("name", name))
}

/// A parameter parsed by `f`; absent is `None`, unparsable is 422 naming it.
fn parsed<T>(p: &Params, name: &str, f: impl Fn(&str) -> Option<T>) -> Result<Option<T>, AppError> {
    match p.text(name, 64)? {
        None => Ok(None),
        Some(v) => f(&v).map(Some).ok_or_else(|| bad(name)),
    }
}

pub(crate) fn kind_param(p: &Params) -> Result<Option<IndicatorKind>, AppError> {
    parsed(p, "kind", |v| IndicatorKind::parse(v).ok())
}

fn fraud_param(p: &Params) -> Result<Option<FraudType>, AppError> {
    parsed(p, "fraud_type", |v| FraudType::parse(v).ok())
}

fn confidence_param(p: &Params, name: &str) -> Result<Option<u8>, AppError> {
    Ok(p.int(name, 0, 100)?.map(|v| v as u8))
}

fn paging(p: &Params) -> Result<(Option<usize>, Option<usize>), AppError> {
    Ok((
        p.int("page", 1, MAX_PAGE)?.map(|v| v as usize),
        p.int("per_page", 1, MAX_PER_PAGE)?.map(|v| v as usize),
    ))
}

fn indicator_query(p: &Params) -> Result<IndicatorQuery, AppError> {
    let (page, per_page) = paging(p)?;
    Ok(IndicatorQuery {
        q: p.text("q", 200)?,
        kind: kind_param(p)?,
        status: parsed(p, "status", IndicatorStatus::parse)?,
        fraud_type: fraud_param(p)?,
        source: p.text("source", 80)?,
        min_confidence: confidence_param(p, "min_confidence")?,
        tag: p.text("tag", 40)?,
        page,
        per_page,
    })
}

/// A lookup result with its error message rendered in the caller's language.
pub(crate) fn result_json(lang: Lang, r: &LookupResult) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
    if let (Some(o), Some(e)) = (v.as_object_mut(), &r.error) {
        o.insert("error".into(), json!(e.render(lang)));
    }
    v
}

// ---- lookups ----

async fn lookup_one(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let p = Params(q);
    let (value, kind) = match (p.text("q", 2_048), kind_param(&p)) {
        (Ok(Some(v)), Ok(k)) => (v, k),
        (Ok(None), _) => return err(&ctx, AppError::invalid("intel.error.empty_value")),
        (Err(e), _) | (_, Err(e)) => return err(&ctx, e),
    };
    match st.app.lookup(&actor, &value, kind).await {
        Ok(r) => axum::Json(result_json(ctx.lang, &r)).into_response(),
        Err(e) => err(&ctx, e),
    }
}

/// The values of a batch: a JSON array, or NDJSON (a JSON string, an object
/// with `value`, or the plain text of each line).
pub(crate) fn batch_values(body: &[u8], json_array: bool) -> Result<Vec<String>, AppError> {
    let text = std::str::from_utf8(body).map_err(|_| AppError::invalid("intel.api.not_utf8"))?;
    let one = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Object(o) => match o.get("value") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            },
            _ => None,
        }
    };
    let trimmed = text.trim_start();
    if json_array || trimmed.starts_with('[') {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| AppError::Invalid(Msg::new("error.bad_json").arg("detail", e.to_string())))?;
        let Value::Array(items) = v else {
            return Err(AppError::invalid("intel.api.batch_shape"));
        };
        return items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                one(v).ok_or_else(|| AppError::Invalid(Msg::new("intel.api.batch_item").arg("n", i + 1)))
            })
            .collect();
    }
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let value = match serde_json::from_str::<Value>(t) {
            Ok(v) => one(&v).unwrap_or_else(|| t.to_string()),
            Err(_) => t.to_string(),
        };
        out.push(value);
    }
    Ok(out)
}

async fn lookup_many(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !actor.can(Action::LookupIntel)
        && let Err(e) = st.app.gate(&actor, Action::ViewIntel)
    {
        return err(&ctx, e);
    }
    let kind = match kind_param(&Params(q)) {
        Ok(k) => k,
        Err(e) => return err(&ctx, e),
    };
    let limit = st.cfg.max_body_bytes;
    let bytes = match to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => return err(&ctx, AppError::TooLarge { limit }),
    };
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let values = match batch_values(&bytes, ctype.starts_with("application/json")) {
        Ok(v) => v,
        Err(e) => return err(&ctx, e),
    };
    match st.app.lookup_batch(&actor, &values, kind).await {
        Ok(results) => {
            let count = |v| results.iter().filter(|r| r.verdict == v).count();
            use fanzha_app::intel::lookup::Verdict;
            let body = json!({
                "count": results.len(),
                "flagged": count(Verdict::Flagged),
                "allowlisted": count(Verdict::Allowlisted),
                "clean": count(Verdict::Clean),
                "invalid": count(Verdict::Invalid),
                "results": results.iter().map(|r| result_json(ctx.lang, r)).collect::<Vec<_>>(),
            });
            axum::Json(body).into_response()
        }
        Err(e) => err(&ctx, e),
    }
}

// ---- indicators ----

async fn overview(State(st): State<AppState>, Api(ctx, actor): Api) -> Response {
    ok(&ctx, st.app.intel_overview(&actor).await)
}

async fn list_indicators(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match indicator_query(&Params(q)) {
        Ok(q) => ok(&ctx, st.app.list_indicators(&actor, &q).await),
        Err(e) => err(&ctx, e),
    }
}

async fn create_indicator(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Json(f): Json<IndicatorForm>,
) -> Response {
    created(&ctx, st.app.create_indicator(&actor, &f).await)
}

async fn get_indicator(State(st): State<AppState>, Api(ctx, actor): Api, Path(id): Path<i64>) -> Response {
    ok(&ctx, st.app.indicator_detail(&actor, id).await)
}

async fn put_indicator(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Path(id): Path<i64>,
    Json(e): Json<IndicatorEdit>,
) -> Response {
    let r = match st.app.update_indicator(&actor, id, &e).await {
        Ok(_) => st.app.indicator_detail(&actor, id).await,
        Err(e) => Err(e),
    };
    ok(&ctx, r)
}

async fn delete_indicator(State(st): State<AppState>, Api(ctx, actor): Api, Path(id): Path<i64>) -> Response {
    done(&ctx, st.app.delete_indicator(&actor, id).await)
}

#[derive(Deserialize)]
struct BulkRequest {
    ids: Vec<i64>,
    action: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    valid_until: Option<Timestamp>,
    #[serde(default)]
    days: Option<u32>,
}

pub(crate) fn bulk_action(
    action: &str,
    valid_until: Option<Timestamp>,
    days: Option<u32>,
) -> Result<BulkAction, AppError> {
    match action.trim() {
        "confirm" => Ok(BulkAction::Confirm),
        "revoke" => Ok(BulkAction::Revoke),
        "dispose" => Ok(BulkAction::Dispose),
        "extend" => match (valid_until, days) {
            (Some(u), _) => Ok(BulkAction::Extend { valid_until: u }),
            (None, Some(d)) if (1..=3650).contains(&d) => Ok(BulkAction::ExtendDays { days: d }),
            (None, Some(_)) => Err(bad("days")),
            (None, None) => Err(AppError::invalid("intel.bulk.extend_needs")),
        },
        _ => Err(bad("action")),
    }
}

async fn bulk(State(st): State<AppState>, Api(ctx, actor): Api, Json(b): Json<BulkRequest>) -> Response {
    let action = match bulk_action(&b.action, b.valid_until, b.days) {
        Ok(a) => a,
        Err(e) => return err(&ctx, e),
    };
    ok(
        &ctx,
        st.app.bulk_indicators(&actor, &b.ids, action, &b.reason).await,
    )
}

// ---- allowlist ----

async fn list_allow(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let p = Params(q);
    let query = (|| -> Result<AllowQuery, AppError> {
        let (page, per_page) = paging(&p)?;
        Ok(AllowQuery {
            kind: kind_param(&p)?,
            builtin: parsed(&p, "builtin", |v| match v {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            })?,
            q: p.text("q", 200)?,
            page,
            per_page,
        })
    })();
    match query {
        Ok(q) => ok(&ctx, st.app.list_allowlist(&actor, &q).await),
        Err(e) => err(&ctx, e),
    }
}

async fn add_allow(State(st): State<AppState>, Api(ctx, actor): Api, Json(f): Json<AllowForm>) -> Response {
    created(&ctx, st.app.add_allow_entry(&actor, &f).await)
}

async fn remove_allow(State(st): State<AppState>, Api(ctx, actor): Api, Path(id): Path<i64>) -> Response {
    done(&ctx, st.app.remove_allow_entry(&actor, id).await)
}

// ---- import ----

/// The options of an import as text fields (query parameters or form parts).
#[derive(Default, Clone, Debug)]
pub(crate) struct ImportFields {
    pub format: String,
    pub file_name: String,
    pub source: String,
    pub fraud_type: String,
    pub kind: String,
    pub confidence: String,
    pub status: String,
}

impl ImportFields {
    pub(crate) fn from_map(m: &HashMap<String, String>) -> ImportFields {
        let g = |k: &str| {
            m.get(k)
                .map(|v| v.chars().take(200).collect())
                .unwrap_or_default()
        };
        ImportFields {
            format: g("format"),
            file_name: g("file_name"),
            source: g("source"),
            fraud_type: g("fraud_type"),
            kind: g("kind"),
            confidence: g("confidence"),
            status: g("status"),
        }
    }

    pub(crate) fn set(&mut self, name: &str, value: String) {
        let v: String = value.chars().take(200).collect();
        match name {
            "format" => self.format = v,
            "file_name" => self.file_name = v,
            "source" => self.source = v,
            "fraud_type" => self.fraud_type = v,
            "kind" => self.kind = v,
            "confidence" => self.confidence = v,
            "status" => self.status = v,
            _ => {}
        }
    }

    /// The request, with the file's own name when the fields give none.
    pub(crate) fn request(
        &self,
        upload_name: Option<&str>,
        bytes: &[u8],
    ) -> Result<IntelImportRequest, AppError> {
        let t = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let file_name = t(&self.file_name)
            .or_else(|| upload_name.and_then(t))
            .unwrap_or_else(|| "upload".to_string());
        let mut req = IntelImportRequest::new(&file_name);
        if let Some(f) = t(&self.format) {
            req.format = Some(parse_import_format(&f, Some(&file_name), bytes).ok_or_else(|| bad("format"))?);
        }
        if let Some(k) = t(&self.kind) {
            req.kind = Some(IndicatorKind::parse(&k).map_err(|_| bad("kind"))?);
        }
        if let Some(f) = t(&self.fraud_type) {
            req.fraud_type = Some(FraudType::parse(&f).map_err(|_| bad("fraud_type"))?);
        }
        if let Some(c) = t(&self.confidence) {
            req.confidence = Some(
                c.parse::<u8>()
                    .ok()
                    .filter(|c| *c <= 100)
                    .ok_or_else(|| bad("confidence"))?,
            );
        }
        if let Some(s) = t(&self.status) {
            req.status = Some(IndicatorStatus::parse(&s).ok_or_else(|| bad("status"))?);
        }
        req.source = t(&self.source);
        Ok(req)
    }
}

/// The import report with every message rendered in the caller's language.
pub(crate) fn import_report_json(lang: Lang, rep: &IntelImportReport) -> Value {
    let mut v = serde_json::to_value(rep).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        let rejected: Vec<Value> = rep
            .rejected
            .iter()
            .map(|r| json!({ "line": r.line, "reason": r.reason.render(lang), "code": r.reason.key, "excerpt": r.excerpt }))
            .collect();
        o.insert("rejected".into(), Value::Array(rejected));
    }
    v
}

async fn import(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Query(q): Query<HashMap<String, String>>,
    req: Request,
) -> Response {
    // Refuse before reading a large body the caller may not send.
    if let Err(e) = st.app.gate(&actor, Action::ImportIntel) {
        return err(&ctx, e);
    }
    let limit = st.app.config().max_upload_bytes;
    let mut fields = ImportFields::from_map(&q);
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (bytes, upload_name) = if ctype.starts_with("multipart/form-data") {
        match read_multipart(&st, req, limit, &mut fields).await {
            Ok(x) => x,
            Err(e) => return err(&ctx, e),
        }
    } else {
        match to_bytes(req.into_body(), limit).await {
            Ok(b) => (b.to_vec(), None),
            Err(_) => return err(&ctx, AppError::TooLarge { limit }),
        }
    };
    if bytes.is_empty() {
        return err(&ctx, AppError::invalid("intel.import.empty_file"));
    }
    let req = match fields.request(upload_name.as_deref(), &bytes) {
        Ok(r) => r,
        Err(e) => return err(&ctx, e),
    };
    match st.app.import_intel(&actor, &bytes, &req, &|_| {}).await {
        Ok(rep) => axum::Json(import_report_json(ctx.lang, &rep)).into_response(),
        Err(e) => err(&ctx, e),
    }
}

/// Reads a multipart upload: the `file` part and the option parts.
pub(crate) async fn read_multipart(
    st: &AppState,
    req: Request,
    limit: usize,
    fields: &mut ImportFields,
) -> Result<(Vec<u8>, Option<String>), AppError> {
    let bad_upload = || AppError::invalid("intel.api.bad_upload");
    let mut mp = Multipart::from_request(req, st).await.map_err(|_| bad_upload())?;
    let (mut bytes, mut name) = (Vec::new(), None);
    let too_large =
        |e: &axum::extract::multipart::MultipartError| e.status() == StatusCode::PAYLOAD_TOO_LARGE;
    loop {
        let mut field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if too_large(&e) => return Err(AppError::TooLarge { limit }),
            Err(_) => return Err(bad_upload()),
        };
        let fname = field.name().unwrap_or("").to_string();
        if fname == "file" {
            name = field.file_name().map(|n| n.chars().take(200).collect());
            loop {
                match field.chunk().await {
                    Ok(Some(chunk)) => {
                        if bytes.len() + chunk.len() > limit {
                            return Err(AppError::TooLarge { limit });
                        }
                        bytes.extend_from_slice(&chunk);
                    }
                    Ok(None) => break,
                    Err(e) if too_large(&e) => return Err(AppError::TooLarge { limit }),
                    Err(_) => return Err(bad_upload()),
                }
            }
        } else {
            let t = field.text().await.map_err(|_| bad_upload())?;
            fields.set(&fname, t);
        }
    }
    Ok((bytes, name))
}

async fn list_imports(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match paging(&Params(q)) {
        Ok((page, per_page)) => ok(
            &ctx,
            st.app
                .list_import_jobs(&actor, page.unwrap_or(1), per_page.unwrap_or(50))
                .await,
        ),
        Err(e) => err(&ctx, e),
    }
}

async fn get_import(State(st): State<AppState>, Api(ctx, actor): Api, Path(id): Path<i64>) -> Response {
    match st.app.import_job(&actor, id).await {
        Ok((job, report)) => {
            let mut v = serde_json::to_value(&job).unwrap_or(Value::Null);
            if let Some(o) = v.as_object_mut() {
                o.remove("report");
                o.insert(
                    "report".into(),
                    report.map_or(Value::Null, |r| import_report_json(ctx.lang, &r)),
                );
            }
            axum::Json(v).into_response()
        }
        Err(e) => err(&ctx, e),
    }
}

// ---- export ----

/// An export request from text parameters (API query or page form).
pub(crate) fn export_request(p: &Params) -> Result<IntelExportRequest, AppError> {
    let format = match p.text("format", 20)? {
        Some(f) => ExportFormat::parse(&f).ok_or_else(|| bad("format"))?,
        None => return Err(AppError::invalid("intel.export.format_required")),
    };
    let mut req = IntelExportRequest::new(format);
    if let Some(s) = p.text("status", 100)? {
        for part in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
            req.statuses
                .push(IndicatorStatus::parse(part).ok_or_else(|| bad("status"))?);
        }
        req.statuses.sort();
        req.statuses.dedup();
    }
    req.kind = kind_param(p)?;
    req.fraud_type = fraud_param(p)?;
    req.min_confidence = confidence_param(p, "min_confidence")?;
    req.rpz_policy = match p.text("policy", 20)?.as_deref() {
        None | Some("nxdomain") => None,
        Some("nodata") => Some(RpzPolicy::NoData),
        Some("redirect") => match p.text("redirect_host", 253)? {
            Some(host) => Some(RpzPolicy::Redirect { host }),
            None => return Err(AppError::invalid("intel.export.redirect_host_required")),
        },
        Some(_) => return Err(bad("policy")),
    };
    Ok(req)
}

pub(crate) fn download(e: fanzha_app::intel::export::IntelExport) -> Response {
    (
        [
            (header::CONTENT_TYPE, e.content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", e.file_name),
            ),
            (
                header::HeaderName::from_static("x-fanzha-written"),
                e.written.to_string(),
            ),
        ],
        e.bytes,
    )
        .into_response()
}

async fn export(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    // A role that may not export learns that before its parameters are checked.
    if let Err(e) = st.app.gate(&actor, Action::ExportIntel) {
        return err(&ctx, e);
    }
    match export_request(&Params(q)) {
        Ok(req) => match st.app.export_intel(&actor, &req).await {
            Ok(e) => download(e),
            Err(e) => err(&ctx, e),
        },
        Err(e) => err(&ctx, e),
    }
}

// ---- reports ----

async fn list_reports(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let p = Params(q);
    let query = (|| -> Result<ReportQuery, AppError> {
        let (page, per_page) = paging(&p)?;
        Ok(ReportQuery {
            status: parsed(&p, "status", ReportStatus::parse)?,
            kind: kind_param(&p)?,
            page,
            per_page,
        })
    })();
    match query {
        Ok(q) => ok(&ctx, st.app.list_reports(&actor, &q).await),
        Err(e) => err(&ctx, e),
    }
}

async fn get_report(State(st): State<AppState>, Api(ctx, actor): Api, Path(id): Path<i64>) -> Response {
    ok(&ctx, st.app.get_report(&actor, id).await)
}

async fn review_report(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Path(id): Path<i64>,
    Json(r): Json<ReportReview>,
) -> Response {
    ok(&ctx, st.app.review_report(&actor, id, &r).await)
}

async fn reveal_contact(State(st): State<AppState>, Api(ctx, actor): Api, Path(id): Path<i64>) -> Response {
    ok(
        &ctx,
        st.app
            .reveal_report_contact(&actor, id)
            .await
            .map(|c| json!({ "contact": c })),
    )
}

// ---- disposals ----

async fn list_disposals(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let p = Params(q);
    let query = (|| -> Result<DisposalQuery, AppError> {
        let (page, per_page) = paging(&p)?;
        Ok(DisposalQuery {
            status: parsed(&p, "status", DisposalStatus::parse)?,
            target: parsed(&p, "target", DisposalTarget::parse)?,
            indicator_id: p.int("indicator_id", 1, i64::MAX)?,
            page,
            per_page,
        })
    })();
    match query {
        Ok(q) => ok(&ctx, st.app.list_disposals(&actor, &q).await),
        Err(e) => err(&ctx, e),
    }
}

async fn create_disposal(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Json(f): Json<DisposalForm>,
) -> Response {
    created(&ctx, st.app.create_disposal(&actor, &f).await)
}

async fn get_disposal(State(st): State<AppState>, Api(ctx, actor): Api, Path(id): Path<i64>) -> Response {
    ok(&ctx, st.app.get_disposal(&actor, id).await)
}

async fn update_disposal(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Path(id): Path<i64>,
    Json(u): Json<DisposalUpdate>,
) -> Response {
    ok(&ctx, st.app.update_disposal(&actor, id, &u).await)
}

// ---- public ----

async fn public_check(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let p = Params(q);
    let value = match p.text("q", 2_048) {
        Ok(Some(v)) => v,
        Ok(None) => return err(&ctx, AppError::invalid("intel.error.empty_value")),
        Err(e) => return err(&ctx, e),
    };
    match st.app.public_lookup(&value, None, &ctx.ip).await {
        Ok(r) => axum::Json(json!({
            "kind": r.kind,
            "verdict": r.verdict,
            "fraud_types": r.fraud_types,
            "message": Msg::new(&format!("intel.verdict.{}", verdict_code(r.verdict))).render(ctx.lang),
        }))
        .into_response(),
        Err(e) => err(&ctx, e),
    }
}

pub(crate) fn verdict_code(v: fanzha_app::intel::lookup::Verdict) -> &'static str {
    use fanzha_app::intel::lookup::Verdict;
    match v {
        Verdict::Flagged => "flagged",
        Verdict::Allowlisted => "allowlisted",
        Verdict::Clean => "clean",
        Verdict::Invalid => "invalid",
    }
}

async fn public_report(State(st): State<AppState>, ctx: Ctx, Json(f): Json<PublicReportForm>) -> Response {
    match st.app.submit_report(&f, &ctx.ip).await {
        Ok(r) => (StatusCode::CREATED, axum::Json(r)).into_response(),
        Err(e) => err(&ctx, e),
    }
}

async fn public_report_status(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let reference = match Params(q).text("reference", 40) {
        Ok(Some(r)) => r,
        Ok(None) => return fail(StatusCode::UNPROCESSABLE_ENTITY, "invalid", &bad_ref(), ctx.lang),
        Err(e) => return err(&ctx, e),
    };
    match st.app.public_report_status(&reference, &ctx.ip).await {
        Ok(s) => axum::Json(json!({
            "reference": reference,
            "status": s,
            "message": Msg::new(&format!("intel.report_status.{}", s.code())).render(ctx.lang),
        }))
        .into_response(),
        Err(e) => err(&ctx, e),
    }
}

fn bad_ref() -> Msg {
    Msg::new("api.bad_param").arg("name", "reference")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_read_arrays_and_lines() {
        assert_eq!(
            batch_values(br#"["a.com", {"value": "b.com"}, 13800138000]"#, false).unwrap(),
            vec!["a.com", "b.com", "13800138000"]
        );
        assert_eq!(
            batch_values(
                b"\"a.com\"\n\n{\"value\":\"b.com\"}\n13800138000\nhttp://x.cn/a b\n",
                false
            )
            .unwrap(),
            vec!["a.com", "b.com", "13800138000", "http://x.cn/a b"]
        );
        assert!(batch_values(b"{\"value\": 1}", true).is_err());
        assert!(batch_values(b"[true]", false).is_err());
        assert!(batch_values(b"\xff\xfe", false).is_err());
    }

    #[test]
    fn bulk_actions() {
        assert_eq!(bulk_action("confirm", None, None).unwrap(), BulkAction::Confirm);
        assert_eq!(
            bulk_action("extend", None, Some(30)).unwrap(),
            BulkAction::ExtendDays { days: 30 }
        );
        assert!(bulk_action("extend", None, None).is_err());
        assert!(bulk_action("extend", None, Some(0)).is_err());
        assert!(bulk_action("explode", None, None).is_err());
    }
}
