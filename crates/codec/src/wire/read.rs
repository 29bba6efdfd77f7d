//! The walk's reading primitives: `nom` parsers over the frame's bytes,
//! each returning borrowed slices or small numbers, never a copy.
//!
//! A parser fails with nom's `Incomplete`-free `Error` when the input is
//! too short or not what it should be; the walk turns that into a
//! [`DecodeError`](super::DecodeError) with the field, the offset and the
//! reason, looking at the bytes again only then.

use nom::IResult;
use nom::Parser;
use nom::combinator::map_opt;

use crate::charset;
use crate::spec::{BitmapEncoding, MtiEncoding, PrefixEncoding};

/// A parse over the frame.
pub(crate) type Parsed<'a, T> = IResult<&'a [u8], T>;

/// `n` bytes: nom's `take` for byte slices, written so that it inlines
/// (nom's own goes through `Input::take_from`, a call per field).
#[inline(always)]
pub(crate) fn bytes(n: usize) -> impl Fn(&[u8]) -> Parsed<'_, &[u8]> {
    move |i| match i.split_at_checked(n) {
        Some((taken, rest)) => Ok((rest, taken)),
        None => Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::Eof,
        ))),
    }
}

/// The four MTI digits, as ASCII (`?` for a BCD nibble over 9).
#[inline]
pub(crate) fn mti(encoding: MtiEncoding) -> impl Fn(&[u8]) -> Parsed<'_, [u8; 4]> {
    move |i| match encoding {
        MtiEncoding::Ascii => map_opt(bytes(4), |b: &[u8]| b.try_into().ok()).parse(i),
        MtiEncoding::Ebcdic => map_opt(bytes(4), |b: &[u8]| {
            let mut d = [0u8; 4];
            for (o, &e) in d.iter_mut().zip(b) {
                *o = charset::ebcdic_to_ascii(e);
            }
            Some(d)
        })
        .parse(i),
        MtiEncoding::Bcd => map_opt(bytes(2), |b: &[u8]| {
            let mut d = [0u8; 4];
            for (k, o) in d.iter_mut().enumerate() {
                let byte = b.get(k / 2).copied().unwrap_or(0xFF);
                let n = if k % 2 == 0 { byte >> 4 } else { byte & 15 };
                *o = if n <= 9 { b'0' + n } else { b'?' };
            }
            Some(d)
        })
        .parse(i),
    }
}

/// Bytes of one bitmap on the wire.
pub(crate) fn bitmap_width(encoding: BitmapEncoding) -> usize {
    match encoding {
        BitmapEncoding::Binary => 8,
        BitmapEncoding::Hex => 16,
    }
}

/// One bitmap's 64 bits; hex text in uppercase, or in either case when
/// `any_case`.
#[inline]
pub(crate) fn bitmap(
    encoding: BitmapEncoding,
    any_case: bool,
) -> impl Fn(&[u8]) -> Parsed<'_, u64> {
    move |i| {
        map_opt(bytes(bitmap_width(encoding)), |b: &[u8]| match encoding {
            BitmapEncoding::Binary => b.try_into().ok().map(u64::from_be_bytes),
            BitmapEncoding::Hex => hex_word(b, any_case),
        })
        .parse(i)
    }
}

/// The value of each hex digit, 16 or more for any other byte; with
/// `LOWER`, lowercase digits count.
const fn hex_values<const LOWER: bool>() -> [u8; 256] {
    let mut t = [16u8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'A' as usize + i] = 10 + i as u8;
        if LOWER {
            t[b'a' as usize + i] = 10 + i as u8;
        }
        i += 1;
    }
    t
}

static HEX_UPPER: [u8; 256] = hex_values::<false>();
static HEX_ANY: [u8; 256] = hex_values::<true>();

/// Sixteen hex digits as a number.
#[inline]
fn hex_word(b: &[u8], any_case: bool) -> Option<u64> {
    let table = if any_case { &HEX_ANY } else { &HEX_UPPER };
    let mut word = 0u64;
    let mut bad = 0u8;
    for &c in b {
        let v = table[usize::from(c)];
        bad |= v;
        word = word << 4 | u64::from(v & 15);
    }
    (bad < 16).then_some(word)
}

/// A length prefix of `digits` digits, `width` bytes, as a number.
#[inline(always)]
pub(crate) fn prefix(
    encoding: PrefixEncoding,
    digits: u8,
    width: usize,
) -> impl Fn(&[u8]) -> Parsed<'_, usize> {
    #[inline(always)]
    move |i| {
        let (rest, b) = bytes(width)(i)?;
        match encoding.value(digits, b) {
            Some(v) => Ok((rest, v)),
            None => Err(nom::Err::Error(nom::error::Error::new(
                i,
                nom::error::ErrorKind::MapOpt,
            ))),
        }
    }
}
