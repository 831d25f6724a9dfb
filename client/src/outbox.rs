//! Our lines between [`Session::say`](crate::Session::say) and their receipt.
//!
//! A line waits here, in order, until the [`Pacer`](crate::pacing::Pacer) lets it go; then it is
//! unconfirmed until its receipt (our own `Chat` coming back) or a `Problem` naming it. Nothing
//! leaves the outbox without the user hearing of it: a receipt, a problem, or, when the session
//! ends first, the [`Farewell`] lists it. The counts are shared with the [`Session`](crate::Session)
//! handles through atomics, so a UI reads them without a round trip to the session task.

use std::{
    collections::VecDeque,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

/// A frame that spends from the server's rate bucket, waiting for its turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outgoing {
    /// A line; where it goes is the session's business (see `session::State::targets`).
    Say(u64, String),
    /// The default room's users.
    ListUsers,
    Request(u32, wire::Request),
    /// Anything else that spends from the bucket: about rooms (protocol 5).
    Frame(wire::ClientFrame),
}

/// How many of our lines are on their way, as [`Session::queue`](crate::Session::queue) reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueState {
    /// Lines waiting for their turn under the server's rate limit (or for the connection to come
    /// back): not sent yet.
    pub waiting: usize,
    /// Lines sent whose receipt has not come yet.
    pub unconfirmed: usize,
}

impl QueueState {
    /// Lines that have not been accepted yet, sent or not.
    pub fn total(&self) -> usize {
        self.waiting + self.unconfirmed
    }
}

/// What became of this session's lines, returned by [`Session::quit`](crate::Session::quit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Farewell {
    /// Lines the server accepted (their receipt came).
    pub accepted: u64,
    /// Lines the server refused with a `Problem` (the session told each as [`Event::Problem`]).
    ///
    /// [`Event::Problem`]: crate::Event::Problem
    pub refused: u64,
    /// Lines never sent, with their nonce, in order.
    pub unsent: Vec<(u64, String)>,
    /// Lines sent whose receipt never came: the server may or may not have them.
    pub unconfirmed: Vec<(u64, String)>,
    /// `TooFast` answers the server gave this session. The session paces itself by the server's
    /// advertised limits, so this stays 0 unless the network bunches frames beyond what the
    /// pacing allows for (the lines concerned are sent again, not lost).
    pub too_fast: u64,
    /// Why the session stopped waiting for receipts, when it did before all came.
    pub gave_up: Option<String>,
}

impl Farewell {
    /// Every line said in this session was accepted.
    pub fn all_accepted(&self) -> bool {
        self.refused == 0 && self.unsent.is_empty() && self.unconfirmed.is_empty()
    }

    /// Lines said in this session that were not accepted (refused, unsent or unconfirmed).
    pub fn not_accepted(&self) -> u64 {
        self.refused + (self.unsent.len() + self.unconfirmed.len()) as u64
    }
}

/// The counts the session task shares with its handles.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    waiting: AtomicUsize,
    unconfirmed: AtomicUsize,
    /// The longest line the server takes, in bytes ([`wire::Limits::longest_line`]).
    pub(crate) longest_line: AtomicUsize,
}

impl Shared {
    pub(crate) fn queue(&self) -> QueueState {
        QueueState {
            waiting: self.waiting.load(Ordering::Relaxed),
            unconfirmed: self.unconfirmed.load(Ordering::Relaxed),
        }
    }
}

/// The session task's side.
#[derive(Debug)]
pub(crate) struct Outbox {
    /// Frames not sent yet, in the order they were asked for.
    waiting: VecDeque<Outgoing>,
    /// Lines sent and not yet confirmed by their receipt, in order: sent again after a reconnect.
    unconfirmed: VecDeque<(u64, String)>,
    accepted: u64,
    refused: u64,
    too_fast: u64,
    shared: Arc<Shared>,
}

impl Outbox {
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            waiting: VecDeque::new(),
            unconfirmed: VecDeque::new(),
            accepted: 0,
            refused: 0,
            too_fast: 0,
            shared,
        }
    }

    /// Queues a frame behind the others.
    pub(crate) fn push(&mut self, frame: Outgoing) {
        self.waiting.push_back(frame);
        self.publish();
    }

    /// Whether a frame waits for its turn.
    pub(crate) fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Whether a line has yet to be accepted or refused.
    pub(crate) fn is_settled(&self) -> bool {
        self.unconfirmed.is_empty() && !self.waiting.iter().any(|f| matches!(f, Outgoing::Say(..)))
    }

    /// Whether a sent line awaits its receipt.
    pub(crate) fn has_unconfirmed(&self) -> bool {
        !self.unconfirmed.is_empty()
    }

    /// Lines not accepted yet, sent or not.
    pub(crate) fn lines_left(&self) -> usize {
        self.shared.queue().total()
    }

    /// Takes the next frame to send; a line counts as unconfirmed from now on.
    pub(crate) fn next_to_send(&mut self) -> Option<Outgoing> {
        let frame = self.waiting.pop_front()?;
        if let Outgoing::Say(nonce, text) = &frame {
            self.unconfirmed.push_back((*nonce, text.clone()));
        }
        self.publish();
        Some(frame)
    }

    /// Our line `nonce` came back: accepted. False when it is not one we wait for (an earlier
    /// session's, or already settled).
    pub(crate) fn receipt(&mut self, nonce: u64) -> bool {
        let found = remove(&mut self.unconfirmed, nonce).is_some()
            || remove_waiting(&mut self.waiting, nonce).is_some();
        if found {
            self.accepted += 1;
            self.publish();
        }
        found
    }

    /// The server refused our line `nonce` for good.
    pub(crate) fn refused(&mut self, nonce: u64) -> bool {
        let found = remove(&mut self.unconfirmed, nonce).is_some()
            || remove_waiting(&mut self.waiting, nonce).is_some();
        if found {
            self.refused += 1;
            self.publish();
        }
        found
    }

    /// The server answered `TooFast` about our line `nonce`: it goes back to the queue, in nonce
    /// order (the order it was said in), to be sent again. False when it is not ours to hold.
    pub(crate) fn too_fast(&mut self, nonce: u64) -> bool {
        self.too_fast += 1;
        let Some(line) = remove(&mut self.unconfirmed, nonce) else {
            return false;
        };
        self.requeue(vec![line]);
        true
    }

    /// A new connection: every unconfirmed line goes back to the front of the queue, to be sent
    /// again at the new connection's pace (the server drops one it already has).
    pub(crate) fn resend_all(&mut self) {
        let lines: Vec<_> = self.unconfirmed.drain(..).collect();
        self.requeue(lines);
    }

    /// Puts lines back among the waiting ones, each before the first waiting line said after it.
    fn requeue(&mut self, lines: Vec<(u64, String)>) {
        for (nonce, text) in lines.into_iter().rev() {
            let at = self
                .waiting
                .iter()
                .position(|f| matches!(f, Outgoing::Say(n, _) if *n > nonce))
                .unwrap_or(self.waiting.len());
            self.waiting.insert(at, Outgoing::Say(nonce, text));
        }
        self.publish();
    }

    /// The end: what became of every line, and the queue emptied.
    pub(crate) fn farewell(&mut self, gave_up: Option<String>) -> Farewell {
        let unsent = self
            .waiting
            .drain(..)
            .filter_map(|f| match f {
                Outgoing::Say(nonce, text) => Some((nonce, text)),
                Outgoing::ListUsers | Outgoing::Request(..) | Outgoing::Frame(_) => None,
            })
            .collect();
        let farewell = Farewell {
            accepted: self.accepted,
            refused: self.refused,
            unsent,
            unconfirmed: self.unconfirmed.drain(..).collect(),
            too_fast: self.too_fast,
            gave_up,
        };
        self.publish();
        farewell
    }

    fn publish(&self) {
        let waiting = self
            .waiting
            .iter()
            .filter(|f| matches!(f, Outgoing::Say(..)))
            .count();
        self.shared.waiting.store(waiting, Ordering::Relaxed);
        self.shared
            .unconfirmed
            .store(self.unconfirmed.len(), Ordering::Relaxed);
    }
}

/// Removes the line `nonce`; receipts come in order, so it is nearly always the first.
fn remove(lines: &mut VecDeque<(u64, String)>, nonce: u64) -> Option<(u64, String)> {
    let at = lines.iter().position(|(n, _)| *n == nonce)?;
    lines.remove(at)
}

fn remove_waiting(frames: &mut VecDeque<Outgoing>, nonce: u64) -> Option<Outgoing> {
    let at = frames
        .iter()
        .position(|f| matches!(f, Outgoing::Say(n, _) if *n == nonce))?;
    frames.remove(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox() -> Outbox {
        Outbox::new(Arc::new(Shared::default()))
    }

    fn say(nonce: u64) -> Outgoing {
        Outgoing::Say(nonce, format!("line {nonce}"))
    }

    #[test]
    fn lines_go_in_order_and_are_counted_until_their_receipt() {
        let mut o = outbox();
        for n in 1..=3 {
            o.push(say(n));
        }
        assert_eq!(
            o.shared.queue(),
            QueueState {
                waiting: 3,
                unconfirmed: 0
            }
        );
        assert_eq!(o.next_to_send(), Some(say(1)));
        assert_eq!(o.next_to_send(), Some(say(2)));
        assert_eq!(
            o.shared.queue(),
            QueueState {
                waiting: 1,
                unconfirmed: 2
            }
        );
        assert!(o.receipt(1));
        assert!(!o.receipt(1), "a second receipt is not ours");
        assert!(o.refused(2));
        assert!(!o.is_settled());
        let farewell = o.farewell(Some("gone".into()));
        assert_eq!(farewell.accepted, 1);
        assert_eq!(farewell.refused, 1);
        assert_eq!(farewell.unsent, vec![(3, "line 3".to_owned())]);
        assert_eq!(farewell.not_accepted(), 2);
        assert!(!farewell.all_accepted());
        assert_eq!(o.shared.queue().total(), 0);
    }

    #[test]
    fn lines_sent_again_keep_their_order() {
        let mut o = outbox();
        for n in 1..=4 {
            o.push(say(n));
        }
        o.push(Outgoing::ListUsers);
        for _ in 0..3 {
            o.next_to_send();
        }
        // Line 2 was refused as too fast: it goes before 4, after nothing sent later.
        assert!(o.too_fast(2));
        assert_eq!(o.next_to_send(), Some(say(2)));
        // The connection drops with 1, 3 and 2 unconfirmed: all go back before 4, in order.
        o.resend_all();
        let order: Vec<_> = std::iter::from_fn(|| o.next_to_send()).collect();
        assert_eq!(
            order,
            vec![say(1), say(2), say(3), say(4), Outgoing::ListUsers]
        );
        let farewell = o.farewell(None);
        assert_eq!(farewell.too_fast, 1);
        assert_eq!(farewell.unconfirmed.len(), 4);
    }

    #[test]
    fn a_receipt_for_a_line_sent_again_but_not_yet_resent_settles_it() {
        let mut o = outbox();
        o.push(say(7));
        o.next_to_send();
        o.resend_all();
        // The replay after the resume shows the server had it.
        assert!(o.receipt(7));
        assert!(o.is_settled());
        assert!(!o.has_waiting());
    }
}
