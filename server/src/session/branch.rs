//! Wake-ups per branch for a task that waits on several futures at once.
//!
//! `tokio::select!` gives every branch the task's own waker, so whichever branch was woken, all of
//! them are polled again. A member's session waits on its reader, its writer and its kick: in a
//! busy room the writer is woken for every line, and each time the reader polled quinn's receive
//! stream for nothing (its lock, its chunk iterator), 4-5% of the server's CPU per delivery in a
//! profile of the fan-out. A [`Branch`] hands its futures a waker of its own that records the
//! wake-up before waking the task, so the task polls only the branches that were woken.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Wake, Waker},
};

use futures_util::task::AtomicWaker;

#[derive(Debug)]
struct Flag {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Before waking the task, so that the task sees the flag when it runs.
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// One branch of a task's wait: the futures polled under it share its waker and its flag.
#[derive(Debug)]
pub(crate) struct Branch {
    flag: Arc<Flag>,
    waker: Waker,
}

impl Branch {
    /// A branch that counts as woken, so its futures get their first poll.
    pub(crate) fn new() -> Self {
        let flag = Arc::new(Flag {
            woken: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        let waker = Waker::from(Arc::clone(&flag));
        Self { flag, waker }
    }

    /// The waker to poll this branch's futures with, if one of them was woken since the last call;
    /// `None` means none of them can make progress and polling them would be wasted.
    ///
    /// The task's waker is registered first: a wake-up that races with the poll that follows sets
    /// the flag again and wakes the task, so it is never lost.
    pub(crate) fn woken(&self, cx: &Context<'_>) -> Option<&Waker> {
        self.flag.task.register(cx.waker());
        self.flag
            .woken
            .swap(false, Ordering::AcqRel)
            .then_some(&self.waker)
    }
}

#[cfg(test)]
mod tests {
    use std::{
        future::Future,
        pin::pin,
        sync::atomic::AtomicUsize,
        task::{Context, Poll},
    };

    use super::*;

    /// Counts how often the task itself was woken.
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn a_branch_is_polled_first_then_only_after_its_own_wake_up() {
        let task = Arc::new(Counter(AtomicUsize::new(0)));
        let task_waker = Waker::from(Arc::clone(&task));
        let cx = Context::from_waker(&task_waker);
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let mut rx = pin!(rx);
        let reads = Branch::new();
        let writes = Branch::new();

        // First call: both count as woken; the receiver is pending and keeps the branch's waker.
        let waker = reads.woken(&cx).expect("a new branch is polled once");
        let mut branch_cx = Context::from_waker(waker);
        assert!(rx.as_mut().poll(&mut branch_cx).is_pending());
        assert!(writes.woken(&cx).is_some());

        // Nothing happened since: neither branch is to be polled.
        assert!(reads.woken(&cx).is_none());
        assert!(writes.woken(&cx).is_none());
        assert_eq!(task.0.load(Ordering::Relaxed), 0);

        // The sender wakes the reads branch only, and through it the task.
        tx.send(7).expect("receiver alive");
        assert_eq!(task.0.load(Ordering::Relaxed), 1);
        assert!(writes.woken(&cx).is_none());
        let waker = reads.woken(&cx).expect("woken by the send");
        let mut branch_cx = Context::from_waker(waker);
        assert_eq!(rx.as_mut().poll(&mut branch_cx), Poll::Ready(Ok(7)));
    }
}
