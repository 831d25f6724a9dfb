//! `chat-server`: the QUIC chat server.

mod settings;

use std::{path::PathBuf, sync::Arc};

use anyhow::{Context, Result};
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};
use server::{LiveLimits, Server};
use settings::{LogFormat, Reload, Settings};

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
    /// Settings file (TOML): every flag below, by its long name (`max-message-bytes = 4096`). Flags
    /// given on the command line override the file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the effective settings (defaults, file, flags) as TOML for --config, and exit.
    #[arg(long)]
    print_config: bool,
    #[command(flatten)]
    settings: Settings,
}

fn main() -> Result<()> {
    let matches = Args::command().get_matches();
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let settings = match settings::resolve(&args.settings, &matches, args.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            // Status 2, as clap's usage errors: nothing was started.
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    if args.print_config {
        say!("{}", settings.to_toml()?.trim_end());
        return Ok(());
    }
    init_logs(settings.log_format);
    // `available_parallelism` honours the affinity mask, so a server pinned with `taskset -c 0`
    // gets one thread. On one core a multi-threaded runtime only adds hand-offs between its worker
    // and the thread that drives I/O; the single-threaded one does all of it in place.
    let threads = settings
        .threads()
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
    let reload = args.config.map(|file| ReloadFrom {
        file,
        flags: args.settings,
        matches,
    });
    runtime.block_on(serve(settings, reload))
}

/// Log lines on stderr, in the chosen format; `RUST_LOG` filters them (default: info).
fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        // Colours for a person at a terminal; plain text for the journal and log files.
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        // One object per line: the event's fields, its span's (`session`: remote, conn, user) and
        // the spans it is in.
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
}

/// Where `SIGHUP` reads the settings again: the file, and the command line that goes over it.
struct ReloadFrom {
    file: PathBuf,
    flags: Settings,
    matches: ArgMatches,
}

async fn serve(settings: Settings, reload: Option<ReloadFrom>) -> Result<()> {
    let config = settings.server_config()?;
    let cluster = settings.cluster();
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
    // Listening for the signals starts before "listening" is printed: a supervisor (or a test) that
    // sends SIGTERM or SIGHUP as soon as it reads that line gets a graceful stop or a reload, never
    // the default action (which for both is to end the process).
    let signal = shutdown_signal()?;
    let hangup = hangup_signal()?;
    if let Some(addr) = settings.metrics {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot serve metrics on {addr}"))?;
        let bound = listener
            .local_addr()
            .context("cannot read the metrics address")?;
        tokio::spawn(server::serve_metrics(listener, server.metrics()));
        say!("metrics: http://{bound}/metrics");
        tracing::info!(url = %format!("http://{bound}/metrics"), "serving metrics");
    }
    tokio::spawn(reload_on_hangup(hangup, reload, settings, server.limits()));
    let addr = server
        .local_addr()
        .context("cannot read the bound address")?;
    say!("chat-server listening on udp {addr}");
    // The lines on stdout are for people and scripts; the log (JSON too) says it as well.
    tracing::info!(udp = %addr, "listening");
    if let Some(ca) = server.dev_ca() {
        say!(
            "development CA: {} (clients on this machine trust it; elsewhere pass it with --ca)",
            ca.display()
        );
    }
    let handle = server.shutdown_handle();
    tokio::spawn(async move {
        let reason = signal.await;
        handle.shutdown(reason);
    });
    server.run().await?;
    say!("chat-server stopped");
    Ok(())
}

/// Re-reads the settings file on every `SIGHUP` and puts the limits that can change in force. A file
/// that is refused leaves everything as it was.
async fn reload_on_hangup(
    mut hangup: Hangup,
    from: Option<ReloadFrom>,
    mut current: Settings,
    limits: Arc<LiveLimits>,
) {
    while hangup.recv().await.is_some() {
        let Some(from) = &from else {
            tracing::warn!(
                "SIGHUP: there is no settings file to read again (start with --config FILE); nothing changed"
            );
            continue;
        };
        let file = from.file.display().to_string();
        let reload = match Reload::read(&current, &from.flags, &from.matches, &from.file) {
            Ok(reload) => reload,
            Err(e) => {
                tracing::error!(error = %e, "SIGHUP: settings refused; the settings in force are unchanged");
                continue;
            }
        };
        if let Err(e) = limits.replace(reload.settings.limits()) {
            tracing::error!(error = %e, %file, "SIGHUP: limits refused; the settings in force are unchanged");
            continue;
        }
        for (key, old, new) in &reload.applied {
            tracing::info!(%key, %old, %new, "SIGHUP: applied to new connections and lines");
        }
        for key in &reload.need_restart {
            tracing::warn!(%key, "SIGHUP: changed in the file, but takes effect only after a restart");
        }
        if reload.applied.is_empty() && reload.need_restart.is_empty() {
            tracing::info!(%file, "SIGHUP: settings read again; nothing changed");
        }
        current = reload.settings;
    }
}

#[cfg(unix)]
type Hangup = tokio::signal::unix::Signal;

/// Catches SIGHUP from the moment it is called.
#[cfg(unix)]
fn hangup_signal() -> Result<Hangup> {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::hangup()).context("cannot catch SIGHUP")
}

/// No SIGHUP here: a reload never comes.
#[cfg(not(unix))]
struct Hangup;

#[cfg(not(unix))]
impl Hangup {
    async fn recv(&mut self) -> Option<()> {
        std::future::pending().await
    }
}

#[cfg(not(unix))]
fn hangup_signal() -> Result<Hangup> {
    Ok(Hangup)
}

/// Catches SIGINT and SIGTERM from the moment it is called; the future says which came.
#[cfg(unix)]
fn shutdown_signal() -> Result<impl Future<Output = &'static str>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot catch SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot catch SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => "server stopped by the operator (SIGINT)",
            _ = terminate.recv() => "server stopped by the operator (SIGTERM)",
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> Result<impl Future<Output = &'static str>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        "server stopped by the operator"
    })
}
