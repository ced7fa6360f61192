//! Leads (线索), the detection rules and backtests.

use super::openapi::{Doc, r};
use super::{Endpoints, M, MAX_PAGE, MAX_PER_PAGE, Params, err, ok};
use crate::auth::{Api, Ctx};
use crate::error::{Json, Path, Query};
use crate::state::AppState;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use fanzha_app::AppError;
use fanzha_app::detect::leads::{LeadImportReport, LeadQuery};
use fanzha_app::detect::{LeadSource, LeadStatus};
use fanzha_core::i18n::Msg;
use fanzha_core::roles::Action;
use fanzha_core::{FraudType, Grade, NodeId, Timestamp};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;

const FILTERS: &[(&str, &str, &str)] = &[
    ("grade", "string", "critical, high, medium or low"),
    ("status", "string", "open, dispatched or closed"),
    ("fraud_type", "string", "A fraud type code or its Chinese name"),
    ("node", "integer", "Leads anywhere below this org node"),
    ("source", "string", "engine, upper_push or public_report"),
    (
        "from",
        "string",
        "Opened at or after (RFC 3339 or ms since the epoch)",
    ),
    ("to", "string", "Opened before (RFC 3339 or ms since the epoch)"),
    ("page", "integer", "From 1"),
    ("per_page", "integer", "1–500, default 50"),
];

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

pub(super) fn add(e: Endpoints) -> Endpoints {
    e.add(
        M::Get,
        "/leads",
        Doc::new(
            "detection",
            "Leads in the caller's scope, newest first (subscribers masked). Leads of subscribers who are not \
             residents belong to the county root.",
        )
        .query(FILTERS)
        .ok(200, r("LeadPage"))
        .errors(&[404]),
        list,
    )
    .add(
        M::Get,
        "/leads/{id}",
        Doc::new(
            "detection",
            "One lead with the engine's explanation and its evidence timeline (events masked)",
        )
        .ok(200, r("Lead"))
        .errors(&[404]),
        get_one,
    )
    .add(
        M::Post,
        "/leads/{id}/reveal",
        Doc::new(
            "detection",
            "The full phone (or account) of a lead's subscriber, for roles that may see it; written to the audit log \
             (查询留痕)",
        )
        .ok(200, r("LeadReveal"))
        .errors(&[404]),
        reveal,
    )
    .add(
        M::Post,
        "/leads/import",
        Doc::new(
            "detection",
            "Import leads pushed by an upper-level center (上级推送) from CSV, XLSX or JSON sent as the raw body \
             (columns phone, name, fraud_type, grade, pushed_at, upstream_id); bad rows are reported, good rows \
             stored; idempotent by upstream id",
        )
        .query(&[("format", "string", "csv, xlsx or json; otherwise from Content-Type or the content")])
        .raw_body(&["text/csv", XLSX, "application/json"])
        .ok(200, r("LeadImportReport")),
        import,
    )
    .add(
        M::Get,
        "/rules",
        Doc::new("detection", "The active detection rules (TOML) and the saved versions")
            .ok(200, r("RulesView")),
        get_rules,
    )
    .add(
        M::Put,
        "/rules",
        Doc::new(
            "detection",
            "Save a new rules version (validated first; its `version` key is set to the stored number) and make \
             it active; the pipeline switches to it without dropping events. Audited.",
        )
        .body(r("RulesPut"))
        .ok(200, r("RulesVersion")),
        put_rules,
    )
    .add(
        M::Get,
        "/rules/{version}",
        Doc::new("detection", "One saved rules version with its document")
            .ok(200, r("RulesVersion"))
            .errors(&[404]),
        get_rules_version,
    )
    .add(
        M::Post,
        "/rules/{version}/activate",
        Doc::new(
            "detection",
            "Make a saved rules version the active one again; the pipeline switches to it before its next event. \
             Audited.",
        )
        .ok(200, r("RulesVersion"))
        .errors(&[404]),
        activate_rules,
    )
    .add(
        M::Post,
        "/rules/check",
        Doc::new(
            "detection",
            "Check a rules document without saving it: whether it is valid, and if not the problem and its line",
        )
        .body(r("RulesPut"))
        .ok(200, r("RulesCheck")),
        check_rules,
    )
    .add(
        M::Post,
        "/backtest",
        Doc::new(
            "detection",
            "Replay stored events between two times under candidate rules and under the live rules; lists new \
             leads, dropped leads and grade changes",
        )
        .body(r("BacktestRequest"))
        .ok(200, r("BacktestReport")),
        backtest,
    )
}

fn bad(name: &str) -> AppError {
    AppError::Invalid(Msg::new("api.bad_param").arg("name", name))
}

fn time(p: &Params, name: &str) -> Result<Option<Timestamp>, AppError> {
    match p.text(name, 40)? {
        None => Ok(None),
        Some(t) => fanzha_core::event::parse_time(&t)
            .map(Some)
            .ok_or_else(|| bad(name)),
    }
}

fn query_of(p: &Params) -> Result<LeadQuery, AppError> {
    let parse = |name: &str, f: &dyn Fn(&str) -> bool| -> Result<Option<String>, AppError> {
        match p.text(name, 40)? {
            Some(v) if f(&v) => Ok(Some(v)),
            Some(_) => Err(bad(name)),
            None => Ok(None),
        }
    };
    Ok(LeadQuery {
        grade: parse("grade", &|v| Grade::parse(v).is_ok())?.and_then(|v| Grade::parse(&v).ok()),
        status: parse("status", &|v| LeadStatus::parse(v).is_some())?.and_then(|v| LeadStatus::parse(&v)),
        fraud_type: parse("fraud_type", &|v| FraudType::parse(v).is_ok())?
            .and_then(|v| FraudType::parse(&v).ok()),
        node: p.int("node", 1, i64::MAX)?.map(NodeId),
        source: parse("source", &|v| LeadSource::parse(v).is_some())?.and_then(|v| LeadSource::parse(&v)),
        from: time(p, "from")?,
        to: time(p, "to")?,
        page: p.int("page", 1, MAX_PAGE)?.map(|v| v as usize),
        per_page: p.int("per_page", 1, MAX_PER_PAGE)?.map(|v| v as usize),
    })
}

async fn list(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match query_of(&Params(q)) {
        Ok(q) => ok(&ctx, st.app.leads(&actor, &q).await),
        Err(e) => err(&ctx, e),
    }
}

async fn get_one(State(st): State<AppState>, Api(ctx, actor): Api, Path(id): Path<i64>) -> Response {
    ok(&ctx, st.app.lead(&actor, id).await)
}

/// The import report with every rejection rendered in the caller's language.
fn report_json(ctx: &Ctx, rep: &LeadImportReport) -> serde_json::Value {
    let rejected: Vec<serde_json::Value> = rep
        .rejected
        .iter()
        .map(|e| {
            let reason = e.reason.render(ctx.lang);
            let message = Msg::new("import.row_error")
                .arg("row", e.row)
                .arg("column", &e.column)
                .arg("reason", &reason)
                .render(ctx.lang);
            json!({ "row": e.row, "column": e.column, "reason": reason, "message": message })
        })
        .collect();
    let leads: Vec<serde_json::Value> = rep
        .leads
        .iter()
        .map(|(row, id)| json!({ "row": row, "lead_id": id }))
        .collect();
    json!({
        "rows": rep.rows, "inserted": rep.inserted, "existing": rep.existing,
        "rejected": rejected, "leads": leads,
    })
}

async fn import(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(e) = st.app.gate(&actor, Action::ImportLeads) {
        return err(&ctx, e);
    }
    let p = Params(q);
    let format = match p.text("format", 10) {
        Ok(f) => f.map(|f| f.to_ascii_lowercase()),
        Err(e) => return err(&ctx, e),
    };
    let limit = st.app.config().max_upload_bytes;
    let bytes = match to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => return err(&ctx, AppError::TooLarge { limit }),
    };
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let name = match format.as_deref() {
        Some("csv") => Some("upload.csv"),
        Some("xlsx") => Some("upload.xlsx"),
        Some("json") => Some("upload.json"),
        Some(_) => return err(&ctx, bad("format")),
        None if ctype.starts_with("text/csv") => Some("upload.csv"),
        None if ctype.starts_with(XLSX) => Some("upload.xlsx"),
        None if ctype.starts_with("application/json") => Some("upload.json"),
        None => None,
    };
    match st.app.import_leads(&actor, name, &bytes).await {
        Ok(rep) => axum::Json(report_json(&ctx, &rep)).into_response(),
        Err(e) => err(&ctx, e),
    }
}

async fn reveal(State(st): State<AppState>, Api(ctx, actor): Api, Path(id): Path<i64>) -> Response {
    ok(
        &ctx,
        st.app
            .reveal_lead_subscriber(&actor, id)
            .await
            .map(|v| json!({ "id": id, "subscriber": v })),
    )
}

async fn get_rules_version(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Path(version): Path<i64>,
) -> Response {
    ok(&ctx, st.app.rules_version(&actor, version).await)
}

async fn activate_rules(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Path(version): Path<i64>,
) -> Response {
    ok(&ctx, st.app.activate_rules(&actor, version).await)
}

async fn check_rules(State(st): State<AppState>, Api(ctx, actor): Api, Json(b): Json<RulesPut>) -> Response {
    ok(&ctx, st.app.check_rules_text(&actor, &b.toml))
}

async fn get_rules(State(st): State<AppState>, Api(ctx, actor): Api) -> Response {
    ok(&ctx, st.app.rules(&actor).await)
}

#[derive(Deserialize)]
struct RulesPut {
    toml: String,
    #[serde(default)]
    note: String,
}

async fn put_rules(State(st): State<AppState>, Api(ctx, actor): Api, Json(b): Json<RulesPut>) -> Response {
    ok(&ctx, st.app.save_rules(&actor, &b.toml, &b.note).await)
}

#[derive(Deserialize)]
struct BacktestRequest {
    rules: String,
    from: serde_json::Value,
    to: serde_json::Value,
}

fn json_time(v: &serde_json::Value, name: &str) -> Result<Timestamp, AppError> {
    match v {
        serde_json::Value::Number(n) => n.as_i64().map(Timestamp).ok_or_else(|| bad(name)),
        serde_json::Value::String(s) => fanzha_core::event::parse_time(s).ok_or_else(|| bad(name)),
        _ => Err(bad(name)),
    }
}

async fn backtest(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Json(b): Json<BacktestRequest>,
) -> Response {
    let range = json_time(&b.from, "from").and_then(|f| json_time(&b.to, "to").map(|t| (f, t)));
    match range {
        Ok((from, to)) => ok(&ctx, st.app.backtest(&actor, &b.rules, from, to).await),
        Err(e) => err(&ctx, e),
    }
}
