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

#[cfg(test)]
mod tests {
    use clap::{Args as _, FromArgMatches as _};

    use super::*;

    /// The flags of a command line, as `main` parses them.
    fn command_line(args: &[&str]) -> (Settings, ArgMatches) {
        let matches = Settings::augment_args(clap::Command::new("chat-server"))
            .try_get_matches_from(std::iter::once("chat-server").chain(args.iter().copied()))
            .expect("valid flags");
        let flags = Settings::from_arg_matches(&matches).expect("settings");
        (flags, matches)
    }

    #[test]
    fn live_keys_are_applied_and_the_others_wait_for_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("chat.toml");
        let (flags, matches) = command_line(&["--too-fast-strikes", "3"]);
        std::fs::write(&file, "listen = \"127.0.0.1:1\"\nmax-message-bytes = 10\n").expect("write");
        let current = resolve(&flags, &matches, Some(&file)).expect("valid");

        std::fs::write(
            &file,
            "listen = \"127.0.0.1:2\"\nmax-message-bytes = 20\ntoo-fast-strikes = 9\n",
        )
        .expect("write");
        let reload = Reload::read(&current, &flags, &matches, &file).expect("valid");
        assert_eq!(
            reload.applied,
            [(
                "max-message-bytes".to_owned(),
                "10".to_owned(),
                "20".to_owned()
            )]
        );
        // The flag still wins over the file's too-fast-strikes: nothing to apply there.
        assert_eq!(reload.need_restart, ["listen"]);
        assert_eq!(reload.settings.max_message_bytes, 20);
        assert_eq!(reload.settings.too_fast_strikes, 3);
        assert_eq!(reload.settings.listen, current.listen, "not rebound");

        // Until the restart, every reload says so again; applied keys are not applied twice.
        let again = Reload::read(&reload.settings, &flags, &matches, &file).expect("valid");
        assert!(again.applied.is_empty());
        assert_eq!(again.need_restart, ["listen"]);
    }

    #[test]
    fn every_live_key_is_a_key() {
        let keys = Settings::keys();
        for key in LIVE {
            assert!(keys.iter().any(|k| k == key), "{key}");
        }
    }
}
