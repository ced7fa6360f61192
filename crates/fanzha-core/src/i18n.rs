//! The one message catalogue (DESIGN.md §8). Every user-facing string, in the
//! pages, the API's error messages, import reports and the CLI, is a key in
//! `catalog.tsv` with a Chinese and an English text. Chinese is the default.
//!
//! Texts may hold `{name}` placeholders, filled by [`Msg::render`].

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::LazyLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
    /// Parses `zh`, `zh-CN`, `en`, `en-US`…; anything else is `None`.
    pub fn parse(s: &str) -> Option<Lang> {
        let s = s.trim().to_ascii_lowercase();
        if s.starts_with("zh") {
            Some(Lang::Zh)
        } else if s.starts_with("en") {
            Some(Lang::En)
        } else {
            None
        }
    }
}

const CATALOG: &str = include_str!("catalog.tsv");

struct Catalog {
    map: HashMap<&'static str, (&'static str, &'static str)>,
}

static CAT: LazyLock<Catalog> = LazyLock::new(|| {
    let mut map = HashMap::new();
    for line in CATALOG.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(3, '\t');
        if let (Some(k), Some(zh), Some(en)) = (parts.next(), parts.next(), parts.next()) {
            map.insert(k, (zh, en));
        }
    }
    Catalog { map }
});

/// The text for `key` in `lang`, or the key itself when it is missing (a test
/// checks that every key used by the code exists).
pub fn tr(lang: Lang, key: &str) -> &str {
    match CAT.map.get(key) {
        Some((zh, en)) => match lang {
            Lang::Zh => zh,
            Lang::En => en,
        },
        None => key,
    }
}

/// Whether the catalogue has `key`.
pub fn has(key: &str) -> bool {
    CAT.map.contains_key(key)
}

/// All keys, for completeness tests.
pub fn keys() -> impl Iterator<Item = &'static str> {
    CAT.map.keys().copied()
}

/// A translatable message: a catalogue key and its named arguments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Msg {
    pub key: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<(String, String)>,
    /// Arguments that are messages themselves, rendered in the same language.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nested: Vec<(String, Msg)>,
}

impl Msg {
    pub fn new(key: &str) -> Msg {
        Msg {
            key: key.to_string(),
            args: Vec::new(),
            nested: Vec::new(),
        }
    }
    pub fn arg(mut self, name: &str, value: impl ToString) -> Msg {
        self.args.push((name.to_string(), value.to_string()));
        self
    }
    /// An argument that is itself a message, e.g. the reason inside
    /// "row 3, column id_number: {reason}".
    pub fn arg_msg(mut self, name: &str, value: Msg) -> Msg {
        self.nested.push((name.to_string(), value));
        self
    }
    /// The message in `lang`, placeholders filled.
    pub fn render(&self, lang: Lang) -> String {
        let mut s = tr(lang, &self.key).to_string();
        for (k, v) in &self.args {
            s = s.replace(&format!("{{{k}}}"), v);
        }
        for (k, m) in &self.nested {
            s = s.replace(&format!("{{{k}}}"), &m.render(lang));
        }
        s
    }
}

impl std::fmt::Display for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(Lang::En))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for (n, line) in CATALOG.lines().enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parts: Vec<&str> = line.split('\t').collect();
            assert_eq!(parts.len(), 3, "catalog.tsv line {} must have key, zh, en", n + 1);
            assert!(!parts[1].is_empty() && !parts[2].is_empty(), "line {}", n + 1);
            assert!(
                seen.insert(parts[0]),
                "duplicate key {} on line {}",
                parts[0],
                n + 1
            );
        }
    }

    #[test]
    fn render_fills_args() {
        let m = Msg::new("import.row_error")
            .arg("row", 3)
            .arg("column", "id_number")
            .arg("reason", "x");
        assert!(m.render(Lang::En).contains('3'));
        assert_eq!(tr(Lang::Zh, "no.such.key"), "no.such.key");
        let nested = Msg::new("resident.field_error")
            .arg("column", "name")
            .arg_msg("reason", Msg::new("resident.name_empty"));
        assert_eq!(nested.render(Lang::En), "name: The name is empty");
        assert_eq!(nested.render(Lang::Zh), "name：姓名不能为空");
    }
}
