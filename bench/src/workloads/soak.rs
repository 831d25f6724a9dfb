//! Soak: users join, chat, drop (politely or abruptly) and come back, at random, for a while; then
//! everyone checks the invariant that makes the chat trustworthy.
//!
//! Each user resumes after the last id it saw and re-sends its unconfirmed lines with their original
//! nonces, as the client library does. So across all its connections a user must see one unbroken
//! run of ids — every message from its first `Welcome` on exactly once, in order — and every line it
//! said must be in the room exactly once. Anything else is counted as a violation.

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use client::{ClientError, Connection, Connector, ServerAddr};
use rand::{RngExt, SeedableRng, rngs::StdRng};
use tokio::sync::Barrier;
use wire::{ChatMessage, ClientFrame, RefuseReason, ServerFrame};

use super::{Meter, Pool, Target, WAIT, unique_prefix};
use crate::report::Report;

#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub clients: usize,
    pub duration: Duration,
    /// Lines per second per connected user.
    pub rate: f64,
    pub seed: u64,
}

/// What the soak found.
#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    /// Breaks of the invariant; expected: 0.
    pub violations: u64,
    pub sessions: u64,
    pub lines: u64,
}

pub async fn run(target: &Target, params: Params) -> Result<Outcome> {
    let prefix = unique_prefix('s');
    let pool = Pool::new(target, params.clients)?;
    let barrier = std::sync::Arc::new(Barrier::new(params.clients));
    let meter = Meter::start(target)?;
    let deadline = Instant::now() + params.duration;
    let users: Vec<_> = (0..params.clients)
        .map(|i| {
            let life = Life {
                name: format!("{prefix}{i}"),
                connector: pool.connector(i).clone(),
                // Always the same node: a user resumes where it was.
                server: (target.server_addr(i), target.addr(i)),
                rng: StdRng::seed_from_u64(params.seed.wrapping_add(i as u64)),
                rate: params.rate,
                users: params.clients,
                prefix: prefix.clone(),
            };
            let barrier = barrier.clone();
            tokio::spawn(async move { life.live(deadline, &barrier).await })
        })
        .collect();
    let mut violations = 0;
    let mut sessions = 0;
    let mut lines = 0;
    let mut views = Vec::new();
    for user in users {
        let user = user.await.context("user task")??;
        violations += user.violations;
        sessions += user.sessions;
        lines += user.said;
        views.push(user.ids);
    }
    // Everyone saw the same messages under the same ids: compare the common tail.
    let shortest = views.iter().map(Vec::len).min().unwrap_or(0);
    if let Some(reference) = views.first() {
        for view in &views {
            if view[view.len() - shortest..] != reference[reference.len() - shortest..] {
                violations += 1;
            }
        }
    }
    let cost = meter.finish()?;
    let mut report = Report::new("soak");
    report
        .add("clients", params.clients as u64)
        .add("seconds", params.duration.as_secs_f64())
        .add("sessions", sessions)
        .add("lines", lines)
        .add("violations", violations);
    cost.add_to(&mut report, "line", lines.max(1));
    Ok(Outcome {
        report,
        violations,
        sessions,
        lines,
    })
}

struct Life {
    name: String,
    connector: Connector,
    server: (ServerAddr, SocketAddr),
    rng: StdRng,
    rate: f64,
    users: usize,
    prefix: String,
}

struct Lived {
    violations: u64,
    sessions: u64,
    said: u64,
    /// (id, sender, nonce) of every message seen, in the order seen.
    ids: Vec<(u64, String, u64)>,
}

/// One user's record of the room.
#[derive(Default)]
struct View {
    seen: Vec<(u64, String, u64)>,
    last: Option<u64>,
    /// Own lines said and not yet seen back, by nonce.
    unconfirmed: BTreeMap<u64, String>,
    /// How often each of our own nonces came back.
    echoes: HashMap<u64, u32>,
    violations: u64,
    finals: usize,
}

impl View {
    /// Where to resume: after the last line seen in the room.
    fn resume(&self) -> Vec<wire::ResumePoint> {
        self.last
            .map(|last_id| wire::ResumePoint {
                conversation: room(),
                last_id,
            })
            .into_iter()
            .collect()
    }

    fn absorb(&mut self, m: &ChatMessage, me: &str, prefix: &str) {
        if let Some(last) = self.last
            && m.id != last + 1
        {
            // A gap, a repeat or a step back: all break "exactly once, in order".
            self.violations += 1;
        }
        self.last = Some(m.id);
        self.seen.push((m.id, m.from.clone(), m.nonce));
        if m.from == me {
            self.unconfirmed.remove(&m.nonce);
            *self.echoes.entry(m.nonce).or_default() += 1;
        }
        if m.text == format!("{prefix} final") {
            self.finals += 1;
        }
    }
}

/// Where the soak users speak.
fn room() -> wire::Conversation {
    wire::Conversation::Room(super::ROOM.to_owned())
}

impl Life {
    async fn live(mut self, deadline: Instant, barrier: &Barrier) -> Result<Lived> {
        let mut view = View::default();
        let mut nonce = 0u64;
        let mut sessions = 0;
        // Chat, drop, come back, until the deadline.
        while Instant::now() < deadline {
            let mut conn = self.connect(&mut view).await?;
            sessions += 1;
            let stay = Duration::from_millis(self.rng.random_range(200..2000));
            let until = (Instant::now() + stay).min(deadline);
            let gap = Duration::from_secs_f64(1.0 / self.rate.max(0.1));
            let mut next_say = Instant::now() + gap.mul_f64(self.rng.random::<f64>());
            let mut broken = false;
            while Instant::now() < until && !broken {
                tokio::select! {
                    () = tokio::time::sleep_until(next_say.into()) => {
                        next_say += gap;
                        nonce += 1;
                        let text = format!("{} {nonce}", self.name);
                        view.unconfirmed.insert(nonce, text.clone());
                        broken = conn.send(&ClientFrame::Say { nonce, to: room(), text }).await.is_err();
                    }
                    frame = conn.next() => match frame {
                        Ok(Some(ServerFrame::Chat { message: m, .. })) => view.absorb(&m, &self.name, &self.prefix),
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) => broken = true,
                    },
                    () = tokio::time::sleep_until(until.into()) => {}
                }
            }
            if self.rng.random_bool(0.5) {
                // Polite: Bye, then whatever the server still sends.
                if conn.send(&ClientFrame::Bye).await.is_ok() {
                    while let Ok(Ok(Some(frame))) =
                        tokio::time::timeout(Duration::from_secs(2), conn.next()).await
                    {
                        if let ServerFrame::Chat { message: m, .. } = frame {
                            view.absorb(&m, &self.name, &self.prefix);
                        }
                    }
                }
            } else {
                // Abrupt: the connection just goes, lines in flight and all.
                conn.quic().close(99u32.into(), b"soak drop");
            }
            tokio::time::sleep(Duration::from_millis(self.rng.random_range(0..300))).await;
        }

        // The end: everybody back, one final line each, and read until all finals arrived.
        let mut conn = self.connect(&mut view).await?;
        sessions += 1;
        // Bounded: a user that failed never arrives, and the others must not wait for it forever.
        tokio::time::timeout(WAIT, barrier.wait())
            .await
            .context("not every soak user came back for the end")?;
        nonce += 1;
        let text = format!("{} final", self.prefix);
        view.unconfirmed.insert(nonce, text.clone());
        conn.send(&ClientFrame::Say {
            nonce,
            to: room(),
            text,
        })
        .await?;
        let end = Instant::now() + WAIT;
        while view.finals < self.users {
            match tokio::time::timeout_at(end.into(), conn.next()).await {
                Ok(Ok(Some(ServerFrame::Chat { message: m, .. }))) => {
                    view.absorb(&m, &self.name, &self.prefix)
                }
                Ok(Ok(Some(_))) => {}
                Ok(Ok(None) | Err(_)) | Err(_) => {
                    view.violations += 1;
                    break;
                }
            }
        }
        let _ = conn.send(&ClientFrame::Bye).await;
        // Every line said came back exactly once.
        view.violations += view.unconfirmed.len() as u64;
        view.violations += view.echoes.values().filter(|&&n| n != 1).count() as u64;
        Ok(Lived {
            violations: view.violations,
            sessions,
            said: nonce,
            ids: view.seen,
        })
    }

    /// Joins, resuming after the last id seen, and re-sends what was not confirmed.
    async fn connect(&mut self, view: &mut View) -> Result<Connection> {
        let (server, addr) = &self.server;
        let give_up = Instant::now() + WAIT;
        let (mut conn, welcome) = loop {
            match self
                .connector
                .connect(server, *addr, &self.name, &view.resume())
                .await
            {
                Ok(joined) => break joined,
                // An abrupt drop may not be noticed yet (the old connection still holds the name),
                // and a loaded server may time a handshake out: try again, as the library does.
                Err(
                    ClientError::Refused(RefuseReason::NameTaken)
                    | ClientError::Timeout
                    | ClientError::Unreachable(_)
                    | ClientError::Closed(_),
                ) if Instant::now() < give_up => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e).context("soak user cannot join"),
            }
        };
        for m in welcome.history() {
            view.absorb(m, &self.name, &self.prefix);
        }
        for (nonce, text) in view.unconfirmed.clone() {
            conn.send(&ClientFrame::Say {
                nonce,
                to: room(),
                text,
            })
            .await?;
        }
        Ok(conn)
    }
}
