//! `chat-floor`: the floor server (see `floor.rs`), started the way `chat-bench` starts
//! `chat-server`, so that both are measured with the same load tool:
//!
//! ```sh
//! cargo build --release -p server -p bench --bins --example chat-floor
//! target/release/chat-bench --server-bin target/release/examples/chat-floor \
//!     --server-cpu 0 --bench-cpu 1 --runs 3 fanout -n 100 -m 20 -r 5
//! ```
//!
//! An example of the `server` crate because it stands on `server::Server::endpoint`; the load tool
//! does not link the server.
//!
//! It takes `chat-server`'s `--listen` and `--cert-dir` and ignores its other flags, and prints
//! the same two banner lines. One thread, as `chat-server` runs on one core.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::{Context, Result};
use floor::Floor;

mod floor;

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let (listen, cert_dir) = parse_args()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(serve(listen, cert_dir))
}

/// `--listen ADDR` and `--cert-dir DIR`; every other flag (and its value) is `chat-server`'s and
/// means nothing here.
fn parse_args() -> Result<(SocketAddr, PathBuf)> {
    let mut listen = None;
    let mut cert_dir = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next(),
            "--cert-dir" => cert_dir = args.next(),
            _ => {}
        }
    }
    let listen = listen
        .context("--listen ADDR is required")?
        .parse()
        .context("--listen takes an address such as 127.0.0.1:0")?;
    let cert_dir = cert_dir.context("--cert-dir DIR is required")?;
    Ok((listen, PathBuf::from(cert_dir)))
}

async fn serve(listen: SocketAddr, cert_dir: PathBuf) -> Result<()> {
    let config = server::Config::new(listen, server::TlsSource::DevCerts { dir: cert_dir });
    let floor = Floor::bind(&config)?;
    // The banner `chat-bench` waits for, as `chat-server` prints it.
    println!("chat-server listening on udp {}", floor.local_addr()?);
    if let Some(ca) = floor.dev_ca() {
        println!("development CA: {}", ca.display());
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot watch for SIGTERM")?;
    let stop = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    let dropped = floor.run(stop).await;
    eprintln!("chat-floor: {dropped} frames dropped on full queues");
    Ok(())
}
