//! Reading a configuration file. Each key is checked on its own (is it a flag's name? does its value
//! parse as that flag's?), so a refusal says which key and why instead of a position in the text;
//! an operator editing `/etc` over SSH should not have to count columns.

use std::path::{Path, PathBuf};

use super::Settings;

/// Why the settings were refused. `chat-server` prints it and exits with status 2, like clap.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{}: cannot read: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not valid TOML: {reason}", file.display())]
    Syntax { file: PathBuf, reason: String },
    #[error("{}: key \"{key}\": {reason}", file.display())]
    Key {
        file: PathBuf,
        key: String,
        reason: String,
    },
    /// Two keys (or flags) that do not go together, or one that needs another.
    #[error("{0}")]
    Rule(String),
}

/// The file's keys and values, each key known and each value valid for it.
pub fn read(file: &Path) -> Result<toml::Table, SettingsError> {
    let text = std::fs::read_to_string(file).map_err(|source| SettingsError::Read {
        file: file.to_owned(),
        source,
    })?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| SettingsError::Syntax {
        file: file.to_owned(),
        reason: e.to_string().trim_end().to_owned(),
    })?;
    let keys = Settings::keys();
    for (key, value) in &table {
        let refuse = |reason: String| SettingsError::Key {
            file: file.to_owned(),
            key: key.clone(),
            reason,
        };
        if !keys.contains(key) {
            return Err(refuse(match closest(key, &keys) {
                Some(known) => format!("unknown key (did you mean \"{known}\"?)"),
                None => "unknown key (`chat-server --help` lists the keys: the long flags' names)"
                    .to_owned(),
            }));
        }
        let alone = toml::Table::from_iter([(key.clone(), value.clone())]);
        alone
            .try_into::<Settings>()
            .map_err(|e| refuse(e.message().trim_end().to_owned()))?;
    }
    Ok(table)
}

/// The known key nearest to a misspelt one, if it is near enough to be what was meant.
fn closest<'k>(key: &str, keys: &'k [String]) -> Option<&'k str> {
    let key = key.replace('_', "-").to_lowercase();
    keys.iter()
        .map(|known| (strsim::levenshtein(&key, known), known))
        .filter(|(distance, known)| *distance <= 3.max(known.len() / 4))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, known)| known.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_are_suggested_and_strangers_are_not() {
        let keys = Settings::keys();
        assert_eq!(
            closest("max-mesage-bytes", &keys),
            Some("max-message-bytes")
        );
        assert_eq!(
            closest("max_message_bytes", &keys),
            Some("max-message-bytes")
        );
        assert_eq!(closest("lisen", &keys), Some("listen"));
        assert_eq!(closest("database-password", &keys), None);
    }
}
