//! A member's queue of encoded frames. The room (and the member's own replies) push without ever
//! waiting; the member's writer drains it. It is bounded: a push into a full queue fails, and the
//! room then counts the member as too slow.
//!
//! tokio's bounded channel did this before, but every queue came with its first block of 32 slots
//! and the channel itself (1.5 KiB in a heap profile of 5000 idle members, kept for each member's
//! whole life), and every push and pop went through its semaphore. Here a queue is one small
//! allocation; its buffer grows with what is queued and is let go of once a large backlog drains.
//!
//! Each frame carries the time it was queued, so the room can tell how long a member's oldest
//! frame has waited (its sojourn time) and hold speakers back on time rather than on a count: a
//! count of frames says nothing about delay when the rate changes. A queue the room is waiting on
//! is *watched*: its writer tells the room (one `Notify` for the room) when it takes frames, so
//! speakers resume as soon as the laggard makes progress instead of after a fixed sleep.

use std::{
    collections::VecDeque,
    future::poll_fn,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    task::{Context, Poll},
    time::Instant,
};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use tokio::sync::Notify;

/// Slots a drained queue may keep; a larger buffer is freed when it empties.
const KEEP_SLOTS: usize = 16;

/// Why a push failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PushError {
    /// The queue holds as many frames as it may: its member is not keeping up.
    Full,
    /// The member left the room (the room's sender is gone) or its writer stopped.
    Closed,
}

/// How far behind a queue is: frames waiting, and when the oldest of them was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Backlog {
    pub(crate) frames: usize,
    pub(crate) oldest: Option<Instant>,
}

struct State {
    frames: VecDeque<(Bytes, Instant)>,
    capacity: usize,
    closed: bool,
    /// The room waits on this queue: tell `progress` when the writer next takes frames.
    watched: bool,
}

struct Shared {
    state: Mutex<State>,
    writer: AtomicWaker,
    /// The room's: woken when a watched queue makes progress.
    progress: Arc<Notify>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; if something did, the frames are still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, frame: Bytes, now: Instant) -> Result<(), PushError> {
        let was_empty = {
            let mut state = self.lock();
            if state.closed {
                return Err(PushError::Closed);
            }
            if state.frames.len() >= state.capacity {
                return Err(PushError::Full);
            }
            state.frames.push_back((frame, now));
            state.frames.len() == 1
        };
        // A writer that saw frames has not waited since, so only the first frame needs to wake it.
        if was_empty {
            self.writer.wake();
        }
        Ok(())
    }

    fn close(&self) {
        self.lock().closed = true;
        self.writer.wake();
    }
}

/// A new queue for up to `capacity` frames; `progress` is told when a watched queue's writer takes
/// frames (see [`Sender::watch`]).
pub(crate) fn queue(capacity: usize, progress: Arc<Notify>) -> (Sender, Receiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            frames: VecDeque::new(),
            capacity,
            closed: false,
            watched: false,
        }),
        writer: AtomicWaker::new(),
        progress,
    });
    (
        Sender {
            shared: Arc::clone(&shared),
        },
        Receiver { shared },
    )
}

/// The room's end: dropping it closes the queue, and the writer ends once it has written what is
/// left.
pub(crate) struct Sender {
    shared: Arc<Shared>,
}

impl Sender {
    /// Queues `frame` as of `now` (the room reads the clock once for a frame to every member).
    pub(crate) fn push(&self, frame: Bytes, now: Instant) -> Result<(), PushError> {
        self.shared.push(frame, now)
    }

    /// Frames waiting to be written, and when the oldest was queued.
    pub(crate) fn backlog(&self) -> Backlog {
        let state = self.shared.lock();
        Backlog {
            frames: state.frames.len(),
            oldest: state.frames.front().map(|(_, at)| *at),
        }
    }

    /// Asks the writer to tell the room's `progress` the next time it takes frames.
    pub(crate) fn watch(&self) {
        self.shared.lock().watched = true;
    }

    /// An end for the member's own replies that does not keep the queue open.
    pub(crate) fn downgrade(&self) -> WeakSender {
        WeakSender {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.shared.close();
    }
}

/// Pushes like [`Sender`], but fails with [`PushError::Closed`] once the room's sender is gone.
/// Cloned into every room the member is in: one queue per member, whatever its rooms.
#[derive(Clone)]
pub(crate) struct WeakSender {
    shared: Arc<Shared>,
}

impl WeakSender {
    pub(crate) fn push(&self, frame: Bytes) -> Result<(), PushError> {
        self.shared.push(frame, Instant::now())
    }
}

/// The writer's end.
pub(crate) struct Receiver {
    shared: Arc<Shared>,
}

impl Receiver {
    /// Moves up to `limit` frames into `batch`, waiting while the queue is empty and open. Returns
    /// how many were moved: 0 means the queue is closed and drained.
    pub(crate) async fn recv_many(&mut self, batch: &mut Vec<Bytes>, limit: usize) -> usize {
        poll_fn(|cx| self.poll_recv_many(cx, batch, limit)).await
    }

    fn poll_recv_many(
        &self,
        cx: &mut Context<'_>,
        batch: &mut Vec<Bytes>,
        limit: usize,
    ) -> Poll<usize> {
        let mut state = self.shared.lock();
        if !state.frames.is_empty() {
            let n = limit.min(state.frames.len());
            batch.extend(state.frames.drain(..n).map(|(frame, _)| frame));
            if state.frames.is_empty() && state.frames.capacity() > KEEP_SLOTS {
                state.frames = VecDeque::new();
            }
            let watched = std::mem::take(&mut state.watched);
            drop(state);
            if watched {
                self.shared.progress.notify_waiters();
            }
            return Poll::Ready(n);
        }
        if state.closed {
            return Poll::Ready(0);
        }
        // Registered under the lock: a push waits for it, then sees an empty queue and wakes us.
        self.shared.writer.register(cx.waker());
        Poll::Pending
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.shared.lock().frames.is_empty()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // Nobody will write these: refuse further pushes, and free the frames now.
        let mut state = self.shared.lock();
        state.closed = true;
        state.frames = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: std::time::Duration = std::time::Duration::from_secs(5);

    fn frame(n: u8) -> Bytes {
        Bytes::from(vec![n])
    }

    fn queue(capacity: usize) -> (Sender, Receiver) {
        super::queue(capacity, Arc::new(Notify::new()))
    }

    #[tokio::test]
    async fn frames_come_out_in_order_until_the_room_lets_go() {
        let (tx, mut rx) = queue(3);
        let weak = tx.downgrade();
        tx.push(frame(1), Instant::now()).expect("room");
        weak.push(frame(2)).expect("reply");
        tx.push(frame(3), Instant::now()).expect("room");
        assert_eq!(tx.push(frame(4), Instant::now()), Err(PushError::Full));
        assert_eq!(tx.backlog().frames, 3);

        let mut batch = Vec::new();
        assert_eq!(rx.recv_many(&mut batch, 2).await, 2);
        assert_eq!(batch, vec![frame(1), frame(2)]);
        assert!(!rx.is_empty());

        // The room lets go: what is queued is still written, then the writer sees the end, and
        // the member's own replies are refused.
        drop(tx);
        assert_eq!(weak.push(frame(5)), Err(PushError::Closed));
        batch.clear();
        assert_eq!(rx.recv_many(&mut batch, 8).await, 1);
        assert_eq!(batch, vec![frame(3)]);
        let end = tokio::time::timeout(WAIT, rx.recv_many(&mut batch, 8)).await;
        assert_eq!(end, Ok(0), "a closed, drained queue ends the writer");
    }

    #[tokio::test]
    async fn a_waiting_writer_is_woken_by_a_push() {
        let (tx, mut rx) = queue(4);
        let writer = tokio::spawn(async move {
            let mut batch = Vec::new();
            let n = rx.recv_many(&mut batch, 4).await;
            (n, batch)
        });
        // Let the writer find the queue empty and wait.
        tokio::task::yield_now().await;
        tx.push(frame(9), Instant::now()).expect("open");
        let (n, batch) = tokio::time::timeout(WAIT, writer)
            .await
            .expect("woken")
            .expect("no panic");
        assert_eq!((n, batch), (1, vec![frame(9)]));
    }

    #[test]
    fn a_queue_whose_writer_is_gone_refuses_pushes() {
        let (tx, rx) = queue(4);
        tx.push(frame(1), Instant::now()).expect("open");
        drop(rx);
        assert_eq!(tx.push(frame(2), Instant::now()), Err(PushError::Closed));
        assert_eq!(tx.backlog(), Backlog::default());
    }

    #[tokio::test]
    async fn a_large_backlog_is_let_go_of_once_written() {
        let (tx, mut rx) = queue(100);
        for n in 0..40 {
            tx.push(frame(n), Instant::now()).expect("room");
        }
        let mut batch = Vec::new();
        assert_eq!(rx.recv_many(&mut batch, 64).await, 40);
        assert_eq!(rx.shared.lock().frames.capacity(), 0);
    }

    #[tokio::test]
    async fn the_backlog_ages_and_a_watched_queue_reports_progress() {
        let progress = Arc::new(Notify::new());
        let (tx, mut rx) = super::queue(8, Arc::clone(&progress));
        let first = Instant::now();
        tx.push(frame(1), first).expect("open");
        tx.push(frame(2), first + std::time::Duration::from_millis(5))
            .expect("open");
        assert_eq!(
            tx.backlog(),
            Backlog {
                frames: 2,
                oldest: Some(first)
            }
        );

        // Not watched: taking frames tells nobody.
        let mut batch = Vec::new();
        let told = progress.notified();
        tokio::pin!(told);
        told.as_mut().enable();
        assert_eq!(rx.recv_many(&mut batch, 1).await, 1);
        let quiet = tokio::time::timeout(std::time::Duration::from_millis(20), told.as_mut());
        assert!(quiet.await.is_err(), "an unwatched queue woke the room");
        assert_eq!(tx.backlog().frames, 1);
        assert!(
            tx.backlog().oldest > Some(first),
            "the oldest left is the second"
        );

        // Watched: the next take wakes whoever waits on the room, once.
        tx.watch();
        assert_eq!(rx.recv_many(&mut batch, 1).await, 1);
        tokio::time::timeout(WAIT, told).await.expect("woken");
        assert_eq!(tx.backlog(), Backlog::default());
        assert!(!tx.shared.lock().watched, "one wake-up per watch");
    }
}
