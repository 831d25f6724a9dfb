//! The systemd unit in `scripts/`: systemd accepts it, it keeps its hardening, and the command line
//! it starts, with the settings file installed beside it, is one `chat-server` really accepts.

use std::{path::PathBuf, process::Stdio, time::Duration};

const WAIT: Duration = Duration::from_secs(20);

fn script(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn unit_text() -> String {
    script("chat-server.service")
}

/// Where the unit reads its settings (installed from `scripts/chat-server.toml`).
const CONFIG: &str = "/etc/quic-chat/chat-server.toml";

/// The unit's `ExecStart` arguments after the binary.
fn exec_start_args(unit: &str) -> Vec<String> {
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("the unit has ExecStart");
    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/chat-server"));
    words.map(str::to_owned).collect()
}

#[test]
fn systemd_analyze_verify_accepts_the_unit_without_a_warning() {
    // `verify` checks that ExecStart's binary exists, so point it at the one cargo built.
    let unit = unit_text().replace(
        "/usr/local/bin/chat-server",
        env!("CARGO_BIN_EXE_chat-server"),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("chat-server.service");
    std::fs::write(&path, unit).expect("write the unit");
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze runs (package systemd)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // An unknown or misspelt key is only a warning on stderr: none is allowed.
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
}

#[test]
fn the_unit_keeps_its_hardening() {
    let unit = unit_text();
    for option in [
        "DynamicUser=yes",
        "StateDirectory=quic-chat",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "MemoryDenyWriteExecute=yes",
        "SystemCallFilter=@system-service",
        "ConfigurationDirectory=quic-chat",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(unit.contains(option), "the unit lost {option:?}");
    }
    assert_eq!(exec_start_args(&unit), ["--config", CONFIG]);
    // Everything the service writes is under its state directory.
    let settings: toml::Table = toml::from_str(&script("chat-server.toml")).expect("TOML");
    for (key, value) in &settings {
        if let Some(path) = value.as_str().filter(|v| v.starts_with('/')) {
            assert!(path.starts_with("/var/lib/quic-chat/"), "{key} = {path}");
        }
    }
}

/// The unit's command line, with its state directory moved to a temporary one and a free port, starts
/// a server that writes its certificates and history there, and stops on SIGTERM with status 0.
#[tokio::test]
async fn the_units_command_line_starts_the_server() {
    let state = tempfile::tempdir().expect("tempdir");
    let state_dir = state.path().display().to_string();
    let settings = script("chat-server.toml")
        .replace("/var/lib/quic-chat", &state_dir)
        .replace("[::]:1234", "127.0.0.1:0");
    let config = state.path().join("chat-server.toml");
    std::fs::write(&config, settings).expect("write the settings");
    let args: Vec<String> = exec_start_args(&unit_text())
        .into_iter()
        .map(|a| a.replace(CONFIG, &config.display().to_string()))
        .collect();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starts");
    let stdout = child.stdout.take().expect("stdout");
    tokio::time::timeout(WAIT, testkit::process::wait_until_listening(stdout))
        .await
        .expect("prints in time")
        .expect("listening: the unit's flags were accepted");
    assert!(state.path().join("certs/ca.pem").is_file());
    assert!(state.path().join("history.sqlite3").is_file());
    let pid = child.id().expect("pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let exit = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("exits in time")
        .expect("status");
    assert_eq!(exit.code(), Some(0));
}
