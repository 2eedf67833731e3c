//! One Postgres connection: encryption negotiated, then every message's
//! layout checked ([`super::frames`]) before pgwire decodes it, then
//! pgwire's public `process_message` / `process_error` for each message.
//!
//! pgwire's own `process_socket` reads the socket straight into its
//! decoder, which trusts what the client sends (see `frames`). Here the
//! socket is wrapped in [`Checked`], an `AsyncRead` that hands pgwire only
//! whole, well-formed messages; on a malformed one the read fails, and the
//! client gets an ErrorResponse (FATAL, 08P01 protocol_violation) saying
//! what was wrong before the connection is closed. The check sits on the
//! plaintext side: after TLS.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures_util::{SinkExt, StreamExt};
use pgwire::api::{
    ClientInfo, DefaultClient, ErrorHandler, PgWireConnectionState, PgWireServerHandlers,
};
use pgwire::error::{ErrorInfo, PgWireError};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::server::{process_error, process_message, MaybeTls, PgWireMessageServerCodec};
use pgwire::tokio::TlsAcceptor;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use super::frames::{self, Expect, Next};

/// A client must have logged in by then (as pgwire's own loop).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 4, 210, 22, 47];
const GSSENC_REQUEST: [u8; 8] = [0, 0, 0, 8, 4, 210, 22, 48];

/// A malformed message, as the read error [`Checked`] gives.
#[derive(Debug)]
struct Violation(String);

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Violation {}

/// Reads whole messages whose layout [`frames::check_next`] accepts;
/// a malformed one ends the stream with an error carrying [`Violation`]
/// (after the good messages before it).
pub struct Checked<S> {
    inner: S,
    /// Bytes read; the first `ready` of them are checked messages.
    buf: BytesMut,
    ready: usize,
    expect: Expect,
    broken: Option<String>,
    eof: bool,
    scratch: Box<[u8]>,
}

impl<S> Checked<S> {
    /// Over `inner`, from which `read` was read already.
    fn new(inner: S, read: &[u8]) -> Checked<S> {
        let mut c = Checked {
            inner,
            buf: BytesMut::from(read),
            ready: 0,
            expect: Expect::Startup,
            broken: None,
            eof: false,
            scratch: vec![0; 16 * 1024].into_boxed_slice(),
        };
        c.check();
        c
    }

    /// Checks the messages read and not yet checked.
    fn check(&mut self) {
        while self.broken.is_none() {
            match frames::check_next(&self.buf[self.ready..], self.expect) {
                Ok(Next::Message(len, next)) => {
                    self.ready += len;
                    self.expect = next;
                }
                Ok(Next::More(len)) => {
                    // Room for the whole frame at once.
                    if let Some(len) = len {
                        let want = self.ready + len;
                        if want > self.buf.len() {
                            self.buf.reserve(want - self.buf.len());
                        }
                    }
                    return;
                }
                Err(why) => self.broken = Some(why),
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Checked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.ready > 0 {
                let n = this.ready.min(out.remaining());
                out.put_slice(&this.buf[..n]);
                this.buf.advance(n);
                this.ready -= n;
                return Poll::Ready(Ok(()));
            }
            if let Some(why) = &this.broken {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    Violation(why.clone()),
                )));
            }
            if this.eof {
                // A message cut short by the client's end: nothing to
                // answer.
                return Poll::Ready(Ok(()));
            }
            let mut read = ReadBuf::new(&mut this.scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut read) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {}
            }
            if read.filled().is_empty() {
                this.eof = true;
                continue;
            }
            this.buf.extend_from_slice(read.filled());
            this.check();
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Checked<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, b)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Negotiates encryption: an SSLRequest is accepted when TLS is
/// configured (refused otherwise), a GSSENCRequest refused, a TLS
/// handshake straight away (Postgres 17's `sslnegotiation=direct`)
/// accepted with the `postgresql` ALPN. The request packets are read
/// exactly, so no plaintext byte sent before the handshake is taken as
/// sent inside it. Gives the stream, whether it is TLS, and the bytes of
/// a startup packet already read; `None`: the client left, or wanted TLS
/// that is not configured.
async fn negotiate(
    mut tcp: TcpStream,
    acceptor: Option<TlsAcceptor>,
) -> io::Result<Option<(MaybeTls, bool, Vec<u8>)>> {
    let mut asked = [false, false];
    loop {
        let mut first = [0u8; 1];
        if tcp.peek(&mut first).await? == 0 {
            return Ok(None);
        }
        if first[0] == 0x16 {
            let Some(acceptor) = acceptor else {
                return Ok(None);
            };
            let tls = acceptor.accept(tcp).await?;
            if tls.get_ref().1.alpn_protocol() != Some(b"postgresql") {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a direct TLS connection without the postgresql ALPN",
                ));
            }
            return Ok(Some((MaybeTls::Tls(Box::new(tls)), true, Vec::new())));
        }
        let mut head = [0u8; 8];
        // The length first: a request's is 8; anything else is a startup
        // packet's, for `Checked`.
        match tcp.read_exact(&mut head[..4]).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        if head[..4] != SSL_REQUEST[..4] {
            return Ok(Some((MaybeTls::Plain(tcp), false, head[..4].to_vec())));
        }
        match tcp.read_exact(&mut head[4..]).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        if head == SSL_REQUEST && !asked[0] {
            asked[0] = true;
            if let Some(acceptor) = &acceptor {
                tcp.write_all(b"S").await?;
                let tls = acceptor.accept(tcp).await?;
                return Ok(Some((MaybeTls::Tls(Box::new(tls)), true, Vec::new())));
            }
            tcp.write_all(b"N").await?;
        } else if head == GSSENC_REQUEST && !asked[1] {
            asked[1] = true;
            tcp.write_all(b"N").await?;
        } else {
            return Ok(Some((MaybeTls::Plain(tcp), false, head.to_vec())));
        }
    }
}

/// Serves one connection until it ends.
pub async fn serve<H: PgWireServerHandlers>(
    tcp: TcpStream,
    acceptor: Option<TlsAcceptor>,
    handlers: H,
) -> io::Result<()> {
    let startup_deadline = tokio::time::sleep(STARTUP_TIMEOUT);
    tokio::pin!(startup_deadline);
    let peer: SocketAddr = tcp.peer_addr()?;
    let negotiated = tokio::select! {
        _ = &mut startup_deadline => return Ok(()),
        n = negotiate(tcp, acceptor) => n?,
    };
    let Some((stream, secure, read)) = negotiated else {
        return Ok(());
    };
    let client = DefaultClient::new(peer, secure);
    let mut socket = Framed::new(
        Checked::new(stream, &read),
        PgWireMessageServerCodec::new(client),
    );
    socket.set_state(PgWireConnectionState::AwaitingStartup);

    let startup = handlers.startup_handler();
    let simple = handlers.simple_query_handler();
    let extended = handlers.extended_query_handler();
    let copy = handlers.copy_handler();
    let cancel = handlers.cancel_handler();
    let on_error = handlers.error_handler();
    loop {
        let logging_in = matches!(
            socket.state(),
            PgWireConnectionState::AwaitingStartup
                | PgWireConnectionState::AuthenticationInProgress
        );
        let next = if logging_in {
            tokio::select! {
                _ = &mut startup_deadline => break,
                m = socket.next() => m,
            }
        } else {
            socket.next().await
        };
        let message = match next {
            None => break,
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                refuse(&mut socket, e).await;
                break;
            }
        };
        if matches!(message, PgWireFrontendMessage::Terminate(_)) {
            break;
        }
        let in_extended = match socket.state() {
            PgWireConnectionState::CopyInProgress(extended) => extended,
            _ => message.is_extended_query(),
        };
        let is_cancel = matches!(message, PgWireFrontendMessage::CancelRequest(_));
        if let Err(mut e) = process_message(
            message,
            &mut socket,
            startup.clone(),
            simple.clone(),
            extended.clone(),
            copy.clone(),
            cancel.clone(),
        )
        .await
        {
            on_error.on_error(&socket, &mut e);
            let fatal = e.is_fatal();
            process_error(&mut socket, e, in_extended).await?;
            if fatal {
                break;
            }
        }
        if is_cancel {
            break;
        }
    }
    Ok(())
}

/// Answers a message that could not be read: a malformed one (or one
/// pgwire's decoder refused) gets an ErrorResponse, FATAL 08P01; a
/// broken connection nothing.
async fn refuse<S: AsyncRead + AsyncWrite + Unpin, T>(
    socket: &mut Framed<S, PgWireMessageServerCodec<T>>,
    e: PgWireError,
) {
    let why = match e {
        PgWireError::IoError(io) => {
            match io.get_ref().and_then(|r| r.downcast_ref::<Violation>()) {
                Some(v) => v.0.clone(),
                None => {
                    tracing::debug!("a Postgres connection ended: {io}");
                    return;
                }
            }
        }
        other => other.to_string(),
    };
    tracing::debug!("a Postgres client sent a malformed message: {why}");
    let info = ErrorInfo::new(
        "FATAL".to_owned(),
        "08P01".to_owned(),
        format!("invalid message: {why}"),
    );
    let _ = socket
        .send(PgWireBackendMessage::ErrorResponse(info.into()))
        .await;
    let _ = socket.get_mut().shutdown().await;
}
