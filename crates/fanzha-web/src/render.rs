//! Server-side rendering with minijinja. Templates are compiled into the
//! binary; every string in them comes from the one catalogue through `t()`.

use crate::WebError;
use crate::auth::Ctx;
use axum::response::Html;
use fanzha_core::i18n::{Lang, tr};
use fanzha_core::org::{NodeKind, UnitType};
use fanzha_core::roles::{Action, Role};
use fanzha_core::{FraudType, Grade, IndicatorKind};
use minijinja::value::{Serde, Value};
use minijinja::{Environment, State};
use serde::Serialize;

/// Templates compiled into the binary: (name, source).
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("macros.html", include_str!("../templates/macros.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("setup.html", include_str!("../templates/setup.html")),
    ("home.html", include_str!("../templates/home.html")),
    ("org_tree.html", include_str!("../templates/org_tree.html")),
    ("org_node.html", include_str!("../templates/org_node.html")),
    ("org_units.html", include_str!("../templates/org_units.html")),
    ("org_unit.html", include_str!("../templates/org_unit.html")),
    (
        "org_unit_form.html",
        include_str!("../templates/org_unit_form.html"),
    ),
    ("residents.html", include_str!("../templates/residents.html")),
    ("resident.html", include_str!("../templates/resident.html")),
    (
        "resident_form.html",
        include_str!("../templates/resident_form.html"),
    ),
    (
        "resident_import.html",
        include_str!("../templates/resident_import.html"),
    ),
    ("users.html", include_str!("../templates/users.html")),
    ("user_form.html", include_str!("../templates/user_form.html")),
    ("audit.html", include_str!("../templates/audit.html")),
    ("account.html", include_str!("../templates/account.html")),
    ("leads.html", include_str!("../templates/leads.html")),
    ("lead.html", include_str!("../templates/lead.html")),
    ("lead_import.html", include_str!("../templates/lead_import.html")),
    ("rules.html", include_str!("../templates/rules.html")),
    ("dispatch.html", include_str!("../templates/dispatch.html")),
    (
        "rules_version.html",
        include_str!("../templates/rules_version.html"),
    ),
    ("backtest.html", include_str!("../templates/backtest.html")),
    ("intel_tabs.html", include_str!("../templates/intel_tabs.html")),
    ("intel_list.html", include_str!("../templates/intel_list.html")),
    (
        "intel_detail.html",
        include_str!("../templates/intel_detail.html"),
    ),
    ("intel_form.html", include_str!("../templates/intel_form.html")),
    (
        "intel_lookup.html",
        include_str!("../templates/intel_lookup.html"),
    ),
    (
        "intel_import.html",
        include_str!("../templates/intel_import.html"),
    ),
    (
        "intel_export.html",
        include_str!("../templates/intel_export.html"),
    ),
    (
        "intel_allowlist.html",
        include_str!("../templates/intel_allowlist.html"),
    ),
    (
        "intel_reports.html",
        include_str!("../templates/intel_reports.html"),
    ),
    (
        "intel_report.html",
        include_str!("../templates/intel_report.html"),
    ),
    (
        "intel_disposals.html",
        include_str!("../templates/intel_disposals.html"),
    ),
    (
        "intel_disposal.html",
        include_str!("../templates/intel_disposal.html"),
    ),
    (
        "intel_disposal_form.html",
        include_str!("../templates/intel_disposal_form.html"),
    ),
    (
        "public_check.html",
        include_str!("../templates/public_check.html"),
    ),
    (
        "public_report.html",
        include_str!("../templates/public_report.html"),
    ),
    ("tasks_mine.html", include_str!("../templates/tasks_mine.html")),
    ("tasks_board.html", include_str!("../templates/tasks_board.html")),
    ("task.html", include_str!("../templates/task.html")),
    (
        "tasks_metrics.html",
        include_str!("../templates/tasks_metrics.html"),
    ),
    ("appeal_form.html", include_str!("../templates/appeal_form.html")),
    ("appeals.html", include_str!("../templates/appeals.html")),
];

pub struct Templates {
    env: Environment<'static>,
}

fn lang_of(state: &State) -> Lang {
    state
        .lookup("lang")
        .and_then(|v| v.as_str().and_then(Lang::parse))
        .unwrap_or_default()
}

/// `t("key")`: the catalogue text in the page's language.
fn t(state: &State, key: &str) -> String {
    tr(lang_of(state), key).to_string()
}

/// `label("role", "grid_worker")`: the label of a vocabulary code.
fn label(state: &State, vocab: &str, code: &str) -> String {
    let lang = lang_of(state);
    let l = if lang == Lang::En { "en" } else { "zh" };
    let prefix = match vocab {
        "intel_status" => Some("intel.status."),
        "report_status" => Some("intel.report_status."),
        "disposal_status" => Some("intel.disposal_status."),
        "disposal_target" => Some("intel.disposal_target."),
        "verdict" => Some("intel.verdict."),
        "source" => Some("intel.source."),
        "export_format" => Some("intel.export.fmt."),
        "advice" => Some("public.check.advice_"),
        _ => None,
    };
    if let Some(prefix) = prefix {
        if let Some(name) = code.strip_prefix("feed:").filter(|_| vocab == "source") {
            return fanzha_core::i18n::Msg::new("intel.source.feed")
                .arg("name", name)
                .render(lang);
        }
        return catalog_label(lang, prefix, code).unwrap_or_else(|| code.to_string());
    }
    let found = match vocab {
        "role" => Role::parse(code).ok().map(|v| v.label(l)),
        "node_kind" => NodeKind::parse(code).ok().map(|v| v.label(l)),
        "unit_type" => UnitType::parse(code).ok().map(|v| v.label(l)),
        "fraud_type" => FraudType::parse(code).ok().map(|v| v.label(l)),
        "grade" => Grade::parse(code).ok().map(|v| v.label(l)),
        "indicator_kind" => IndicatorKind::parse(code).ok().map(|v| v.label(l)),
        // Vocabularies whose labels live in the catalogue as `vocab.code`.
        "lead_status" | "lead_source" | "signal" | "event_kind" => {
            let key = format!("{vocab}.{code}");
            if fanzha_core::i18n::has(&key) {
                return tr(lang, &key).to_string();
            }
            None
        }
        "outcome" => fanzha_core::task::OutcomeKind::parse(code)
            .ok()
            .map(|v| v.label(l)),
        "task_state" => fanzha_core::task::TaskState::parse(code).ok().map(|v| v.label(l)),
        "contact_method" => fanzha_core::task::ContactMethod::parse(code)
            .ok()
            .map(|v| v.label(l)),
        "contact_result" => fanzha_core::task::ContactResult::parse(code)
            .ok()
            .map(|v| v.label(l)),
        "sex" => match code {
            "male" => Some(tr(lang, "sex.male")),
            "female" => Some(tr(lang, "sex.female")),
            _ => None,
        },
        _ => None,
    };
    found.unwrap_or(code).to_string()
}

/// The catalogue text of `prefix` + `code`, when the catalogue has it.
fn catalog_label(lang: Lang, prefix: &str, code: &str) -> Option<String> {
    let key = format!("{prefix}{code}");
    fanzha_core::i18n::has(&key).then(|| tr(lang, &key).to_string())
}

/// `datetime(ms)`: a timestamp as `YYYY-MM-DD HH:MM` in China time (UTC+8).
pub(crate) fn datetime(ms: i64) -> String {
    let local = ms + 8 * 3600 * 1000;
    let d = fanzha_core::time::Date::from_timestamp(fanzha_core::Timestamp(local));
    let secs = local.div_euclid(1000).rem_euclid(86_400);
    format!("{d} {:02}:{:02}", secs / 3600, (secs % 3600) / 60)
}

impl Templates {
    pub fn new() -> Result<Templates, WebError> {
        let mut env = Environment::new();
        for (name, src) in TEMPLATES {
            env.add_template(name, src)
                .map_err(|e| WebError::Template(format!("{name}: {e}")))?;
        }
        env.add_function("t", t);
        env.add_function("label", label);
        env.add_filter("datetime", datetime);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
        Ok(Templates { env })
    }

    pub fn render(&self, name: &str, ctx: Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(ctx)
    }
}

/// A navigation entry shown only when the module exists and the role may use it.
#[derive(Serialize)]
struct Nav {
    href: &'static str,
    key: &'static str,
    active: bool,
}

fn nav(ctx: &Ctx) -> Vec<Nav> {
    let Some(a) = &ctx.actor else { return Vec::new() };
    let mut out = Vec::new();
    let mut add = |href: &'static str, key: &'static str, allowed: bool| {
        if allowed {
            out.push(Nav {
                href,
                key,
                active: false,
            });
        }
    };
    add("/", "nav.home", true);
    add("/org", "nav.org", a.can(Action::ViewOrg));
    add("/residents", "nav.residents", a.can(Action::ViewResidents));
    add("/leads", "nav.leads", a.can(Action::ViewLeads));
    add("/rules", "nav.rules", a.can(Action::EditRules));
    add("/backtest", "nav.backtest", a.can(Action::EditRules));
    add("/dispatch", "nav.dispatch", a.can(Action::EditDispatch));
    add("/intel", "nav.intel", a.can(Action::ViewIntel));
    add(
        "/intel/lookup",
        "nav.intel_lookup",
        a.can(Action::LookupIntel) || a.can(Action::ViewIntel),
    );
    add("/tasks", "nav.tasks", a.can(Action::ViewTasks));
    add("/appeals", "nav.appeals", a.can(Action::ReviewAppeals));
    add("/users", "nav.users", a.can(Action::ManageUsers));
    add("/audit", "nav.audit", a.can(Action::ViewAudit));
    add("/account", "nav.account", true);
    // The entry with the longest matching address is the current one.
    let under = |href: &str| {
        if href == "/" {
            ctx.path == "/"
        } else {
            ctx.path == href || ctx.path.starts_with(&format!("{href}/"))
        }
    };
    if let Some(best) = out
        .iter_mut()
        .filter(|n| under(n.href))
        .max_by_key(|n| n.href.len())
    {
        best.active = true;
    }
    out
}

#[derive(Serialize)]
struct Me {
    username: String,
    display_name: String,
    role: &'static str,
}

/// Renders a page with the shared context (language, user, navigation,
/// CSRF token, demo flag) merged under the page's own values.
pub fn page(st: &crate::state::AppState, ctx: &Ctx, name: &str, data: Value) -> Html<String> {
    let me = ctx.actor.as_ref().map(|a| Me {
        username: a.user.username.clone(),
        display_name: a.user.display_name.clone(),
        role: a.user.role.code(),
    });
    let base = minijinja::context! {
        lang => ctx.lang.code(),
        other_lang => if ctx.lang == Lang::En { "zh" } else { "en" },
        path => ctx.path.clone(),
        here => if ctx.query.is_empty() { ctx.path.clone() } else { format!("{}?{}", ctx.path, ctx.query) },
        me => Serde(me),
        nav => Serde(nav(ctx)),
        csrf => ctx.csrf(),
        demo => st.cfg.demo,
    };
    let merged = minijinja::context! { ..data, ..base };
    match st.tpl.render(name, merged) {
        Ok(s) => Html(s),
        Err(e) => {
            tracing::error!(template = name, error = %e, "template failed");
            Html(error_page(ctx.lang, 500, tr(ctx.lang, "error.internal")).0)
        }
    }
}

/// A minimal error page that needs no state (also used when rendering fails).
pub fn error_page(lang: Lang, status: u16, message: &str) -> Html<String> {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    Html(format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head><body><main class=\"narrow\"><h1>{}</h1><p class=\"error\">{}</p><p><a href=\"/\">{}</a></p></main></body></html>",
        lang.code(),
        status,
        status,
        esc(message),
        esc(tr(lang, "nav.home"))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_compile_and_keys_exist() {
        Templates::new().unwrap();
        // Every t("…") key used in a template is in the catalogue.
        for (name, src) in TEMPLATES {
            let mut rest = *src;
            while let Some(i) = rest.find("t(\"") {
                let after = &rest[i + 3..];
                let end = after.find('"').unwrap();
                let key = &after[..end];
                assert!(fanzha_core::i18n::has(key), "{name}: missing catalogue key {key}");
                rest = &after[end..];
            }
        }
    }

    #[test]
    fn datetime_is_china_time() {
        assert_eq!(datetime(0), "1970-01-01 08:00");
    }
}
