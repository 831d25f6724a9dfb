//! The programs of this build, found next to the running executable: a test runs from
//! `target/<profile>/deps/`, `chat-bench` from `target/<profile>/`, and cargo puts binaries in
//! `target/<profile>/` and examples in `target/<profile>/examples/`.
//!
//! Cargo builds another package's binaries only for a run that includes that package
//! (`cargo test --workspace` does; `cargo test -p bench` alone does not), so a missing binary is an
//! error that says which command builds it, never a silent skip.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// `chat-server` of this build; `CHAT_SERVER_BIN` overrides it.
pub fn chat_server() -> Result<PathBuf> {
    built(
        "CHAT_SERVER_BIN",
        Path::new("chat-server"),
        "cargo build -p server",
    )
}

/// `chat-floor` (the example `server/examples/chat_floor`) of this build; `CHAT_FLOOR_BIN`
/// overrides it.
pub fn chat_floor() -> Result<PathBuf> {
    built(
        "CHAT_FLOOR_BIN",
        &Path::new("examples").join("chat-floor"),
        "cargo build -p server --example chat-floor",
    )
}

fn built(env: &str, relative: &Path, build: &str) -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os(env) {
        return Ok(bin.into());
    }
    let profile_dir = profile_dir()?;
    let bin = profile_dir.join(relative);
    if !bin.is_file() {
        let profile = if profile_dir.ends_with("release") {
            " --release"
        } else {
            ""
        };
        bail!(
            "{} is missing: run `{build}{profile}` first (or `cargo test --workspace`, which builds \
             it), or point {env} at the binary",
            bin.display()
        );
    }
    Ok(bin)
}

/// `target/<profile>`: the running executable's directory, or its parent when that is `deps` (a
/// test harness) or `examples`.
fn profile_dir() -> Result<PathBuf> {
    let me = std::env::current_exe().context("cannot find the running executable")?;
    let dir = me
        .parent()
        .context("the running executable has no directory")?;
    Ok(match dir.file_name().and_then(|n| n.to_str()) {
        Some("deps" | "examples") => dir.parent().unwrap_or(dir).to_path_buf(),
        _ => dir.to_path_buf(),
    })
}
