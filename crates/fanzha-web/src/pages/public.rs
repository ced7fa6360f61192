//! The public's pages, no login: 风险查询 (check a number, URL or account)
//! and 举报 (report one). Both are rate-limited per client address by the
//! app; the check shows only the verdict and fraud types, never sources or
//! notes. Forms carry the double-submit token of the pre-login forms.

use super::common::{clip, err_text, status_of};
use crate::api::intel::verdict_code;
use crate::auth::{Ctx, PRE_COOKIE, plain_cookie};
use crate::error::{Form, Query};
use crate::render::page;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_extra::extract::cookie::CookieJar;
use fanzha_app::AppError;
use fanzha_app::intel::reports::PublicReportForm;
use fanzha_core::i18n::Msg;
use fanzha_core::{FraudType, IndicatorKind};
use minijinja::context;
use minijinja::value::Value;
use serde::Deserialize;
use std::collections::HashMap;

/// The kinds the public may report.
const REPORT_KINDS: &[IndicatorKind] = &[
    IndicatorKind::Phone,
    IndicatorKind::Url,
    IndicatorKind::Domain,
    IndicatorKind::App,
    IndicatorKind::BankAccount,
    IndicatorKind::PaymentAccount,
    IndicatorKind::SocialAccount,
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/check", get(check))
        .route("/report", get(report_page).post(report))
        .route("/report/status", get(report_status))
}

/// The token of this browser's pre-login forms (the session's when signed in).
fn form_token(ctx: &Ctx, jar: &CookieJar) -> Result<String, AppError> {
    if ctx.actor.is_some() {
        return Ok(ctx.csrf());
    }
    if let Some(c) = jar.get(PRE_COOKIE)
        && c.value().len() == 64
    {
        return Ok(c.value().to_string());
    }
    Ok(fanzha_app::crypto::random_secret()?)
}

fn with_token(
    st: &AppState,
    ctx: &Ctx,
    jar: CookieJar,
    token: String,
    status: StatusCode,
    html: axum::response::Html<String>,
) -> Response {
    if ctx.actor.is_some() {
        return (status, html).into_response();
    }
    (
        status,
        jar.add(plain_cookie(PRE_COOKIE, token, st.cfg.cookie_secure)),
        html,
    )
        .into_response()
}

fn fraud_types() -> Vec<&'static str> {
    FraudType::ALL.iter().map(|f| f.code()).collect()
}

async fn check(State(st): State<AppState>, ctx: Ctx, Query(q): Query<HashMap<String, String>>) -> Response {
    let value = q.get("q").map(|s| s.trim().to_string()).unwrap_or_default();
    let (result, error): (Option<Value>, Option<AppError>) = if value.is_empty() {
        (None, None)
    } else if value.chars().count() > 2_048 {
        (
            None,
            Some(AppError::Invalid(
                Msg::new("intel.error.text_too_long").arg("max", 2_048),
            )),
        )
    } else {
        match st.app.public_lookup(&value, None, &ctx.ip).await {
            Ok(r) => (
                Some(context! {
                    kind => r.kind.code(),
                    verdict => verdict_code(r.verdict),
                    fraud_types => r.fraud_types.iter().map(|f| f.code()).collect::<Vec<_>>(),
                }),
                None,
            ),
            Err(AppError::Internal(d)) => return super::common::fail(&ctx, AppError::Internal(d)),
            Err(e) => (None, Some(e)),
        }
    };
    let status = error.as_ref().map(status_of).unwrap_or(StatusCode::OK);
    let html = page(
        &st,
        &ctx,
        "public_check.html",
        context! {
            q => clip(&value, 2_048),
            result => result,
            error => error.as_ref().map(|e| err_text(&ctx, e)),
        },
    );
    (status, html).into_response()
}

#[derive(Deserialize, Default)]
struct ReportInput {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    fraud_type: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    contact: String,
}

fn render_report(
    st: &AppState,
    ctx: &Ctx,
    jar: CookieJar,
    f: &ReportInput,
    receipt: Option<Value>,
    status_result: Option<Value>,
    error: Option<AppError>,
) -> Response {
    let token = match form_token(ctx, &jar) {
        Ok(t) => t,
        Err(e) => return super::common::fail(ctx, e),
    };
    let status = error.as_ref().map(status_of).unwrap_or(StatusCode::OK);
    let max = st.app.config().intel.max_report_chars;
    let html = page(
        st,
        ctx,
        "public_report.html",
        context! {
            token => token.clone(),
            kinds => REPORT_KINDS.iter().map(|k| k.code()).collect::<Vec<_>>(),
            fraud_types => fraud_types(),
            max_chars => max,
            f => context! {
                kind => clip(&f.kind, 30), value => clip(&f.value, 500), fraud_type => clip(&f.fraud_type, 40),
                description => clip(&f.description, max + 10), contact => clip(&f.contact, 30),
            },
            receipt => receipt,
            status_result => status_result,
            error => error.as_ref().map(|e| err_text(ctx, e)),
        },
    );
    with_token(st, ctx, jar, token, status, html)
}

async fn report_page(State(st): State<AppState>, ctx: Ctx, jar: CookieJar) -> Response {
    render_report(&st, &ctx, jar, &ReportInput::default(), None, None, None)
}

async fn report(
    State(st): State<AppState>,
    ctx: Ctx,
    jar: CookieJar,
    Form(f): Form<ReportInput>,
) -> Response {
    let parse = || -> Result<PublicReportForm, AppError> {
        let kind = match f.kind.trim() {
            "" => None,
            k => Some(
                IndicatorKind::parse(k)
                    .ok()
                    .filter(|k| REPORT_KINDS.contains(k))
                    .ok_or_else(|| {
                        AppError::Invalid(Msg::new("pages.bad_value").arg("field", "intel.kind"))
                    })?,
            ),
        };
        let fraud_type = match f.fraud_type.trim() {
            "" => None,
            t => Some(FraudType::parse(t).map_err(|_| {
                AppError::Invalid(Msg::new("pages.bad_value").arg("field", "intel.fraud_type"))
            })?),
        };
        if f.value.chars().count() > 2_048 {
            return Err(AppError::Invalid(
                Msg::new("intel.error.text_too_long").arg("max", 2_048),
            ));
        }
        Ok(PublicReportForm {
            kind,
            value: f.value.clone(),
            fraud_type,
            description: f.description.clone(),
            contact: Some(f.contact.clone()).filter(|c| !c.trim().is_empty()),
        })
    };
    let r = match parse() {
        Ok(form) => st.app.submit_report(&form, &ctx.ip).await,
        Err(e) => Err(e),
    };
    match r {
        Ok(receipt) => {
            let v = context! { reference => receipt.reference, kind => receipt.kind.code() };
            render_report(&st, &ctx, jar, &ReportInput::default(), Some(v), None, None)
        }
        Err(AppError::Internal(d)) => super::common::fail(&ctx, AppError::Internal(d)),
        Err(e) => render_report(&st, &ctx, jar, &f, None, None, Some(e)),
    }
}

async fn report_status(
    State(st): State<AppState>,
    ctx: Ctx,
    jar: CookieJar,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let reference = q
        .get("reference")
        .map(|s| s.trim().to_uppercase())
        .unwrap_or_default();
    if reference.is_empty() {
        return render_report(&st, &ctx, jar, &ReportInput::default(), None, None, None);
    }
    let reference = clip(&reference, 40);
    match st.app.public_report_status(&reference, &ctx.ip).await {
        Ok(s) => {
            let v = context! { reference => reference, status => s.code() };
            render_report(&st, &ctx, jar, &ReportInput::default(), None, Some(v), None)
        }
        Err(AppError::NotFound(_)) => {
            let e = AppError::invalid("intel.public.no_such_reference");
            render_report(&st, &ctx, jar, &ReportInput::default(), None, None, Some(e))
        }
        Err(AppError::Internal(d)) => super::common::fail(&ctx, AppError::Internal(d)),
        Err(e) => render_report(&st, &ctx, jar, &ReportInput::default(), None, None, Some(e)),
    }
}
