//! The binary form of a [`Batch`]: the payload of a WAL record.
//!
//! ```text
//! batch   = version:u8 (1) flags:u8 [key] num_ops:varint op*
//! flags   = bit 0: an idempotency key follows; other bits 0
//! key     = str
//! op      = tag:u8 id:str body
//!   1 set     n:varint (field:varint value)*n
//!             value = 1 str (ENUM) | 2 (false) | 3 (true) | 4 zigzag:varint (INT) | 5 str (TEXT)
//!   2 add     n:varint (field:varint m:varint str*m)*n
//!   3 remove  as add
//!   4 clear   n:varint field:varint*n
//!   5 event   field:varint day:zigzag varint count:varint
//!   6 delete  (nothing)
//! str     = len:varint UTF-8 bytes
//! varint  = unsigned LEB128, at most 10 bytes
//! ```
//!
//! The WAL record around it carries the checksums; decoding still checks
//! every length, tag, number range and UTF-8 string, and that nothing
//! follows the last operation, so damaged or foreign bytes are an error.

use super::op::{Batch, Op, SetValue};
use crate::error::EngineError;

/// The encoding's version (its first byte).
pub const BATCH_FORMAT_VERSION: u8 = 1;

const TAG_SET: u8 = 1;
const TAG_ADD: u8 = 2;
const TAG_REMOVE: u8 = 3;
const TAG_CLEAR: u8 = 4;
const TAG_EVENT: u8 = 5;
const TAG_DELETE: u8 = 6;

const VAL_ENUM: u8 = 1;
const VAL_FALSE: u8 = 2;
const VAL_TRUE: u8 = 3;
const VAL_INT: u8 = 4;
const VAL_TEXT: u8 = 5;

const FLAG_KEY: u8 = 1;

/// Bytes that are not an encoded batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad encoded ingest batch at byte {offset}: {what}")]
pub struct DecodeError {
    /// Where decoding stopped.
    pub offset: usize,
    /// What was wrong there.
    pub what: String,
}

impl From<DecodeError> for EngineError {
    /// A WAL record whose checksum matched but whose batch does not decode
    /// is our fault (or a newer segdb's record), not the client's.
    fn from(e: DecodeError) -> EngineError {
        EngineError::Internal(e.to_string())
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

impl Batch {
    /// The batch's binary form (see the module's grammar).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + 32 * self.ops.len());
        out.push(BATCH_FORMAT_VERSION);
        match &self.idempotency_key {
            Some(k) => {
                out.push(FLAG_KEY);
                put_str(&mut out, k);
            }
            None => out.push(0),
        }
        put_varint(&mut out, self.ops.len() as u64);
        for op in &self.ops {
            let tag = match op {
                Op::Set { .. } => TAG_SET,
                Op::Add { .. } => TAG_ADD,
                Op::Remove { .. } => TAG_REMOVE,
                Op::Clear { .. } => TAG_CLEAR,
                Op::Event { .. } => TAG_EVENT,
                Op::Delete { .. } => TAG_DELETE,
            };
            out.push(tag);
            put_str(&mut out, op.id());
            match op {
                Op::Set { values, .. } => {
                    put_varint(&mut out, values.len() as u64);
                    for (f, v) in values {
                        put_varint(&mut out, u64::from(*f));
                        match v {
                            SetValue::Enum(s) => {
                                out.push(VAL_ENUM);
                                put_str(&mut out, s);
                            }
                            SetValue::Bool(false) => out.push(VAL_FALSE),
                            SetValue::Bool(true) => out.push(VAL_TRUE),
                            SetValue::Int(x) => {
                                out.push(VAL_INT);
                                put_varint(&mut out, zigzag(*x));
                            }
                            SetValue::Text(s) => {
                                out.push(VAL_TEXT);
                                put_str(&mut out, s);
                            }
                        }
                    }
                }
                Op::Add { values, .. } | Op::Remove { values, .. } => {
                    put_varint(&mut out, values.len() as u64);
                    for (f, vs) in values {
                        put_varint(&mut out, u64::from(*f));
                        put_varint(&mut out, vs.len() as u64);
                        for v in vs {
                            put_str(&mut out, v);
                        }
                    }
                }
                Op::Clear { fields, .. } => {
                    put_varint(&mut out, fields.len() as u64);
                    for f in fields {
                        put_varint(&mut out, u64::from(*f));
                    }
                }
                Op::Event {
                    field, day, count, ..
                } => {
                    put_varint(&mut out, u64::from(*field));
                    put_varint(&mut out, zigzag(i64::from(*day)));
                    put_varint(&mut out, *count);
                }
                Op::Delete { .. } => {}
            }
        }
        out
    }

    /// Reads a batch written by [`Batch::encode`]. Any bytes that are not
    /// one (truncated, damaged, trailing data, an unknown version) give a
    /// `DecodeError`; decoding never panics and never allocates more than
    /// the input's length allows.
    pub fn decode(bytes: &[u8]) -> Result<Batch, DecodeError> {
        let mut r = Reader { bytes, at: 0 };
        let version = r.u8()?;
        if version != BATCH_FORMAT_VERSION {
            return Err(r.error_at(
                0,
                format!("unsupported version {version} (this build reads {BATCH_FORMAT_VERSION})"),
            ));
        }
        let flags = r.u8()?;
        if flags & !FLAG_KEY != 0 {
            return Err(r.error_at(1, format!("unknown flags {flags:#04x}")));
        }
        let idempotency_key = if flags & FLAG_KEY != 0 {
            Some(r.str()?)
        } else {
            None
        };
        let num_ops = r.count()?;
        let mut ops = Vec::with_capacity(num_ops);
        for _ in 0..num_ops {
            let tag_at = r.at;
            let tag = r.u8()?;
            let id = r.str()?;
            let op = match tag {
                TAG_SET => {
                    let n = r.count()?;
                    let mut values = Vec::with_capacity(n);
                    for _ in 0..n {
                        let f = r.field()?;
                        let value_at = r.at;
                        let v = match r.u8()? {
                            VAL_ENUM => SetValue::Enum(r.str()?),
                            VAL_FALSE => SetValue::Bool(false),
                            VAL_TRUE => SetValue::Bool(true),
                            VAL_INT => SetValue::Int(unzigzag(r.varint()?)),
                            VAL_TEXT => SetValue::Text(r.str()?),
                            t => return Err(r.error_at(value_at, format!("unknown value tag {t}"))),
                        };
                        values.push((f, v));
                    }
                    Op::Set { id, values }
                }
                TAG_ADD | TAG_REMOVE => {
                    let n = r.count()?;
                    let mut values = Vec::with_capacity(n);
                    for _ in 0..n {
                        let f = r.field()?;
                        let m = r.count()?;
                        let mut vs = Vec::with_capacity(m);
                        for _ in 0..m {
                            vs.push(r.str()?);
                        }
                        values.push((f, vs));
                    }
                    if tag == TAG_ADD {
                        Op::Add { id, values }
                    } else {
                        Op::Remove { id, values }
                    }
                }
                TAG_CLEAR => {
                    let n = r.count()?;
                    let mut fields = Vec::with_capacity(n);
                    for _ in 0..n {
                        fields.push(r.field()?);
                    }
                    Op::Clear { id, fields }
                }
                TAG_EVENT => {
                    let field = r.field()?;
                    let day_at = r.at;
                    let day = i32::try_from(unzigzag(r.varint()?))
                        .map_err(|_| r.error_at(day_at, "day out of range".into()))?;
                    let count = r.varint()?;
                    Op::Event {
                        id,
                        field,
                        day,
                        count,
                    }
                }
                TAG_DELETE => Op::Delete { id },
                t => return Err(r.error_at(tag_at, format!("unknown operation tag {t}"))),
            };
            ops.push(op);
        }
        if r.at != bytes.len() {
            return Err(r.error_at(
                r.at,
                format!("{} bytes after the last operation", bytes.len() - r.at),
            ));
        }
        Ok(Batch {
            idempotency_key,
            ops,
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn error_at(&self, offset: usize, what: String) -> DecodeError {
        DecodeError { offset, what }
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or_else(|| self.error_at(self.at, "unexpected end".into()))?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let start = self.at;
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.u8()?;
            let bits = u64::from(b & 0x7f);
            if i == 9 && b > 1 {
                return Err(self.error_at(start, "varint overflows 64 bits".into()));
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.error_at(start, "varint longer than 10 bytes".into()))
    }

    /// A count of items that each take at least one byte: at most what is left.
    fn count(&mut self) -> Result<usize, DecodeError> {
        let start = self.at;
        let n = self.varint()?;
        let left = (self.bytes.len() - self.at) as u64;
        if n > left {
            return Err(self.error_at(start, format!("{n} items announced, {left} bytes left")));
        }
        Ok(n as usize)
    }

    fn field(&mut self) -> Result<u32, DecodeError> {
        let start = self.at;
        let v = self.varint()?;
        u32::try_from(v).map_err(|_| self.error_at(start, format!("field index {v} out of range")))
    }

    fn str(&mut self) -> Result<String, DecodeError> {
        let start = self.at;
        let len = self.varint()?;
        let left = (self.bytes.len() - self.at) as u64;
        if len > left {
            return Err(self.error_at(start, format!("a string of {len} bytes, {left} bytes left")));
        }
        let end = self.at + len as usize;
        let s = std::str::from_utf8(&self.bytes[self.at..end])
            .map_err(|_| self.error_at(self.at, "a string that is not UTF-8".into()))?;
        self.at = end;
        Ok(s.to_owned())
    }
}
