//! What chat-gtk remembers between runs, in GSettings (schema `org.quicchat.Chat`): the server and
//! name of the last sign-in, so the next start is one click, and the window's size.
//!
//! An installed schema (`scripts/install-desktop.sh`) is used first; a development build falls back to
//! the copy `build.rs` compiled into the build folder. Without either, nothing is remembered: losing
//! the settings costs the user two fields of typing, never a start.

use gtk::gio::{self, prelude::*};

use crate::application::APP_ID;

pub const DEFAULT_SERVER: &str = "localhost:1234";

/// The schema `build.rs` compiled for this build.
const BUILT_SCHEMAS: &str = concat!(env!("OUT_DIR"), "/schemas");

/// The app's schema: the installed one, else this build's own.
pub fn schema() -> Option<gio::SettingsSchema> {
    let installed = gio::SettingsSchemaSource::default();
    if let Some(schema) = installed.as_ref().and_then(|s| s.lookup(APP_ID, true)) {
        return Some(schema);
    }
    match gio::SettingsSchemaSource::from_directory(BUILT_SCHEMAS, installed.as_ref(), false) {
        Ok(built) => built.lookup(APP_ID, false),
        Err(e) => {
            tracing::warn!(error = %e, "no settings schema: nothing will be remembered");
            None
        }
    }
}

/// The user's settings (the session's default backend), if the schema is found.
pub fn open() -> Option<gio::Settings> {
    schema().map(|schema| gio::Settings::new_full(&schema, None::<&gio::SettingsBackend>, None))
}

/// The remembered sign-in: (server, name).
pub fn sign_in(settings: &gio::Settings) -> (String, String) {
    (
        settings.string("server").to_string(),
        settings.string("user").to_string(),
    )
}

/// Remembers a sign-in.
pub fn remember_sign_in(settings: &gio::Settings, server: &str, user: &str) {
    for (key, value) in [("server", server), ("user", user)] {
        if let Err(e) = settings.set_string(key, value) {
            tracing::warn!(key, error = %e, "cannot remember the sign-in");
        }
    }
}
