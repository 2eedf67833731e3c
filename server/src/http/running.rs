//! The queries running now, each by its [`Cancel`] handle: what a shutdown
//! stops, and how a streamed answer is stopped when its client leaves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use segdb_engine::Cancel;

/// The registry of running queries.
#[derive(Default)]
pub struct Running {
    next: AtomicU64,
    handles: Mutex<HashMap<u64, Cancel>>,
    shutting_down: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Running {
    /// Registers a query stopped `timeout` from now; it leaves the registry
    /// when the returned guard is dropped. Once the server is shutting
    /// down, the handle starts cancelled.
    pub fn start(self: &Arc<Self>, timeout: Duration) -> RunningQuery {
        let deadline = Instant::now() + timeout;
        let cancel = Cancel::with_timeout(timeout);
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        lock(&self.handles).insert(id, cancel.clone());
        // Checked after the insertion: `cancel_all` sets the flag before it
        // takes the lock, so every query either is seen by it or sees this.
        if self.shutting_down.load(Ordering::SeqCst) {
            cancel.cancel();
        }
        RunningQuery {
            registry: self.clone(),
            id,
            cancel,
            deadline,
        }
    }

    /// Cancels every running query (and every one started from now on);
    /// returns how many were running.
    pub fn cancel_all(&self) -> usize {
        self.shutting_down.store(true, Ordering::SeqCst);
        let handles = lock(&self.handles);
        for c in handles.values() {
            c.cancel();
        }
        handles.len()
    }

    /// The number of queries running now.
    pub fn len(&self) -> usize {
        lock(&self.handles).len()
    }

    /// Whether no query is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A running query's place in the registry, with its handle.
pub struct RunningQuery {
    registry: Arc<Running>,
    id: u64,
    cancel: Cancel,
    deadline: Instant,
}

impl RunningQuery {
    /// The query's handle: install it with [`Cancel::scope`].
    pub fn cancel(&self) -> &Cancel {
        &self.cancel
    }

    /// When the query's timeout stops it (what a streamed answer's sends
    /// wait for at most).
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// A query whose guard is dropped is over: cancelling its handle stops any
/// evaluation still using it, as when a handler is dropped because its
/// client left while it waited for the blocking work.
impl Drop for RunningQuery {
    fn drop(&mut self) {
        self.cancel.cancel();
        lock(&self.registry.handles).remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_cancels_running_and_later_queries() {
        let r = Arc::new(Running::default());
        let q = r.start(Duration::from_secs(60));
        assert!(q.cancel().check().is_ok());
        assert_eq!(r.cancel_all(), 1);
        assert!(q.cancel().check().is_err());
        let late = r.start(Duration::from_secs(60));
        assert!(late.cancel().check().is_err());
        drop((q, late));
        assert!(r.is_empty());
    }
}
