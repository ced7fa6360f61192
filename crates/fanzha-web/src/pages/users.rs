//! User management (用户管理), for the administrator only: list, create,
//! edit role, node, name and the disabled flag, and reset a password.

use super::common::{Signed, clip, err_text, fail, flash, is_form_error, node_options, opt_num, status_of};
use crate::auth::Ctx;
use crate::error::{Form, Path, Query};
use crate::render::page;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use fanzha_app::users::UserForm;
use fanzha_app::{Actor, AppError};
use fanzha_core::i18n::Msg;
use fanzha_core::roles::{Action, Role};
use fanzha_core::{NodeId, UserId};
use minijinja::context;
use minijinja::value::{Serde, Value};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/users", get(list))
        .route("/users/new", get(new_page).post(create))
        .route("/users/{id}", get(edit_page).post(update))
}

fn forbidden() -> AppError {
    AppError::Forbidden(Msg::new("error.forbidden_action").arg("action", Action::ManageUsers.code()))
}

#[derive(Deserialize, Default)]
struct OkQ {
    ok: Option<String>,
}

/// Names of the nodes, for the list.
async fn node_trails(st: &AppState, actor: &Actor) -> Result<HashMap<i64, String>, AppError> {
    let tree = st.app.org_nodes(actor).await?;
    Ok(node_options(&tree).into_iter().map(|o| (o.id, o.trail)).collect())
}

async fn list(State(st): State<AppState>, Signed(ctx, actor): Signed, Query(q): Query<OkQ>) -> Response {
    let users = match st.app.users(&actor).await {
        Ok(u) => u,
        Err(e) => return fail(&ctx, e),
    };
    let trails = match node_trails(&st, &actor).await {
        Ok(t) => t,
        Err(e) => return fail(&ctx, e),
    };
    let rows: Vec<Value> = users
        .iter()
        .map(|u| {
            context! {
                id => u.id.0,
                username => u.username.clone(),
                display_name => u.display_name.clone(),
                role => u.role.code(),
                node => u.node_id.and_then(|n| trails.get(&n.0).cloned()),
                disabled => u.disabled,
                locked => u.locked,
            }
        })
        .collect();
    page(
        &st,
        &ctx,
        "users.html",
        context! { users => rows, flash => flash(&ctx, q.ok.as_deref()) },
    )
    .into_response()
}

/// The user form as typed.
#[derive(Deserialize, Default, Serialize, Clone)]
struct UserInput {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    node_id: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password2: String,
    #[serde(default)]
    disabled: Option<String>,
}

impl UserInput {
    fn parse(&self) -> Result<UserForm, AppError> {
        let role = Role::parse(self.role.trim()).map_err(|_| AppError::invalid("users.role_required"))?;
        if self.password != self.password2 {
            return Err(AppError::invalid("users.password_mismatch"));
        }
        Ok(UserForm {
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            role,
            node_id: opt_num::<i64>(Some(&self.node_id), "org.node")?.map(NodeId),
            password: Some(self.password.clone()).filter(|p| !p.is_empty()),
            disabled: self.disabled.is_some(),
        })
    }

    /// Echoed back without the passwords.
    fn clipped(&self) -> UserInput {
        UserInput {
            username: clip(&self.username, 60),
            display_name: clip(&self.display_name, 60),
            role: clip(&self.role, 20),
            node_id: clip(&self.node_id, 20),
            password: String::new(),
            password2: String::new(),
            disabled: self.disabled.as_ref().map(|_| "on".into()),
        }
    }
}

async fn render_form(
    st: &AppState,
    ctx: &Ctx,
    actor: &Actor,
    user_id: Option<i64>,
    input: &UserInput,
    error: Option<AppError>,
) -> Response {
    if !actor.can(Action::ManageUsers) {
        return fail(ctx, forbidden());
    }
    let tree = match st.app.org_nodes(actor).await {
        Ok(t) => t,
        Err(e) => return fail(ctx, e),
    };
    let status = error.as_ref().map(status_of).unwrap_or(StatusCode::OK);
    let html = page(
        st,
        ctx,
        "user_form.html",
        context! {
            user_id => user_id,
            is_self => user_id == Some(actor.user.id.0),
            f => Serde(input.clipped()),
            roles => Role::ALL.iter().map(|r| r.code()).collect::<Vec<_>>(),
            nodes => Serde(node_options(&tree)),
            error => error.as_ref().map(|e| err_text(ctx, e)),
        },
    );
    (status, html).into_response()
}

async fn new_page(State(st): State<AppState>, Signed(ctx, actor): Signed) -> Response {
    render_form(&st, &ctx, &actor, None, &UserInput::default(), None).await
}

async fn create(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Form(f): Form<UserInput>,
) -> Response {
    if !actor.can(Action::ManageUsers) {
        return fail(&ctx, forbidden());
    }
    let result = match f.parse() {
        Ok(form) => st.app.create_user(&actor, &form).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Redirect::to("/users?ok=created").into_response(),
        // An unknown node chosen on the form is bad input, not a missing page.
        Err(AppError::NotFound(m)) => {
            render_form(&st, &ctx, &actor, None, &f, Some(AppError::Invalid(m))).await
        }
        Err(e) if is_form_error(&e) => render_form(&st, &ctx, &actor, None, &f, Some(e)).await,
        Err(e) => fail(&ctx, e),
    }
}

async fn edit_page(State(st): State<AppState>, Signed(ctx, actor): Signed, Path(id): Path<i64>) -> Response {
    let u = match st.app.user(&actor, UserId(id)).await {
        Ok(u) => u,
        Err(e) => return fail(&ctx, e),
    };
    let input = UserInput {
        username: u.username,
        display_name: u.display_name,
        role: u.role.code().to_string(),
        node_id: u.node_id.map(|n| n.0.to_string()).unwrap_or_default(),
        disabled: u.disabled.then(|| "on".to_string()),
        ..Default::default()
    };
    render_form(&st, &ctx, &actor, Some(id), &input, None).await
}

async fn update(
    State(st): State<AppState>,
    Signed(ctx, actor): Signed,
    Path(id): Path<i64>,
    Form(mut f): Form<UserInput>,
) -> Response {
    let u = match st.app.user(&actor, UserId(id)).await {
        Ok(u) => u,
        Err(e) => return fail(&ctx, e),
    };
    // The username cannot change; the form shows it read-only.
    f.username = u.username.clone();
    let result = match f.parse() {
        Ok(form) => st.app.update_user(&actor, UserId(id), &form).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Redirect::to("/users?ok=saved").into_response(),
        Err(AppError::NotFound(m)) => {
            render_form(&st, &ctx, &actor, Some(id), &f, Some(AppError::Invalid(m))).await
        }
        Err(e) if is_form_error(&e) => render_form(&st, &ctx, &actor, Some(id), &f, Some(e)).await,
        Err(e) => fail(&ctx, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_input() {
        let f = UserInput {
            role: "grid_worker".into(),
            node_id: "7".into(),
            password: "a".into(),
            password2: "b".into(),
            ..Default::default()
        };
        assert!(matches!(f.parse(), Err(AppError::Invalid(m)) if m.key == "users.password_mismatch"));
        let f = UserInput {
            role: "nobody".into(),
            ..Default::default()
        };
        assert!(matches!(f.parse(), Err(AppError::Invalid(m)) if m.key == "users.role_required"));
        let f = UserInput {
            role: "admin".into(),
            disabled: Some("on".into()),
            ..Default::default()
        };
        let p = f.parse().unwrap();
        assert!(p.disabled && p.password.is_none() && p.node_id.is_none());
        assert!(f.clipped().password.is_empty());
    }
}
