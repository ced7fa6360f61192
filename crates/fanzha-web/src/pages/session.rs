//! Login, logout, first-run setup, language switch and the home page.

use crate::auth::{Ctx, LANG_COOKIE, PRE_COOKIE, Page, plain_cookie, safe_next, session_cookie};
use crate::error::{Form, PageError, Query};
use crate::render::page;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::CookieJar;
use fanzha_app::AppError;
use fanzha_core::i18n::{Lang, Msg};
use fanzha_core::roles::Action;
use minijinja::context;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/setup", get(setup_page).post(setup))
        .route("/lang/{code}", get(set_lang))
}

/// The double-submit token for forms shown before login: reuse the cookie
/// if the browser has one, else mint a new one.
pub(super) fn pre_token(jar: &CookieJar) -> Result<String, AppError> {
    if let Some(c) = jar.get(PRE_COOKIE)
        && c.value().len() == 64
    {
        return Ok(c.value().to_string());
    }
    Ok(fanzha_app::crypto::random_secret()?)
}

#[derive(Deserialize, Default)]
struct NextQ {
    next: Option<String>,
}

async fn login_page(
    State(st): State<AppState>,
    ctx: Ctx,
    jar: CookieJar,
    Query(q): Query<NextQ>,
) -> Response {
    if ctx.actor.is_some() {
        return Redirect::to(&safe_next(q.next.as_deref())).into_response();
    }
    render_login(&st, &ctx, jar, q.next.as_deref().unwrap_or("/"), "", None).await
}

async fn render_login(
    st: &AppState,
    ctx: &Ctx,
    jar: CookieJar,
    next: &str,
    username: &str,
    error: Option<String>,
) -> Response {
    let pre = match pre_token(&jar) {
        Ok(p) => p,
        Err(e) => return PageError(e, ctx.lang).into_response(),
    };
    let needs_setup = st.app.needs_setup().await.unwrap_or(false);
    let status = if error.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    let html = page(
        st,
        ctx,
        "login.html",
        context! { pre => pre.clone(), next => safe_next(Some(next)), username => username, error => error, needs_setup => needs_setup },
    );
    (
        status,
        jar.add(plain_cookie(PRE_COOKIE, pre, st.cfg.cookie_secure)),
        html,
    )
        .into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

async fn login(
    State(st): State<AppState>,
    ctx: Ctx,
    jar: CookieJar,
    headers: axum::http::HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let ua = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match st.app.login(&f.username, &f.password, &ctx.ip, ua).await {
        Ok(ok) => {
            let jar = jar
                .add(session_cookie(ok.token, st.cfg.cookie_secure))
                .add(plain_cookie(
                    LANG_COOKIE,
                    if ok.user.lang == "en" {
                        "en".into()
                    } else {
                        "zh".into()
                    },
                    st.cfg.cookie_secure,
                ));
            let to = if ok.user.must_change_password {
                "/account?first=1".to_string()
            } else {
                safe_next(f.next.as_deref())
            };
            (jar, Redirect::to(&to)).into_response()
        }
        Err(AppError::Locked { until }) => {
            let mins = ((until.0 - st.app.now().0) / 60_000).max(1);
            let msg = Msg::new("login.locked").arg("minutes", mins).render(ctx.lang);
            render_login(
                &st,
                &ctx,
                jar,
                f.next.as_deref().unwrap_or("/"),
                &f.username,
                Some(msg),
            )
            .await
        }
        Err(AppError::Invalid(m)) => {
            render_login(
                &st,
                &ctx,
                jar,
                f.next.as_deref().unwrap_or("/"),
                &f.username,
                Some(m.render(ctx.lang)),
            )
            .await
        }
        Err(e) => PageError(e, ctx.lang).into_response(),
    }
}

async fn logout(State(st): State<AppState>, ctx: Ctx, jar: CookieJar) -> Response {
    if let Some(c) = jar.get(crate::auth::SESSION_COOKIE)
        && let Err(e) = st.app.logout(c.value(), &ctx.ip).await
    {
        tracing::warn!(error = %e, "logout failed");
    }
    let jar = jar.remove(session_cookie(String::new(), st.cfg.cookie_secure));
    (jar, Redirect::to("/login")).into_response()
}

async fn setup_page(State(st): State<AppState>, ctx: Ctx, jar: CookieJar) -> Response {
    render_setup(&st, &ctx, jar, "", "", None).await
}

async fn render_setup(
    st: &AppState,
    ctx: &Ctx,
    jar: CookieJar,
    username: &str,
    display: &str,
    error: Option<String>,
) -> Response {
    match st.app.needs_setup().await {
        Ok(true) => {}
        Ok(false) => return PageError(AppError::forbidden("setup.already_done"), ctx.lang).into_response(),
        Err(e) => return PageError(e, ctx.lang).into_response(),
    }
    let pre = match pre_token(&jar) {
        Ok(p) => p,
        Err(e) => return PageError(e, ctx.lang).into_response(),
    };
    let status = if error.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    let html = page(
        st,
        ctx,
        "setup.html",
        context! { pre => pre.clone(), username => username, display_name => display, error => error },
    );
    (
        status,
        jar.add(plain_cookie(PRE_COOKIE, pre, st.cfg.cookie_secure)),
        html,
    )
        .into_response()
}

#[derive(Deserialize)]
struct SetupForm {
    username: String,
    #[serde(default)]
    display_name: String,
    password: String,
    password2: String,
}

async fn setup(State(st): State<AppState>, ctx: Ctx, jar: CookieJar, Form(f): Form<SetupForm>) -> Response {
    if f.password != f.password2 {
        let msg = Msg::new("setup.mismatch").render(ctx.lang);
        return render_setup(&st, &ctx, jar, &f.username, &f.display_name, Some(msg)).await;
    }
    match st
        .app
        .setup_first_admin(&f.username, &f.display_name, &f.password, &ctx.ip)
        .await
    {
        Ok(_) => Redirect::to("/login").into_response(),
        Err(AppError::Invalid(m)) | Err(AppError::Conflict(m)) => {
            render_setup(
                &st,
                &ctx,
                jar,
                &f.username,
                &f.display_name,
                Some(m.render(ctx.lang)),
            )
            .await
        }
        Err(e) => PageError(e, ctx.lang).into_response(),
    }
}

#[derive(Deserialize, Default)]
struct BackQ {
    back: Option<String>,
}

async fn set_lang(
    State(st): State<AppState>,
    ctx: Ctx,
    jar: CookieJar,
    crate::error::Path(code): crate::error::Path<String>,
    Query(q): Query<BackQ>,
) -> Response {
    let Some(lang) = Lang::parse(&code) else {
        return PageError(AppError::invalid("lang.unknown"), ctx.lang).into_response();
    };
    if let Some(a) = &ctx.actor
        && let Err(e) = st.app.set_own_lang(a, lang).await
    {
        tracing::warn!(error = %e, "could not store language");
    }
    let value = if lang == Lang::En { "en" } else { "zh" };
    let jar = jar.add(plain_cookie(LANG_COOKIE, value.into(), st.cfg.cookie_secure));
    (jar, Redirect::to(&safe_next(q.back.as_deref()))).into_response()
}

async fn home(State(st): State<AppState>, Page(ctx, actor): Page) -> Response {
    let counts = match st.app.home(&actor).await {
        Ok(c) => c,
        Err(e) => return PageError(e, ctx.lang).into_response(),
    };
    let scope_name = match actor.user.node_id {
        None => fanzha_core::i18n::tr(ctx.lang, "home.all").to_string(),
        Some(n) => st
            .app
            .node_trail(n)
            .await
            .map(|t| t.into_iter().map(|n| n.name).collect::<Vec<_>>().join(" / "))
            .unwrap_or_default(),
    };
    let leads = match st.app.home_leads(&actor).await {
        Ok(l) => l,
        Err(e) => return PageError(e, ctx.lang).into_response(),
    };
    let leads = leads.map(|l| {
        context! {
            total => l.total,
            by_grade => l.by_grade.iter().map(|(g, n)| context! { grade => g.code(), n => n }).collect::<Vec<_>>(),
        }
    });
    page(
        &st,
        &ctx,
        "home.html",
        context! {
            leads => leads,
            counts => minijinja::value::Serde(counts),
            scope_name => scope_name,
            show_residents => actor.can(Action::ViewResidents),
            show_users => actor.can(Action::ManageUsers),
        },
    )
    .into_response()
}
