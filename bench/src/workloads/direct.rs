//! `direct --pairs P -r RATE --seconds S --offline-lines K`: P pairs of users (2·P connections)
//! write each other direct messages, RATE lines per second per pair, the two ends taking turns, the
//! pairs spread evenly over one period. Each line reaches its receiver and comes back to its sender
//! (the receipt): 2·P·RATE·S deliveries expected. A line that reaches anybody else, a repeat or a
//! line out of order is a violation.
//!
//! Then the offline part: the second user of every pair leaves (`Bye`, and the stream read to its
//! end, so the server has signed it out), the first sends it K lines, and it signs in again. It must
//! receive exactly those K lines, once, in order, and nothing of the first part again: what it saw
//! while online was handed to it, and the server must know it.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use tokio::{sync::Semaphore, time::MissedTickBehavior};
use wire::{ClientFrame, Conversation};

use super::{
    FrameSkipper, Member, Meter, Pool, Target, WAIT, fill_and_settle, join, round2, say_to,
    send_frame,
    tally::{self, Expect, FIRST_SEQ, Tally},
};
use crate::report::{Report, latency_histogram};

#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub pairs: usize,
    /// Lines per second per pair (both directions together).
    pub rate: f64,
    pub duration: Duration,
    /// Lines sent to each pair's second user while it is away.
    pub offline_lines: u64,
    pub join_concurrency: usize,
}

#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    pub lines: u64,
    pub expected: u64,
    pub delivered: u64,
    pub offline_expected: u64,
    pub offline_delivered: u64,
    /// Online and offline together: lines of another conversation, repeats, lines out of order,
    /// malformed payloads, offline lines that never came. Expected 0.
    pub violations: u64,
}

/// How long a user that has its offline lines keeps reading for more (a repeat would be a violation).
const GRACE: Duration = Duration::from_millis(500);

pub async fn run(target: &Target, p: Params) -> Result<Outcome> {
    let pairs = p.pairs.max(1);
    let n = 2 * pairs;
    let lines_per_pair = (p.rate * p.duration.as_secs_f64()).round() as u64;
    let pool = Arc::new(Pool::new(target, n)?);
    let prefix = super::unique_prefix('d');
    let name = |i: usize| format!("{prefix}{i}");
    // Client i is end i % 2 of pair i / 2; each sees the conversation named by the other end.
    let expect = |i: usize| Expect {
        conversation: Conversation::Direct(name(i ^ 1)),
        group: i / 2,
        senders: vec![name(i & !1), name(i | 1)],
    };

    let fill = Meter::start(target)?;
    let members = fill_and_settle(&pool, target, &prefix, n, p.join_concurrency, None).await?;
    let fill_cost = fill.finish()?;

    let send_time = Duration::from_secs_f64(lines_per_pair as f64 / p.rate.max(1e-9));
    let deadline = tokio::time::Instant::now() + send_time + WAIT;
    let meter = Meter::start(target)?;
    let start = Arc::new(tokio::sync::Barrier::new(pairs + 1));
    let mut receivers = tokio::task::JoinSet::new();
    let mut senders = tokio::task::JoinSet::new();
    let mut conns = Vec::with_capacity(n);
    let mut first_send = None;
    for (i, member) in members.into_iter().enumerate() {
        conns.push(member.conn);
        let mine = expect(i);
        receivers.spawn(async move {
            let (tally, recv) =
                tally::receive(member.recv, mine, Tally::new(2), lines_per_pair, deadline).await?;
            anyhow::Ok((i, tally, recv))
        });
        let Some(a_send) = first_send.take() else {
            first_send = Some(member.send);
            continue;
        };
        let pair = i / 2;
        let mut ends = [a_send, member.send];
        let to = [
            Conversation::Direct(name(i)),
            Conversation::Direct(name(i - 1)),
        ];
        let (start, rate) = (start.clone(), p.rate);
        senders.spawn(async move {
            start.wait().await;
            let period = Duration::from_secs_f64(1.0 / rate.max(1e-9));
            let offset = period.mul_f64(pair as f64 / pairs as f64);
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
            tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
            for k in 0..lines_per_pair {
                tick.tick().await;
                let end = (k % 2) as usize;
                let seq = FIRST_SEQ + k / 2;
                let text = tally::payload(pair, end, seq);
                say_to(&mut ends[end], seq, to[end].clone(), text).await?;
            }
            anyhow::Ok((pair, ends))
        });
    }
    start.wait().await;
    let began = Instant::now();
    let mut sends = Vec::with_capacity(pairs);
    while let Some(done) = senders.join_next().await {
        sends.push(done.context("a sender panicked")??);
    }
    sends.sort_by_key(|(pair, _)| *pair);
    let mut total = Tally::new(0);
    let mut seen = Vec::with_capacity(n);
    while let Some(done) = receivers.join_next().await {
        let (i, tally, recv) = done.context("a receiver panicked")??;
        total.absorb(&tally);
        seen.push((i, tally, recv));
    }
    seen.sort_by_key(|(i, _, _)| *i);
    let phase = began.elapsed();
    let cost = meter.finish()?;
    let lines = pairs as u64 * lines_per_pair;
    let expected = 2 * lines;

    // The offline part, measured apart.
    let offline_meter = Meter::start(target)?;
    let gate = Arc::new(Semaphore::new(p.join_concurrency.max(1)));
    let mut offline = tokio::task::JoinSet::new();
    let mut seen = seen.into_iter();
    for (pair, [a_send, b_send]) in sends {
        let (Some((_, _, a_recv)), Some((b, b_tally, b_recv))) = (seen.next(), seen.next()) else {
            bail!("a pair without its two ends");
        };
        // The first end has said ceil(lines / 2) lines so far.
        let next_seq = FIRST_SEQ + lines_per_pair.div_ceil(2);
        let away = Away {
            pair,
            b,
            a: (a_send, a_recv),
            b_old: (b_send, b_recv),
            b_tally,
            next_seq,
            lines: p.offline_lines,
            expect_a: expect(b ^ 1),
            expect_b: expect(b),
        };
        let (gate, pool, target, b_name) = (gate.clone(), pool.clone(), target.clone(), name(b));
        offline.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            away.run(&pool, &target, &b_name).await
        });
    }
    let mut back = Tally::new(0);
    let mut catch_up = latency_histogram();
    let mut held = Vec::with_capacity(n);
    let mut missing = 0u64;
    while let Some(done) = offline.join_next().await {
        let came = done.context("an offline task panicked")??;
        back.absorb(&came.tally);
        missing += p.offline_lines.saturating_sub(came.tally.delivered);
        catch_up.saturating_record(
            u64::try_from(came.catch_up.as_nanos())
                .unwrap_or(u64::MAX)
                .max(1),
        );
        held.push(came.held);
    }
    let offline_cost = offline_meter.finish()?;
    for conn in conns.iter().chain(held.iter().map(|h| &h.conn)) {
        conn.close(
            quinn::VarInt::from_u32(wire::close_code::NORMAL),
            b"bench done",
        );
    }
    drop(held);

    let offline_expected = pairs as u64 * p.offline_lines;
    // `back` counts the offline lines only: its latencies are send → arrival after sign-in.
    let violations = total.violations() + back.violations() + missing;
    let mut report = Report::new("direct");
    report
        .add("pairs", pairs)
        .add("connections", n)
        .add("rate_per_pair", p.rate)
        .add("seconds", p.duration.as_secs_f64())
        .add("fill_s", round2(fill_cost.wall.as_secs_f64()))
        .add("lines", lines)
        .add("expected", expected)
        .add("delivered", total.delivered)
        .add("missed", expected.saturating_sub(total.delivered))
        .add("other_conversation_lines", total.foreign)
        .add("duplicates", total.duplicates)
        .add("out_of_order", total.out_of_order)
        .add("malformed", total.malformed)
        .add(
            "deliveries_per_s",
            round2(total.delivered as f64 / phase.as_secs_f64().max(1e-9)),
        )
        .add_latency("latency", &total.histogram());
    cost.add_to(&mut report, "delivery", total.delivered);
    report
        .add("offline_expected", offline_expected)
        .add("offline_delivered", back.delivered)
        .add("offline_missed", missing)
        .add("offline_violations", back.violations())
        .add_latency("offline_catch_up", &catch_up)
        .add("offline_wall_s", round2(offline_cost.wall.as_secs_f64()))
        .add(
            "offline_server_cpu_ms",
            offline_cost.cpu.map(|c| round2(c.as_secs_f64() * 1e3)),
        )
        .add("violations", violations);
    Ok(Outcome {
        report,
        lines,
        expected,
        delivered: total.delivered,
        offline_expected,
        offline_delivered: back.delivered,
        violations,
    })
}

/// One pair's offline part: `b` leaves, `a` writes to it, `b` comes back.
struct Away {
    pair: usize,
    /// The second end's client index.
    b: usize,
    a: (quinn::SendStream, FrameSkipper),
    b_old: (quinn::SendStream, FrameSkipper),
    /// What `b` saw online: its sequence state goes on, so a line of the first part handed out
    /// again counts as a duplicate.
    b_tally: Tally,
    next_seq: u64,
    lines: u64,
    expect_a: Expect,
    expect_b: Expect,
}

/// What came of one pair's offline part.
struct Came {
    /// The returning user's counts, offline lines only.
    tally: Tally,
    /// From `Hello` to the last offline line.
    catch_up: Duration,
    held: Held,
}

/// What stays open until the end: a finished stream would leave the server during the run.
struct Held {
    conn: quinn::Connection,
    _streams: ([quinn::SendStream; 3], [FrameSkipper; 2]),
}

impl Away {
    async fn run(self, pool: &Pool, target: &Target, b_name: &str) -> Result<Came> {
        let Self {
            pair,
            b,
            a: (mut a_send, a_recv),
            b_old: (mut b_send, mut b_recv),
            b_tally,
            next_seq,
            lines,
            expect_a,
            expect_b,
        } = self;
        // Leave, and read to the end of the stream: the server signs a member out before it
        // finishes the stream after `Bye`.
        send_frame(&mut b_send, &ClientFrame::Bye).await?;
        tokio::time::timeout(WAIT, async {
            while b_recv.next_frame().await?.is_some() {}
            anyhow::Ok(())
        })
        .await
        .context("the server did not end the stream after Bye")??;

        // Write to the absent user, and wait for the receipts: then the lines are stored.
        let to = Conversation::Direct(b_name.to_owned());
        for seq in next_seq..next_seq + lines {
            say_to(&mut a_send, seq, to.clone(), tally::payload(pair, 0, seq)).await?;
        }
        let mut receipts = Tally::new(2);
        // Only the first end's own lines are checked here: start its sequence where they are.
        receipts.next_seq_from(0, next_seq);
        let (receipts, a_recv) = tally::receive(
            a_recv,
            expect_a,
            receipts,
            lines,
            tokio::time::Instant::now() + WAIT,
        )
        .await?;
        if receipts.delivered != lines || receipts.violations() != 0 {
            bail!(
                "pair {pair}: {} of {lines} receipts of lines to an absent user, {} violations",
                receipts.delivered,
                receipts.violations()
            );
        }

        // Back: exactly the lines sent while away, once; nothing of before.
        let hello = Instant::now();
        let Member {
            conn, send, recv, ..
        } = join(pool, b, target, b_name).await?;
        let mut tally = b_tally.restarted();
        let mut recv = recv;
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut catch_up = WAIT;
        while tally.delivered < lines {
            match tokio::time::timeout_at(deadline, recv.next_chat_in()).await {
                Err(_) | Ok(Ok(None)) => break,
                Ok(Err(e)) => return Err(e),
                // Lines of the default room come again to a user that signs in without a resume
                // point: they are not the direct conversation's.
                Ok(Ok(Some((Conversation::Room(_), _)))) => {}
                Ok(Ok(Some((conversation, m)))) => {
                    tally.check(&expect_b, &conversation, &m);
                    if tally.delivered == lines {
                        catch_up = hello.elapsed();
                    }
                }
            }
        }
        // A little longer: a line handed out twice would come now.
        let grace = tokio::time::Instant::now() + GRACE;
        while let Ok(next) = tokio::time::timeout_at(grace, recv.next_chat_in()).await {
            match next? {
                None => break,
                Some((Conversation::Room(_), _)) => {}
                Some((conversation, m)) => {
                    tally.check(&expect_b, &conversation, &m);
                }
            }
        }
        Ok(Came {
            tally,
            catch_up,
            held: Held {
                conn,
                _streams: ([send, a_send, b_send], [recv, a_recv]),
            },
        })
    }
}
