//! Joins and leaves are not sent one by one: they wait in `State::pending` for a moment
//! ([`presence_delay`]) and go out together as `Presence` frames, each encoded once for everyone.
//! Filling a room of N is N² changes to tell whatever we do; gathered, it is about N frames per
//! moment instead of N² frames, queue pushes and writer wake-ups. Anything else the room sends
//! (a line, a reply, shutdown) first sends what is pending, so every member still sees one order.

use std::time::Duration;

use bytes::Bytes;
use wire::{PresenceChange, ServerFrame};

use super::{Room, State};

/// Most changes in one `Presence` frame: names are at most 32 bytes, so a frame stays near 10 KiB.
pub(super) const PRESENCE_FRAME_CHANGES: usize = 256;
/// How long joins and leaves wait for company, at least; see [`presence_delay`].
const PRESENCE_DELAY: Duration = Duration::from_millis(25);
/// Added to that wait per member of the room.
const PRESENCE_DELAY_PER_MEMBER: Duration = Duration::from_micros(200);
/// The longest a join or leave waits.
const PRESENCE_DELAY_MAX: Duration = Duration::from_millis(500);

impl Room {
    /// Adds a join or leave to those waiting to be sent.
    pub(super) fn announce(&self, state: &mut State, change: PresenceChange) {
        if state.closed {
            return;
        }
        state.pending.push(change);
        if state.pending.len() == 1 {
            self.presence_due.notify_one();
        }
    }

    /// Queues the pending presence changes for every member, [`PRESENCE_FRAME_CHANGES`] per
    /// frame, each frame encoded once.
    pub(super) fn flush_presence(&self, state: &mut State) {
        if state.pending.is_empty() {
            return;
        }
        let changes = std::mem::take(&mut state.pending);
        let frames: Vec<Bytes> = changes
            .chunks(PRESENCE_FRAME_CHANGES)
            .filter_map(|chunk| encode_presence(&self.name, chunk))
            .collect();
        self.fan_out(state, &frames, &changes);
    }

    /// Waits until presence changes are pending, gives them [`presence_delay`] to gather company,
    /// and sends them; for the life of the server.
    pub(crate) async fn tell_presence(&self) {
        loop {
            self.presence_due.notified().await;
            tokio::time::sleep(presence_delay(self.size())).await;
            self.flush_presence(&mut self.lock());
        }
    }
}

/// What a member that already knows the first `knows` of `changes` is sent of `frames` (which carry
/// them [`PRESENCE_FRAME_CHANGES`] per frame): the rest of the frame it is in the middle of, newly
/// encoded, then the shared frames after it.
pub(super) fn unknown_changes<'a>(
    room: &str,
    frames: &'a [Bytes],
    changes: &[PresenceChange],
    knows: usize,
) -> (Option<Bytes>, &'a [Bytes]) {
    if knows >= changes.len() {
        return (None, &[]);
    }
    let mut first = knows / PRESENCE_FRAME_CHANGES;
    let mut partial = None;
    if !knows.is_multiple_of(PRESENCE_FRAME_CHANGES) {
        let end = ((first + 1) * PRESENCE_FRAME_CHANGES).min(changes.len());
        partial = encode_presence(room, &changes[knows..end]);
        first += 1;
    }
    (partial, &frames[first.min(frames.len())..])
}

fn encode_presence(room: &str, changes: &[PresenceChange]) -> Option<Bytes> {
    let frame = ServerFrame::Presence {
        room: room.to_owned(),
        changes: changes.to_vec(),
    };
    wire::encode(&frame, wire::MAX_SERVER_FRAME)
        .inspect_err(|e| tracing::error!(error = %e, "cannot encode a presence frame"))
        .ok()
}

/// How long presence changes wait for company in a room of `members`.
///
/// Each wait ends in a frame to every member, so the cost of a room filling up is about N packets
/// per wait. In a small room 25 ms is unnoticeable and already gathers a burst of joins. Beyond
/// that the wait grows with the room so that presence costs at most about 5,000 packets a second
/// (N packets every N × 200 µs) up to 2,500 members, and the wait stops at half a second. At 50 µs
/// per member (20,000 packets a second) presence was 10 of the 36 datagrams per join of 1000
/// clients connecting; at 200 µs, 27 were left. Half a second at most, so that even in a room of
/// thousands a join shows within a moment.
fn presence_delay(members: usize) -> Duration {
    let per_member =
        PRESENCE_DELAY_PER_MEMBER.saturating_mul(u32::try_from(members).unwrap_or(u32::MAX));
    per_member.clamp(PRESENCE_DELAY, PRESENCE_DELAY_MAX)
}

#[cfg(test)]
mod tests {
    use wire::LeaveReason;

    use super::*;

    #[test]
    fn presence_waits_longer_in_bigger_rooms_within_bounds() {
        assert_eq!(presence_delay(0), PRESENCE_DELAY);
        assert_eq!(presence_delay(100), PRESENCE_DELAY);
        assert_eq!(presence_delay(1_000), Duration::from_millis(200));
        assert_eq!(presence_delay(2_000), Duration::from_millis(400));
        assert_eq!(presence_delay(10_000), PRESENCE_DELAY_MAX);
        assert_eq!(presence_delay(1_000_000), PRESENCE_DELAY_MAX);
    }

    fn decode(bytes: &Bytes) -> Vec<PresenceChange> {
        let mut decoder = wire::FrameDecoder::new(wire::MAX_SERVER_FRAME);
        decoder.push(bytes);
        match decoder.next_frame::<ServerFrame>() {
            Ok(Some(ServerFrame::Presence { changes, .. })) => changes,
            other => panic!("not a presence frame: {other:?}"),
        }
    }

    #[test]
    fn a_member_is_sent_only_the_changes_after_its_own_join() {
        let changes: Vec<PresenceChange> = (0..PRESENCE_FRAME_CHANGES + 10)
            .map(|i| PresenceChange::Left {
                user: format!("u{i}"),
                why: LeaveReason::Quit,
            })
            .collect();
        let frames: Vec<Bytes> = changes
            .chunks(PRESENCE_FRAME_CHANGES)
            .filter_map(|chunk| encode_presence("#r", chunk))
            .collect();
        assert_eq!(frames.len(), 2);
        // Knows the first 3: the rest of frame one, newly encoded, then frame two as shared.
        let (partial, rest) = unknown_changes("#r", &frames, &changes, 3);
        let partial = partial.expect("a partial frame");
        assert_eq!(decode(&partial), changes[3..PRESENCE_FRAME_CHANGES]);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].as_ptr(), frames[1].as_ptr());
        // Knows exactly frame one: frame two only, shared.
        let (partial, rest) = unknown_changes("#r", &frames, &changes, PRESENCE_FRAME_CHANGES);
        assert!(partial.is_none());
        assert_eq!(rest.len(), 1);
        // Knows everything: nothing.
        let (partial, rest) = unknown_changes("#r", &frames, &changes, changes.len());
        assert!(partial.is_none() && rest.is_empty());
    }
}
