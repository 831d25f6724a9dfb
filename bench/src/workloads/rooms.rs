//! `rooms --rooms N --members M -r RATE --seconds S`: N named rooms of M members each (N·M
//! connections); each room says RATE lines per second for S seconds, its members taking turns, the
//! rooms spread evenly over one period so that they do not all speak at once. Every member of a room
//! receives each of its lines (the sender its receipt): N·M·RATE·S deliveries expected. A line that
//! reaches a member of another room is a violation, as is a repeat or a line out of order.
//!
//! Everybody is also in the default room (`#general`) from sign-in on, so filling the server is the
//! `room` workload's fill plus one `JoinRoom` per member; the measured window starts after every
//! member has read the fill's presence notices (see [`super::settle`]).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use tokio::time::MissedTickBehavior;
use wire::Conversation;

use super::{
    Meter, Pool, Target, WAIT, fill_and_settle, round2, say_to,
    tally::{self, Expect, FIRST_SEQ, Tally},
};
use crate::report::Report;

#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub rooms: usize,
    pub members: usize,
    /// Lines per second in each room.
    pub rate: f64,
    /// How long the rooms talk, after everybody is in.
    pub duration: Duration,
    /// Clients connecting (and then joining their room) at once.
    pub join_concurrency: usize,
}

#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    pub lines: u64,
    pub expected: u64,
    pub delivered: u64,
    /// Lines of another room, repeats, lines out of order, malformed payloads: expected 0.
    pub violations: u64,
}

/// The name of room `r` of a run.
fn room_name(prefix: &str, r: usize) -> String {
    format!("#{prefix}{r}")
}

pub async fn run(target: &Target, p: Params) -> Result<Outcome> {
    let (rooms, members) = (p.rooms.max(1), p.members.max(1));
    let n = rooms * members;
    let lines_per_room = (p.rate * p.duration.as_secs_f64()).round() as u64;
    let pool = Arc::new(Pool::new(target, n)?);
    let prefix = super::unique_prefix('m');

    // Client i is member i % M of room i / M.
    let fill = Meter::start(target)?;
    let room_of = {
        let prefix = prefix.clone();
        Arc::new(move |i: usize| room_name(&prefix, i / members))
    };
    let inside =
        fill_and_settle(&pool, target, &prefix, n, p.join_concurrency, Some(room_of)).await?;
    let fill_cost = fill.finish()?;

    let send_time = Duration::from_secs_f64(lines_per_room as f64 / p.rate.max(1e-9));
    let deadline = tokio::time::Instant::now() + send_time + WAIT;
    let meter = Meter::start(target)?;
    let start = Arc::new(tokio::sync::Barrier::new(rooms + 1));
    let mut receivers = tokio::task::JoinSet::new();
    let mut senders = tokio::task::JoinSet::new();
    let mut conns = Vec::with_capacity(n);
    let mut sends = Vec::with_capacity(members);
    for (i, member) in inside.into_iter().enumerate() {
        let r = i / members;
        let expect = Expect {
            conversation: Conversation::Room(room_name(&prefix, r)),
            group: r,
            senders: (0..members)
                .map(|s| format!("{prefix}{}", r * members + s))
                .collect(),
        };
        conns.push(member.conn);
        receivers.spawn(tally::receive(
            member.recv,
            expect,
            Tally::new(members),
            lines_per_room,
            deadline,
        ));
        sends.push(member.send);
        if sends.len() == members {
            let mut room_sends = std::mem::take(&mut sends);
            let to = Conversation::Room(room_name(&prefix, r));
            let (start, rate) = (start.clone(), p.rate);
            senders.spawn(async move {
                start.wait().await;
                let period = Duration::from_secs_f64(1.0 / rate.max(1e-9));
                // Room r speaks at r/N of each period.
                let offset = period.mul_f64(r as f64 / rooms as f64);
                let mut tick =
                    tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
                tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
                for k in 0..lines_per_room {
                    tick.tick().await;
                    let s = (k as usize) % room_sends.len();
                    let seq = FIRST_SEQ + k / members as u64;
                    let text = tally::payload(r, s, seq);
                    say_to(&mut room_sends[s], seq, to.clone(), text).await?;
                }
                // Kept open until the receivers are done: finishing a stream leaves the server.
                anyhow::Ok(room_sends)
            });
        }
    }
    start.wait().await;
    let began = Instant::now();
    let mut streams = Vec::with_capacity(rooms);
    while let Some(done) = senders.join_next().await {
        streams.push(done.context("a sender panicked")??);
    }
    let mut total = Tally::new(0);
    let mut recvs = Vec::with_capacity(n);
    while let Some(done) = receivers.join_next().await {
        let (tally, recv) = done.context("a receiver panicked")??;
        total.absorb(&tally);
        recvs.push(recv);
    }
    let phase = began.elapsed();
    let cost = meter.finish()?;
    for conn in &conns {
        conn.close(
            quinn::VarInt::from_u32(wire::close_code::NORMAL),
            b"bench done",
        );
    }
    drop((streams, recvs));

    let lines = rooms as u64 * lines_per_room;
    let expected = lines * members as u64;
    let mut report = Report::new("rooms");
    report
        .add("rooms", rooms)
        .add("members_per_room", members)
        .add("connections", n)
        .add("rate_per_room", p.rate)
        .add("seconds", p.duration.as_secs_f64())
        .add("fill_s", round2(fill_cost.wall.as_secs_f64()))
        .add(
            "fill_server_cpu_ms",
            fill_cost.cpu.map(|c| round2(c.as_secs_f64() * 1e3)),
        )
        .add("lines", lines)
        .add("expected", expected)
        .add("delivered", total.delivered)
        .add("missed", expected.saturating_sub(total.delivered))
        .add("other_room_lines", total.foreign)
        .add("duplicates", total.duplicates)
        .add("out_of_order", total.out_of_order)
        .add("malformed", total.malformed)
        .add("violations", total.violations())
        .add(
            "deliveries_per_s",
            round2(total.delivered as f64 / phase.as_secs_f64().max(1e-9)),
        )
        .add_latency("latency", &total.histogram());
    cost.add_to(&mut report, "delivery", total.delivered);
    Ok(Outcome {
        report,
        lines,
        expected,
        delivered: total.delivered,
        violations: total.violations(),
    })
}
