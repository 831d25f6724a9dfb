//! `chat-cli`: a terminal chat client. Lines typed are sent; `/users` lists who is here; `/quit` or the
//! end of input leaves.

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;
use client::{
    Backoff, ClientError, CloseReason, Event, ServerAddr, Session, SessionConfig, Trust, render,
};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Terminal client for chat-server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Server address, HOST:PORT; for a cluster, several separated by commas, tried in turn on
    /// connecting and on every reconnection.
    #[arg(long, default_value = "localhost:1234")]
    server: String,
    /// Your user name.
    #[arg(long)]
    user: String,
    /// Trust only this CA certificate (PEM) instead of the system store and the local dev CA.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Print one JSON object per line instead of text.
    #[arg(long)]
    json: bool,
    /// End when the connection is lost instead of reconnecting and resuming.
    #[arg(long)]
    no_reconnect: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("chat-cli: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(chat(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("chat-cli: {e}");
            match e {
                ClientError::Refused(_) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

async fn chat(args: Args) -> Result<ExitCode, ClientError> {
    let mut servers = args
        .server
        .split(',')
        .map(str::parse::<ServerAddr>)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter();
    let server = servers
        .next()
        .ok_or_else(|| ClientError::InvalidAddress(args.server.clone()))?;
    let trust = args.ca.map_or(Trust::Default, Trust::CaFile);
    let backoff = if args.no_reconnect {
        Backoff::never()
    } else {
        Backoff::default()
    };
    let (session, welcome, events) = Session::connect_to_any(
        SessionConfig {
            server,
            user: args.user,
            trust,
        },
        servers.collect(),
        backoff,
    )
    .await?;
    if args.json {
        println!("{}", render::signed_in_json(&welcome));
    } else {
        println!("{}", render::signed_in_text(&welcome));
    }

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut input_open = true;
    loop {
        tokio::select! {
            line = lines.next_line(), if input_open => match line {
                Ok(Some(line)) => match line.trim() {
                    "/quit" => { input_open = false; session.quit().await; }
                    "/users" => { let _ = session.list_users(); }
                    "" => {}
                    _ => { let _ = session.say(line); }
                },
                // End of input (or unreadable input): leave as if /quit was typed.
                Ok(None) | Err(_) => { input_open = false; session.quit().await; }
            },
            event = events.recv() => match event {
                Ok(event) => {
                    if args.json {
                        println!("{}", render::json(&event));
                    } else {
                        println!("{}", render::text(&event));
                    }
                    if let Event::Closed(reason) = event {
                        return Ok(match reason {
                            CloseReason::Quit => ExitCode::SUCCESS,
                            CloseReason::ByServer(_) | CloseReason::Lost(_) => ExitCode::from(3),
                        });
                    }
                }
                Err(_) => return Ok(ExitCode::FAILURE),
            },
        }
    }
}
