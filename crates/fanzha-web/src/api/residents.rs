//! The residents registry: search, detail, edit, reveal, import and export.

use super::openapi::{Doc, r};
use super::{Endpoints, M, MAX_PAGE, MAX_PER_PAGE, Params, created, done, err, ok};
use crate::auth::{Api, Ctx};
use crate::error::{Json, Path, Query};
use crate::state::AppState;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use fanzha_app::AppError;
use fanzha_app::residents::{ImportReport, ResidentForm, ResidentQuery, RevealField};
use fanzha_app::table::TableFormat;
use fanzha_core::i18n::Msg;
use fanzha_core::roles::Action;
use fanzha_core::{NodeId, ResidentId};
use serde_json::json;
use std::collections::HashMap;

const FILTERS: &[(&str, &str, &str)] = &[
    (
        "q",
        "string",
        "A name, a phone or an ID number (recognised by its shape)",
    ),
    ("node", "integer", "Residents anywhere below this org node"),
    ("tag", "string", "Residents with this tag"),
    ("age_min", "integer", "At least this old (0–150)"),
    ("age_max", "integer", "At most this old (0–150)"),
];

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

pub(super) fn add(e: Endpoints) -> Endpoints {
    e.add(
        M::Get,
        "/residents",
        Doc::new("residents", "Search residents in the caller's scope (ID numbers and phones masked)")
            .query(FILTERS)
            .query(&[("page", "integer", "From 1"), ("per_page", "integer", "1–500, default 50")])
            .ok(200, r("ResidentPage"))
            .errors(&[404]),
        list,
    )
    .add(
        M::Post,
        "/residents",
        Doc::new("residents", "Register a resident").body(r("ResidentForm")).ok(201, r("Resident")).errors(&[409]),
        create,
    )
    .add(
        M::Get,
        "/residents/{id}",
        Doc::new("residents", "One resident, masked").ok(200, r("Resident")).errors(&[404]),
        get_one,
    )
    .add(
        M::Put,
        "/residents/{id}",
        Doc::new("residents", "Replace a resident's fields, phones, tags and contacts")
            .body(r("ResidentForm"))
            .ok(200, r("Resident"))
            .errors(&[404, 409]),
        put_one,
    )
    .add(
        M::Delete,
        "/residents/{id}",
        Doc::new("residents", "Delete a resident").no_content().errors(&[404]),
        delete_one,
    )
    .add(
        M::Post,
        "/residents/{id}/reveal",
        Doc::new("residents", "Show one full ID number or phone; the reveal is audited (查询留痕)")
            .body(r("RevealRequest"))
            .ok(200, r("RevealResponse"))
            .errors(&[404]),
        reveal,
    )
    .add(
        M::Post,
        "/residents/import",
        Doc::new(
            "residents",
            "Import residents from a CSV or XLSX file sent as the raw body; bad rows are reported, good rows stored",
        )
        .query(&[
            ("format", "string", "csv or xlsx; otherwise from Content-Type or the content"),
            ("default_grid", "integer", "Grid for rows without a grid column"),
        ])
        .raw_body(&["text/csv", XLSX])
        .ok(200, r("ImportReport")),
        import,
    )
    .add(
        M::Get,
        "/residents/export",
        Doc::new("residents", "Export residents in scope as CSV or XLSX (masked unless the role sees full values)")
            .query(FILTERS)
            .query(&[("format", "string", "csv (default) or xlsx")])
            .raw_response(&["text/csv", XLSX])
            .errors(&[404]),
        export,
    )
}

fn query_of(p: &Params) -> Result<ResidentQuery, AppError> {
    Ok(ResidentQuery {
        q: p.text("q", 100)?,
        node: p.int("node", 1, i64::MAX)?.map(NodeId),
        tag: p.text("tag", 20)?,
        age_min: p.int("age_min", 0, 150)?.map(|v| v as u32),
        age_max: p.int("age_max", 0, 150)?.map(|v| v as u32),
        page: p.int("page", 1, MAX_PAGE)?.map(|v| v as usize),
        per_page: p.int("per_page", 1, MAX_PER_PAGE)?.map(|v| v as usize),
    })
}

fn format_of(p: &Params) -> Result<Option<TableFormat>, AppError> {
    match p.text("format", 10)?.map(|f| f.to_ascii_lowercase()).as_deref() {
        None => Ok(None),
        Some("csv") => Ok(Some(TableFormat::Csv)),
        Some("xlsx") => Ok(Some(TableFormat::Xlsx)),
        Some(_) => Err(AppError::invalid("api.bad_format")),
    }
}

async fn list(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match query_of(&Params(q)) {
        Ok(q) => ok(&ctx, st.app.residents(&actor, &q).await),
        Err(e) => err(&ctx, e),
    }
}

async fn create(State(st): State<AppState>, Api(ctx, actor): Api, Json(f): Json<ResidentForm>) -> Response {
    let r = match st.app.create_resident(&actor, &f).await {
        Ok(id) => st.app.resident(&actor, id).await,
        Err(e) => Err(e),
    };
    created(&ctx, r)
}

async fn get_one(State(st): State<AppState>, Api(ctx, actor): Api, Path(id): Path<i64>) -> Response {
    ok(&ctx, st.app.resident(&actor, ResidentId(id)).await)
}

async fn put_one(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Path(id): Path<i64>,
    Json(f): Json<ResidentForm>,
) -> Response {
    let id = ResidentId(id);
    // A resident outside the caller's scope is 404 whatever the body says.
    if let Err(e) = st.app.resident(&actor, id).await {
        return err(&ctx, e);
    }
    let r = match st.app.update_resident(&actor, id, &f).await {
        Ok(()) => st.app.resident(&actor, id).await,
        Err(e) => Err(e),
    };
    ok(&ctx, r)
}

async fn delete_one(State(st): State<AppState>, Api(ctx, actor): Api, Path(id): Path<i64>) -> Response {
    done(&ctx, st.app.delete_resident(&actor, ResidentId(id)).await)
}

async fn reveal(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Path(id): Path<i64>,
    Json(field): Json<RevealField>,
) -> Response {
    // The answer repeats the request's fields beside the value.
    let r = st.app.reveal(&actor, ResidentId(id), field).await.map(|value| {
        let mut v = serde_json::to_value(field).unwrap_or_else(|_| json!({}));
        if let Some(o) = v.as_object_mut() {
            o.insert("value".into(), json!(value));
        }
        v
    });
    ok(&ctx, r)
}

/// The import report with every rejection rendered in the caller's language.
fn report_json(ctx: &Ctx, rep: &ImportReport) -> serde_json::Value {
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
    json!({ "rows": rep.rows, "inserted": rep.inserted, "updated": rep.updated, "rejected": rejected })
}

async fn import(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // Refuse before reading a large body the caller may not send.
    if let Err(e) = st.app.gate(&actor, Action::ImportResidents) {
        return err(&ctx, e);
    }
    let p = Params(q);
    let (format, default_grid) = match (format_of(&p), p.int("default_grid", 1, i64::MAX)) {
        (Ok(f), Ok(g)) => (f, g.map(NodeId)),
        (Err(e), _) | (_, Err(e)) => return err(&ctx, e),
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
    let format = format.or(if ctype.starts_with("text/csv") {
        Some(TableFormat::Csv)
    } else if ctype.starts_with(XLSX) {
        Some(TableFormat::Xlsx)
    } else {
        None
    });
    let name = match format {
        Some(TableFormat::Csv) => Some("upload.csv"),
        Some(TableFormat::Xlsx) => Some("upload.xlsx"),
        None => None,
    };
    match st.app.import_residents(&actor, name, &bytes, default_grid).await {
        Ok(rep) => axum::Json(report_json(&ctx, &rep)).into_response(),
        Err(e) => err(&ctx, e),
    }
}

async fn export(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let p = Params(q);
    let (query, format) = match (query_of(&p), format_of(&p)) {
        (Ok(q), Ok(f)) => (q, f.unwrap_or(TableFormat::Csv)),
        (Err(e), _) | (_, Err(e)) => return err(&ctx, e),
    };
    match st.app.export_residents(&actor, &query, format).await {
        Ok(bytes) => {
            let (ctype, name) = match format {
                TableFormat::Csv => ("text/csv; charset=utf-8", "residents.csv"),
                TableFormat::Xlsx => (XLSX, "residents.xlsx"),
            };
            (
                [
                    (header::CONTENT_TYPE, ctype.to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}\""),
                    ),
                ],
                bytes,
            )
                .into_response()
        }
        Err(e) => err(&ctx, e),
    }
}
