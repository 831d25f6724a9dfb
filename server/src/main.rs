//! `chat-server`: the QUIC chat server.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::{Context, Result};
use clap::Parser;
use server::{Config, Limits, Server, TlsSource};

/// Prints a line on stdout for the operator (and scripts that wait for "listening"). Unlike
/// `println!`, a closed stdout (the reader went away) is not worth a panic: the server carries on.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// A QUIC chat server. With no certificate given it creates development certificates (a local CA and
/// a certificate for this host) and prints where the CA is, for clients on other machines (`--ca`).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// UDP address to listen on. The default accepts IPv4 and IPv6 on port 1234.
    #[arg(long, default_value = "[::]:1234")]
    listen: SocketAddr,
    /// Certificate chain (PEM) for a real certificate; needs --key.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// Private key (PEM) for --cert.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Directory for development certificates [default: the user's data directory].
    #[arg(long, conflicts_with = "cert")]
    cert_dir: Option<PathBuf>,
    /// Most connections at once; further users are refused as "server full".
    #[arg(long, default_value_t = Limits::default().max_connections)]
    max_connections: usize,
    /// Longest message, in bytes.
    #[arg(long, default_value_t = Limits::default().max_message_bytes)]
    max_message_bytes: usize,
    /// Largest frame a client may send, in bytes; larger closes its connection.
    #[arg(long, default_value_t = Limits::default().max_frame_bytes)]
    max_frame_bytes: usize,
    /// Frames queued for one client before it counts as too slow and is disconnected.
    #[arg(long, default_value_t = Limits::default().queue_frames)]
    queue_frames: usize,
    /// Seconds of silence after which a client is dropped.
    #[arg(long, default_value_t = Limits::default().idle_timeout.as_secs())]
    idle_timeout_secs: u64,
    /// Seconds a client has for the handshake, and again for saying Hello.
    #[arg(long, default_value_t = Limits::default().handshake_timeout.as_secs())]
    handshake_timeout_secs: u64,
    /// Messages kept for newcomers and resuming clients.
    #[arg(long, default_value_t = 1000)]
    history: usize,
    /// Messages of history a newcomer receives on joining.
    #[arg(long, default_value_t = 100)]
    welcome_history: usize,
    /// Sustained messages per second per client (0: no limit).
    #[arg(long, default_value_t = Limits::default().messages_per_sec)]
    max_messages_per_sec: u32,
    /// Messages a client may send at once above the sustained rate.
    #[arg(long, default_value_t = Limits::default().message_burst)]
    message_burst: u32,
    /// "Too fast" answers in a row before the client is disconnected.
    #[arg(long, default_value_t = Limits::default().too_fast_strikes)]
    too_fast_strikes: u32,
    /// Connections at once from one IP address (0: no limit; loopback is never limited).
    #[arg(long, default_value_t = Limits::default().max_connections_per_ip)]
    max_connections_per_ip: usize,
    /// Handshakes in progress above which new clients must validate their address (QUIC Retry).
    #[arg(long, default_value_t = Limits::default().retry_above_handshakes)]
    retry_above_handshakes: usize,
    /// History database file [default: history.sqlite3 in the user's data directory].
    #[arg(long)]
    history_db: Option<PathBuf>,
    /// Keep history in memory only: it is lost when the server stops.
    #[arg(long, conflicts_with = "history_db")]
    no_persist: bool,
    /// Messages kept in the database (0: no count limit).
    #[arg(long, default_value_t = 100_000)]
    retain_messages: u64,
    /// Days a message is kept in the database (0: no age limit).
    #[arg(long, default_value_t = 30)]
    retain_days: u64,
    /// Run as one node of a cluster sharing the room through NATS (JetStream enabled), e.g.
    /// nats://127.0.0.1:4222. History then lives in NATS (the retention flags apply to it).
    #[arg(long, value_name = "NATS_URL", requires = "node")]
    cluster: Option<String>,
    /// This node's name in the cluster, unique among the nodes (letters, digits, - and _).
    #[arg(long, requires = "cluster")]
    node: Option<String>,
    /// Threads serving clients [default: one per core this process may run on]. With one, the
    /// server runs on a single-threaded runtime.
    #[arg(long)]
    threads: Option<std::num::NonZeroUsize>,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    // `available_parallelism` honours the affinity mask, so a server pinned with `taskset -c 0`
    // gets one thread. On one core a multi-threaded runtime only adds hand-offs between its worker
    // and the thread that drives I/O; the single-threaded one does all of it in place.
    let threads = args
        .threads
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, std::num::NonZeroUsize::get);
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    let runtime = builder
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> Result<()> {
    let tls = match (args.cert, args.key) {
        (Some(cert), Some(key)) => TlsSource::Files { cert, key },
        _ => TlsSource::DevCerts {
            dir: match args.cert_dir {
                Some(dir) => dir,
                None => certs::default_dir()
                    .context("no home directory for development certificates; pass --cert-dir")?,
            },
        },
    };
    let mut config = Config::new(args.listen, tls);
    config.limits = Limits {
        max_connections: args.max_connections,
        max_message_bytes: args.max_message_bytes,
        max_frame_bytes: args.max_frame_bytes,
        queue_frames: args.queue_frames,
        handshake_timeout: Duration::from_secs(args.handshake_timeout_secs),
        hello_timeout: Duration::from_secs(args.handshake_timeout_secs),
        idle_timeout: Duration::from_secs(args.idle_timeout_secs),
        messages_per_sec: args.max_messages_per_sec,
        message_burst: args.message_burst,
        too_fast_strikes: args.too_fast_strikes,
        max_connections_per_ip: args.max_connections_per_ip,
        retry_above_handshakes: args.retry_above_handshakes,
    };
    config.history_len = args.history;
    config.welcome_history = args.welcome_history;
    config.retention = server::Retention {
        max_messages: args.retain_messages,
        max_age_ms: args.retain_days.saturating_mul(24 * 3600 * 1000),
    };
    config.history_db = if args.no_persist {
        None
    } else {
        Some(match args.history_db {
            Some(path) => path,
            None => server::default_data_dir()
                .context("no home directory for the history database; pass --history-db")?
                .join("history.sqlite3"),
        })
    };
    let cluster = args
        .cluster
        .zip(args.node)
        .map(|(url, node)| server::ClusterConfig::new(url, node));
    let server = match cluster {
        Some(cluster) => {
            say!("cluster: {} as node {}", cluster.url, cluster.node);
            Server::bind_clustered(config, cluster).await?
        }
        None => {
            if let Some(db) = &config.history_db {
                say!("history: {}", db.display());
            }
            Server::bind(config)?
        }
    };
    let addr = server
        .local_addr()
        .context("cannot read the bound address")?;
    say!("chat-server listening on udp {addr}");
    if let Some(ca) = server.dev_ca() {
        say!(
            "development CA: {} (clients on this machine trust it; elsewhere pass it with --ca)",
            ca.display()
        );
    }
    let handle = server.shutdown_handle();
    tokio::spawn(async move {
        let reason = wait_for_signal().await;
        handle.shutdown(reason);
    });
    server.run().await?;
    say!("chat-server stopped");
    Ok(())
}

async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "server stopped by the operator (SIGINT)",
                _ = term.recv() => "server stopped by the operator (SIGTERM)",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "server stopped by the operator (SIGINT)"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "server stopped by the operator"
    }
}
