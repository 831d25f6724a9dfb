//! The history's write-ahead log is copied into the database on a thread of its own.
//!
//! SQLite checkpoints the log by itself every 1000 pages, inside whichever commit crosses that mark,
//! and a checkpoint syncs the log and the database to disk. Commits happen under the room lock on
//! the server's one runtime thread, so every connection waited for those syncs: `strace` of a
//! fanout 100 × 20 run showed two checkpoints of 4–5 ms each in 4 s, and a stall of 5 ms at 500
//! lines a second delays a few hundred deliveries, enough to move the 99th percentile. Here the
//! room's connection never checkpoints (`wal_autocheckpoint=0`) and this thread runs a passive
//! checkpoint, which never waits for the writer nor makes it wait, twice a second.
//!
//! A passive checkpoint copies the log but cannot make the writer start it again from the top: the
//! writer does that only when it begins a transaction with everything copied, which lines that keep
//! arriving during the checkpoints' syncs seldom allow (in a fanout 100 × 20 run without what
//! follows, the log grew from 207 to 2011 pages over 4 s, never starting again).
//! Past [`RESTART_AFTER_FRAMES`] this thread runs one `RESTART` checkpoint instead: the writer
//! waits for it (a stall like the automatic ones before, but after four times the pages, and only
//! under uninterrupted load), and its next transaction starts the log again.

//!
//! This module imports nothing of the store's: the store opens the connection and hands it over, so
//! that imports run one way (store → checkpoint).

use std::{sync::mpsc, thread::JoinHandle, time::Duration};

use rusqlite::Connection;

/// How often the log is copied into the database.
const EVERY: Duration = Duration::from_millis(500);

/// Log frames (pages, 4 KiB each) after which the writer is made to start the log again.
const RESTART_AFTER_FRAMES: i64 = 4000;

/// The checkpoint thread; dropping it stops the thread and waits for it.
pub(crate) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing through `conn`, a connection of its own to a database whose writer
    /// must have turned automatic checkpoints off. Fails only if the thread cannot be started.
    pub(crate) fn start(conn: Connection) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("history-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                    checkpoint(&conn);
                }
                // Closing the last connection checkpoints what is left and removes the log.
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// One round: copies what it can of the log into the database without waiting for anyone, then,
/// if the log has grown past [`RESTART_AFTER_FRAMES`], makes the writer start it again. Failure
/// only leaves the log longer; the next round tries again.
fn checkpoint(conn: &Connection) {
    let frames = match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1))
    {
        Ok(frames) => frames,
        Err(e) => {
            tracing::warn!(error = %e, "history checkpoint failed; the write-ahead log grows until one succeeds");
            return;
        }
    };
    if frames >= RESTART_AFTER_FRAMES
        && let Err(e) = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
    {
        tracing::warn!(error = %e, frames, "cannot restart the history's write-ahead log");
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
