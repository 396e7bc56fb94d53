//! Stopping the node's background tasks with the server: the pacer, the rate limiters' sweep
//! and (through the registry) the inventory actors with their hold sweepers.
//!
//! `startup` keeps the [`Shutdown`]; each task holds a [`Signal`] and ends at its next turn
//! once the server stops, so a stopped node (a test's, or one shutting down) leaves nothing
//! ticking behind it.

use tokio::sync::watch;

/// The sending side, kept by whoever owns the server.
pub struct Shutdown(watch::Sender<bool>);

/// What a background task waits on.
#[derive(Clone)]
pub struct Signal(watch::Receiver<bool>);

impl Shutdown {
    /// A shutdown not yet given.
    pub fn new() -> Self {
        Shutdown(watch::channel(false).0)
    }

    /// A signal for one more task.
    pub fn signal(&self) -> Signal {
        Signal(self.0.subscribe())
    }

    /// Tells every task to stop.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Signal {
    /// Resolves once the shutdown is given (at once if it was already).
    pub async fn stopped(&mut self) {
        // An error means the sender is gone: the node is gone too, so stop as well.
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// Whether the shutdown was given.
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }
}
