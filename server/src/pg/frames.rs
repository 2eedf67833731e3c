//! The layout of every frontend message, checked before pgwire's decoder
//! sees it.
//!
//! pgwire 0.42.1 decodes a message from the whole read buffer, not from
//! its frame, trusting the lengths and counts the client sends: a frame
//! length below 4 underflows (`len - 4`), a Bind's parameter length past
//! its frame panics in `split_to`, a count past the frame panics in
//! `get_u16`/`get_i32`, a string without its NUL reads on into the next
//! message, and the body-less messages (Sync, Flush, ...) ignore extra
//! bytes, which are then read as the next message. Every decoder of a
//! frontend message was read for this (`messages/{startup, cancel,
//! simplequery, extendedquery, copy, terminate}.rs`): [`check_next`]
//! accepts a message only if its decoder reads exactly its frame, so none
//! of them can panic or desynchronise. The one decoder whose layout
//! depends on the authentication state (SASLInitialResponse, inside a
//! PasswordMessage frame) is checked by [`check_sasl_initial`] where that
//! state is known.

/// pgwire's limits (`messages/mod.rs`): the messages that carry data
/// (Query, Parse, Bind, CopyData) may be up to 1 GiB, the others 10,000
/// bytes, startup packets included.
const LARGE: usize = 0x3fff_fffe;
const SMALL: usize = 10_000;

const CANCEL_CODE: i32 = 80_877_102;
const SSL_CODE: i32 = 80_877_103;
const GSS_CODE: i32 = 80_877_104;

/// Which kind of packet is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// An untyped startup packet (StartupMessage or CancelRequest).
    Startup,
    /// A type byte and a length.
    Typed,
}

/// The first message of `buf` when it is complete and well formed: its
/// length in bytes and what is due after it ([`Next::Message`]), or
/// [`Next::More`] when more bytes are needed; an error says what is
/// malformed.
pub fn check_next(buf: &[u8], expect: Expect) -> Result<Next, String> {
    match expect {
        Expect::Startup => startup(buf),
        Expect::Typed => typed(buf),
    }
}

/// What [`check_next`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// A good message of this many bytes; then `Expect`.
    Message(usize, Expect),
    /// Incomplete: the frame's length when its header is in.
    More(Option<usize>),
}

fn be_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn startup(buf: &[u8]) -> Result<Next, String> {
    if buf.len() < 4 {
        return Ok(Next::More(None));
    }
    let len = be_i32(buf);
    if len < 8 {
        return Err(format!(
            "a startup packet's length is {len} (at least 8: the length and the protocol version)"
        ));
    }
    let len = len as usize;
    if len > SMALL {
        return Err(format!(
            "a startup packet's length is {len} (at most {SMALL})"
        ));
    }
    if buf.len() < len {
        return Ok(Next::More(Some(len)));
    }
    let frame = &buf[..len];
    let code = be_i32(&frame[4..]);
    match code {
        CANCEL_CODE => {
            // The pid (4) and a secret key of 4 (protocol 3.0) to 256
            // bytes (3.2).
            if !(16..=12 + 256).contains(&len) {
                return Err(format!(
                    "a CancelRequest of {len} bytes (16 to 268: a pid and a secret key of 4 to 256 bytes)"
                ));
            }
            Ok(Next::Message(len, Expect::Typed))
        }
        SSL_CODE | GSS_CODE => Err(format!(
            "an {} where a startup message was due (encryption is negotiated first, once)",
            if code == SSL_CODE {
                "SSLRequest"
            } else {
                "GSSENCRequest"
            }
        )),
        _ => {
            let (major, minor) = ((code >> 16) as u16, code as u16);
            if major != 3 {
                return Err(format!(
                    "unsupported frontend protocol {major}.{minor}: segdb speaks 3.0 and 3.2"
                ));
            }
            // Name and value strings, ended by an empty name, which is
            // the packet's last byte.
            let mut at = 8;
            loop {
                let name_end = cstring(frame, at, "a startup parameter's name")?;
                if name_end == at + 1 {
                    if name_end != len {
                        return Err(format!(
                            "{} bytes after the startup parameters' end",
                            len - name_end
                        ));
                    }
                    return Ok(Next::Message(len, Expect::Typed));
                }
                at = cstring(frame, name_end, "a startup parameter's value")?;
            }
        }
    }
}

/// The offset after the NUL-terminated string at `at` in `body`.
fn cstring(body: &[u8], at: usize, what: &str) -> Result<usize, String> {
    match body
        .get(at..)
        .and_then(|rest| rest.iter().position(|&b| b == 0))
    {
        Some(nul) => Ok(at + nul + 1),
        None => Err(format!("{what} has no terminating NUL within the message")),
    }
}

fn typed(buf: &[u8]) -> Result<Next, String> {
    if buf.len() < 5 {
        return Ok(Next::More(None));
    }
    let kind = buf[0];
    let name = match name(kind) {
        Some(n) => n,
        None => {
            return Err(format!(
                "unknown message type {} (0x{kind:02x})",
                printable(kind)
            ))
        }
    };
    let len = be_i32(&buf[1..]);
    if len < 4 {
        return Err(format!(
            "a {name} message's length is {len} (at least 4: the length itself)"
        ));
    }
    let len = len as usize;
    let max = if matches!(kind, b'Q' | b'P' | b'B' | b'd') {
        LARGE
    } else {
        SMALL
    };
    if len > max {
        return Err(format!(
            "a {name} message's length is {len} (at most {max})"
        ));
    }
    if buf.len() < 1 + len {
        return Ok(Next::More(Some(1 + len)));
    }
    let body = &buf[5..1 + len];
    let mut r = Reader { body, at: 0, name };
    match kind {
        // One string filling the body.
        b'Q' => r.string("the query")?,
        b'f' => r.string("the error message")?,
        b'P' => {
            r.string("the statement name")?;
            r.string("the query")?;
            let n = r.u16("the parameter type count")?;
            r.skip(4 * n as usize, "the parameter types")?;
        }
        b'B' => bind(&mut r)?,
        b'C' | b'D' => {
            let target = r.byte()?;
            if target != b'S' && target != b'P' {
                return Err(format!(
                    "a {name} message's target is {} ('S' for a statement or 'P' for a portal)",
                    printable(target)
                ));
            }
            r.string("the name")?;
        }
        b'E' => {
            r.string("the portal name")?;
            r.skip(4, "the row limit")?;
        }
        // The body is the payload (CopyData) or a password / SASL
        // message, read by the authentication step (see
        // `check_sasl_initial`).
        b'd' | b'p' => r.at = body.len(),
        // Sync, Flush, Terminate, CopyDone: no body.
        _ => {}
    }
    if r.at != body.len() {
        return Err(format!(
            "{} bytes after the end of a {name} message's content",
            body.len() - r.at
        ));
    }
    Ok(Next::Message(1 + len, Expect::Typed))
}

fn bind(r: &mut Reader) -> Result<(), String> {
    r.string("the portal name")?;
    r.string("the statement name")?;
    let formats = r.u16("the parameter format count")? as usize;
    for i in 0..formats {
        let f = r.i16(&format!("parameter format code {}", i + 1))?;
        if f != 0 && f != 1 {
            return Err(format!(
                "Bind: parameter format code {} is {f} (0 text or 1 binary)",
                i + 1
            ));
        }
    }
    let params = r.u16("the parameter count")? as usize;
    if formats > 1 && formats != params {
        return Err(format!(
            "Bind: {formats} parameter format codes for {params} parameters (0, 1 or one each)"
        ));
    }
    for i in 0..params {
        let len = r.i32(&format!("parameter {}'s length", i + 1))?;
        if len < -1 {
            return Err(format!(
                "Bind: parameter {}'s length is {len} (-1 for NULL, or 0 and more)",
                i + 1
            ));
        }
        if len > 0 {
            let left = r.body.len() - r.at;
            if len as usize > left {
                return Err(format!(
                    "Bind: parameter {}'s length {len} runs past the end of the message ({left} bytes left)",
                    i + 1
                ));
            }
            r.at += len as usize;
        }
    }
    let results = r.u16("the result format count")? as usize;
    for i in 0..results {
        let f = r.i16(&format!("result format code {}", i + 1))?;
        if f != 0 && f != 1 {
            return Err(format!(
                "Bind: result format code {} is {f} (0 text or 1 binary)",
                i + 1
            ));
        }
    }
    Ok(())
}

/// Reads a message's body, each read checked against its end.
struct Reader<'a> {
    body: &'a [u8],
    at: usize,
    name: &'static str,
}

impl Reader<'_> {
    fn skip(&mut self, n: usize, what: &str) -> Result<&[u8], String> {
        let left = self.body.len() - self.at;
        if n > left {
            return Err(format!(
                "{}: {what} runs past the end of the message ({n} bytes needed, {left} left)",
                self.name
            ));
        }
        let s = &self.body[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    fn string(&mut self, what: &str) -> Result<(), String> {
        self.at = cstring(self.body, self.at, &format!("{}: {what}", self.name))?;
        Ok(())
    }

    fn u16(&mut self, what: &str) -> Result<u16, String> {
        let b = self.skip(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn i16(&mut self, what: &str) -> Result<i16, String> {
        let b = self.skip(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self, what: &str) -> Result<i32, String> {
        Ok(be_i32(self.skip(4, what)?))
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.skip(1, "the target byte")?[0])
    }
}

fn name(kind: u8) -> Option<&'static str> {
    Some(match kind {
        b'Q' => "Query",
        b'P' => "Parse",
        b'B' => "Bind",
        b'D' => "Describe",
        b'E' => "Execute",
        b'C' => "Close",
        b'H' => "Flush",
        b'S' => "Sync",
        b'X' => "Terminate",
        b'p' => "PasswordMessage",
        b'd' => "CopyData",
        b'c' => "CopyDone",
        b'f' => "CopyFail",
        _ => return None,
    })
}

fn printable(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("byte {b}")
    }
}

/// A SASLInitialResponse's body (inside a PasswordMessage frame, the
/// first one of a SCRAM exchange): a mechanism name, then a length (-1
/// for none) and that many bytes, to the body's end. pgwire reads the
/// length and takes that many bytes without checking either.
pub fn check_sasl_initial(body: &[u8]) -> Result<(), String> {
    let mut r = Reader {
        body,
        at: 0,
        name: "SASLInitialResponse",
    };
    r.string("the mechanism name")?;
    let len = r.i32("the response's length")?;
    if len < -1 {
        return Err(format!(
            "SASLInitialResponse: the response's length is {len} (-1 for none, or 0 and more)"
        ));
    }
    if len > 0 {
        r.skip(len as usize, "the response")?;
    }
    if r.at != body.len() {
        return Err(format!(
            "{} bytes after the end of a SASLInitialResponse's content",
            body.len() - r.at
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    fn bind(params: &[Option<&[u8]>]) -> Vec<u8> {
        let mut b = b"\0\0".to_vec();
        b.extend_from_slice(&0u16.to_be_bytes());
        b.extend_from_slice(&(params.len() as u16).to_be_bytes());
        for p in params {
            match p {
                Some(v) => {
                    b.extend_from_slice(&(v.len() as i32).to_be_bytes());
                    b.extend_from_slice(v);
                }
                None => b.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        b.extend_from_slice(&0u16.to_be_bytes());
        msg(b'B', &b)
    }

    #[test]
    fn good_messages_pass_whole() {
        for m in [
            msg(b'Q', b"SELECT 1\0"),
            msg(b'P', b"s1\0SELECT $1\0\0\x01\0\0\0\x17"),
            bind(&[Some(b"42"), None, Some(b"")]),
            msg(b'D', b"Sname\0"),
            msg(b'C', b"P\0"),
            msg(b'E', b"\0\0\0\0\0"),
            msg(b'S', b""),
            msg(b'd', b"anything"),
        ] {
            let mut two = m.clone();
            two.extend_from_slice(&m);
            assert_eq!(
                check_next(&two, Expect::Typed),
                Ok(Next::Message(m.len(), Expect::Typed)),
                "{m:?}"
            );
            let partial = check_next(&m[..m.len() - 1], Expect::Typed);
            let header = if m.len() > 5 { Some(m.len()) } else { None };
            assert_eq!(partial, Ok(Next::More(header)));
        }
    }

    #[test]
    fn what_pgwire_would_misread_is_refused() {
        let mut long_param = bind(&[Some(b"x")]);
        // Parameter length 1 -> 1,000,000.
        long_param[11..15].copy_from_slice(&1_000_000i32.to_be_bytes());
        for (m, says) in [
            (vec![b'Q', 0, 0, 0, 0], "length is 0"),
            (long_param, "runs past the end"),
            (msg(b'Q', b"SELECT 1"), "no terminating NUL"),
            (msg(b'Q', b"SELECT 1\0x"), "1 bytes after"),
            (msg(b'S', b"xx"), "2 bytes after"),
            (msg(b'P', b"s\0q\0\0\x05"), "parameter types runs past"),
            (msg(b'E', b"\0\0\0"), "row limit runs past"),
            (msg(b'D', b"X\0"), "target"),
            (msg(b'B', b"\0\0\0\x01\0\x07"), "format code 1 is 7"),
            (
                msg(b'B', b"\0\0\0\0\0\x01\xff\xff\xff\xfe\0\0"),
                "length is -2",
            ),
            (msg(b'Z', b""), "unknown message type"),
        ] {
            let e = check_next(&m, Expect::Typed).unwrap_err();
            assert!(e.contains(says), "{m:?}: {e}");
        }
    }

    #[test]
    fn startup_packets() {
        let mut s = 0i32.to_be_bytes().to_vec();
        s.extend_from_slice(&196_608i32.to_be_bytes());
        s.extend_from_slice(b"user\0ana\0\0");
        let n = s.len() as i32;
        s[..4].copy_from_slice(&n.to_be_bytes());
        assert_eq!(
            check_next(&s, Expect::Startup),
            Ok(Next::Message(s.len(), Expect::Typed))
        );
        let mut unterminated = s.clone();
        unterminated.pop();
        let n = unterminated.len() as i32;
        unterminated[..4].copy_from_slice(&n.to_be_bytes());
        assert!(check_next(&unterminated, Expect::Startup)
            .unwrap_err()
            .contains("no terminating NUL"));
        let ssl = [0, 0, 0, 8, 4, 210, 22, 47];
        assert!(check_next(&ssl, Expect::Startup)
            .unwrap_err()
            .contains("SSLRequest"));
        assert!(check_next(&[0, 0, 0, 3], Expect::Startup).is_err());
    }

    #[test]
    fn sasl_initial_response() {
        let mut b = b"SCRAM-SHA-256\0".to_vec();
        b.extend_from_slice(&3i32.to_be_bytes());
        b.extend_from_slice(b"abc");
        assert_eq!(check_sasl_initial(&b), Ok(()));
        b.pop();
        assert!(check_sasl_initial(&b).is_err());
        assert!(check_sasl_initial(b"SCRAM-SHA-256\0\0\0").is_err());
    }
}
