//! `chat-gtk`: parse our flags, then hand over to GTK.

use std::path::PathBuf;

use adw::prelude::*;
use clap::Parser;
use client_gtk::{Application, LaunchOptions};

/// The GNOME chat client.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Server address, HOST:PORT (prefills the sign-in page).
    #[arg(long)]
    server: Option<String>,
    /// Your user name; with --server, signs in straight away.
    #[arg(long)]
    user: Option<String>,
    /// Trust only this CA certificate (PEM) instead of the system store and the local dev CA.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Your identity: the folder of your key and certificate, made on first use [default:
    /// ~/.local/share/quic-chat/identity]. The key is who you are: keep the folder private.
    #[arg(long, value_name = "DIR")]
    identity: Option<PathBuf>,
}

fn main() -> gtk::glib::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let app = Application::new(LaunchOptions {
        server: args.server,
        user: args.user,
        ca: args.ca,
        identity: args.identity,
    });
    // Our flags are parsed above; GTK gets only the program name so it does not reject them.
    let argv0: Vec<String> = std::env::args().take(1).collect();
    app.run_with_args(&argv0)
}
