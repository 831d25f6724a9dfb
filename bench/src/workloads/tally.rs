//! What one member of a conversation (a room, or a direct conversation between two users) received,
//! checked line by line: the `rooms` and `direct` workloads share it.
//!
//! A payload names the group it was said in (room or pair index), its sender's index in the group,
//! a sequence number (also the `Say` nonce) and the send time. A member expects only lines of its
//! own group, in its own conversation, each sender's once and in order; anything else is a
//! violation: a line of another conversation reaching it is exactly what rooms must never do.

use anyhow::Result;
use hdrhistogram::Histogram;
use wire::{ChatMessage, Conversation};

use super::{FrameSkipper, now_ns};
use crate::report::latency_histogram;

/// `group:sender:seq:send-time-ns`.
pub(super) fn payload(group: usize, sender: usize, seq: u64) -> String {
    format!("{group}:{sender}:{seq}:{}", now_ns())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Payload {
    group: usize,
    sender: usize,
    seq: u64,
    sent_ns: u64,
}

fn parse(text: &str) -> Option<Payload> {
    let mut parts = text.split(':');
    let payload = Payload {
        group: parts.next()?.parse().ok()?,
        sender: parts.next()?.parse().ok()?,
        seq: parts.next()?.parse().ok()?,
        sent_ns: parts.next()?.parse().ok()?,
    };
    parts.next().is_none().then_some(payload)
}

/// What a member is in: its conversation as it sees it, its group, and the names of the group's
/// senders by index.
#[derive(Debug, Clone)]
pub(super) struct Expect {
    pub(super) conversation: Conversation,
    pub(super) group: usize,
    pub(super) senders: Vec<String>,
}

/// One member's (or, summed, all members') record.
#[derive(Debug)]
pub(super) struct Tally {
    /// The latency of each line counted in `delivered`, in ns. A list, not a histogram: `rooms`
    /// keeps one tally per member, and 10,000 histograms of 1 ns to 100 s at 3 digits (230 KB
    /// each) held the load tool's only thread for 7 s between the fill and the first line, longer
    /// than the clients' idle timeout when another process shared the core.
    latencies_ns: Vec<u64>,
    /// Lines of its own conversation received once and in order.
    pub(super) delivered: u64,
    /// Lines of its own conversation received again.
    pub(super) duplicates: u64,
    /// Lines that came after a later line of the same sender.
    pub(super) out_of_order: u64,
    /// Lines of another conversation, or of another group's payload.
    pub(super) foreign: u64,
    /// Payloads that do not parse, or whose sender or nonce do not match the server's stamp.
    pub(super) malformed: u64,
    /// The next sequence number expected from each sender of the group.
    next_seq: Vec<u64>,
}

/// Sequence numbers (and nonces) start here: nonce 0 is the settling line in the default room.
pub(super) const FIRST_SEQ: u64 = 1;

impl Tally {
    pub(super) fn new(senders: usize) -> Self {
        Self {
            latencies_ns: Vec::new(),
            delivered: 0,
            duplicates: 0,
            out_of_order: 0,
            foreign: 0,
            malformed: 0,
            next_seq: vec![FIRST_SEQ; senders],
        }
    }

    /// Expects sender `sender`'s next line to be `seq` (a check that starts in the middle).
    pub(super) fn next_seq_from(&mut self, sender: usize, seq: u64) {
        if let Some(next) = self.next_seq.get_mut(sender) {
            *next = seq;
        }
    }

    /// A fresh count that goes on from this one's sequence state: what comes next is checked
    /// against what came before (a line seen before is a duplicate), but counted apart.
    pub(super) fn restarted(&self) -> Self {
        Self {
            next_seq: self.next_seq.clone(),
            ..Self::new(0)
        }
    }

    /// Every break of "only my conversation, each line once, in order".
    pub(super) fn violations(&self) -> u64 {
        self.duplicates + self.out_of_order + self.foreign + self.malformed
    }

    /// Adds another member's counts (the latencies too); the sequence state stays this one's.
    pub(super) fn absorb(&mut self, other: &Self) {
        self.latencies_ns.extend_from_slice(&other.latencies_ns);
        self.delivered += other.delivered;
        self.duplicates += other.duplicates;
        self.out_of_order += other.out_of_order;
        self.foreign += other.foreign;
        self.malformed += other.malformed;
    }

    /// The latencies of the delivered lines.
    pub(super) fn histogram(&self) -> Histogram<u64> {
        let mut histogram = latency_histogram();
        for &ns in &self.latencies_ns {
            histogram.saturating_record(ns);
        }
        histogram
    }

    /// Checks one received line; returns whether it was a new line of the member's conversation.
    pub(super) fn check(
        &mut self,
        expect: &Expect,
        conversation: &Conversation,
        m: &ChatMessage,
    ) -> bool {
        if *conversation != expect.conversation {
            self.foreign += 1;
            return false;
        }
        let Some(p) = parse(&m.text) else {
            self.malformed += 1;
            return false;
        };
        if p.group != expect.group {
            self.foreign += 1;
            return false;
        }
        if expect.senders.get(p.sender) != Some(&m.from) || m.nonce != p.seq {
            self.malformed += 1;
            return false;
        }
        let Some(want) = self.next_seq.get_mut(p.sender) else {
            self.malformed += 1;
            return false;
        };
        if p.seq == *want {
            *want += 1;
            self.delivered += 1;
            self.latencies_ns
                .push(now_ns().saturating_sub(p.sent_ns).max(1));
            true
        } else if p.seq < *want {
            self.duplicates += 1;
            false
        } else {
            self.out_of_order += 1;
            *want = p.seq + 1;
            false
        }
    }
}

/// Reads one member's lines until `expected` lines have arrived or the deadline passed; lines that
/// never came show up as `delivered` below what was expected. Returns the stream too: dropped here,
/// it would send the server a STOP_SENDING inside the measured window.
pub(super) async fn receive(
    mut recv: FrameSkipper,
    expect: Expect,
    mut tally: Tally,
    expected: u64,
    deadline: tokio::time::Instant,
) -> Result<(Tally, FrameSkipper)> {
    let mut got = 0u64;
    while got < expected {
        let Ok(next) = tokio::time::timeout_at(deadline, recv.next_chat_in()).await else {
            break;
        };
        let Some((conversation, m)) = next? else {
            break;
        };
        got += 1;
        tally.check(&expect, &conversation, &m);
    }
    Ok((tally, recv))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(from: &str, group: usize, sender: usize, seq: u64) -> ChatMessage {
        ChatMessage {
            id: seq,
            from: from.to_owned(),
            nonce: seq,
            text: payload(group, sender, seq),
            at_ms: 0,
        }
    }

    #[test]
    fn counts_each_kind_of_break() {
        let room = Conversation::Room("#r1".into());
        let expect = Expect {
            conversation: room.clone(),
            group: 1,
            senders: vec!["a".into(), "b".into()],
        };
        let mut t = Tally::new(2);
        assert!(t.check(&expect, &room, &line("a", 1, 0, 1)));
        assert!(t.check(&expect, &room, &line("b", 1, 1, 1)));
        assert!(!t.check(&expect, &room, &line("a", 1, 0, 1)), "again");
        assert!(!t.check(&expect, &room, &line("a", 1, 0, 3)), "2 skipped");
        let other = Conversation::Room("#r2".into());
        assert!(!t.check(&expect, &other, &line("a", 1, 0, 4)), "other room");
        assert!(!t.check(&expect, &room, &line("a", 2, 0, 4)), "other group");
        assert!(
            !t.check(&expect, &room, &line("b", 1, 0, 4)),
            "wrong sender"
        );
        assert_eq!(
            (
                t.delivered,
                t.duplicates,
                t.out_of_order,
                t.foreign,
                t.malformed
            ),
            (2, 1, 1, 2, 1)
        );
        assert_eq!(t.violations(), 5);
        assert_eq!(t.histogram().len(), 2, "a latency for each delivered line");
        assert!(parse("1:2:3").is_none() && parse("1:2:3:4:5").is_none());
    }
}
