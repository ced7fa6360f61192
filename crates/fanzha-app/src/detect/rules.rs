//! Rules as data (DESIGN.md §4): the active rules document lives in the
//! store, numbered 1, 2, 3…; the shipped default is saved as the first
//! version on first start. Analysts read it and save a new one (validated
//! before it is stored, audited); the pipeline switches to it between two
//! events. The `version` key of a saved document is set to its number, so
//! every lead records the stored version that judged it.

use crate::{Actor, App, AppError, Result};
use fanzha_core::i18n::Msg;
use fanzha_core::roles::Action;
use fanzha_engine::detect::{CompiledRules, DEFAULT_RULES, RulesDoc, RulesError};
use fanzha_store::{NewRulesVersion, RulesVersion};
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// A rules version without its text, for lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RulesVersionInfo {
    pub version: i64,
    pub name: String,
    pub author: String,
    pub note: String,
    pub created_at: fanzha_core::Timestamp,
    pub active: bool,
}

/// The active rules and the versions before them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RulesView {
    pub active: RulesVersion,
    pub versions: Vec<RulesVersionInfo>,
}

/// Versions listed with the active one.
const LISTED: usize = 100;

/// Sets the top-level `version = …` line of a rules document (keeping
/// everything else, comments included); adds it when missing.
pub fn set_rules_version(text: &str, version: i64) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut done = false;
    let mut in_table = false;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with('[') {
            in_table = true;
        }
        let is_version = !in_table
            && t.strip_prefix("version")
                .is_some_and(|rest| rest.trim_start().starts_with('='));
        if is_version && !done {
            out.push_str(&format!("version = {version}"));
            out.push_str(if line.ends_with("\r\n") {
                "\r\n"
            } else if line.ends_with('\n') {
                "\n"
            } else {
                ""
            });
            done = true;
        } else {
            out.push_str(line);
        }
    }
    if !done {
        out = format!("version = {version}\n{out}");
    }
    out
}

/// Checks a rules document; the error names the key and the reason.
pub fn check_rules(text: &str) -> std::result::Result<CompiledRules, String> {
    diagnose_rules(text).map_err(|p| p.message)
}

/// What is wrong with a rules document, and where when that can be told.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RulesProblem {
    /// The engine's message (it names the key, or quotes the TOML error).
    pub message: String,
    /// The 1-based line the problem is on: from the TOML parser, or the
    /// line of the key a validation rule names.
    pub line: Option<usize>,
}

/// The result of checking a rules document without saving it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RulesCheck {
    pub ok: bool,
    /// The document's `name` when it is valid.
    pub name: Option<String>,
    pub problem: Option<RulesProblem>,
}

/// Checks a rules document and locates the problem.
pub fn diagnose_rules(text: &str) -> std::result::Result<CompiledRules, RulesProblem> {
    if text.len() > fanzha_store::MAX_RULES_TOML {
        return Err(RulesProblem {
            message: format!(
                "the document is longer than {} bytes",
                fanzha_store::MAX_RULES_TOML
            ),
            line: None,
        });
    }
    RulesDoc::parse(text).map_err(|e| {
        let line = match &e {
            RulesError::Toml(m) => toml_line(m),
            RulesError::Invalid { key, .. } => key_line(text, key),
            RulesError::RemoteApps(_) => None,
        };
        RulesProblem {
            message: e.to_string(),
            line,
        }
    })
}

/// The line a TOML parser's message names (`… at line 3, column 7`).
fn toml_line(message: &str) -> Option<usize> {
    let rest = &message[message.find("line ")? + 5..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|n| *n > 0)
}

/// The line that sets `key` (`grades.medium`, `signals.text_fraud.weight`,
/// `chains[1].steps`), or the header of the table it names; `None` when the
/// key is not written in the document (a missing key, a default).
pub fn key_line(text: &str, key: &str) -> Option<usize> {
    let parts: Vec<&str> = key
        .split('.')
        .map(|p| p.split('[').next().unwrap_or(p).trim())
        .filter(|p| !p.is_empty())
        .collect();
    let (last, table) = parts.split_last()?;
    let table = table.join(".");
    let mut current = String::new();
    let mut header_line = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.starts_with('[') {
            current = line
                .trim_matches(|c| c == '[' || c == ']')
                .split('.')
                .map(|p| p.trim().trim_matches('"'))
                .collect::<Vec<_>>()
                .join(".");
            if current == parts.join(".") && header_line.is_none() {
                header_line = Some(i + 1);
            }
            continue;
        }
        if current == table
            && let Some((k, _)) = line.split_once('=')
            && k.trim().trim_matches('"') == *last
        {
            return Some(i + 1);
        }
    }
    header_line
}

/// Compiles a stored document, numbered as stored.
pub(crate) fn compile_stored(r: &RulesVersion) -> Result<Arc<CompiledRules>> {
    let mut c = check_rules(&r.toml)
        .map_err(|e| AppError::Internal(format!("stored rules version {} do not compile: {e}", r.version)))?;
    let v = u32::try_from(r.version).unwrap_or(u32::MAX);
    c.version = v;
    c.doc.version = v;
    Ok(Arc::new(c))
}

fn invalid(reason: String) -> AppError {
    AppError::Invalid(Msg::new("rules.invalid").arg("reason", reason))
}

impl From<&RulesVersion> for RulesVersionInfo {
    fn from(r: &RulesVersion) -> Self {
        RulesVersionInfo {
            version: r.version,
            name: r.name.clone(),
            author: r.author.clone(),
            note: r.note.clone(),
            created_at: r.created_at,
            active: r.active,
        }
    }
}

impl App {
    /// The active rules, saving the shipped default as the first version
    /// when the store has none.
    pub(crate) async fn ensure_rules(&self) -> Result<(Arc<CompiledRules>, i64)> {
        if let Some(r) = self.store.active_rules().await? {
            return Ok((compile_stored(&r)?, r.version));
        }
        let version = self.store.next_rules_version().await?;
        let text = set_rules_version(DEFAULT_RULES, version);
        let name = check_rules(&text).map_err(AppError::Internal)?.name.to_string();
        let audit = self.audit_system(
            "system",
            "rules.save",
            "",
            format!("version={version} default"),
            "",
        );
        let new = NewRulesVersion {
            version,
            name,
            toml: text,
            note: "shipped default".into(),
        };
        match self.store.save_rules(&new, &audit).await {
            Ok(()) => tracing::info!(version, "default rules saved"),
            // Another process seeded them meanwhile.
            Err(e) if e.is_conflict() => {}
            Err(e) => return Err(e.into()),
        }
        let r = self
            .store
            .active_rules()
            .await?
            .ok_or_else(|| AppError::Internal("no active rules after seeding".into()))?;
        Ok((compile_stored(&r)?, r.version))
    }

    /// The active rules document and the versions saved.
    pub async fn rules(&self, actor: &Actor) -> Result<RulesView> {
        self.gate(actor, Action::ViewLeads)?;
        self.ensure_rules().await?;
        let versions = self.store.list_rules(LISTED).await?;
        let active = match versions.iter().find(|r| r.active) {
            Some(r) => r.clone(),
            None => self
                .store
                .active_rules()
                .await?
                .ok_or_else(|| AppError::not_found("error.not_found"))?,
        };
        Ok(RulesView {
            active,
            versions: versions.iter().map(RulesVersionInfo::from).collect(),
        })
    }

    /// One saved version, with its text.
    pub async fn rules_version(&self, actor: &Actor, version: i64) -> Result<RulesVersion> {
        self.gate(actor, Action::ViewLeads)?;
        self.store
            .get_rules(version)
            .await?
            .ok_or_else(|| AppError::not_found("error.not_found"))
    }

    /// Checks a rules document without saving it; a problem is an answer,
    /// not an error.
    pub fn check_rules_text(&self, actor: &Actor, text: &str) -> Result<RulesCheck> {
        self.gate(actor, Action::EditRules)?;
        Ok(match diagnose_rules(text) {
            Ok(c) => RulesCheck {
                ok: true,
                name: Some(c.name.to_string()),
                problem: None,
            },
            Err(p) => RulesCheck {
                ok: false,
                name: None,
                problem: Some(p),
            },
        })
    }

    /// Checks and saves a rules document as the next version and makes it
    /// active; the pipeline switches to it before its next event.
    pub async fn save_rules(&self, actor: &Actor, text: &str, note: &str) -> Result<RulesVersion> {
        self.gate(actor, Action::EditRules)?;
        check_rules(text).map_err(invalid)?;
        if note.chars().count() > fanzha_store::MAX_LEAD_NOTE {
            return Err(invalid(format!(
                "the note is longer than {} characters",
                fanzha_store::MAX_LEAD_NOTE
            )));
        }
        self.ensure_rules().await?;
        let version = self.store.next_rules_version().await?;
        let text = set_rules_version(text, version);
        let compiled = check_rules(&text).map_err(invalid)?;
        let audit = self.audit(
            actor,
            "rules.save",
            format!("rules:{version}"),
            format!("version={version} name={}", compiled.name),
        );
        self.store
            .save_rules(
                &NewRulesVersion {
                    version,
                    name: compiled.name.to_string(),
                    toml: text,
                    note: note.trim().to_string(),
                },
                &audit,
            )
            .await?;
        self.detect.rules_gen.fetch_add(1, Ordering::SeqCst);
        tracing::info!(user_id = actor.user.id.0, version, "rules saved");
        self.store
            .get_rules(version)
            .await?
            .ok_or_else(|| AppError::not_found("error.not_found"))
    }

    /// Makes an earlier version the active one again.
    pub async fn activate_rules(&self, actor: &Actor, version: i64) -> Result<RulesVersion> {
        self.gate(actor, Action::EditRules)?;
        let r = self
            .store
            .get_rules(version)
            .await?
            .ok_or_else(|| AppError::not_found("error.not_found"))?;
        compile_stored(&r)?;
        let audit = self.audit(actor, "rules.activate", format!("rules:{version}"), "");
        self.store.activate_rules(version, &audit).await?;
        self.detect.rules_gen.fetch_add(1, Ordering::SeqCst);
        Ok(RulesVersion { active: true, ..r })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_line_is_replaced_and_nothing_else() {
        let t = "# comment\nversion = 1 # the first\nname = \"x\"\n[window]\nversion = 9\n";
        assert_eq!(
            set_rules_version(t, 7),
            "# comment\nversion = 7\nname = \"x\"\n[window]\nversion = 9\n"
        );
        assert_eq!(
            set_rules_version("name = \"x\"\n", 3),
            "version = 3\nname = \"x\"\n"
        );
        let d = set_rules_version(DEFAULT_RULES, 12);
        assert_eq!(check_rules(&d).unwrap().version, 12);
        assert_eq!(d.len(), DEFAULT_RULES.len() + 1);
    }

    #[test]
    fn problems_are_located() {
        let bad = DEFAULT_RULES.replace("medium = 40", "medium = 10");
        let p = diagnose_rules(&bad).unwrap_err();
        let want = bad.lines().position(|l| l.starts_with("medium = 10")).unwrap() + 1;
        assert!(p.message.contains("grades.medium"), "{}", p.message);
        assert_eq!(p.line, Some(want), "{}", p.message);
        let broken = "version = 1\nname = \"x\"\n[window\nhours = 3\n";
        assert_eq!(diagnose_rules(broken).unwrap_err().line, Some(3));
        let t = "version = 1\n[signals.text_fraud]\nweight = 5\n[grades]\nmedium = 4 # x\n";
        assert_eq!(key_line(t, "grades.medium"), Some(5));
        assert_eq!(key_line(t, "signals.text_fraud.weight"), Some(3));
        assert_eq!(key_line(t, "signals.text_fraud"), Some(2));
        assert_eq!(key_line(t, "version"), Some(1));
        assert_eq!(key_line(t, "window.hours"), None);
    }

    #[test]
    fn bad_documents_name_the_problem() {
        let e = check_rules("version = 1\nname = \"x\"\n").unwrap_err();
        assert!(e.contains("window") || e.contains("missing"), "{e}");
        let e = check_rules(&DEFAULT_RULES.replace("lead_min = \"low\"", "lead_min = \"huge\"")).unwrap_err();
        assert!(!e.is_empty());
    }
}
