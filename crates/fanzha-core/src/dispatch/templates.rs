//! Message templates: warning SMS (预警短信), robocall scripts (语音外呼) and
//! dissuasion scripts (劝阻话术) per fraud type, plus a `generic` one of
//! each that stands in for any type without its own.
//!
//! They ship as editable data (`templates/sms.toml`, `robocall.toml`,
//! `scripts.toml`, embedded); the app may lay analysts' overrides over them
//! with [`TemplateSet::set_sms`] and friends.
//!
//! # Placeholders
//!
//! Texts name placeholders in braces; `{{` and `}}` are literal braces. The
//! set is closed ([`Placeholder`]), and none of them can carry the person's
//! full name or phone number: `{name}` is filled only from a [`Salutation`]
//! (surname plus 先生/女士, or nothing), so a text holds no more about the
//! person than its template asks for.
//!
//! | placeholder | filled with |
//! |---|---|
//! | `{name}` | the salutation, e.g. `张先生`; empty when the sex or the name's form is unknown |
//! | `{hotline}` | the anti-fraud hotline, `96110` by default |
//! | `{center}` | the sender's name, e.g. `县反诈中心` |
//! | `{signature}` | the SMS signature the operator registered, e.g. `【反诈中心】` |
//! | `{station}` | the person's police station (only when the caller sets it) |
//! | `{contact_phone}` | a number of the center or station to call back (only when set) |

use super::sms::{SmsText, count_sms};
use crate::idcard::Sex;
use crate::taxonomy::FraudType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

pub const SMS_TOML: &str = include_str!("../templates/sms.toml");
pub const ROBOCALL_TOML: &str = include_str!("../templates/robocall.toml");
pub const SCRIPTS_TOML: &str = include_str!("../templates/scripts.toml");

/// Longest value of a placeholder, in characters.
pub const MAX_VAR_CHARS: usize = 40;
/// Longest template text, in characters.
pub const MAX_TEMPLATE_CHARS: usize = 4000;

/// A placeholder a template may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placeholder {
    Name,
    Hotline,
    Center,
    Signature,
    Station,
    ContactPhone,
}

impl Placeholder {
    pub const ALL: &'static [Placeholder] = &[
        Placeholder::Name,
        Placeholder::Hotline,
        Placeholder::Center,
        Placeholder::Signature,
        Placeholder::Station,
        Placeholder::ContactPhone,
    ];
    pub const fn code(self) -> &'static str {
        match self {
            Placeholder::Name => "name",
            Placeholder::Hotline => "hotline",
            Placeholder::Center => "center",
            Placeholder::Signature => "signature",
            Placeholder::Station => "station",
            Placeholder::ContactPhone => "contact_phone",
        }
    }
    pub fn parse(s: &str) -> Option<Placeholder> {
        Placeholder::ALL.iter().copied().find(|p| p.code() == s)
    }
}

/// Which template: one per fraud type, and the generic stand-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TemplateKey {
    Generic,
    Type(FraudType),
}

impl TemplateKey {
    pub fn code(self) -> &'static str {
        match self {
            TemplateKey::Generic => "generic",
            TemplateKey::Type(t) => t.code(),
        }
    }
    /// `generic` or a fraud-type code (or label).
    pub fn parse(s: &str) -> Option<TemplateKey> {
        if s.trim() == "generic" {
            return Some(TemplateKey::Generic);
        }
        FraudType::parse(s).ok().map(TemplateKey::Type)
    }
    /// Every key: generic, then each fraud type.
    pub fn all() -> impl Iterator<Item = TemplateKey> {
        std::iter::once(TemplateKey::Generic).chain(FraudType::ALL.iter().copied().map(TemplateKey::Type))
    }
}

impl fmt::Display for TemplateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The only way to put the person into a text: `张先生`, `欧阳女士`, or
/// nothing. Never the full name.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Salutation(String);

/// Two-character surnames (复姓) common enough to matter.
const COMPOUND_SURNAMES: &[&str] = &[
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯",
    "轩辕", "令狐", "钟离", "端木", "南宫", "西门", "澹台", "呼延", "独孤", "百里", "东郭", "万俟",
];

fn is_han(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}')
}

impl Salutation {
    /// Surname and 先生/女士 from a Chinese name and the sex. Anything else
    /// (sex unknown, a name with `·` or latin letters, a one-character name)
    /// gives the empty salutation, so that a template reads `您好` instead.
    pub fn of(full_name: &str, sex: Option<Sex>) -> Salutation {
        let name = full_name.trim();
        let Some(sex) = sex else {
            return Salutation::default();
        };
        let chars: Vec<char> = name.chars().collect();
        if chars.len() < 2 || chars.len() > 6 || !chars.iter().all(|c| is_han(*c)) {
            return Salutation::default();
        }
        let two: String = chars[..2].iter().collect();
        let surname = if chars.len() >= 3 && COMPOUND_SURNAMES.contains(&two.as_str()) {
            two
        } else {
            chars[0].to_string()
        };
        let title = match sex {
            Sex::Male => "先生",
            Sex::Female => "女士",
        };
        Salutation(format!("{surname}{title}"))
    }

    /// The empty salutation.
    pub fn none() -> Salutation {
        Salutation::default()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Values for the placeholders.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Vars {
    name: Salutation,
    values: BTreeMap<Placeholder, String>,
}

impl Vars {
    /// No values at all.
    pub fn empty() -> Vars {
        Vars::default()
    }

    /// Sets the salutation.
    pub fn name(mut self, s: Salutation) -> Vars {
        self.name = s;
        self
    }

    /// Sets a placeholder other than `{name}` (which takes a [`Salutation`]).
    /// Values are at most [`MAX_VAR_CHARS`] characters, without braces or
    /// control characters.
    pub fn set(mut self, p: Placeholder, value: &str) -> Result<Vars, TemplateError> {
        if p == Placeholder::Name {
            return Err(TemplateError::NameNeedsSalutation);
        }
        let v = value.trim();
        if v.chars().count() > MAX_VAR_CHARS || v.chars().any(|c| c.is_control() || c == '{' || c == '}') {
            return Err(TemplateError::BadValue {
                placeholder: p.code(),
            });
        }
        self.values.insert(p, v.to_string());
        Ok(self)
    }

    pub fn get(&self, p: Placeholder) -> Option<&str> {
        match p {
            Placeholder::Name => Some(self.name.as_str()),
            _ => self.values.get(&p).map(String::as_str),
        }
    }
}

/// Why a template or a rendering was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("templates are not valid TOML for this schema ({file}): {reason}")]
    Toml { file: &'static str, reason: String },
    #[error("template {kind}.{key}: unknown placeholder {{{name}}}")]
    UnknownPlaceholder {
        kind: &'static str,
        key: String,
        name: String,
    },
    #[error("template {kind}.{key}: unbalanced brace at character {at}")]
    Malformed {
        kind: &'static str,
        key: String,
        at: usize,
    },
    #[error("template {kind}.{key}: empty or longer than {MAX_TEMPLATE_CHARS} characters")]
    BadLength { kind: &'static str, key: String },
    #[error("unknown template key {key:?}: use generic or a fraud type code")]
    UnknownKey { key: String },
    #[error("the {kind} templates need a generic entry")]
    NoGeneric { kind: &'static str },
    #[error("placeholder {{{placeholder}}} has no value")]
    MissingValue { placeholder: &'static str },
    #[error("the value of {{{placeholder}}} is too long or has braces or control characters")]
    BadValue { placeholder: &'static str },
    #[error("{{name}} is filled only from a salutation, never a raw value")]
    NameNeedsSalutation,
    #[error("templates setting `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

impl TemplateError {
    /// The catalogue key of the message.
    pub const fn key(&self) -> &'static str {
        match self {
            TemplateError::Toml { .. } => "task.template_toml",
            TemplateError::UnknownPlaceholder { .. } => "task.template_placeholder",
            TemplateError::Malformed { .. } => "task.template_malformed",
            TemplateError::BadLength { .. } => "task.template_length",
            TemplateError::UnknownKey { .. } => "task.template_key",
            TemplateError::NoGeneric { .. } => "task.template_no_generic",
            TemplateError::MissingValue { .. } => "task.template_missing_value",
            TemplateError::BadValue { .. } | TemplateError::NameNeedsSalutation => "task.template_bad_value",
            TemplateError::Invalid { .. } => "task.template_invalid",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Var(Placeholder),
}

/// Splits a template into literal text and placeholders.
fn parse_template(kind: &'static str, key: &str, text: &str) -> Result<Vec<Piece>, TemplateError> {
    let n = text.chars().count();
    if text.trim().is_empty() || n > MAX_TEMPLATE_CHARS {
        return Err(TemplateError::BadLength {
            kind,
            key: key.to_string(),
        });
    }
    let malformed = |at| TemplateError::Malformed {
        kind,
        key: key.to_string(),
        at,
    };
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut it = text.chars().enumerate().peekable();
    while let Some((i, c)) = it.next() {
        match c {
            '{' if it.peek().map(|p| p.1) == Some('{') => {
                it.next();
                lit.push('{');
            }
            '}' if it.peek().map(|p| p.1) == Some('}') => {
                it.next();
                lit.push('}');
            }
            '}' => return Err(malformed(i)),
            '{' => {
                let mut name = String::new();
                loop {
                    match it.next() {
                        Some((_, '}')) => break,
                        Some((_, c)) if c.is_ascii_alphanumeric() || c == '_' => name.push(c),
                        _ => return Err(malformed(i)),
                    }
                }
                let p = Placeholder::parse(&name).ok_or_else(|| TemplateError::UnknownPlaceholder {
                    kind,
                    key: key.to_string(),
                    name: name.clone(),
                })?;
                if !lit.is_empty() {
                    out.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                out.push(Piece::Var(p));
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    Ok(out)
}

fn fill(pieces: &[Piece], vars: &Vars) -> Result<String, TemplateError> {
    let mut s = String::new();
    for p in pieces {
        match p {
            Piece::Lit(l) => s.push_str(l),
            Piece::Var(v) => s.push_str(vars.get(*v).ok_or(TemplateError::MissingValue {
                placeholder: v.code(),
            })?),
        }
    }
    Ok(s)
}

/// Renders an SMS template text with `vars` and measures it.
pub fn render_sms(template: &str, vars: &Vars) -> Result<SmsText, TemplateError> {
    let pieces = parse_template("sms", "-", template)?;
    Ok(count_sms(&fill(&pieces, vars)?))
}

/// A compiled template: its text and its pieces.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Compiled {
    text: String,
    pieces: Vec<Piece>,
}

impl Compiled {
    fn new(kind: &'static str, key: TemplateKey, text: &str) -> Result<Compiled, TemplateError> {
        let text = text.trim();
        Ok(Compiled {
            text: text.to_string(),
            pieces: parse_template(kind, key.code(), text)?,
        })
    }
    fn uses(&self, p: Placeholder) -> bool {
        self.pieces.contains(&Piece::Var(p))
    }
}

/// A dissuasion script (劝阻话术) for the person who calls or visits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptTemplate {
    pub title: String,
    /// What to say: paragraphs separated by blank lines.
    pub say: String,
    /// What to ask the person.
    pub ask: Vec<String>,
    /// Signs that the person is deep in the fraud and needs more than a call.
    pub red_flags: Vec<String>,
}

impl ScriptTemplate {
    fn check(&self, key: TemplateKey) -> Result<(), TemplateError> {
        let k = key.code();
        if self.title.trim().is_empty() || self.ask.is_empty() || self.red_flags.is_empty() {
            return Err(TemplateError::Invalid {
                key: format!("script.{k}"),
                reason: "needs a title, say, at least one ask and one red flag".into(),
            });
        }
        parse_template("script", k, &self.title)?;
        parse_template("script", k, &self.say)?;
        for s in self.ask.iter().chain(&self.red_flags) {
            parse_template("script", k, s)?;
        }
        Ok(())
    }

    /// The script with placeholders filled.
    pub fn render(&self, vars: &Vars) -> Result<ScriptTemplate, TemplateError> {
        let r = |s: &str| -> Result<String, TemplateError> { fill(&parse_template("script", "-", s)?, vars) };
        Ok(ScriptTemplate {
            title: r(&self.title)?,
            say: r(&self.say)?,
            ask: self.ask.iter().map(|s| r(s)).collect::<Result<_, _>>()?,
            red_flags: self.red_flags.iter().map(|s| r(s)).collect::<Result<_, _>>()?,
        })
    }

    /// The paragraphs of `say`.
    pub fn paragraphs(&self) -> impl Iterator<Item = &str> {
        self.say.split("\n\n").map(str::trim).filter(|p| !p.is_empty())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SmsFile {
    version: u32,
    max_segments: usize,
    defaults: BTreeMap<String, String>,
    sample: BTreeMap<String, String>,
    sms: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RobocallFile {
    robocall: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptsFile {
    script: BTreeMap<String, ScriptTemplate>,
}

/// Something worth telling the analyst who edits templates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "warning", rename_all = "snake_case")]
pub enum TemplateWarning {
    /// The SMS needs more segments than allowed with the sample values.
    TooManySegments {
        key: TemplateKey,
        segments: usize,
        max: usize,
    },
    /// A template that does not name the hotline.
    NoHotline { kind: &'static str, key: TemplateKey },
    /// A fraud type without its own template (the generic one stands in).
    Missing { kind: &'static str, key: TemplateKey },
    /// The sample values cannot fill the template.
    SampleFails {
        kind: &'static str,
        key: TemplateKey,
        error: String,
    },
}

impl Serialize for TemplateKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

/// All templates, compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateSet {
    pub version: u32,
    /// Most segments an SMS may take before [`TemplateSet::check`] warns.
    pub max_segments: usize,
    defaults: Vars,
    sample: Vars,
    sms: BTreeMap<TemplateKey, Compiled>,
    robocall: BTreeMap<TemplateKey, Compiled>,
    scripts: BTreeMap<TemplateKey, ScriptTemplate>,
}

fn vars_from(file_key: &str, map: &BTreeMap<String, String>, base: Vars) -> Result<Vars, TemplateError> {
    let mut v = base;
    for (k, val) in map {
        let p = Placeholder::parse(k).filter(|p| *p != Placeholder::Name).ok_or_else(|| {
            TemplateError::Invalid {
                key: format!("{file_key}.{k}"),
                reason: "not a placeholder that takes a value (hotline, center, signature, station, contact_phone)"
                    .into(),
            }
        })?;
        v = v.set(p, val)?;
    }
    Ok(v)
}

fn keyed<T>(kind: &'static str, map: BTreeMap<String, T>) -> Result<BTreeMap<TemplateKey, T>, TemplateError> {
    let mut out = BTreeMap::new();
    for (k, v) in map {
        let key = TemplateKey::parse(&k).ok_or(TemplateError::UnknownKey { key: k })?;
        out.insert(key, v);
    }
    if !out.contains_key(&TemplateKey::Generic) {
        return Err(TemplateError::NoGeneric { kind });
    }
    Ok(out)
}

fn toml_err(file: &'static str) -> impl Fn(toml::de::Error) -> TemplateError {
    move |e| TemplateError::Toml {
        file,
        reason: e.to_string(),
    }
}

impl TemplateSet {
    /// The templates shipped with the product.
    pub fn builtin() -> Result<TemplateSet, TemplateError> {
        TemplateSet::parse(SMS_TOML, ROBOCALL_TOML, SCRIPTS_TOML)
    }

    /// Reads the three template files.
    pub fn parse(sms: &str, robocall: &str, scripts: &str) -> Result<TemplateSet, TemplateError> {
        let s: SmsFile = toml::from_str(sms).map_err(toml_err("sms.toml"))?;
        let r: RobocallFile = toml::from_str(robocall).map_err(toml_err("robocall.toml"))?;
        let c: ScriptsFile = toml::from_str(scripts).map_err(toml_err("scripts.toml"))?;
        if s.version == 0 {
            return Err(TemplateError::Invalid {
                key: "version".into(),
                reason: "must be 1 or more".into(),
            });
        }
        if !(1..=10).contains(&s.max_segments) {
            return Err(TemplateError::Invalid {
                key: "max_segments".into(),
                reason: "must be 1 to 10".into(),
            });
        }
        let defaults = vars_from("defaults", &s.defaults, Vars::empty())?;
        for p in [Placeholder::Hotline, Placeholder::Center, Placeholder::Signature] {
            if defaults.get(p).is_none() {
                return Err(TemplateError::Invalid {
                    key: format!("defaults.{}", p.code()),
                    reason: "is required".into(),
                });
            }
        }
        // The sample uses the longest salutation there is.
        let sample = vars_from("sample", &s.sample, defaults.clone())?
            .name(Salutation::of("欧阳明月", Some(Sex::Female)));
        let mut sms = BTreeMap::new();
        for (k, text) in keyed("sms", s.sms)? {
            sms.insert(k, Compiled::new("sms", k, &text)?);
        }
        let mut robocall = BTreeMap::new();
        for (k, text) in keyed("robocall", r.robocall)? {
            robocall.insert(k, Compiled::new("robocall", k, &text)?);
        }
        let scripts = keyed("script", c.script)?;
        for (k, sc) in &scripts {
            sc.check(*k)?;
        }
        Ok(TemplateSet {
            version: s.version,
            max_segments: s.max_segments,
            defaults,
            sample,
            sms,
            robocall,
            scripts,
        })
    }

    /// The default values (hotline, center, signature…), to which the
    /// caller adds the salutation and any local values.
    pub fn defaults(&self) -> Vars {
        self.defaults.clone()
    }

    /// The sample values used by [`TemplateSet::check`].
    pub fn sample(&self) -> &Vars {
        &self.sample
    }

    fn pick<T>(map: &BTreeMap<TemplateKey, T>, t: FraudType) -> Option<&T> {
        map.get(&TemplateKey::Type(t))
            .or_else(|| map.get(&TemplateKey::Generic))
    }

    /// The SMS template text for `t` (or the generic one).
    pub fn sms_text(&self, t: FraudType) -> &str {
        TemplateSet::pick(&self.sms, t)
            .map(|c| c.text.as_str())
            .unwrap_or_default()
    }

    /// The robocall script text for `t` (or the generic one).
    pub fn robocall_text(&self, t: FraudType) -> &str {
        TemplateSet::pick(&self.robocall, t)
            .map(|c| c.text.as_str())
            .unwrap_or_default()
    }

    /// The dissuasion script for `t` (or the generic one), unrendered.
    pub fn script(&self, t: FraudType) -> Option<&ScriptTemplate> {
        TemplateSet::pick(&self.scripts, t)
    }

    /// Whether `key` has its own template of each kind (sms, robocall, script).
    pub fn has_own(&self, key: TemplateKey) -> (bool, bool, bool) {
        (
            self.sms.contains_key(&key),
            self.robocall.contains_key(&key),
            self.scripts.contains_key(&key),
        )
    }

    /// The warning SMS for fraud type `t`, rendered.
    pub fn render_sms(&self, t: FraudType, vars: &Vars) -> Result<SmsText, TemplateError> {
        let c = TemplateSet::pick(&self.sms, t).ok_or(TemplateError::NoGeneric { kind: "sms" })?;
        Ok(count_sms(&fill(&c.pieces, vars)?))
    }

    /// The robocall script for `t`, rendered.
    pub fn render_robocall(&self, t: FraudType, vars: &Vars) -> Result<String, TemplateError> {
        let c = TemplateSet::pick(&self.robocall, t).ok_or(TemplateError::NoGeneric { kind: "robocall" })?;
        fill(&c.pieces, vars)
    }

    /// The dissuasion script for `t`, rendered.
    pub fn render_script(&self, t: FraudType, vars: &Vars) -> Result<ScriptTemplate, TemplateError> {
        self.script(t)
            .ok_or(TemplateError::NoGeneric { kind: "script" })?
            .render(vars)
    }

    /// The SMS template text for `key` (its own, else the generic one).
    pub fn sms_of(&self, key: TemplateKey) -> &str {
        self.sms
            .get(&key)
            .or_else(|| self.sms.get(&TemplateKey::Generic))
            .map(|c| c.text.as_str())
            .unwrap_or_default()
    }

    /// The robocall script text for `key` (its own, else the generic one).
    pub fn robocall_of(&self, key: TemplateKey) -> &str {
        self.robocall
            .get(&key)
            .or_else(|| self.robocall.get(&TemplateKey::Generic))
            .map(|c| c.text.as_str())
            .unwrap_or_default()
    }

    /// The dissuasion script for `key` (its own, else the generic one), unrendered.
    pub fn script_of(&self, key: TemplateKey) -> Option<&ScriptTemplate> {
        self.scripts
            .get(&key)
            .or_else(|| self.scripts.get(&TemplateKey::Generic))
    }

    /// The SMS for `key` filled with the sample values and the longest
    /// salutation: its length and segments as an editor should see them.
    pub fn measure_sms(&self, key: TemplateKey) -> Result<SmsText, TemplateError> {
        let c = self
            .sms
            .get(&key)
            .or_else(|| self.sms.get(&TemplateKey::Generic))
            .ok_or(TemplateError::NoGeneric { kind: "sms" })?;
        Ok(count_sms(&fill(&c.pieces, &self.sample)?))
    }

    /// Replaces (or adds) one SMS template, e.g. an analyst's override.
    pub fn set_sms(&mut self, key: TemplateKey, text: &str) -> Result<(), TemplateError> {
        self.sms.insert(key, Compiled::new("sms", key, text)?);
        Ok(())
    }

    /// Replaces (or adds) one robocall script.
    pub fn set_robocall(&mut self, key: TemplateKey, text: &str) -> Result<(), TemplateError> {
        self.robocall.insert(key, Compiled::new("robocall", key, text)?);
        Ok(())
    }

    /// Replaces (or adds) one dissuasion script.
    pub fn set_script(&mut self, key: TemplateKey, script: ScriptTemplate) -> Result<(), TemplateError> {
        script.check(key)?;
        self.scripts.insert(key, script);
        Ok(())
    }

    /// Checks the set as an editor would want: each SMS within
    /// `max_segments` with the sample values, the hotline named in every SMS
    /// and robocall script, every fraud type covered.
    pub fn check(&self) -> Vec<TemplateWarning> {
        let mut out = Vec::new();
        for key in TemplateKey::all() {
            let (sms, robocall, script) = self.has_own(key);
            for (kind, has) in [("sms", sms), ("robocall", robocall), ("script", script)] {
                if !has {
                    out.push(TemplateWarning::Missing { kind, key });
                }
            }
        }
        for (key, c) in &self.sms {
            match fill(&c.pieces, &self.sample) {
                Ok(text) => {
                    let m = count_sms(&text);
                    if m.segments > self.max_segments {
                        out.push(TemplateWarning::TooManySegments {
                            key: *key,
                            segments: m.segments,
                            max: self.max_segments,
                        });
                    }
                }
                Err(e) => out.push(TemplateWarning::SampleFails {
                    kind: "sms",
                    key: *key,
                    error: e.to_string(),
                }),
            }
            if !c.uses(Placeholder::Hotline) {
                out.push(TemplateWarning::NoHotline {
                    kind: "sms",
                    key: *key,
                });
            }
        }
        for (key, c) in &self.robocall {
            if let Err(e) = fill(&c.pieces, &self.sample) {
                out.push(TemplateWarning::SampleFails {
                    kind: "robocall",
                    key: *key,
                    error: e.to_string(),
                });
            }
            if !c.uses(Placeholder::Hotline) {
                out.push(TemplateWarning::NoHotline {
                    kind: "robocall",
                    key: *key,
                });
            }
        }
        for (key, s) in &self.scripts {
            if let Err(e) = s.render(&self.sample) {
                out.push(TemplateWarning::SampleFails {
                    kind: "script",
                    key: *key,
                    error: e.to_string(),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salutations() {
        assert_eq!(Salutation::of("张三", Some(Sex::Male)).as_str(), "张先生");
        assert_eq!(Salutation::of("欧阳娜娜", Some(Sex::Female)).as_str(), "欧阳女士");
        assert_eq!(Salutation::of("欧阳", Some(Sex::Female)).as_str(), "欧女士");
        assert_eq!(Salutation::of("张三", None).as_str(), "");
        assert_eq!(Salutation::of("阿依古丽·买买提", Some(Sex::Female)).as_str(), "");
        assert_eq!(Salutation::of("John Smith", Some(Sex::Male)).as_str(), "");
    }

    #[test]
    fn placeholders_parse() {
        let v = Vars::empty()
            .set(Placeholder::Hotline, "96110")
            .unwrap()
            .name(Salutation::of("李四", Some(Sex::Male)));
        assert_eq!(
            render_sms("{name}您好，请拨{hotline}。{{x}}", &v).unwrap().text,
            "李先生您好，请拨96110。{x}"
        );
        assert!(matches!(
            render_sms("{phone}", &v),
            Err(TemplateError::UnknownPlaceholder { .. })
        ));
        assert!(matches!(
            render_sms("{name", &v),
            Err(TemplateError::Malformed { .. })
        ));
        assert!(matches!(
            render_sms("a}b", &v),
            Err(TemplateError::Malformed { .. })
        ));
        assert_eq!(
            render_sms("{station}", &v),
            Err(TemplateError::MissingValue {
                placeholder: "station"
            })
        );
        assert_eq!(
            Vars::empty().set(Placeholder::Name, "张三"),
            Err(TemplateError::NameNeedsSalutation)
        );
        assert!(Vars::empty().set(Placeholder::Center, "a{b}").is_err());
    }
}
