//! Handing frames to every member's queue, and what happens to members that cannot keep up:
//! speakers wait while a queue is more than half full (congestion), and a member that stays that
//! far behind, or whose queue overflows, is disconnected as too slow, never silently skipped.

use std::time::{Duration, Instant};

use bytes::Bytes;
use wire::{LeaveReason, PresenceChange, ServerFrame};

use super::{ConnId, Removal, Room, State, presence::unknown_changes};
use crate::queue::PushError;

/// How long a member may stay more than half a queue behind while speakers wait for it.
const CONGESTION_GRACE: Duration = Duration::from_secs(2);

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
        let mut slow = Vec::new();
        let mut max_queued = 0;
        for (key, member) in &mut state.members {
            let knows = std::mem::take(&mut member.knows_pending);
            let (partial, rest) = if knows == 0 || changes.is_empty() {
                (None, frames)
            } else {
                unknown_changes(frames, changes, knows)
            };
            let mut full = false;
            for bytes in partial.iter().chain(rest) {
                if let Err(PushError::Full) = member.tx.push(bytes.clone()) {
                    full = true;
                    break;
                }
            }
            if full {
                slow.push(key.clone());
            } else {
                max_queued = max_queued.max(member.queued());
            }
        }
        state.max_queued = max_queued;
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

    /// How many more frames the longest member queue takes before the room counts as congested (see
    /// [`Room::congested`]), as of the last frame sent to everyone.
    pub(crate) fn headroom(&self) -> usize {
        self.congestion_limit()
            .saturating_sub(self.lock().max_queued)
    }

    /// Frames in one member's queue above which the room counts as congested: half the queue.
    fn congestion_limit(&self) -> usize {
        self.sizes.queue_frames / 2
    }

    /// Whether a member's queue is more than half full, so that speakers should wait before adding
    /// to it. A member that has been that far behind for [`CONGESTION_GRACE`] is disconnected as too
    /// slow instead: it is not reading, and the room must not wait for it any longer.
    pub(crate) fn congested(&self) -> bool {
        let limit = self.congestion_limit();
        let mut state = self.lock();
        if state.max_queued <= limit {
            return false;
        }
        let now = Instant::now();
        let mut slow = Vec::new();
        let mut max_queued = 0;
        for (key, member) in &mut state.members {
            let queued = member.queued();
            if queued <= limit {
                member.congested_since = None;
                continue;
            }
            let since = *member.congested_since.get_or_insert(now);
            if now.duration_since(since) >= CONGESTION_GRACE {
                slow.push(key.clone());
            } else {
                max_queued = max_queued.max(queued);
            }
        }
        state.max_queued = max_queued;
        self.remove_slow(&mut state, slow);
        max_queued > limit
    }
}
