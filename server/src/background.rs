//! A background thread of the server that sleeps until its next piece of
//! work is due or someone wakes it: the campaign scheduler and the trigger
//! thread. Never on the tokio reactor (their work is blocking engine
//! work); stopped and joined at shutdown (work in progress finishes).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How a background thread is woken and stopped (shared with it).
#[derive(Debug, Default)]
pub struct Wake {
    /// `true` when the thread must stop.
    stop: Mutex<bool>,
    cv: Condvar,
    /// Bumped on every wake, so a wake between two looks is not lost.
    changes: AtomicU64,
}

impl Wake {
    /// Whether the thread must stop.
    pub fn stopped(&self) -> bool {
        *self.stop.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes so far: read before looking for work, then given to
    /// [`Wake::sleep`].
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// Sleeps up to `wait`, or less if stopped or woken since `seen`
    /// wakes. Returns whether the thread must stop.
    pub fn sleep(&self, seen: u64, wait: Duration) -> bool {
        let stop = self.stop.lock().unwrap_or_else(|p| p.into_inner());
        if *stop {
            return true;
        }
        if self.changes() != seen {
            return false;
        }
        let (stop, _) = self
            .cv
            .wait_timeout(stop, wait)
            .unwrap_or_else(|p| p.into_inner());
        *stop
    }

    fn wake(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
        let _g = self.stop.lock().unwrap_or_else(|p| p.into_inner());
        self.cv.notify_all();
    }

    fn set_stop(&self) {
        *self.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
    }
}

/// A named background thread and its [`Wake`].
#[derive(Debug)]
pub struct Background {
    name: &'static str,
    wake: Arc<Wake>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Background {
    fn drop(&mut self) {
        self.wake.set_stop();
    }
}

impl Background {
    /// A thread called `name`, not started.
    pub fn new(name: &'static str) -> Background {
        Background {
            name,
            wake: Arc::default(),
            thread: Mutex::new(None),
        }
    }

    /// Wakes the thread.
    pub fn wake(&self) {
        self.wake.wake();
    }

    /// Starts the thread running `body` (which loops until its `Wake` says
    /// stop).
    pub fn spawn(&self, body: impl FnOnce(Arc<Wake>) + Send + 'static) {
        let wake = self.wake.clone();
        match std::thread::Builder::new()
            .name(self.name.into())
            .spawn(move || body(wake))
        {
            Ok(h) => *self.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(h),
            Err(e) => tracing::error!("the {} thread could not start: {e}", self.name),
        }
    }

    /// Stops the thread and waits for it (work in progress finishes
    /// first).
    pub fn stop(&self) {
        self.wake.set_stop();
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            if h.thread().id() != std::thread::current().id() && h.join().is_err() {
                tracing::error!("the {} thread panicked", self.name);
            }
        }
    }

    /// Whether the thread is running.
    pub fn running(&self) -> bool {
        self.thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|h| !h.is_finished())
    }
}
