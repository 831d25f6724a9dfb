//! Compiles the GSettings schema into the build's own folder, so that a development build finds it
//! without installing anything (`settings::open` looks there when the schema is not installed;
//! `scripts/install-desktop.sh` installs and compiles it for real).

use std::{error::Error, path::PathBuf, process::Command};

const SCHEMA: &str = "data/org.quicchat.Chat.gschema.xml";

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={SCHEMA}");
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?).join("schemas");
    std::fs::create_dir_all(&out)?;
    std::fs::copy(SCHEMA, out.join("org.quicchat.Chat.gschema.xml"))?;
    let status = Command::new("glib-compile-schemas")
        .arg("--strict")
        .arg(&out)
        .status()
        .map_err(|e| format!("cannot run glib-compile-schemas (Debian: libglib2.0-bin): {e}"))?;
    if !status.success() {
        return Err(format!("glib-compile-schemas failed on {SCHEMA}: {status}").into());
    }
    Ok(())
}
