//! The thread pool that answers read-only statements: a Rayon pool of its
//! own, on whose threads a query runs from its first step, so that the
//! engine's parallel loops split the work over the same pool without
//! waking anyone else.
//!
//! Over `spawn_blocking`, a small query crossed four threads in turn: the
//! Tokio worker woke a blocking thread, which handed the engine's parallel
//! loop to the global Rayon pool and slept until it was done, then woke the
//! worker again. Each wake-up costs tens of microseconds on a virtual
//! machine, a third of the whole round trip of a 0.5 ms query. Here the
//! worker wakes a pool thread, which answers and wakes the worker: two.
//!
//! Only statements that read go here. While a pool thread waits for the
//! other half of a parallel loop it may start another queued query on its
//! own stack; a reader holds no lock across a parallel loop, so that is
//! safe, where a writer holding the store's writer lock could meet itself.
//! Writes, imports and flushes keep their own threads and the global pool,
//! so they never wait for this pool and it never waits for them.
//!
//! After answering, a pool thread stays awake for `query_spin_us` (500 µs
//! by default), looking for the next query or a piece of one, and so does
//! one more thread (if the pool has more), so that the next query of a client finds its threads
//! running. A thread that sleeps is woken at a cost: on a virtual machine
//! whose idle processors halt, about 50 µs per wake-up, twice per query
//! (the pool thread, then the other half of its parallel loop). Spinning
//! gives way to any other thread that wants the processor (a
//! `sched_yield` per turn), and the time spent is in `/metrics`
//! (`segdb_query_spin_seconds_total`).

use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::api_error::ApiError;

/// The pool, built on first use with as many threads as the global Rayon
/// pool (the cores, or `RAYON_NUM_THREADS`); `None` if its threads could
/// not be started (then queries run as writes do).
fn pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(rayon::current_num_threads())
            .thread_name(|i| format!("segdb-query-{i}"))
            .build()
            .inspect_err(|e| tracing::error!(error = %e, "cannot start the query threads"))
            .ok()
    })
    .as_ref()
}

/// Runs `f`, which only reads, on the query pool; a panic in it becomes a
/// 500 rather than a dropped connection (or, in a Rayon spawn, an abort).
pub(crate) async fn read<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let Some(pool) = pool() else {
        return super::blocking(f).await;
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    pool.spawn(move || {
        let r = std::panic::catch_unwind(AssertUnwindSafe(f));
        // The handler may be gone (its client left): nobody to tell.
        let _ = tx.send(r);
        spin(pool, true);
    });
    match rx.await {
        Ok(Ok(r)) => r,
        Ok(Err(panic)) => Err(ApiError::internal(format!(
            "a query thread failed: {}",
            panic_text(&*panic)
        ))),
        Err(_) => Err(ApiError::internal("a query thread stopped")),
    }
}

/// The query pool, for work that a thread outside it hands over and waits
/// for (an export's evaluation, while its own thread waits for the client);
/// `None` if its threads could not be started.
pub(crate) fn shared() -> Option<&'static rayon::ThreadPool> {
    pool()
}

/// Runs `f` on the query pool when it only reads (`reads`), else on the
/// blocking pool: how both protocols run a statement.
pub(crate) async fn run<T: Send + 'static>(
    reads: bool,
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    if reads {
        read(f).await
    } else {
        super::blocking(f).await
    }
}

/// How long a pool thread stays awake after its work, in µs (0: it
/// sleeps at once, as Rayon's threads do): 0 until a server sets its
/// `query_spin_us`.
static SPIN_MICROS: AtomicU64 = AtomicU64::new(0);

/// Microseconds spent spinning without work, for `/metrics`.
static SPUN_MICROS: AtomicU64 = AtomicU64::new(0);

/// Pool threads spinning now.
static SPINNING: AtomicUsize = AtomicUsize::new(0);

/// Whether a job asking another thread to spin is queued.
static HELPER_QUEUED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Whether this thread is spinning (work it runs meanwhile must not
    /// start a spin of its own on the same stack).
    static IN_SPIN: Cell<bool> = const { Cell::new(false) };
}

/// Sets how long pool threads stay awake after their work (the server's
/// `query_spin_us`; one pool per process, so the last server started
/// decides).
pub(crate) fn set_spin(d: Duration) {
    SPIN_MICROS.store(
        u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
}

/// Microseconds the pool's threads have spent spinning without work.
pub(crate) fn spun_micros() -> &'static AtomicU64 {
    &SPUN_MICROS
}

/// Threads that spin at once: the one that answered and one more, for
/// the other half of the next query's parallel loops.
const SPINNERS: usize = 2;

/// Keeps this pool thread awake for the spin time, running any work that
/// comes meanwhile (each piece of work starts the time again). `first`: the
/// thread that has just answered a query, which also asks another thread
/// to spin while fewer than [`SPINNERS`] do. (A job it spawned would sit in
/// its own queue and be taken by itself, so the request is broadcast; the
/// copy that reaches a spinning thread returns at once.)
fn spin(pool: &'static rayon::ThreadPool, first: bool) {
    let span = Duration::from_micros(SPIN_MICROS.load(Ordering::Relaxed));
    if span.is_zero() || IN_SPIN.with(Cell::get) {
        return;
    }
    let most = SPINNERS.min(pool.current_num_threads());
    if SPINNING.fetch_add(1, Ordering::AcqRel) >= most {
        SPINNING.fetch_sub(1, Ordering::AcqRel);
        return;
    }
    #[cfg(test)]
    tests::spinning_changed();
    if first
        && SPINNING.load(Ordering::Acquire) < most
        && !HELPER_QUEUED.swap(true, Ordering::AcqRel)
    {
        pool.spawn_broadcast(move |_| {
            HELPER_QUEUED.store(false, Ordering::Release);
            spin(pool, false);
        });
    }
    IN_SPIN.with(|s| s.set(true));
    let mut idle = Duration::ZERO;
    let mut last = Instant::now();
    let mut until = last + span;
    while last < until {
        let found = pool.yield_now() == Some(rayon::Yield::Executed);
        if !found {
            std::thread::yield_now();
        }
        let now = Instant::now();
        if found {
            until = now + span;
        } else {
            idle += now - last;
        }
        last = now;
    }
    IN_SPIN.with(|s| s.set(false));
    // Counted before the spin is seen to end, so that whoever sees no
    // thread spinning sees all the time spent.
    SPUN_MICROS.fetch_add(
        u64::try_from(idle.as_micros()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    SPINNING.fetch_sub(1, Ordering::AcqRel);
    #[cfg(test)]
    tests::spinning_changed();
}

/// A panic's message (`&str` or `String` payloads), or "a panic".
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}

#[cfg(test)]
mod tests {
    use rayon::prelude::*;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_answer_on_the_pool_and_a_panic_is_a_500() {
        let name = read(|| Ok(std::thread::current().name().map(str::to_owned)))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("segdb-query-"));
        let e = read(|| -> Result<(), ApiError> { panic!("boom") })
            .await
            .unwrap_err();
        assert_eq!(e.code(), "internal");
        assert_eq!(e.status(), 500);
        assert!(e.message().contains("boom"), "{}", e.message());
        // The pool still answers after the panic.
        assert_eq!(read(|| Ok(7)).await.unwrap(), 7);
    }

    /// A thread that has answered stays awake for the spin time, and
    /// another with it, running what comes meanwhile; then both sleep. The
    /// time spent is counted. With no spin time nobody stays awake.
    /// Signalled whenever the number of spinning threads changes.
    static SPIN_EVENTS: std::sync::LazyLock<(std::sync::Mutex<()>, std::sync::Condvar)> =
        std::sync::LazyLock::new(Default::default);

    /// Wakes the tests waiting for the number of spinning threads.
    pub(super) fn spinning_changed() {
        // Taken so that a waiter between its check and its wait cannot
        // miss the signal.
        let _g = SPIN_EVENTS.0.lock().unwrap_or_else(|p| p.into_inner());
        SPIN_EVENTS.1.notify_all();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn answering_threads_stay_awake_for_the_spin_time_only() {
        let threads = pool().unwrap().current_num_threads();
        // Woken by each change of the count (see `spinning_changed`).
        let wait_for = |want: &dyn Fn(usize) -> bool| {
            let (lock, changed) = &*SPIN_EVENTS;
            let guard = lock.lock().unwrap();
            let (_guard, timeout) = changed
                .wait_timeout_while(guard, Duration::from_secs(10), |_| {
                    !want(SPINNING.load(Ordering::Acquire))
                })
                .unwrap();
            assert!(!timeout.timed_out(), "spinning {SPINNING:?}");
        };
        // With no spin time the count never rises, so no wait is needed to
        // see it stay at zero.
        set_spin(Duration::ZERO);
        assert_eq!(read(|| Ok(1)).await.unwrap(), 1);
        assert_eq!(SPINNING.load(Ordering::Acquire), 0);

        set_spin(Duration::from_millis(300));
        let spun = SPUN_MICROS.load(Ordering::Relaxed);
        assert_eq!(read(|| Ok(2)).await.unwrap(), 2);
        wait_for(&|n| n == threads.min(SPINNERS));
        // Work that comes meanwhile is run by a spinning thread, and a
        // query with parallel loops still gets its whole answer.
        let sum = read(|| Ok((0..100_000u64).into_par_iter().sum::<u64>()))
            .await
            .unwrap();
        assert_eq!(sum, 4_999_950_000);
        wait_for(&|n| n == 0);
        assert!(SPUN_MICROS.load(Ordering::Relaxed) >= spun + 300_000);
        set_spin(Duration::ZERO);
    }

    /// Many more queries than threads, each with parallel loops that
    /// may run another query while they wait: every one answers right.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queries_beyond_the_threads_each_get_their_own_answer() {
        let tasks: Vec<_> = (0..64u64)
            .map(|q| {
                tokio::spawn(read(move || {
                    let inner: u64 = (0..10_000u64)
                        .into_par_iter()
                        .map(|i| (0..50u64).into_par_iter().map(|j| i ^ j ^ q).sum::<u64>())
                        .sum();
                    Ok((q, inner))
                }))
            })
            .collect();
        for t in tasks {
            let (q, got) = t.await.unwrap().unwrap();
            let want: u64 = (0..10_000u64)
                .map(|i| (0..50u64).map(|j| i ^ j ^ q).sum::<u64>())
                .sum();
            assert_eq!(got, want, "query {q}");
        }
    }
}
