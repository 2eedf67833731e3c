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

use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;

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
