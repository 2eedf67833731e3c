//! CancelRequest: a client opens a new connection and sends the process id
//! and secret key it was given at startup; the query running on that
//! connection stops as a timeout stops it (its engine [`Cancel`] handle
//! is cancelled, the evaluation stops between chunks) and the client gets
//! 57014.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use pgwire::api::cancel::CancelHandler;
use pgwire::messages::cancel::CancelRequest;
use segdb_engine::Cancel;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A connection's running query, if any.
#[derive(Default)]
pub struct Slot(Mutex<Option<Cancel>>);

impl Slot {
    /// `cancel` is the handle of the query running now.
    pub fn set(&self, cancel: Cancel) {
        *lock(&self.0) = Some(cancel);
    }

    /// No query runs now.
    pub fn clear(&self) {
        *lock(&self.0) = None;
    }
}

/// Every connection's slot, by process id and secret key.
#[derive(Default)]
pub struct Cancels {
    slots: Mutex<HashMap<(i32, Bytes), Arc<Slot>>>,
}

impl Cancels {
    /// Registers a connection; it leaves when the guard is dropped (with
    /// the connection's session).
    pub fn register(self: &Arc<Self>, pid: i32, key: Bytes) -> (Arc<Slot>, Registered) {
        let slot = Arc::new(Slot::default());
        lock(&self.slots).insert((pid, key.clone()), slot.clone());
        (
            slot,
            Registered {
                cancels: self.clone(),
                key: (pid, key),
            },
        )
    }
}

/// A connection's place among the cancellable ones.
pub struct Registered {
    cancels: Arc<Cancels>,
    key: (i32, Bytes),
}

impl Drop for Registered {
    fn drop(&mut self) {
        lock(&self.cancels.slots).remove(&self.key);
    }
}

#[async_trait]
impl CancelHandler for Cancels {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let key = (request.pid, request.secret_key.to_bytes());
        let slot = lock(&self.slots).get(&key).cloned();
        // An unknown pair is ignored, as Postgres does: the requester
        // learns nothing.
        if let Some(slot) = slot {
            if let Some(c) = lock(&slot.0).as_ref() {
                tracing::info!(pid = request.pid, "a Postgres client cancelled its query");
                c.cancel();
            }
        }
    }
}
