//! `connect -n N --concurrency C`: N clients connect and join, at most C at a time. Reports
//! connections+joins per second, handshake and join latency, and server CPU per connection.
//!
//! Joined clients stay in the room until the end (a real room fills up, and each newcomer costs a
//! `Joined` to everyone already there); a task per client drains what the server sends them, so no
//! queue on the server fills up.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use anyhow::{Context, Result};

use super::{Meter, Pool, Target, join, round2, traffic::ClientTraffic};
use crate::report::{Report, latency_histogram};

#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub clients: usize,
    pub concurrency: usize,
}

#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    pub joined: usize,
    pub failed: usize,
}

pub async fn run(target: &Target, p: Params) -> Result<Outcome> {
    let n = p.clients;
    let pool = Arc::new(Pool::new(target, n)?);
    let next = Arc::new(AtomicUsize::new(0));
    let prefix = Arc::new(super::unique_prefix('c'));
    let meter = Meter::start(target)?;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..p.concurrency.clamp(1, n.max(1)) {
        let (pool, target, next, prefix) =
            (pool.clone(), target.clone(), next.clone(), prefix.clone());
        workers.spawn(async move {
            let mut handshake = latency_histogram();
            let mut joining = latency_histogram();
            let mut held = Vec::new();
            let mut failed = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                match join(&pool, i, &target, &format!("{prefix}{i}")).await {
                    Ok(mut member) => {
                        handshake.saturating_record(duration_ns(member.handshake));
                        joining.saturating_record(duration_ns(member.join));
                        let drain = tokio::spawn(async move {
                            while let Ok(Some(_)) = member.recv.next_frame().await {}
                        });
                        held.push((member.conn, member.send, drain));
                    }
                    Err(e) => failed.push(format!("{e:#}")),
                }
            }
            (handshake, joining, held, failed)
        });
    }
    let mut handshake = latency_histogram();
    let mut joining = latency_histogram();
    let mut held = Vec::with_capacity(n);
    let mut failures = Vec::new();
    while let Some(done) = workers.join_next().await {
        let (h, j, mut c, f) = done.context("a connecting task panicked")?;
        handshake.add(&h)?;
        joining.add(&j)?;
        held.append(&mut c);
        failures.extend(f);
    }
    let cost = meter.finish()?;
    let traffic = ClientTraffic::of(held.iter().map(|(conn, _, _)| conn));
    for f in failures.iter().take(3) {
        tracing::warn!(error = %f, "a client could not join");
    }
    for (conn, _, drain) in &held {
        conn.close(
            quinn::VarInt::from_u32(wire::close_code::NORMAL),
            b"bench done",
        );
        drain.abort();
    }

    let joined = held.len();
    let mut report = Report::new("connect");
    report
        .add("clients", n)
        .add("concurrency", p.concurrency)
        .add("joined", joined)
        .add("failed", failures.len())
        .add(
            "joins_per_s",
            round2(joined as f64 / cost.wall.as_secs_f64().max(1e-9)),
        )
        .add_latency("handshake", &handshake)
        .add_latency("join", &joining);
    cost.add_to(&mut report, "connection", joined as u64);
    traffic.add_to(&mut report, "connection", joined as u64);
    Ok(Outcome {
        report,
        joined,
        failed: failures.len(),
    })
}

fn duration_ns(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}
