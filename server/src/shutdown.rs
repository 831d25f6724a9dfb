//! The shutdown signal: one `watch` channel every session listens to.

use tokio::sync::watch;

/// Asks a running [`crate::Server`] to shut down gracefully. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    tx: watch::Sender<Option<String>>,
}

impl ShutdownHandle {
    pub(crate) fn new() -> Self {
        Self {
            tx: watch::channel(None).0,
        }
    }

    /// Starts the shutdown: clients receive `ShuttingDown { reason }` and are closed. Idempotent.
    pub fn shutdown(&self, reason: impl Into<String>) {
        let reason = reason.into();
        self.tx.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(reason);
            true
        });
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Option<String>> {
        self.tx.subscribe()
    }
}

/// Resolves with the reason once shutdown has been asked for.
pub(crate) async fn requested(rx: &mut watch::Receiver<Option<String>>) -> String {
    match rx.wait_for(Option::is_some).await {
        Ok(reason) => reason.clone().unwrap_or_default(),
        // The handle lives as long as the server; if it is gone, shutting down is right.
        Err(_) => String::from("server stopped"),
    }
}
