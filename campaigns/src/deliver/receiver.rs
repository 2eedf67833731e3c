//! A small HTTP/1.1 receiver on 127.0.0.1, for the webhook's tests and
//! benchmark: it reads each request (keep-alive, `Content-Length` bodies),
//! hands it to a handler that picks the answer (status, body, or no answer
//! within the client's timeout), and keeps every request it answered 2xx
//! and every request's `Idempotency-Key`. Bounded: each connection is
//! closed after [`Receiver::IDLE`] without a request, and the receiver
//! stops when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A request the receiver got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// 1, 2, … in arrival order.
    pub number: u64,
    /// The `Idempotency-Key` header.
    pub key: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// What the handler answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// This status and body (kept if 2xx).
    Status(u16, String),
    /// No answer: the connection is held without answering for `Duration`
    /// (longer than the client's timeout), then closed.
    Hang(Duration),
}

type Handler = dyn Fn(&Request) -> Answer + Send + Sync;

#[derive(Default)]
struct Kept {
    count: u64,
    accepted: Vec<Request>,
    keys: Vec<String>,
}

/// A running receiver.
pub struct Receiver {
    port: u16,
    stop: Arc<AtomicBool>,
    kept: Arc<Mutex<Kept>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("port", &self.port)
            .finish()
    }
}

impl Receiver {
    /// How long a connection may sit idle.
    pub const IDLE: Duration = Duration::from_secs(30);

    /// Starts a receiver answering with `handler`, keeping accepted bodies.
    pub fn start(handler: impl Fn(&Request) -> Answer + Send + Sync + 'static) -> Receiver {
        Receiver::start_with(handler, true)
    }

    /// Starts a receiver; with `keep_bodies` false it keeps only counts of
    /// the accepted messages' bytes (a benchmark's bounded memory).
    pub fn start_with(
        handler: impl Fn(&Request) -> Answer + Send + Sync + 'static,
        keep_bodies: bool,
    ) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("an address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let kept = Arc::new(Mutex::new(Kept::default()));
        let handler: Arc<Handler> = Arc::new(handler);
        let thread = {
            let (stop, kept) = (stop.clone(), kept.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (handler, kept, stop) = (handler.clone(), kept.clone(), stop.clone());
                    std::thread::spawn(move || serve(conn, &*handler, &kept, &stop, keep_bodies));
                }
            })
        };
        Receiver {
            port,
            stop,
            kept,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>/hook`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Requests received (answered or not).
    pub fn count(&self) -> u64 {
        self.kept.lock().unwrap_or_else(|p| p.into_inner()).count
    }

    /// The requests answered 2xx, in order (bodies only if kept).
    pub fn accepted(&self) -> Vec<Request> {
        self.kept
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .accepted
            .clone()
    }

    /// Every request's `Idempotency-Key`, in order.
    pub fn keys(&self) -> Vec<String> {
        self.kept
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys
            .clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(conn: TcpStream, handler: &Handler, kept: &Mutex<Kept>, stop: &AtomicBool, keep: bool) {
    let _ = conn.set_read_timeout(Some(Receiver::IDLE));
    // Answers go out at once: without this, Nagle's algorithm holds a
    // small answer until the client's delayed ACK (~40 ms a request).
    let _ = conn.set_nodelay(true);
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    let mut r = BufReader::new(conn);
    while !stop.load(Ordering::SeqCst) {
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let (mut len, mut key, mut ctype) = (0usize, None, None);
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((name, value)) = h.split_once(':') {
                let value = value.trim().to_owned();
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => len = value.parse().unwrap_or(0),
                    "idempotency-key" => key = Some(value),
                    "content-type" => ctype = Some(value),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let number = {
            let mut k = kept.lock().unwrap_or_else(|p| p.into_inner());
            k.count += 1;
            k.keys.extend(key.clone());
            k.count
        };
        let req = Request {
            number,
            key,
            content_type: ctype,
            body,
        };
        match handler(&req) {
            Answer::Hang(d) => {
                // Read nothing more; the client times out and reconnects.
                let end = std::time::Instant::now() + d;
                let _ = r
                    .get_ref()
                    .set_read_timeout(Some(d.max(Duration::from_millis(1))));
                let mut sink = [0u8; 64];
                while std::time::Instant::now() < end && !stop.load(Ordering::SeqCst) {
                    match r.get_mut().read(&mut sink) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
                return;
            }
            Answer::Status(status, text) => {
                if (200..300).contains(&status) {
                    let mut k = kept.lock().unwrap_or_else(|p| p.into_inner());
                    k.accepted.push(if keep {
                        req
                    } else {
                        Request {
                            body: Vec::new(),
                            ..req
                        }
                    });
                }
                // The whole answer in one write (one segment for a small
                // answer).
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{text}",
                    text.len()
                );
                if out.write_all(answer.as_bytes()).is_err() {
                    return;
                }
            }
        }
    }
}
