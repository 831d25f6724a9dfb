//! The systemd unit in `scripts/`: systemd accepts it, it keeps its hardening, and the command line
//! it starts is one `chat-server` really accepts.

use std::{path::PathBuf, process::Stdio, time::Duration};

const WAIT: Duration = Duration::from_secs(20);

fn unit_text() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/chat-server.service");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

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
    ] {
        assert!(unit.contains(option), "the unit lost {option:?}");
    }
    // Everything the service writes is under its state directory.
    for arg in exec_start_args(&unit) {
        if arg.starts_with('/') {
            assert!(arg.starts_with("/var/lib/quic-chat/"), "{arg}");
        }
    }
}

/// The unit's command line, with its state directory moved to a temporary one and a free port, starts
/// a server that writes its certificates and history there, and stops on SIGTERM with status 0.
#[tokio::test]
async fn the_units_command_line_starts_the_server() {
    let state = tempfile::tempdir().expect("tempdir");
    let state_dir = state.path().display().to_string();
    let args: Vec<String> = exec_start_args(&unit_text())
        .into_iter()
        .map(|a| {
            a.replace("/var/lib/quic-chat", &state_dir)
                .replace("[::]:1234", "127.0.0.1:0")
        })
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
