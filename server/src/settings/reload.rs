//! Re-reading the settings on `SIGHUP`.
//!
//! The file is read and checked exactly as at start (the same refusals, and the flags given on the
//! command line still win over it), then compared with the settings in force key by key. The keys
//! in [`LIVE`] are read wherever a new connection, session or line applies them, so they take
//! effect at once for what comes next (a session keeps the rate limit it started with). Every other
//! key is fixed when the server starts (sockets, certificates, the database, the cluster, QUIC
//! transport parameters, queue sizes, the log format): a change to one is reported as needing a
//! restart, and it stays reported on every reload until then.

use std::path::Path;

use clap::ArgMatches;

use super::{Settings, SettingsError, resolve};

/// Keys a reload applies at once.
pub const LIVE: &[&str] = &[
    "max-connections",
    "max-message-bytes",
    "max-messages-per-sec",
    "message-burst",
    "too-fast-strikes",
    "max-connections-per-ip",
    "retry-above-handshakes",
    "handshake-timeout-secs",
];

/// What a reload found.
#[derive(Debug)]
pub struct Reload {
    /// The settings now in force: the new values of the live keys, the old ones of the rest.
    pub settings: Settings,
    /// Live keys that changed, with the old and the new value.
    pub applied: Vec<(String, String, String)>,
    /// Keys that changed in the file but only take effect after a restart.
    pub need_restart: Vec<String>,
}

impl Reload {
    /// Reads `file` again (with the command line's flags over it) and compares it with `current`.
    pub fn read(
        current: &Settings,
        flags: &Settings,
        matches: &ArgMatches,
        file: &Path,
    ) -> Result<Self, SettingsError> {
        let wanted = resolve(flags, matches, Some(file))?;
        let table =
            |s: &Settings| toml::Table::try_from(s).map_err(|e| SettingsError::Rule(e.to_string()));
        let (old, new) = (table(current)?, table(&wanted)?);
        let mut merged = old.clone();
        let mut applied = Vec::new();
        let mut need_restart = Vec::new();
        for key in Settings::keys() {
            let (before, after) = (old.get(&key), new.get(&key));
            if before == after {
                continue;
            }
            let show =
                |v: Option<&toml::Value>| v.map_or("(not set)".to_owned(), ToString::to_string);
            if LIVE.contains(&key.as_str()) {
                applied.push((key.clone(), show(before), show(after)));
                match after {
                    Some(value) => merged.insert(key, value.clone()),
                    None => merged.remove(&key),
                };
            } else {
                need_restart.push(key);
            }
        }
        let settings = merged
            .try_into()
            .map_err(|e: toml::de::Error| SettingsError::Rule(e.message().to_owned()))?;
        Ok(Self {
            settings,
            applied,
            need_restart,
        })
    }
}
