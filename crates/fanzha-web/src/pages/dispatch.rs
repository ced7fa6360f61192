//! The dispatch settings (派单与模板) for the roles that edit them: the
//! dispatch policy in force (TOML, saved as a new version like the rules)
//! and the message templates per fraud type — the warning SMS with its
//! length and segments, the robocall script and the dissuasion script
//! (劝阻话术). A refused save shows its reason and keeps what was typed;
//! nothing is saved.

use super::common::{Signed, back_to, clip, err_text, fail, is_form_error, status_of};
use crate::auth::Ctx;
use crate::error::{Form, Query};
use crate::render::page;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use fanzha_app::tasks::templates::TemplateSave;
use fanzha_app::{Actor, AppError};
use fanzha_core::dispatch::ScriptTemplate;
use fanzha_core::i18n::{Msg, tr};
use fanzha_core::roles::Action;
use minijinja::context;
use minijinja::value::Serde;
use serde::{Deserialize, Serialize};

/// Longest document the editor echoes back.
const MAX_ECHO: usize = 256 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dispatch", get(dispatch_page))
        .route("/dispatch/policy", back_to("/dispatch").post(policy_post))
        .route("/dispatch/templates", back_to("/dispatch").post(templates_post))
}

fn forbidden() -> AppError {
    AppError::Forbidden(Msg::new("error.forbidden_action").arg("action", Action::EditDispatch.code()))
}

#[derive(Deserialize, Default)]
struct OkQ {
    #[serde(default)]
    ok: Option<String>,
    #[serde(default)]
    key: Option<String>,
}

/// What a refused form typed, shown again.
#[derive(Default)]
struct Echo {
    policy: Option<(String, String, AppError)>,
    templates: Option<(TemplateForm, AppError)>,
}

/// A key's templates as the page edits them.
#[derive(Serialize)]
struct Row {
    key: String,
    label: String,
    sms: String,
    sms_chars: usize,
    sms_segments: usize,
    robocall: String,
    title: String,
    say: String,
    ask: String,
    red_flags: String,
    own: bool,
    edited: bool,
    error: Option<String>,
}

async fn render(st: &AppState, ctx: &Ctx, actor: &Actor, echo: Echo, flash: Option<String>) -> Response {
    if !actor.can(Action::EditDispatch) {
        return fail(ctx, forbidden());
    }
    let policy = match st.app.dispatch_policy_view(actor).await {
        Ok(v) => v,
        Err(e) => return fail(ctx, e),
    };
    let view = match st.app.task_templates_view(actor).await {
        Ok(v) => v,
        Err(e) => return fail(ctx, e),
    };
    let mut status = StatusCode::OK;
    let (policy_text, note, policy_error) = match echo.policy {
        Some((text, note, e)) => {
            status = status_of(&e);
            (text, note, Some(err_text(ctx, &e)))
        }
        None => (policy.active.toml.clone(), String::new(), None),
    };
    let rows: Vec<Row> = view
        .entries
        .iter()
        .map(|e| {
            let script = e.script.clone().unwrap_or(ScriptTemplate {
                title: String::new(),
                say: String::new(),
                ask: vec![],
                red_flags: vec![],
            });
            let mut row = Row {
                key: e.key.clone(),
                label: e.label.clone(),
                sms: e.sms.clone(),
                sms_chars: e.sms_chars,
                sms_segments: e.sms_segments,
                robocall: e.robocall.clone(),
                title: script.title,
                say: script.say,
                ask: script.ask.join("\n"),
                red_flags: script.red_flags.join("\n"),
                own: e.own_sms || e.own_robocall || e.own_script,
                edited: e.edited_sms || e.edited_robocall || e.edited_script,
                error: None,
            };
            if let Some((f, err)) = &echo.templates
                && f.key == e.key
            {
                status = status_of(err);
                row.sms = clip(&f.sms, MAX_ECHO);
                row.robocall = clip(&f.robocall, MAX_ECHO);
                row.title = clip(&f.title, MAX_ECHO);
                row.say = clip(&f.say, MAX_ECHO);
                row.ask = clip(&f.ask, MAX_ECHO);
                row.red_flags = clip(&f.red_flags, MAX_ECHO);
                row.error = Some(err_text(ctx, err));
            }
            row
        })
        .collect();
    let html = page(
        st,
        ctx,
        "dispatch.html",
        context! {
            active => context! {
                version => policy.active.version,
                name => policy.active.name.clone(),
                author => policy.active.author.clone(),
                created_at => policy.active.created_at.0,
            },
            versions => Serde(&policy.versions),
            text => clip(&policy_text, MAX_ECHO),
            lines => policy_text.lines().count().clamp(12, 40),
            note => clip(&note, 500),
            policy_error => policy_error,
            max_segments => view.max_segments,
            rows => Serde(&rows),
            flash => flash,
        },
    );
    (status, html).into_response()
}

async fn dispatch_page(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Query(q): Query<OkQ>,
) -> Response {
    let flash = match q.ok.as_deref() {
        Some("policy") => Some(tr(ctx.lang, "dispatch.ok_policy").to_string()),
        Some("templates") => Some(
            Msg::new("dispatch.ok_templates")
                .arg("key", clip(q.key.as_deref().unwrap_or_default(), 40))
                .render(ctx.lang),
        ),
        _ => None,
    };
    render(&st, &ctx, &actor, Echo::default(), flash).await
}

#[derive(Deserialize, Default)]
struct PolicyForm {
    #[serde(default)]
    toml: String,
    #[serde(default)]
    note: String,
}

async fn policy_post(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Form(f): Form<PolicyForm>,
) -> Response {
    match st.app.save_dispatch_policy(&actor, &f.toml, &f.note).await {
        Ok(_) => Redirect::to("/dispatch?ok=policy").into_response(),
        Err(e) if is_form_error(&e) => {
            let echo = Echo {
                policy: Some((f.toml, f.note, e)),
                templates: None,
            };
            render(&st, &ctx, &actor, echo, None).await
        }
        Err(e) => fail(&ctx, e),
    }
}

#[derive(Deserialize, Default, Clone)]
struct TemplateForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    sms: String,
    #[serde(default)]
    robocall: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    say: String,
    #[serde(default)]
    ask: String,
    #[serde(default)]
    red_flags: String,
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

async fn templates_post(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Form(f): Form<TemplateForm>,
) -> Response {
    let view = match st.app.task_templates_view(&actor).await {
        Ok(v) => v,
        Err(e) => return fail(&ctx, e),
    };
    let current = view.entries.iter().find(|e| e.key == f.key.trim());
    let sms = f.sms.replace("\r\n", "\n").trim().to_string();
    let robocall = f.robocall.replace("\r\n", "\n").trim().to_string();
    let script = ScriptTemplate {
        title: f.title.trim().to_string(),
        say: f.say.replace("\r\n", "\n").trim().to_string(),
        ask: lines(&f.ask),
        red_flags: lines(&f.red_flags),
    };
    // Only what changed becomes an edit; the rest keeps following what ships.
    let changed = |old: Option<&str>, new: &str| old.map(str::trim) != Some(new);
    let script_changed = current.and_then(|c| c.script.as_ref()).is_none_or(|old| {
        old.title.trim() != script.title
            || old.say.trim() != script.say
            || old.ask != script.ask
            || old.red_flags != script.red_flags
    });
    let save = TemplateSave {
        key: f.key.clone(),
        sms: changed(current.map(|c| c.sms.as_str()), &sms).then_some(sms),
        robocall: changed(current.map(|c| c.robocall.as_str()), &robocall).then_some(robocall),
        script: script_changed.then_some(script),
    };
    if current.is_some() && save.sms.is_none() && save.robocall.is_none() && save.script.is_none() {
        return Redirect::to(&format!(
            "/dispatch?ok=templates&key={}#tpl-{}",
            f.key.trim(),
            f.key.trim()
        ))
        .into_response();
    }
    match st.app.save_task_templates(&actor, &save).await {
        Ok(e) => Redirect::to(&format!("/dispatch?ok=templates&key={}#tpl-{}", e.key, e.key)).into_response(),
        Err(e) if is_form_error(&e) => {
            let echo = Echo {
                policy: None,
                templates: Some((f, e)),
            };
            render(&st, &ctx, &actor, echo, None).await
        }
        Err(e) => fail(&ctx, e),
    }
}
