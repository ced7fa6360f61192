//! Dissuasion pages: "我的任务" for grid workers and officers (phone-first),
//! the task page (locating the person, script, one-tap outcomes), the
//! center's live task board (server-sent events), the metrics with
//! server-side SVG charts, the public appeal form and the appeal queue.

use super::common::{
    Signed, back_to, back_to_record, err_text, fail, is_form_error, node_options, status_of,
};
use crate::api::Params;
use crate::api::tasks::{stats_query, task_query};
use crate::auth::{Ctx, PRE_COOKIE, plain_cookie};
use crate::error::{Form, Path, Query};
use crate::render::page;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use fanzha_app::tasks::AppealStatus;
use fanzha_app::tasks::appeals::{AppealDecisionForm, AppealForm, AppealQuery, decision_of};
use fanzha_app::tasks::stats::{Group, TaskMetrics};
use fanzha_app::tasks::work::{AttemptForm, OutcomeForm, TaskQuery};
use fanzha_app::{Actor, AppError};
use fanzha_core::i18n::{Msg, tr};
use fanzha_core::roles::Action;
use fanzha_core::task::{ContactMethod, ContactResult, OutcomeKind, TaskState};
use fanzha_core::{Grade, IndicatorKind};
use minijinja::context;
use minijinja::value::{Serde, Value};
use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tasks", get(mine))
        .route("/tasks/board", get(board))
        .route("/tasks/stream", get(stream))
        .route("/tasks/metrics", get(metrics))
        .route("/tasks/{id}", get(detail))
        .route("/tasks/{id}/accept", back_to_record("/tasks").post(accept))
        .route("/tasks/{id}/attempt", back_to_record("/tasks").post(attempt))
        .route("/tasks/{id}/outcome", back_to_record("/tasks").post(outcome))
        .route("/tasks/{id}/escalate", back_to_record("/tasks").post(escalate))
        .route("/tasks/{id}/call", back_to_record("/tasks").post(call))
        .route("/appeal", get(appeal_form).post(appeal_submit))
        .route("/appeals", get(appeals))
        .route("/appeals/{id}/decision", back_to("/appeals").post(decide))
}

fn list_items(p: &fanzha_app::Page<fanzha_app::tasks::work::TaskSummary>) -> Vec<Value> {
    p.items
        .iter()
        .map(|t| {
            let r = &t.item.row;
            context! {
                id => r.id,
                grade => r.grade.code(),
                state => r.state.code(),
                state_label => r.state.zh(),
                method => r.method.code(),
                fraud_type => r.fraud_type.map(|f| f.code()),
                node_name => r.node_name.clone(),
                subscriber => t.item.subscriber_masked.clone(),
                name => t.item.name_masked.clone(),
                contact_due => r.contact_due.0,
                created_at => r.created_at.0,
                alert => r.alert.clone(),
                outcome => r.outcome.map(|o| o.code()),
                step => r.escalation_step,
                overdue => t.overdue,
            }
        })
        .collect()
}

/// "我的任务": the caller's open tasks, most urgent first, as big cards.
async fn mine(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let done = q.get("done").is_some_and(|v| v == "1");
    let query = TaskQuery {
        mine: Some(true),
        open: Some(!done),
        per_page: Some(100),
        ..Default::default()
    };
    match st.app.list_tasks(&actor, &query).await {
        Ok(p) => page(
            &st,
            &ctx,
            "tasks_mine.html",
            context! { tasks => list_items(&p), total => p.total, done => done, board => actor.can(Action::ViewTasks) && !matches!(actor.role(), fanzha_core::roles::Role::GridWorker) },
        )
        .into_response(),
        Err(e) => fail(&ctx, e),
    }
}

/// The center's board: every task in scope with filters, live.
async fn board(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let p = Params(q.clone());
    let (query, error) = match task_query(&p) {
        Ok(mut t) => {
            t.per_page = t.per_page.or(Some(100));
            (t, None)
        }
        Err(e) => (TaskQuery::default(), Some(e)),
    };
    let result = match st.app.list_tasks(&actor, &query).await {
        Ok(r) => r,
        Err(e) => return fail(&ctx, e),
    };
    let nodes = match st.app.org_nodes(&actor).await {
        Ok(n) => node_options(&n),
        Err(_) => Vec::new(),
    };
    let f = |k: &str| q.get(k).cloned().unwrap_or_default();
    let filters: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            ["state", "grade", "node", "overdue", "open"]
                .iter()
                .filter_map(|k| q.get(*k).filter(|v| !v.is_empty()).map(|v| (*k, v.as_str()))),
        )
        .finish();
    let status = error.as_ref().map(status_of).unwrap_or(StatusCode::OK);
    let html = page(
        &st,
        &ctx,
        "tasks_board.html",
        context! {
            tasks => list_items(&result),
            total => result.total,
            page_no => result.page,
            pages => result.pages(),
            pager_base => format!("/tasks/board?{filters}"),
            fragment => q.get("fragment").is_some_and(|v| v == "1"),
            grades => Grade::ALL.iter().rev().map(|g| g.code()).collect::<Vec<_>>(),
            states => TaskState::ALL.iter().map(|s| (s.code(), s.zh())).collect::<Vec<_>>(),
            nodes => Serde(nodes),
            f => context! { state => f("state"), grade => f("grade"), node => f("node"), overdue => f("overdue"), open => f("open") },
            error => error.as_ref().map(|e| err_text(&ctx, e)),
        },
    );
    (status, html).into_response()
}

/// Server-sent events: a `task` event for every change the caller may see.
async fn stream(State(st): State<AppState>, Signed(_ctx, actor): Signed) -> Response {
    let scope = match st.app.gate(&actor, Action::ViewTasks) {
        Ok(s) => s,
        Err(e) => return fail(&_ctx, e),
    };
    let prefix = match scope {
        fanzha_app::Scope::All => String::new(),
        fanzha_app::Scope::Subtree(p) => p.as_str().to_string(),
    };
    let rx = st.app.subscribe_tasks();
    let s = futures_util::stream::unfold((rx, prefix), |(mut rx, prefix)| async move {
        loop {
            match rx.recv().await {
                Ok(n) if n.node_path.starts_with(&prefix) => {
                    let data = serde_json::json!({"task_id": n.task_id, "event": n.event}).to_string();
                    let ev = Event::default().event("task").data(data);
                    return Some((Ok::<_, Infallible>(ev), (rx, prefix)));
                }
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    let ev = Event::default().event("task").data("{\"event\":\"lagged\"}");
                    return Some((Ok(ev), (rx, prefix)));
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(s)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

async fn render_detail(
    st: &AppState,
    ctx: &Ctx,
    actor: &Actor,
    id: i64,
    phones: Option<fanzha_app::tasks::work::RevealedPhones>,
    error: Option<AppError>,
) -> Response {
    let d = match st.app.task_detail(actor, id).await {
        Ok(d) => d,
        Err(e) => return fail(ctx, e),
    };
    let status = error.as_ref().map(status_of).unwrap_or(StatusCode::OK);
    let html = page(
        st,
        ctx,
        "task.html",
        context! {
            d => Serde(&d),
            paragraphs => d.script.as_ref().map(|s| s.paragraphs().map(str::to_string).collect::<Vec<_>>()).unwrap_or_default(),
            grade => d.task.grade.code(),
            state_label => d.task.state.zh(),
            phones => phones.map(Serde),
            outcomes => OutcomeKind::ALL.iter().map(|o| (o.code(), o.zh())).collect::<Vec<_>>(),
            methods => ContactMethod::ALL.iter().filter(|m| !m.is_automatic()).map(|m| (m.code(), m.zh())).collect::<Vec<_>>(),
            results => ContactResult::ALL.iter().filter(|r| !matches!(r, ContactResult::Delivered | ContactResult::Failed)).map(|r| (r.code(), r.zh())).collect::<Vec<_>>(),
            error => error.as_ref().map(|e| err_text(ctx, e)),
        },
    );
    (status, html).into_response()
}

async fn detail(State(st): State<AppState>, Signed(ctx, actor): Signed, Path(id): Path<i64>) -> Response {
    render_detail(&st, &ctx, &actor, id, None, None).await
}

/// After an action: back to the task, or the form error on it.
async fn after(st: &AppState, ctx: &Ctx, actor: &Actor, id: i64, r: Result<(), AppError>) -> Response {
    match r {
        Ok(()) => Redirect::to(&format!("/tasks/{id}")).into_response(),
        Err(e) if is_form_error(&e) => render_detail(st, ctx, actor, id, None, Some(e)).await,
        Err(e) => fail(ctx, e),
    }
}

async fn accept(State(st): State<AppState>, Signed(ctx, actor): Signed, Path(id): Path<i64>) -> Response {
    let r = st.app.accept_task(&actor, id).await.map(|_| ());
    after(&st, &ctx, &actor, id, r).await
}

fn field<'a>(f: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    f.get(k).map(|s| s.trim()).filter(|s| !s.is_empty())
}

fn bad(name: &str) -> AppError {
    AppError::Invalid(Msg::new("api.bad_param").arg("name", name))
}

async fn attempt(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let form = (|| -> Result<AttemptForm, AppError> {
        Ok(AttemptForm {
            method: ContactMethod::parse(field(&f, "method").unwrap_or("")).map_err(|_| bad("method"))?,
            result: ContactResult::parse(field(&f, "result").unwrap_or("")).map_err(|_| bad("result"))?,
            note: field(&f, "note").map(str::to_string),
            at: None,
            client_key: field(&f, "key").map(str::to_string),
        })
    })();
    let r = match form {
        Ok(form) => st.app.record_attempt(&actor, id, &form).await.map(|_| ()),
        Err(e) => Err(e),
    };
    after(&st, &ctx, &actor, id, r).await
}

/// Records the outcome. `reached=call|visit` first records that attempt
/// (the one-tap "联系上，劝阻成功").
async fn outcome(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let kind = match OutcomeKind::parse(field(&f, "outcome").unwrap_or("")) {
        Ok(k) => k,
        Err(_) => {
            return after(
                &st,
                &ctx,
                &actor,
                id,
                Err(AppError::invalid("task.outcome_required")),
            )
            .await;
        }
    };
    if let Some(m) = field(&f, "reached") {
        let method = match ContactMethod::parse(m) {
            Ok(m) => m,
            Err(_) => return after(&st, &ctx, &actor, id, Err(bad("reached"))).await,
        };
        let a = AttemptForm {
            method,
            result: ContactResult::Reached,
            note: None,
            at: None,
            client_key: field(&f, "key").map(|k| format!("{k}-reached")),
        };
        if let Err(e) = st.app.record_attempt(&actor, id, &a).await {
            // A closed task answers the outcome below (a repeat is a no-op).
            if !matches!(e, AppError::Conflict(_)) {
                return after(&st, &ctx, &actor, id, Err(e)).await;
            }
        }
    }
    let form = OutcomeForm {
        outcome: kind,
        loss_fen: None,
        loss_yuan: field(&f, "loss_yuan").map(str::to_string),
        note: field(&f, "note").map(str::to_string),
    };
    let r = st.app.record_outcome(&actor, id, &form).await.map(|_| ());
    after(&st, &ctx, &actor, id, r).await
}

async fn escalate(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let r = st
        .app
        .escalate_task(&actor, id, field(&f, "reason").unwrap_or(""))
        .await
        .map(|_| ());
    after(&st, &ctx, &actor, id, r).await
}

/// Shows the full numbers (audited) so that the worker can tap to call.
async fn call(State(st): State<AppState>, Signed(ctx, actor): Signed, Path(id): Path<i64>) -> Response {
    match st.app.reveal_task_phones(&actor, id).await {
        Ok(p) => render_detail(&st, &ctx, &actor, id, Some(p), None).await,
        Err(e) => fail(&ctx, e),
    }
}

/// A horizontal bar chart as SVG: one bar per row, values 0..=max.
pub fn bar_chart(title: &str, rows: &[(String, Option<f64>)], max: Option<f64>, unit: &str) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let top = max
        .unwrap_or_else(|| rows.iter().filter_map(|r| r.1).fold(0.0, f64::max))
        .max(1e-9);
    let h = 28 * rows.len() as i64 + 34;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 480 {h}\" width=\"100%\" role=\"img\" aria-label=\"{}\" class=\"chart\">",
        esc(title)
    );
    s.push_str(&format!(
        "<text x=\"0\" y=\"16\" font-size=\"14\" font-weight=\"600\">{}</text>",
        esc(title)
    ));
    for (i, (label, v)) in rows.iter().enumerate() {
        let y = 30 + 28 * i as i64;
        let w = v.map_or(0.0, |v| (v / top * 250.0).clamp(0.0, 250.0));
        s.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text><rect x=\"150\" y=\"{y}\" width=\"{w:.1}\" height=\"18\" fill=\"#2563eb\"/><text x=\"{:.1}\" y=\"{}\" font-size=\"12\">{}</text>",
            y + 14,
            esc(&label.chars().take(12).collect::<String>()),
            155.0 + w,
            y + 14,
            v.map_or_else(|| "—".to_string(), |v| format!("{v:.1}{unit}"))
        ));
    }
    s.push_str("</svg>");
    s
}

fn charts(ctx: &Ctx, groups: &[Group], what: &str) -> Vec<String> {
    let rows = |f: &dyn Fn(&Group) -> Option<f64>| -> Vec<(String, Option<f64>)> {
        groups.iter().map(|g| (g.label.clone(), f(g))).collect()
    };
    let title = |k: &str| format!("{} · {}", tr(ctx.lang, k), tr(ctx.lang, what));
    vec![
        bar_chart(
            &title("metrics.contact"),
            &rows(&|g| g.figures.median_contact_min),
            None,
            "′",
        ),
        bar_chart(
            &title("metrics.close"),
            &rows(&|g| g.figures.median_close_min),
            None,
            "′",
        ),
        bar_chart(
            &title("metrics.compliance"),
            &rows(&|g| g.figures.compliance_pct),
            Some(100.0),
            "%",
        ),
        bar_chart(
            &title("metrics.success"),
            &rows(&|g| g.figures.success_pct),
            Some(100.0),
            "%",
        ),
    ]
}

async fn metrics(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let q = match stats_query(&Params(q)) {
        Ok(q) => q,
        Err(e) => return fail(&ctx, e),
    };
    let m: TaskMetrics = match st.app.task_metrics(&actor, &q).await {
        Ok(m) => m,
        Err(e) => return fail(&ctx, e),
    };
    let mut svgs = charts(&ctx, &m.by_grade, "metrics.by_grade");
    svgs.extend(charts(&ctx, &m.by_fraud_type, "metrics.by_fraud_type"));
    svgs.extend(charts(&ctx, &m.by_node, "metrics.by_node"));
    page(
        &st,
        &ctx,
        "tasks_metrics.html",
        context! { m => Serde(&m), svgs => svgs, export => actor.can(Action::ExportFeedback) },
    )
    .into_response()
}

// ---- appeals

/// The public form, with the double-submit token for visitors who are not signed in.
fn appeal_page(st: &AppState, ctx: &Ctx, jar: CookieJar, status: StatusCode, data: Value) -> Response {
    let pre = if ctx.actor.is_some() {
        ctx.csrf()
    } else {
        match super::session::pre_token(&jar) {
            Ok(p) => p,
            Err(e) => return fail(ctx, e),
        }
    };
    let html = page(
        st,
        ctx,
        "appeal_form.html",
        context! { pre => pre.clone(), kinds => kinds(), ..data },
    );
    if ctx.actor.is_some() {
        (status, html).into_response()
    } else {
        (
            status,
            jar.add(plain_cookie(PRE_COOKIE, pre, st.cfg.cookie_secure)),
            html,
        )
            .into_response()
    }
}

async fn appeal_form(
    State(st): State<AppState>,
    ctx: Ctx,
    jar: CookieJar,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let data = match q.get("reference").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        Some(r) => match st.app.appeal_status(r, &ctx.ip).await {
            Ok(s) => {
                context! { status => context! { reference => s.reference, status => s.status.code(), reason => s.decision_reason } }
            }
            Err(e) => {
                let code = status_of(&e);
                return appeal_page(&st, &ctx, jar, code, context! { error => err_text(&ctx, &e) });
            }
        },
        None => context! {},
    };
    appeal_page(&st, &ctx, jar, StatusCode::OK, data)
}

fn kinds() -> Vec<(&'static str, &'static str)> {
    IndicatorKind::ALL.iter().map(|k| (k.code(), k.zh())).collect()
}

async fn appeal_submit(
    State(st): State<AppState>,
    ctx: Ctx,
    jar: CookieJar,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let kind = match field(&f, "kind") {
        None => None,
        Some(k) => match IndicatorKind::parse(k) {
            Ok(k) => Some(k),
            Err(_) => {
                let e = bad("kind");
                return appeal_page(
                    &st,
                    &ctx,
                    jar,
                    status_of(&e),
                    context! { error => err_text(&ctx, &e) },
                );
            }
        },
    };
    let form = AppealForm {
        kind,
        value: field(&f, "value").unwrap_or("").to_string(),
        contact: field(&f, "contact").map(str::to_string),
        reason: field(&f, "reason").unwrap_or("").to_string(),
    };
    match st.app.submit_appeal(&form, &ctx.ip).await {
        Ok(r) => appeal_page(
            &st,
            &ctx,
            jar,
            StatusCode::OK,
            context! { receipt => r.reference },
        ),
        Err(e) => appeal_page(
            &st,
            &ctx,
            jar,
            status_of(&e),
            context! { error => err_text(&ctx, &e), value => form.value, contact => form.contact, reason => form.reason },
        ),
    }
}

async fn appeals(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let status = q.get("status").and_then(|s| AppealStatus::parse(s));
    let query = AppealQuery {
        status: status.or(if q.contains_key("status") {
            None
        } else {
            Some(AppealStatus::Pending)
        }),
        page: None,
        per_page: Some(100),
    };
    match st.app.list_appeals(&actor, &query).await {
        Ok(p) => page(
            &st,
            &ctx,
            "appeals.html",
            context! { items => Serde(&p.items), total => p.total, status => query.status.map(|s| s.code()) },
        )
        .into_response(),
        Err(e) => fail(&ctx, e),
    }
}

async fn decide(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let Some(decision) = field(&f, "decision").and_then(decision_of) else {
        return fail(&ctx, bad("decision"));
    };
    let form = AppealDecisionForm {
        decision,
        reason: field(&f, "reason").unwrap_or("").to_string(),
    };
    match st.app.decide_appeal(&actor, id, &form).await {
        Ok(_) => Redirect::to("/appeals").into_response(),
        Err(e) => fail(&ctx, e),
    }
}
