//! The effective settings: defaults, then the file, then the flags given on the command line.
//!
//! clap fills every flag not given with its default, so the flags are told apart from the defaults by
//! `ArgMatches::value_source`; only those given on the command line are laid over the file. The rules
//! between keys (`cert` needs `key`, ...) are checked here, on the result, and not by clap: a file may
//! hold one half of a pair and a flag the other, and a flag wins over the file's key it excludes
//! (`--no-persist` over the file's `history-db`).

use std::path::Path;

use clap::{ArgMatches, parser::ValueSource};

use super::{Settings, SettingsError, file};

/// Keys that exclude each other.
const EXCLUSIVE: &[(&str, &str)] = &[
    ("cert", "cert-dir"),
    ("key", "cert-dir"),
    ("history-db", "no-persist"),
];

/// `flags` as parsed by clap from `matches`, laid over the file's settings when there is a file.
pub fn resolve(
    flags: &Settings,
    matches: &ArgMatches,
    file: Option<&Path>,
) -> Result<Settings, SettingsError> {
    let mut table = match file {
        Some(file) => file::read(file)?,
        None => toml::Table::new(),
    };
    let given: Vec<(String, toml::Value)> = toml::Table::try_from(flags)
        .map_err(|e| {
            SettingsError::Rule(format!(
                "a flag's value is beyond what a settings file holds (TOML integers are i64): {e}"
            ))
        })?
        .into_iter()
        .filter(|(key, _)| {
            matches.value_source(&key.replace('-', "_")) == Some(ValueSource::CommandLine)
        })
        .collect();
    for (key, _) in &given {
        for (a, b) in EXCLUSIVE {
            if key == a {
                table.remove(*b);
            } else if key == b {
                table.remove(*a);
            }
        }
    }
    table.extend(given);
    let settings: Settings = table
        .try_into()
        .map_err(|e: toml::de::Error| SettingsError::Rule(e.message().to_owned()))?;
    check(&settings)?;
    Ok(settings)
}

/// The rules between keys, on the merged settings.
fn check(settings: &Settings) -> Result<(), SettingsError> {
    let set = |key: &str| match key {
        "cert" => settings.cert.is_some(),
        "key" => settings.key.is_some(),
        "cert-dir" => settings.cert_dir.is_some(),
        "history-db" => settings.history_db.is_some(),
        "no-persist" => settings.no_persist,
        "cluster" => settings.cluster.is_some(),
        "node" => settings.node.is_some(),
        _ => false,
    };
    for (a, b) in EXCLUSIVE {
        if set(a) && set(b) {
            return Err(SettingsError::Rule(format!(
                "\"{a}\" (--{a}) and \"{b}\" (--{b}) cannot both be set"
            )));
        }
    }
    for (a, b) in [
        ("cert", "key"),
        ("key", "cert"),
        ("cluster", "node"),
        ("node", "cluster"),
    ] {
        if set(a) && !set(b) {
            return Err(SettingsError::Rule(format!(
                "\"{a}\" (--{a}) needs \"{b}\" (--{b})"
            )));
        }
    }
    Ok(())
}
