//! The server and name from the last sign-in, so the next start is one click.
//!
//! A tiny JSON file in the user's config directory (`~/.config/quicchat/sign-in.json` on Linux). A
//! missing or unreadable file just means defaults: losing it costs the user two fields of typing.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const DEFAULT_SERVER: &str = "localhost:1234";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub server: String,
    pub user: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            server: DEFAULT_SERVER.to_owned(),
            user: String::new(),
        }
    }
}

impl Settings {
    /// Where the settings live for this user, if the platform has a config directory.
    pub fn default_path() -> Option<PathBuf> {
        directories::ProjectDirs::from("org", "quicchat", "quicchat")
            .map(|dirs| dirs.config_dir().join("sign-in.json"))
    }

    pub fn load(path: &Path) -> Self {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_falls_back_to_defaults() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sub/sign-in.json");
        assert_eq!(Settings::load(&path), Settings::default());
        let saved = Settings {
            server: "chat.example:4433".into(),
            user: "ann".into(),
        };
        saved.save(&path).expect("save");
        assert_eq!(Settings::load(&path), saved);
        std::fs::write(&path, "not json").expect("overwrite");
        assert_eq!(Settings::load(&path).server, DEFAULT_SERVER);
    }
}
