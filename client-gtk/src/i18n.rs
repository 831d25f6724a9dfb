//! Translations with gettext: the text domain is the app id, the catalogues are `po/*.po` compiled
//! to `.mo` files.
//!
//! An installed chat-gtk finds them beside its binary, in `<prefix>/share/locale` (where
//! `scripts/install-desktop.sh` and the Flatpak manifest put them); a development build (`cargo run`,
//! the tests) uses the copies `build.rs` compiled into the build folder. GtkBuilder translates the
//! templates' `translatable="yes"` strings through the same domain, so [`init`] must run before the
//! first widget is built.
//!
//! Formatted strings keep named placeholders in the catalogue (`"{user} joined"`), filled in by
//! [`fill`], so a translation can move them where its grammar wants them.

use std::path::{Path, PathBuf};

use gettextrs::{bind_textdomain_codeset, bindtextdomain, textdomain};
pub use gettextrs::{gettext, ngettext};

use crate::application::APP_ID;

/// The gettext domain: the catalogues are `<locale dir>/<lang>/LC_MESSAGES/org.quicchat.Chat.mo`.
pub const DOMAIN: &str = APP_ID;

/// The catalogues `build.rs` compiled for this build.
const BUILT_LOCALE_DIR: &str = concat!(env!("OUT_DIR"), "/locale");

/// Binds the app's catalogues. The language comes from the environment (`LANGUAGE`, `LC_ALL`,
/// `LC_MESSAGES`, `LANG`) through the locale GTK sets when it initialises; untranslated strings
/// and unknown languages fall back to English.
pub fn init() {
    let dir = locale_dir();
    let bound = bindtextdomain(DOMAIN, dir.as_path())
        .and_then(|_| bind_textdomain_codeset(DOMAIN, "UTF-8"))
        .and_then(|_| textdomain(DOMAIN));
    if let Err(e) = bound {
        tracing::warn!(error = %e, dir = %dir.display(), "translations unavailable");
    }
}

/// Where the catalogues are: the install prefix of the running binary if it has ours, else this
/// build's own.
pub fn locale_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| installed_locale_dir(&exe))
        .unwrap_or_else(|| PathBuf::from(BUILT_LOCALE_DIR))
}

/// `<prefix>/share/locale` for `<prefix>/bin/chat-gtk`, when it holds at least one of our catalogues.
fn installed_locale_dir(exe: &Path) -> Option<PathBuf> {
    let dir = exe.parent()?.parent()?.join("share/locale");
    let mo = format!("LC_MESSAGES/{DOMAIN}.mo");
    let has_ours = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(Result::ok)
        .any(|lang| lang.path().join(&mo).is_file());
    has_ours.then_some(dir)
}

/// Fills `{name}` placeholders of a translated template: `fill(&gettext("{user} joined"),
/// &[("user", "ann")])`. One pass over the template: a value that itself contains `{…}` (a line
/// somebody typed) is inserted as it is, never filled in turn. Unknown placeholders stay visible.
pub fn fill(template: &str, args: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let name = &after[..close];
            args.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, value)| (*value, close))
        });
        match value {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_replaces_every_named_placeholder_wherever_it_stands() {
        assert_eq!(
            fill("{n} on {server}, {n}", &[("n", "ann"), ("server", "x:1")]),
            "ann on x:1, ann"
        );
        assert_eq!(fill("no placeholders", &[("n", "ann")]), "no placeholders");
        assert_eq!(fill("{unknown} {", &[("n", "ann")]), "{unknown} {");
    }

    #[test]
    fn a_value_with_braces_is_inserted_as_typed() {
        assert_eq!(
            fill(
                "{sender}: {text}",
                &[("sender", "{text}"), ("text", "hi {sender}")]
            ),
            "{text}: hi {sender}"
        );
    }

    #[test]
    fn an_install_prefix_without_our_catalogues_is_not_used() {
        let prefix = tempfile::tempdir().expect("tempdir");
        let exe = prefix.path().join("bin/chat-gtk");
        assert_eq!(installed_locale_dir(&exe), None);
        let lc = prefix.path().join("share/locale/de/LC_MESSAGES");
        std::fs::create_dir_all(&lc).expect("mkdir");
        assert_eq!(installed_locale_dir(&exe), None);
        std::fs::write(lc.join(format!("{DOMAIN}.mo")), b"").expect("write");
        assert_eq!(
            installed_locale_dir(&exe),
            Some(prefix.path().join("share/locale"))
        );
    }
}
