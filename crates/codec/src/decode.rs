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

/// The decoded positions of a message, independent of the buffer.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) mti: Mti,
    pub(crate) mti_start: u32,
    pub(crate) bitmap: Bitmap,
    /// Bitmaps on the wire (1-3); may exceed what the fields need.
    pub(crate) bitmaps: u8,
    /// Where the first field starts (its length prefix, if any).
    pub(crate) fields_start: u32,
    /// 0 when `starts` is by rank; else the frame was read with the
    /// spec's shape in slot `shape - 1`, and `starts` holds what that
    /// shape places the fields from ([`Shape::fill`](crate::shape::Shape::fill)).
    pub(crate) shape: u8,
    /// Where each present field's data starts (after its length prefix),
    /// indexed by rank in `bitmap`, for the first [`RANKS`] fields of
    /// frames of up to 64 KiB (every ISO 8583 link frames messages with a
    /// 2-byte length or less); later fields, and the fields of longer
    /// frames, are found by walking from the last start known. A field's
    /// length is read again from the spec and its prefix when it is
    /// accessed. This keeps the table small: it is zeroed on every decode
    /// and moved with the message.
    pub(crate) starts: [u16; RANKS],
}

/// How many field starts a [`Layout`] records: as many fields as common
/// messages have (a UnionPay sale about 20, a 1987 authorization about
/// 25), and few enough that a [`MessageRef`] stays at 128 bytes, which
/// moves without a call to `memcpy` (see ARCHITECTURE.md).
pub(crate) const RANKS: usize = 32;

impl Layout {
    const EMPTY: Layout = Layout {
        mti: Mti::ZERO,
        mti_start: 0,
        bitmap: Bitmap::new(),
        bitmaps: 0,
        fields_start: 0,
        shape: 0,
        starts: [0; RANKS],
    };
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
#[inline]
pub fn decode<'a>(spec: &'a Spec, buf: &'a [u8]) -> Result<MessageRef<'a>, DecodeError> {
    // Filled where it is returned: the layout is not moved afterwards.
    let mut out = Ok(MessageRef {
        spec,
        buf,
        layout: Layout::EMPTY,
    });
    if let Ok(m) = &mut out {
        if !fill_fast(spec, buf, &mut m.layout) {
            // Either the frame is broken or it uses what the fast path
            // leaves out: the general path decodes it again and says which.
            m.layout = Layout::EMPTY;
            if let Err(e) = fill_general(spec, buf, &mut m.layout) {
                out = Err(e);
            }
        }
    }
    out
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
            None => Err(truncated(field, self.pos, what, n, rest.len())),
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

#[cold]
#[inline(never)]
fn truncated(
    field: Option<FieldNo>,
    offset: usize,
    what: &'static str,
    needed: usize,
    available: usize,
) -> DecodeError {
    err(
        field,
        offset,
        DecodeErrorKind::Truncated {
            what,
            needed,
            available,
        },
    )
}

/// How the decoder (and the encoder) reads one field, worked out once
/// per spec from its [`FieldSpec`] ([`Spec::plans`]): the common ASCII
/// layouts in a few bytes, everything else through the field spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FieldPlan {
    /// How the field's length is found ([`mode`]); for the modes with an
    /// ASCII length prefix, the low three bits are its digits.
    pub(crate) mode: u8,
    /// The class of the data ([`class`]), with [`JOINS`] set when what
    /// precedes the data (nothing, or ASCII digits) belongs to it too.
    pub(crate) class: u8,
    /// A fixed field's wire bytes, or the largest prefix value.
    pub(crate) len: u16,
    /// The shortest and longest logical value the encoder's fast path
    /// writes with this plan (none when `vmin > vmax`).
    pub(crate) vmin: u16,
    /// See `vmin`.
    pub(crate) vmax: u16,
    /// For the encoder: the prefix's digits (0 for a fixed length), and
    /// 1 when the value is written as hex text (two characters a byte).
    pub(crate) prefix: u8,
    /// See `prefix`.
    pub(crate) shift: u8,
}

impl FieldPlan {
    /// Digits of the ASCII length prefix; 0 for a fixed length.
    #[inline(always)]
    pub(crate) fn digits(self) -> u8 {
        if self.mode < mode::SIGNED {
            self.mode & 7
        } else {
            0
        }
    }
}

/// See [`FieldPlan::class`].
pub(crate) const JOINS: u8 = 0x80;

/// The ways of [`FieldPlan::mode`].
pub(crate) mod mode {
    /// `len` wire bytes.
    pub(crate) const FIXED: u8 = 0;
    /// 1-4: an ASCII prefix of that many digits that counts wire bytes,
    /// at most `len`.
    pub(crate) const VAR: u8 = 0;
    /// Plus 1-4 digits: hex text after an ASCII prefix that counts the
    /// bytes it stands for (two characters each), at most `len`.
    pub(crate) const HEX_BYTES: u8 = 0x10;
    /// Plus 1-4 digits: hex text after an ASCII prefix that counts its
    /// characters: even, at most `len`.
    pub(crate) const HEX_CHARS: u8 = 0x20;
    /// `x+n` text of `len` bytes: `C` or `D`, then digits.
    pub(crate) const SIGNED: u8 = 0x30;
    /// BCD digits in `len` bytes, plus [`BCD_ODD`] (a pad nibble),
    /// [`BCD_PAD_FIRST`] and [`BCD_PAD_F`] (the pad is `F`, else 0).
    pub(crate) const BCD_FIXED: u8 = 0x40;
    /// Plus 1-2, the bytes of a BCD length prefix that counts the bytes
    /// of ASCII or raw data that follow, at most `len`.
    pub(crate) const BCD_BYTES: u8 = 0x50;
    /// Plus 1-2, the bytes of a BCD length prefix that counts BCD digits,
    /// at most `len`, plus [`BCD_VAR_PAD_FIRST`] and [`BCD_VAR_PAD_F`]
    /// for an odd count.
    pub(crate) const BCD_DIGITS: u8 = 0x60;
    /// As [`BCD_DIGITS`], the digits of track data (`D` separates).
    pub(crate) const BCD_TRACK: u8 = 0x70;
    /// See [`BCD_FIXED`].
    pub(crate) const BCD_ODD: u8 = 1;
    /// See [`BCD_FIXED`].
    pub(crate) const BCD_PAD_FIRST: u8 = 2;
    /// See [`BCD_FIXED`].
    pub(crate) const BCD_PAD_F: u8 = 4;
    /// See [`BCD_DIGITS`].
    pub(crate) const BCD_VAR_PAD_FIRST: u8 = 4;
    /// See [`BCD_DIGITS`].
    pub(crate) const BCD_VAR_PAD_F: u8 = 8;
    /// The kind of a mode, without its digits or flags.
    pub(crate) const KIND: u8 = 0xf0;
    /// Read through the field spec ([`super::read_field`]).
    pub(crate) const GENERAL: u8 = 0xfe;
    /// Not in the spec.
    pub(crate) const ABSENT: u8 = 0xff;
}

/// Character classes of a [`FieldPlan`], checked 16 bytes at a time.
pub(crate) mod class {
    use crate::spec::FieldKind;

    /// Raw bytes: anything goes.
    pub(crate) const ANY: u8 = 0;
    /// Uppercase hex text.
    pub(crate) const HEX: u8 = 1;
    /// Decimal digits.
    pub(crate) const DIGITS: u8 = 2;

    /// The class of ASCII data of `kind`, if the block check knows it.
    pub(super) fn text(kind: FieldKind) -> Option<u8> {
        Some(match kind {
            FieldKind::N => DIGITS,
            FieldKind::A => 3,
            FieldKind::An => 4,
            FieldKind::As => 5,
            FieldKind::Ns => 6,
            FieldKind::Ans => 7,
            FieldKind::Z => 8,
            // `x+n` starts with a sign; `b` as text is left to the table.
            FieldKind::XN | FieldKind::B => return None,
        })
    }

    /// Whether digits (an ASCII length prefix) belong to class `c`: all
    /// but `a` and `as`.
    #[inline(always)]
    pub(super) fn has_digits(c: u8) -> bool {
        c != 3 && c != 5
    }
}

impl FieldPlan {
    pub(crate) const ABSENT: FieldPlan = FieldPlan {
        mode: mode::ABSENT,
        class: class::ANY,
        len: 0,
        vmin: 1,
        vmax: 0,
        prefix: 0,
        shift: 0,
    };

    const GENERAL: FieldPlan = FieldPlan {
        mode: mode::GENERAL,
        class: class::ANY,
        len: 0,
        vmin: 1,
        vmax: 0,
        prefix: 0,
        shift: 0,
    };

    pub(crate) fn for_field(fs: &FieldSpec) -> FieldPlan {
        if let Some(plan) = Self::for_bcd(fs) {
            return plan;
        }
        let signed = fs.kind == FieldKind::XN && fs.encoding == DataEncoding::Ascii;
        let class = match fs.encoding {
            DataEncoding::Binary => class::ANY,
            DataEncoding::Hex => class::HEX,
            // After its sign, `x+n` text is digits.
            DataEncoding::Ascii if signed => class::DIGITS,
            DataEncoding::Ascii => match class::text(fs.kind) {
                Some(c) => c,
                None => return Self::GENERAL,
            },
            _ => return Self::GENERAL,
        };
        let plan = |mode: u8, digits: u8, class: u8, len: usize| {
            let Ok(len) = u16::try_from(len) else {
                return Self::GENERAL;
            };
            // The logical values that fit: hex text holds a byte in two
            // characters; a fixed length takes one value length.
            let hex = class & !JOINS == class::HEX;
            let fixed = (mode == mode::FIXED && digits == 0) || mode == mode::SIGNED;
            let (vmin, vmax) = match mode {
                _ if fixed && hex => (len / 2, len / 2),
                _ if fixed => (len, len),
                mode::HEX_CHARS => (0, len / 2),
                _ => (0, len),
            };
            FieldPlan {
                mode: mode | digits,
                class,
                len,
                vmin,
                vmax,
                prefix: digits,
                shift: u8::from(hex),
            }
        };
        match fs.length {
            Length::Fixed(n) => {
                let wire = fs.wire_len(fs.logical_chars(n));
                if signed {
                    plan(mode::SIGNED, 0, class, wire)
                } else {
                    plan(mode::FIXED, 0, class | JOINS, wire)
                }
            }
            Length::Variable { .. } if signed => Self::GENERAL,
            Length::Variable { digits, max }
                if fs.prefix == PrefixEncoding::Ascii && (1..=4).contains(&digits) =>
            {
                // The prefix's digits are hex digits too.
                let joined = if class::has_digits(class) {
                    class | JOINS
                } else {
                    class
                };
                // The limits of `var_lengths`.
                let max_chars = fs.logical_chars(max);
                match (class, fs.unit) {
                    (class::HEX, LengthUnit::Bytes) => {
                        plan(mode::HEX_BYTES, digits, joined, max_chars)
                    }
                    (class::HEX, _) => plan(mode::HEX_CHARS, digits, joined, max_chars * 2),
                    // ASCII or raw data: the prefix counts wire bytes
                    // whatever its unit, and the maximum is `max`.
                    _ => plan(mode::VAR, digits, joined, usize::from(max)),
                }
            }
            Length::Variable { .. } => Self::GENERAL,
        }
    }

    /// The plans of the BCD layouts read and written without the field
    /// spec: numeric BCD with a fixed length or a BCD prefix counting
    /// digits, track data with a BCD prefix, and ASCII or raw data after a
    /// BCD prefix. `None` for anything else.
    fn for_bcd(fs: &FieldSpec) -> Option<FieldPlan> {
        // The value lengths the encoder writes: a fixed field's digits,
        // or up to the maximum; `prefix` is the BCD prefix's bytes (the
        // encoder sizes the field as if each digit took a byte, an upper
        // bound, and cuts what is left over).
        let plan = |mode: u8, class: u8, len: u16| {
            let width = if mode & mode::KIND == mode::BCD_FIXED {
                0
            } else {
                mode & 3
            };
            let fixed = mode & mode::KIND == mode::BCD_FIXED;
            FieldPlan {
                mode,
                class,
                len,
                vmin: if fixed { fs_digits(fs) } else { 0 },
                vmax: if fixed { fs_digits(fs) } else { len },
                prefix: width,
                shift: 0,
            }
        };
        let pad_f = fs.pad.map_or(0, Pad::nibble) == 0xF;
        let right = fs.align == Align::Right;
        match (fs.encoding, fs.kind, fs.length) {
            (DataEncoding::Bcd, FieldKind::N, Length::Fixed(n)) => {
                let odd = n % 2 == 1;
                let flags = if odd {
                    mode::BCD_ODD
                        | if right { mode::BCD_PAD_FIRST } else { 0 }
                        | if pad_f { mode::BCD_PAD_F } else { 0 }
                } else {
                    0
                };
                Some(plan(mode::BCD_FIXED | flags, class::ANY, n.div_ceil(2)))
            }
            (DataEncoding::Bcd, FieldKind::N | FieldKind::Z, Length::Variable { digits, max })
                if fs.prefix == PrefixEncoding::Bcd && fs.unit != LengthUnit::Bytes =>
            {
                let width = fs.prefix.width(digits) as u8;
                let kind = if fs.kind == FieldKind::Z {
                    mode::BCD_TRACK
                } else {
                    mode::BCD_DIGITS
                };
                let flags = if right { mode::BCD_VAR_PAD_FIRST } else { 0 }
                    | if pad_f { mode::BCD_VAR_PAD_F } else { 0 };
                // A number the prefix can hold, as `prefix_value` checks.
                let len = max.min(u16::try_from(fs.prefix.capacity(digits)).unwrap_or(u16::MAX));
                (1..=2)
                    .contains(&width)
                    .then(|| plan(kind | width | flags, class::ANY, len))
            }
            (
                DataEncoding::Ascii | DataEncoding::Binary,
                kind,
                Length::Variable { digits, max },
            ) if fs.prefix == PrefixEncoding::Bcd && kind != FieldKind::XN => {
                let class = if fs.encoding == DataEncoding::Binary {
                    class::ANY
                } else {
                    class::text(kind)?
                };
                let width = fs.prefix.width(digits) as u8;
                // ASCII or raw data: the prefix counts wire bytes whatever
                // its unit, and the maximum is `max` (see `var_lengths`).
                let len = max.min(u16::try_from(fs.prefix.capacity(digits)).unwrap_or(u16::MAX));
                (1..=2)
                    .contains(&width)
                    .then(|| plan(mode::BCD_BYTES | width, class, len))
            }
            _ => None,
        }
    }
}

pub(crate) fn decode_layout(spec: &Spec, buf: &[u8]) -> Result<Layout, DecodeError> {
    let mut layout = Layout::EMPTY;
    if !fill_fast(spec, buf, &mut layout) {
        layout = Layout::EMPTY;
        fill_general(spec, buf, &mut layout)?;
    }
    Ok(layout)
}

/// Header, MTI and bitmaps, shared by both paths.
fn read_head(spec: &Spec, buf: &[u8], layout: &mut Layout) -> Result<usize, DecodeError> {
    let mut c = Cursor { buf, pos: 0 };
    if spec.header_len() > 0 {
        c.take(spec.header_len(), None, "TPDU and header")?;
    }
    let mti_start = c.pos;
    layout.mti = read_mti(spec, &mut c)?;
    (layout.bitmap, layout.bitmaps) = read_bitmaps(spec, &mut c)?;
    layout.mti_start = u32::try_from(mti_start).unwrap_or(u32::MAX);
    layout.fields_start = u32::try_from(c.pos).unwrap_or(u32::MAX);
    Ok(c.pos)
}

/// The bitmap's data fields: without bit 1, and without bit 65 when it
/// announces a tertiary bitmap. A field's rank among them is its row in
/// [`Layout::starts`].
#[inline(always)]
pub(crate) fn data_bits(spec: &Spec, bitmap: Bitmap) -> [u64; 3] {
    let [p, s, t] = bitmap.words();
    let s = if spec.tertiary_bitmap {
        s & !(1 << 63)
    } else {
        s
    };
    [p & !(1 << 63), s, t]
}

/// The data fields of `bitmap` in wire order, with their rank.
#[inline(always)]
fn for_each_field(spec: &Spec, bitmap: Bitmap, mut f: impl FnMut(usize, FieldNo) -> bool) -> bool {
    let mut rank = 0usize;
    for (w, &word) in data_bits(spec, bitmap).iter().enumerate() {
        // Reversed, as in `fill_fast`: the next field is the lowest bit.
        let mut bits = word.reverse_bits();
        while bits != 0 {
            let at = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if !f(rank, FieldNo::from_index(w * 64 + at)) {
                return false;
            }
            rank += 1;
        }
    }
    true
}

/// The reference decoder: every field through its [`FieldSpec`]
/// ([`read_field`]), every error with its field, offset and reason.
fn fill_general(spec: &Spec, buf: &[u8], layout: &mut Layout) -> Result<(), DecodeError> {
    let mut pos = read_head(spec, buf, layout)?;
    let starts = &mut layout.starts;
    let mut failure = None;
    for_each_field(spec, layout.bitmap, |r, no| {
        let Some(fs) = spec.field(no) else {
            failure = Some(err(
                Some(no),
                pos,
                DecodeErrorKind::UndefinedField(no.get()),
            ));
            return false;
        };
        match read_field(fs, no, buf, pos) {
            Ok((start, end)) => {
                if let Some(slot) = starts.get_mut(r) {
                    // Meaningful for frames up to 64 KiB only (see `Layout`).
                    *slot = start as u16;
                }
                pos = end;
                true
            }
            Err(e) => {
                failure = Some(e);
                false
            }
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    if pos != buf.len() {
        return Err(err(
            None,
            pos,
            DecodeErrorKind::TrailingBytes(buf.len() - pos),
        ));
    }
    Ok(())
}

/// The fast path: the same checks as [`fill_general`], with the fields
/// read through their [`FieldPlan`]s, and the character checks made on
/// runs of consecutive bytes of one class (consecutive `n` fields and
/// their ASCII length prefixes are one run of digits), 16 bytes at a time.
/// `false` means "not accepted here": the frame is broken, or uses what
/// only the general path reads (then [`read_field`] reads that field).
/// Whatever it accepts, the general path accepts with the same layout.
fn fill_fast(spec: &Spec, buf: &[u8], layout: &mut Layout) -> bool {
    let Some(first) = read_head_fast(spec, buf, layout) else {
        return false;
    };
    let words = data_bits(spec, layout.bitmap);
    let shapes = spec.shapes();
    if let Some((slot, shape)) = shapes.get_with_slot(words) {
        layout.shape = slot + 1;
        return shape.fill(spec, buf, first, &mut layout.starts);
    }
    let ok = walk(spec, buf, first, words, &mut layout.starts);
    if ok {
        shapes.learn(spec.plans(), words);
    }
    ok
}

/// Whether the fast path's two ways with a frame, the walk over its
/// fields and the shape of its bitmap (worked out afresh, not learnt),
/// agree: both refuse it, or both accept it with the same field starts.
/// For the tests and the fuzz targets.
#[cfg(any(test, feature = "arbitrary"))]
pub(crate) fn shape_agrees(spec: &Spec, buf: &[u8]) -> bool {
    let mut head = Layout::EMPTY;
    let Some(first) = read_head_fast(spec, buf, &mut head) else {
        return true;
    };
    let words = data_bits(spec, head.bitmap);
    let shape = crate::shape::Shape::build(spec.plans(), words);
    if !shape.usable() {
        return true;
    }
    let (mut walked, mut shaped) = ([0u16; RANKS], [0u16; RANKS]);
    let ok = walk(spec, buf, first, words, &mut walked);
    shape.fill(spec, buf, first, &mut shaped) == ok
        && (!ok || walked == shape.walked_starts(&shaped))
}

/// The fast path's walk over the fields of a frame whose bitmap has no
/// [`Shape`](crate::shape::Shape) yet, the first at `first`: their starts
/// into `starts`, `false` when the frame is refused.
fn walk(spec: &Spec, buf: &[u8], first: usize, words: [u64; 3], starts: &mut [u16; RANKS]) -> bool {
    let plans = spec.plans();
    let mut pos = first;
    // The bytes from `run` to `pos` all belong to `class`, unchecked yet.
    let mut run = pos;
    let mut class = class::ANY;
    let mut rank = 0usize;
    for (w, &word) in words.iter().enumerate() {
        // Field 1 is the word's top bit: reversed, the next field is the
        // lowest bit set, and clearing it (`x & (x - 1)`) is the only step
        // each field waits for, where a leading-zero count and a shift
        // would be three.
        let mut bits = word.reverse_bits();
        while bits != 0 {
            let i = w * 64 + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let r = rank;
            rank += 1;
            let Some(plan) = plans.get(i) else {
                return false;
            };
            let (start, end) = if plan.mode == mode::FIXED {
                (pos, pos + usize::from(plan.len))
            } else if plan.mode <= 4 {
                let start = pos + usize::from(plan.mode);
                let Some(v) = ascii_prefix(buf, pos, plan.mode) else {
                    return false;
                };
                if v > usize::from(plan.len) {
                    return false;
                }
                (start, start + v)
            } else {
                // The rarer layouts, read outside the loop after the run
                // before them is checked.
                if !check_run(class, buf, run, pos) {
                    return false;
                }
                let Some((start, end)) = read_rare(spec, i, *plan, buf, pos) else {
                    return false;
                };
                if let Some(slot) = starts.get_mut(r) {
                    *slot = start as u16;
                }
                (pos, run, class) = (end, end, class::ANY);
                continue;
            };
            if end > buf.len() {
                return false;
            }
            if plan.class != class | JOINS {
                if !check_run(class, buf, run, pos) {
                    return false;
                }
                class = plan.class & !JOINS;
                run = if plan.class & JOINS != 0 { pos } else { start };
            }
            if let Some(slot) = starts.get_mut(r) {
                // Meaningful for frames up to 64 KiB only (see `Layout`).
                *slot = start as u16;
            }
            pos = end;
        }
    }
    pos == buf.len() && check_run(class, buf, run, pos)
}

/// The digits of a fixed numeric field (0 for any other).
fn fs_digits(fs: &FieldSpec) -> u16 {
    match fs.length {
        Length::Fixed(n) => n,
        Length::Variable { .. } => 0,
    }
}

/// Field at index `i`, at `pos`, laid out in one of the rarer ways of
/// [`mode`] (variable hex text, `x+n` text, anything through the field
/// spec), data checked: where its data starts and where it ends, `None`
/// when it is broken.
#[inline(never)]
pub(crate) fn read_rare(
    spec: &Spec,
    i: usize,
    plan: FieldPlan,
    buf: &[u8],
    pos: usize,
) -> Option<(usize, usize)> {
    match plan.mode & mode::KIND {
        mode::HEX_BYTES | mode::HEX_CHARS => {
            let start = pos + usize::from(plan.digits());
            let v = buf.get(pos..start).and_then(ascii_len)?;
            if v > usize::from(plan.len) {
                return None;
            }
            let wire = if plan.mode & mode::KIND == mode::HEX_BYTES {
                v * 2
            } else if v % 2 == 0 {
                v
            } else {
                return None;
            };
            let end = start + wire;
            (end <= buf.len() && check_run(class::HEX, buf, start, end)).then_some((start, end))
        }
        mode::SIGNED => {
            let end = pos + usize::from(plan.len);
            (end <= buf.len() && signed_ok(buf, pos, end, 0)).then_some((pos, end))
        }
        mode::BCD_FIXED => {
            let end = pos + usize::from(plan.len);
            bcd_fixed_ok(plan.mode, buf.get(pos..end)?).then_some((pos, end))
        }
        mode::BCD_BYTES => {
            let start = pos + usize::from(plan.mode & 3);
            let v = bcd_prefix(buf.get(pos..start)?)?;
            let end = start + v;
            (v <= usize::from(plan.len)
                && end <= buf.len()
                && check_run(plan.class, buf, start, end))
            .then_some((start, end))
        }
        mode::BCD_DIGITS | mode::BCD_TRACK => {
            let start = pos + usize::from(plan.mode & 3);
            let v = bcd_prefix(buf.get(pos..start)?)?;
            if v > usize::from(plan.len) {
                return None;
            }
            let end = start + v.div_ceil(2);
            let data = buf.get(start..end)?;
            let odd = v % 2 == 1;
            let pad = if plan.mode & mode::BCD_VAR_PAD_F != 0 {
                0xF
            } else {
                0
            };
            let first = odd && plan.mode & mode::BCD_VAR_PAD_FIRST != 0;
            let track = plan.mode & mode::KIND == mode::BCD_TRACK;
            bcd_ok(data, first, odd && !first, pad, track).then_some((start, end))
        }
        _ => read_general(spec, i, buf, pos),
    }
}

/// Whether `data` is a valid fixed BCD field of plan mode `mode`
/// ([`mode::BCD_FIXED`] and its flags).
#[inline]
pub(crate) fn bcd_fixed_ok(mode: u8, data: &[u8]) -> bool {
    let odd = mode & mode::BCD_ODD != 0;
    let pad = if mode & mode::BCD_PAD_F != 0 { 0xF } else { 0 };
    let first = odd && mode & mode::BCD_PAD_FIRST != 0;
    bcd_ok(data, first, odd && !first, pad, false)
}

/// The value of a BCD length prefix of one or two bytes, `None` unless
/// every nibble is a digit (the plan's maximum already holds the spec's
/// limit, so the prefix's own capacity is the widest its bytes allow).
#[inline]
fn bcd_prefix(prefix: &[u8]) -> Option<usize> {
    let digits = u8::try_from(prefix.len() * 2).ok()?;
    prefix_value(PrefixEncoding::Bcd, digits, prefix)
}

/// Whether `data` is BCD digits (or track data, where `D` separates),
/// with the pad nibble `pad` first (the high nibble of the first byte)
/// or last (the low nibble of the last byte) when so told.
#[inline]
fn bcd_ok(data: &[u8], pad_first: bool, pad_last: bool, pad: u8, track: bool) -> bool {
    let last = data.len().wrapping_sub(1);
    let mut bad = false;
    for (i, &b) in data.iter().enumerate() {
        let (hi, lo) = (b >> 4, b & 15);
        let digit = |n: u8| n <= 9 || (track && n == 0xD);
        bad |= if pad_first && i == 0 {
            hi != pad
        } else {
            !digit(hi)
        };
        bad |= if pad_last && i == last {
            lo != pad
        } else {
            !digit(lo)
        };
    }
    !bad
}

/// The value of an ASCII length prefix, `None` unless all digits.
#[inline(always)]
pub(crate) fn ascii_len(prefix: &[u8]) -> Option<usize> {
    let mut v = 0usize;
    let mut bad = false;
    for &d in prefix {
        let d = d.wrapping_sub(b'0');
        bad |= d > 9;
        v = v * 10 + usize::from(d);
    }
    (!bad).then_some(v)
}

/// The value of the ASCII length prefix of `width` digits (1-4) at
/// `buf[pos..]`, if they are digits; the two- and three-digit prefixes
/// (`LL`, `LLL`) without a loop.
#[inline(always)]
pub(crate) fn ascii_prefix(buf: &[u8], pos: usize, width: u8) -> Option<usize> {
    let at = buf.get(pos..)?;
    let d = |c: u8| c.wrapping_sub(b'0');
    match width {
        2 => {
            let &[a, b] = at.first_chunk::<2>()?;
            let (a, b) = (d(a), d(b));
            ((a < 10) & (b < 10)).then(|| usize::from(a) * 10 + usize::from(b))
        }
        3 => {
            let &[a, b, c] = at.first_chunk::<3>()?;
            let (a, b, c) = (d(a), d(b), d(c));
            ((a < 10) & (b < 10) & (c < 10))
                .then(|| usize::from(a) * 100 + usize::from(b) * 10 + usize::from(c))
        }
        _ => at.get(..usize::from(width)).and_then(ascii_len),
    }
}

/// Field at index `i` through its field spec, for the fast path.
#[inline(never)]
fn read_general(spec: &Spec, i: usize, buf: &[u8], pos: usize) -> Option<(usize, usize)> {
    let no = FieldNo::from_index(i);
    read_field(spec.field(no)?, no, buf, pos).ok()
}

/// [`read_head`] for the fast path: an ASCII MTI and hex bitmaps read
/// here, anything else there.
#[inline]
fn read_head_fast(spec: &Spec, buf: &[u8], layout: &mut Layout) -> Option<usize> {
    if spec.header_len() != 0
        || spec.mti != MtiEncoding::Ascii
        || spec.bitmap != BitmapEncoding::Hex
    {
        return read_head(spec, buf, layout).ok();
    }
    let head = buf.get(..20)?;
    let (mti, primary) = head.split_at(4);
    let mti: [u8; 4] = mti.try_into().ok()?;
    if !mti.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut words = [hex_word(primary)?, 0, 0];
    let mut pos = 20;
    if words[0] >> 63 == 1 {
        words[1] = hex_word(buf.get(20..36)?)?;
        pos = 36;
        if spec.tertiary_bitmap && words[1] >> 63 == 1 {
            words[2] = hex_word(buf.get(36..52)?)?;
            pos = 52;
        }
    }
    // Checked above: four ASCII digits.
    layout.mti = Mti::from_checked_digits(mti);
    layout.mti_start = 0;
    layout.bitmap = Bitmap::from_words(words);
    layout.bitmaps = 1 + u8::from(pos > 20) + u8::from(pos > 36);
    layout.fields_start = pos as u32;
    Some(pos)
}

/// Sixteen uppercase hex digits as a bitmap word.
#[inline(always)]
fn hex_word(b: &[u8]) -> Option<u64> {
    let (hi, lo) = b.split_at_checked(8)?;
    let (hi, lo) = (le_word(hi), le_word(lo));
    if (!swar::hex(hi) | !swar::hex(lo)) & swar::HI != 0 {
        return None;
    }
    Some(u64::from(swar::hex_value(hi)) << 32 | u64::from(swar::hex_value(lo)))
}

/// Whether every byte of `v` is valid ASCII data for `kind`, checked
/// 16 bytes at a time (`false` also when the block check does not know the
/// kind: the caller then checks byte by byte and names the culprit).
#[inline]
pub(crate) fn text_ok(kind: FieldKind, v: &[u8]) -> bool {
    class::text(kind).is_some_and(|c| check_run(c, v, 0, v.len()))
}

/// Whether every byte of `buf[start..end]` belongs to class `c`.
#[inline(always)]
pub(crate) fn check_run(c: u8, buf: &[u8], start: usize, end: usize) -> bool {
    c == class::ANY || run_check(c).is_some_and(|check| check(buf, start, end, 0))
}

/// A check of `buf[start..end]`, with a plan mode for those that need one.
pub(crate) type CheckFn = fn(&[u8], usize, usize, u8) -> bool;

/// Each class's functions, one list for all of them: [`run_check`] and
/// [`copy_run`] map a class to them, `lanes` holds each class's check of
/// `buf[start..end]` ([`all_lanes`] with its byte test) and `copies` its
/// copy with the check ([`copy_lanes`]). One function each, not inlined:
/// the walk's loop stays small, and shapes hold the checks as functions
/// (their last argument is a plan mode, unused here, so that they share
/// [`CheckFn`]).
macro_rules! classes {
    ($($class:pat => $name:ident),* $(,)?) => {
        /// [`check_run`] for class `c`, as a function: `None` for raw bytes
        /// (nothing to check) and for unknown classes.
        #[inline]
        pub(crate) fn run_check(c: u8) -> Option<CheckFn> {
            Some(match c {
                $($class => lanes::$name,)*
                _ => return None,
            })
        }

        /// [`copy_run`] for class `c`, as a function: `None` for raw bytes
        /// and for unknown classes.
        fn run_copy(c: u8) -> Option<fn(&mut [u8], &[u8]) -> bool> {
            Some(match c {
                $($class => copies::$name,)*
                _ => return None,
            })
        }

        mod lanes {
            use super::{all_lanes, byte_class};
            $(
                #[inline(never)]
                pub(crate) fn $name(buf: &[u8], start: usize, end: usize, _: u8) -> bool {
                    all_lanes(buf, start, end, byte_class::$name)
                }
            )*
        }

        mod copies {
            use super::{byte_class, copy_lanes};
            $(
                #[inline(never)]
                pub(super) fn $name(dst: &mut [u8], src: &[u8]) -> bool {
                    copy_lanes(dst, src, byte_class::$name)
                }
            )*
        }
    };
}

classes!(
    class::HEX => hex,
    class::DIGITS => digit,
    3 => alpha,
    4 => alnum,
    5 => alpha_special,
    6 => digit_special,
    7 => any_text,
    8 => track,
);

/// Copies `src` into `dst` (same lengths) and says whether every byte of
/// it belongs to class `c`, in one pass: each block is checked, then
/// stored. For long values, which the encoder would otherwise copy, then
/// read again to check. `false` (with `dst` partly written) when a
/// byte is not of the class, the class is unknown, or the lengths differ.
pub(crate) fn copy_run(c: u8, dst: &mut [u8], src: &[u8]) -> bool {
    if c == class::ANY && dst.len() == src.len() {
        dst.copy_from_slice(src);
        return true;
    }
    run_copy(c).is_some_and(|copy| copy(dst, src))
}

/// [`copy_run`] with the byte test `good`: 32 bytes a step (two blocks of
/// 16, one branch), then a block of 16 if one fits, then the last 16
/// bytes, overlapping what came before; values shorter than a block byte
/// by byte.
#[inline(always)]
fn copy_lanes(dst: &mut [u8], src: &[u8], good: impl Fn(u8) -> bool + Copy) -> bool {
    let n = src.len();
    if dst.len() != n {
        return false;
    }
    if n < LANES {
        dst.copy_from_slice(src);
        return src.iter().all(|&b| good(b));
    }
    let tail = n - LANES;
    for (d, s) in dst
        .chunks_exact_mut(2 * LANES)
        .zip(src.chunks_exact(2 * LANES))
    {
        let (lo, hi) = s.split_at(LANES);
        if any_bad(lo, &ALL_LANES, good) | any_bad(hi, &ALL_LANES, good) {
            return false;
        }
        d.copy_from_slice(s);
    }
    let at = n & !(2 * LANES - 1);
    if at + LANES <= n {
        let (Some(d), Some(s)) = (dst.get_mut(at..at + LANES), src.get(at..at + LANES)) else {
            return false;
        };
        if any_bad(s, &ALL_LANES, good) {
            return false;
        }
        d.copy_from_slice(s);
    }
    let (Some(d), Some(s)) = (dst.get_mut(tail..), src.get(tail..)) else {
        return false;
    };
    if any_bad(s, &ALL_LANES, good) {
        return false;
    }
    d.copy_from_slice(s);
    true
}

/// An `x+n` field at `buf[start..end]`: `C` or `D`, then digits.
pub(crate) fn signed_ok(buf: &[u8], start: usize, end: usize, _: u8) -> bool {
    matches!(buf.get(start), Some(b'C' | b'D')) && check_run(class::DIGITS, buf, start + 1, end)
}

/// A fixed BCD field of plan mode `mode` at `buf[start..end]`.
pub(crate) fn bcd_fixed_at(buf: &[u8], start: usize, end: usize, mode: u8) -> bool {
    buf.get(start..end)
        .is_some_and(|data| bcd_fixed_ok(mode, data))
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
            hex_word(b).ok_or_else(|| {
                let i = charset::find_non_hex(b).unwrap_or(0);
                err(None, at + i, DecodeErrorKind::BadBitmap)
            })
        }
    }
}

/// Eight bytes as a little-endian word (the first byte lowest); zero
/// when `b` is shorter.
#[inline(always)]
fn le_word(b: &[u8]) -> u64 {
    b.get(..8)
        .and_then(|w| <[u8; 8]>::try_from(w).ok())
        .map_or(0, u64::from_le_bytes)
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

/// The value of a length prefix, `None` when it is not a number in its
/// encoding (or a BCD value beyond what `digits` digits hold).
#[inline]
fn prefix_value(p: PrefixEncoding, digits: u8, b: &[u8]) -> Option<usize> {
    let mut v = 0usize;
    match p {
        PrefixEncoding::Ascii => {
            for &d in b {
                let d = d.wrapping_sub(b'0');
                if d > 9 {
                    return None;
                }
                v = v * 10 + usize::from(d);
            }
        }
        PrefixEncoding::Ebcdic => {
            for &d in b {
                if !(0xF0..=0xF9).contains(&d) {
                    return None;
                }
                v = v * 10 + usize::from(d - 0xF0);
            }
        }
        PrefixEncoding::Bcd => {
            for &d in b {
                let (hi, lo) = (d >> 4, d & 15);
                if hi > 9 || lo > 9 {
                    return None;
                }
                v = v * 100 + usize::from(hi) * 10 + usize::from(lo);
            }
            if v > p.capacity(digits) {
                return None;
            }
        }
        PrefixEncoding::Binary => {
            for &d in b {
                v = v << 8 | usize::from(d);
            }
        }
    }
    Some(v)
}

/// Logical units (sign included) and wire bytes of a variable field
/// whose prefix says `v`.
#[inline]
fn var_lengths(fs: &FieldSpec, max: u16, v: usize) -> Result<(usize, usize), DecodeErrorKind> {
    let hex = fs.encoding == DataEncoding::Hex;
    let max_chars = fs.logical_chars(max);
    let (chars, wire, limit) = match fs.unit {
        // For hex text, "bytes" are the bytes the hex stands for.
        LengthUnit::Bytes if hex => (v, v * 2, max_chars),
        // Byte-counted BCD digits come in pairs (the encoder refuses an
        // odd count): at most max/2 bytes, or 2v digits would exceed max.
        LengthUnit::Bytes if fs.encoding == DataEncoding::Bcd && fs.kind != FieldKind::XN => {
            (v * 2, v, max_chars / 2)
        }
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
        return Err(DecodeErrorKind::TooLong {
            length: v,
            max: limit,
        });
    }
    if hex && fs.unit != LengthUnit::Bytes && v % 2 == 1 {
        return Err(DecodeErrorKind::OddHexLength { length: v });
    }
    Ok((chars, wire))
}

/// Logical units and wire bytes of a field whose data starts at `start`
/// in a frame that decoded (the prefix, if any, is just before it).
fn lengths_at(fs: &FieldSpec, buf: &[u8], start: usize) -> Option<(usize, usize)> {
    match fs.length {
        Length::Fixed(n) => {
            let chars = fs.logical_chars(n);
            Some((chars, fs.wire_len(chars)))
        }
        Length::Variable { digits, max } => {
            let width = fs.prefix.width(digits);
            let b = buf.get(start.checked_sub(width)?..start)?;
            var_lengths(fs, max, prefix_value(fs.prefix, digits, b)?).ok()
        }
    }
}

/// Reads field `no` at `pos`: checks its prefix and data, returns where
/// its data starts and where the field ends.
#[inline]
fn read_field(
    fs: &FieldSpec,
    no: FieldNo,
    buf: &[u8],
    pos: usize,
) -> Result<(usize, usize), DecodeError> {
    let (start, chars, wire) = match fs.length {
        Length::Fixed(n) => {
            let chars = fs.logical_chars(n);
            (pos, chars, fs.wire_len(chars))
        }
        Length::Variable { digits, max } => {
            let width = fs.prefix.width(digits);
            let Some(b) = buf.get(pos..pos + width) else {
                let available = buf.len().saturating_sub(pos);
                return Err(truncated(Some(no), pos, "length prefix", width, available));
            };
            let Some(v) = prefix_value(fs.prefix, digits, b) else {
                return Err(err(
                    Some(no),
                    pos,
                    DecodeErrorKind::BadLengthPrefix {
                        encoding: prefix_name(fs.prefix),
                    },
                ));
            };
            let (chars, wire) = var_lengths(fs, max, v).map_err(|k| err(Some(no), pos, k))?;
            (pos + width, chars, wire)
        }
    };
    let end = start + wire;
    let Some(data) = buf.get(start..end) else {
        let available = buf.len().saturating_sub(start);
        return Err(truncated(Some(no), start, "field data", wire, available));
    };
    // The 16-byte block check (`check_run`) covers the usual cases; anything else,
    // and every failure (to find the byte and build the error), goes
    // through `validate`.
    let fast = match fs.encoding {
        DataEncoding::Binary => true,
        DataEncoding::Ascii => class::text(fs.kind).is_some_and(|c| check_run(c, buf, start, end)),
        DataEncoding::Hex => check_run(class::HEX, buf, start, end),
        _ => false,
    };
    if !fast {
        validate(fs, no, data, chars, start)?;
    }
    Ok((start, end))
}

/// The character classes one byte at a time, written so that a loop
/// over a fixed-size block compiles to vector instructions. They agree
/// with the `charset` table (tested below).
mod byte_class {
    #[inline(always)]
    pub(super) fn digit(b: u8) -> bool {
        b.wrapping_sub(b'0') < 10
    }

    #[inline(always)]
    fn letter(b: u8) -> bool {
        (b | 0x20).wrapping_sub(b'a') < 26
    }

    #[inline(always)]
    fn printable(b: u8) -> bool {
        b.wrapping_sub(b' ') < 0x5f
    }

    #[inline(always)]
    pub(super) fn hex(b: u8) -> bool {
        digit(b) | (b.wrapping_sub(b'A') < 6)
    }

    #[inline(always)]
    pub(super) fn alpha(b: u8) -> bool {
        letter(b) | (b == b' ')
    }

    #[inline(always)]
    pub(super) fn alnum(b: u8) -> bool {
        letter(b) | digit(b) | (b == b' ')
    }

    #[inline(always)]
    pub(super) fn alpha_special(b: u8) -> bool {
        printable(b) & !digit(b)
    }

    #[inline(always)]
    pub(super) fn digit_special(b: u8) -> bool {
        printable(b) & !letter(b)
    }

    #[inline(always)]
    pub(super) fn any_text(b: u8) -> bool {
        printable(b) | (b >= 0x80)
    }

    #[inline(always)]
    pub(super) fn track(b: u8) -> bool {
        digit(b) | (b == b'=') | (b == b'D')
    }
}

/// Whether `good` accepts every byte of `buf[start..end]`, checked 16
/// bytes at a time in fixed-size blocks that the compiler turns into
/// vector instructions (SSE2 on x86-64): a span of 16 bytes or more is
/// read in blocks, the last one overlapping the one before; a shorter one
/// is read with its neighbours in the frame, whose lanes are then masked.
#[inline(always)]
fn all_lanes(buf: &[u8], start: usize, end: usize, good: impl Fn(u8) -> bool + Copy) -> bool {
    let Some(data) = buf.get(start..end) else {
        return false;
    };
    let n = data.len();
    let bad = if n >= LANES {
        // Early exits keep the compiler from interleaving blocks, which
        // makes the code many times larger and no faster.
        for block in data.chunks_exact(LANES) {
            if any_bad(block, &ALL_LANES, good) {
                return false;
            }
        }
        any_bad(data.get(n - LANES..).unwrap_or_default(), &ALL_LANES, good)
    } else if n == 0 {
        return true;
    } else if let Some(block) = buf.get(start..start + LANES) {
        // The span is the first `n` lanes of the block starting with it...
        any_bad(block, &MASKS[LANES - n..2 * LANES - n], good)
    } else if let Some(block) = buf.get(end.wrapping_sub(LANES)..end) {
        // ... or the last `n` lanes of the block ending with it.
        any_bad(block, &MASKS[LANES + n..2 * LANES + n], good)
    } else {
        return data.iter().all(|&b| good(b));
    };
    !bad
}

/// Whether `good` rejects a byte of the 16-byte `block` in a lane that
/// `mask` keeps; `true` when `block` or `mask` is not 16 bytes long.
#[inline(always)]
fn any_bad(block: &[u8], mask: &[bool], good: impl Fn(u8) -> bool) -> bool {
    let (Ok(block), Ok(mask)) = (
        <&[u8; LANES]>::try_from(block),
        <&[bool; LANES]>::try_from(mask),
    ) else {
        return true;
    };
    block
        .iter()
        .zip(mask)
        .fold(false, |bad, (&b, &m)| bad | (!good(b) & m))
}

const LANES: usize = 16;
const ALL_LANES: [bool; LANES] = [true; LANES];
/// Sixteen `true`, sixteen `false`, sixteen `true`: a window of 16
/// selects the first or the last lanes of a block.
const MASKS: [bool; 3 * LANES] = {
    let mut m = [true; 3 * LANES];
    let mut i = LANES;
    while i < 2 * LANES {
        m[i] = false;
        i += 1;
    }
    m
};

/// Hex text eight bytes at a time ("SWAR"), for the bitmaps: each
/// function takes eight bytes as a little-endian word.
mod swar {
    /// The high bit of every byte.
    pub(super) const HI: u64 = 0x8080_8080_8080_8080;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

    #[inline(always)]
    const fn splat(b: u8) -> u64 {
        b as u64 * 0x0101_0101_0101_0101
    }

    /// Bytes of `x7` (each at most 0x7F) in `lo..=hi`. Neither sum can
    /// carry into the next byte: 0x7F + 0x80 and 0x7F + 0x7F fit a byte.
    #[inline(always)]
    fn within(x7: u64, lo: u8, hi: u8) -> u64 {
        let at_least_lo = x7.wrapping_add(splat(0x80 - lo));
        let above_hi = x7.wrapping_add(splat(0x7f - hi));
        at_least_lo & !above_hi & HI
    }

    /// The high bit of every byte that is an uppercase hex digit.
    #[inline(always)]
    pub(super) fn hex(x: u64) -> u64 {
        let x7 = x & LOW7;
        (within(x7, b'0', b'9') | within(x7, b'A', b'F')) & !x
    }

    /// The value of eight uppercase hex digits (the first the most
    /// significant); only meaningful when `hex(x)` accepts all eight.
    #[inline(always)]
    pub(super) fn hex_value(x: u64) -> u32 {
        // '0'-'9' are 0x30-0x39, 'A'-'F' 0x41-0x46: the low nibble, plus
        // 9 when bit 6 is set.
        let nibbles = (x & splat(0x0f)) + ((x >> 6) & splat(1)) * 9;
        // First digit to the most significant byte, then pack pairs.
        let v = nibbles.swap_bytes();
        let v = (v | v >> 4) & 0x00ff_00ff_00ff_00ff;
        let v = (v | v >> 8) & 0x0000_ffff_0000_ffff;
        (v | v >> 16) as u32
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn hex_words_have_their_value() {
            for v in [0u32, 1, 0x0123_4567, 0x89AB_CDEF, u32::MAX, 0xDEAD_BEEF] {
                let text = format!("{v:08X}");
                let x = u64::from_le_bytes(text.as_bytes().try_into().unwrap());
                assert_eq!(hex_value(x), v, "{text}");
            }
        }
    }
}

#[cfg(test)]
mod lane_tests {
    use super::{check_run, class};
    use crate::charset;
    use crate::spec::FieldKind;

    const KINDS: [FieldKind; 7] = [
        FieldKind::N,
        FieldKind::A,
        FieldKind::An,
        FieldKind::As,
        FieldKind::Ns,
        FieldKind::Ans,
        FieldKind::Z,
    ];

    #[test]
    fn classes_agree_with_the_table_for_every_byte_in_every_lane() {
        for kind in KINDS {
            let mask = charset::mask(kind);
            for b in 0..=255u8 {
                let want = charset::find_invalid(&[b], mask).is_none();
                for lane in 0..8 {
                    // Fill the other lanes with a byte of the class.
                    let mut w = [b'0'; 8];
                    if matches!(kind, FieldKind::A | FieldKind::As) {
                        w = [b'A'; 8];
                    }
                    w[lane] = b;
                    let c = class::text(kind).unwrap_or(u8::MAX);
                    assert_eq!(
                        check_run(c, &w, 0, 8),
                        want,
                        "{kind:?} {b:#04x} lane {lane}"
                    );
                    // The same byte in a 16-byte block, at lane and lane + 8.
                    let fill = w[(lane + 1) % 8];
                    for at in [lane, lane + 8] {
                        let mut block = [fill; 16];
                        block[at] = b;
                        assert_eq!(
                            check_run(c, &block, 0, 16),
                            want,
                            "{kind:?} {b:#04x} block lane {at}"
                        );
                    }
                    // Short spans inside a longer frame, read as the first
                    // lanes of a block (2..7) and as its last (26..31).
                    for (start, end) in [(2, 7), (26, 31)] {
                        let mut frame = [fill; 32];
                        frame[start + lane % 5] = b;
                        assert_eq!(
                            check_run(c, &frame, start, end),
                            want,
                            "{kind:?} {b:#04x} at {} of {start}..{end}",
                            start + lane % 5
                        );
                    }
                }
            }
        }
        for b in 0..=255u8 {
            let want = charset::find_non_hex(&[b]).is_none();
            for lane in 0..8 {
                let mut w = [b'F'; 8];
                w[lane] = b;
                assert_eq!(
                    check_run(class::HEX, &w, 0, 8),
                    want,
                    "hex {b:#04x} lane {lane}"
                );
                let block = [w, w].concat();
                assert_eq!(
                    check_run(class::HEX, &block, 0, 16),
                    want,
                    "hex block {b:#04x} lane {lane}"
                );
            }
        }
    }

    /// The encoder's copy of a long value checks it as the decoder would:
    /// for every class, every length up to 100 (each way of splitting a
    /// value into blocks) and every byte value at every position, it
    /// accepts exactly what `check_run` accepts, and what it accepts it
    /// copies unchanged.
    #[test]
    fn copying_a_value_checks_every_byte_as_the_decoder_does() {
        use super::copy_run;
        for c in 1..=8u8 {
            // A byte of the class to fill with.
            let Some(fill) = (0..=255u8).find(|&b| check_run(c, &[b], 0, 1)) else {
                panic!("class {c} accepts nothing");
            };
            for len in 0..=100usize {
                let clean = vec![fill; len];
                let mut dst = vec![0u8; len];
                assert!(copy_run(c, &mut dst, &clean), "class {c} len {len}");
                assert_eq!(dst, clean);
                for at in 0..len {
                    for b in (0..=255u8).step_by(if len > 40 { 17 } else { 1 }) {
                        let mut v = clean.clone();
                        v[at] = b;
                        let want = check_run(c, &v, 0, len);
                        let mut dst = vec![0u8; len];
                        assert_eq!(
                            copy_run(c, &mut dst, &v),
                            want,
                            "class {c} len {len} byte {b:#04x} at {at}"
                        );
                        if want {
                            assert_eq!(dst, v);
                        }
                    }
                }
            }
        }
        // Raw bytes: anything, copied; lengths that differ, refused.
        let mut dst = [0u8; 3];
        assert!(copy_run(class::ANY, &mut dst, &[0, 0x7f, 0xff]));
        assert_eq!(dst, [0, 0x7f, 0xff]);
        assert!(!copy_run(class::DIGITS, &mut dst, b"1234"));
        assert!(!copy_run(class::ANY, &mut dst, b"1234"));
    }

    #[test]
    fn every_span_of_every_frame_length_is_checked_exactly() {
        // A bad byte anywhere inside the span fails it; outside, not.
        let digits = class::text(FieldKind::N).unwrap_or(u8::MAX);
        for len in 0..56usize {
            for start in 0..=len {
                for end in start..=len {
                    let clean = vec![b'7'; len];
                    assert!(check_run(digits, &clean, start, end));
                    for bad in 0..len {
                        let mut b = clean.clone();
                        b[bad] = b'x';
                        let inside = (start..end).contains(&bad);
                        assert_eq!(
                            check_run(digits, &b, start, end),
                            !inside,
                            "len {len} {start}..{end} bad {bad}"
                        );
                    }
                }
            }
        }
    }
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
        self.field_at(no, self.locate(no)?)
    }

    /// The value of field `no`, if present: [`Self::field_no`] without
    /// building the [`Field`].
    #[inline]
    fn value_no(&self, no: FieldNo) -> Option<Value<'a>> {
        if let Some(shape) = self.shape() {
            // The shape has the field's rank and plan: no bitmap count,
            // no field spec for the common layouts.
            let rank = shape.rank_of(no.index())?;
            let plan = shape.plan(rank)?;
            if plan.mode <= mode::SIGNED && self.buf.len() <= usize::from(u16::MAX) {
                let start = shape.start(&self.layout.starts, rank)?;
                let len = planned_len(plan, self.buf, start)?;
                return Some(plan_value(plan, self.buf.get(start..start + len)?));
            }
        }
        let (spec, wire, chars) = self.data_at(no, self.locate(no)?)?;
        Some(make_value(spec, wire, chars))
    }

    /// Where the data of field `no` starts, if it is present.
    #[inline(always)]
    fn locate(&self, no: FieldNo) -> Option<usize> {
        let i = no.index();
        if let Some(shape) = self.shape() {
            let rank = shape.rank_of(i)?;
            return if self.buf.len() > usize::from(u16::MAX) {
                self.start_by_walking(no)
            } else {
                shape.start(&self.layout.starts, rank)
            };
        }
        let words = data_bits(self.spec, self.layout.bitmap);
        let (w, b) = (i / 64, i % 64);
        let word = *words.get(w)?;
        if (word << b) >> 63 == 0 {
            return None;
        }
        // Its rank among the data fields: the set bits before it.
        let before = word.checked_shr(64 - b as u32).unwrap_or(0);
        let rank = words.iter().take(w).map(|x| x.count_ones()).sum::<u32>() + before.count_ones();
        match self.recorded_start(rank as usize) {
            Some(s) => Some(s),
            None => self.start_by_walking(no),
        }
    }

    /// The start the decoder recorded for the field of rank `rank`, if it
    /// recorded one (see [`Layout::starts`]).
    #[inline]
    fn recorded_start(&self, rank: usize) -> Option<usize> {
        if self.buf.len() > usize::from(u16::MAX) {
            return None;
        }
        match self.shape() {
            Some(shape) => shape.start(&self.layout.starts, rank),
            None => self.layout.starts.get(rank).map(|&s| usize::from(s)),
        }
    }

    /// The shape the frame was read with, if any (see [`Layout::shape`]).
    #[inline(always)]
    fn shape(&self) -> Option<&'a crate::shape::Shape> {
        let slot = self.layout.shape.checked_sub(1)?;
        self.spec.shapes().at(slot)
    }

    /// The layout with every recorded start by rank, however the frame
    /// was read.
    pub(crate) fn walked_layout(&self) -> Layout {
        let mut layout = self.layout.clone();
        if let Some(shape) = self.shape() {
            layout.starts = shape.walked_starts(&layout.starts);
            layout.shape = 0;
        }
        layout
    }

    /// Field `no`, present, whose data starts at `start`.
    #[inline]
    fn field_at(&self, no: FieldNo, start: usize) -> Option<Field<'a>> {
        let (spec, wire, chars) = self.data_at(no, start)?;
        Some(Field {
            no,
            spec,
            wire,
            value: make_value(spec, wire, chars),
        })
    }

    /// The spec, wire bytes and logical length of field `no`, present,
    /// whose data starts at `start`.
    #[inline(always)]
    fn data_at(&self, no: FieldNo, start: usize) -> Option<(&'a FieldSpec, &'a [u8], usize)> {
        let spec: &'a FieldSpec = self.spec.field(no)?;
        let plan = *self.spec.plans().get(no.index())?;
        // `chars` matters for BCD values only, which have no such plan.
        let (chars, len) = if plan.mode <= mode::SIGNED {
            let len = planned_len(plan, self.buf, start)?;
            (len, len)
        } else {
            lengths_at(spec, self.buf, start)?
        };
        Some((spec, self.buf.get(start..start + len)?, chars))
    }

    /// Where the data of field `no`, which is present, starts.
    fn start_of(&self, no: FieldNo) -> Option<usize> {
        let rank = Bitmap::from_words(data_bits(self.spec, self.layout.bitmap)).rank(no);
        match self.recorded_start(rank) {
            Some(s) => Some(s),
            None => self.start_by_walking(no),
        }
    }

    /// [`Self::start_of`] for a field whose start was not recorded: walks
    /// from the last start recorded, or in a frame over 64 KiB from the
    /// first field.
    fn start_by_walking(&self, no: FieldNo) -> Option<usize> {
        let anchor = RANKS - 1;
        let anchored = self.recorded_start(anchor).is_some();
        let mut pos = self.layout.fields_start as usize;
        let mut found = None;
        for_each_field(self.spec, self.layout.bitmap, |r, n| {
            if anchored && r < anchor {
                return true;
            }
            let Some(fs) = self.spec.field(n) else {
                return false;
            };
            let start = match (self.recorded_start(r), fs.length) {
                (Some(s), _) if anchored => s,
                (_, Length::Fixed(_)) => pos,
                (_, Length::Variable { digits, .. }) => pos + fs.prefix.width(digits),
            };
            if n == no {
                found = Some(start);
                return false;
            }
            match lengths_at(fs, self.buf, start) {
                Some((_, wire)) => {
                    pos = start + wire;
                    true
                }
                None => false,
            }
        });
        found
    }

    /// The value of field `n`, if present.
    pub fn value(&self, n: u8) -> Option<Value<'a>> {
        self.value_no(FieldNo::new(u16::from(n))?)
    }

    /// All present data fields, in wire order.
    pub fn fields(&self) -> impl Iterator<Item = Field<'a>> + '_ {
        // Past the recorded starts, each field starts where the one
        // before it ends.
        let mut next = None;
        // Looked up once, not for every field.
        let shape = self
            .shape()
            .filter(|_| self.buf.len() <= usize::from(u16::MAX));
        Bitmap::from_words(data_bits(self.spec, self.layout.bitmap))
            .iter()
            .enumerate()
            .filter_map(move |(rank, no)| {
                let recorded = match shape {
                    Some(shape) => shape.start(&self.layout.starts, rank),
                    None => self.recorded_start(rank),
                };
                let start = match (recorded, next) {
                    (Some(s), _) => Some(s),
                    (None, Some(end)) => {
                        let fs = self.spec.field(no)?;
                        Some(match fs.length {
                            Length::Fixed(_) => end,
                            Length::Variable { digits, .. } => end + fs.prefix.width(digits),
                        })
                    }
                    (None, None) => self.start_by_walking(no),
                };
                let f = self.field_at(no, start?);
                next = f.map(|f| start.unwrap_or(0) + f.wire.len());
                f
            })
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
                let start = self.start_of(n)?;
                let prefix = match fs.length {
                    Length::Fixed(_) => 0,
                    Length::Variable { digits, .. } => fs.prefix.width(digits),
                };
                start.checked_sub(prefix)
            })
            .unwrap_or(self.buf.len());
        self.buf.get(from..end).unwrap_or(&[])
    }

    /// Copies the message into its owned, field-by-field form. The values
    /// are slices of one buffer (one allocation for all of them), which
    /// lives as long as any of them.
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
        // Every value's logical content into one buffer (at most two
        // characters a wire byte, for BCD), which the fields then share:
        // one allocation for the values instead of one each.
        let mut data = bytes::BytesMut::with_capacity(2 * self.buf.len());
        let mut ends = [(FieldNo::from_index(0), 0u32); FieldNo::MAX as usize];
        let mut count = 0;
        for (f, slot) in self.fields().zip(&mut ends) {
            f.value.write_bytes(&mut data);
            *slot = (f.no, u32::try_from(data.len()).unwrap_or(u32::MAX));
            count += 1;
        }
        let data = data.freeze();
        m.reserve_fields(count);
        let mut start = 0;
        for &(no, end) in ends.iter().take(count) {
            let end = (end as usize).min(data.len()).max(start);
            m.push_field(no, data.slice(start..end));
            start = end;
        }
        m
    }
}

/// The wire length of a field of plan `plan` (fixed, `x+n`, or after an
/// ASCII length prefix, which the decoder checked) whose data starts at
/// `start`.
#[inline(always)]
fn planned_len(plan: FieldPlan, buf: &[u8], start: usize) -> Option<usize> {
    if plan.mode == mode::FIXED || plan.mode == mode::SIGNED {
        return Some(usize::from(plan.len));
    }
    let width = usize::from(plan.digits());
    let prefix = buf.get(start.checked_sub(width)?..start)?;
    let v = prefix
        .iter()
        .fold(0usize, |v, &d| v * 10 + usize::from(d.wrapping_sub(b'0')));
    Some(if plan.mode & mode::KIND == mode::HEX_BYTES {
        v * 2
    } else {
        v
    })
}

/// The value of a field of plan `plan` (fixed, `x+n`, or after an ASCII
/// length prefix) with wire bytes `wire`: the plan's class tells its
/// encoding (raw bytes, hex text or ASCII), as [`make_value`] would.
#[inline(always)]
fn plan_value(plan: FieldPlan, wire: &[u8]) -> Value<'_> {
    match plan.class & !JOINS {
        class::ANY => Value::Binary(wire),
        class::HEX => Value::Hex(wire),
        _ => Value::Text(wire),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::FieldKind;
    use crate::test_support::Lcg;
    use crate::{Message, encode_to_vec, specs};

    /// Valid frames of every built-in spec, the 1987 ASCII ones with text,
    /// track, numeric, hex and variable fields.
    fn frames() -> Vec<(&'static Spec, Vec<u8>)> {
        let ascii = crate::test_support::ascii_sample();
        let mut out = Vec::new();
        for spec in [
            specs::iso87ascii(),
            specs::iso93ascii(),
            specs::iso87binary(),
        ] {
            let mut m = ascii.clone();
            if spec.name == "iso93ascii" {
                // Field 28 is a date there.
                m.remove(28);
                m.set(130, "1");
            }
            match encode_to_vec(spec, &m) {
                Ok(w) => out.push((spec, w)),
                Err(e) => panic!("{}: {e}", spec.name),
            }
        }
        let sale = crate::test_support::cups_sample();
        match encode_to_vec(specs::cups(), &sale) {
            Ok(w) => out.push((specs::cups(), w)),
            Err(e) => panic!("cups: {e}"),
        }
        out
    }

    /// One to three random edits of `b`: a byte replaced by one of
    /// `charset` or incremented, the frame cut, or a `0` inserted.
    fn mutate(rng: &mut Lcg, charset: &[u8], b: &mut Vec<u8>) {
        for _ in 0..1 + rng.next() % 3 {
            if b.is_empty() {
                break;
            }
            let i = rng.next() % b.len();
            match rng.next() % 4 {
                0 => b[i] = charset[rng.next() % charset.len()],
                1 => b[i] = b[i].wrapping_add(1),
                2 => b.truncate(i),
                _ => b.insert(i, b'0'),
            }
        }
    }

    /// A decoded message is moved on every decode (out of the `Result`):
    /// at 128 bytes or less the compiler moves it without a `memcpy` call.
    #[test]
    fn a_decoded_message_fits_128_bytes() {
        assert!(
            core::mem::size_of::<MessageRef<'_>>() <= 128,
            "{} bytes",
            core::mem::size_of::<MessageRef<'_>>()
        );
    }

    /// Whatever the fast path accepts, the general path accepts with the
    /// same layout; and every valid frame takes the fast path when its
    /// spec has a plan for every field.
    #[test]
    fn the_fast_path_accepts_only_what_the_general_path_accepts() {
        let mut rng = Lcg(7);
        let charset = b"0123456789=DACZ az~\x00\x7f\x80\xffF";
        for (spec, wire) in frames() {
            let mut fast = Layout::EMPTY;
            assert!(fill_fast(spec, &wire, &mut fast), "{}", spec.name);
            for round in 0..4000 {
                let mut b = wire.clone();
                mutate(&mut rng, charset, &mut b);
                let mut fast = Layout::EMPTY;
                let mut general = Layout::EMPTY;
                let general_ok = fill_general(spec, &b, &mut general).is_ok();
                if fill_fast(spec, &b, &mut fast) {
                    assert!(
                        general_ok,
                        "{} round {round}: fast path accepted a frame the general path refuses",
                        spec.name
                    );
                    let fast = MessageRef::from_parts(spec, &b, fast).walked_layout();
                    assert!(
                        fast == general,
                        "{} round {round}: the paths disagree on the layout",
                        spec.name
                    );
                }
            }
        }
    }

    /// A frame of a known shape is accepted exactly when the walk accepts
    /// it, with the same field starts: for every valid frame and thousands
    /// of broken ones (bytes changed, cut, inserted; bitmaps included).
    #[test]
    fn a_shape_places_and_refuses_exactly_as_the_walk_does() {
        let mut rng = Lcg(11);
        let charset = b"0123456789=DACZ az~\x00\x7f\x80\xffF";
        let mut compared = [0usize; 2];
        for (spec, wire) in frames() {
            // Every byte replaced by each of `charset`, then random edits.
            let singles = wire.len() * charset.len();
            for round in 0..singles + 6000 {
                let mut b = wire.clone();
                if let Some(c) = round.checked_sub(1).filter(|&r| r < singles) {
                    b[c / charset.len()] = charset[c % charset.len()];
                }
                if round > singles {
                    mutate(&mut rng, charset, &mut b);
                }
                assert!(
                    shape_agrees(spec, &b),
                    "{} round {round}: {}",
                    spec.name,
                    hex::encode(&b)
                );
                let ok = decode(spec, &b).is_ok();
                compared[usize::from(ok)] += 1;
            }
        }
        // Both outcomes were compared, many times.
        assert!(compared.iter().all(|&n| n > 1000), "{compared:?}");
    }

    /// The second frame of a bitmap is decoded through its shape, with the
    /// same result as the first.
    #[test]
    fn a_bitmap_is_learnt_from_its_first_valid_frame() {
        for (spec, wire) in frames() {
            let spec = &spec.unlearnt();
            let mut head = Layout::EMPTY;
            let first = read_head_fast(spec, &wire, &mut head);
            let words = data_bits(spec, head.bitmap);
            assert!(first.is_some() && spec.shapes().get(words).is_none());
            assert!(decode(spec, &wire[..wire.len() - 1]).is_err());
            assert!(
                spec.shapes().get(words).is_none(),
                "learnt from a broken frame"
            );
            let walked = decode(spec, &wire).map(|m| m.walked_layout());
            assert!(spec.shapes().get(words).is_some(), "{}", spec.name);
            let shaped = decode(spec, &wire).map(|m| m.walked_layout());
            assert!(walked.is_ok() && walked == shaped, "{}", spec.name);
        }
    }

    /// A frame read through its shape gives every field the value that
    /// the walk and the field specs give: the shape's ranks, starts and
    /// plans (which pick a value's encoding without the field spec) are
    /// checked against the reference on every built-in spec, including
    /// for fields the bitmap leaves out.
    #[test]
    fn a_shaped_frame_gives_every_field_the_walked_value() {
        for (spec, wire) in frames() {
            let spec = &spec.unlearnt();
            let walked = decode(spec, &wire);
            let shaped = decode(spec, &wire);
            let (Ok(walked), Ok(shaped)) = (walked, shaped) else {
                panic!("{} does not decode", spec.name);
            };
            assert!(walked.shape().is_none() && shaped.shape().is_some());
            let mut general = Layout::EMPTY;
            assert!(fill_general(spec, &wire, &mut general).is_ok());
            for n in 0..=u8::MAX {
                let (a, b) = (walked.value(n), shaped.value(n));
                assert!(a == b, "{} field {n}", spec.name);
                let reference = FieldNo::new(u16::from(n)).and_then(|no| {
                    let fs = spec.field(no)?;
                    let rank = Bitmap::from_words(data_bits(spec, general.bitmap)).rank(no);
                    let start = usize::from(*general.starts.get(rank)?);
                    let (chars, len) = lengths_at(fs, &wire, start)?;
                    Some(make_value(fs, wire.get(start..start + len)?, chars))
                });
                let present = FieldNo::new(u16::from(n)).is_some_and(|no| walked.present(no));
                assert!(
                    !present || a == reference,
                    "{} field {n}: the walk disagrees with the field spec",
                    spec.name
                );
            }
            let a: Vec<_> = walked.fields().map(|f| (f.no, f.wire, f.value)).collect();
            let b: Vec<_> = shaped.fields().map(|f| (f.no, f.wire, f.value)).collect();
            assert!(!a.is_empty() && a == b, "{}", spec.name);
        }
    }

    /// `tertiary_bitmap` is a public field: changed after the spec has
    /// encoded and decoded (and learnt plans and shapes), the fast paths
    /// follow it as a spec that had it from the start does.
    #[test]
    fn changing_tertiary_bitmap_after_use_is_seen_by_the_fast_paths() {
        let m = Message::new("0200".parse().unwrap_or_else(|_| unreachable!()))
            .with(2, "4761739001010119")
            .with(65, vec![1u8])
            .with(70, "301");
        let mut used = specs::iso87ascii().unlearnt();
        let wire = encode_to_vec(&used, &m).unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..2 {
            assert!(decode(&used, &wire).is_ok_and(|d| d.to_message() == m));
            assert!(encode_to_vec(&used, &m).is_ok_and(|w| w == wire));
        }
        used.tertiary_bitmap = true;
        let mut fresh = specs::iso87ascii().unlearnt();
        fresh.tertiary_bitmap = true;
        for _ in 0..2 {
            let d = |spec: &Spec| {
                decode(spec, &wire)
                    .map(|d| d.to_message())
                    .map_err(|e| e.to_string())
            };
            assert_eq!(d(&used), d(&fresh));
            assert!(d(&used).is_err());
            let e = encode_to_vec(&used, &m);
            assert_eq!(e, encode_to_vec(&fresh, &m));
            assert!(
                e.is_err(),
                "field 65 is the tertiary bitmap's indicator now"
            );
        }
    }

    /// Frames over 64 KiB are decoded too; their fields are found by
    /// walking the frame.
    #[test]
    fn fields_of_frames_over_64_kib_are_found_by_walking() {
        let mut spec = specs::iso87ascii().clone();
        for n in 100..=110u16 {
            if let Some(no) = FieldNo::new(n) {
                spec.set_field(
                    no,
                    FieldSpec::new(
                        "big",
                        FieldKind::Ans,
                        Length::Variable {
                            digits: 4,
                            max: 9999,
                        },
                    ),
                );
            }
        }
        let mut m = Message::new("0200".parse().unwrap_or_else(|_| unreachable!()));
        m.set(2, "4761739001010119").set(4, "000000012500");
        for n in 100..=110u8 {
            m.set(n, vec![b'a' + n % 26; 9000 + usize::from(n)]);
        }
        m.set(128, vec![0xAB; 8]);
        let wire = encode_to_vec(&spec, &m).unwrap_or_else(|e| panic!("{e}"));
        assert!(wire.len() > 100_000);
        let msg = decode(&spec, &wire).unwrap_or_else(|e| panic!("{e}"));
        for n in [2u8, 4, 100, 105, 110, 128] {
            let want = m.get(n).map(|v| v.to_vec());
            assert_eq!(msg.value(n).map(|v| v.to_vec()), want, "field {n}");
        }
        assert!(msg.to_message() == m);
        assert_eq!(msg.fields().count(), 14);
    }
}
