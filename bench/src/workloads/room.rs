//! `room -n N`: N clients fill one room; once every client has read the `Joined` notices of everyone
//! after it (see `sync` below), one client says one line and every receiver records how long it took to arrive.
//! Reports how many joined, how many received the line, latency p50/p99/p99.9/max, and what filling
//! the room and the one fan-out cost the server.

use std::{sync::Arc, time::Instant};

use anyhow::{Context, Result, bail};
use tokio::sync::mpsc;

use super::{Meter, Pool, Target, WAIT, join_all, now_ns, round2, say};
use crate::report::{Report, latency_histogram};

/// The untimed first line.
const SYNC: &str = "sync";

/// How long the room is left alone between the untimed line and the timed one. Receivers
/// acknowledge a lone packet after QUIC's 25 ms acknowledgement delay: without a pause, the
/// acknowledgements of the untimed line reached the server (and left the load tool) during the
/// timed one, and were counted in its latency, CPU and datagrams.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(100);

#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub clients: usize,
    pub join_concurrency: usize,
}

#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    pub joined: usize,
    pub received: usize,
}

pub async fn run(target: &Target, p: Params) -> Result<Outcome> {
    let n = p.clients.max(2);
    let pool = Arc::new(Pool::new(target, n)?);
    let fill = Meter::start(target)?;
    let members = join_all(
        &pool,
        target,
        &super::unique_prefix('r'),
        n,
        p.join_concurrency,
    )
    .await?;
    let joined = members.len();

    // Filling the room left every member a backlog of `Joined` notices. A first line, queued behind
    // all of them, tells each receiver it has caught up; the second line is the one that is timed.
    let (caught_up_tx, mut caught_up) = mpsc::channel::<()>(n);
    let mut receivers = tokio::task::JoinSet::new();
    let mut held = Vec::with_capacity(n);
    for member in members {
        let mut recv = member.recv;
        let tx = caught_up_tx.clone();
        held.push((member.conn, member.send));
        receivers.spawn(async move {
            let mut synced = false;
            loop {
                let m = match tokio::time::timeout(WAIT, recv.next_chat()).await {
                    Err(_) => bail!("no line within {WAIT:?}"),
                    Ok(Err(e)) => return Err(e),
                    Ok(Ok(None)) => bail!("stream ended before the line"),
                    Ok(Ok(Some(m))) => m,
                };
                if !synced {
                    synced = m.text == SYNC;
                    if synced {
                        let _ = tx.send(()).await;
                    }
                } else {
                    let sent: u64 = m.text.parse().context("payload is not a timestamp")?;
                    // The stream goes back with the latency: dropped here, it would send the
                    // server a STOP_SENDING, and 10,000 of those (on both sides) would be
                    // measured as part of the line's delivery.
                    return Ok((now_ns().saturating_sub(sent).max(1), recv));
                }
            }
        });
    }
    drop(caught_up_tx);
    let Some((_, send)) = held.first_mut() else {
        bail!("nobody joined")
    };
    say(send, 0, SYNC.to_owned()).await?;
    for _ in 0..n {
        tokio::time::timeout(WAIT, caught_up.recv())
            .await
            .context("the room did not settle in time")?
            .context("a receiver failed before the room settled")?;
    }
    let fill_cost = fill.finish()?;
    tokio::time::sleep(SETTLE).await;

    let meter = Meter::start(target)?;
    let began = Instant::now();
    let Some((_, send)) = held.first_mut() else {
        bail!("nobody joined")
    };
    say(send, 1, now_ns().to_string()).await?;
    let mut histogram = latency_histogram();
    let mut failures = 0usize;
    let mut streams = Vec::with_capacity(n);
    while let Some(done) = receivers.join_next().await {
        match done.context("a receiver panicked")? {
            Ok((ns, recv)) => {
                histogram.saturating_record(ns);
                streams.push(recv);
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %format!("{e:#}"), "a receiver missed the line");
            }
        }
    }
    let all_in = began.elapsed();
    let cost = meter.finish()?;
    drop(streams);
    for (conn, _) in &held {
        conn.close(
            quinn::VarInt::from_u32(wire::close_code::NORMAL),
            b"bench done",
        );
    }

    let received = histogram.len() as usize;
    let mut report = Report::new("room");
    report
        .add("clients", n)
        .add("joined", joined)
        .add("received", received)
        .add("missed", failures)
        .add("fill_s", round2(fill_cost.wall.as_secs_f64()))
        .add(
            "fill_server_cpu_ms",
            fill_cost.cpu.map(|c| round2(c.as_secs_f64() * 1e3)),
        )
        .add("all_received_ms", round2(all_in.as_secs_f64() * 1e3))
        .add_latency("latency", &histogram);
    cost.add_to(&mut report, "delivery", received as u64);
    Ok(Outcome {
        report,
        joined,
        received,
    })
}
