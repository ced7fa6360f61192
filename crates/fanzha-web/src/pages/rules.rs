//! Detection rules (规则) and backtests (回测), for the roles that may change
//! rules: the active version and its history, an editor that checks a
//! document (problems shown with their line) before it is saved as the next
//! version, activation of an earlier version (the pipeline switches to it
//! before its next event), and a backtest of candidate rules against the
//! live ones over stored events.

use super::common::{Signed, back_to_record, clip, err_text, fail, is_form_error, status_of};
use super::leads::{local_input, local_time};
use crate::auth::Ctx;
use crate::error::{Form, Path, Query};
use crate::render::page;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use fanzha_app::detect::backtest::{BacktestLeadView, BacktestReport};
use fanzha_app::detect::rules::{RulesCheck, RulesProblem};
use fanzha_app::{Actor, AppError};
use fanzha_core::Timestamp;
use fanzha_core::i18n::{Lang, Msg, tr};
use fanzha_core::roles::Action;
use minijinja::context;
use minijinja::value::{Serde, Value};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Longest document the editor echoes back (the store's own limit is checked by the app).
const MAX_ECHO: usize = 256 * 1024;
/// Lines shown around a problem.
const CONTEXT_LINES: usize = 2;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/rules", get(rules_page).post(rules_post))
        .route("/rules/{version}", get(version_page))
        .route(
            "/rules/{version}/activate",
            back_to_record("/rules").post(activate),
        )
        .route("/backtest", get(backtest_page).post(backtest_run))
}

fn forbidden() -> AppError {
    AppError::Forbidden(Msg::new("error.forbidden_action").arg("action", Action::EditRules.code()))
}

/// The flash after a redirect; only known codes.
fn flash(ctx: &Ctx, ok: Option<&str>, version: Option<i64>) -> Option<String> {
    let key = match ok? {
        "saved" => "rules.ok_saved",
        "activated" => "rules.ok_activated",
        _ => return None,
    };
    Some(
        Msg::new(key)
            .arg("version", version.unwrap_or_default())
            .render(ctx.lang),
    )
}

/// One numbered line of a document around a problem.
#[derive(Serialize)]
struct Line {
    n: usize,
    text: String,
    bad: bool,
}

fn excerpt(text: &str, line: usize) -> Vec<Line> {
    let lo = line.saturating_sub(CONTEXT_LINES).max(1);
    let hi = line + CONTEXT_LINES;
    text.lines()
        .enumerate()
        .map(|(i, t)| (i + 1, t))
        .filter(|(n, _)| (lo..=hi).contains(n))
        .map(|(n, t)| Line {
            n,
            text: clip(t, 200),
            bad: n == line,
        })
        .collect()
}

fn problem_ctx(ctx: &Ctx, text: &str, p: &RulesProblem) -> Value {
    let message = Msg::new("rules.invalid")
        .arg("reason", &p.message)
        .render(ctx.lang);
    context! {
        message => message,
        line => p.line,
        at => p.line.map(|n| Msg::new("rules.at_line").arg("line", n).render(ctx.lang)),
        excerpt => Serde(p.line.map(|n| excerpt(text, n)).unwrap_or_default()),
    }
}

#[derive(Deserialize, Default)]
struct RulesQ {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    ok: Option<String>,
    #[serde(default)]
    v: Option<String>,
}

/// The editor's state when the page is rendered.
#[derive(Default)]
struct Editor {
    text: Option<String>,
    note: String,
    /// Version whose text was loaded into the editor.
    base: Option<i64>,
    check: Option<RulesCheck>,
    error: Option<AppError>,
}

async fn render_rules(
    st: &AppState,
    ctx: &Ctx,
    actor: &Actor,
    ed: Editor,
    flash_msg: Option<String>,
) -> Response {
    if !actor.can(Action::EditRules) {
        return fail(ctx, forbidden());
    }
    let view = match st.app.rules(actor).await {
        Ok(v) => v,
        Err(e) => return fail(ctx, e),
    };
    let (text, base) = match (ed.text, ed.base) {
        (Some(t), b) => (t, b),
        (None, Some(b)) => match st.app.rules_version(actor, b).await {
            Ok(r) => (r.toml, Some(b)),
            Err(e) => return fail(ctx, e),
        },
        (None, None) => (view.active.toml.clone(), Some(view.active.version)),
    };
    let failed = ed.check.as_ref().is_some_and(|c| !c.ok) || ed.error.is_some();
    let status = match (&ed.error, &ed.check) {
        (Some(e), _) => status_of(e),
        (None, Some(c)) if !c.ok => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::OK,
    };
    let problem = ed
        .check
        .as_ref()
        .and_then(|c| c.problem.as_ref())
        .map(|p| problem_ctx(ctx, &text, p));
    let html = page(
        st,
        ctx,
        "rules.html",
        context! {
            active => context! {
                version => view.active.version,
                name => view.active.name.clone(),
                author => view.active.author.clone(),
                note => view.active.note.clone(),
                created_at => view.active.created_at.0,
            },
            versions => Serde(&view.versions),
            text => clip(&text, MAX_ECHO),
            lines => text.lines().count().clamp(12, 40),
            note => clip(&ed.note, 500),
            base => base,
            checked_ok => ed.check.as_ref().filter(|c| c.ok).map(|c| {
                Msg::new("rules.check_ok").arg("name", c.name.clone().unwrap_or_default()).render(ctx.lang)
            }),
            problem => problem,
            failed => failed,
            error => ed.error.as_ref().map(|e| err_text(ctx, e)),
            flash => flash_msg,
        },
    );
    (status, html).into_response()
}

async fn rules_page(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Query(q): Query<RulesQ>,
) -> Response {
    let base = match super::common::opt_num::<i64>(q.from.as_deref(), "rules.version") {
        Ok(b) => b,
        Err(e) => return fail(&ctx, e),
    };
    let v = q.v.as_deref().and_then(|v| v.trim().parse::<i64>().ok());
    let msg = flash(&ctx, q.ok.as_deref(), v);
    let ed = Editor {
        base,
        ..Default::default()
    };
    render_rules(&st, &ctx, &actor, ed, msg).await
}

#[derive(Deserialize, Default)]
struct RulesForm {
    #[serde(default)]
    toml: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    op: String,
}

/// `op=check` checks only; `op=save` checks, then saves as the next version
/// and makes it active. A document with a problem is never saved.
async fn rules_post(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Form(f): Form<RulesForm>,
) -> Response {
    if !actor.can(Action::EditRules) {
        return fail(&ctx, forbidden());
    }
    let check = match st.app.check_rules_text(&actor, &f.toml) {
        Ok(c) => c,
        Err(e) => return fail(&ctx, e),
    };
    let ed = |check: Option<RulesCheck>, error: Option<AppError>| Editor {
        text: Some(f.toml.clone()),
        note: f.note.clone(),
        base: None,
        check,
        error,
    };
    if f.op != "save" || !check.ok {
        return render_rules(&st, &ctx, &actor, ed(Some(check), None), None).await;
    }
    match st.app.save_rules(&actor, &f.toml, &f.note).await {
        Ok(r) => Redirect::to(&format!("/rules/{}?ok=saved", r.version)).into_response(),
        Err(e) if is_form_error(&e) => render_rules(&st, &ctx, &actor, ed(None, Some(e)), None).await,
        Err(e) => fail(&ctx, e),
    }
}

#[derive(Deserialize, Default)]
struct OkQ {
    #[serde(default)]
    ok: Option<String>,
}

async fn version_page(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(version): Path<i64>,
    Query(q): Query<OkQ>,
) -> Response {
    if !actor.can(Action::EditRules) {
        return fail(&ctx, forbidden());
    }
    let r = match st.app.rules_version(&actor, version).await {
        Ok(r) => r,
        Err(e) => return fail(&ctx, e),
    };
    let lines: Vec<Line> = r
        .toml
        .lines()
        .enumerate()
        .map(|(i, t)| Line {
            n: i + 1,
            text: t.to_string(),
            bad: false,
        })
        .collect();
    let html = page(
        &st,
        &ctx,
        "rules_version.html",
        context! {
            r => context! {
                version => r.version,
                name => r.name.clone(),
                author => r.author.clone(),
                note => r.note.clone(),
                created_at => r.created_at.0,
                active => r.active,
            },
            lines => Serde(&lines),
            flash => flash(&ctx, q.ok.as_deref(), Some(r.version)),
        },
    );
    html.into_response()
}

async fn activate(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(version): Path<i64>,
) -> Response {
    match st.app.activate_rules(&actor, version).await {
        Ok(r) => Redirect::to(&format!("/rules?ok=activated&v={}", r.version)).into_response(),
        Err(e) => fail(&ctx, e),
    }
}

// ---- backtest ----

#[derive(Deserialize, Default, Clone)]
struct BacktestForm {
    /// A saved version's number, or empty for the pasted document.
    #[serde(default)]
    version: String,
    #[serde(default)]
    toml: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

#[derive(Serialize)]
struct BtRow {
    subscriber: String,
    node: String,
    first_grade: &'static str,
    max_grade: &'static str,
    updates: u32,
    fraud_type: Option<&'static str>,
    opened_at: i64,
}

#[derive(Serialize)]
struct BtChange {
    subscriber: String,
    node: String,
    live: &'static str,
    candidate: &'static str,
    up: bool,
    fraud_type: Option<&'static str>,
    opened_at: i64,
}

fn bt_row(names: &HashMap<i64, String>, l: &BacktestLeadView) -> BtRow {
    BtRow {
        subscriber: l.subscriber_masked.clone(),
        node: l
            .node_id
            .and_then(|n| names.get(&n.0).cloned())
            .unwrap_or_default(),
        first_grade: l.first_grade.code(),
        max_grade: l.max_grade.code(),
        updates: l.updates,
        fraud_type: l.fraud_type.map(|f| f.code()),
        opened_at: l.opened_at.0,
    }
}

fn report_ctx(lang: Lang, names: &HashMap<i64, String>, r: &BacktestReport) -> Value {
    let rows = |v: &[BacktestLeadView]| v.iter().map(|l| bt_row(names, l)).collect::<Vec<_>>();
    let changes: Vec<BtChange> = r
        .grade_changes
        .iter()
        .map(|g| BtChange {
            subscriber: g.candidate.subscriber_masked.clone(),
            node: g
                .candidate
                .node_id
                .and_then(|n| names.get(&n.0).cloned())
                .unwrap_or_default(),
            live: g.live.max_grade.code(),
            candidate: g.candidate.max_grade.code(),
            up: g.candidate.max_grade > g.live.max_grade,
            fraud_type: g.candidate.fraud_type.or(g.live.fraud_type).map(|f| f.code()),
            opened_at: g.candidate.opened_at.0,
        })
        .collect();
    context! {
        live_version => r.live_version,
        candidate_name => r.candidate_name.clone(),
        events => r.events,
        truncated => r.truncated,
        truncated_note => r.truncated.then(|| tr(lang, "backtest.truncated").to_string()),
        live_leads => r.counts.a.leads,
        candidate_leads => r.counts.b.leads,
        new_leads => Serde(rows(&r.new_leads)),
        dropped_leads => Serde(rows(&r.dropped_leads)),
        grade_changes => Serde(changes),
        elapsed_ms => r.elapsed_ms,
        from => r.from.0,
        to => r.to.0,
    }
}

async fn render_backtest(
    st: &AppState,
    ctx: &Ctx,
    actor: &Actor,
    form: &BacktestForm,
    report: Option<Value>,
    error: Option<AppError>,
) -> Response {
    if !actor.can(Action::EditRules) {
        return fail(ctx, forbidden());
    }
    let view = match st.app.rules(actor).await {
        Ok(v) => v,
        Err(e) => return fail(ctx, e),
    };
    let status = error.as_ref().map(status_of).unwrap_or(StatusCode::OK);
    let html = page(
        st,
        ctx,
        "backtest.html",
        context! {
            versions => Serde(&view.versions),
            live_version => view.active.version,
            f => context! {
                version => clip(form.version.trim(), 20),
                toml => clip(&form.toml, MAX_ECHO),
                from => clip(form.from.trim(), 20),
                to => clip(form.to.trim(), 20),
            },
            report => report,
            error => error.as_ref().map(|e| err_text(ctx, e)),
        },
    );
    (status, html).into_response()
}

#[derive(Deserialize, Default)]
struct BacktestQ {
    #[serde(default)]
    version: Option<String>,
}

async fn backtest_page(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Query(q): Query<BacktestQ>,
) -> Response {
    // The last seven days up to the next minute, by default.
    let now = st.app.now();
    let to = Timestamp((now.0 / 60_000 + 1) * 60_000);
    let form = BacktestForm {
        version: q.version.map(|v| clip(v.trim(), 20)).unwrap_or_default(),
        toml: String::new(),
        from: local_input(Timestamp(to.0 - 7 * 86_400_000)),
        to: local_input(to),
    };
    render_backtest(&st, &ctx, &actor, &form, None, None).await
}

fn bt_time(s: &str, field_key: &str) -> Result<Timestamp, AppError> {
    local_time(s).ok_or_else(|| AppError::Invalid(Msg::new("backtest.bad_time").arg("field", field_key)))
}

async fn backtest_run(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Form(f): Form<BacktestForm>,
) -> Response {
    if !actor.can(Action::EditRules) {
        return fail(&ctx, forbidden());
    }
    let prepared = async {
        let from = bt_time(&f.from, "backtest.from")?;
        let to = bt_time(&f.to, "backtest.to")?;
        let text = match super::common::opt_num::<i64>(Some(&f.version), "backtest.candidate")? {
            Some(v) => st.app.rules_version(&actor, v).await?.toml,
            None if f.toml.trim().is_empty() => return Err(AppError::invalid("backtest.no_candidate")),
            None => f.toml.clone(),
        };
        Ok::<_, AppError>((text, from, to))
    }
    .await;
    let result = match prepared {
        Ok((text, from, to)) => st.app.backtest(&actor, &text, from, to).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(rep) => {
            let names = match st.app.org_nodes(&actor).await {
                Ok(tree) => super::common::node_options(&tree)
                    .into_iter()
                    .map(|o| {
                        let parts: Vec<&str> = o.trail.split(" / ").collect();
                        (o.id, parts[parts.len().saturating_sub(2)..].join(" "))
                    })
                    .collect(),
                Err(e) => return fail(&ctx, e),
            };
            let report = report_ctx(ctx.lang, &names, &rep);
            render_backtest(&st, &ctx, &actor, &f, Some(report), None).await
        }
        // A version that does not exist is bad input on this form.
        Err(AppError::NotFound(_)) => {
            let e = AppError::invalid("backtest.no_version");
            render_backtest(&st, &ctx, &actor, &f, None, Some(e)).await
        }
        Err(e) if is_form_error(&e) => render_backtest(&st, &ctx, &actor, &f, None, Some(e)).await,
        Err(e) => fail(&ctx, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_mark_the_line() {
        let t = "a\nb\nc\nd\ne\nf\n";
        let x = excerpt(t, 1);
        assert_eq!(x.iter().map(|l| l.n).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(x[0].bad && !x[1].bad);
        let x = excerpt(t, 4);
        assert_eq!(x.iter().map(|l| l.n).collect::<Vec<_>>(), vec![2, 3, 4, 5, 6]);
        assert!(x[2].bad);
    }
}
