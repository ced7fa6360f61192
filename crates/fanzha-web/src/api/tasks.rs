//! Dissuasion tasks (劝阻任务), delivery receipts, appeals (申诉), the
//! workflow's metrics and the feedback export of pushed leads.

use super::openapi::{Doc, r};
use super::{Endpoints, M, MAX_PAGE, MAX_PER_PAGE, Params, created, err, ok};
use crate::auth::{Api, Ctx};
use crate::error::{Json, Path, Query};
use crate::state::AppState;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use fanzha_app::AppError;
use fanzha_app::tasks::AppealStatus;
use fanzha_app::tasks::appeals::{AppealDecisionForm, AppealForm, AppealQuery};
use fanzha_app::tasks::stats::{ExportFormat, StatsQuery};
use fanzha_app::tasks::templates::TemplateSave;
use fanzha_app::tasks::work::{AttemptForm, OutcomeForm, TaskQuery};
use fanzha_core::i18n::Msg;
use fanzha_core::task::TaskState;
use fanzha_core::{FraudType, Grade, NodeId, Timestamp};
use serde::Deserialize;
use std::collections::HashMap;

const FILTERS: &[(&str, &str, &str)] = &[
    (
        "state",
        "string",
        "pending, accepted, contacting, done, escalated or transferred",
    ),
    ("open", "boolean", "true: open tasks only; false: closed only"),
    ("grade", "string", "critical, high, medium or low"),
    ("fraud_type", "string", "A fraud type code or its Chinese name"),
    ("node", "integer", "Tasks anywhere below this org node"),
    ("mine", "boolean", "Only tasks the caller is on"),
    ("overdue", "boolean", "Only open tasks past a deadline"),
    (
        "alert",
        "boolean",
        "Only tasks with an alert (send failed, no owner…)",
    ),
    ("page", "integer", "From 1"),
    ("per_page", "integer", "1–500, default 50"),
];

const STATS: &[(&str, &str, &str)] = &[
    ("from", "string", "Created at or after (RFC 3339 or ms)"),
    ("to", "string", "Created before (RFC 3339 or ms)"),
    ("node", "integer", "Only below this org node"),
];

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

pub(super) fn add(e: Endpoints) -> Endpoints {
    e.add(
        M::Get,
        "/tasks",
        Doc::new(
            "tasks",
            "Dissuasion tasks the caller may see (their scope, plus tasks assigned to them), the most urgent open \
             ones first",
        )
        .query(FILTERS)
        .ok(200, r("TaskPage"))
        .errors(&[404]),
        list,
    )
    .add(
        M::Get,
        "/tasks/metrics",
        Doc::new(
            "tasks",
            "Time to first contact, time to close, deadline compliance and success rate, in all and by grade, fraud \
             type and org node; appeal counts and turnaround",
        )
        .query(STATS)
        .ok(200, r("TaskMetrics")),
        metrics,
    )
    .add(
        M::Get,
        "/tasks/feedback-export",
        Doc::new(
            "tasks",
            "Leads pushed from above with their outcome, in the columns they came in plus outcome fields (反馈); \
             audited",
        )
        .query(&[
            ("format", "string", "xlsx (default), csv or json"),
            ("from", "string", "Pushed at or after"),
            ("to", "string", "Pushed before"),
            ("node", "integer", "Only below this org node"),
        ])
        .raw_response(&[XLSX, "text/csv", "application/json"]),
        feedback_export,
    )
    .add(
        M::Get,
        "/tasks/{id}",
        Doc::new(
            "tasks",
            "One task: the person located (masked by role), contacts, evidence, the recommended script, \
             assignees, attempts, transitions and notifications",
        )
        .ok(200, r("TaskDetail"))
        .errors(&[404]),
        get_one,
    )
    .add(
        M::Post,
        "/tasks/{id}/accept",
        Doc::new("tasks", "Take the task (a repeat changes nothing)")
            .ok(200, r("TaskActionResult"))
            .errors(&[404, 409]),
        accept,
    )
    .add(
        M::Post,
        "/tasks/{id}/attempts",
        Doc::new(
            "tasks",
            "Record a contact attempt (time, method, result); the same client_key twice records one",
        )
        .body(r("AttemptForm"))
        .ok(200, r("TaskActionResult"))
        .errors(&[404, 409]),
        attempt,
    )
    .add(
        M::Post,
        "/tasks/{id}/outcome",
        Doc::new(
            "tasks",
            "Close the task with its outcome; the same outcome again changes nothing, another is 409; defrauded \
             needs the loss and opens a case",
        )
        .body(r("OutcomeForm"))
        .ok(200, r("TaskActionResult"))
        .errors(&[404, 409]),
        outcome,
    )
    .add(
        M::Post,
        "/tasks/{id}/escalate",
        Doc::new("tasks", "Send the task one step up its escalation chain now")
            .body(r("EscalateBody"))
            .ok(200, r("TaskActionResult"))
            .errors(&[404, 409]),
        escalate,
    )
    .add(
        M::Post,
        "/tasks/{id}/reveal",
        Doc::new(
            "tasks",
            "The full numbers of the person and their contacts, to call them; audited (查询留痕)",
        )
        .ok(200, r("RevealedPhones"))
        .errors(&[404]),
        reveal,
    )
    .add(
        M::Get,
        "/dispatch/policy",
        Doc::new(
            "tasks",
            "The dispatch policy in force (TOML: per grade the method, owners, deadlines, escalation chain) and its versions",
        )
        .ok(200, r("DispatchPolicyView")),
        get_policy,
    )
    .add(
        M::Put,
        "/dispatch/policy",
        Doc::new(
            "tasks",
            "Save a new dispatch policy version (validated; its `version` key set to the stored number) and make it \
             active; existing tasks keep their plan. Audited.",
        )
        .body(r("RulesPut"))
        .ok(200, r("DispatchPolicyVersion")),
        put_policy,
    )
    .add(
        M::Get,
        "/dispatch/templates",
        Doc::new(
            "tasks",
            "The warning SMS (with its length and segments), robocall and dissuasion script (劝阻话术) templates in \
             force for each fraud type and the generic one: what ships, with the analysts' edits laid over",
        )
        .ok(200, r("TaskTemplatesView")),
        get_templates,
    )
    .add(
        M::Put,
        "/dispatch/templates",
        Doc::new(
            "tasks",
            "Save new templates for one key (generic or a fraud type); kinds left out keep theirs. Validated first \
             (placeholders, braces, length, the SMS within the allowed segments, the hotline named); nothing is \
             saved when any part fails. The next message and task page use them. Audited.",
        )
        .body(r("TaskTemplatePut"))
        .ok(200, r("TaskTemplate")),
        put_templates,
    )
    .add(
        M::Post,
        "/notify/receipts",
        Doc::new(
            "tasks",
            "Delivery receipts (状态报告) posted by the SMS or voice gateway; the configured token comes as \
             ?token= or X-Receipt-Token",
        )
        .public()
        .query(&[("token", "string", "The receipt token, when configured")])
        .raw_body(&["application/json"])
        .ok(200, r("ReceiptReport")),
        receipts,
    )
    .add(
        M::Post,
        "/appeals",
        Doc::new(
            "appeals",
            "Appeal a wrong flag (申诉) without login: the value, a contact phone and the reason; rate-limited",
        )
        .public()
        .body(r("AppealForm"))
        .ok(201, r("AppealReceipt"))
        .errors(&[429]),
        submit_appeal,
    )
    .add(
        M::Get,
        "/appeals/status",
        Doc::new("appeals", "The state of an appeal by its reference (public)")
            .public()
            .query(&[("reference", "string", "The reference given on submission")])
            .ok(200, r("AppealStatus"))
            .errors(&[404, 429]),
        appeal_status,
    )
    .add(
        M::Get,
        "/appeals",
        Doc::new("appeals", "The appeal review queue (oldest pending first when filtered by status)")
            .query(&[
                ("status", "string", "pending, revoked or kept"),
                ("page", "integer", "From 1"),
                ("per_page", "integer", "1–500"),
            ])
            .ok(200, r("AppealPage")),
        list_appeals,
    )
    .add(
        M::Get,
        "/appeals/{id}",
        Doc::new("appeals", "One appeal with the indicators holding its value")
            .ok(200, r("Appeal"))
            .errors(&[404]),
        get_appeal,
    )
    .add(
        M::Post,
        "/appeals/{id}/decision",
        Doc::new(
            "appeals",
            "Decide an appeal: revoked (every live indicator of the value is revoked) or kept, with a reason; \
             the appellant is told by SMS",
        )
        .body(r("AppealDecision"))
        .ok(200, r("Appeal"))
        .errors(&[404, 409]),
        decide_appeal,
    )
}

fn bad(name: &str) -> AppError {
    AppError::Invalid(Msg::new("api.bad_param").arg("name", name))
}

fn boolean(p: &Params, name: &str) -> Result<Option<bool>, AppError> {
    match p.text(name, 5)?.as_deref() {
        None => Ok(None),
        Some("true" | "1" | "yes" | "on") => Ok(Some(true)),
        Some("false" | "0" | "no" | "off") => Ok(Some(false)),
        Some(_) => Err(bad(name)),
    }
}

fn time(p: &Params, name: &str) -> Result<Option<Timestamp>, AppError> {
    match p.text(name, 40)? {
        None => Ok(None),
        Some(t) => fanzha_core::event::parse_time(&t)
            .map(Some)
            .ok_or_else(|| bad(name)),
    }
}

/// The task list's filters from query parameters (shared with the pages).
pub(crate) fn task_query(p: &Params) -> Result<TaskQuery, AppError> {
    Ok(TaskQuery {
        state: match p.text("state", 20)? {
            None => None,
            Some(v) => Some(TaskState::parse(&v).map_err(|_| bad("state"))?),
        },
        open: boolean(p, "open")?,
        grade: match p.text("grade", 20)? {
            None => None,
            Some(v) => Some(Grade::parse(&v).map_err(|_| bad("grade"))?),
        },
        fraud_type: match p.text("fraud_type", 40)? {
            None => None,
            Some(v) => Some(FraudType::parse(&v).map_err(|_| bad("fraud_type"))?),
        },
        node: p.int("node", 1, i64::MAX)?.map(NodeId),
        mine: boolean(p, "mine")?,
        overdue: boolean(p, "overdue")?,
        alert: boolean(p, "alert")?,
        page: p.int("page", 1, MAX_PAGE)?.map(|v| v as usize),
        per_page: p.int("per_page", 1, MAX_PER_PAGE)?.map(|v| v as usize),
    })
}

pub(crate) fn stats_query(p: &Params) -> Result<StatsQuery, AppError> {
    Ok(StatsQuery {
        from: time(p, "from")?,
        to: time(p, "to")?,
        node: p.int("node", 1, i64::MAX)?.map(NodeId),
    })
}

async fn list(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match task_query(&Params(q)) {
        Ok(q) => ok(&ctx, st.app.list_tasks(&actor, &q).await),
        Err(e) => err(&ctx, e),
    }
}

async fn get_one(State(st): State<AppState>, Api(ctx, actor): Api, Path(id): Path<i64>) -> Response {
    ok(&ctx, st.app.task_detail(&actor, id).await)
}

async fn accept(State(st): State<AppState>, Api(ctx, actor): Api, Path(id): Path<i64>) -> Response {
    ok(&ctx, st.app.accept_task(&actor, id).await)
}

async fn attempt(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Path(id): Path<i64>,
    Json(b): Json<AttemptForm>,
) -> Response {
    ok(&ctx, st.app.record_attempt(&actor, id, &b).await)
}

async fn outcome(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Path(id): Path<i64>,
    Json(b): Json<OutcomeForm>,
) -> Response {
    ok(&ctx, st.app.record_outcome(&actor, id, &b).await)
}

#[derive(Deserialize)]
struct EscalateBody {
    #[serde(default)]
    reason: String,
}

async fn escalate(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Path(id): Path<i64>,
    Json(b): Json<EscalateBody>,
) -> Response {
    ok(&ctx, st.app.escalate_task(&actor, id, &b.reason).await)
}

async fn reveal(State(st): State<AppState>, Api(ctx, actor): Api, Path(id): Path<i64>) -> Response {
    ok(&ctx, st.app.reveal_task_phones(&actor, id).await)
}

async fn get_policy(State(st): State<AppState>, Api(ctx, actor): Api) -> Response {
    ok(&ctx, st.app.dispatch_policy_view(&actor).await)
}

#[derive(Deserialize)]
struct PolicyPut {
    toml: String,
    #[serde(default)]
    note: String,
}

async fn put_policy(State(st): State<AppState>, Api(ctx, actor): Api, Json(b): Json<PolicyPut>) -> Response {
    ok(&ctx, st.app.save_dispatch_policy(&actor, &b.toml, &b.note).await)
}

async fn get_templates(State(st): State<AppState>, Api(ctx, actor): Api) -> Response {
    ok(&ctx, st.app.task_templates_view(&actor).await)
}

async fn put_templates(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Json(b): Json<TemplateSave>,
) -> Response {
    ok(&ctx, st.app.save_task_templates(&actor, &b).await)
}

async fn metrics(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match stats_query(&Params(q)) {
        Ok(q) => ok(&ctx, st.app.task_metrics(&actor, &q).await),
        Err(e) => err(&ctx, e),
    }
}

/// The export as a download.
pub(crate) fn download(bytes: Vec<u8>, format: ExportFormat) -> Response {
    let name = format!("feedback.{}", format.ext());
    (
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

async fn feedback_export(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let p = Params(q);
    let format = match p.text("format", 10) {
        Ok(None) => ExportFormat::Xlsx,
        Ok(Some(f)) => match ExportFormat::parse(&f) {
            Some(f) => f,
            None => return err(&ctx, bad("format")),
        },
        Err(e) => return err(&ctx, e),
    };
    let q = match stats_query(&p) {
        Ok(q) => q,
        Err(e) => return err(&ctx, e),
    };
    match st.app.export_feedback(&actor, &q, format).await {
        Ok((bytes, _)) => download(bytes, format),
        Err(e) => err(&ctx, e),
    }
}

async fn receipts(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let token = q.get("token").cloned().or_else(|| {
        headers
            .get("x-receipt-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    });
    let limit = fanzha_app::notify::receipt::MAX_RECEIPT_BYTES;
    let bytes = match to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => return err(&ctx, AppError::TooLarge { limit }),
    };
    ok(&ctx, st.app.delivery_receipts(&bytes, token.as_deref()).await)
}

async fn submit_appeal(State(st): State<AppState>, ctx: Ctx, Json(b): Json<AppealForm>) -> Response {
    created(&ctx, st.app.submit_appeal(&b, &ctx.ip).await)
}

async fn appeal_status(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let p = Params(q);
    match p.text("reference", 40) {
        Ok(Some(r)) => ok(&ctx, st.app.appeal_status(&r, &ctx.ip).await),
        Ok(None) => err(&ctx, bad("reference")),
        Err(e) => err(&ctx, e),
    }
}

async fn list_appeals(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let p = Params(q);
    let q = (|| -> Result<AppealQuery, AppError> {
        Ok(AppealQuery {
            status: match p.text("status", 20)? {
                None => None,
                Some(v) => Some(AppealStatus::parse(&v).ok_or_else(|| bad("status"))?),
            },
            page: p.int("page", 1, MAX_PAGE)?.map(|v| v as usize),
            per_page: p.int("per_page", 1, MAX_PER_PAGE)?.map(|v| v as usize),
        })
    })();
    match q {
        Ok(q) => ok(&ctx, st.app.list_appeals(&actor, &q).await),
        Err(e) => err(&ctx, e),
    }
}

async fn get_appeal(State(st): State<AppState>, Api(ctx, actor): Api, Path(id): Path<i64>) -> Response {
    ok(&ctx, st.app.get_appeal(&actor, id).await)
}

async fn decide_appeal(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Path(id): Path<i64>,
    Json(b): Json<AppealDecisionForm>,
) -> Response {
    ok(&ctx, st.app.decide_appeal(&actor, id, &b).await)
}
