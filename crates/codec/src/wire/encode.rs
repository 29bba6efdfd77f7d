//! Encoding: an owned [`Message`] in, wire bytes out.
//!
//! One writer: the head (TPDU, header, MTI, bitmaps computed from the
//! fields present), then each field by the layout its spec worked out for
//! it: a check of its characters and length, its prefix, its data. It
//! rejects whatever the decoder would reject, with the same kind of error.

use core::fmt;

use bytes::{BufMut, BytesMut};

use super::{found_suffix, shown};
use crate::charset::{self, Class};
use crate::message::Message;
use crate::spec::layout::{Count, Data, FieldLayout, Size};
use crate::spec::{BitmapEncoding, FieldKind, FieldSpec, MtiEncoding, PrefixEncoding, Spec};
use crate::types::{Bitmap, FieldNo};

/// Why a message could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeErrorKind {
    /// The spec has no such field.
    #[error("this spec does not define field {0}")]
    UndefinedField(u8),
    /// The field is a bitmap indicator or beyond the spec's bitmaps.
    #[error("field {0} cannot carry data in this spec")]
    ReservedField(u8),
    /// A fixed-length field has the wrong length.
    #[error("fixed length is {expected}, value has {got}")]
    WrongLength {
        /// The spec's length (logical units, sign included).
        expected: usize,
        /// The value's length.
        got: usize,
    },
    /// A variable field is longer than its maximum.
    #[error("length {length} exceeds the maximum {max}")]
    TooLong {
        /// The value's length.
        length: usize,
        /// The maximum.
        max: usize,
    },
    /// A character is outside the field's set.
    #[error("character {position}: expected {expected}{}", found_suffix(*.found))]
    InvalidChar {
        /// What the field allows.
        expected: &'static str,
        /// Position in the value.
        position: usize,
        /// The offending byte, unless the field is sensitive.
        found: Option<u8>,
    },
    /// An odd number of BCD digits with a byte-counted prefix.
    #[error("{0} BCD digits cannot be expressed with a byte-counted length prefix")]
    OddDigits(usize),
    /// The TPDU or header does not match the spec.
    #[error("{0}")]
    Header(String),
    /// More bitmaps requested than the spec has.
    #[error("this spec has no tertiary bitmap")]
    NoTertiaryBitmap,
}

/// An encode failure: which field and why. Never carries the content of
/// a sensitive field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    /// The field at fault, if any.
    pub field: Option<FieldNo>,
    /// What went wrong.
    pub kind: EncodeErrorKind,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field {
            Some(n) => write!(f, "field {n}: {}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for EncodeError {}

fn ferr(no: FieldNo, kind: EncodeErrorKind) -> EncodeError {
    EncodeError {
        field: Some(no),
        kind,
    }
}

/// Encodes `msg` with `spec`, appending to `out`.
///
/// ```
/// use bytes::BytesMut;
/// use cardwire_codec::{Message, encode, specs};
/// let msg = Message::new("0800".parse().unwrap()).with(11, "000001").with(70, "301");
/// let mut out = BytesMut::new();
/// encode(specs::iso87ascii(), &msg, &mut out)?;
/// assert_eq!(&out[..], b"080080200000000000000400000000000000000001301");
/// # Ok::<(), cardwire_codec::EncodeError>(())
/// ```
///
/// # Errors
/// An [`EncodeError`] naming the field and reason; `out` is then as it
/// was.
pub fn encode(spec: &Spec, msg: &Message, out: &mut BytesMut) -> Result<(), EncodeError> {
    let mark = out.len();
    if write::<true>(spec, msg, out).is_ok() {
        return Ok(());
    }
    out.truncate(mark);
    Err(precise_error(spec, msg))
}

/// The error of a message the writer refused: the writer again, each
/// value checked before it is written, stops at the first broken rule.
#[cold]
#[inline(never)]
fn precise_error(spec: &Spec, msg: &Message) -> EncodeError {
    let mut scratch = BytesMut::new();
    match write::<false>(spec, msg, &mut scratch) {
        Err(e) => e,
        // Unreachable: both ways apply the same rules.
        Ok(()) => EncodeError {
            field: None,
            kind: EncodeErrorKind::Header("inconsistent encoder".into()),
        },
    }
}

/// [`encode`] into a new `Vec`.
///
/// # Errors
/// As [`encode`].
pub fn encode_to_vec(spec: &Spec, msg: &Message) -> Result<Vec<u8>, EncodeError> {
    let mut out = BytesMut::new();
    encode(spec, msg, &mut out)?;
    Ok(out.to_vec())
}

/// A run of text written consecutively, of one character class, checked
/// at once in the output (as the decoder checks it).
#[derive(Clone, Copy)]
struct Run {
    class: Class,
    start: usize,
    end: usize,
}

/// The writer: head, then every field. With `RUNS`, unsigned ASCII text
/// is checked after it is written, on runs of consecutive fields of one
/// class (their ASCII digit prefixes included) 16 bytes a step; an error
/// then does not name the first broken rule, which [`precise_error`]
/// finds.
#[inline(always)]
fn write<const RUNS: bool>(
    spec: &Spec,
    msg: &Message,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let bitmap = compute_bitmap(spec, msg)?;
    let (tpdu, header) = head_parts(spec, msg)?;
    // Room for the worst case (BCD and hex at most double a value).
    let fields = msg.fields().count();
    out.reserve(spec.header_len() + 4 + 24 + 2 * msg.value_bytes() + 4 * fields);
    out.extend_from_slice(tpdu);
    out.extend_from_slice(header);
    let d = msg.mti.digits();
    match spec.mti {
        MtiEncoding::Ascii => out.extend_from_slice(&d),
        MtiEncoding::Ebcdic => out.extend_from_slice(&d.map(charset::ascii_to_ebcdic)),
        MtiEncoding::Bcd => out.extend_from_slice(&[
            (d[0] - b'0') << 4 | (d[1] - b'0'),
            (d[2] - b'0') << 4 | (d[3] - b'0'),
        ]),
    }
    for word in bitmap.words().iter().take(bitmaps(spec, bitmap)) {
        match spec.bitmap {
            BitmapEncoding::Binary => out.put_u64(*word),
            BitmapEncoding::Hex => put_hex(grow(out, 16), &word.to_be_bytes()),
        }
    }
    let mut run = Run {
        class: Class::Any,
        start: out.len(),
        end: out.len(),
    };
    // A run that fails its check says only "somewhere in here": the
    // caller writes again with each value checked ([`precise_error`]),
    // which names the field, so this error is never shown.
    let recheck = || EncodeError {
        field: None,
        kind: EncodeErrorKind::Header(String::new()),
    };
    for (no, v) in msg.fields() {
        // compute_bitmap checked that the spec defines every field.
        let (Some(fs), Some(fl)) = (spec.field(no), spec.layout(no)) else {
            return Err(ferr(no, EncodeErrorKind::UndefinedField(no.get())));
        };
        let joins = match (RUNS, fl.run, fl.data) {
            (true, Some(class), Data::Text { .. }) => Some(class),
            _ => None,
        };
        let from = out.len();
        write_field(fs, fl, no, v, out, joins.is_none())?;
        if let Some(class) = joins {
            let start = if fl.prefix_joins {
                from
            } else {
                from + fl.prefix_width()
            };
            if run.class == class && run.end == start {
                run.end = out.len();
            } else {
                if !run.class.all_in(out, run.start, run.end) {
                    return Err(recheck());
                }
                run = Run {
                    class,
                    start,
                    end: out.len(),
                };
            }
        }
    }
    if !run.class.all_in(out, run.start, run.end) {
        return Err(recheck());
    }
    Ok(())
}

/// The TPDU and header of `msg`, as the spec wants them: empty when it
/// has none, an error naming what is wrong.
fn head_parts<'m>(spec: &Spec, msg: &'m Message) -> Result<(&'m [u8], &'m [u8]), EncodeError> {
    let herr = |s: String| EncodeError {
        field: None,
        kind: EncodeErrorKind::Header(s),
    };
    let tpdu: &[u8] = match (&msg.tpdu, spec.header.tpdu) {
        (Some(t), true) if t.len() == 5 => t,
        (Some(t), true) => return Err(herr(format!("the TPDU is 5 bytes, not {}", t.len()))),
        (None, true) => return Err(herr("this spec needs a TPDU".into())),
        (Some(_), false) => return Err(herr("this spec has no TPDU".into())),
        (None, false) => &[],
    };
    let hl = spec.header.length;
    let header: &[u8] = match &msg.header {
        Some(h) if h.len() == hl && hl > 0 => h,
        Some(h) if hl == 0 => {
            return Err(herr(format!(
                "this spec has no header, message has {} bytes",
                h.len()
            )));
        }
        Some(h) => return Err(herr(format!("the header is {hl} bytes, not {}", h.len()))),
        None if hl > 0 => return Err(herr(format!("this spec needs a {hl}-byte header"))),
        None => &[],
    };
    Ok((tpdu, header))
}

/// How many bitmaps `bitmap` (indicators set) takes on the wire.
fn bitmaps(spec: &Spec, bitmap: Bitmap) -> usize {
    let words = bitmap.words();
    if words[0] >> 63 == 0 {
        1
    } else if spec.tertiary_bitmap && words[1] >> 63 == 1 {
        3
    } else {
        2
    }
}

/// The fields' bits plus the bitmap indicators (bit 1, and bit 65 for a
/// tertiary bitmap) for as many bitmaps as the fields, or the message's
/// `min_bitmaps`, need.
fn compute_bitmap(spec: &Spec, msg: &Message) -> Result<Bitmap, EncodeError> {
    let mut b = Bitmap::new();
    let max = spec.max_field();
    for (no, _) in msg.fields() {
        let n = no.get();
        if n == 1 || (n == 65 && spec.tertiary_bitmap) || n > max {
            return Err(ferr(no, EncodeErrorKind::ReservedField(n)));
        }
        if spec.field(no).is_none() {
            return Err(ferr(no, EncodeErrorKind::UndefinedField(n)));
        }
        b.set(no);
    }
    let words = b.words();
    let need = if words[2] != 0 {
        3
    } else if words[1] != 0 {
        2
    } else {
        1
    };
    let need = need.max(msg.min_bitmaps.clamp(1, 3));
    if need == 3 && !spec.tertiary_bitmap {
        return Err(EncodeError {
            field: None,
            kind: EncodeErrorKind::NoTertiaryBitmap,
        });
    }
    for (bit, bitmaps) in [(1, 2), (65, 3)] {
        if let (Some(indicator), true) = (FieldNo::new(bit), need >= bitmaps) {
            b.set(indicator);
        }
    }
    Ok(b)
}

/// Checks field `no`'s value (its characters only when `check`: else
/// the caller checks them where they are written) and appends the
/// field.
#[inline(always)]
fn write_field(
    fs: &FieldSpec,
    fl: &FieldLayout,
    no: FieldNo,
    v: &[u8],
    out: &mut BytesMut,
    check: bool,
) -> Result<(), EncodeError> {
    if check && !chars_ok(fs, fl, v) {
        return Err(bad_chars(fs, no, v));
    }
    let chars = v.len();
    match fl.size {
        Size::Fixed {
            chars: expected, ..
        } => {
            if chars != expected {
                let kind = EncodeErrorKind::WrongLength {
                    expected,
                    got: chars,
                };
                return Err(ferr(no, kind));
            }
        }
        Size::Prefixed {
            encoding,
            digits,
            width,
            count,
            max_chars,
            ..
        } => {
            if chars > max_chars {
                let kind = EncodeErrorKind::TooLong {
                    length: chars,
                    max: max_chars,
                };
                return Err(ferr(no, kind));
            }
            if count == Count::BcdBytes && chars % 2 == 1 {
                return Err(ferr(no, EncodeErrorKind::OddDigits(chars)));
            }
            put_prefix(out, encoding, digits, width, fl.prefix_value(count, chars));
        }
    }
    match fl.data {
        Data::Text { .. } | Data::Binary => out.extend_from_slice(v),
        Data::Ebcdic { .. } => {
            for (d, &c) in grow(out, v.len()).iter_mut().zip(v) {
                *d = charset::ascii_to_ebcdic(c);
            }
        }
        Data::Hex => put_hex(grow(out, 2 * v.len()), v),
        Data::Bcd { signed: true, .. } => {
            let (sign, digits) = v.split_first().map_or((b'C', &[][..]), |(s, r)| (*s, r));
            out.put_u8(sign);
            put_bcd(out, fl, digits);
        }
        Data::Bcd { .. } => put_bcd(out, fl, v),
    }
    Ok(())
}

/// Whether a value's characters are all its field allows: the fast check.
#[inline]
fn chars_ok(fs: &FieldSpec, fl: &FieldLayout, v: &[u8]) -> bool {
    match fs.kind {
        FieldKind::B => true,
        FieldKind::XN => {
            matches!(v.split_first(), Some((b'C' | b'D', rest)) if Class::Digit.all(rest))
        }
        kind => {
            kind.class().all(v)
                && (!matches!(fl.data, Data::Ebcdic { .. })
                    || v.iter().all(|&c| charset::ascii_to_ebcdic(c) != 0))
        }
    }
}

/// The error for a value that failed [`chars_ok`]: its first bad
/// character.
#[cold]
#[inline(never)]
fn bad_chars(fs: &FieldSpec, no: FieldNo, v: &[u8]) -> EncodeError {
    let bad = |i: usize, expected: &'static str| {
        ferr(
            no,
            EncodeErrorKind::InvalidChar {
                expected,
                position: i,
                found: v.get(i).and_then(|&b| shown(fs, b)),
            },
        )
    };
    match fs.kind {
        FieldKind::XN => match v.split_first() {
            Some((b'C' | b'D', rest)) => {
                let i = Class::Digit.first_bad(rest).unwrap_or(0);
                bad(i + 1, FieldKind::XN.expected())
            }
            _ => bad(0, "sign C or D"),
        },
        kind => match kind.class().first_bad(v) {
            Some(i) => bad(i, kind.expected()),
            None => {
                let i = v
                    .iter()
                    .position(|&c| charset::ascii_to_ebcdic(c) == 0)
                    .unwrap_or(0);
                bad(i, "a character EBCDIC 037 can carry")
            }
        },
    }
}

/// A length prefix of `digits` digits, `width` bytes, saying `v`.
fn put_prefix(out: &mut BytesMut, encoding: PrefixEncoding, digits: u8, width: usize, v: usize) {
    match encoding {
        PrefixEncoding::Ascii | PrefixEncoding::Ebcdic => {
            let mut text = [0u8; 4];
            let text = text.get_mut(..usize::from(digits)).unwrap_or_default();
            let mut x = v;
            for slot in text.iter_mut().rev() {
                *slot = b'0' + (x % 10) as u8;
                x /= 10;
            }
            if encoding == PrefixEncoding::Ebcdic {
                text.iter_mut()
                    .for_each(|c| *c = charset::ascii_to_ebcdic(*c));
            }
            out.extend_from_slice(text);
        }
        PrefixEncoding::Bcd => {
            let mut packed = [0u8; 2];
            let packed = packed.get_mut(..width).unwrap_or_default();
            let mut x = v;
            for b in packed.iter_mut().rev() {
                *b = (((x / 10 % 10) << 4) | (x % 10)) as u8;
                x /= 100;
            }
            out.extend_from_slice(packed);
        }
        PrefixEncoding::Binary if width == 1 => out.put_u8(v as u8),
        PrefixEncoding::Binary => out.put_u16(v as u16),
    }
}

/// `n` more bytes at the end of `out`, to be written.
fn grow(out: &mut BytesMut, n: usize) -> &mut [u8] {
    let at = out.len();
    out.resize(at + n, 0);
    out.get_mut(at..).unwrap_or_default()
}

/// Bytes as uppercase hex text into `dst` (twice as long).
fn put_hex(dst: &mut [u8], v: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for (pair, &b) in dst.chunks_exact_mut(2).zip(v) {
        pair.copy_from_slice(&[DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]]);
    }
}

/// Digits (and track separators, as the nibble `D`) packed two a byte,
/// with the pad nibble where the field's alignment puts it.
fn put_bcd(out: &mut BytesMut, fl: &FieldLayout, digits: &[u8]) {
    let Data::Bcd { pad, .. } = fl.data else {
        return;
    };
    let first = fl.first_nibble(digits.len());
    let nibble = |i: usize| match i.checked_sub(first).and_then(|k| digits.get(k)) {
        Some(&c @ b'0'..=b'9') => c - b'0',
        // '=' or 'D', checked before.
        Some(_) => 0xD,
        None => pad,
    };
    let bytes = (digits.len() + first).div_ceil(2);
    for (i, b) in grow(out, bytes).iter_mut().enumerate() {
        *b = nibble(2 * i) << 4 | nibble(2 * i + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::specs;

    #[test]
    fn hex_text_is_uppercase_and_in_order() {
        let all: Vec<u8> = (0..=255).collect();
        let mut out = vec![0; 512];
        put_hex(&mut out, &all);
        assert_eq!(&out[..], hex::encode_upper(&all).as_bytes());
    }

    #[test]
    fn bcd_pads_on_the_side_the_field_aligns() {
        let cups = specs::cups();
        let left = cups.layout(FieldNo::new(22).unwrap_or_else(|| unreachable!()));
        let right = cups.layout(FieldNo::new(23).unwrap_or_else(|| unreachable!()));
        let (Some(left), Some(right)) = (left, right) else {
            unreachable!()
        };
        let mut out = BytesMut::new();
        put_bcd(&mut out, left, b"021");
        put_bcd(&mut out, right, b"021");
        put_bcd(&mut out, right, b"4761=25D1");
        assert_eq!(
            &out[..],
            [0x02, 0x10, 0x00, 0x21, 0x04, 0x76, 0x1D, 0x25, 0xD1]
        );
    }
}
