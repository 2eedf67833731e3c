//! Text building blocks: short strings padded to a fixed width, so that
//! copying one is a couple of register moves rather than a `memcpy` call,
//! and a row buffer on the stack that takes them.
//!
//! A row is assembled in a [`RowBuf`] and appended to the block's buffer
//! with a single copy.

/// Width every [`Label`] is padded to.
const LABEL_WIDTH: usize = 24;

/// Capacity of a [`RowBuf`]. A users.csv row needs at most about 170 bytes
/// (with interests at their maximum) and a day of events.csv rows about
/// 190; the slack lets a padded label be copied whole at the end.
const ROW_CAPACITY: usize = 320;

/// A string of at most [`LABEL_WIDTH`] bytes, zero-padded.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Label {
    bytes: [u8; LABEL_WIDTH],
    len: usize,
}

impl Label {
    /// Panics if `text` is longer than [`LABEL_WIDTH`].
    pub(crate) fn new(text: &str) -> Self {
        let mut bytes = [0; LABEL_WIDTH];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Label {
            bytes,
            len: text.len(),
        }
    }

    /// The text.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Labels such as `c000` .. `c299`: a prefix and a zero-padded index.
pub(crate) fn numbered_labels(prefix: &str, digits: usize, count: usize) -> Vec<Label> {
    (0..count)
        .map(|i| Label::new(&format!("{prefix}{i:0digits$}")))
        .collect()
}

/// The id of user `index`: `u` and the index zero-padded to nine digits,
/// or all its digits past 999,999,999.
#[inline]
pub(crate) fn user_id(index: u64) -> Label {
    let digits = if index < 1_000_000_000 {
        9
    } else {
        index.ilog10() as usize + 1
    };
    let mut bytes = [0; LABEL_WIDTH];
    bytes[0] = b'u';
    let mut rest = index;
    for slot in bytes[1..=digits].iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    Label {
        bytes,
        len: digits + 1,
    }
}

/// "00", "01", .. "99", for writing integers two digits at a time.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// A row (or a few) being assembled on the stack.
pub(crate) struct RowBuf {
    bytes: [u8; ROW_CAPACITY],
    len: usize,
}

impl RowBuf {
    /// An empty row.
    pub(crate) fn new() -> Self {
        RowBuf {
            bytes: [0; ROW_CAPACITY],
            len: 0,
        }
    }

    /// Empties the row.
    #[inline]
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// The row so far.
    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Appends one byte.
    #[inline]
    pub(crate) fn byte(&mut self, b: u8) {
        self.bytes[self.len] = b;
        self.len += 1;
    }

    /// Removes the last byte.
    #[inline]
    pub(crate) fn unpush(&mut self) {
        self.len -= 1;
    }

    /// Appends a fixed-size string.
    #[inline]
    pub(crate) fn fixed<const N: usize>(&mut self, bytes: &[u8; N]) {
        self.bytes[self.len..self.len + N].copy_from_slice(bytes);
        self.len += N;
    }

    /// Appends a label, copying its whole padded width.
    #[inline]
    pub(crate) fn label(&mut self, label: &Label) {
        self.bytes[self.len..self.len + LABEL_WIDTH].copy_from_slice(&label.bytes);
        self.len += label.len;
    }

    /// Appends the decimal text of `value`.
    #[inline]
    pub(crate) fn int(&mut self, value: i64) {
        if value < 0 {
            self.byte(b'-');
        }
        let mut n = value.unsigned_abs();
        let end = self.len + if n == 0 { 1 } else { n.ilog10() as usize + 1 };
        let mut pos = end;
        while n >= 100 {
            let pair = (n % 100) as usize * 2;
            n /= 100;
            pos -= 2;
            self.bytes[pos..pos + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        }
        if n >= 10 {
            let pair = n as usize * 2;
            self.bytes[pos - 2..pos].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        } else {
            self.bytes[pos - 1] = b'0' + n as u8;
        }
        self.len = end;
    }
}

/// The ISO date of day `day` of the 30-day window: day 0 is 2026-10-24
/// and day 29 is 2026-11-22.
pub(crate) fn day_date(day: u32) -> String {
    assert!(day < 30, "day {day} outside the 30-day window");
    if day < 8 {
        format!("2026-10-{}", 24 + day)
    } else {
        format!("2026-11-{:02}", day - 7)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        let t = numbered_labels("d", 4, 2000);
        assert_eq!(t[0].as_bytes(), b"d0000");
        assert_eq!(t[149].as_bytes(), b"d0149");
        assert_eq!(t[1999].as_bytes(), b"d1999");
    }

    #[test]
    fn ids() {
        assert_eq!(user_id(0).as_bytes(), b"u000000000");
        assert_eq!(user_id(42).as_bytes(), b"u000000042");
        assert_eq!(user_id(999_999_999).as_bytes(), b"u999999999");
        assert_eq!(user_id(1_000_000_000).as_bytes(), b"u1000000000");
        assert_eq!(user_id(u64::MAX).as_bytes(), b"u18446744073709551615");
    }

    #[test]
    fn ints() {
        let mut row = RowBuf::new();
        let values = [
            0,
            7,
            10,
            99,
            100,
            101,
            -100,
            -5,
            12_345,
            1_000_000,
            9_999_999,
            i64::MAX,
            i64::MIN,
        ];
        for v in values {
            row.clear();
            row.int(v);
            assert_eq!(row.as_bytes(), v.to_string().as_bytes());
        }
    }

    #[test]
    fn row_assembly() {
        let mut row = RowBuf::new();
        row.label(&Label::new("abc"));
        row.byte(b',');
        row.label(&user_id(5));
        row.byte(b',');
        row.int(-42);
        assert_eq!(row.as_bytes(), b"abc,u000000005,-42");
    }

    #[test]
    fn dates() {
        assert_eq!(day_date(0), "2026-10-24");
        assert_eq!(day_date(7), "2026-10-31");
        assert_eq!(day_date(8), "2026-11-01");
        assert_eq!(day_date(23), "2026-11-16");
        assert_eq!(day_date(29), "2026-11-22");
    }
}
