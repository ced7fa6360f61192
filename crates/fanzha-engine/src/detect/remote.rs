//! The curated list of remote-control and screen-sharing apps
//! (`remote_apps.toml`, embedded).

use serde::Deserialize;

/// The list shipped with the engine.
pub const BUILTIN_REMOTE_APPS: &str = include_str!("remote_apps.toml");

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RemoteAppsError {
    #[error("not valid TOML: {0}")]
    Toml(String),
    #[error("entry {index}: {reason}")]
    Entry { index: usize, reason: &'static str },
}

/// What kind of remote access an app gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemoteCategory {
    RemoteControl,
    ScreenShare,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    app: Vec<AppDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppDoc {
    name: String,
    category: RemoteCategory,
    #[serde(default)]
    package: Option<String>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    strength: Option<f32>,
}

/// One app of the list.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteApp {
    pub name: String,
    pub category: RemoteCategory,
    /// The package, or the prefix when `is_prefix`.
    pub package: String,
    pub is_prefix: bool,
    pub strength: f32,
}

/// The compiled list.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteApps {
    apps: Vec<RemoteApp>,
}

impl RemoteApps {
    pub fn builtin() -> Result<RemoteApps, RemoteAppsError> {
        RemoteApps::from_toml(BUILTIN_REMOTE_APPS)
    }

    pub fn from_toml(text: &str) -> Result<RemoteApps, RemoteAppsError> {
        let doc: FileDoc = toml::from_str(text).map_err(|e| RemoteAppsError::Toml(e.to_string()))?;
        let mut apps = Vec::with_capacity(doc.app.len());
        for (index, a) in doc.app.into_iter().enumerate() {
            let bad = |reason| RemoteAppsError::Entry { index, reason };
            let (package, is_prefix) = match (a.package, a.prefix) {
                (Some(p), None) => (p, false),
                (None, Some(p)) => (p, true),
                _ => return Err(bad("needs exactly one of `package` and `prefix`")),
            };
            if !fanzha_core::app::is_package_name(&package) {
                return Err(bad("not a package name"));
            }
            let strength = a.strength.unwrap_or(1.0);
            if !(strength > 0.0 && strength <= 1.0) {
                return Err(bad("strength must be above 0 and at most 1"));
            }
            apps.push(RemoteApp {
                name: a.name,
                category: a.category,
                package,
                is_prefix,
                strength,
            });
        }
        Ok(RemoteApps { apps })
    }

    pub(crate) fn add_package(&mut self, package: &str) {
        self.apps.push(RemoteApp {
            name: package.to_owned(),
            category: RemoteCategory::RemoteControl,
            package: package.to_owned(),
            is_prefix: false,
            strength: 1.0,
        });
    }

    pub fn apps(&self) -> &[RemoteApp] {
        &self.apps
    }

    /// The app a package belongs to, with its position in the list.
    pub fn find(&self, package: &str) -> Option<(usize, &RemoteApp)> {
        self.apps.iter().enumerate().find(|(_, a)| {
            if a.is_prefix {
                package
                    .strip_prefix(a.package.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
            } else {
                package == a.package
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_list_matches_packages_and_prefixes() {
        let r = RemoteApps::builtin().unwrap();
        assert!(r.apps().len() >= 12);
        assert_eq!(
            r.find("com.oray.sunlogin").unwrap().1.category,
            RemoteCategory::RemoteControl
        );
        assert!(r.find("com.oray.sunlogin.remote").is_some());
        assert!(r.find("com.oray.sunloginx").is_none());
        assert!(r.find("com.teamviewer.quicksupport.market").is_some());
        assert_eq!(
            r.find("com.tencent.wemeet.app").unwrap().1.category,
            RemoteCategory::ScreenShare
        );
        assert!(r.find("com.tencent.mm").is_none());
    }
}
