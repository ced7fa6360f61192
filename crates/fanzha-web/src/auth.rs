//! Who is asking: the session cookie or API token, the client address and
//! the language; and the CSRF guard in front of every form.

use crate::error::{ApiError, PageError};
use crate::state::AppState;
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use fanzha_app::{Actor, AppError, AuthVia};
use fanzha_core::i18n::Lang;
use std::net::SocketAddr;

pub const SESSION_COOKIE: &str = "fz_session";
pub const LANG_COOKIE: &str = "fz_lang";
/// Double-submit token of the forms shown before login.
pub const PRE_COOKIE: &str = "fz_pre";
pub const CSRF_FIELD: &str = "_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The request's context: the actor if signed in, language and address.
#[derive(Clone)]
pub struct Ctx {
    pub actor: Option<Actor>,
    pub lang: Lang,
    pub ip: String,
    pub path: String,
    /// Query string of the request, for links that keep filters.
    pub query: String,
}

impl Ctx {
    pub fn csrf(&self) -> String {
        match self.actor.as_ref().map(|a| &a.via) {
            Some(AuthVia::Session { csrf }) => csrf.clone(),
            _ => String::new(),
        }
    }
}

pub fn client_ip(parts: &Parts, trust_proxy: bool) -> String {
    if trust_proxy
        && let Some(v) = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok())
        && let Some(first) = v.split(',').next()
    {
        let ip = first.trim();
        if ip.parse::<std::net::IpAddr>().is_ok() {
            return ip.to_string();
        }
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(ctx) = parts.extensions.get::<Ctx>() {
            return Ok(ctx.clone());
        }
        let jar = CookieJar::from_headers(&parts.headers);
        let ip = client_ip(parts, st.cfg.trust_proxy);
        let mut actor = None;
        if let Some(t) = bearer(&parts.headers) {
            match st.app.token_actor(t, &ip).await {
                Ok(a) => actor = Some(a),
                Err(AppError::Unauthenticated) => {
                    return Err(ApiError(AppError::Unauthenticated, Lang::Zh).into_response());
                }
                Err(e) => return Err(ApiError(e, Lang::Zh).into_response()),
            }
        } else if let Some(c) = jar.get(SESSION_COOKIE) {
            match st.app.session_actor(c.value(), &ip).await {
                Ok(a) => actor = Some(a),
                Err(AppError::Unauthenticated) => {}
                Err(e) => return Err(ApiError(e, Lang::Zh).into_response()),
            }
        }
        let lang = jar
            .get(LANG_COOKIE)
            .and_then(|c| Lang::parse(c.value()))
            .or_else(|| actor.as_ref().and_then(|a| Lang::parse(&a.user.lang)))
            .unwrap_or_default();
        let ctx = Ctx {
            actor,
            lang,
            ip,
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or("").to_string(),
        };
        parts.extensions.insert(ctx.clone());
        Ok(ctx)
    }
}

/// A signed-in user on a page; anyone else is sent to the login page.
pub struct Page(pub Ctx, pub Actor);

impl FromRequestParts<AppState> for Page {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, st).await?;
        match ctx.actor.clone() {
            Some(a) => Ok(Page(ctx, a)),
            None => {
                let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                let to = format!("/login?next={}", urlencode(next));
                Err(Redirect::to(&to).into_response())
            }
        }
    }
}

/// A signed-in user or token on the API; anyone else gets 401.
pub struct Api(pub Ctx, pub Actor);

impl FromRequestParts<AppState> for Api {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, st).await?;
        match ctx.actor.clone() {
            Some(a) => Ok(Api(ctx, a)),
            None => Err(ApiError(AppError::Unauthenticated, ctx.lang).into_response()),
        }
    }
}

pub fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Only local paths may be redirect targets.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

/// The session cookie lives as long as the browser session; the server
/// ends it earlier when the session expires.
pub fn session_cookie(value: String, secure: bool) -> Cookie<'static> {
    let mut c = Cookie::new(SESSION_COOKIE, value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_secure(secure);
    c.set_path("/");
    c
}

pub fn plain_cookie(name: &'static str, value: String, secure: bool) -> Cookie<'static> {
    let mut c = Cookie::new(name, value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_secure(secure);
    c.set_path("/");
    c
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The CSRF guard. Every state-changing request to a page must carry the
/// session's token: in the `_csrf` form field, or for file uploads in the
/// `_csrf` query parameter. Forms shown before login (login, setup) use a
/// double-submit cookie instead. API calls with a session cookie send the
/// token in `X-CSRF-Token`; calls with a bearer token need none.
pub async fn csrf_guard(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let ctx = match Ctx::from_request_parts(&mut parts, &st).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let is_api = parts.uri.path().starts_with("/api/");
    let lang = ctx.lang;
    let deny = |api: bool| -> Response {
        let e = AppError::forbidden("error.csrf");
        if api {
            ApiError(e, lang).into_response()
        } else {
            PageError(e, lang).into_response()
        }
    };
    if is_api {
        // Read the whole body before anything answers: a client still
        // sending when an early answer (401, 403, 405) closes the connection
        // would see a reset instead of the error.
        let body = match to_bytes(body, st.cfg.max_body_bytes).await {
            Ok(b) => Body::from(b),
            Err(_) => {
                let limit = st.cfg.max_body_bytes;
                return ApiError(AppError::TooLarge { limit }, lang).into_response();
            }
        };
        if bearer(&parts.headers).is_some() {
            return next.run(Request::from_parts(parts, body)).await;
        }
        let expected = ctx.csrf();
        let given = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        // Calls without any session fall through to the handler, which answers 401.
        if ctx.actor.is_some() && (expected.is_empty() || !constant_eq(&expected, given)) {
            return deny(true);
        }
        return next.run(Request::from_parts(parts, body)).await;
    }
    let jar = CookieJar::from_headers(&parts.headers);
    let expected = match &ctx.actor {
        Some(_) => ctx.csrf(),
        None => jar
            .get(PRE_COOKIE)
            .map(|c| c.value().to_string())
            .unwrap_or_default(),
    };
    let ctype = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if ctype.starts_with("multipart/form-data") {
        let given = parts
            .uri
            .query()
            .and_then(|q| form_field(q.as_bytes(), CSRF_FIELD))
            .unwrap_or_default();
        if expected.is_empty() || !constant_eq(&expected, &given) {
            return deny(false);
        }
        return next.run(Request::from_parts(parts, body)).await;
    }
    let bytes = match to_bytes(body, st.cfg.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response(),
    };
    let given = form_field(&bytes, CSRF_FIELD).unwrap_or_default();
    if expected.is_empty() || !constant_eq(&expected, &given) {
        return deny(false);
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_and_find() {
        assert_eq!(
            form_field(b"a=1&_csrf=ab%2Bc+d&x", "_csrf").as_deref(),
            Some("ab+c d")
        );
        assert_eq!(form_field(b"q=%E5%BC%A0", "q").as_deref(), Some("张"));
        assert_eq!(safe_next(Some("//evil.com")), "/");
        assert_eq!(safe_next(Some("/residents?q=1")), "/residents?q=1");
    }
}
