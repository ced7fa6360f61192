//! Helpers shared by the pages: the signed-in extractor that enforces a
//! pending password change, error answers, number parsing for form fields,
//! node pickers and query strings.

use crate::auth::{Ctx, Page};
use crate::error::{PageError, Path};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get};
use fanzha_app::model::OrgNode;
use fanzha_app::{Actor, AppError};
use fanzha_core::i18n::{Msg, tr};
use fanzha_core::org::NodeKind;
use serde::Serialize;
use std::collections::HashMap;

/// A GET of an address that only takes form posts (a reload after a
/// redirect, a typed or bookmarked address) goes back to the page the form
/// is on, instead of an empty "method not allowed".
pub fn back_to(to: &'static str) -> MethodRouter<AppState> {
    get(move || async move { Redirect::to(to) })
}

/// As [`back_to`], for forms on a record's page: `{prefix}/{id}`.
pub fn back_to_record(prefix: &'static str) -> MethodRouter<AppState> {
    get(move |Path(id): Path<i64>| async move { Redirect::to(&format!("{prefix}/{id}")) })
}

/// A signed-in user on a page. A user who must change their password (a new
/// account, or after an administrator reset) is sent to the account page
/// until they do.
pub struct Signed(pub Ctx, pub Actor);

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let Page(ctx, actor) = Page::from_request_parts(parts, st).await?;
        if actor.user.must_change_password {
            return Err(Redirect::to("/account?first=1").into_response());
        }
        Ok(Signed(ctx, actor))
    }
}

/// The error as a page in the user's language.
pub fn fail(ctx: &Ctx, e: AppError) -> Response {
    PageError(e, ctx.lang).into_response()
}

/// The status a form re-rendered with this error answers with.
pub fn status_of(e: &AppError) -> StatusCode {
    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY)
}

/// Errors that are the user's input: the form is shown again with the
/// message. Everything else (not found, forbidden, internal) is an error page.
pub fn is_form_error(e: &AppError) -> bool {
    matches!(
        e,
        AppError::Invalid(_) | AppError::Conflict(_) | AppError::TooLarge { .. }
    )
}

/// Parses an optional whole number from a form or query field: empty is
/// `None`; anything else must be a number (the message names the field).
pub fn opt_num<T: std::str::FromStr>(s: Option<&str>, field_key: &str) -> Result<Option<T>, AppError> {
    match s.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<T>()
            .map(Some)
            .map_err(|_| AppError::Invalid(Msg::new("pages.bad_number").arg("field", field_key))),
    }
}

/// Renders a message in the page's language; a `field` argument that is a
/// catalogue key (the pages name fields that way) is translated too.
pub fn render_msg(ctx: &Ctx, m: &Msg) -> String {
    let mut m = m.clone();
    for (k, v) in &mut m.args {
        if k == "field" && fanzha_core::i18n::has(v) {
            *v = tr(ctx.lang, v).to_string();
        }
    }
    m.render(ctx.lang)
}

/// The message of an error in the page's language.
pub fn err_text(ctx: &Ctx, e: &AppError) -> String {
    render_msg(ctx, &e.msg())
}

/// The confirmation shown after a redirect (`?ok=code`); only known codes.
pub fn flash(ctx: &Ctx, ok: Option<&str>) -> Option<String> {
    let key = match ok? {
        "created" => "pages.ok_created",
        "saved" => "pages.ok_saved",
        "deleted" => "pages.ok_deleted",
        "password" => "account.password_changed",
        "revoked" => "account.token_revoked",
        _ => return None,
    };
    Some(tr(ctx.lang, key).to_string())
}

/// One entry of a node picker.
#[derive(Clone, Debug, Serialize)]
pub struct NodeOpt {
    pub id: i64,
    pub kind: &'static str,
    pub depth: usize,
    /// The name indented by depth, for a tree-shaped select.
    pub label: String,
    /// The names from the top of the user's tree down to the node.
    pub trail: String,
}

/// Node pickers from the nodes in the user's scope, in tree order (as
/// `App::org_nodes` gives them). Depth counts from the top of the scope.
pub fn node_options(nodes: &[OrgNode]) -> Vec<NodeOpt> {
    let by_id: HashMap<i64, &OrgNode> = nodes.iter().map(|n| (n.id.0, n)).collect();
    let top = nodes.iter().map(|n| n.path.depth()).min().unwrap_or(0);
    nodes
        .iter()
        .map(|n| {
            let trail: Vec<&str> = n
                .path
                .ids()
                .iter()
                .filter_map(|id| by_id.get(&id.0))
                .map(|x| x.name.as_str())
                .collect();
            let depth = n.path.depth().saturating_sub(top);
            NodeOpt {
                id: n.id.0,
                kind: n.kind.code(),
                depth,
                label: format!("{}{}", "\u{3000}".repeat(depth), n.name),
                trail: trail.join(" / "),
            }
        })
        .collect()
}

/// Only the grids, for the resident forms.
pub fn grid_options(nodes: &[OrgNode]) -> Vec<NodeOpt> {
    node_options(nodes)
        .into_iter()
        .filter(|o| o.kind == NodeKind::Grid.code())
        .collect()
}

/// A query string of the non-empty pairs, each value URL-encoded, ending in
/// `&` when not empty so that a page number can follow.
pub fn query_prefix(pairs: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (k, v) in pairs {
        if !v.trim().is_empty() {
            s.push_str(k);
            s.push('=');
            s.push_str(&crate::auth::urlencode(v.trim()));
            s.push('&');
        }
    }
    s
}

/// Clips user input echoed back into a form so that a huge field cannot make
/// a huge page.
pub fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// An upload limit as people read it: whole MB, else KB.
pub fn size_text(bytes: usize) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MB", bytes / (1024 * 1024))
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_queries() {
        assert_eq!(opt_num::<i64>(Some(" 12 "), "x").unwrap(), Some(12));
        assert_eq!(opt_num::<i64>(Some(""), "x").unwrap(), None);
        assert_eq!(opt_num::<i64>(None, "x").unwrap(), None);
        assert!(opt_num::<u32>(Some("-1"), "x").is_err());
        assert!(opt_num::<i64>(Some("abc"), "x").is_err());
        assert_eq!(
            query_prefix(&[("q", "张 三"), ("tag", ""), ("node", "5")]),
            "q=%E5%BC%A0+%E4%B8%89&node=5&"
        );
        assert_eq!(clip("abcdef", 3), "abc");
    }
}
