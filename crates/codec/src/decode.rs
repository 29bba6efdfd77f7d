//! Decoding: a frame in, a zero-copy [`MessageRef`] out.
//!
//! ```text
//!  [TPDU 5B] [header] MTI  bitmap [bitmap2] [bitmap3]  field field ...
//!  \___ spec.header __/ \_ spec.mti / spec.bitmap _/   \_ per FieldSpec _/
//! ```
//!
//! The decoder walks the frame once, checks every byte against the spec
//! and records where each field's data sits. It allocates nothing: the
//! field index lives inside the returned [`MessageRef`].

use core::fmt;

use crate::charset;
use crate::spec::{
    Align, BitmapEncoding, DataEncoding, FieldKind, FieldSpec, Length, LengthUnit, MtiEncoding,
    Pad, PrefixEncoding, Sensitivity, Spec, Subfields,
};
use crate::types::{Bitmap, FieldNo, Mti};
use crate::value::Value;

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The frame ends before `needed` more bytes could be read.
    #[error("{what} needs {needed} bytes but only {available} remain")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes left in the frame.
        available: usize,
    },
    /// A byte is outside the field's character set.
    #[error("expected {expected}{}", found_suffix(*.found))]
    InvalidChar {
        /// What the field allows.
        expected: &'static str,
        /// The offending byte, unless the field is sensitive.
        found: Option<u8>,
    },
    /// A nibble is not a BCD digit.
    #[error("expected BCD {expected}{}", found_suffix(*.found))]
    InvalidBcd {
        /// What the nibble should be.
        expected: &'static str,
        /// The offending byte, unless the field is sensitive.
        found: Option<u8>,
    },
    /// An odd-length BCD value has the wrong pad nibble.
    #[error("expected pad nibble {expected:X}, found {found:X}")]
    BadPad {
        /// The spec's pad nibble.
        expected: u8,
        /// The nibble found.
        found: u8,
    },
    /// An `x+n` value does not start with `C` or `D`.
    #[error("expected sign C or D{}", found_suffix(*.found))]
    BadSign {
        /// The offending byte.
        found: Option<u8>,
    },
    /// The length prefix is not a number in its encoding.
    #[error("length prefix is not a valid {encoding} number")]
    BadLengthPrefix {
        /// ASCII, BCD, EBCDIC.
        encoding: &'static str,
    },
    /// The length prefix is larger than the field allows.
    #[error("length {length} exceeds the maximum {max}")]
    TooLong {
        /// The prefix value.
        length: usize,
        /// The spec's maximum, in the prefix's unit.
        max: usize,
    },
    /// A hex-text length is odd.
    #[error("hex text length {length} is odd")]
    OddHexLength {
        /// The length.
        length: usize,
    },
    /// The MTI is not four digits.
    #[error("MTI is not four decimal digits")]
    BadMti,
    /// A hex bitmap has a character that is not an uppercase hex digit.
    #[error("bitmap is not 16 uppercase hex digits")]
    BadBitmap,
    /// The bitmap announces a field the spec does not define.
    #[error("bitmap announces field {0}, which this spec does not define")]
    UndefinedField(u8),
    /// Bytes remain after the last field.
    #[error("{0} bytes after the last field")]
    TrailingBytes(usize),
}

/// ", found 'A' (0x41)" for a byte shown in an error; empty when hidden.
pub(crate) fn found_suffix(found: Option<u8>) -> String {
    match found {
        Some(b) if b.is_ascii_graphic() => format!(", found {:?} (0x{b:02X})", b as char),
        Some(b) => format!(", found 0x{b:02X}"),
        None => String::new(),
    }
}

/// A decode failure: which field, where, and why. Never carries the
/// content of a sensitive field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The field being read, if the failure is inside one.
    pub field: Option<FieldNo>,
    /// Byte offset of the failure in the frame given to the decoder.
    pub offset: usize,
    /// What went wrong.
    pub kind: DecodeErrorKind,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field {
            Some(n) => write!(f, "field {n} at byte {}: {}", self.offset, self.kind),
            None => write!(f, "at byte {}: {}", self.offset, self.kind),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Where one field's data sits in the frame.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: u32,
    /// Wire bytes of data (prefix excluded).
    pub(crate) wire: u16,
    /// Logical units (digits, characters, bytes), sign included.
    pub(crate) chars: u16,
}

/// The decoded positions of a message, independent of the buffer.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) mti: Mti,
    pub(crate) mti_start: u32,
    pub(crate) bitmap: Bitmap,
    /// Bitmaps on the wire (1-3); may exceed what the fields need.
    pub(crate) bitmaps: u8,
    /// Indexed by rank in `bitmap`.
    pub(crate) spans: [Span; 192],
}

/// A decoded message that borrows its frame. Field values are views of
/// the frame's bytes.
///
/// ```
/// use cardwire_codec::{decode, specs};
/// let frame = b"0800822000000000000004000000000000001121120000000001301";
/// let msg = decode(specs::iso87ascii(), frame).unwrap();
/// assert_eq!(msg.mti().as_str(), "0800");
/// assert_eq!(msg.value(11).unwrap().to_string(), "000001");
/// assert_eq!(msg.value(70).unwrap().to_string(), "301");
/// ```
#[derive(Clone)]
pub struct MessageRef<'a> {
    spec: &'a Spec,
    buf: &'a [u8],
    layout: Layout,
}

/// One decoded field: its number, definition and value.
#[derive(Clone, Copy)]
pub struct Field<'a> {
    /// The field number.
    pub no: FieldNo,
    /// Its definition in the spec.
    pub spec: &'a FieldSpec,
    /// The wire bytes of its data (length prefix excluded).
    pub wire: &'a [u8],
    /// Its logical value.
    pub value: Value<'a>,
}

impl fmt::Debug for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Field({} {}: {})",
            self.no,
            self.spec.name,
            crate::mask::masked(self)
        )
    }
}

impl<'a> Field<'a> {
    /// Positional subfield `i` (1-based, as in `60.1`), if the spec splits
    /// this field and the value is long enough to hold it.
    pub fn subfield(&self, i: usize) -> Option<Value<'a>> {
        let Subfields::Positional(parts) = &self.spec.subfields else {
            return None;
        };
        let i = i.checked_sub(1)?;
        let start: usize = parts.get(..i)?.iter().map(|p| p.len as usize).sum();
        let len = parts.get(i)?.len as usize;
        self.value.slice(start, len)
    }

    /// Positional subfields present in the value, with their specs.
    pub fn subfields(&self) -> impl Iterator<Item = (&'a crate::spec::SubfieldSpec, Value<'a>)> {
        let parts: &'a [crate::spec::SubfieldSpec] = match &self.spec.subfields {
            Subfields::Positional(p) => p,
            _ => &[],
        };
        let value = self.value;
        parts
            .iter()
            .scan(0usize, move |start, p| {
                let v = value.slice(*start, p.len as usize);
                *start += p.len as usize;
                Some(v.map(|v| (p, v)))
            })
            .map_while(|x| x)
    }

    /// Whether the field's value must be masked when shown.
    pub fn is_sensitive(&self) -> bool {
        self.spec.sensitivity.is_sensitive()
    }
}

/// Decodes one message (no outer length prefix) with `spec`.
///
/// # Errors
/// A [`DecodeError`] naming the field, the byte offset and the reason.
/// Any byte sequence is safe to pass: the decoder never panics.
pub fn decode<'a>(spec: &'a Spec, buf: &'a [u8]) -> Result<MessageRef<'a>, DecodeError> {
    let layout = decode_layout(spec, buf)?;
    Ok(MessageRef { spec, buf, layout })
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn take(
        &mut self,
        n: usize,
        field: Option<FieldNo>,
        what: &'static str,
    ) -> Result<&'a [u8], DecodeError> {
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        match rest.get(..n) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(DecodeError {
                field,
                offset: self.pos,
                kind: DecodeErrorKind::Truncated {
                    what,
                    needed: n,
                    available: rest.len(),
                },
            }),
        }
    }
}

fn err(field: Option<FieldNo>, offset: usize, kind: DecodeErrorKind) -> DecodeError {
    DecodeError {
        field,
        offset,
        kind,
    }
}

pub(crate) fn decode_layout(spec: &Spec, buf: &[u8]) -> Result<Layout, DecodeError> {
    let mut c = Cursor { buf, pos: 0 };
    if spec.header_len() > 0 {
        c.take(spec.header_len(), None, "TPDU and header")?;
    }
    let mti_start = c.pos;
    let mti = read_mti(spec, &mut c)?;
    let (bitmap, bitmaps) = read_bitmaps(spec, &mut c)?;
    let mut spans = [Span::default(); 192];
    for (rank, no) in bitmap.iter().enumerate() {
        if no.get() == 1 || (no.get() == 65 && spec.tertiary_bitmap) {
            continue;
        }
        let Some(fs) = spec.field(no) else {
            return Err(err(
                Some(no),
                c.pos,
                DecodeErrorKind::UndefinedField(no.get()),
            ));
        };
        let span = read_field(fs, no, &mut c)?;
        if let Some(slot) = spans.get_mut(rank) {
            *slot = span;
        }
    }
    if c.pos != buf.len() {
        return Err(err(
            None,
            c.pos,
            DecodeErrorKind::TrailingBytes(buf.len() - c.pos),
        ));
    }
    Ok(Layout {
        mti,
        mti_start: mti_start as u32,
        bitmap,
        bitmaps,
        spans,
    })
}

fn read_mti(spec: &Spec, c: &mut Cursor<'_>) -> Result<Mti, DecodeError> {
    let at = c.pos;
    let bad = || err(None, at, DecodeErrorKind::BadMti);
    let digits: [u8; 4] = match spec.mti {
        MtiEncoding::Ascii => c.take(4, None, "MTI")?.try_into().map_err(|_| bad())?,
        MtiEncoding::Ebcdic => {
            let b = c.take(4, None, "MTI")?;
            let mut d = [0u8; 4];
            for (o, &e) in d.iter_mut().zip(b) {
                *o = charset::ebcdic_to_ascii(e);
            }
            d
        }
        MtiEncoding::Bcd => {
            let b = c.take(2, None, "MTI")?;
            let mut d = [0u8; 4];
            for (i, o) in d.iter_mut().enumerate() {
                let byte = b.get(i / 2).copied().unwrap_or(0xff);
                let n = if i % 2 == 0 { byte >> 4 } else { byte & 15 };
                *o = if n <= 9 { b'0' + n } else { b'?' };
            }
            d
        }
    };
    Mti::from_digits(digits).map_err(|_| bad())
}

fn read_bitmap_word(
    spec: &Spec,
    c: &mut Cursor<'_>,
    what: &'static str,
) -> Result<u64, DecodeError> {
    match spec.bitmap {
        BitmapEncoding::Binary => {
            let b = c.take(8, None, what)?;
            let mut w = [0u8; 8];
            w.copy_from_slice(b);
            Ok(u64::from_be_bytes(w))
        }
        BitmapEncoding::Hex => {
            let at = c.pos;
            let b = c.take(16, None, what)?;
            if let Some(i) = charset::find_non_hex(b) {
                return Err(err(None, at + i, DecodeErrorKind::BadBitmap));
            }
            Ok(b.iter().fold(0u64, |acc, &h| {
                let v = if h <= b'9' { h - b'0' } else { h - b'A' + 10 };
                acc << 4 | u64::from(v)
            }))
        }
    }
}

fn read_bitmaps(spec: &Spec, c: &mut Cursor<'_>) -> Result<(Bitmap, u8), DecodeError> {
    let mut words = [0u64; 3];
    words[0] = read_bitmap_word(spec, c, "primary bitmap")?;
    let mut count = 1;
    if words[0] >> 63 == 1 {
        words[1] = read_bitmap_word(spec, c, "secondary bitmap")?;
        count = 2;
        if spec.tertiary_bitmap && words[1] >> 63 == 1 {
            words[2] = read_bitmap_word(spec, c, "tertiary bitmap")?;
            count = 3;
        }
    }
    Ok((Bitmap::from_words(words), count))
}

fn prefix_name(p: PrefixEncoding) -> &'static str {
    match p {
        PrefixEncoding::Ascii => "ASCII",
        PrefixEncoding::Bcd => "BCD",
        PrefixEncoding::Binary => "binary",
        PrefixEncoding::Ebcdic => "EBCDIC",
    }
}

/// Reads a length prefix value.
fn read_prefix(
    fs: &FieldSpec,
    digits: u8,
    no: FieldNo,
    c: &mut Cursor<'_>,
) -> Result<usize, DecodeError> {
    let at = c.pos;
    let b = c.take(fs.prefix.width(digits), Some(no), "length prefix")?;
    let bad = || {
        err(
            Some(no),
            at,
            DecodeErrorKind::BadLengthPrefix {
                encoding: prefix_name(fs.prefix),
            },
        )
    };
    let mut v = 0usize;
    match fs.prefix {
        PrefixEncoding::Ascii => {
            for &d in b {
                if !d.is_ascii_digit() {
                    return Err(bad());
                }
                v = v * 10 + usize::from(d - b'0');
            }
        }
        PrefixEncoding::Ebcdic => {
            for &d in b {
                if !(0xF0..=0xF9).contains(&d) {
                    return Err(bad());
                }
                v = v * 10 + usize::from(d - 0xF0);
            }
        }
        PrefixEncoding::Bcd => {
            for &d in b {
                let (hi, lo) = (d >> 4, d & 15);
                if hi > 9 || lo > 9 {
                    return Err(bad());
                }
                v = v * 100 + usize::from(hi) * 10 + usize::from(lo);
            }
            if v > fs.prefix.capacity(digits) {
                return Err(bad());
            }
        }
        PrefixEncoding::Binary => {
            for &d in b {
                v = v << 8 | usize::from(d);
            }
        }
    }
    Ok(v)
}

#[inline]
fn read_field(fs: &FieldSpec, no: FieldNo, c: &mut Cursor<'_>) -> Result<Span, DecodeError> {
    let hex = fs.encoding == DataEncoding::Hex;
    // Logical units (sign included) and wire bytes.
    let (chars, wire) = match fs.length {
        Length::Fixed(n) => {
            let chars = fs.logical_chars(n);
            (chars, fs.wire_len(chars))
        }
        Length::Variable { digits, max } => {
            let at = c.pos;
            let v = read_prefix(fs, digits, no, c)?;
            let max_chars = fs.logical_chars(max);
            let (chars, wire, limit) = match fs.unit {
                // For hex text, "bytes" are the bytes the hex stands for.
                LengthUnit::Bytes if hex => (v, v * 2, max_chars),
                LengthUnit::Bytes => {
                    let chars = if fs.encoding == DataEncoding::Bcd {
                        v * 2
                    } else {
                        v
                    };
                    (chars, v, fs.wire_len(max_chars))
                }
                LengthUnit::Chars | LengthUnit::Digits => {
                    if hex {
                        (v / 2, v, max_chars * 2)
                    } else {
                        (v, fs.wire_len(v), max_chars)
                    }
                }
            };
            if v > limit {
                return Err(err(
                    Some(no),
                    at,
                    DecodeErrorKind::TooLong {
                        length: v,
                        max: limit,
                    },
                ));
            }
            if hex && fs.unit != LengthUnit::Bytes && v % 2 == 1 {
                return Err(err(
                    Some(no),
                    at,
                    DecodeErrorKind::OddHexLength { length: v },
                ));
            }
            (chars, wire)
        }
    };
    let start = c.pos;
    let data = c.take(wire, Some(no), "field data")?;
    validate(fs, no, data, chars, start)?;
    Ok(Span {
        start: start as u32,
        wire: wire as u16,
        chars: chars as u16,
    })
}

fn shown(fs: &FieldSpec, b: u8) -> Option<u8> {
    (fs.sensitivity == Sensitivity::Public).then_some(b)
}

/// Checks the data bytes of a field against its kind and encoding.
fn validate(
    fs: &FieldSpec,
    no: FieldNo,
    data: &[u8],
    chars: usize,
    start: usize,
) -> Result<(), DecodeError> {
    let bad_char = |i: usize, b: u8| {
        err(
            Some(no),
            start + i,
            DecodeErrorKind::InvalidChar {
                expected: charset::expected(fs.kind),
                found: shown(fs, b),
            },
        )
    };
    match fs.encoding {
        DataEncoding::Binary => Ok(()),
        DataEncoding::Hex => match charset::find_non_hex(data) {
            Some(i) => Err(err(
                Some(no),
                start + i,
                DecodeErrorKind::InvalidChar {
                    expected: "an uppercase hex digit",
                    found: shown(fs, data[i]),
                },
            )),
            None => Ok(()),
        },
        DataEncoding::Ascii => {
            let (body, off) = split_sign(fs, no, data, start, |b| b)?;
            match charset::find_invalid(body, charset::mask(fs.kind)) {
                Some(i) => Err(bad_char(i + off, body[i])),
                None => Ok(()),
            }
        }
        DataEncoding::Ebcdic => {
            let (body, off) = split_sign(fs, no, data, start, charset::ebcdic_to_ascii)?;
            let m = charset::mask(fs.kind);
            match body.iter().position(|&e| {
                !charset::is(charset::ebcdic_to_ascii(e), m) || charset::ebcdic_to_ascii(e) == 0
            }) {
                Some(i) => Err(bad_char(i + off, body[i])),
                None => Ok(()),
            }
        }
        DataEncoding::Bcd => {
            let (body, off) = split_sign(fs, no, data, start, |b| b)?;
            let digits = if fs.kind == FieldKind::XN {
                chars.saturating_sub(1)
            } else {
                chars
            };
            validate_bcd(fs, no, body, digits, start + off)
        }
    }
}

/// For `x+n`, checks and strips the leading sign byte (after `map`).
fn split_sign<'d>(
    fs: &FieldSpec,
    no: FieldNo,
    data: &'d [u8],
    start: usize,
    map: impl Fn(u8) -> u8,
) -> Result<(&'d [u8], usize), DecodeError> {
    if fs.kind != FieldKind::XN {
        return Ok((data, 0));
    }
    match data.split_first() {
        Some((&s, rest)) if matches!(map(s), b'C' | b'D') => Ok((rest, 1)),
        Some((&s, _)) => Err(err(
            Some(no),
            start,
            DecodeErrorKind::BadSign {
                found: shown(fs, s),
            },
        )),
        None => Err(err(
            Some(no),
            start,
            DecodeErrorKind::BadSign { found: None },
        )),
    }
}

/// Where the digits of an odd- or even-length BCD value start, in nibbles.
pub(crate) fn bcd_first_nibble(fs: &FieldSpec, digits: usize) -> usize {
    usize::from(digits % 2 == 1 && fs.align == Align::Right)
}

fn validate_bcd(
    fs: &FieldSpec,
    no: FieldNo,
    data: &[u8],
    digits: usize,
    start: usize,
) -> Result<(), DecodeError> {
    let track = fs.kind == FieldKind::Z;
    let first = bcd_first_nibble(fs, digits);
    let pad = fs.pad.map_or(0, Pad::nibble);
    let ok = |n: u8| n <= 9 || (track && n == 0xD);
    for (i, &b) in data.iter().enumerate() {
        let (hi, lo) = (b >> 4, b & 15);
        let nib = [(2 * i, hi), (2 * i + 1, lo)];
        for (pos, n) in nib {
            let is_pad = pos < first || pos >= first + digits;
            if is_pad {
                if n != pad {
                    return Err(err(
                        Some(no),
                        start + i,
                        DecodeErrorKind::BadPad {
                            expected: pad,
                            found: n,
                        },
                    ));
                }
            } else if !ok(n) {
                return Err(err(
                    Some(no),
                    start + i,
                    DecodeErrorKind::InvalidBcd {
                        expected: if track {
                            "digit or separator D"
                        } else {
                            "digit"
                        },
                        found: shown(fs, b),
                    },
                ));
            }
        }
    }
    Ok(())
}

impl<'a> MessageRef<'a> {
    pub(crate) fn from_parts(spec: &'a Spec, buf: &'a [u8], layout: Layout) -> Self {
        MessageRef { spec, buf, layout }
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The spec it was decoded with.
    pub fn spec(&self) -> &'a Spec {
        self.spec
    }

    /// The whole frame.
    pub fn frame(&self) -> &'a [u8] {
        self.buf
    }

    /// The message type indicator.
    pub fn mti(&self) -> Mti {
        self.layout.mti
    }

    /// The bitmap (bits 1 and, with a tertiary bitmap, 65 included).
    pub fn bitmap(&self) -> Bitmap {
        self.layout.bitmap
    }

    /// How many bitmaps the present fields need (1-3).
    pub fn bitmaps_needed(&self) -> u8 {
        let w = self.layout.bitmap.words();
        let tertiary_bit = 1u64 << 63;
        if self.spec.tertiary_bitmap && w[2] != 0 {
            3
        } else if (w[1]
            & !(if self.spec.tertiary_bitmap {
                tertiary_bit
            } else {
                0
            }))
            != 0
            || w[2] != 0
        {
            2
        } else {
            1
        }
    }

    /// How many bitmaps were on the wire.
    pub fn bitmaps_on_wire(&self) -> u8 {
        self.layout.bitmaps
    }

    /// The 5-byte TPDU, if the spec has one.
    pub fn tpdu(&self) -> Option<&'a [u8]> {
        if self.spec.header.tpdu {
            self.buf.get(..5)
        } else {
            None
        }
    }

    /// The message header after the TPDU, if the spec has one.
    pub fn header(&self) -> Option<&'a [u8]> {
        let h = &self.spec.header;
        if h.length == 0 {
            return None;
        }
        let start = if h.tpdu { 5 } else { 0 };
        self.buf.get(start..start + h.length)
    }

    /// Whether field `n` is present.
    pub fn has(&self, n: u8) -> bool {
        FieldNo::new(u16::from(n)).is_some_and(|n| self.present(n))
    }

    fn present(&self, n: FieldNo) -> bool {
        self.layout.bitmap.is_set(n) && self.spec.field(n).is_some()
    }

    /// Field `n`, if present.
    pub fn field(&self, n: u8) -> Option<Field<'a>> {
        self.field_no(FieldNo::new(u16::from(n))?)
    }

    /// Field `n`, if present.
    pub fn field_no(&self, no: FieldNo) -> Option<Field<'a>> {
        if !self.present(no) {
            return None;
        }
        let spec: &'a FieldSpec = self.spec.field(no)?;
        let span = *self.layout.spans.get(self.layout.bitmap.rank(no))?;
        let start = span.start as usize;
        let wire = self.buf.get(start..start + span.wire as usize)?;
        Some(Field {
            no,
            spec,
            wire,
            value: make_value(spec, wire, span.chars as usize),
        })
    }

    /// The value of field `n`, if present.
    pub fn value(&self, n: u8) -> Option<Value<'a>> {
        self.field(n).map(|f| f.value)
    }

    /// All present data fields, in wire order.
    pub fn fields(&self) -> impl Iterator<Item = Field<'a>> + '_ {
        self.layout
            .bitmap
            .iter()
            .filter_map(move |n| self.field_no(n))
    }

    /// The bytes from the MTI up to (not including) field `until`, or to
    /// the end when `until` is absent: the MAC input block of POS links
    /// (`mac_input(64)` is "MTI through field 63").
    pub fn mac_input(&self, until: u8) -> &'a [u8] {
        let from = self.layout.mti_start as usize;
        let end = FieldNo::new(u16::from(until))
            .filter(|&n| self.present(n))
            .and_then(|n| {
                let fs = self.spec.field(n)?;
                let span = self.layout.spans.get(self.layout.bitmap.rank(n))?;
                let prefix = match fs.length {
                    Length::Fixed(_) => 0,
                    Length::Variable { digits, .. } => fs.prefix.width(digits),
                };
                (span.start as usize).checked_sub(prefix)
            })
            .unwrap_or(self.buf.len());
        self.buf.get(from..end).unwrap_or(&[])
    }

    /// Copies the message into its owned, field-by-field form.
    pub fn to_message(&self) -> crate::Message {
        let mut m = crate::Message::new(self.mti());
        if let Some(t) = self.tpdu() {
            m.tpdu = Some(bytes::Bytes::copy_from_slice(t));
        }
        if let Some(h) = self.header() {
            m.header = Some(bytes::Bytes::copy_from_slice(h));
        }
        // Only a bitmap the fields do not need is worth remembering.
        if self.layout.bitmaps > self.bitmaps_needed() {
            m.min_bitmaps = self.layout.bitmaps;
        }
        for f in self.fields() {
            m.set_no(f.no, f.value.to_vec());
        }
        m
    }
}

pub(crate) fn make_value<'a>(fs: &FieldSpec, wire: &'a [u8], chars: usize) -> Value<'a> {
    match fs.encoding {
        DataEncoding::Ascii => Value::Text(wire),
        DataEncoding::Ebcdic => Value::Ebcdic(wire),
        DataEncoding::Binary => Value::Binary(wire),
        DataEncoding::Hex => Value::Hex(wire),
        DataEncoding::Bcd => {
            if fs.kind == FieldKind::XN {
                let digits = chars.saturating_sub(1);
                let body = wire.get(1..).unwrap_or(&[]);
                Value::Bcd {
                    bytes: body,
                    start: bcd_first_nibble(fs, digits),
                    len: digits,
                    sign: wire.first().copied(),
                }
            } else {
                Value::Bcd {
                    bytes: wire,
                    start: bcd_first_nibble(fs, chars),
                    len: chars,
                    sign: None,
                }
            }
        }
    }
}

/// Masked, one line per field.
impl fmt::Debug for MessageRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("MessageRef");
        d.field("spec", &self.spec.name).field("mti", &self.mti());
        d.field("fields", &self.fields().collect::<Vec<_>>());
        d.finish()
    }
}

/// One line per field, sensitive values masked.
impl fmt::Display for MessageRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "MTI {}", self.mti())?;
        for fld in self.fields() {
            writeln!(
                f,
                "{:>3} {}: {}",
                fld.no,
                fld.spec.name,
                crate::mask::masked(&fld)
            )?;
        }
        Ok(())
    }
}
