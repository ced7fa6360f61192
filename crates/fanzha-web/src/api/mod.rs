//! The JSON API under `/api/v1`. The same use cases and the same permission
//! gate as the pages; machine clients authenticate with a bearer token.
//!
//! Every endpoint is registered through [`Endpoints::add`] together with its
//! description, so that one list drives both the router and the OpenAPI
//! document served at `/api/v1/openapi.json`. Errors are always JSON,
//! `{"error": {"code", "message"}}`, with the message in the caller's language.

mod account;
mod admin;
mod events;
pub(crate) mod intel;
mod leads;
pub(crate) mod openapi;
mod org;
mod residents;
pub(crate) mod tasks;

use crate::auth::Ctx;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use fanzha_app::AppError;
use fanzha_core::i18n::{Lang, Msg};
use openapi::Doc;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::LazyLock;

/// An HTTP method an endpoint answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum M {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl M {
    fn filter(self) -> MethodFilter {
        match self {
            M::Get => MethodFilter::GET,
            M::Post => MethodFilter::POST,
            M::Put => MethodFilter::PUT,
            M::Patch => MethodFilter::PATCH,
            M::Delete => MethodFilter::DELETE,
        }
    }
    pub(crate) fn lower(self) -> &'static str {
        match self {
            M::Get => "get",
            M::Post => "post",
            M::Put => "put",
            M::Patch => "patch",
            M::Delete => "delete",
        }
    }
}

/// One registered endpoint: method, path (relative to `/api/v1`) and its description.
pub(crate) struct Endpoint {
    pub method: M,
    pub path: &'static str,
    pub doc: Doc,
}

/// The router being built and the list of what it serves.
pub(crate) struct Endpoints {
    router: Router<AppState>,
    list: Vec<Endpoint>,
}

impl Endpoints {
    fn new() -> Endpoints {
        Endpoints {
            router: Router::new(),
            list: Vec::new(),
        }
    }

    /// Registers `handler` for `method` on `path` and records its description.
    pub(crate) fn add<H, T>(mut self, method: M, path: &'static str, doc: Doc, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.router = self.router.route(path, on(method.filter(), handler));
        self.list.push(Endpoint { method, path, doc });
        self
    }
}

/// Every endpoint, in one list.
fn endpoints() -> Endpoints {
    let e = Endpoints::new().add(
        M::Get,
        "/openapi.json",
        Doc::new("meta", "This OpenAPI 3.1 document")
            .public()
            .raw_response(&["application/json"]),
        openapi_json,
    );
    let e = account::add(e);
    let e = org::add(e);
    let e = residents::add(e);
    let e = events::add(e);
    let e = leads::add(e);
    let e = intel::add(e);
    let e = tasks::add(e);
    admin::add(e)
}

pub fn routes() -> Router<AppState> {
    endpoints().router.method_not_allowed_fallback(method_not_allowed)
}

/// The endpoints' methods and paths, for tests and the document.
pub(crate) fn endpoint_list() -> Vec<Endpoint> {
    endpoints().list
}

static OPENAPI: LazyLock<String> = LazyLock::new(|| openapi::document(&endpoint_list()).to_string());

async fn openapi_json() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI.as_str(),
    )
        .into_response()
}

async fn method_not_allowed(ctx: Ctx) -> Response {
    fail(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &Msg::new("api.method_not_allowed"),
        ctx.lang,
    )
}

/// An error answer with a status and code of the API's own (not an [`AppError`]).
pub(crate) fn fail(status: StatusCode, code: &str, msg: &Msg, lang: Lang) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": msg.render(lang) } });
    (status, axum::Json(body)).into_response()
}

pub(crate) fn err(ctx: &Ctx, e: AppError) -> Response {
    ApiError(e, ctx.lang).into_response()
}

/// 200 with the value as JSON, or the error.
pub(crate) fn ok<T: Serialize>(ctx: &Ctx, r: Result<T, AppError>) -> Response {
    match r {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => err(ctx, e),
    }
}

/// 201 with the value as JSON, or the error.
pub(crate) fn created<T: Serialize>(ctx: &Ctx, r: Result<T, AppError>) -> Response {
    match r {
        Ok(v) => (StatusCode::CREATED, axum::Json(v)).into_response(),
        Err(e) => err(ctx, e),
    }
}

/// 204, or the error.
pub(crate) fn done(ctx: &Ctx, r: Result<(), AppError>) -> Response {
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => err(ctx, e),
    }
}

/// Query parameters as text, checked and converted one by one so that a
/// bad value is answered with the parameter's name.
pub(crate) struct Params(pub HashMap<String, String>);

impl Params {
    /// A text parameter, trimmed; empty counts as absent.
    pub(crate) fn text(&self, name: &str, max_chars: usize) -> Result<Option<String>, AppError> {
        match self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) if v.chars().count() > max_chars => Err(AppError::Invalid(
                Msg::new("api.param_long").arg("name", name).arg("max", max_chars),
            )),
            Some(v) => Ok(Some(v.to_string())),
        }
    }

    /// An integer parameter within `min..=max`; empty counts as absent.
    pub(crate) fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, AppError> {
        let Some(v) = self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        match v.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(AppError::Invalid(
                Msg::new("api.param_range")
                    .arg("name", name)
                    .arg("min", min)
                    .arg("max", max),
            )),
        }
    }
}

/// Page numbers and sizes accepted by list endpoints.
pub(crate) const MAX_PAGE: i64 = 1_000_000;
pub(crate) const MAX_PER_PAGE: i64 = 500;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The document lists exactly the registered endpoints, each once.
    #[test]
    fn document_matches_the_router() {
        let list = endpoint_list();
        let registered: BTreeSet<(String, String)> = list
            .iter()
            .map(|e| (e.path.to_string(), e.method.lower().to_string()))
            .collect();
        assert_eq!(registered.len(), list.len(), "an endpoint is registered twice");
        let doc: serde_json::Value = serde_json::from_str(&OPENAPI).unwrap();
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                assert!(op["responses"].is_object(), "{method} {path} has no responses");
                documented.insert((path.clone(), method.clone()));
            }
        }
        assert_eq!(registered, documented);
    }

    #[test]
    fn params_are_checked() {
        let p = Params(HashMap::from([
            ("a".to_string(), " 12 ".to_string()),
            ("b".to_string(), "-1".to_string()),
            ("c".to_string(), "99999999999999999999".to_string()),
            ("d".to_string(), String::new()),
        ]));
        assert_eq!(p.int("a", 0, 20).unwrap(), Some(12));
        assert!(p.int("b", 0, 20).is_err());
        assert!(p.int("c", 0, i64::MAX).is_err());
        assert_eq!(p.int("d", 0, 20).unwrap(), None);
        assert_eq!(p.int("missing", 0, 20).unwrap(), None);
        assert!(p.text("a", 1).is_err());
        assert_eq!(p.text("a", 5).unwrap().as_deref(), Some("12"));
    }
}
