//! A cluster started for one workload run: one `nats-server` with JetStream (unless an existing one is
//! given) and N `chat-server` nodes on loopback, sharing that NATS and one certificate directory.
//!
//! Every run gets a fresh NATS store (a new temporary directory): the room's stream and the user and
//! node buckets of one run never carry over into the next, so ids start at 1 each run and a Welcome
//! never brings the previous run's lines along.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use client::Trust;
use testkit::{
    nats::NatsProcess,
    process::{NodeRole, ServerProcess, Spawn},
};

use crate::workloads::Target;

/// Where the nodes' NATS comes from.
#[derive(Debug, Clone)]
pub enum NatsSource {
    /// Start this `nats-server` binary for the run (and stop it afterwards).
    Start { binary: PathBuf },
    /// Use a NATS (with JetStream) that is already running; it is left running. Its streams keep
    /// earlier runs' lines: user names are unique per run, so that does not disturb a workload.
    Existing { url: String },
}

/// How to start a cluster.
#[derive(Debug, Clone)]
pub struct ClusterSpawn {
    pub nodes: usize,
    /// How each node is started; `cpu` pins `nats-server` as well.
    pub server: Spawn,
    pub nats: NatsSource,
}

/// A running cluster; its processes are killed if it is dropped without [`Cluster::stop`].
#[derive(Debug)]
pub struct Cluster {
    pub nodes: Vec<ServerProcess>,
    /// The `nats-server` this cluster started, if it did.
    pub nats: Option<NatsProcess>,
    pub nats_url: String,
    /// Development CA of the nodes (they share one).
    pub ca: PathBuf,
    /// The nodes' certificates and the NATS store.
    _dir: tempfile::TempDir,
}

impl Cluster {
    pub async fn start(spec: &ClusterSpawn) -> Result<Self> {
        if spec.nodes == 0 {
            bail!("a cluster needs at least one node");
        }
        let dir = tempfile::tempdir().context("cannot create a directory for the cluster")?;
        let (nats, nats_url) = match &spec.nats {
            NatsSource::Start { binary } => {
                let nats = NatsProcess::start(
                    binary,
                    spec.server.cpu.as_deref(),
                    &dir.path().join("nats"),
                )
                .await?;
                let url = nats.url();
                (Some(nats), url)
            }
            NatsSource::Existing { url } => (None, url.clone()),
        };
        let cert_dir = dir.path().join("certs");
        let mut nodes = Vec::with_capacity(spec.nodes);
        // One after the other: the first node creates the development certificates, and two nodes
        // creating them at once could each write a different CA.
        for k in 1..=spec.nodes {
            let role = NodeRole {
                nats_url: &nats_url,
                name: &format!("node{k}"),
                cert_dir: &cert_dir,
            };
            nodes.push(ServerProcess::start_node(&spec.server, role).await?);
        }
        let ca = nodes
            .first()
            .map(|n| n.ca.clone())
            .context("no node started")?;
        Ok(Self {
            nodes,
            nats,
            nats_url,
            ca,
            _dir: dir,
        })
    }

    /// Every node as one target: client i goes to node i % N.
    pub fn target(&self) -> Result<Target> {
        let mut target = Target::new(
            self.nodes.iter().map(|n| n.addr).collect(),
            Trust::CaFile(self.ca.clone()),
            self.nodes.iter().map(|n| n.pid).collect(),
        )?;
        target.nats_pid = self.nats.as_ref().map(|n| n.pid);
        Ok(target)
    }

    /// Stops the nodes (all at once), then NATS; reports the first failure after trying them all.
    pub async fn stop(self) -> Result<()> {
        let mut stopping = tokio::task::JoinSet::new();
        for node in self.nodes {
            stopping.spawn(node.stop());
        }
        let mut first_error = None;
        while let Some(done) = stopping.join_next().await {
            if let Err(e) = done.context("a node's stop task panicked").and_then(|r| r) {
                first_error.get_or_insert(e);
            }
        }
        // After the nodes, so they do not spend their shutdown reconnecting to a vanished NATS.
        if let Some(nats) = self.nats
            && let Err(e) = nats.stop().await
        {
            first_error.get_or_insert(e);
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
