//! Zero-copy views of field values.
//!
//! A [`Value`] borrows the wire bytes of one field and presents its
//! *logical* content: the characters of a text or numeric field (BCD
//! unpacked on the fly, pad nibble skipped, EBCDIC translated), or the
//! bytes of a binary field (hex text decoded on the fly). Nothing is
//! copied until you ask for an owned form.

use core::fmt;

use crate::charset;

/// The logical content of a field, borrowed from the frame.
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Value<'a> {
    /// Characters, one byte each (ASCII data).
    Text(&'a [u8]),
    /// EBCDIC characters, translated when read.
    Ebcdic(&'a [u8]),
    /// Packed BCD digits: nibble `start` (0 = high nibble of byte 0),
    /// `len` digits. A nibble of `D` is the track separator `D`.
    /// `sign` is the `C`/`D` of an `x+n` field, written before the digits.
    Bcd {
        /// The packed bytes.
        bytes: &'a [u8],
        /// First nibble.
        start: usize,
        /// Number of digits.
        len: usize,
        /// `x+n` sign, if any.
        sign: Option<u8>,
    },
    /// Raw bytes.
    Binary(&'a [u8]),
    /// Bytes as uppercase hex text (two characters a byte).
    Hex(&'a [u8]),
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn nibble(bytes: &[u8], i: usize) -> u8 {
    let b = bytes.get(i / 2).copied().unwrap_or(0);
    if i % 2 == 0 { b >> 4 } else { b & 0x0f }
}

fn nibble_char(n: u8) -> u8 {
    HEX[(n & 0x0f) as usize]
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'A'..=b'F' => c - b'A' + 10,
        b'a'..=b'f' => c - b'a' + 10,
        _ => 0,
    }
}

impl<'a> Value<'a> {
    /// Whether the value is binary data (its logical units are bytes).
    pub fn is_binary(&self) -> bool {
        matches!(self, Value::Binary(_) | Value::Hex(_))
    }

    /// Logical length: characters (sign included), or bytes for binary.
    pub fn len(&self) -> usize {
        match *self {
            Value::Text(b) | Value::Ebcdic(b) | Value::Binary(b) => b.len(),
            Value::Hex(b) => b.len() / 2,
            Value::Bcd { len, sign, .. } => len + usize::from(sign.is_some()),
        }
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Logical unit `i`: a character, or a byte for binary values.
    pub fn get(&self, i: usize) -> Option<u8> {
        if i >= self.len() {
            return None;
        }
        Some(match *self {
            Value::Text(b) | Value::Binary(b) => b[i],
            Value::Ebcdic(b) => charset::ebcdic_to_ascii(b[i]),
            Value::Hex(b) => hex_val(b[2 * i]) << 4 | hex_val(b[2 * i + 1]),
            Value::Bcd {
                bytes, start, sign, ..
            } => match (sign, i) {
                (Some(s), 0) => s,
                (Some(_), _) => nibble_char(nibble(bytes, start + i - 1)),
                (None, _) => nibble_char(nibble(bytes, start + i)),
            },
        })
    }

    /// The logical units in order.
    pub fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        (0..self.len()).filter_map(move |i| self.get(i))
    }

    /// The text, without copying, when the value is ASCII text on the wire.
    pub fn as_text(&self) -> Option<&'a [u8]> {
        match *self {
            Value::Text(b) => Some(b),
            _ => None,
        }
    }

    /// The bytes, without copying, when the value is raw binary.
    pub fn as_binary(&self) -> Option<&'a [u8]> {
        match *self {
            Value::Binary(b) => Some(b),
            _ => None,
        }
    }

    /// Appends the logical content (characters, or bytes for binary) to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        if let Value::Text(b) | Value::Binary(b) = *self {
            return out.extend_from_slice(b);
        }
        let at = out.len();
        out.resize(at + self.len(), 0);
        self.fill(out.get_mut(at..).unwrap_or_default());
    }

    /// [`Self::write_to`] into a `BytesMut`.
    pub(crate) fn write_bytes(&self, out: &mut bytes::BytesMut) {
        if let Value::Text(b) | Value::Binary(b) = *self {
            return out.extend_from_slice(b);
        }
        let at = out.len();
        out.resize(at + self.len(), 0);
        self.fill(out.get_mut(at..).unwrap_or_default());
    }

    /// Writes the logical content into `dst` (as long as [`Self::len`]).
    fn fill(&self, dst: &mut [u8]) {
        match *self {
            Value::Text(b) | Value::Binary(b) => {
                if let Some(d) = dst.get_mut(..b.len()) {
                    d.copy_from_slice(b);
                }
            }
            Value::Hex(b) => {
                for (d, pair) in dst.iter_mut().zip(b.chunks_exact(2)) {
                    if let &[hi, lo] = pair {
                        *d = hex_val(hi) << 4 | hex_val(lo);
                    }
                }
            }
            Value::Bcd {
                bytes, start, sign, ..
            } => {
                let mut dst = dst;
                if let Some(s) = sign {
                    if let Some((d, rest)) = core::mem::take(&mut dst).split_first_mut() {
                        *d = s;
                        dst = rest;
                    }
                }
                for (k, d) in dst.iter_mut().enumerate() {
                    *d = nibble_char(nibble(bytes, start + k));
                }
            }
            Value::Ebcdic(b) => {
                for (d, &e) in dst.iter_mut().zip(b) {
                    *d = charset::ebcdic_to_ascii(e);
                }
            }
        }
    }

    /// The logical content as an owned vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        self.write_to(&mut v);
        v
    }

    /// Compares the logical content with `s` without allocating.
    pub fn eq_bytes(&self, s: &[u8]) -> bool {
        s.len() == self.len() && self.iter().zip(s).all(|(a, &b)| a == b)
    }

    /// Parses a digit value as an unsigned integer (`None` if it has
    /// non-digits, a sign, or more than 19 digits).
    pub fn to_u64(&self) -> Option<u64> {
        if self.is_binary() || self.is_empty() || self.len() > 19 {
            return None;
        }
        self.iter().try_fold(0u64, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u64::from(c - b'0'))
        })
    }

    /// Logical units `start..start + len`, still borrowed (used for
    /// positional subfields). `None` when out of range or when the slice
    /// would cut an `x+n` sign from its digits.
    pub fn slice(&self, start: usize, len: usize) -> Option<Value<'a>> {
        let end = start.checked_add(len)?;
        if end > self.len() {
            return None;
        }
        Some(match *self {
            Value::Text(b) => Value::Text(&b[start..end]),
            Value::Ebcdic(b) => Value::Ebcdic(&b[start..end]),
            Value::Binary(b) => Value::Binary(&b[start..end]),
            Value::Hex(b) => Value::Hex(&b[2 * start..2 * end]),
            Value::Bcd {
                bytes,
                start: s,
                sign,
                ..
            } => {
                if sign.is_some() {
                    return None;
                }
                Value::Bcd {
                    bytes,
                    start: s + start,
                    len,
                    sign: None,
                }
            }
        })
    }

    /// Whether the logical content is valid UTF-8 text (binary never is).
    pub fn is_utf8(&self) -> bool {
        match *self {
            Value::Text(b) => core::str::from_utf8(b).is_ok(),
            Value::Binary(_) | Value::Hex(_) => false,
            _ => true,
        }
    }
}

/// Shows characters as text (bytes outside ASCII as `\xNN`) and binary
/// values as uppercase hex. This is the clear value: mask first when it
/// may be sensitive (see [`crate::mask`]).
impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        match *self {
            Value::Text(b) if b.is_ascii() => {
                f.write_str(core::str::from_utf8(b).map_err(|_| fmt::Error)?)
            }
            Value::Text(b) => match core::str::from_utf8(b) {
                Ok(s) => f.write_str(s),
                Err(_) => b.iter().try_for_each(|&c| {
                    if c.is_ascii() {
                        f.write_char(c as char)
                    } else {
                        write!(f, "\\x{c:02X}")
                    }
                }),
            },
            Value::Binary(_) | Value::Hex(_) => self.iter().try_for_each(|b| {
                f.write_char(HEX[(b >> 4) as usize] as char)?;
                f.write_char(HEX[(b & 15) as usize] as char)
            }),
            _ => self.iter().try_for_each(|c| f.write_char(c as char)),
        }
    }
}

/// Debug never shows content: it may be card data.
impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Value({} units)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The converting writers (`write_bytes` for `to_message`, and
    /// `write_to`) give what the unit-by-unit view gives: for BCD digits
    /// from either nibble, of every length, with and without a sign, and
    /// for hex, text, binary and EBCDIC values.
    #[test]
    fn writing_a_value_in_one_pass_gives_its_units_in_order() {
        let bytes = [0x12, 0x34, 0x56, 0x78, 0x9D, 0x0F, 0xA5];
        let both = |v: Value<'_>| {
            let mut fast = bytes::BytesMut::from(&b"kept"[..]);
            v.write_bytes(&mut fast);
            let mut vec = b"kept".to_vec();
            v.write_to(&mut vec);
            let mut slow = b"kept".to_vec();
            slow.extend(v.iter());
            assert_eq!(&fast[..], &slow[..], "{v:?}");
            assert_eq!(vec, slow, "{v:?}");
        };
        for start in 0..2 * bytes.len() {
            for len in 0..=2 * bytes.len() - start {
                for sign in [None, Some(b'C'), Some(b'D')] {
                    both(Value::Bcd {
                        bytes: &bytes,
                        start,
                        len,
                        sign,
                    });
                }
            }
        }
        for text in [&b""[..], b"00", b"A5", b"0123456789ABCDEF", b"ff10"] {
            both(Value::Hex(text));
            both(Value::Text(text));
            both(Value::Binary(text));
            both(Value::Ebcdic(text));
        }
    }

    #[test]
    fn bcd_view_skips_pad_and_slices_without_copying() {
        // "12345" right-aligned with a 0 pad: 01 23 45
        let v = Value::Bcd {
            bytes: &[0x01, 0x23, 0x45],
            start: 1,
            len: 5,
            sign: None,
        };
        assert_eq!(v.to_string(), "12345");
        assert_eq!(v.to_u64(), Some(12345));
        assert_eq!(v.slice(1, 3).map(|s| s.to_string()).as_deref(), Some("234"));
        assert!(v.slice(4, 2).is_none());
        let s = Value::Bcd {
            bytes: &[0x00, 0x12],
            start: 0,
            len: 4,
            sign: Some(b'D'),
        };
        assert_eq!(s.to_string(), "D0012");
        assert!(s.eq_bytes(b"D0012"));
    }

    #[test]
    fn hex_text_reads_as_bytes() {
        let v = Value::Hex(b"0AFF");
        assert_eq!(v.len(), 2);
        assert_eq!(v.to_vec(), vec![0x0a, 0xff]);
        assert_eq!(v.to_string(), "0AFF");
        assert_eq!(format!("{v:?}"), "Value(2 units)");
    }
}
