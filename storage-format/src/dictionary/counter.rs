//! Version 2 parts whose ids are a counter: id `i` of the part is a fixed
//! prefix and the number `start + i` in decimal, zero-padded to a fixed
//! width (`u000000000`, `u000000001`, … of the standard data set, or any
//! generator of sequential ids). Such a part stores the rule instead of
//! the ids (`TAG_COUNTER`: `start` u64, `width` u32, the prefix's bytes):
//! no bytes per id; row -> id formats the number, id -> row parses it.

use super::MAX_ID_LEN;

/// The rule of a counter part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Counter {
    /// The number of the part's first id.
    pub(crate) start: u64,
    /// Digits of every number.
    pub(crate) width: usize,
    /// The bytes before the digits.
    pub(crate) prefix: Vec<u8>,
}

/// The rule `ids` follow, if they follow one.
pub(crate) fn detect(ids: &[&str]) -> Option<Counter> {
    let first = ids.first()?.as_bytes();
    let width = first
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if width == 0 || width > 19 {
        return None;
    }
    let plen = first.len() - width;
    let (prefix, tail) = first.split_at(plen);
    let start = parse(tail)?;
    let last = start.checked_add(ids.len() as u64 - 1)?;
    if last >= 10u64.checked_pow(width as u32)? {
        return None;
    }
    let mut digits = tail.to_vec();
    for id in ids {
        let id = id.as_bytes();
        if id.len() != first.len() || &id[..plen] != prefix || id[plen..] != digits[..] {
            return None;
        }
        for d in digits.iter_mut().rev() {
            if *d == b'9' {
                *d = b'0';
            } else {
                *d += 1;
                break;
            }
        }
    }
    Some(Counter {
        start,
        width,
        prefix: prefix.to_vec(),
    })
}

/// The decimal number of `digits` (all ASCII digits, at most 19).
fn parse(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

impl Counter {
    /// The `TAG_COUNTER` block.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.prefix.len());
        out.extend_from_slice(&self.start.to_le_bytes());
        out.extend_from_slice(&(self.width as u32).to_le_bytes());
        out.extend_from_slice(&self.prefix);
        out
    }

    /// Reads a `TAG_COUNTER` block of a part of `num_ids` ids, checking it.
    pub(crate) fn decode(b: &[u8], num_ids: u32) -> std::result::Result<Counter, (usize, String)> {
        if b.len() < 12 {
            return Err((0, "counter block truncated".into()));
        }
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[..8]);
        let start = u64::from_le_bytes(x);
        let width = u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize;
        let prefix = b[12..].to_vec();
        let end = 10u64.checked_pow(width as u32);
        let fits = end.is_some_and(|end| {
            start
                .checked_add(u64::from(num_ids))
                .is_some_and(|last| last <= end)
        });
        if !(1..=19).contains(&width) || !fits || prefix.len() + width > MAX_ID_LEN {
            return Err((
                0,
                format!("counter of {width} digits from {start} for {num_ids} ids"),
            ));
        }
        Ok(Counter {
            start,
            width,
            prefix,
        })
    }

    /// Puts the id of local row `local` in `buf`.
    #[inline]
    pub(crate) fn id(&self, local: u32, buf: &mut Vec<u8>) {
        buf.clear();
        buf.extend_from_slice(&self.prefix);
        buf.resize(self.prefix.len() + self.width, b'0');
        let mut n = self.start + u64::from(local);
        for d in buf.iter_mut().rev().take(self.width) {
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
    }

    /// The local row of `id`, if it is one of the part's `num_ids`.
    #[inline]
    pub(crate) fn local_of(&self, id: &[u8], num_ids: u32) -> Option<u32> {
        if id.len() != self.prefix.len() + self.width || !id.starts_with(&self.prefix) {
            return None;
        }
        let n = parse(&id[self.prefix.len()..])?;
        let local = n.checked_sub(self.start)?;
        (local < u64::from(num_ids)).then_some(local as u32)
    }
}
