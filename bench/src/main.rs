//! `chat-bench`: measures `chat-server` under load. See `bench/README.md` for the figures and the
//! commands that produced them.

use std::{net::SocketAddr, path::PathBuf, process::Command};

use anyhow::{Context, Result, bail};
use bench::{
    cluster::{Cluster, ClusterSpawn, NatsSource},
    report::Report,
    workloads::{self, Target},
};
use clap::{Parser, Subcommand};
use client::Trust;
use testkit::process::{ServerProcess, Spawn};

/// Load generator and cost meter for chat-server. Without --server it starts the release chat-server
/// itself, a fresh one per workload, on a loopback port with its own temporary certificates; with
/// --nodes N (N > 1) a fresh cluster: one nats-server and N chat-server nodes.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Use a running server at this address instead of starting one (loopback only); several
    /// addresses (comma-separated) for the nodes of a running cluster, client i going to the i % N-th.
    #[arg(long, requires = "ca", value_delimiter = ',')]
    server: Vec<SocketAddr>,
    /// The running server's CA certificate (its "development CA" line).
    #[arg(long)]
    ca: Option<PathBuf>,
    /// The running server's process id, to read its CPU time and memory from /proc; one per
    /// --server address (comma-separated).
    #[arg(long, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// Start a cluster of this many chat-server nodes sharing one room through a nats-server
    /// started for each run (client i connects to node i % N).
    #[arg(long, default_value_t = 1, conflicts_with = "server")]
    nodes: usize,
    /// Start the server as a cluster node even with --nodes 1 (to measure what NATS costs).
    #[arg(long, conflicts_with = "server")]
    cluster: bool,
    /// The nodes use this running NATS (JetStream enabled) instead of one started per run; it is
    /// left running. Implies a cluster, even with --nodes 1.
    #[arg(long, value_name = "NATS_URL", conflicts_with = "server")]
    cluster_nats: Option<String>,
    /// The nats-server binary to start for a cluster [default: nats-server on PATH, or in /usr/sbin
    /// where Debian installs it].
    #[arg(long)]
    nats_bin: Option<PathBuf>,
    /// The chat-server binary to start [default: chat-server next to chat-bench, i.e. target/release].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Pin the started server (every node, and nats-server) to these cores (taskset -c list).
    #[arg(long)]
    server_cpu: Option<String>,
    /// Pin the load tool to these cores (taskset -c list).
    #[arg(long)]
    bench_cpu: Option<String>,
    /// --max-connections for the started server (at most ~26,500 fit in one user-list frame).
    #[arg(long, default_value_t = 20_000)]
    max_connections: usize,
    /// RUST_LOG for the started server; per-connection info lines would be measured too.
    #[arg(long, default_value = "warn")]
    server_log: String,
    /// Extra flag for the started server (repeatable), e.g. --server-arg=--queue-frames=4096.
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// Run each workload this many times.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Print one JSON object per workload run on stdout.
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Debug, Clone, Subcommand)]
enum Workload {
    /// N clients in one room, each saying M lines at RATE per second (0 = full speed).
    Fanout {
        #[arg(short = 'n', long, default_value_t = 100)]
        clients: usize,
        #[arg(short = 'm', long, default_value_t = 20)]
        messages: usize,
        #[arg(short = 'r', long, default_value_t = 5.0)]
        rate: f64,
    },
    /// N clients connecting and joining, C at a time.
    Connect {
        #[arg(short = 'n', long, default_value_t = 1000)]
        clients: usize,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// N idle clients: server memory per connection.
    Idle {
        #[arg(short = 'n', long, default_value_t = 5000)]
        clients: usize,
    },
    /// One room of N clients; one line to all of them.
    Room {
        #[arg(short = 'n', long, default_value_t = 10_000)]
        clients: usize,
    },
    /// N users joining, chatting and dropping (politely or abruptly) at random for a while, each
    /// resuming where it left off; checks every user saw every message exactly once, in order.
    Soak {
        #[arg(short = 'n', long, default_value_t = 200)]
        clients: usize,
        #[arg(long, default_value_t = 120)]
        seconds: u64,
        /// Lines per second per connected user.
        #[arg(short = 'r', long, default_value_t = 2.0)]
        rate: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// N named rooms of M members (N·M connections), each room saying RATE lines per second for a
    /// while, its members taking turns; checks that no line reaches another room.
    Rooms {
        #[arg(long, default_value_t = 1000)]
        rooms: usize,
        #[arg(short = 'm', long, default_value_t = 10)]
        members: usize,
        /// Lines per second in each room.
        #[arg(short = 'r', long, default_value_t = 1.0)]
        rate: f64,
        /// How long the rooms talk after everybody is in.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
    /// P pairs of users writing each other direct messages, RATE lines per second per pair, taking
    /// turns; then each pair's second user leaves, receives K lines while away, and comes back to
    /// exactly those.
    Direct {
        #[arg(long, default_value_t = 1000)]
        pairs: usize,
        /// Lines per second per pair (both directions together).
        #[arg(short = 'r', long, default_value_t = 1.0)]
        rate: f64,
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Lines sent to each pair's second user while it is away.
        #[arg(long, default_value_t = 5)]
        offline_lines: u64,
    },
    /// The five target workloads, one after the other.
    Targets,
}

/// Concurrent handshakes while a room fills.
const JOIN_CONCURRENCY: usize = 64;

// The load tool, not the server: in the room of 10,000, glibc's malloc was a third of the load
// tool's samples while the timed line arrived (`_int_malloc` walking bins fragmented by 10,000
// handshakes), and the load tool's core was the one that ran out first.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if let Some(cpu) = &args.bench_cpu {
        // Before the runtime starts, so every worker thread inherits the mask (-a: all threads).
        pin_self(cpu)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // On a worker, not in `block_on`: the workloads wait on thousands of tasks, and each wake-up
    // of the thread in `block_on` by a worker is a switch between threads.
    runtime.block_on(async {
        tokio::spawn(run(args))
            .await
            .context("the load tool panicked")?
    })
}

fn pin_self(cpu: &str) -> Result<()> {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", cpu, &std::process::id().to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .context("cannot run taskset")?;
    if !status.success() {
        bail!("taskset -c {cpu} failed");
    }
    Ok(())
}

async fn run(args: Args) -> Result<()> {
    let plan = match &args.workload {
        Workload::Targets => vec![
            Workload::Fanout {
                clients: 100,
                messages: 20,
                rate: 5.0,
            },
            Workload::Fanout {
                clients: 10,
                messages: 1000,
                rate: 0.0,
            },
            Workload::Connect {
                clients: 1000,
                concurrency: 64,
            },
            Workload::Idle { clients: 5000 },
            Workload::Room { clients: 10_000 },
        ],
        one => vec![one.clone()],
    };
    let mut failed = false;
    for workload in &plan {
        for run in 1..=args.runs.max(1) {
            let mut report = match on_server(&args, workload).await {
                Ok(report) => report,
                Err(e) => {
                    eprintln!("{workload:?} run {run}: {e:#}");
                    failed = true;
                    continue;
                }
            };
            report.add("run", run);
            eprint!("{}", report.to_table());
            if args.json {
                println!("{}", report.to_json());
            }
        }
    }
    if failed {
        bail!("some workloads failed");
    }
    Ok(())
}

/// Runs one workload against the given server, or a fresh server or cluster started for it.
async fn on_server(args: &Args, workload: &Workload) -> Result<Report> {
    let mut report = if !args.server.is_empty() {
        on_running_server(args, workload).await?
    } else if args.nodes > 1 || args.cluster || args.cluster_nats.is_some() {
        let mut report = on_cluster(args, workload).await?;
        let nats = if args.cluster_nats.is_some() {
            "existing"
        } else {
            "started"
        };
        report.add("nats", nats);
        report
    } else {
        on_started_server(args, workload).await?
    };
    let nodes = if args.server.is_empty() {
        args.nodes
    } else {
        args.server.len()
    };
    report.add("nodes", nodes);
    Ok(report)
}

async fn on_running_server(args: &Args, workload: &Workload) -> Result<Report> {
    if args.server.iter().any(|addr| !addr.ip().is_loopback()) {
        bail!("chat-bench only runs against loopback servers");
    }
    let ca = args.ca.clone().context("--server needs --ca")?;
    let target = Target::new(
        args.server.clone(),
        Trust::CaFile(ca),
        args.server_pid.clone(),
    )?;
    run_workload(&target, workload).await
}

async fn on_started_server(args: &Args, workload: &Workload) -> Result<Report> {
    let server = ServerProcess::start(&spawn(args, workload)?).await?;
    let target = Target::single(
        server.addr,
        Trust::CaFile(server.ca.clone()),
        Some(server.pid),
    );
    let result = run_workload(&target, workload).await;
    let stopped = server.stop().await;
    let report = result?;
    stopped?;
    Ok(report)
}

async fn on_cluster(args: &Args, workload: &Workload) -> Result<Report> {
    if args.nodes == 0 {
        bail!("--nodes must be at least 1");
    }
    let spec = ClusterSpawn {
        nodes: args.nodes,
        server: spawn(args, workload)?,
        nats: match &args.cluster_nats {
            Some(url) => NatsSource::Existing { url: url.clone() },
            None => NatsSource::Start {
                binary: args
                    .nats_bin
                    .clone()
                    .or_else(testkit::nats::find)
                    .unwrap_or_else(|| "nats-server".into()),
            },
        },
    };
    let cluster = Cluster::start(&spec).await?;
    let result = match cluster.target() {
        Ok(target) => run_workload(&target, workload).await,
        Err(e) => Err(e),
    };
    let stopped = cluster.stop().await;
    let report = result?;
    stopped?;
    Ok(report)
}

/// How to start each server (or node).
fn spawn(args: &Args, workload: &Workload) -> Result<Spawn> {
    let mut extra_args = args.server_args.clone();
    // The server's default `--max-rooms` (1000, the default room included) is below the rooms
    // workload's default; a limit given with --server-arg wins.
    if let Workload::Rooms { rooms, .. } = workload
        && !extra_args.iter().any(|a| a.starts_with("--max-rooms"))
    {
        extra_args.push(format!("--max-rooms={}", rooms + 1));
    }
    Ok(Spawn {
        binary: match &args.server_bin {
            Some(bin) => bin.clone(),
            None => default_server_bin()?,
        },
        cpu: args.server_cpu.clone(),
        max_connections: args.max_connections,
        log: args.server_log.clone(),
        extra_args,
    })
}

async fn run_workload(target: &Target, workload: &Workload) -> Result<Report> {
    Ok(match *workload {
        Workload::Fanout {
            clients,
            messages,
            rate,
        } => {
            let params = workloads::fanout::Params {
                clients,
                messages,
                rate,
                join_concurrency: JOIN_CONCURRENCY,
            };
            workloads::fanout::run(target, params).await?.report
        }
        Workload::Connect {
            clients,
            concurrency,
        } => {
            let params = workloads::connect::Params {
                clients,
                concurrency,
            };
            workloads::connect::run(target, params).await?.report
        }
        Workload::Idle { clients } => {
            let params = workloads::idle::Params {
                clients,
                join_concurrency: JOIN_CONCURRENCY,
            };
            workloads::idle::run(target, params).await?.report
        }
        Workload::Room { clients } => {
            let params = workloads::room::Params {
                clients,
                join_concurrency: JOIN_CONCURRENCY,
            };
            workloads::room::run(target, params).await?.report
        }
        Workload::Soak {
            clients,
            seconds,
            rate,
            seed,
        } => {
            let params = workloads::soak::Params {
                clients,
                duration: std::time::Duration::from_secs(seconds),
                rate,
                seed,
            };
            let outcome = workloads::soak::run(target, params).await?;
            if outcome.violations > 0 {
                eprint!("{}", outcome.report.to_table());
                bail!(
                    "soak: {} violations of exactly-once, in-order delivery",
                    outcome.violations
                );
            }
            outcome.report
        }
        Workload::Rooms {
            rooms,
            members,
            rate,
            seconds,
        } => {
            let params = workloads::rooms::Params {
                rooms,
                members,
                rate,
                duration: std::time::Duration::from_secs(seconds),
                join_concurrency: JOIN_CONCURRENCY,
            };
            let outcome = workloads::rooms::run(target, params).await?;
            if outcome.violations > 0 {
                eprint!("{}", outcome.report.to_table());
                bail!(
                    "rooms: {} lines reached another room, came twice or out of order",
                    outcome.violations
                );
            }
            outcome.report
        }
        Workload::Direct {
            pairs,
            rate,
            seconds,
            offline_lines,
        } => {
            let params = workloads::direct::Params {
                pairs,
                rate,
                duration: std::time::Duration::from_secs(seconds),
                offline_lines,
                join_concurrency: JOIN_CONCURRENCY,
            };
            let outcome = workloads::direct::run(target, params).await?;
            if outcome.violations > 0 {
                eprint!("{}", outcome.report.to_table());
                bail!(
                    "direct: {} violations (another conversation's lines, repeats, lines out of \
                     order, offline lines missing)",
                    outcome.violations
                );
            }
            outcome.report
        }
        Workload::Targets => bail!("`targets` is expanded before it runs"),
    })
}

/// `chat-server` in the same directory as this binary (both live in target/release).
fn default_server_bin() -> Result<PathBuf> {
    let me = std::env::current_exe().context("cannot find the chat-bench binary")?;
    let dir = me.parent().context("chat-bench has no directory")?;
    Ok(dir.join("chat-server"))
}
