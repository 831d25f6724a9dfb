//! Compiles what a development build needs into the build's own folder, so that `cargo run` and the
//! tests find it without installing anything (`scripts/install-desktop.sh` installs it for real):
//! the GSettings schema (`settings::open` looks there when the schema is not installed), the
//! translations, `po/<lang>.po` to `locale/<lang>/LC_MESSAGES/org.quicchat.Chat.mo` (`i18n`), and
//! the app's icons in a hicolor layout (the About window and the window icon find them there).

use std::{
    error::Error,
    path::{Path, PathBuf},
    process::Command,
};

const SCHEMA: &str = "data/org.quicchat.Chat.gschema.xml";
const PO_DIR: &str = "../po";
const DOMAIN: &str = "org.quicchat.Chat";

fn main() -> Result<(), Box<dyn Error>> {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    compile_schema(&out.join("schemas"))?;
    compile_translations(&out.join("locale"))?;
    copy_icons(&out.join("icons/hicolor"))?;
    Ok(())
}

fn copy_icons(hicolor: &Path) -> Result<(), Box<dyn Error>> {
    for (file, size) in [
        ("org.quicchat.Chat.svg", "scalable"),
        ("org.quicchat.Chat-symbolic.svg", "symbolic"),
    ] {
        let source = format!("data/{file}");
        println!("cargo:rerun-if-changed={source}");
        let dir = hicolor.join(size).join("apps");
        std::fs::create_dir_all(&dir)?;
        std::fs::copy(&source, dir.join(file))?;
    }
    Ok(())
}

fn compile_schema(out: &Path) -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={SCHEMA}");
    std::fs::create_dir_all(out)?;
    std::fs::copy(SCHEMA, out.join("org.quicchat.Chat.gschema.xml"))?;
    run(
        Command::new("glib-compile-schemas")
            .arg("--strict")
            .arg(out),
        "glib-compile-schemas (Debian: libglib2.0-bin)",
    )
}

/// Every language named in `po/LINGUAS`, and no other (a language dropped from it goes away here).
fn compile_translations(out: &Path) -> Result<(), Box<dyn Error>> {
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    let linguas = format!("{PO_DIR}/LINGUAS");
    println!("cargo:rerun-if-changed={linguas}");
    let languages =
        std::fs::read_to_string(&linguas).map_err(|e| format!("cannot read {linguas}: {e}"))?;
    for lang in languages
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let po = format!("{PO_DIR}/{lang}.po");
        println!("cargo:rerun-if-changed={po}");
        let dir = out.join(lang).join("LC_MESSAGES");
        std::fs::create_dir_all(&dir)?;
        run(
            Command::new("msgfmt")
                .arg("--check")
                .arg("-o")
                .arg(dir.join(format!("{DOMAIN}.mo")))
                .arg(&po),
            "msgfmt (Debian: gettext)",
        )?;
    }
    Ok(())
}

fn run(command: &mut Command, tool: &str) -> Result<(), Box<dyn Error>> {
    let status = command
        .status()
        .map_err(|e| format!("cannot run {tool}: {e}"))?;
    if !status.success() {
        return Err(format!("{tool} failed: {status} ({command:?})").into());
    }
    Ok(())
}
