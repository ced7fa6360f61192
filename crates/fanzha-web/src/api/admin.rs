//! Accounts (administrator only), the audit log and the home figures.

use super::openapi::{Doc, list_of, r};
use super::{Endpoints, M, MAX_PAGE, MAX_PER_PAGE, Params, created, err, ok};
use crate::auth::Api;
use crate::error::{Json, Path, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use fanzha_app::AppError;
use fanzha_app::model::AuditFilter;
use fanzha_app::users::UserForm;
use fanzha_core::roles::Action;
use fanzha_core::{Timestamp, UserId};
use std::collections::HashMap;

pub(super) fn add(e: Endpoints) -> Endpoints {
    e.add(
        M::Get,
        "/users",
        Doc::new("users", "All accounts (administrator only)").ok(200, list_of("User")),
        list_users,
    )
    .add(
        M::Post,
        "/users",
        Doc::new("users", "Create an account (administrator only)")
            .body(r("UserForm"))
            .ok(201, r("User"))
            .errors(&[404, 409]),
        create_user,
    )
    .add(
        M::Get,
        "/users/{id}",
        Doc::new("users", "One account (administrator only)")
            .ok(200, r("User"))
            .errors(&[404]),
        get_user,
    )
    .add(
        M::Put,
        "/users/{id}",
        Doc::new(
            "users",
            "Change role, node, name, disabled flag or password (administrator only)",
        )
        .body(r("UserForm"))
        .ok(200, r("User"))
        .errors(&[404, 409]),
        put_user,
    )
    .add(
        M::Get,
        "/audit",
        Doc::new("audit", "Audit log entries, newest first")
            .query(&[
                ("actor", "string", "Exact login name"),
                (
                    "action",
                    "string",
                    "Actions starting with this, e.g. resident.reveal",
                ),
                ("target", "string", "Exact target, e.g. resident:42"),
                ("from", "integer", "At or after (unix ms)"),
                ("to", "integer", "Before (unix ms)"),
                ("page", "integer", "From 1"),
                ("per_page", "integer", "1–500, default 50"),
            ])
            .ok(200, r("AuditPage")),
        audit_log,
    )
    .add(
        M::Get,
        "/audit/verify",
        Doc::new("audit", "Check the audit log's hash chain").ok(200, r("AuditVerify")),
        audit_verify,
    )
    .add(
        M::Get,
        "/stats/home",
        Doc::new("stats", "Counts in the caller's scope, as on the home page").ok(200, r("HomeStats")),
        home,
    )
}

async fn list_users(State(st): State<AppState>, Api(ctx, actor): Api) -> Response {
    ok(&ctx, st.app.users(&actor).await)
}

async fn create_user(State(st): State<AppState>, Api(ctx, actor): Api, Json(f): Json<UserForm>) -> Response {
    let r = match st.app.create_user(&actor, &f).await {
        Ok(id) => st.app.user(&actor, id).await,
        Err(e) => Err(e),
    };
    created(&ctx, r)
}

async fn get_user(State(st): State<AppState>, Api(ctx, actor): Api, Path(id): Path<i64>) -> Response {
    ok(&ctx, st.app.user(&actor, UserId(id)).await)
}

async fn put_user(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Path(id): Path<i64>,
    Json(f): Json<UserForm>,
) -> Response {
    let id = UserId(id);
    let r = match st.app.update_user(&actor, id, &f).await {
        Ok(()) => st.app.user(&actor, id).await,
        Err(e) => Err(e),
    };
    ok(&ctx, r)
}

fn audit_query(p: &Params) -> Result<(AuditFilter, usize, usize), AppError> {
    let f = AuditFilter {
        actor: p.text("actor", 60)?,
        action_prefix: p.text("action", 60)?,
        target: p.text("target", 100)?,
        from: p.int("from", 0, i64::MAX)?.map(Timestamp),
        to: p.int("to", 0, i64::MAX)?.map(Timestamp),
        limit: None,
        offset: 0,
    };
    let page = p.int("page", 1, MAX_PAGE)?.unwrap_or(1) as usize;
    let per_page = p.int("per_page", 1, MAX_PER_PAGE)?.unwrap_or(50) as usize;
    Ok((f, page, per_page))
}

async fn audit_log(
    State(st): State<AppState>,
    Api(ctx, actor): Api,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match audit_query(&Params(q)) {
        Ok((f, page, per_page)) => ok(&ctx, st.app.audit_log(&actor, f, page, per_page).await),
        Err(e) => err(&ctx, e),
    }
}

async fn audit_verify(State(st): State<AppState>, Api(ctx, actor): Api) -> Response {
    if let Err(e) = st.app.gate(&actor, Action::ViewAudit) {
        return err(&ctx, e);
    }
    ok(&ctx, st.app.verify_audit().await)
}

async fn home(State(st): State<AppState>, Api(ctx, actor): Api) -> Response {
    ok(&ctx, st.app.home(&actor).await)
}
