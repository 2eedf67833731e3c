//! Request and response bodies: bounded reads, the bridge that feeds a
//! streamed request body to the engine's blocking `Read`-based import, and
//! response bodies streamed from blocking work through a bounded channel
//! (so an export's memory does not grow with its size).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::api_error::ApiError;

/// The next piece of a body, waiting at most `idle` for it: 408 past it.
async fn next_within<S>(
    stream: &mut S,
    idle: Duration,
) -> Result<Option<Result<Bytes, axum::Error>>, ApiError>
where
    S: futures_util::Stream<Item = Result<Bytes, axum::Error>> + Unpin,
{
    tokio::time::timeout(idle, stream.next())
        .await
        .map_err(|_| body_timeout(idle))
}

/// 408: the client stopped sending its body for longer than `idle`. The
/// connection is closed with the answer.
pub fn body_timeout(idle: Duration) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        "body_timeout",
        format!(
            "the request body stopped arriving: nothing came for {} ms",
            idle.as_millis()
        ),
    )
    .with_hint("send the body without pauses (see body_read_timeout_ms)")
}

/// Reads a whole body of at most `limit` bytes: 413 past it, 400 if the
/// client's stream breaks (a truncated request), 408 if nothing comes for
/// `idle`.
pub async fn read_body(body: Body, limit: u64, idle: Duration) -> Result<Bytes, ApiError> {
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = next_within(&mut stream, idle).await? {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request("bad_body", format!("reading the request body: {e}"))
        })?;
        if (buf.len() + chunk.len()) as u64 > limit {
            drain(&mut stream, DRAIN_BYTES).await;
            return Err(too_large(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.into())
}

/// How much of a refused body is still read, so that a client still
/// sending gets the error answer rather than a reset connection.
const DRAIN_BYTES: u64 = 8 << 20;

/// Reads and drops up to `max` more bytes of a body.
async fn drain(
    stream: &mut (impl futures_util::Stream<Item = Result<Bytes, axum::Error>> + Unpin),
    max: u64,
) {
    let mut seen = 0u64;
    while seen < max {
        match stream.next().await {
            Some(Ok(c)) => seen += c.len() as u64,
            _ => return,
        }
    }
}

/// 413: a body past `limit`.
pub fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the request body is larger than the limit of {limit} bytes"),
    )
}

/// The bytes of a streamed request body as a blocking [`Read`]: an async
/// task pumps the body's frames into a bounded channel that `read` drains.
pub struct BodyReader {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    current: Bytes,
}

/// What the pump saw: bytes so far, and whether the limit was passed.
#[derive(Default)]
pub struct BodyStats {
    /// Bytes received.
    pub bytes: AtomicU64,
    /// The body went past the limit (the read then fails).
    pub too_large: AtomicBool,
    /// Nothing came for the idle timeout (the read then fails).
    pub timed_out: AtomicBool,
}

impl BodyReader {
    /// Starts pumping `body` (at most `limit` bytes, with gaps of at most
    /// `idle`) and returns the reader.
    pub fn spawn(body: Body, limit: u64, idle: Duration) -> (BodyReader, Arc<BodyStats>) {
        let (tx, rx) = mpsc::channel(16);
        let stats = Arc::new(BodyStats::default());
        let st = stats.clone();
        tokio::spawn(async move {
            let mut stream = body.into_data_stream();
            loop {
                let chunk = match next_within(&mut stream, idle).await {
                    Ok(Some(chunk)) => chunk,
                    Ok(None) => return,
                    Err(_) => {
                        st.timed_out.store(true, Ordering::Relaxed);
                        let _ = tx
                            .send(Err(std::io::Error::other(format!(
                                "the request body stopped arriving for {} ms",
                                idle.as_millis()
                            ))))
                            .await;
                        return;
                    }
                };
                let item = match chunk {
                    Ok(c) => {
                        let total =
                            st.bytes.fetch_add(c.len() as u64, Ordering::Relaxed) + c.len() as u64;
                        if total > limit {
                            st.too_large.store(true, Ordering::Relaxed);
                            Err(std::io::Error::other(format!(
                                "the request body is larger than the limit of {limit} bytes"
                            )))
                        } else {
                            Ok(c)
                        }
                    }
                    Err(e) => Err(std::io::Error::other(format!(
                        "the request body broke off: {e}"
                    ))),
                };
                let stop = item.is_err();
                if tx.send(item).await.is_err() || stop {
                    // Read (and drop) a little more of a body sent past the
                    // limit, so that the client, still sending, gets the
                    // answer instead of a reset connection.
                    drain(&mut stream, DRAIN_BYTES).await;
                    return;
                }
            }
        });
        (
            BodyReader {
                rx,
                current: Bytes::new(),
            },
            stats,
        )
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// The sending end of a streamed response body, for blocking code: text
/// is gathered into chunks of about 64 KiB; `write` fails once the client
/// has gone or the deadline has passed, so the producer can stop.
///
/// The body ends cleanly only after [`StreamWriter::finish`]: if the writer
/// is dropped without it (an error, a timeout, a panic), the body ends with
/// an error, so the client sees the transfer break off (no last chunk)
/// rather than a short answer that looks complete.
pub struct StreamWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
    finished: Arc<AtomicBool>,
    deadline: tokio::time::Instant,
    runtime: tokio::runtime::Handle,
}

/// Why a streamed answer stopped early.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped {
    /// The client stopped reading: the response body was dropped.
    ClientGone,
    /// The client did not take a chunk before the deadline.
    Deadline,
}

impl StreamWriter {
    /// A writer whose sends give up at `deadline`, and the response body it
    /// feeds. Call from the runtime (it keeps the runtime's handle).
    pub fn new(deadline: std::time::Instant) -> (StreamWriter, Body) {
        let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
        let finished = Arc::new(AtomicBool::new(false));
        let done = finished.clone();
        let stream = futures_util::stream::unfold(Some(rx), move |rx| {
            let done = done.clone();
            async move {
                let mut rx = rx?;
                match rx.recv().await {
                    Some(Ok(b)) => Some((Ok(b), Some(rx))),
                    Some(Err(e)) => Some((Err(e), None)),
                    None if done.load(Ordering::Acquire) => None,
                    None => Some((
                        Err(std::io::Error::other("the streamed answer broke off")),
                        None,
                    )),
                }
            }
        });
        (
            StreamWriter {
                tx,
                buf: Vec::with_capacity(1 << 16),
                finished,
                deadline: deadline.into(),
                runtime: tokio::runtime::Handle::current(),
            },
            Body::from_stream(stream),
        )
    }

    /// A sender that keeps the body open: for a task that waits for the
    /// client to leave ([`mpsc::Sender::closed`]); drop it when the stream
    /// is over.
    pub fn watch(&self) -> mpsc::Sender<Result<Bytes, std::io::Error>> {
        self.tx.clone()
    }

    /// Adds bytes to the body.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), Stopped> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= 1 << 16 {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Stopped> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(1 << 16),
        ));
        // A client that stops reading must not hold the query slot past the
        // deadline: the send waits for room in the channel until then.
        let send = tokio::time::timeout_at(self.deadline, self.tx.send(Ok(chunk)));
        match self.runtime.block_on(send) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Stopped::ClientGone),
            Err(_) => Err(Stopped::Deadline),
        }
    }

    /// Sends what is left and ends the body cleanly.
    pub fn finish(mut self) -> Result<(), Stopped> {
        self.flush()?;
        self.finished.store(true, Ordering::Release);
        Ok(())
    }

    /// Ends the body with an error: the client sees the transfer break off
    /// rather than a short answer that looks complete. Never waits: if the
    /// channel is full, dropping the unfinished writer breaks the body all
    /// the same.
    pub fn fail(self, message: String) {
        let _ = self.tx.try_send(Err(std::io::Error::other(message)));
    }
}

/// A request body written to a file in the store (`spool/`) before any
/// work starts, so that nothing waits on the client while holding a lock.
/// The file is deleted when this is dropped (an answered or abandoned
/// request alike).
pub struct Spool {
    path: PathBuf,
    /// Bytes written.
    pub bytes: u64,
}

/// The store's folder of spooled request bodies (emptied at start).
pub const SPOOL_DIR: &str = "spool";

impl Spool {
    /// Writes `body` (at most `limit` bytes, with gaps of at most `idle`)
    /// to a new file under `dir`: 413 past the limit, 408 on a gap, 400 if
    /// the client's stream breaks. `on_bytes` sees every piece's length.
    pub async fn write(
        body: Body,
        dir: &Path,
        limit: u64,
        idle: Duration,
        on_bytes: impl Fn(u64),
    ) -> Result<Spool, ApiError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = dir.join(SPOOL_DIR);
        let path = dir.join(format!(
            "body-{}-{}.tmp",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let io = |e: std::io::Error| ApiError::internal(format!("spooling the body: {e}"));
        let (file, path) = {
            let path2 = path.clone();
            super::blocking(move || {
                std::fs::create_dir_all(&dir).map_err(io)?;
                std::fs::File::create(&path2).map_err(io)
            })
            .await
            .map(|f| (f, path))?
        };
        // From here on, the file is deleted whatever happens.
        let mut spool = Spool { path, bytes: 0 };
        let mut file = Some(file);
        let mut stream = body.into_data_stream();
        let mut buf: Vec<u8> = Vec::with_capacity(SPOOL_CHUNK);
        let mut done = false;
        while !done {
            match next_within(&mut stream, idle).await? {
                Some(chunk) => {
                    let chunk = chunk.map_err(|e| {
                        ApiError::bad_request("bad_body", format!("reading the request body: {e}"))
                    })?;
                    spool.bytes += chunk.len() as u64;
                    on_bytes(chunk.len() as u64);
                    if spool.bytes > limit {
                        drain(&mut stream, DRAIN_BYTES).await;
                        return Err(too_large(limit));
                    }
                    buf.extend_from_slice(&chunk);
                }
                None => done = true,
            }
            if buf.len() >= SPOOL_CHUNK || (done && !buf.is_empty()) {
                let (mut f, b) = (file.take(), std::mem::take(&mut buf));
                let (f, b) = super::blocking(move || {
                    if let Some(f) = f.as_mut() {
                        f.write_all(&b).map_err(io)?;
                    }
                    Ok((f, b))
                })
                .await?;
                file = f;
                buf = b;
                buf.clear();
            }
        }
        Ok(spool)
    }

    /// The spooled bytes, from the start.
    pub fn open(&self) -> std::io::Result<std::fs::File> {
        std::fs::File::open(&self.path)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Spooled bytes are written to the file in pieces of about this size.
const SPOOL_CHUNK: usize = 1 << 20;

/// Deletes what a previous run left in the store's spool folder.
pub fn clear_spool(store_dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(store_dir.join(SPOOL_DIR)) {
        for e in entries.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use futures_util::StreamExt;

    use super::*;

    /// The body's items until it ends: (the bytes, whether it ended with an
    /// error rather than cleanly).
    async fn drain_body(body: Body) -> (Vec<u8>, bool) {
        let mut s = body.into_data_stream();
        let mut bytes = Vec::new();
        while let Some(item) = s.next().await {
            match item {
                Ok(b) => bytes.extend_from_slice(&b),
                Err(_) => return (bytes, true),
            }
        }
        (bytes, false)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_a_finished_writer_ends_its_body_cleanly() {
        let far = Instant::now() + Duration::from_secs(600);
        // Finished: every byte, then a clean end.
        let (mut w, body) = StreamWriter::new(far);
        let t = tokio::task::spawn_blocking(move || {
            w.write(b"user_id\nu1\n").unwrap();
            w.finish()
        });
        assert_eq!(drain_body(body).await, (b"user_id\nu1\n".to_vec(), false));
        assert_eq!(t.await.unwrap(), Ok(()));
        // Dropped without `finish` (an error path, a panic): a broken end.
        let (mut w, body) = StreamWriter::new(far);
        tokio::task::spawn_blocking(move || {
            w.write(b"user_id\nu1\n").unwrap();
            drop(w);
        });
        assert!(drain_body(body).await.1);
        // Failed: a broken end too.
        let (w, body) = StreamWriter::new(far);
        tokio::task::spawn_blocking(move || w.fail("the query failed".into()));
        assert!(drain_body(body).await.1);
    }

    /// A client that stops reading holds the writer only until the
    /// deadline; the body then breaks off.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reader_that_stops_reading_is_given_up_at_the_deadline() {
        let (mut w, body) = StreamWriter::new(Instant::now() + Duration::from_millis(200));
        let writer = tokio::task::spawn_blocking(move || {
            let chunk = vec![b'x'; 1 << 16];
            // Eight chunks fill the channel; the ninth waits for room.
            for i in 0..64 {
                if let Err(e) = w.write(&chunk) {
                    return (i, e);
                }
            }
            panic!("64 chunks went into a body nobody reads");
        });
        let (i, why) = tokio::time::timeout(Duration::from_secs(30), writer)
            .await
            .expect("the writer did not give up")
            .unwrap();
        assert_eq!(why, Stopped::Deadline);
        assert!(i >= 8, "{i}");
        let (bytes, broken) = drain_body(body).await;
        assert!(broken);
        assert_eq!(bytes.len(), i << 16);
    }

    /// A body dropped (the client left) makes the next send fail at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_body_stops_the_writer() {
        let (mut w, body) = StreamWriter::new(Instant::now() + Duration::from_secs(600));
        let watch = w.watch();
        drop(body);
        watch.closed().await;
        drop(watch);
        let r = tokio::task::spawn_blocking(move || w.write(&vec![b'x'; 1 << 16]))
            .await
            .unwrap();
        assert_eq!(r, Err(Stopped::ClientGone));
    }
}
