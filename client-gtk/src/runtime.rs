//! The one tokio runtime the network lives on, and the helpers that cross between it and GLib.
//!
//! GTK owns the main thread and must never block, so every network future runs here, on a worker
//! thread. A chat client needs very little: one worker is plenty. The runtime is created on first use
//! and lives as long as the process.

use std::{future::Future, sync::LazyLock};

use tokio::runtime::Runtime;

static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("chat-network")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        // Without a runtime the app cannot talk to anyone; there is nothing sensible to fall back to.
        Err(e) => panic!("cannot start the network runtime: {e}"),
    }
});

/// The runtime, e.g. to `block_on` outside GTK (tests, shutdown).
pub fn runtime() -> &'static Runtime {
    &RUNTIME
}

/// Runs `fut` on the network runtime. The returned handle can be awaited from the GLib main loop:
/// tokio's `JoinHandle` only needs a waker, not a tokio context.
pub fn spawn_tokio<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    RUNTIME.spawn(fut)
}

/// Runs `fut` on the GTK main thread's context (for futures that touch widgets).
pub fn spawn_local<F>(fut: F) -> gtk::glib::JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    gtk::glib::spawn_future_local(fut)
}
