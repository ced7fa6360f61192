//! The message templates as analysts edit them: the warning SMS (预警短信),
//! the robocall script (语音外呼) and the dissuasion script (劝阻话术) per
//! fraud type, plus the generic one of each. What ships with the product is
//! the base; a saved text is laid over it (one override per kind and key,
//! replaced by the next save) and used from the next message or task page
//! on. Every save is validated first (placeholders, braces, length, the SMS
//! within `max_segments` parts of 70/67 characters with the longest sample
//! values, the hotline named) and nothing is saved when any part fails.
//! Saves are audited.

use super::lock;
use crate::{Actor, App, AppError, Result};
use fanzha_core::dispatch::{ScriptTemplate, TemplateKey, TemplateSet, TemplateWarning};
use fanzha_core::i18n::Msg;
use fanzha_core::roles::Action;
use fanzha_store::{MAX_TEMPLATE_BODY, TemplateKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One key's templates as they are in force.
#[derive(Clone, Debug, Serialize)]
pub struct TemplateEntry {
    /// `generic` or a fraud type code.
    pub key: String,
    /// The fraud type's Chinese name, or 通用.
    pub label: String,
    pub sms: String,
    /// Units (UTF-16 for Chinese) of the SMS filled with the sample values.
    pub sms_chars: usize,
    /// Parts the operator bills for it (70 characters in one, 67 per part).
    pub sms_segments: usize,
    pub sms_encoding: &'static str,
    pub robocall: String,
    pub script: Option<ScriptTemplate>,
    /// Which kinds the key has its own template for (else the generic one stands in).
    pub own_sms: bool,
    pub own_robocall: bool,
    pub own_script: bool,
    /// Which kinds an analyst has changed from what ships.
    pub edited_sms: bool,
    pub edited_robocall: bool,
    pub edited_script: bool,
}

/// All keys' templates, generic first.
#[derive(Clone, Debug, Serialize)]
pub struct TemplatesView {
    /// Most SMS parts a warning may take.
    pub max_segments: usize,
    pub entries: Vec<TemplateEntry>,
    pub warnings: Vec<TemplateWarning>,
}

/// New texts for one key; the kinds left out keep theirs.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSave {
    /// `generic` or a fraud type code (or its Chinese name).
    pub key: String,
    #[serde(default)]
    pub sms: Option<String>,
    #[serde(default)]
    pub robocall: Option<String>,
    #[serde(default)]
    pub script: Option<ScriptTemplate>,
}

fn invalid(reason: impl Into<String>) -> AppError {
    AppError::Invalid(Msg::new("dispatch.templates_invalid").arg("reason", reason.into()))
}

fn label(key: TemplateKey) -> String {
    match key {
        TemplateKey::Generic => "通用".to_string(),
        TemplateKey::Type(t) => t.label("zh").to_string(),
    }
}

fn entry(set: &TemplateSet, edited: &BTreeSet<(TemplateKind, String)>, key: TemplateKey) -> TemplateEntry {
    let (own_sms, own_robocall, own_script) = set.has_own(key);
    let measured = set.measure_sms(key).ok();
    let is = |k: TemplateKind| edited.contains(&(k, key.code().to_string()));
    TemplateEntry {
        key: key.code().to_string(),
        label: label(key),
        sms: set.sms_of(key).to_string(),
        sms_chars: measured.as_ref().map(|m| m.chars).unwrap_or_default(),
        sms_segments: measured.as_ref().map(|m| m.segments).unwrap_or_default(),
        sms_encoding: measured.as_ref().map(|m| m.encoding.code()).unwrap_or("ucs2"),
        robocall: set.robocall_of(key).to_string(),
        script: set.script_of(key).cloned(),
        own_sms,
        own_robocall,
        own_script,
        edited_sms: is(TemplateKind::Sms),
        edited_robocall: is(TemplateKind::Robocall),
        edited_script: is(TemplateKind::Script),
    }
}

/// The warnings about `key` of `kind` that block a save.
fn blocking(w: &TemplateWarning, kind: &str, key: TemplateKey) -> Option<String> {
    match w {
        TemplateWarning::TooManySegments {
            key: k,
            segments,
            max,
        } if *k == key && kind == "sms" => Some(format!(
            "the SMS takes {segments} messages with the longest sample values (70 characters in one, 67 per part \
             when longer); at most {max} are allowed"
        )),
        TemplateWarning::NoHotline { kind: k, key: kk } if *kk == key && *k == kind => {
            Some(format!("the {kind} text must name the hotline with {{hotline}}"))
        }
        TemplateWarning::SampleFails {
            kind: k,
            key: kk,
            error,
        } if *kk == key && *k == kind => Some(error.clone()),
        _ => None,
    }
}

impl App {
    /// The templates in force for every key (analysts who edit dispatch).
    pub async fn task_templates_view(&self, actor: &Actor) -> Result<TemplatesView> {
        self.gate(actor, Action::EditDispatch)?;
        let set = self.task_templates().await?;
        let edited: BTreeSet<(TemplateKind, String)> = self
            .store
            .template_overrides()
            .await?
            .into_iter()
            .map(|o| (o.kind, o.key))
            .collect();
        Ok(TemplatesView {
            max_segments: set.max_segments,
            entries: TemplateKey::all().map(|k| entry(&set, &edited, k)).collect(),
            warnings: set
                .check()
                .into_iter()
                .filter(|w| !matches!(w, TemplateWarning::Missing { .. }))
                .collect(),
        })
    }

    /// Validates the new texts for one key and, when all pass, saves them;
    /// the next warning SMS, robocall and task page use them. Returns the
    /// key's templates as now in force.
    pub async fn save_task_templates(&self, actor: &Actor, form: &TemplateSave) -> Result<TemplateEntry> {
        self.gate(actor, Action::EditDispatch)?;
        let key = TemplateKey::parse(&form.key).ok_or_else(|| {
            invalid(format!(
                "unknown key {:?}: use generic or a fraud type code",
                clip(&form.key)
            ))
        })?;
        if form.sms.is_none() && form.robocall.is_none() && form.script.is_none() {
            return Err(invalid("give at least one of sms, robocall, script"));
        }
        let mut set = (*self.task_templates().await?).clone();
        let mut writes: Vec<(TemplateKind, String)> = Vec::new();
        if let Some(text) = &form.sms {
            let text = text.trim();
            set.set_sms(key, text).map_err(|e| invalid(e.to_string()))?;
            writes.push((TemplateKind::Sms, text.to_string()));
        }
        if let Some(text) = &form.robocall {
            let text = text.trim();
            set.set_robocall(key, text).map_err(|e| invalid(e.to_string()))?;
            writes.push((TemplateKind::Robocall, text.to_string()));
        }
        if let Some(script) = &form.script {
            set.set_script(key, script.clone())
                .map_err(|e| invalid(e.to_string()))?;
            let json = serde_json::to_string(script).map_err(|e| AppError::Internal(e.to_string()))?;
            writes.push((TemplateKind::Script, json));
        }
        let warnings = set.check();
        for (kind, body) in &writes {
            if body.chars().count() > MAX_TEMPLATE_BODY {
                return Err(invalid(format!("longer than {MAX_TEMPLATE_BODY} characters")));
            }
            if let Some(reason) = warnings.iter().find_map(|w| blocking(w, kind.code(), key)) {
                return Err(invalid(reason));
            }
        }
        for (kind, body) in &writes {
            let audit = self.audit(
                actor,
                "dispatch.template.save",
                format!("template:{}:{}", kind.code(), key.code()),
                format!(
                    "kind={} key={} chars={}",
                    kind.code(),
                    key.code(),
                    body.chars().count()
                ),
            );
            self.store
                .set_template_override(*kind, key.code(), Some(body), &audit)
                .await?;
        }
        *lock(&self.tasks.templates) = None;
        tracing::info!(
            user_id = actor.user.id.0,
            key = key.code(),
            kinds = writes.len(),
            "templates saved"
        );
        let set = self.task_templates().await?;
        let edited: BTreeSet<(TemplateKind, String)> = self
            .store
            .template_overrides()
            .await?
            .into_iter()
            .map(|o| (o.kind, o.key))
            .collect();
        Ok(entry(&set, &edited, key))
    }
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}
