//! A real chat-server in the test's process, on loopback, with its own development certificates.

// Each test file uses what it needs of this module.
#![allow(dead_code)]

pub mod cli;

pub struct Server {
    pub addr: std::net::SocketAddr,
    pub ca: std::path::PathBuf,
    pub shutdown: server::ShutdownHandle,
    _dir: tempfile::TempDir,
}

/// Starts a server on 127.0.0.1 with the default settings as changed by `tweak`.
pub fn start_server(tweak: impl FnOnce(&mut server::Config)) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = server::Config::new(
        "127.0.0.1:0".parse().expect("addr"),
        server::TlsSource::DevCerts {
            dir: dir.path().to_path_buf(),
        },
    );
    tweak(&mut config);
    let srv = server::Server::bind(config).expect("bind");
    let addr = srv.local_addr().expect("addr");
    let ca = srv.dev_ca().expect("ca").to_path_buf();
    let shutdown = srv.shutdown_handle();
    tokio::spawn(srv.run());
    Server {
        addr,
        ca,
        shutdown,
        _dir: dir,
    }
}
