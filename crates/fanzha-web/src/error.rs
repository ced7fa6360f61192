//! Errors as responses: JSON for the API, a page for the browser. Every
//! client error is a 4xx with a message; internal failures are logged
//! without personal data and shown as a generic message.

use crate::auth::Ctx;
use crate::render::error_page;
use crate::state::AppState;
use axum::extract::rejection::{FormRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fanzha_app::AppError;
use fanzha_core::i18n::{Lang, Msg};
use serde::de::DeserializeOwned;

/// An error answered as JSON: `{"error": {"code", "message"}}`.
pub struct ApiError(pub AppError, pub Lang);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let AppError::Internal(detail) = &self.0 {
            tracing::error!(error = %detail, "internal error");
        }
        let body = serde_json::json!({
            "error": { "code": self.0.code(), "message": self.0.msg().render(self.1) }
        });
        let mut r = (status, axum::Json(body)).into_response();
        if let AppError::Unauthenticated = self.0 {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// An error shown as a page.
pub struct PageError(pub AppError, pub Lang);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let AppError::Internal(detail) = &self.0 {
            tracing::error!(error = %detail, "internal error");
        }
        if let AppError::Unauthenticated = self.0 {
            return axum::response::Redirect::to("/login").into_response();
        }
        (
            status,
            error_page(self.1, status.as_u16(), &self.0.msg().render(self.1)),
        )
            .into_response()
    }
}

fn bad_request(key: &str, detail: String) -> AppError {
    // The body text of a rejection names the field and the problem; it never
    // echoes more than the parser's own description.
    let detail: String = detail.chars().take(200).collect();
    AppError::Invalid(Msg::new(key).arg("detail", detail))
}

/// `axum::Json` with JSON errors.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = Response;

    async fn from_request(req: Request, st: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let lang = Ctx::from_request_parts(&mut parts, st)
            .await
            .map(|c| c.lang)
            .unwrap_or_default();
        match axum::Json::<T>::from_request(Request::from_parts(parts, body), st).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(e) => Err(ApiError(json_rejection(e, st.cfg.max_body_bytes), lang).into_response()),
        }
    }
}

fn json_rejection(e: JsonRejection, limit: usize) -> AppError {
    match e {
        JsonRejection::MissingJsonContentType(_) => AppError::invalid("error.json_content_type"),
        JsonRejection::BytesRejection(_) => AppError::TooLarge { limit },
        other => bad_request("error.bad_json", other.body_text()),
    }
}

/// `axum::extract::Query` with 4xx errors (JSON on the API, a page elsewhere).
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for Query<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let lang = Ctx::from_request_parts(parts, st)
            .await
            .map(|c| c.lang)
            .unwrap_or_default();
        match axum::extract::Query::<T>::from_request_parts(parts, st).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(e) => Err(respond(original_path(parts), query_rejection(e), lang)),
        }
    }
}

fn query_rejection(e: QueryRejection) -> AppError {
    bad_request("error.bad_query", e.body_text())
}

/// `axum::extract::Path` with 4xx errors.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for Path<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let lang = Ctx::from_request_parts(parts, st)
            .await
            .map(|c| c.lang)
            .unwrap_or_default();
        match axum::extract::Path::<T>::from_request_parts(parts, st).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(e) => Err(respond(original_path(parts), path_rejection(e), lang)),
        }
    }
}

fn path_rejection(e: PathRejection) -> AppError {
    match e {
        PathRejection::FailedToDeserializePathParams(_) => AppError::not_found("error.not_found"),
        other => bad_request("error.bad_path", other.body_text()),
    }
}

/// `axum::Form` with 4xx errors shown as a page.
pub struct Form<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Form<T> {
    type Rejection = Response;

    async fn from_request(req: Request, st: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let lang = Ctx::from_request_parts(&mut parts, st)
            .await
            .map(|c| c.lang)
            .unwrap_or_default();
        let path = parts.uri.path().to_string();
        match axum::Form::<T>::from_request(Request::from_parts(parts, body), st).await {
            Ok(axum::Form(v)) => Ok(Form(v)),
            Err(e) => Err(respond(&path, form_rejection(e), lang)),
        }
    }
}

fn form_rejection(e: FormRejection) -> AppError {
    bad_request("error.bad_form", e.body_text())
}

/// The request's path as the client sent it: inside a nested router (the API
/// under `/api/v1`) `parts.uri` has lost its prefix.
fn original_path(parts: &Parts) -> &str {
    parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map(|u| u.0.path())
        .unwrap_or(parts.uri.path())
}

/// Answers in the API's or the pages' style, by path.
pub fn respond(path: &str, e: AppError, lang: Lang) -> Response {
    if path.starts_with("/api/") {
        ApiError(e, lang).into_response()
    } else {
        PageError(e, lang).into_response()
    }
}

pub async fn not_found(State(st): State<AppState>, req: Request) -> Response {
    let (mut parts, _) = req.into_parts();
    let lang = Ctx::from_request_parts(&mut parts, &st)
        .await
        .map(|c| c.lang)
        .unwrap_or_default();
    respond(parts.uri.path(), AppError::not_found("error.no_such_page"), lang)
}

/// Headers every response carries.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'"),
    );
    if r.status().is_redirection() || r.headers().get(header::CACHE_CONTROL).is_none() {
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

/// A panic is a bug; it is logged and answered as 500, never a dropped connection.
pub fn panic_response(_err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    let body = serde_json::json!({"error": {"code": "internal", "message": "internal error"}});
    (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
}
