//! Signing in and out, the caller's own account, and API tokens.

use super::openapi::{Doc, list_of, r};
use super::{Endpoints, M, created, done, err, fail, ok};
use crate::auth::{Api, Ctx, SESSION_COOKIE, session_cookie};
use crate::error::{Json, Path};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use fanzha_app::users::UserView;
use fanzha_app::{AppError, AuthVia};
use fanzha_core::TokenId;
use fanzha_core::i18n::Msg;
use fanzha_core::roles::Action;
use serde::Deserialize;
use serde_json::json;

pub(super) fn add(e: Endpoints) -> Endpoints {
    e.add(
        M::Post,
        "/auth/login",
        Doc::new(
            "auth",
            "Sign in; sets the session cookie and returns the CSRF token",
        )
        .public()
        .body(r("LoginRequest"))
        .ok(200, r("LoginResponse"))
        .errors(&[401, 423]),
        login,
    )
    .add(
        M::Post,
        "/auth/logout",
        Doc::new("auth", "End this cookie session").no_content(),
        logout,
    )
    .add(
        M::Post,
        "/auth/logout-all",
        Doc::new("auth", "End every session of the caller's account").ok(200, r("LoggedOutEverywhere")),
        logout_all,
    )
    .add(
        M::Get,
        "/me",
        Doc::new("auth", "The caller: account, permissions and scope").ok(200, r("Me")),
        me,
    )
    .add(
        M::Get,
        "/tokens",
        Doc::new("tokens", "The caller's API tokens").ok(200, list_of("Token")),
        list_tokens,
    )
    .add(
        M::Post,
        "/tokens",
        Doc::new("tokens", "Create an API token; the secret is returned once")
            .body(r("NewToken"))
            .ok(201, r("TokenCreated")),
        create_token,
    )
    .add(
        M::Delete,
        "/tokens/{id}",
        Doc::new("tokens", "Revoke one of the caller's API tokens")
            .no_content()
            .errors(&[404]),
        revoke_token,
    )
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
}

async fn login(
    State(st): State<AppState>,
    ctx: Ctx,
    jar: CookieJar,
    headers: HeaderMap,
    Json(b): Json<LoginBody>,
) -> Response {
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match st.app.login(&b.username, &b.password, &ctx.ip, ua).await {
        Ok(l) => {
            let body = json!({
                "user": UserView::of(&l.user, st.app.now()),
                "csrf": l.csrf,
                "expires_at": l.expires_at,
            });
            (
                jar.add(session_cookie(l.token, st.cfg.cookie_secure)),
                axum::Json(body),
            )
                .into_response()
        }
        Err(AppError::Invalid(m)) => fail(StatusCode::UNAUTHORIZED, "bad_credentials", &m, ctx.lang),
        Err(AppError::Locked { until }) => {
            let mins = ((until.0 - st.app.now().0) / 60_000).max(1);
            fail(
                StatusCode::LOCKED,
                "locked",
                &Msg::new("login.locked").arg("minutes", mins),
                ctx.lang,
            )
        }
        Err(e) => err(&ctx, e),
    }
}

async fn logout(State(st): State<AppState>, Api(ctx, actor): Api, jar: CookieJar) -> Response {
    if !matches!(actor.via, AuthVia::Session { .. }) {
        return err(&ctx, AppError::invalid("api.logout_token"));
    }
    if let Some(c) = jar.get(SESSION_COOKIE)
        && let Err(e) = st.app.logout(c.value(), &ctx.ip).await
    {
        return err(&ctx, e);
    }
    let jar = jar.remove(session_cookie(String::new(), st.cfg.cookie_secure));
    (jar, StatusCode::NO_CONTENT).into_response()
}

async fn logout_all(State(st): State<AppState>, Api(ctx, actor): Api, jar: CookieJar) -> Response {
    match st.app.logout_everywhere(&actor).await {
        Ok(n) => {
            let jar = if matches!(actor.via, AuthVia::Session { .. }) {
                jar.remove(session_cookie(String::new(), st.cfg.cookie_secure))
            } else {
                jar
            };
            (jar, axum::Json(json!({ "ended": n }))).into_response()
        }
        Err(e) => err(&ctx, e),
    }
}

async fn me(State(st): State<AppState>, Api(ctx, actor): Api) -> Response {
    let trail = match actor.user.node_id {
        Some(n) => match st.app.node_trail(n).await {
            Ok(t) => t.into_iter().map(|n| n.name).collect::<Vec<_>>(),
            Err(e) => return err(&ctx, e),
        },
        None => Vec::new(),
    };
    let permissions: Vec<&str> = Action::ALL
        .iter()
        .filter(|a| actor.can(**a))
        .map(|a| a.code())
        .collect();
    let (via, csrf) = match &actor.via {
        AuthVia::Session { csrf } => ("session", Some(csrf.clone())),
        AuthVia::Token | AuthVia::Cli => ("token", None),
    };
    axum::Json(json!({
        "user": UserView::of(&actor.user, st.app.now()),
        "via": via,
        "csrf": csrf,
        "permissions": permissions,
        "scope": { "node_id": actor.user.node_id, "trail": trail },
    }))
    .into_response()
}

async fn list_tokens(State(st): State<AppState>, Api(ctx, actor): Api) -> Response {
    ok(&ctx, st.app.list_tokens(&actor).await)
}

#[derive(Deserialize)]
struct NewToken {
    name: String,
}

async fn create_token(State(st): State<AppState>, Api(ctx, actor): Api, Json(b): Json<NewToken>) -> Response {
    let r = st.app.create_token(&actor, &b.name).await;
    created(
        &ctx,
        r.map(|(id, secret)| json!({ "id": id, "name": b.name.trim(), "token": secret })),
    )
}

async fn revoke_token(State(st): State<AppState>, Api(ctx, actor): Api, Path(id): Path<i64>) -> Response {
    done(&ctx, st.app.revoke_token(&actor, TokenId(id)).await)
}
