//! Encoding: an owned [`Message`] in, wire bytes out.
//!
//! The encoder computes the bitmaps from the fields present, writes the
//! length prefixes and BCD padding, and rejects anything the decoder
//! would reject, with the same kind of error.

use core::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::charset;
use crate::decode::{
    FieldPlan, JOINS, bcd_first_nibble, check_run, class, copy_run, data_bits, mode,
};
use crate::shape::{SEGS, Shape, put};
use crate::spec::{
    BitmapEncoding, DataEncoding, FieldKind, FieldSpec, Length, LengthUnit, MtiEncoding, Pad,
    PrefixEncoding, Sensitivity, Spec,
};
use crate::types::{Bitmap, FieldNo, Mti};

/// An owned message: MTI, optional TPDU and header, and the logical
/// value of each field (characters for text and numeric fields, raw
/// bytes for binary ones). Build it, then [`encode`] it with a spec.
///
/// ```
/// use cardwire_codec::{Message, encode_to_vec, decode, specs};
/// let mut m = Message::new("0200".parse().unwrap());
/// m.set(3, "000000").set(4, "000000001234").set(11, "000001").set(41, "TERM0001");
/// let wire = encode_to_vec(specs::iso87ascii(), &m).unwrap();
/// assert_eq!(decode(specs::iso87ascii(), &wire).unwrap().to_message(), m);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// Message type indicator.
    pub mti: Mti,
    /// TPDU (5 bytes) for specs that have one.
    pub tpdu: Option<Bytes>,
    /// Message header for specs that have one.
    pub header: Option<Bytes>,
    /// Write at least this many bitmaps (1-3), even when the fields need
    /// fewer. Decoding records what was on the wire so re-encoding is
    /// byte-exact.
    pub min_bitmaps: u8,
    fields: Vec<(FieldNo, Bytes)>,
    /// The fields present, and the sum of their values' lengths: kept
    /// with `fields` so the encoder sizes a message without a pass.
    present: Bitmap,
    value_bytes: usize,
}

/// Field numbers that hold card data or secrets in every common dialect;
/// `Debug` of a [`Message`] (which has no spec) hides them.
const SENSITIVE_BY_NUMBER: [u8; 11] = [2, 14, 35, 36, 45, 52, 55, 62, 64, 96, 128];

impl Message {
    /// An empty message.
    pub fn new(mti: Mti) -> Self {
        Message {
            mti,
            tpdu: None,
            header: None,
            min_bitmaps: 1,
            fields: Vec::new(),
            present: Bitmap::new(),
            value_bytes: 0,
        }
    }

    /// Sets field `n` (ignored unless 1 <= n <= 192) to a logical value.
    pub fn set(&mut self, n: u8, value: impl Into<Bytes>) -> &mut Self {
        if let Some(no) = FieldNo::new(u16::from(n)) {
            self.set_no(no, value);
        }
        self
    }

    /// Sets field `no` to a logical value.
    pub fn set_no(&mut self, no: FieldNo, value: impl Into<Bytes>) -> &mut Self {
        let v = value.into();
        self.value_bytes += v.len();
        match self.fields.binary_search_by_key(&no, |(n, _)| *n) {
            Ok(i) => {
                let old = core::mem::replace(&mut self.fields[i].1, v);
                self.value_bytes -= old.len();
            }
            Err(i) => {
                self.fields.insert(i, (no, v));
                self.present.set(no);
            }
        }
        self
    }

    /// Room for `n` more fields.
    pub(crate) fn reserve_fields(&mut self, n: usize) {
        self.fields.reserve(n);
    }

    /// Sets field `no`, which comes after every field set so far.
    pub(crate) fn push_field(&mut self, no: FieldNo, v: Bytes) {
        if self.fields.last().is_some_and(|(last, _)| *last >= no) {
            self.set_no(no, v);
            return;
        }
        self.value_bytes += v.len();
        self.present.set(no);
        self.fields.push((no, v));
    }

    /// Builder form of [`Message::set`].
    pub fn with(mut self, n: u8, value: impl Into<Bytes>) -> Self {
        self.set(n, value);
        self
    }

    /// The logical value of field `n`.
    pub fn get(&self, n: u8) -> Option<&Bytes> {
        let no = FieldNo::new(u16::from(n))?;
        self.fields
            .binary_search_by_key(&no, |(n, _)| *n)
            .ok()
            .map(|i| &self.fields[i].1)
    }

    /// Field `n` as text, when it is valid UTF-8.
    pub fn get_str(&self, n: u8) -> Option<&str> {
        self.get(n).and_then(|b| core::str::from_utf8(b).ok())
    }

    /// Removes field `n`, returning its value.
    pub fn remove(&mut self, n: u8) -> Option<Bytes> {
        let no = FieldNo::new(u16::from(n))?;
        let i = self.fields.binary_search_by_key(&no, |(n, _)| *n).ok()?;
        let v = self.fields.remove(i).1;
        self.present.clear(no);
        self.value_bytes -= v.len();
        Some(v)
    }

    /// Whether field `n` is set.
    pub fn has(&self, n: u8) -> bool {
        self.get(n).is_some()
    }

    /// The fields in ascending order.
    pub fn fields(&self) -> impl Iterator<Item = (FieldNo, &Bytes)> {
        self.fields.iter().map(|(n, v)| (*n, v))
    }

    /// Field 2: primary account number.
    pub fn set_pan(&mut self, pan: &str) -> &mut Self {
        self.set(2, Bytes::copy_from_slice(pan.as_bytes()))
    }

    /// Field 3: processing code (6 digits).
    pub fn set_processing_code(&mut self, code: &str) -> &mut Self {
        self.set(3, Bytes::copy_from_slice(code.as_bytes()))
    }

    /// Field 4: amount in minor units, written as 12 digits.
    pub fn set_amount(&mut self, minor: u64) -> &mut Self {
        self.set(4, format!("{minor:012}"))
    }

    /// Field 11: system trace audit number, written as 6 digits.
    pub fn set_stan(&mut self, stan: u32) -> &mut Self {
        self.set(11, format!("{:06}", stan % 1_000_000))
    }

    /// Field 37: retrieval reference number (12 characters).
    pub fn set_rrn(&mut self, rrn: &str) -> &mut Self {
        self.set(37, Bytes::copy_from_slice(rrn.as_bytes()))
    }

    /// Field 39: response code.
    pub fn set_response_code(&mut self, code: &str) -> &mut Self {
        self.set(39, Bytes::copy_from_slice(code.as_bytes()))
    }

    /// Field 41: card acceptor terminal identification (8 characters).
    pub fn set_terminal_id(&mut self, id: &str) -> &mut Self {
        self.set(41, Bytes::copy_from_slice(id.as_bytes()))
    }

    /// Field 42: card acceptor identification code (15 characters).
    pub fn set_merchant_id(&mut self, id: &str) -> &mut Self {
        self.set(42, Bytes::copy_from_slice(id.as_bytes()))
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Shown<'a>(u8, &'a Bytes);
        impl fmt::Debug for Shown<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if SENSITIVE_BY_NUMBER.contains(&self.0) {
                    write!(f, "<{} bytes hidden>", self.1.len())
                } else {
                    match core::str::from_utf8(self.1) {
                        Ok(s) => write!(f, "{s:?}"),
                        Err(_) => write!(f, "0x{}", hex::encode_upper(self.1)),
                    }
                }
            }
        }
        let mut m = f.debug_map();
        m.entry(&"mti", &self.mti.as_str());
        for (n, v) in &self.fields {
            m.entry(&n.get(), &Shown(n.get(), v));
        }
        m.finish()
    }
}

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

use crate::decode::found_suffix;

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
/// # Errors
/// An [`EncodeError`] naming the field and reason; `out` may then hold a
/// partial message and should be discarded.
pub fn encode(spec: &Spec, msg: &Message, out: &mut BytesMut) -> Result<(), EncodeError> {
    let mark = out.len();
    // The message's bitmap is the key of its shape when it holds data
    // fields only (no bitmap indicator): then its fields are the shape's.
    let key = msg.present.words();
    let shaped = data_bits(spec, msg.present) == key;
    if shaped {
        if let Some(shape) = spec.shapes().get(key) {
            if encode_shaped(spec, shape, msg, out) {
                return Ok(());
            }
            out.truncate(mark);
        }
    }
    if encode_fast(spec, msg, out) {
        if shaped {
            spec.shapes().learn(spec.plans(), key);
        }
        return Ok(());
    }
    // Either a rule is broken or a field needs what only the general
    // path writes: it starts again and says which.
    out.truncate(mark);
    encode_general(spec, msg, out)
}

/// The reference encoder: every field through its [`FieldSpec`].
pub(crate) fn encode_general(
    spec: &Spec,
    msg: &Message,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let bitmap = compute_bitmap(spec, msg)?;
    out.reserve(
        spec.header_len()
            + 4
            + 24
            + msg
                .fields
                .iter()
                .map(|(_, v)| v.len() * 2 + 4)
                .sum::<usize>(),
    );
    write_head(spec, msg, bitmap, out)?;
    for (no, v) in &msg.fields {
        // compute_bitmap checked that the spec defines every field.
        let fs = spec
            .field(*no)
            .ok_or_else(|| ferr(*no, EncodeErrorKind::UndefinedField(no.get())))?;
        write_field(fs, *no, v, out)?;
    }
    Ok(())
}

/// Header, MTI and bitmaps, for the general path: appended to `out`.
fn write_head(
    spec: &Spec,
    msg: &Message,
    bitmap: Bitmap,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let (tpdu, header) = head_parts(spec, msg)?;
    let n = head_len(spec, tpdu, header, bitmap);
    let mark = out.len();
    out.resize(mark + n, 0);
    if let Some(dst) = out.get_mut(mark..) {
        put_head(spec, tpdu, header, msg.mti, bitmap, dst);
    }
    Ok(())
}

/// The TPDU and header of `msg`, as the spec wants them: empty when it
/// has none, an error naming what is wrong.
#[inline(always)]
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

/// The bytes of the head: TPDU, header, MTI and bitmaps.
#[inline(always)]
fn head_len(spec: &Spec, tpdu: &[u8], header: &[u8], bitmap: Bitmap) -> usize {
    let mti = if spec.mti == MtiEncoding::Bcd { 2 } else { 4 };
    let map = if spec.bitmap == BitmapEncoding::Hex {
        16
    } else {
        8
    };
    tpdu.len() + header.len() + mti + map * bitmaps(spec, bitmap)
}

/// Writes the head into `dst` ([`head_len`] bytes), each bitmap encoding
/// with its own constant size (a hex bitmap written through a length known
/// only at run time took the ASCII 0200's encode from 79 ns to 97 ns).
/// `None` when `dst` is too short.
#[inline(always)]
fn put_head(
    spec: &Spec,
    tpdu: &[u8],
    header: &[u8],
    mti: Mti,
    bitmap: Bitmap,
    dst: &mut [u8],
) -> Option<()> {
    let (t, dst) = dst.split_at_mut_checked(tpdu.len())?;
    t.copy_from_slice(tpdu);
    let (h, dst) = dst.split_at_mut_checked(header.len())?;
    h.copy_from_slice(header);
    let d = mti.digits();
    let maps = match spec.mti {
        MtiEncoding::Ascii => {
            let (m, maps) = dst.split_first_chunk_mut::<4>()?;
            *m = d;
            maps
        }
        MtiEncoding::Ebcdic => {
            let (m, maps) = dst.split_first_chunk_mut::<4>()?;
            *m = d.map(charset::ascii_to_ebcdic);
            maps
        }
        MtiEncoding::Bcd => {
            let (m, maps) = dst.split_first_chunk_mut::<2>()?;
            *m = [
                (d[0] - b'0') << 4 | (d[1] - b'0'),
                (d[2] - b'0') << 4 | (d[3] - b'0'),
            ];
            maps
        }
    };
    let words = bitmap.words();
    let count = bitmaps(spec, bitmap);
    match spec.bitmap {
        BitmapEncoding::Hex => {
            for (w, text) in words.iter().zip(maps.chunks_exact_mut(16)).take(count) {
                if let Ok(text) = <&mut [u8; 16]>::try_from(text) {
                    hex_upper(text, &w.to_be_bytes());
                }
            }
        }
        BitmapEncoding::Binary => {
            for (w, b) in words.iter().zip(maps.chunks_exact_mut(8)).take(count) {
                b.copy_from_slice(&w.to_be_bytes());
            }
        }
    }
    Some(())
}

/// How many bitmaps `bitmap` (indicators set) takes on the wire.
#[inline]
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

const HEX_DIGITS: &[u8; 16] = b"0123456789ABCDEF";

/// Writes `src` as uppercase hex text into `dst` (twice as long), two
/// digits a byte from a table; eight bytes or more with [`hex_long`].
#[inline]
pub(crate) fn hex_upper(dst: &mut [u8], src: &[u8]) {
    if let (Ok(d), Ok(s)) = (
        <&mut [u8; 16]>::try_from(&mut *dst),
        <&[u8; 8]>::try_from(src),
    ) {
        // Eight bytes (a PIN block, a MAC): the most common.
        return hex8(d, s);
    }
    if src.len() >= 8 {
        return hex_long(dst, src);
    }
    hex_by_table(dst, src);
}

/// [`hex_upper`] two digits a byte from [`HEX_PAIRS`].
#[inline(always)]
fn hex_by_table(dst: &mut [u8], src: &[u8]) {
    for (d, &b) in dst.chunks_exact_mut(2).zip(src) {
        d.copy_from_slice(&HEX_PAIRS[usize::from(b)]);
    }
}

/// [`hex_upper`] eight bytes at a time, in fixed-size blocks that the
/// compiler turns into vector instructions (about two instructions a
/// byte, where the table takes four and a half); the bytes left over
/// from the table. Not inlined: the encoders' field loops keep their
/// registers.
#[inline(never)]
fn hex_long(dst: &mut [u8], src: &[u8]) {
    let mut blocks = dst.chunks_exact_mut(16).zip(src.chunks_exact(8));
    for (d, s) in &mut blocks {
        if let (Ok(d), Ok(s)) = (<&mut [u8; 16]>::try_from(d), <&[u8; 8]>::try_from(s)) {
            hex8(d, s);
        }
    }
    let done = src.len() & !7;
    if let (Some(dst), Some(src)) = (dst.get_mut(2 * done..), src.get(done..)) {
        hex_by_table(dst, src);
    }
}

/// Eight bytes as sixteen uppercase hex digits: every nibble converted
/// on its own (`0`-`9`, then `A`-`F` seven code points further), the
/// high and low nibbles of each byte written side by side.
#[inline(always)]
fn hex8(dst: &mut [u8; 16], src: &[u8; 8]) {
    let digit = |n: u8| n + b'0' + u8::from(n > 9) * 7;
    let (mut hi, mut lo) = ([0u8; 8], [0u8; 8]);
    for ((h, l), &b) in hi.iter_mut().zip(&mut lo).zip(src) {
        *h = digit(b >> 4);
        *l = digit(b & 15);
    }
    for ((pair, h), l) in dst.chunks_exact_mut(2).zip(hi).zip(lo) {
        pair.copy_from_slice(&[h, l]);
    }
}

/// `x` as decimal digits filling `dst` (its low digits, as many as fit),
/// two at a time from a table.
#[inline(always)]
fn put_digits(dst: &mut [u8], x: usize) {
    match dst {
        [] => {}
        [u] => *u = b'0' + (x % 10) as u8,
        [t, u] => [*t, *u] = DIGIT_PAIRS[x % 100],
        [h, t, u] => {
            *h = b'0' + (x / 100 % 10) as u8;
            [*t, *u] = DIGIT_PAIRS[x % 100];
        }
        _ => {
            let mut x = x;
            for d in dst.iter_mut().rev() {
                *d = b'0' + (x % 10) as u8;
                x /= 10;
            }
        }
    }
}

/// The two decimal digits of every number below 100.
const DIGIT_PAIRS: [[u8; 2]; 100] = {
    let mut t = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        t[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    t
};

/// Every byte's two uppercase hex digits.
pub(crate) const HEX_PAIRS: [[u8; 2]; 256] = {
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [HEX_DIGITS[i >> 4], HEX_DIGITS[i & 15]];
        i += 1;
    }
    t
};

/// Writes field value `v` with `plan` at `buf[pos..]`: its length prefix,
/// then its data (hex text, BCD digits packed and checked, or a copy).
/// Where it ends; `None` when the value's length does not fit the plan, a
/// BCD digit is not one, or `buf` is too short.
#[inline(always)]
fn put_field(buf: &mut [u8], pos: usize, plan: FieldPlan, v: &[u8]) -> Option<usize> {
    if v.len() < usize::from(plan.vmin) || v.len() > usize::from(plan.vmax) {
        return None;
    }
    let start = pos + usize::from(plan.prefix);
    if plan.mode >= mode::BCD_FIXED {
        return put_bcd_field(buf, pos, start, plan, v);
    }
    let x = if plan.mode & mode::KIND == mode::HEX_CHARS {
        v.len() * 2
    } else {
        v.len()
    };
    put_digits(buf.get_mut(pos..start)?, x);
    if plan.shift != 0 {
        let end = start + v.len() * 2;
        hex_upper(buf.get_mut(start..end)?, v);
        Some(end)
    } else {
        let end = start + v.len();
        copy_short(buf.get_mut(start..end)?, v);
        Some(end)
    }
}

/// A fixed ASCII or raw value of `N` to `2 * N` bytes (1 to 3 for `N`
/// of 1): the value's length is the field's, and the copy is two moves of
/// `N` bytes, the first and the last (three of one byte for `N` of 1).
#[inline(always)]
fn put_fixed<const N: usize>(
    buf: &mut [u8],
    pos: usize,
    plan: FieldPlan,
    v: &[u8],
) -> Option<usize> {
    let n = v.len();
    if n != usize::from(plan.len) {
        return None;
    }
    let dst = buf.get_mut(pos..pos + n)?;
    let mut part = |at: usize| -> Option<()> {
        let s: &[u8; N] = v.get(at..at + N)?.try_into().ok()?;
        let d: &mut [u8; N] = dst.get_mut(at..at + N)?.try_into().ok()?;
        *d = *s;
        Some(())
    };
    part(0)?;
    if N == 1 {
        part(n / 2)?;
    }
    part(n.checked_sub(N)?)?;
    Some(pos + n)
}

/// A value after an ASCII length prefix (plan modes 1-4, no hex).
#[inline(always)]
fn put_var(buf: &mut [u8], pos: usize, plan: FieldPlan, v: &[u8]) -> Option<usize> {
    let n = v.len();
    if n > usize::from(plan.vmax) {
        return None;
    }
    let start = pos + usize::from(plan.prefix);
    put_digits(buf.get_mut(pos..start)?, n);
    copy_short(buf.get_mut(start..start + n)?, v);
    Some(start + n)
}

/// The fast path for a message whose bitmap has a [`Shape`]: it sizes the
/// message from the values of its variable fields only, writes every
/// field, then checks what it wrote the way the decoder checks a frame of
/// that shape (runs of one class, 16 bytes at a time; `x+n` signs; text
/// after a BCD prefix), but for what it writes valid by construction (hex
/// text, BCD digits checked as they are packed). `false` means "not written
/// here", as for [`encode_fast`], which accepts the same messages and
/// writes the same bytes (tested below).
fn encode_shaped(spec: &Spec, shape: &Shape, msg: &Message, out: &mut BytesMut) -> bool {
    if msg.fields.len() != shape.ranks() {
        return false;
    }
    let mut body = shape.fixed_body();
    for (r, plan) in shape.steps() {
        let Some((_, v)) = msg.fields.get(r) else {
            return false;
        };
        body += usize::from(plan.prefix) + (v.len().min(usize::from(plan.vmax)) << plan.shift);
    }
    let Some(at) = head_and_space(spec, msg, body, out, shape.bitmaps_text()) else {
        return false;
    };
    let buf = &mut out[at..];
    // Where each segment starts: where the last field of the one before
    // it ends (its step: a variable field, or one written by `put_field`).
    let mut base = [0usize; SEGS + 1];
    let mut pos = 0;
    for ((_, v), &(seg, how, plan)) in msg.fields.iter().zip(shape.fields()) {
        let end = match how {
            put::COPY_3 => put_fixed::<1>(buf, pos, plan, v),
            put::COPY_7 => put_fixed::<4>(buf, pos, plan, v),
            put::COPY_15 => put_fixed::<8>(buf, pos, plan, v),
            put::COPY_32 => put_fixed::<16>(buf, pos, plan, v),
            put::COPY_64 => put_fixed::<32>(buf, pos, plan, v),
            put::BCD_SHORT => put_bcd_short(buf, pos, plan, v),
            put::VAR => put_var(buf, pos, plan, v),
            _ => put_field(buf, pos, plan, v),
        };
        let Some(end) = end else {
            return false;
        };
        if how >= put::VAR {
            if let Some(slot) = base.get_mut(usize::from(seg) + 1) {
                *slot = end;
            }
        }
        pos = end;
    }
    if !shape.verify(buf, &base, pos) {
        return false;
    }
    out.truncate(at + pos);
    true
}

/// For both fast paths: the header, MTI and bitmaps of `msg`, then `body`
/// zeroed bytes for its fields; where they start. `None` when the bitmaps
/// or the header break a rule (the general path then says which). `known`
/// is the text of the bitmaps that `msg`'s fields need, if its shape has
/// it.
#[inline(always)]
fn head_and_space(
    spec: &Spec,
    msg: &Message,
    body: usize,
    out: &mut BytesMut,
    known: Option<&[u8]>,
) -> Option<usize> {
    if spec.header_len() == 0
        && msg.tpdu.is_none()
        && msg.header.is_none()
        && spec.mti == MtiEncoding::Ascii
        && spec.bitmap == BitmapEncoding::Hex
    {
        // The ASCII dialects, the most common, on their own: 140
        // instructions fewer than below for the ASCII 0200.
        // The bitmaps' text as the shape keeps it when the message asks
        // for no more bitmaps than its fields need, else worked out.
        let mut own = [0u8; 48];
        let text = match known.filter(|t| 16 * usize::from(msg.min_bitmaps) <= t.len()) {
            Some(text) => text,
            None => {
                let bitmap = finish_bitmap(spec, msg.present.words(), msg.min_bitmaps).ok()?;
                let maps = own.get_mut(..16 * bitmaps(spec, bitmap))?;
                for (w, text) in bitmap.words().iter().zip(maps.chunks_exact_mut(16)) {
                    hex_upper(text, &w.to_be_bytes());
                }
                maps
            }
        };
        let head = 4 + text.len();
        let mark = out.len();
        out.resize(mark + head + body, 0);
        let (mti, maps) = out.get_mut(mark..mark + head)?.split_at_mut_checked(4)?;
        mti.copy_from_slice(&msg.mti.digits());
        maps.copy_from_slice(text);
        return Some(mark + head);
    }
    // One resize for the head and the fields' space, the head written
    // into it.
    let bitmap = finish_bitmap(spec, msg.present.words(), msg.min_bitmaps).ok()?;
    let (tpdu, header) = head_parts(spec, msg).ok()?;
    let head = head_len(spec, tpdu, header, bitmap);
    let mark = out.len();
    out.resize(mark + head + body, 0);
    put_head(spec, tpdu, header, msg.mti, bitmap, out.get_mut(mark..)?)?;
    Some(mark + head)
}

/// Whether the two fast paths with a message, [`encode_fast`] and
/// [`encode_shaped`] (its bitmap's shape worked out afresh), agree: both
/// refuse it, or both write the same bytes. For the tests and the fuzz
/// targets.
#[cfg(any(test, feature = "arbitrary"))]
pub(crate) fn shaped_encode_agrees(spec: &Spec, msg: &Message) -> bool {
    let key = msg.present.words();
    let shape = Shape::build(spec.plans(), key);
    if data_bits(spec, msg.present) != key || !shape.usable() {
        return true;
    }
    let (mut fast, mut shaped) = (BytesMut::new(), BytesMut::new());
    let took = encode_fast(spec, msg, &mut fast);
    encode_shaped(spec, &shape, msg, &mut shaped) == took && (!took || fast == shaped)
}

/// The fast path, for messages whose fields all have a decode plan
/// ([`FieldPlan`]: ASCII, raw or fixed hex data, fixed or with an ASCII
/// length prefix). It sizes the message in one pass, then writes every
/// field into that space and checks the characters where they landed,
/// on runs of consecutive bytes of one class, 16 bytes at a time, exactly
/// as the decoder checks them. `false` means "not written here" (`out`
/// then holds what it held plus a partial message, which the caller cuts
/// off): a rule is broken, or a field needs the general path. Whatever it
/// writes, [`encode_general`] writes byte for byte (tested below).
fn encode_fast(spec: &Spec, msg: &Message, out: &mut BytesMut) -> bool {
    let plans = spec.plans();
    // Room for every field's prefix and value at their longest (hex text),
    // cut to what was written at the end. Long messages are sized exactly
    // first, which spares zeroing twice what they need, and so are those
    // of specs with fields only the general path writes, so that such a
    // field sends the message there before anything is written.
    let mut body = msg.fields.len() * 4 + msg.value_bytes * 2;
    if body > LOOSE || !spec.fully_planned() {
        body = 0;
        for (no, v) in &msg.fields {
            // Reserved fields (1, 65 before a tertiary bitmap, beyond the
            // bitmaps) and general ones have no value that fits.
            let Some(plan) = plans.get(no.index()) else {
                return false;
            };
            let len = v.len();
            if len < usize::from(plan.vmin) || len > usize::from(plan.vmax) {
                return false;
            }
            body += usize::from(plan.prefix) + (len << plan.shift);
        }
    }
    let Some(at) = head_and_space(spec, msg, body, out, None) else {
        return false;
    };
    let buf = &mut out[at..];
    // The bytes from `run` to `pos` all belong to `class`, unchecked yet.
    let (mut pos, mut run, mut class) = (0usize, 0usize, class::ANY);
    for (no, v) in &msg.fields {
        let Some(&plan) = plans.get(no.index()) else {
            return false;
        };
        let start = pos + usize::from(plan.prefix);
        if v.len() > LONG && plan.shift == 0 && plan.mode <= 4 {
            // A long ASCII or raw value (fixed, or after an ASCII prefix)
            // is checked as it is copied, in one pass instead of a copy
            // and a second read: the run before it ends here, and its
            // prefix is digits as written.
            if v.len() < usize::from(plan.vmin)
                || v.len() > usize::from(plan.vmax)
                || !check_run(class, buf, run, pos)
            {
                return false;
            }
            let end = start + v.len();
            let Some((prefix, data)) = buf
                .get_mut(pos..end)
                .and_then(|f| f.split_at_mut_checked(start - pos))
            else {
                return false;
            };
            put_digits(prefix, v.len());
            if !copy_run(plan.class & !JOINS, data, v) {
                return false;
            }
            (pos, run, class) = (end, end, class::ANY);
            continue;
        }
        let Some(end) = put_field(buf, pos, plan, v) else {
            return false;
        };
        if plan.mode >= mode::BCD_FIXED {
            // BCD numerics are checked as they are packed; text after a
            // BCD prefix starts a run of its own.
            let plan_class = if plan.mode & mode::KIND == mode::BCD_BYTES {
                plan.class
            } else {
                class::ANY
            };
            if plan_class != class | JOINS {
                if !check_run(class, buf, run, pos) {
                    return false;
                }
                (class, run) = (plan_class, start);
            }
            pos = end;
            continue;
        }
        // Hex text is valid by construction: raw bytes as far as the
        // character check is concerned.
        let plan_class = if plan.shift != 0 {
            class::ANY | JOINS
        } else {
            plan.class
        };
        if plan.mode == mode::SIGNED {
            // The sign ends the run before it; digits follow.
            if !matches!(v.first(), Some(b'C' | b'D')) || !check_run(class, buf, run, pos) {
                return false;
            }
            (pos, run, class) = (end, start + 1, class::DIGITS);
            continue;
        }
        if plan_class != class | JOINS {
            if !check_run(class, buf, run, pos) {
                return false;
            }
            class = plan_class & !JOINS;
            run = if plan_class & JOINS != 0 { pos } else { start };
        }
        pos = end;
    }
    if !check_run(class, buf, run, pos) {
        return false;
    }
    out.truncate(at + pos);
    true
}

/// A field with a BCD plan at `pos` (its data from `start`): the BCD
/// length prefix, then the digits packed two a byte with the spec's pad
/// nibble (checked as they are packed), or the data after the prefix.
/// Where it ends, `None` when a digit is not one.
#[inline]
fn put_bcd_field(
    buf: &mut [u8],
    pos: usize,
    start: usize,
    plan: FieldPlan,
    v: &[u8],
) -> Option<usize> {
    let kind = plan.mode & mode::KIND;
    let (prefix, rest) = buf.get_mut(pos..)?.split_at_mut_checked(start - pos)?;
    put_bcd_number(prefix, v.len());
    if kind == mode::BCD_BYTES {
        copy_short(rest.get_mut(..v.len())?, v);
        return Some(start + v.len());
    }
    let odd = v.len() % 2 == 1;
    let (lead, pad) = if kind == mode::BCD_FIXED {
        (
            odd && plan.mode & mode::BCD_PAD_FIRST != 0,
            if plan.mode & mode::BCD_PAD_F != 0 {
                0xF
            } else {
                0
            },
        )
    } else {
        (
            odd && plan.mode & mode::BCD_VAR_PAD_FIRST != 0,
            if plan.mode & mode::BCD_VAR_PAD_F != 0 {
                0xF
            } else {
                0
            },
        )
    };
    let track = kind == mode::BCD_TRACK;
    let wire = v.len().div_ceil(2);
    let dst = rest.get_mut(..wire)?;
    pack_bcd(dst, v, lead, pad, track).then_some(start + wire)
}

/// A fixed BCD number of four to eight digits ([`put::BCD_SHORT`]) at
/// `buf[pos..]`; where it ends.
#[inline(always)]
fn put_bcd_short(buf: &mut [u8], pos: usize, plan: FieldPlan, v: &[u8]) -> Option<usize> {
    if v.len() != usize::from(plan.vmax) {
        return None;
    }
    let end = pos + usize::from(plan.len);
    pack_4_to_8(buf.get_mut(pos..end)?, v)?.then_some(end)
}

/// Four to eight digits `v` (most numeric fields) packed into `dst`, with
/// a zero pad nibble first if their count is odd: as the last digits of
/// a word of eight whose others are zeros, packed at once. Whether they
/// all were digits; `None` for another count or a `dst` of another size.
#[inline(always)]
fn pack_4_to_8(dst: &mut [u8], v: &[u8]) -> Option<bool> {
    let n = v.len();
    if !(4..=8).contains(&n) {
        return None;
    }
    let (first, last) = (v.first_chunk::<4>()?, v.last_chunk::<4>()?);
    let fill = 0x3030_3030_3030_3030u64
        .checked_shr(8 * n as u32)
        .unwrap_or(0);
    let x = fill
        | u64::from(u32::from_le_bytes(*first)) << (8 * (8 - n))
        | u64::from(u32::from_le_bytes(*last)) << 32;
    let (packed, ok) = pack_digits8(x);
    // The last bytes: a pair of digits each.
    let [a, b, c, d] = packed.to_le_bytes();
    match (n.div_ceil(2), dst) {
        (2, [x, y]) => [*x, *y] = [c, d],
        (3, [w, x, y]) => [*w, *x, *y] = [b, c, d],
        (4, [v, w, x, y]) => [*v, *w, *x, *y] = [a, b, c, d],
        _ => return None,
    }
    Some(ok)
}

/// Packs the digits `v` two to a byte into `dst` (`v.len()` halved,
/// rounded up), with the pad nibble first when `lead` and otherwise last
/// for an odd count; `false` when a character is not a digit (or, for
/// `track` data, a separator, written as `D`).
#[inline]
fn pack_bcd(dst: &mut [u8], v: &[u8], lead: bool, pad: u8, track: bool) -> bool {
    // A digit's value (a separator's `D`), `None` for anything else.
    let value = |c: u8| {
        let d = c.wrapping_sub(b'0');
        if d < 10 {
            Some(d)
        } else if track && (c == b'=' || c == b'D') {
            Some(0xD)
        } else {
            None
        }
    };
    if !track && (v.len() % 2 == 0 || (lead && pad == 0)) {
        if let Some(ok) = pack_4_to_8(dst, v) {
            return ok;
        }
    }
    let mut bad = false;
    let (dst, v) = match (lead, dst.split_first_mut(), v.split_first()) {
        (true, Some((b, dst)), Some((&c, v))) => {
            bad |= value(c).is_none();
            *b = pad << 4 | value(c).unwrap_or(0);
            (dst, v)
        }
        _ => (dst, v),
    };
    // Eight characters at a time, as one word; then four digits.
    let words = (v.len() / 8).min(dst.len() / 4);
    for (w, d) in v.chunks_exact(8).zip(dst.chunks_exact_mut(4)).take(words) {
        if let (Ok(w), Ok(d)) = (<[u8; 8]>::try_from(w), <&mut [u8; 4]>::try_from(d)) {
            let x = u64::from_le_bytes(w);
            let (packed, ok) = if track {
                pack_track8(x)
            } else {
                pack_digits8(x)
            };
            bad |= !ok;
            *d = packed.to_le_bytes();
        }
    }
    let (Some(mut v), Some(mut dst)) = (v.get(words * 8..), dst.get_mut(words * 4..)) else {
        return false;
    };
    if !track && v.len() >= 4 && dst.len() >= 2 {
        let (Some((w, v_rest)), Some((d, dst_rest))) = (
            v.split_at_checked(4),
            core::mem::take(&mut dst).split_at_mut_checked(2),
        ) else {
            return false;
        };
        bad |= pack_4_to_8(d, w) != Some(true);
        (v, dst) = (v_rest, dst_rest);
    }
    let mut nibble = |c: u8| {
        value(c).unwrap_or_else(|| {
            bad = true;
            0
        })
    };
    let pairs = v.chunks_exact(2);
    let last = pairs.remainder().first().copied();
    let mut out = dst.iter_mut();
    // The pairs first: `zip` then stops without taking a byte from `out`.
    for (p, b) in pairs.zip(out.by_ref()) {
        if let [h, l] = *p {
            *b = nibble(h) << 4 | nibble(l);
        }
    }
    if let (Some(c), Some(b)) = (last, out.next()) {
        *b = nibble(c) << 4 | pad;
    }
    !bad
}

/// Eight ASCII digits (a little-endian word) packed into four BCD bytes,
/// and whether they all were digits.
#[inline(always)]
fn pack_digits8(x: u64) -> (u32, bool) {
    let d = x ^ 0x3030_3030_3030_3030;
    // A byte of `d` is a digit's value when it is below 10: adding 0x76
    // then leaves its top bit clear (bytes of 0x80 and more are caught by
    // their own top bit; what they carry into the next byte no longer
    // matters).
    let ok = (d.wrapping_add(0x7676_7676_7676_7676) | d) & HI == 0;
    (gather_nibbles(d), ok)
}

/// [`pack_digits8`] for track data: a separator (`=` or `D`) is the
/// nibble `D`.
#[inline(always)]
fn pack_track8(x: u64) -> (u32, bool) {
    let d = x ^ 0x3030_3030_3030_3030;
    // The top bit of the bytes that are not a digit's value (exact for
    // bytes below 0x8A, and a byte above is none of the three kinds)...
    let other = (d.wrapping_add(0x7676_7676_7676_7676) | d) & HI;
    // ... and of those that are `=` (0x3D, so 0x0D here) or `D` (0x74).
    let equals = zero_bytes(d ^ 0x0D0D_0D0D_0D0D_0D0D);
    let letter = zero_bytes(d ^ 0x7474_7474_7474_7474);
    let ok = other & !(equals | letter) == 0;
    // `D` becomes 0x0D as `=` is: 0x74 ^ 0x79.
    let d = d ^ ((letter >> 7) * 0x79);
    (gather_nibbles(d), ok)
}

/// The top bit of every byte of `x`.
const HI: u64 = 0x8080_8080_8080_8080;

/// The top bit of every zero byte of `x` (exactly: no carry crosses a
/// byte).
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    !(((x & LOW7) + LOW7) | x) & HI
}

/// The low nibbles of the eight bytes of `d` (the first the least
/// significant), packed two a byte, the first of each pair high.
#[inline(always)]
fn gather_nibbles(d: u64) -> u32 {
    // Each byte's nibble under the one before it, in every other byte...
    let u = ((d << 4) | (d >> 8)) & 0x00FF_00FF_00FF_00FF;
    // ... which are then gathered.
    let u = (u | (u >> 8)) & 0x0000_FFFF_0000_FFFF;
    let u = (u | (u >> 16)) & 0xFFFF_FFFF;
    u as u32
}

/// `x` as packed BCD filling `dst` (its low digits, as many as fit): the
/// BCD length prefixes of both paths.
fn put_bcd_number(dst: &mut [u8], mut x: usize) {
    for b in dst.iter_mut().rev() {
        *b = (((x / 10 % 10) << 4) | (x % 10)) as u8;
        x /= 100;
    }
}

/// From how many bytes on [`encode_fast`] checks a value as it copies it
/// (below, a copy is a few moves, and the check is on the run it joins).
const LONG: usize = 64;

/// Up to how many bytes of fields [`encode_fast`] sizes a message from
/// its values' lengths alone.
const LOOSE: usize = 2048;

/// `dst.copy_from_slice(src)` (same lengths), with the short copies most
/// fields need made of fixed-size moves instead of a call to `memcpy`.
#[inline(always)]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if dst.len() != n {
        return;
    }
    fn part<const N: usize>(dst: &mut [u8], src: &[u8], at: usize) {
        if let (Some(d), Some(s)) = (dst.get_mut(at..at + N), src.get(at..at + N)) {
            if let Ok(s) = <&[u8; N]>::try_from(s) {
                d.copy_from_slice(s);
            }
        }
    }
    match n {
        33..=64 => {
            part::<32>(dst, src, 0);
            part::<32>(dst, src, n - 32);
        }
        16..=32 => {
            part::<16>(dst, src, 0);
            part::<16>(dst, src, n - 16);
        }
        8..=15 => {
            part::<8>(dst, src, 0);
            part::<8>(dst, src, n - 8);
        }
        4..=7 => {
            part::<4>(dst, src, 0);
            part::<4>(dst, src, n - 4);
        }
        1..=3 => {
            part::<1>(dst, src, 0);
            part::<1>(dst, src, n / 2);
            part::<1>(dst, src, n - 1);
        }
        0 => {}
        _ => dst.copy_from_slice(src),
    }
}

/// Encodes into a fresh vector.
///
/// # Errors
/// As [`encode`].
pub fn encode_to_vec(spec: &Spec, msg: &Message) -> Result<Vec<u8>, EncodeError> {
    let mut out = BytesMut::new();
    encode(spec, msg, &mut out)?;
    Ok(out.to_vec())
}

fn compute_bitmap(spec: &Spec, msg: &Message) -> Result<Bitmap, EncodeError> {
    let mut b = Bitmap::new();
    let max = spec.max_field();
    for (no, _) in &msg.fields {
        let n = no.get();
        if n == 1 || (n == 65 && spec.tertiary_bitmap) || n > max {
            return Err(ferr(*no, EncodeErrorKind::ReservedField(n)));
        }
        if spec.field(*no).is_none() {
            return Err(ferr(*no, EncodeErrorKind::UndefinedField(n)));
        }
        b.set(*no);
    }
    finish_bitmap(spec, b.words(), msg.min_bitmaps)
}

/// The data fields' bits plus the bitmap indicators (bit 1, and bit 65
/// for a tertiary bitmap) for as many bitmaps as the fields, or the
/// message's `min_bitmaps`, need.
fn finish_bitmap(spec: &Spec, words: [u64; 3], min_bitmaps: u8) -> Result<Bitmap, EncodeError> {
    let mut need = if words[2] != 0 {
        3
    } else if words[1] != 0 {
        2
    } else {
        1
    };
    need = need.max(min_bitmaps.clamp(1, 3));
    if need == 3 && !spec.tertiary_bitmap {
        return Err(EncodeError {
            field: None,
            kind: EncodeErrorKind::NoTertiaryBitmap,
        });
    }
    let mut b = Bitmap::from_words(words);
    let one = |n| FieldNo::new(n).unwrap_or_else(|| unreachable!());
    if need >= 2 {
        b.set(one(1));
    }
    if need == 3 {
        b.set(one(65));
    }
    Ok(b)
}

fn shown(fs: &FieldSpec, b: u8) -> Option<u8> {
    (fs.sensitivity == Sensitivity::Public).then_some(b)
}

/// Checks a value's characters; returns the number of digits for BCD.
fn check_chars(fs: &FieldSpec, no: FieldNo, v: &[u8]) -> Result<(), EncodeError> {
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
        FieldKind::B => Ok(()),
        FieldKind::XN => match v.split_first() {
            Some((b'C' | b'D', rest)) => {
                match charset::find_invalid(rest, charset::mask(FieldKind::N)) {
                    Some(i) => Err(bad(i + 1, charset::expected(FieldKind::XN))),
                    None => Ok(()),
                }
            }
            _ => Err(bad(0, "sign C or D")),
        },
        // Long values 16 bytes at a time; short ones are cheaper byte by byte.
        k if v.len() >= 32
            && fs.encoding != DataEncoding::Ebcdic
            && crate::decode::text_ok(k, v) =>
        {
            Ok(())
        }
        k => match charset::find_invalid(v, charset::mask(k)) {
            Some(i) => Err(bad(i, charset::expected(k))),
            None => {
                if fs.encoding == DataEncoding::Ebcdic {
                    if let Some(i) = v.iter().position(|&c| charset::ascii_to_ebcdic(c) == 0) {
                        return Err(bad(i, "a character EBCDIC 037 can carry"));
                    }
                }
                Ok(())
            }
        },
    }
}

fn write_prefix(fs: &FieldSpec, digits: u8, v: usize, out: &mut BytesMut) {
    match fs.prefix {
        PrefixEncoding::Ascii | PrefixEncoding::Ebcdic => {
            let mut buf = [0u8; 4];
            let mut x = v;
            for slot in buf[..digits as usize].iter_mut().rev() {
                *slot = b'0' + (x % 10) as u8;
                x /= 10;
            }
            let buf = &mut buf[..digits as usize];
            if fs.prefix == PrefixEncoding::Ebcdic {
                for c in buf.iter_mut() {
                    *c = charset::ascii_to_ebcdic(*c);
                }
            }
            out.extend_from_slice(buf);
        }
        PrefixEncoding::Bcd => {
            let mut buf = [0u8; 2];
            let buf = buf.get_mut(..fs.prefix.width(digits)).unwrap_or_default();
            put_bcd_number(buf, v);
            out.extend_from_slice(buf);
        }
        PrefixEncoding::Binary => {
            if fs.prefix.width(digits) == 1 {
                out.put_u8(v as u8);
            } else {
                out.put_u16(v as u16);
            }
        }
    }
}

fn digit_nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        _ => 0xD, // '=' or 'D', checked before
    }
}

fn write_bcd(fs: &FieldSpec, digits: &[u8], out: &mut BytesMut) {
    let pad = fs.pad.map_or(0, Pad::nibble);
    let first = bcd_first_nibble(fs, digits.len());
    let total = (digits.len() + first).div_ceil(2) * 2;
    let nib = |i: usize| -> u8 {
        if i < first || i >= first + digits.len() {
            pad
        } else {
            digit_nibble(digits[i - first])
        }
    };
    let mut buf = [0u8; 64];
    let mut n = 0;
    let mut i = 0;
    while i < total {
        buf[n] = nib(i) << 4 | nib(i + 1);
        n += 1;
        if n == buf.len() {
            out.extend_from_slice(&buf);
            n = 0;
        }
        i += 2;
    }
    out.extend_from_slice(&buf[..n]);
}

fn write_field(
    fs: &FieldSpec,
    no: FieldNo,
    v: &[u8],
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    check_chars(fs, no, v)?;
    let chars = v.len();
    let hex = fs.encoding == DataEncoding::Hex;
    match fs.length {
        Length::Fixed(n) => {
            let expected = fs.logical_chars(n);
            if chars != expected {
                return Err(ferr(
                    no,
                    EncodeErrorKind::WrongLength {
                        expected,
                        got: chars,
                    },
                ));
            }
        }
        Length::Variable { digits, max } => {
            let max_chars = fs.logical_chars(max);
            if chars > max_chars {
                return Err(ferr(
                    no,
                    EncodeErrorKind::TooLong {
                        length: chars,
                        max: max_chars,
                    },
                ));
            }
            let prefix = match fs.unit {
                LengthUnit::Bytes => {
                    if fs.encoding == DataEncoding::Bcd && chars % 2 == 1 {
                        return Err(ferr(no, EncodeErrorKind::OddDigits(chars)));
                    }
                    if hex { chars } else { fs.wire_len(chars) }
                }
                LengthUnit::Chars | LengthUnit::Digits => {
                    if hex {
                        chars * 2
                    } else {
                        chars
                    }
                }
            };
            write_prefix(fs, digits, prefix, out);
        }
    }
    match fs.encoding {
        DataEncoding::Ascii | DataEncoding::Binary => out.extend_from_slice(v),
        // Converted a chunk at a time into a stack buffer, then appended
        // in one call: a `put_u8` per byte costs a capacity check each.
        DataEncoding::Ebcdic => {
            let mut buf = [0u8; 128];
            for chunk in v.chunks(buf.len()) {
                for (d, &c) in buf.iter_mut().zip(chunk) {
                    *d = charset::ascii_to_ebcdic(c);
                }
                out.extend_from_slice(&buf[..chunk.len()]);
            }
        }
        DataEncoding::Hex => {
            let mut buf = [0u8; 128];
            for chunk in v.chunks(buf.len() / 2) {
                let text = &mut buf[..chunk.len() * 2];
                hex_upper(text, chunk);
                out.extend_from_slice(text);
            }
        }
        DataEncoding::Bcd => {
            if fs.kind == FieldKind::XN {
                let (sign, rest) = v.split_first().map_or((b'C', &[][..]), |(s, r)| (*s, r));
                out.put_u8(sign);
                write_bcd(fs, rest, out);
            } else {
                write_bcd(fs, v, out);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::specs;
    use crate::test_support::{Lcg, ascii_sample, cups_sample};

    fn ascii_message() -> Message {
        ascii_sample()
            .with(7, "0321101530")
            .with(22, "051")
            .with(32, "123456")
            .with(49, "156")
    }

    fn encode_both(spec: &Spec, m: &Message) -> (Result<Vec<u8>, EncodeError>, bool) {
        let mut fast = BytesMut::from(&b"kept"[..]);
        let took_fast = encode_fast(spec, m, &mut fast);
        let mut general = BytesMut::from(&b"kept"[..]);
        let r = encode_general(spec, m, &mut general).map(|()| general.to_vec());
        if took_fast {
            assert_eq!(Ok(fast.to_vec()), r, "{}: fast path differs", spec.name);
        }
        // The shaped path takes and writes what the fast path does.
        assert!(shaped_encode_agrees(spec, m), "{}: {m:?}", spec.name);
        // And `encode` says what the general path says.
        let mut out = BytesMut::from(&b"kept"[..]);
        let e = encode(spec, m, &mut out).map(|()| out.to_vec());
        assert_eq!(e, r, "{}: encode differs from the general path", spec.name);
        (r, took_fast)
    }

    /// Whatever the fast path writes, the general path writes byte for
    /// byte; whatever it refuses, `encode` reports as the general path
    /// does; and a valid ASCII message takes the fast path.
    #[test]
    fn the_fast_encoder_writes_exactly_what_the_general_encoder_writes() {
        let mut rng = Lcg(11);
        let charset = b"0123456789=DACZ az~^\x00\x7f\x80\xffF";
        let mut fast_taken = 0usize;
        let specs = [
            specs::iso87ascii(),
            specs::iso93ascii(),
            specs::iso87binary(),
            specs::cups(),
        ];
        // Each spec twice: the second time with long values added, which
        // the fast path appends rather than writes into zeroed space.
        for (spec, long) in specs
            .iter()
            .map(|s| (s, false))
            .chain(specs.iter().map(|s| (s, true)))
        {
            let mut base = if spec.name == "cups" {
                cups_sample()
            } else {
                ascii_message()
            };
            if spec.name == "iso87binary" {
                // Its `x+n` is BCD, which only the general path writes.
                base.remove(28);
            }
            if spec.name == "iso93ascii" {
                // Field 28 is a date there.
                base.remove(28);
                base.set(130, "1");
            }
            if spec.header.tpdu {
                base.tpdu = Some(Bytes::from_static(&[0x60, 0, 3, 0, 0]));
            }
            if spec.header.length > 0 {
                base.header = Some(Bytes::from(vec![0x60; spec.header.length]));
            }
            let (r, took) = encode_both(spec, &base);
            if matches!(spec.name.as_str(), "iso87ascii" | "iso87binary" | "cups") {
                assert!(took, "{} takes the general path", spec.name);
                assert!(r.is_ok(), "{}: {r:?}", spec.name);
            }
            if long {
                for n in 60..=63 {
                    base.set(n, vec![b'A' + n % 26; 600]);
                }
                let (r, took) = encode_both(spec, &base);
                if spec.name == "iso87ascii" {
                    assert!(r.is_ok_and(|w| w.len() > LOOSE) && took);
                }
            }
            // Each field's first, middle and last character replaced by
            // each of `charset`.
            let present: Vec<(u8, usize)> =
                base.fields().map(|(n, v)| (n.get(), v.len())).collect();
            for (no, len) in present {
                for i in [0, len / 2, len.saturating_sub(1)] {
                    for &c in charset {
                        let mut v = base.get(no).map(|b| b.to_vec()).unwrap_or_default();
                        if let Some(b) = v.get_mut(i) {
                            *b = c;
                        }
                        let (_, took) = encode_both(spec, &base.clone().with(no, v));
                        fast_taken += usize::from(took);
                    }
                }
            }
            for _ in 0..4000 {
                let mut m = base.clone();
                for _ in 0..1 + rng.next() % 3 {
                    let no = match rng.next() % 8 {
                        0 => (rng.next() % 192 + 1) as u8,
                        1 => 1,
                        2 => 65,
                        _ => {
                            let present: Vec<u8> = m.fields().map(|(n, _)| n.get()).collect();
                            present[rng.next() % present.len()]
                        }
                    };
                    let mut v = m.get(no).map(|b| b.to_vec()).unwrap_or_default();
                    match rng.next() % 4 {
                        0 if !v.is_empty() => {
                            let i = rng.next() % v.len();
                            v[i] = charset[rng.next() % charset.len()];
                        }
                        1 => v.push(charset[rng.next() % charset.len()]),
                        2 => {
                            v.pop();
                        }
                        _ => {
                            v = (0..rng.next() % 40)
                                .map(|i| b'0' + (i % 10) as u8)
                                .collect()
                        }
                    }
                    m.set(no, v);
                    if rng.next() % 16 == 0 {
                        m.min_bitmaps = (rng.next() % 4) as u8;
                    }
                }
                let (_, took) = encode_both(spec, &m);
                fast_taken += usize::from(took);
            }
        }
        assert!(fast_taken > 300, "the fast path ran {fast_taken} times");
    }

    /// Eight digits pack as two to a byte, first digit high; a word with
    /// any other byte, in any place, is refused.
    #[test]
    fn eight_digits_pack_into_four_bytes_and_nothing_else_passes() {
        let mut rng = Lcg(5);
        for _ in 0..2000 {
            let w: [u8; 8] = core::array::from_fn(|_| b'0' + (rng.next() % 10) as u8);
            let want: Vec<u8> = w
                .chunks(2)
                .map(|p| (p[0] - b'0') << 4 | (p[1] - b'0'))
                .collect();
            let (packed, ok) = pack_digits8(u64::from_le_bytes(w));
            assert!(ok);
            assert_eq!(packed.to_le_bytes().to_vec(), want);
            for lane in 0..8 {
                for b in (0..=255u8).filter(|b| !b.is_ascii_digit()) {
                    let mut bad = w;
                    bad[lane] = b;
                    assert!(
                        !pack_digits8(u64::from_le_bytes(bad)).1,
                        "{b:#x} in lane {lane}"
                    );
                }
            }
        }
    }

    /// Packing BCD (digits, or track data with `=` and `D` as the nibble
    /// `D`) agrees with packing one nibble at a time, for every length up
    /// to 40, either pad nibble first or last, 0 or F; and one character
    /// that is neither, at any place, is refused.
    #[test]
    fn bcd_packs_as_one_nibble_at_a_time_does() {
        fn nibble(c: u8, track: bool) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'=' | b'D' if track => Some(0xD),
                _ => None,
            }
        }
        fn reference(v: &[u8], lead: bool, pad: u8, track: bool) -> Option<Vec<u8>> {
            let mut nibbles = Vec::new();
            if lead && v.len() % 2 == 1 {
                nibbles.push(pad);
            }
            for &c in v {
                nibbles.push(nibble(c, track)?);
            }
            if nibbles.len() % 2 == 1 {
                nibbles.push(pad);
            }
            Some(nibbles.chunks(2).map(|p| p[0] << 4 | p[1]).collect())
        }
        let mut rng = Lcg(9);
        let mut checked = 0;
        for len in 0..=40usize {
            for (lead, pad, track) in (0..8).map(|k| (k & 1 != 0, [0, 0xF][k >> 1 & 1], k & 4 != 0))
            {
                for _ in 0..20 {
                    let chars: &[u8] = if track {
                        b"0123456789=D"
                    } else {
                        b"0123456789"
                    };
                    let mut v: Vec<u8> =
                        (0..len).map(|_| chars[rng.next() % chars.len()]).collect();
                    if len > 0 && rng.next() % 2 == 0 {
                        let at = rng.next() % len;
                        v[at] = [b'A', b'=', b'D', b'/', b':', b' ', 0x80, 0xB0, 0][rng.next() % 9];
                    }
                    let lead = lead && len % 2 == 1;
                    let want = reference(&v, lead, pad, track);
                    let mut dst = vec![0u8; len.div_ceil(2)];
                    let ok = pack_bcd(&mut dst, &v, lead, pad, track);
                    assert_eq!(
                        ok,
                        want.is_some(),
                        "{v:?} lead {lead} pad {pad} track {track}"
                    );
                    if let Some(want) = &want {
                        assert_eq!(&dst, want, "{v:?} lead {lead} pad {pad} track {track}");
                    }
                    // The packer of short fixed numbers, where it applies.
                    if !track && (len % 2 == 0 || (lead && pad == 0)) {
                        let mut dst = vec![0u8; len.div_ceil(2)];
                        let ok = pack_4_to_8(&mut dst, &v);
                        if (4..=8).contains(&len) {
                            assert_eq!(ok, Some(want.is_some()), "{v:?}");
                            assert!(want.is_none() || want == Some(dst), "{v:?}");
                        } else {
                            assert_eq!(ok, None, "{v:?}");
                        }
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 6000);
    }

    #[test]
    fn hex_text_is_uppercase_and_in_order() {
        // Every byte value in every lane of the eight-byte blocks.
        for shift in 0..8u8 {
            let src: Vec<u8> = (0..=255u8).map(|b| b.wrapping_add(shift)).collect();
            for n in 0..src.len() {
                let mut dst = vec![0u8; n * 2];
                hex_upper(&mut dst, &src[..n]);
                assert_eq!(dst, hex::encode_upper(&src[..n]).as_bytes(), "{n} bytes");
            }
        }
    }
}
