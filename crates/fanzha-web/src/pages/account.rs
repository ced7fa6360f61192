//! The user's own account (我的账号): change the password (required after
//! an administrator reset), log out everywhere, and API tokens for the roles
//! that may have them.

use super::common::{back_to, err_text, fail, flash, status_of};
use crate::auth::{Ctx, Page, session_cookie};
use crate::error::{Form, Path, Query};
use crate::render::page;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::cookie::CookieJar;
use fanzha_app::{Actor, AppError};
use fanzha_core::TokenId;
use fanzha_core::roles::Action;
use minijinja::context;
use minijinja::value::Value;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/account", get(account_page))
        .route("/account/password", back_to("/account").post(change_password))
        .route("/account/logout-all", back_to("/account").post(logout_all))
        .route("/account/tokens", back_to("/account").post(create_token))
        .route(
            "/account/tokens/{id}/revoke",
            back_to("/account").post(revoke_token),
        )
}

/// `?first=1` (after a login that must change the password) is accepted
/// and needs no handling: the page shows the notice while the change is due.
#[derive(Deserialize, Default)]
struct AccountQ {
    #[serde(default)]
    ok: Option<String>,
}

/// What the page shows besides the account: a form's error, a new secret.
#[derive(Default)]
struct Extra {
    which: &'static str,
    error: Option<AppError>,
    token_name: String,
    new_secret: Option<String>,
    flash: Option<String>,
}

async fn account_page(
    State(st): State<AppState>,
    Page(ctx, actor): Page,
    Query(q): Query<AccountQ>,
) -> Response {
    let extra = Extra {
        flash: flash(&ctx, q.ok.as_deref()),
        ..Default::default()
    };
    render(&st, &ctx, &actor, extra).await
}

async fn render(st: &AppState, ctx: &Ctx, actor: &Actor, extra: Extra) -> Response {
    let scope = match actor.user.node_id {
        None => fanzha_core::i18n::tr(ctx.lang, "home.all").to_string(),
        Some(n) => st
            .app
            .node_trail(n)
            .await
            .map(|t| t.into_iter().map(|n| n.name).collect::<Vec<_>>().join(" / "))
            .unwrap_or_default(),
    };
    let can_tokens = actor.can(Action::ManageOwnTokens);
    let tokens = if can_tokens {
        match st.app.list_tokens(actor).await {
            Ok(t) => t,
            Err(e) => return fail(ctx, e),
        }
    } else {
        Vec::new()
    };
    let tokens: Vec<Value> = tokens
        .iter()
        .map(|t| {
            context! {
                id => t.id.0,
                name => t.name.clone(),
                prefix => t.prefix.clone(),
                created_at => t.created_at.0,
                last_used_at => t.last_used_at.map(|x| x.0),
                revoked => t.revoked_at.is_some(),
            }
        })
        .collect();
    let status = extra.error.as_ref().map(status_of).unwrap_or(StatusCode::OK);
    let html = page(
        st,
        ctx,
        "account.html",
        context! {
            user => context! {
                username => actor.user.username.clone(),
                display_name => actor.user.display_name.clone(),
                role => actor.user.role.code(),
            },
            scope => scope,
            must_change => actor.user.must_change_password,
            can_tokens => can_tokens,
            tokens => tokens,
            new_secret => extra.new_secret,
            token_name => extra.token_name.chars().take(80).collect::<String>(),
            which => extra.which,
            error => extra.error.as_ref().map(|e| err_text(ctx, e)),
            flash => extra.flash,
        },
    );
    (status, html).into_response()
}

#[derive(Deserialize, Default)]
struct PasswordForm {
    #[serde(default)]
    old: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    new2: String,
}

async fn change_password(
    State(st): State<AppState>,
    Page(ctx, actor): Page,
    Form(f): Form<PasswordForm>,
) -> Response {
    let result = if f.new != f.new2 {
        Err(AppError::invalid("account.password_mismatch"))
    } else if f.new == f.old {
        Err(AppError::invalid("account.password_same"))
    } else {
        st.app.change_own_password(&actor, &f.old, &f.new).await
    };
    match result {
        Ok(()) => Redirect::to("/account?ok=password").into_response(),
        Err(e @ (AppError::Invalid(_) | AppError::Conflict(_))) => {
            let extra = Extra {
                which: "password",
                error: Some(e),
                ..Default::default()
            };
            render(&st, &ctx, &actor, extra).await
        }
        Err(e) => fail(&ctx, e),
    }
}

/// Ends every session of the user, this one included.
async fn logout_all(State(st): State<AppState>, Page(ctx, actor): Page, jar: CookieJar) -> Response {
    if let Err(e) = st.app.logout_everywhere(&actor).await {
        return fail(&ctx, e);
    }
    let jar = jar.remove(session_cookie(String::new(), st.cfg.cookie_secure));
    (jar, Redirect::to("/login")).into_response()
}

#[derive(Deserialize, Default)]
struct TokenForm {
    #[serde(default)]
    name: String,
}

/// Issues a token and shows its secret once, on this response only.
async fn create_token(
    State(st): State<AppState>,
    Page(ctx, actor): Page,
    Form(f): Form<TokenForm>,
) -> Response {
    match st.app.create_token(&actor, &f.name).await {
        Ok((_, secret)) => {
            let extra = Extra {
                new_secret: Some(secret),
                ..Default::default()
            };
            let mut r = render(&st, &ctx, &actor, extra).await;
            r.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            r
        }
        Err(e @ AppError::Invalid(_)) => {
            let extra = Extra {
                which: "token",
                error: Some(e),
                token_name: f.name,
                ..Default::default()
            };
            render(&st, &ctx, &actor, extra).await
        }
        Err(e) => fail(&ctx, e),
    }
}

async fn revoke_token(State(st): State<AppState>, Page(ctx, actor): Page, Path(id): Path<i64>) -> Response {
    match st.app.revoke_token(&actor, TokenId(id)).await {
        Ok(()) => Redirect::to("/account?ok=revoked").into_response(),
        Err(e) => fail(&ctx, e),
    }
}
