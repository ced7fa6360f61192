//! The audit log (审计日志), for the administrator and leaders: filters,
//! pagination and a check of the hash chain.

use super::common::{Signed, back_to, clip, err_text, fail, opt_num, query_prefix, status_of};
use crate::auth::Ctx;
use crate::error::Query;
use crate::render::page;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fanzha_app::audit::VerifyReport;
use fanzha_app::model::AuditFilter;
use fanzha_app::{Actor, AppError};
use fanzha_core::Timestamp;
use fanzha_core::i18n::Msg;
use fanzha_core::roles::Action;
use fanzha_core::time::Date;
use minijinja::context;
use minijinja::value::Value;
use serde::Deserialize;

const PER_PAGE: usize = 50;
/// China Standard Time, UTC+8: the dates typed in the filter are local dates.
const CST_MS: i64 = 8 * 3600 * 1000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/audit", get(list))
        .route("/audit/verify", back_to("/audit").post(verify))
}

#[derive(Deserialize, Default, Clone)]
struct AuditQ {
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    page: Option<String>,
}

/// Parses `YYYY-MM-DD` as the start of that day in China time.
fn day_start(s: &str, field: &str) -> Result<Timestamp, AppError> {
    let bad = || AppError::Invalid(Msg::new("audit.bad_date").arg("field", field));
    let mut parts = s.trim().split('-');
    let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let (y, m, d) = (
        y.parse::<i32>().map_err(|_| bad())?,
        m.parse::<u8>().map_err(|_| bad())?,
        d.parse::<u8>().map_err(|_| bad())?,
    );
    if !(1900..=9999).contains(&y) {
        return Err(bad());
    }
    let date = Date::new(y, m, d).ok_or_else(bad)?;
    Ok(Timestamp(date.days_since_epoch() * 86_400_000 - CST_MS))
}

fn text(o: &Option<String>, max: usize) -> Option<String> {
    o.as_deref()
        .map(|s| clip(s.trim(), max))
        .filter(|s| !s.is_empty())
}

impl AuditQ {
    fn parse(&self) -> Result<(AuditFilter, usize), AppError> {
        let from = match text(&self.from, 20) {
            Some(s) => Some(day_start(&s, "audit.from")?),
            None => None,
        };
        // "to" is inclusive of the whole day.
        let to = match text(&self.to, 20) {
            Some(s) => Some(Timestamp(day_start(&s, "audit.to")?.0 + 86_400_000)),
            None => None,
        };
        if let (Some(a), Some(b)) = (from, to)
            && a >= b
        {
            return Err(AppError::invalid("audit.date_order"));
        }
        let page = opt_num::<usize>(self.page.as_deref(), "pages.page")?.unwrap_or(1);
        if page == 0 || page > 1_000_000 {
            return Err(AppError::Invalid(
                Msg::new("pages.bad_number").arg("field", "pages.page"),
            ));
        }
        let filter = AuditFilter {
            actor: text(&self.actor, 60),
            action_prefix: text(&self.action, 60),
            target: text(&self.target, 80),
            from,
            to,
            limit: None,
            offset: 0,
        };
        Ok((filter, page))
    }

    fn filters(&self) -> String {
        let v = |o: &Option<String>, n: usize| clip(o.as_deref().unwrap_or(""), n);
        query_prefix(&[
            ("actor", &v(&self.actor, 60)),
            ("action", &v(&self.action, 60)),
            ("target", &v(&self.target, 80)),
            ("from", &v(&self.from, 20)),
            ("to", &v(&self.to, 20)),
        ])
    }
}

/// Where a target links to, when it is a record with a page the viewer may open.
fn target_href(target: &str, users_page: bool) -> Option<String> {
    let (kind, id) = target.split_once(':')?;
    id.parse::<i64>().ok()?;
    match kind {
        "resident" => Some(format!("/residents/{id}")),
        "node" => Some(format!("/org/{id}")),
        "unit" => Some(format!("/org/units/{id}")),
        "user" if users_page => Some(format!("/users/{id}")),
        _ => None,
    }
}

async fn list(State(st): State<AppState>, Signed(ctx, actor): Signed, Query(q): Query<AuditQ>) -> Response {
    render(&st, &ctx, &actor, &q, None).await
}

async fn render(
    st: &AppState,
    ctx: &Ctx,
    actor: &Actor,
    q: &AuditQ,
    verify: Option<VerifyReport>,
) -> Response {
    if !actor.can(Action::ViewAudit) {
        return fail(
            ctx,
            AppError::Forbidden(Msg::new("error.forbidden_action").arg("action", Action::ViewAudit.code())),
        );
    }
    let (result, error) = match q.parse() {
        Ok((filter, page_no)) => match st.app.audit_log(actor, filter, page_no, PER_PAGE).await {
            Ok(p) => (Some(p), None),
            Err(e) => return fail(ctx, e),
        },
        Err(e) => (None, Some(e)),
    };
    let rows: Vec<Value> = result
        .as_ref()
        .map(|p| {
            p.items
                .iter()
                .map(|e| {
                    let f = &e.fields;
                    context! {
                        seq => f.seq,
                        at => f.at.0,
                        actor => f.actor.clone(),
                        action => f.action.clone(),
                        target => f.target.clone(),
                        href => target_href(&f.target, actor.can(Action::ManageUsers)),
                        detail => f.detail.clone(),
                        ip => f.ip.clone(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let filters = q.filters();
    let status = error.as_ref().map(status_of).unwrap_or(StatusCode::OK);
    let html = page(
        st,
        ctx,
        "audit.html",
        context! {
            rows => rows,
            total => result.as_ref().map(|p| p.total).unwrap_or(0),
            page_no => result.as_ref().map(|p| p.page).unwrap_or(1),
            pages => result.as_ref().map(|p| p.pages()).unwrap_or(1),
            pager_base => format!("/audit?{filters}"),
            filters => filters.clone(),
            f => context! {
                actor => clip(q.actor.as_deref().unwrap_or(""), 60),
                action => clip(q.action.as_deref().unwrap_or(""), 60),
                target => clip(q.target.as_deref().unwrap_or(""), 80),
                from => clip(q.from.as_deref().unwrap_or(""), 20),
                to => clip(q.to.as_deref().unwrap_or(""), 20),
            },
            verify => verify.map(|v| context! { ok => v.ok, entries => v.entries, problem => v.problem }),
            error => error.as_ref().map(|e| err_text(ctx, e)),
        },
    );
    (status, html).into_response()
}

/// Walks the whole chain and shows the result above the list.
async fn verify(State(st): State<AppState>, Signed(ctx, actor): Signed, Query(q): Query<AuditQ>) -> Response {
    if !actor.can(Action::ViewAudit) {
        return fail(
            &ctx,
            AppError::Forbidden(Msg::new("error.forbidden_action").arg("action", Action::ViewAudit.code())),
        );
    }
    let report = match st.app.verify_audit().await {
        Ok(r) => r,
        Err(e) => return fail(&ctx, e),
    };
    tracing::info!(
        user_id = actor.user.id.0,
        entries = report.entries,
        ok = report.ok,
        "audit chain verified"
    );
    render(&st, &ctx, &actor, &q, Some(report)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_china_days() {
        // 2026-11-29 00:00 +08:00 is 2026-11-28 16:00 UTC.
        let t = day_start("2026-11-29", "from").unwrap();
        assert_eq!(t.0 % 86_400_000, 16 * 3_600_000);
        assert!(day_start("2026-13-01", "from").is_err());
        assert!(day_start("2026-02-30", "from").is_err());
        assert!(day_start("yesterday", "from").is_err());
        assert!(day_start("99999-01-01", "from").is_err());
        let q = AuditQ {
            from: Some("2026-11-29".into()),
            to: Some("2026-11-28".into()),
            ..Default::default()
        };
        assert!(matches!(q.parse(), Err(AppError::Invalid(m)) if m.key == "audit.date_order"));
        let q = AuditQ {
            from: Some("2026-11-29".into()),
            to: Some("2026-11-29".into()),
            ..Default::default()
        };
        let (f, _) = q.parse().unwrap();
        assert_eq!(f.to.unwrap().0 - f.from.unwrap().0, 86_400_000);
        assert_eq!(
            target_href("resident:12", false).as_deref(),
            Some("/residents/12")
        );
        assert_eq!(target_href("resident:x", true), None);
        assert_eq!(target_href("user:3", false), None);
        assert_eq!(target_href("user:3", true).as_deref(), Some("/users/3"));
    }
}
