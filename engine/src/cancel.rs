//! Cooperative cancellation of evaluation: a query timeout or a server
//! shutdown stops a query between chunks instead of letting it run on.
//!
//! A [`Cancel`] is installed for the duration of a closure with
//! [`Cancel::scope`]; every evaluation started inside the closure (on the
//! calling thread) captures it and checks it before each 65,536-row chunk
//! on whichever worker thread runs that chunk, so the engine's API needs no
//! extra argument.
//!
//! ```
//! use std::time::Duration;
//! use segdb_engine::{Cancel, EngineError};
//! let cancel = Cancel::with_timeout(Duration::from_millis(250));
//! assert!(cancel.scope(|| segdb_engine::cancel::check()).is_ok());
//! cancel.cancel();
//! assert!(matches!(cancel.scope(segdb_engine::cancel::check), Err(EngineError::Cancelled)));
//! ```

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{EngineError, Result};

/// A handle that stops evaluations: by a deadline, or when told to.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    stopped: AtomicBool,
    deadline: Option<(Instant, Duration)>,
}

thread_local! {
    static CURRENT: RefCell<Option<Cancel>> = const { RefCell::new(None) };
}

impl Cancel {
    /// A handle without a deadline; it stops only when [`Cancel::cancel`]led.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// A handle that stops evaluations running `timeout` after now.
    pub fn with_timeout(timeout: Duration) -> Cancel {
        Cancel {
            inner: Arc::new(Inner {
                stopped: AtomicBool::new(false),
                deadline: Some((Instant::now() + timeout, timeout)),
            }),
        }
    }

    /// Stops the evaluations that use this handle (at their next chunk).
    pub fn cancel(&self) {
        self.inner.stopped.store(true, Ordering::Relaxed);
    }

    /// `Err` once the handle is cancelled or past its deadline.
    pub fn check(&self) -> Result<()> {
        if self.inner.stopped.load(Ordering::Relaxed) {
            return Err(EngineError::Cancelled);
        }
        match self.inner.deadline {
            Some((at, limit)) if Instant::now() >= at => Err(EngineError::Timeout {
                limit_ms: limit.as_millis() as u64,
            }),
            _ => Ok(()),
        }
    }

    /// Runs `f` with this handle installed for the evaluations it starts on
    /// this thread; the previous handle (if any) is restored afterwards.
    pub fn scope<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Restore(Option<Cancel>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let prev = self.0.take();
                CURRENT.with(|c| *c.borrow_mut() = prev);
            }
        }
        let prev = CURRENT.with(|c| c.borrow_mut().replace(self.clone()));
        let _restore = Restore(prev);
        f()
    }
}

/// The handle installed on this thread by [`Cancel::scope`], if any.
pub(crate) fn current() -> Option<Cancel> {
    CURRENT.with(|c| c.borrow().clone())
}

/// `Err` if the handle installed on this thread is cancelled or past its
/// deadline; `Ok` when none is installed.
pub fn check() -> Result<()> {
    current().map_or(Ok(()), |c| c.check())
}

/// Whether the handle installed on this thread is cancelled or past its
/// deadline: the cheap question the evaluation of one chunk asks between
/// the children of an AND or an OR, so that a huge expression stops within
/// the chunk rather than after it.
pub(crate) fn stopped() -> bool {
    CURRENT.with(|c| c.borrow().as_ref().is_some_and(|c| c.check().is_err()))
}

/// Milliseconds of extra work before each chunk (0: none); see
/// [`pause_each_chunk_for_tests`].
static CHUNK_PAUSE_MS: AtomicU64 = AtomicU64::new(0);

/// Makes every chunk's evaluation in this process take `pause` longer, as a
/// heavy WHERE would, while still obeying `cancel` (checked every
/// millisecond of the pause). For tests of timeouts, hang-ups and shutdown
/// on small stores; never set by the server.
#[doc(hidden)]
pub fn pause_each_chunk_for_tests(pause: Duration) {
    CHUNK_PAUSE_MS.store(pause.as_millis() as u64, Ordering::Relaxed);
}

/// The pause set by [`pause_each_chunk_for_tests`], cut short by `cancel`.
pub(crate) fn test_pause(cancel: Option<&Cancel>) {
    let ms = CHUNK_PAUSE_MS.load(Ordering::Relaxed);
    if ms == 0 {
        return;
    }
    let until = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < until && cancel.is_none_or(|c| c.check().is_ok()) {
        std::thread::sleep(Duration::from_millis(1));
    }
}
