//! The translations stay complete: every string a person sees is marked, the template
//! (`po/org.quicchat.Chat.pot`) holds all of them, and every language in `po/LINGUAS` translates
//! every one, with nothing fuzzy. Checked with gettext's own tools.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn languages() -> Vec<String> {
    std::fs::read_to_string(root().join("po/LINGUAS"))
        .expect("po/LINGUAS")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Every file under `dir` whose name ends in `ext`, relative to the repository's root.
fn files(dir: &str, ext: &str) -> Vec<String> {
    fn walk(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("readable folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, ext, out);
            } else if path.to_string_lossy().ends_with(ext) {
                out.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&root().join(dir), ext, &mut found);
    let mut names: Vec<String> = found
        .iter()
        .map(|p| {
            p.strip_prefix(root())
                .expect("under the root")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn the_template_holds_every_marked_string() {
    let out = Command::new("sh")
        .arg(root().join("scripts/update-po.sh"))
        .arg("--check")
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_language_translates_every_string() {
    let languages = languages();
    assert!(languages.contains(&"de".to_owned()), "{languages:?}");
    let pot = root().join("po/org.quicchat.Chat.pot");
    for lang in languages {
        let po = root().join(format!("po/{lang}.po"));
        let out = Command::new("msgfmt")
            .args(["--check", "--statistics", "-o", "/dev/null"])
            .arg(&po)
            .output()
            .expect("msgfmt runs (scripts/setup.sh installs gettext)");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{lang}.po: {said}");
        assert!(
            !said.contains("untranslated") && !said.contains("fuzzy"),
            "{lang}.po is not complete: {said}"
        );
        // Every string of the template is in the translation (not only those it happens to have).
        let out = Command::new("msgcmp")
            .arg(&po)
            .arg(&pot)
            .output()
            .expect("msgcmp runs");
        assert!(
            out.status.success(),
            "{lang}.po lacks strings of the template; run scripts/update-po.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn every_file_with_strings_is_listed_in_potfiles() {
    let potfiles = std::fs::read_to_string(root().join("po/POTFILES")).expect("po/POTFILES");
    let listed: Vec<&str> = potfiles
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    let mut wanted = files("client-gtk/src", ".ui");
    wanted.extend(files("client-gtk/src", ".rs").into_iter().filter(|f| {
        !f.ends_with("/i18n.rs")
            && std::fs::read_to_string(root().join(f))
                .expect("readable")
                .contains("gettext(")
    }));
    for file in wanted {
        assert!(
            listed.contains(&file.as_str()),
            "po/POTFILES does not list {file}"
        );
    }
    for file in listed {
        assert!(root().join(file).is_file(), "po/POTFILES lists {file}");
    }
}

/// Properties of GTK and libadwaita objects that hold text a person reads.
const TEXT_PROPERTIES: &[&str] = &[
    "label",
    "title",
    "subtitle",
    "description",
    "tooltip-text",
    "placeholder-text",
];

#[test]
fn every_text_in_the_templates_is_translatable() {
    let mut unmarked = Vec::new();
    for file in files("client-gtk/src", ".ui") {
        let text = std::fs::read_to_string(root().join(&file)).expect("readable");
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            let is_text = TEXT_PROPERTIES.iter().any(|p| {
                line.starts_with(&format!("<property name=\"{p}\""))
                    || line.starts_with(&format!("<attribute name=\"{p}\""))
            });
            // A text with content (not an empty element) that is not marked.
            if is_text && !line.ends_with("/>") && !line.contains("translatable=\"yes\"") {
                unmarked.push(format!("{file}:{}: {line}", n + 1));
            }
        }
    }
    assert!(
        unmarked.is_empty(),
        "not translatable:\n{}",
        unmarked.join("\n")
    );
}

/// Calls that put text on screen; their text must come from gettext, not a literal or `format!`.
const SHOWING_CALLS: &[&str] = &[
    "set_label(",
    "set_title(",
    "set_subtitle(",
    "set_text(",
    "set_tooltip_text(",
    "set_placeholder_text(",
    "set_description(",
    "show_error(",
    "show_banner(",
    "add_system(",
    "emit_toast(",
    "toast(",
    "Toast::new(",
    "Label::new(",
    "set_status(",
];

#[test]
fn no_text_on_screen_bypasses_gettext() {
    let mut bypassing = Vec::new();
    for file in files("client-gtk/src", ".rs") {
        let text = std::fs::read_to_string(root().join(&file)).expect("readable");
        // Unit tests may build rows from literals.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in code.lines().enumerate() {
            for call in SHOWING_CALLS {
                let Some(at) = line.find(call) else { continue };
                let argument = line[at + call.len()..]
                    .trim_start_matches("Some(")
                    .trim_start_matches('&')
                    .trim_start();
                // An empty literal shows nothing; anything else must be translated.
                if (argument.starts_with('"') && !argument.starts_with("\"\""))
                    || argument.starts_with("format!(")
                {
                    bypassing.push(format!("{file}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        bypassing.is_empty(),
        "shown without gettext:\n{}",
        bypassing.join("\n")
    );
}
