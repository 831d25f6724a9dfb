//! Handing frames to every member's queue, and what happens to members that cannot keep up.
//!
//! Speakers wait while the room is *congested*: some member's oldest queued frame has waited longer
//! than the queue delay target (and it has more than a few frames), or its queue is more than half
//! full. Waiting on time rather than on a count is what keeps delay bounded at full speed: with
//! a count of 512 frames, a line sat behind hundreds of others before anyone waited (p99 90 ms in
//! fanout 10 × 1,000); a delay target holds the same whatever the rate. A member that stays behind
//! for [`CONGESTION_GRACE`], or whose queue overflows, is disconnected as too slow, never silently
//! skipped, so one client that stops reading cannot hold the room.

use std::time::{Duration, Instant};

use bytes::Bytes;
use wire::{LeaveReason, PresenceChange, ServerFrame};

use super::{ConnId, Removal, Room, State, presence::unknown_changes};
use crate::queue::{Backlog, PushError};

/// How long a member may stay behind while speakers wait for it.
const CONGESTION_GRACE: Duration = Duration::from_secs(2);
/// Frames a member may have waiting, however old, before it counts as behind: a newcomer's large
/// `Welcome` on a slow link holds up the few frames behind it, and that alone should not hold up
/// the room.
const MIN_BACKLOG: usize = 32;
/// How long a waiting speaker sleeps before looking again when no watched queue reports progress
/// (a laggard removed, or a wake-up missed).
const CONGESTION_POLL: Duration = Duration::from_millis(2);

impl Room {
    /// Encodes `frame` once and queues it for every member, after the pending presence changes.
    pub(super) fn broadcast(&self, state: &mut State, frame: &ServerFrame) {
        self.flush_presence(state);
        match wire::encode(frame, wire::MAX_SERVER_FRAME) {
            Ok(bytes) => self.fan_out(state, &[bytes], &[]),
            // Every frame the room builds is bounded well below the limit; log rather than panic.
            Err(e) => tracing::error!(error = %e, "cannot encode a room frame"),
        }
    }

    /// Queues `frames` for every member. When they carry presence `changes`, a member that joined
    /// while those were pending skips the ones it already knows.
    pub(super) fn fan_out(&self, state: &mut State, frames: &[Bytes], changes: &[PresenceChange]) {
        let now = Instant::now();
        let mut slow = Vec::new();
        let mut backlog = Backlog::default();
        for (key, member) in &mut state.members {
            let knows = std::mem::take(&mut member.knows_pending);
            let (partial, rest) = if knows == 0 || changes.is_empty() {
                (None, frames)
            } else {
                unknown_changes(&self.name, frames, changes, knows)
            };
            let mut full = false;
            for bytes in partial.iter().chain(rest) {
                if let Err(PushError::Full) = member.tx.push(bytes.clone(), now) {
                    full = true;
                    break;
                }
            }
            if full {
                slow.push(key.clone());
            } else {
                backlog = worst(backlog, member.tx.backlog());
            }
        }
        state.backlog = backlog;
        self.remove_slow(state, slow);
    }

    /// Disconnects members whose queue overflowed. Their leaving joins the pending changes, so a
    /// mass disconnect costs one more presence frame, not a notice per member for every other.
    fn remove_slow(&self, state: &mut State, slow: Vec<String>) {
        for key in slow {
            let Some(mut member) = state.members.remove(&key) else {
                continue;
            };
            tracing::warn!(user = %member.name, "disconnecting a client that cannot keep up");
            self.metrics.left(LeaveReason::TooSlow);
            if let Some(kick) = member.kick.take() {
                let _ = kick.send(Removal::TooSlow);
            }
            self.announce(
                state,
                PresenceChange::Left {
                    user: member.name,
                    why: LeaveReason::TooSlow,
                },
            );
        }
    }

    /// Disconnects a member that cannot keep up (its own replies overflowed its queue).
    pub(crate) fn kick_slow(&self, conn: ConnId, key: &str) {
        let mut state = self.lock();
        if state.members.get(key).is_some_and(|m| m.conn == conn) {
            self.remove_slow(&mut state, vec![key.to_owned()]);
        }
    }

    /// How many more frames the longest member queue takes before the room counts as congested by
    /// count (see [`Room::congested`]), as of the last frame sent to everyone.
    pub(crate) fn headroom(&self) -> usize {
        self.congestion_limit()
            .saturating_sub(self.lock().backlog.frames)
    }

    /// Frames in one member's queue above which the room counts as congested whatever their age:
    /// half the queue.
    fn congestion_limit(&self) -> usize {
        self.sizes.queue_frames / 2
    }

    /// Whether a member with `backlog` is behind at `now`: more than half its queue, or more than a
    /// few frames of which the oldest has waited longer than the target.
    fn behind(&self, backlog: Backlog, now: Instant) -> bool {
        backlog.frames > self.congestion_limit()
            || (backlog.frames > MIN_BACKLOG
                && backlog
                    .oldest
                    .is_some_and(|at| now.saturating_duration_since(at) > self.sizes.queue_delay))
    }

    /// Whether some member is behind, so that speakers should wait before adding to its queue. The
    /// members behind are watched: their writers wake [`Room::wait_uncongested`] when they take
    /// frames. A member that has been behind for [`CONGESTION_GRACE`] is disconnected as too slow
    /// instead: it is not reading, and the room must not wait for it any longer.
    pub(crate) fn congested(&self) -> bool {
        let now = Instant::now();
        let mut state = self.lock();
        // What the last look saw only gets better as writers drain, so if it is not behind now,
        // nobody is.
        if !self.behind(state.backlog, now) {
            return false;
        }
        let mut slow = Vec::new();
        let mut congested = false;
        let mut backlog = Backlog::default();
        for (key, member) in &mut state.members {
            let seen = member.tx.backlog();
            if !self.behind(seen, now) {
                member.congested_since = None;
                backlog = worst(backlog, seen);
                continue;
            }
            let since = *member.congested_since.get_or_insert(now);
            if now.duration_since(since) >= CONGESTION_GRACE {
                slow.push(key.clone());
            } else {
                congested = true;
                member.tx.watch();
                backlog = worst(backlog, seen);
            }
        }
        state.backlog = backlog;
        self.remove_slow(&mut state, slow);
        congested
    }

    /// Returns once the room is not congested (see [`Room::congested`]): woken when a member the
    /// room waits on takes frames from its queue, or every [`CONGESTION_POLL`] at the latest.
    pub(crate) async fn wait_uncongested(&self) {
        loop {
            let progress = self.progress.notified();
            tokio::pin!(progress);
            // Registered before looking, so progress made in between is not missed.
            progress.as_mut().enable();
            if !self.congested() {
                return;
            }
            let _ = tokio::time::timeout(CONGESTION_POLL, progress).await;
        }
    }
}

/// Adds one member's backlog to the room's summary: the most frames any member has, and the oldest
/// frame among members with more than [`MIN_BACKLOG`]. So the summary is behind exactly when some
/// member is, and a member with a few old frames does not make every speaker look at every queue.
fn worst(room: Backlog, member: Backlog) -> Backlog {
    let oldest = if member.frames > MIN_BACKLOG {
        member.oldest
    } else {
        None
    };
    Backlog {
        frames: room.frames.max(member.frames),
        oldest: match (room.oldest, oldest) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{
        config::{Config, TlsSource},
        store::{Retention, Store},
    };

    const DELAY: Duration = Duration::from_millis(20);
    const WAIT: Duration = Duration::from_secs(5);

    fn room() -> Arc<Room> {
        let mut config = Config::new(
            "127.0.0.1:0".parse().expect("address"),
            TlsSource::DevCerts {
                dir: std::path::PathBuf::new(),
            },
        );
        config.limits.queue_delay = DELAY;
        let retention = Retention {
            max_messages: 0,
            max_age_ms: 0,
        };
        let store = Store::in_memory(retention).expect("in-memory store");
        Arc::new(Room::new(&config, store).expect("room"))
    }

    fn queue_frames(room: &Room, n: usize) {
        let frames: Vec<Bytes> = (0..n).map(|i| Bytes::from(vec![i as u8; 8])).collect();
        let mut state = room.lock();
        room.fan_out(&mut state, &frames, &[]);
    }

    #[tokio::test]
    async fn speakers_wait_on_old_frames_not_on_many_young_ones_and_resume_when_they_are_taken() {
        let room = room();
        let mut alice = room
            .join(
                (1, certs::Fingerprint::from_bytes([1; 32])),
                "alice",
                None,
                crate::config::Limits::default().advertised(),
            )
            .expect("joins");
        // The Welcome, then more frames than the minimum backlog, all young: no waiting.
        queue_frames(&room, MIN_BACKLOG + 8);
        assert!(!room.congested(), "young frames held speakers back");

        // Once the oldest has waited longer than the target, speakers wait...
        tokio::time::sleep(DELAY * 2).await;
        assert!(room.congested(), "old frames did not hold speakers back");
        let waiter = tokio::spawn({
            let room = Arc::clone(&room);
            async move { room.wait_uncongested().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());

        // ...until the member's writer takes them: its progress wakes the waiting speaker.
        let mut batch = Vec::new();
        assert!(alice.rx.recv_many(&mut batch, 1024).await > MIN_BACKLOG);
        tokio::time::timeout(WAIT, waiter)
            .await
            .expect("the speaker resumed")
            .expect("no panic");
        assert!(!room.congested());
        assert_eq!(
            room.headroom(),
            room.congestion_limit(),
            "the queue is empty"
        );
    }

    #[tokio::test]
    async fn a_few_old_frames_do_not_hold_the_room() {
        let room = room();
        let _alice = room
            .join(
                (1, certs::Fingerprint::from_bytes([1; 32])),
                "alice",
                None,
                crate::config::Limits::default().advertised(),
            )
            .expect("joins");
        // The Welcome plus MIN_BACKLOG - 1 frames: MIN_BACKLOG in all, never read.
        queue_frames(&room, MIN_BACKLOG - 1);
        tokio::time::sleep(DELAY * 2).await;
        assert!(!room.congested());
    }
}
