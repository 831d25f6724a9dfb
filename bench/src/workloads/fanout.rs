//! `fanout -n N -m M -r RATE`: N clients in one room, each says M lines at RATE per second (0: as fast
//! as it can). Every client receives every line, its own included (the receipt), so N·N·M deliveries
//! are expected. Each receiver checks exactly-once, in-order delivery per sender and records the
//! send→receive latency carried in the payload.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use tokio::time::MissedTickBehavior;

use super::{
    FrameSkipper, Meter, Pool, Target, join_all, now_ns, round2, say, traffic::ClientTraffic,
};
use crate::report::{Report, latency_histogram};

#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub clients: usize,
    pub messages: usize,
    /// Lines per second per client; 0 = as fast as possible.
    pub rate: f64,
    /// Clients connecting at once while the room fills.
    pub join_concurrency: usize,
}

/// What the receivers saw, summed over all of them.
#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    pub expected: u64,
    /// Lines received once and in order.
    pub delivered: u64,
    /// Lines received again.
    pub duplicates: u64,
    /// Lines that arrived after a later line of the same sender (something before them was skipped).
    pub out_of_order: u64,
    /// Receivers whose room-wide message ids were not consecutive.
    pub id_gaps: u64,
    /// Payloads that did not match the sender the server stamped.
    pub malformed: u64,
}

#[derive(Debug)]
struct Seen {
    histogram: Histogram<u64>,
    delivered: u64,
    duplicates: u64,
    out_of_order: u64,
    id_gaps: u64,
    malformed: u64,
}

/// The payload: sender index, sequence number, send time (ns on the load tool's clock).
fn payload(sender: usize, seq: u64) -> String {
    format!("{sender}:{seq}:{}", now_ns())
}

fn parse_payload(text: &str) -> Option<(usize, u64, u64)> {
    let mut parts = text.split(':');
    let sender = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    let sent = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((sender, seq, sent))
}

pub async fn run(target: &Target, p: Params) -> Result<Outcome> {
    let n = p.clients.max(1);
    let pool = Arc::new(Pool::new(target, n)?);
    let prefix = super::unique_prefix('f');
    let members = join_all(&pool, target, &prefix, n, p.join_concurrency).await?;
    let per_receiver = (n * p.messages) as u64;
    // Time for the whole send phase at the requested rate, plus slack for a loaded machine.
    let send_time = if p.rate > 0.0 {
        Duration::from_secs_f64(p.messages as f64 / p.rate)
    } else {
        Duration::ZERO
    };
    let deadline = tokio::time::Instant::now() + send_time + super::WAIT;

    let traffic_before = ClientTraffic::of(members.iter().map(|m| &m.conn));
    let meter = Meter::start(target)?;
    let start = Arc::new(tokio::sync::Barrier::new(n + 1));
    let mut receivers = tokio::task::JoinSet::new();
    let mut senders = tokio::task::JoinSet::new();
    let mut conns = Vec::with_capacity(n);
    for (i, member) in members.into_iter().enumerate() {
        conns.push(member.conn);
        receivers.spawn(receive(
            member.recv,
            prefix.clone(),
            n,
            per_receiver,
            deadline,
        ));
        let (mut send, start) = (member.send, start.clone());
        let (messages, rate) = (p.messages, p.rate);
        senders.spawn(async move {
            start.wait().await;
            if rate > 0.0 {
                let period = Duration::from_secs_f64(1.0 / rate);
                // Spread the senders over one period so that they do not all speak at once.
                let offset = period.mul_f64(i as f64 / n as f64);
                let mut tick =
                    tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
                tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
                for seq in 0..messages as u64 {
                    tick.tick().await;
                    say(&mut send, seq, payload(i, seq)).await?;
                }
            } else {
                for seq in 0..messages as u64 {
                    say(&mut send, seq, payload(i, seq)).await?;
                }
            }
            // Keep the stream open until the receivers are done: finishing it would leave the room.
            anyhow::Ok(send)
        });
    }
    start.wait().await;
    let began = Instant::now();
    let mut streams = Vec::with_capacity(n);
    while let Some(done) = senders.join_next().await {
        streams.push(done.context("a sender panicked")??);
    }
    let mut histogram = latency_histogram();
    let mut total = Seen::new();
    while let Some(done) = receivers.join_next().await {
        let seen = done.context("a receiver panicked")??;
        histogram.add(&seen.histogram)?;
        total.absorb(&seen);
    }
    let phase = began.elapsed();
    let cost = meter.finish()?;
    let traffic = ClientTraffic::of(conns.iter()).since(traffic_before);
    for conn in &conns {
        conn.close(
            quinn::VarInt::from_u32(wire::close_code::NORMAL),
            b"bench done",
        );
    }
    drop(streams);

    let expected = per_receiver * n as u64;
    let mut report = Report::new("fanout");
    report
        .add("clients", n)
        .add("messages_per_client", p.messages)
        .add("rate_per_client", p.rate)
        .add("expected", expected)
        .add("delivered", total.delivered)
        .add("duplicates", total.duplicates)
        .add("out_of_order", total.out_of_order)
        .add("id_gaps", total.id_gaps)
        .add(
            "deliveries_per_s",
            round2(total.delivered as f64 / phase.as_secs_f64().max(1e-9)),
        )
        .add_latency("latency", &histogram);
    cost.add_to(&mut report, "delivery", total.delivered);
    traffic.add_to(&mut report, "delivery", total.delivered);
    Ok(Outcome {
        report,
        expected,
        delivered: total.delivered,
        duplicates: total.duplicates,
        out_of_order: total.out_of_order,
        id_gaps: total.id_gaps,
        malformed: total.malformed,
    })
}

impl Seen {
    fn new() -> Self {
        Self {
            histogram: latency_histogram(),
            delivered: 0,
            duplicates: 0,
            out_of_order: 0,
            id_gaps: 0,
            malformed: 0,
        }
    }

    fn absorb(&mut self, other: &Self) {
        self.delivered += other.delivered;
        self.duplicates += other.duplicates;
        self.out_of_order += other.out_of_order;
        self.id_gaps += other.id_gaps;
        self.malformed += other.malformed;
    }
}

/// One client's receiving side: checks every line until it has all `expected` or the deadline.
async fn receive(
    mut recv: FrameSkipper,
    prefix: String,
    senders: usize,
    expected: u64,
    deadline: tokio::time::Instant,
) -> Result<Seen> {
    let mut seen = Seen::new();
    let mut next_seq = vec![0u64; senders];
    let mut last_id: Option<u64> = None;
    let mut got = 0u64;
    while got < expected {
        let Ok(next) = tokio::time::timeout_at(deadline, recv.next_chat()).await else {
            break; // lost lines show up as delivered < expected
        };
        let Some(m) = next? else { break };
        got += 1;
        if last_id.is_some_and(|last| m.id != last + 1) {
            seen.id_gaps += 1;
        }
        last_id = Some(m.id);
        let Some((sender, seq, sent)) = parse_payload(&m.text).filter(|(s, seq, _)| {
            *s < senders && m.from == format!("{prefix}{s}") && m.nonce == *seq
        }) else {
            seen.malformed += 1;
            continue;
        };
        let want = &mut next_seq[sender];
        if seq == *want {
            *want += 1;
            seen.delivered += 1;
            seen.histogram
                .saturating_record(now_ns().saturating_sub(sent).max(1));
        } else if seq < *want {
            seen.duplicates += 1;
        } else {
            seen.out_of_order += 1;
            *want = seq + 1;
        }
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips() {
        let (s, q, t) = parse_payload(&payload(7, 42)).expect("parses");
        assert_eq!((s, q), (7, 42));
        assert!(t <= now_ns());
        assert!(parse_payload("1:2").is_none());
        assert!(parse_payload("1:2:3:4").is_none());
    }
}
