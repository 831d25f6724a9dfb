//! What installs `chat-gtk` into a desktop: the `.desktop` file, the AppStream metainfo, the icon, the
//! install script and the Flatpak manifest, each checked by the tool that consumes it.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use client_gtk::APP_ID;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn data(file: &str) -> PathBuf {
    root().join("client-gtk/data").join(file)
}

/// Runs a checking tool; it must succeed and say nothing but its `success_line`, if it has one.
fn passes(tool: &str, args: &[&str], path: &Path, success_line: Option<&str>) {
    let out = Command::new(tool)
        .args(args)
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("{tool} runs (scripts/setup.sh installs it): {e}"));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let noise: Vec<&str> = said
        .lines()
        .filter(|l| !l.trim().is_empty() && success_line.is_none_or(|ok| !l.contains(ok)))
        .collect();
    assert!(
        out.status.success() && noise.is_empty(),
        "{tool} {}: {said}",
        path.display()
    );
}

#[test]
fn the_desktop_file_validates() {
    let desktop = data(&format!("{APP_ID}.desktop"));
    passes("desktop-file-validate", &[], &desktop, None);
    let text = std::fs::read_to_string(&desktop).expect("readable");
    assert!(text.contains("\nExec=chat-gtk"), "{text}");
    assert!(text.contains(&format!("\nIcon={APP_ID}\n")), "{text}");
}

#[test]
fn the_metainfo_validates_strictly_and_names_the_app() {
    let metainfo = data(&format!("{APP_ID}.metainfo.xml"));
    // --strict fails on anything above pedantic (GNOME's app ids have capitals, a pedantic note).
    passes(
        "appstreamcli",
        &["validate", "--no-net", "--strict"],
        &metainfo,
        Some("Validation was successful"),
    );
    let text = std::fs::read_to_string(&metainfo).expect("readable");
    for needed in [
        format!("<id>{APP_ID}</id>"),
        format!("<launchable type=\"desktop-id\">{APP_ID}.desktop</launchable>"),
        "<binary>chat-gtk</binary>".to_owned(),
        format!("<translation type=\"gettext\">{APP_ID}</translation>"),
        "<content_rating type=\"oars-1.1\">".to_owned(),
        "<release version=\"".to_owned() + env!("CARGO_PKG_VERSION") + "\"",
        "<screenshot type=\"default\">".to_owned(),
    ] {
        assert!(text.contains(&needed), "metainfo lacks {needed}");
    }
}

#[test]
fn the_install_script_installs_every_file() {
    let prefix = tempfile::tempdir().expect("tempdir");
    let status = Command::new("sh")
        .arg(root().join("scripts/install-desktop.sh"))
        .env("PREFIX", prefix.path())
        .env("BINARY", env!("CARGO_BIN_EXE_chat-gtk"))
        .output()
        .expect("sh runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    for installed in [
        "bin/chat-gtk".to_owned(),
        format!("share/applications/{APP_ID}.desktop"),
        format!("share/metainfo/{APP_ID}.metainfo.xml"),
        format!("share/icons/hicolor/scalable/apps/{APP_ID}.svg"),
        format!("share/icons/hicolor/symbolic/apps/{APP_ID}-symbolic.svg"),
        format!("share/glib-2.0/schemas/{APP_ID}.gschema.xml"),
        "share/glib-2.0/schemas/gschemas.compiled".to_owned(),
        format!("share/locale/de/LC_MESSAGES/{APP_ID}.mo"),
    ] {
        assert!(prefix.path().join(&installed).is_file(), "{installed}");
    }
    // PNG sizes are rendered when the renderer is there (scripts/setup.sh installs it).
    if Command::new("rsvg-convert")
        .arg("--version")
        .output()
        .is_ok()
    {
        for size in [16, 24, 32, 48, 64, 128, 256, 512] {
            let png = prefix.path().join(format!(
                "share/icons/hicolor/{size}x{size}/apps/{APP_ID}.png"
            ));
            let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
            // A PNG's IHDR holds its width and height, big-endian, at bytes 16..24.
            assert!(bytes.starts_with(b"\x89PNG"), "{}", png.display());
            let width = u32::from_be_bytes(bytes[16..20].try_into().expect("4 bytes"));
            let height = u32::from_be_bytes(bytes[20..24].try_into().expect("4 bytes"));
            assert_eq!((width, height), (size, size), "{}", png.display());
        }
    }

    // The installed launcher names the installed binary by its full path, and still validates.
    let desktop = prefix
        .path()
        .join(format!("share/applications/{APP_ID}.desktop"));
    let text = std::fs::read_to_string(&desktop).expect("readable");
    let exec = format!("Exec={}/bin/chat-gtk", prefix.path().display());
    assert!(text.contains(&exec), "{text}");
    // ... and carries its translations, as does the metainfo; both still validate.
    assert!(
        text.contains("\nComment[de]=Mit allen auf einem QUIC-Chat-Server sprechen\n"),
        "{text}"
    );
    passes("desktop-file-validate", &[], &desktop, None);
    let metainfo = prefix
        .path()
        .join(format!("share/metainfo/{APP_ID}.metainfo.xml"));
    let text = std::fs::read_to_string(&metainfo).expect("readable");
    assert!(
        text.contains("<summary xml:lang=\"de\">Mit Ihrem Team auf einem"),
        "{text}"
    );
    passes(
        "appstreamcli",
        &["validate", "--no-net", "--strict"],
        &metainfo,
        Some("Validation was successful"),
    );
}

#[test]
fn the_flatpak_manifest_parses_and_installs_what_the_app_needs() {
    let manifest = root().join(format!("flatpak/{APP_ID}.json"));
    // It leaves a .flatpak-builder state folder where it runs: not in the source tree.
    let scratch = tempfile::tempdir().expect("tempdir");
    let out = Command::new("flatpak-builder")
        .current_dir(scratch.path())
        .arg("--show-manifest")
        .arg(&manifest)
        .output()
        .expect("flatpak-builder runs (scripts/setup.sh installs it)");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shown.contains(&format!("\"id\" : \"{APP_ID}\"")), "{shown}");
    assert!(shown.contains("\"command\" : \"chat-gtk\""), "{shown}");
    for file in [
        format!("client-gtk/data/{APP_ID}.desktop"),
        format!("client-gtk/data/{APP_ID}.metainfo.xml"),
        format!("client-gtk/data/{APP_ID}.svg"),
        format!("client-gtk/data/{APP_ID}-symbolic.svg"),
        format!("client-gtk/data/{APP_ID}.gschema.xml"),
        "po/LINGUAS".to_owned(),
    ] {
        assert!(root().join(&file).is_file(), "{file}");
        assert!(
            shown.contains(&file),
            "the manifest does not install {file}"
        );
    }
    // cargo-sources.json was expanded into the manifest: one archive per locked crate.
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).expect("Cargo.lock");
    let crates = lock.matches("\nchecksum = ").count();
    assert!(crates > 100, "{crates}");
    assert_eq!(
        shown.matches("https://static.crates.io/crates/").count(),
        crates
    );
}

#[test]
fn the_flatpak_cargo_sources_match_cargo_lock() {
    let out = Command::new("python3")
        .arg(root().join("scripts/flatpak-cargo-sources.py"))
        .arg("--check")
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
