//! Decoding: a frame in, a zero-copy [`MessageRef`] out.
//!
//! ```text
//!  [TPDU 5B] [header] MTI  bitmap [bitmap2] [bitmap3]  field field ...
//!  \___ spec.header __/ \_ spec.mti / spec.bitmap _/   \_ per field layout _/
//! ```
//!
//! One walk reads the head, then each field the bitmap announces in
//! turn, by the layout its spec worked out for it: the length (fixed, or
//! from the prefix), then a check of every data byte. It records where
//! each field's data starts in the returned [`MessageRef`] and allocates
//! nothing. When a check fails, a cold function reads the failing field
//! again to say which byte and why.
//!
//! The same walk reads leniently ([`DecodeMode::Lenient`]): deviations
//! that leave the frame's structure readable become [`DecodeWarning`]s.

use core::fmt;

use nom::error::ErrorKind;

use super::read;
use super::{found_suffix, shown};
use crate::charset::{self, Class};
use crate::message::{Layout, MessageRef};
use crate::spec::layout::{Count, Data, FieldLayout, Size};
use crate::spec::{FieldSpec, Spec};
use crate::types::{Bitmap, FieldNo, Mti};

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
        located(f, self.field, self.offset, &self.kind)
    }
}

/// "field 2 at byte 20: reason", or "at byte 4: reason".
fn located(
    f: &mut fmt::Formatter<'_>,
    field: Option<FieldNo>,
    offset: usize,
    what: &dyn fmt::Display,
) -> fmt::Result {
    match field {
        Some(n) => write!(f, "field {n} at byte {offset}: {what}"),
        None => write!(f, "at byte {offset}: {what}"),
    }
}

impl std::error::Error for DecodeError {}

/// A deviation from the spec that a lenient decode read past.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeWarningKind {
    /// Hex text (a bitmap or a hex field) in lowercase.
    #[error("lowercase hex digits")]
    LowercaseHex,
    /// A variable field longer than the spec's maximum, read as long as
    /// its prefix says.
    #[error("length {length} exceeds the maximum {max}; read as the prefix says")]
    OverLong {
        /// The prefix value.
        length: usize,
        /// The spec's maximum, in the prefix's unit.
        max: usize,
    },
    /// Bytes outside the field's character set.
    #[error("{count} byte(s) outside the field's characters: expected {expected}{}", found_suffix(*.found))]
    OutsideCharset {
        /// What the field allows.
        expected: &'static str,
        /// The first offending byte, unless the field is sensitive.
        found: Option<u8>,
        /// How many bytes are outside.
        count: usize,
    },
    /// A BCD nibble that is not a digit.
    #[error("BCD nibble is not a {expected}{}", found_suffix(*.found))]
    OutsideBcd {
        /// What the nibble should be.
        expected: &'static str,
        /// The offending byte, unless the field is sensitive.
        found: Option<u8>,
    },
    /// An odd-length BCD value padded with another nibble.
    #[error("pad nibble {found:X} where the spec says {expected:X}")]
    OtherPad {
        /// The spec's pad nibble.
        expected: u8,
        /// The nibble found.
        found: u8,
    },
    /// An `x+n` value without its `C`/`D` sign.
    #[error("no sign C or D{}", found_suffix(*.found))]
    NoSign {
        /// The byte where the sign should be.
        found: Option<u8>,
    },
    /// A secondary bitmap with no field in it.
    #[error("secondary bitmap present but empty")]
    EmptySecondaryBitmap,
    /// Bytes after the last field.
    #[error("{0} bytes after the last field")]
    TrailingBytes(usize),
}

/// A tolerated deviation: which field, where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeWarning {
    /// The field, if the deviation is inside one.
    pub field: Option<FieldNo>,
    /// Byte offset of the deviation in the frame.
    pub offset: usize,
    /// What deviates.
    pub kind: DecodeWarningKind,
}

impl fmt::Display for DecodeWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        located(f, self.field, self.offset, &self.kind)
    }
}

/// How strictly [`decode_with`] reads a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DecodeMode {
    /// Every rule of the spec holds, or the decode stops at the first
    /// that does not.
    #[default]
    Strict,
    /// Read as far as the frame's structure allows: lowercase hex, a
    /// variable field longer than its maximum, bytes outside a field's
    /// character set, another BCD pad nibble, an empty secondary bitmap
    /// and bytes after the last field become warnings. A field the spec
    /// does not define, a truncated field, a length prefix that is not a
    /// number and an MTI that is not digits still stop the decode.
    Lenient,
}

/// What [`decode_with`] read.
#[derive(Debug, Clone)]
pub struct Decoded<'a> {
    /// The message as far as it could be read: `None` when its head (MTI,
    /// bitmaps) could not be; with `error` set, the fields before the
    /// failure.
    pub message: Option<MessageRef<'a>>,
    /// The deviations read past (lenient mode only), in frame order.
    pub warnings: Vec<DecodeWarning>,
    /// Why the decode stopped, if it did.
    pub error: Option<DecodeError>,
}

/// Decodes one message (no outer length prefix) with `spec`.
///
/// ```
/// use cardwire_codec::{decode, specs};
/// let frame = b"0800822000000000000004000000000000001121120000000001301";
/// let msg = decode(specs::iso87ascii(), frame)?;
/// assert_eq!(msg.value(70).unwrap().to_string(), "301");
/// # Ok::<(), cardwire_codec::DecodeError>(())
/// ```
///
/// # Errors
/// A [`DecodeError`] naming the field, the byte offset and the reason.
/// Any byte sequence is safe to pass: the decoder never panics.
#[inline]
pub fn decode<'a>(spec: &'a Spec, buf: &'a [u8]) -> Result<MessageRef<'a>, DecodeError> {
    Ok(MessageRef::from_parts(spec, buf, decode_layout(spec, buf)?))
}

/// Decodes one message strictly or leniently, keeping what was read
/// before a failure.
///
/// ```
/// use cardwire_codec::{DecodeMode, decode_with, specs};
/// // A py8583-style 0800: lowercase hex bitmap.
/// let frame = b"0800a2200000000000000400000000000000112112000000000130100";
/// let strict = decode_with(specs::iso87ascii(), frame, DecodeMode::Strict);
/// assert!(strict.error.is_some());
/// let lenient = decode_with(specs::iso87ascii(), &frame[..], DecodeMode::Lenient);
/// assert!(lenient.warnings.len() >= 1);
/// ```
pub fn decode_with<'a>(spec: &'a Spec, buf: &'a [u8], mode: DecodeMode) -> Decoded<'a> {
    let mut layout = Layout::EMPTY;
    let mut warnings = Vec::new();
    let result = match mode {
        DecodeMode::Strict => walk(spec, buf, &mut layout, &mut Exact),
        DecodeMode::Lenient => walk(spec, buf, &mut layout, &mut warnings),
    };
    let error = result.err();
    // A layout without bitmaps means the head could not be read.
    let message = (layout.bitmaps > 0).then(|| MessageRef::from_parts(spec, buf, layout));
    Decoded {
        message,
        warnings,
        error,
    }
}

/// Decodes `buf` strictly into a layout. Not inlined: the walk keeps
/// more of its state in registers as a function of its own.
#[inline(never)]
pub(crate) fn decode_layout(spec: &Spec, buf: &[u8]) -> Result<Layout, DecodeError> {
    let mut layout = Layout::EMPTY;
    match walk(spec, buf, &mut layout, &mut Strict) {
        Ok(()) => Ok(layout),
        Err(_) => Err(precise_error(spec, buf)),
    }
}

/// The error of a frame the strict walk refused: the walk again, each
/// field checked on its own, stops at the first broken rule.
#[cold]
#[inline(never)]
fn precise_error(spec: &Spec, buf: &[u8]) -> DecodeError {
    let mut layout = Layout::EMPTY;
    match walk(spec, buf, &mut layout, &mut Exact) {
        Err(e) => e,
        // Unreachable: both walks apply the same rules.
        Ok(()) => err(None, 0, DecodeErrorKind::TrailingBytes(0)),
    }
}

/// How a walk treats a deviation from the spec: as an error in strict
/// mode, as a warning in lenient mode. A strict walk may check runs of
/// consecutive text fields of one character set at once (`MERGE`); its
/// error then does not say which byte, and [`precise_error`] finds it.
trait Tolerance {
    /// What a failed walk returns: nothing for the merged strict walk,
    /// whose caller asks [`precise_error`], else the error.
    type Error;
    const LENIENT: bool;
    const MERGE: bool;
    fn fail(e: DecodeError) -> Self::Error;
    fn warn(&mut self, field: Option<FieldNo>, offset: usize, kind: DecodeWarningKind);
}

/// Strict, checking merged runs.
struct Strict;

impl Tolerance for Strict {
    type Error = ();
    const LENIENT: bool = false;
    #[inline(always)]
    fn fail(_: DecodeError) {}
    const MERGE: bool = true;
    #[inline(always)]
    fn warn(&mut self, _: Option<FieldNo>, _: usize, _: DecodeWarningKind) {}
}

/// Strict, checking each field on its own.
struct Exact;

impl Tolerance for Exact {
    type Error = DecodeError;
    const LENIENT: bool = false;
    fn fail(e: DecodeError) -> DecodeError {
        e
    }
    const MERGE: bool = false;
    fn warn(&mut self, _: Option<FieldNo>, _: usize, _: DecodeWarningKind) {}
}

impl Tolerance for Vec<DecodeWarning> {
    type Error = DecodeError;
    const LENIENT: bool = true;
    fn fail(e: DecodeError) -> DecodeError {
        e
    }
    const MERGE: bool = false;
    fn warn(&mut self, field: Option<FieldNo>, offset: usize, kind: DecodeWarningKind) {
        self.push(DecodeWarning {
            field,
            offset,
            kind,
        });
    }
}

#[cold]
#[inline(never)]
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

/// [`err`] as a walk of tolerance `T` fails.
#[inline(always)]
fn err_t<T: Tolerance>(field: Option<FieldNo>, offset: usize, kind: DecodeErrorKind) -> T::Error {
    T::fail(err(field, offset, kind))
}

/// [`truncated`] as a walk of tolerance `T` fails.
#[inline(always)]
fn truncated_t<T: Tolerance>(
    field: Option<FieldNo>,
    offset: usize,
    what: &'static str,
    needed: usize,
    available: usize,
) -> T::Error {
    T::fail(truncated(field, offset, what, needed, available))
}

/// Whether a nom failure is the input running out.
fn ran_out(e: &nom::Err<nom::error::Error<&[u8]>>) -> bool {
    matches!(e, nom::Err::Error(e) | nom::Err::Failure(e) if e.code == ErrorKind::Eof)
}

/// The walk: head, then every field of the bitmap, then the end.
#[inline(always)]
fn walk<T: Tolerance>(
    spec: &Spec,
    buf: &[u8],
    layout: &mut Layout,
    tolerance: &mut T,
) -> Result<(), T::Error> {
    let pos = read_head(spec, buf, layout, tolerance)?;
    let fields = data_fields(spec, layout.bitmap);
    let (read, result) = walk_fields(spec, buf, pos, fields, layout, tolerance);
    layout.present = if result.is_ok() {
        fields
    } else {
        fields.iter().take(read).fold(Bitmap::new(), |mut b, no| {
            b.set(no);
            b
        })
    };
    result
}

/// A run of consecutive bytes of one character set, checked at once.
#[derive(Clone, Copy)]
struct Run {
    class: Class,
    start: usize,
    end: usize,
}

impl Run {
    /// Checks the run. The error is a placeholder: merged runs are
    /// checked by the strict walk only, whose errors [`precise_error`]
    /// makes precise.
    #[inline(always)]
    fn check<T: Tolerance>(self, buf: &[u8]) -> Result<(), T::Error> {
        if self.class.all_in(buf, self.start, self.end) {
            Ok(())
        } else {
            Err(err_t::<T>(
                None,
                self.start,
                DecodeErrorKind::TrailingBytes(0),
            ))
        }
    }
}

/// Every field of `fields` from `pos`: how many were read, and whether
/// the walk reached the end of the frame.
#[inline(always)]
fn walk_fields<T: Tolerance>(
    spec: &Spec,
    buf: &[u8],
    mut pos: usize,
    fields: Bitmap,
    layout: &mut Layout,
    tolerance: &mut T,
) -> (usize, Result<(), T::Error>) {
    let mut run = Run {
        class: Class::Any,
        start: pos,
        end: pos,
    };
    // The field indexes in wire order, so the loop below carries little.
    let mut order = [0u8; FieldNo::MAX as usize];
    let mut count = 0;
    for (w, &word) in fields.words().iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            let at = bits.leading_zeros() as usize;
            bits &= !(1 << 63 >> at);
            if let Some(slot) = order.get_mut(count) {
                *slot = (w * 64 + at) as u8;
            }
            count += 1;
        }
    }
    for (rank, &index) in order.iter().take(count).enumerate() {
        let index = usize::from(index);
        let no = FieldNo::from_index(index);
        let read = match spec.layout_at(index) {
            Some(fl) => read_field(spec, fl, no, buf, pos, &mut run, tolerance),
            None => Err(err_t::<T>(
                Some(no),
                pos,
                DecodeErrorKind::UndefinedField(no.get()),
            )),
        };
        let (start, end) = match read {
            Ok(extent) => extent,
            // The bytes before a broken field are checked first: their
            // error comes first in the frame.
            Err(e) => return (rank, run.check::<T>(buf).and(Err(e))),
        };
        // 32-bit offsets: the view walks again in a longer frame.
        if let Some(slot) = layout.starts.get_mut(rank) {
            *slot = start as u32;
        }
        pos = end;
    }
    if let Err(e) = run.check::<T>(buf) {
        return (fields.count(), Err(e));
    }
    if pos != buf.len() {
        let kind = DecodeErrorKind::TrailingBytes(buf.len() - pos);
        if !T::LENIENT {
            return (fields.count(), Err(err_t::<T>(None, pos, kind)));
        }
        tolerance.warn(None, pos, DecodeWarningKind::TrailingBytes(buf.len() - pos));
    }
    (fields.count(), Ok(()))
}

/// The bitmap's data fields: without bit 1, and without bit 65 when it
/// announces a tertiary bitmap.
#[inline(always)]
pub(crate) fn data_fields(spec: &Spec, bitmap: Bitmap) -> Bitmap {
    let [p, s, t] = bitmap.words();
    let s = if spec.tertiary_bitmap {
        s & !(1 << 63)
    } else {
        s
    };
    Bitmap::from_words([p & !(1 << 63), s, t])
}

/// TPDU, header, MTI and bitmaps: where the first field starts.
#[inline(always)]
fn read_head<T: Tolerance>(
    spec: &Spec,
    buf: &[u8],
    layout: &mut Layout,
    tolerance: &mut T,
) -> Result<usize, T::Error> {
    let at = |rest: &[u8]| buf.len() - rest.len();
    let head = spec.header_len();
    let rest = match read::bytes(head)(buf) {
        Ok((rest, _)) => rest,
        Err(_) => {
            return Err(truncated_t::<T>(
                None,
                0,
                "TPDU and header",
                head,
                buf.len(),
            ));
        }
    };
    let mti_start = at(rest);
    let (rest, digits) = match read::mti(spec.mti)(rest) {
        Ok(ok) => ok,
        Err(_) => {
            let needed = if spec.mti == crate::spec::MtiEncoding::Bcd {
                2
            } else {
                4
            };
            return Err(truncated_t::<T>(None, mti_start, "MTI", needed, rest.len()));
        }
    };
    layout.mti = Mti::from_digits(digits)
        .map_err(|_| err_t::<T>(None, mti_start, DecodeErrorKind::BadMti))?;
    layout.mti_start = u32::try_from(mti_start).unwrap_or(u32::MAX);
    let mut words = [0u64; 3];
    let mut rest = rest;
    let names = ["primary bitmap", "secondary bitmap", "tertiary bitmap"];
    for (k, what) in names.into_iter().enumerate() {
        let wanted = match k {
            0 => true,
            1 => words[0] >> 63 == 1,
            _ => spec.tertiary_bitmap && words[1] >> 63 == 1,
        };
        if !wanted {
            break;
        }
        let start = at(rest);
        let (next, word) = read_bitmap(spec, buf, rest, start, what, tolerance)?;
        words[k] = word;
        layout.bitmaps = k as u8 + 1;
        rest = next;
        // Empty: no field, and no tertiary bitmap announced.
        if k == 1 && T::LENIENT && word == 0 {
            tolerance.warn(None, start, DecodeWarningKind::EmptySecondaryBitmap);
        }
    }
    layout.bitmap = Bitmap::from_words(words);
    let pos = at(rest);
    layout.fields_start = u32::try_from(pos).unwrap_or(u32::MAX);
    Ok(pos)
}

/// One bitmap at `start` (`rest` is the frame from there).
#[inline(always)]
fn read_bitmap<'b, T: Tolerance>(
    spec: &Spec,
    buf: &[u8],
    rest: &'b [u8],
    start: usize,
    what: &'static str,
    tolerance: &mut T,
) -> Result<(&'b [u8], u64), T::Error> {
    match read::bitmap(spec.bitmap, false)(rest) {
        Ok(ok) => Ok(ok),
        Err(e) if ran_out(&e) => {
            let needed = read::bitmap_width(spec.bitmap);
            Err(truncated_t::<T>(None, start, what, needed, rest.len()))
        }
        Err(_) => {
            if T::LENIENT {
                if let Ok(ok) = read::bitmap(spec.bitmap, true)(rest) {
                    tolerance.warn(None, start, DecodeWarningKind::LowercaseHex);
                    return Ok(ok);
                }
            }
            let text = buf.get(start..start + 16).unwrap_or_default();
            let i = Class::HexUpper.first_bad(text).unwrap_or(0);
            Err(err_t::<T>(None, start + i, DecodeErrorKind::BadBitmap))
        }
    }
}

/// Reads field `no` at `pos`: its length, then a check of its data.
/// Returns where its data starts and where the field ends.
#[inline(always)]
fn read_field<T: Tolerance>(
    spec: &Spec,
    fl: &FieldLayout,
    no: FieldNo,
    buf: &[u8],
    pos: usize,
    run: &mut Run,
    tolerance: &mut T,
) -> Result<(usize, usize), T::Error> {
    let (start, chars, wire) = match fl.size {
        Size::Fixed { chars, wire } => (pos, chars, wire),
        Size::Prefixed {
            encoding,
            digits,
            width,
            count,
            limit,
            ..
        } => {
            let rest = buf.get(pos..).unwrap_or_default();
            let v = match read::prefix(encoding, digits, width)(rest) {
                Ok((_, v)) => v,
                Err(e) if ran_out(&e) => {
                    return Err(truncated_t::<T>(
                        Some(no),
                        pos,
                        "length prefix",
                        width,
                        rest.len(),
                    ));
                }
                Err(_) => {
                    let kind = DecodeErrorKind::BadLengthPrefix {
                        encoding: encoding.name(),
                    };
                    return Err(err_t::<T>(Some(no), pos, kind));
                }
            };
            if v > limit {
                if !T::LENIENT {
                    let kind = DecodeErrorKind::TooLong {
                        length: v,
                        max: limit,
                    };
                    return Err(err_t::<T>(Some(no), pos, kind));
                }
                let kind = DecodeWarningKind::OverLong {
                    length: v,
                    max: limit,
                };
                tolerance.warn(Some(no), pos, kind);
            }
            if count == Count::HexChars && v % 2 == 1 {
                let kind = DecodeErrorKind::OddHexLength { length: v };
                return Err(err_t::<T>(Some(no), pos, kind));
            }
            let (chars, wire) = count.lengths(v);
            (pos + width, chars, wire)
        }
    };
    let rest = buf.get(start..).unwrap_or_default();
    let Ok((_, data)) = read::bytes(wire)(rest) else {
        return Err(truncated_t::<T>(
            Some(no),
            start,
            "field data",
            wire,
            rest.len(),
        ));
    };
    let end = start + wire;
    if let (true, Some(class)) = (T::MERGE, fl.run) {
        let from = if fl.prefix_joins { pos } else { start };
        if run.class == class && run.end == from {
            run.end = end;
        } else {
            run.check::<T>(buf)?;
            *run = Run {
                class,
                start: from,
                end,
            };
        }
        return Ok((start, end));
    }
    if !quick_ok(fl, data) {
        let fs = spec
            .field(no)
            .ok_or_else(|| err_t::<T>(Some(no), pos, DecodeErrorKind::UndefinedField(no.get())))?;
        check_field(fs, fl, no, data, chars, start, tolerance).map_err(T::fail)?;
    }
    Ok((start, end))
}

/// Whether a field's data is all the spec allows, for the layouts that
/// a block check settles (raw bytes, hex text, unsigned ASCII text);
/// `false` sends the others, and every failure, to [`check_field`].
#[inline(always)]
fn quick_ok(fl: &FieldLayout, data: &[u8]) -> bool {
    match fl.data {
        Data::Binary => true,
        Data::Hex => Class::HexUpper.all(data),
        Data::Text {
            class,
            signed: false,
        } => class.all(data),
        _ => false,
    }
}

/// Checks a field [`quick_ok`] did not settle: nothing when it holds,
/// else the precise error, or in lenient mode a warning when the
/// deviation leaves the value readable.
#[inline(never)]
fn check_field<T: Tolerance>(
    fs: &FieldSpec,
    fl: &FieldLayout,
    no: FieldNo,
    data: &[u8],
    chars: usize,
    start: usize,
    tolerance: &mut T,
) -> Result<(), DecodeError> {
    let Err(e) = validate(fs, fl, no, data, chars, start) else {
        return Ok(());
    };
    if !T::LENIENT {
        return Err(e);
    }
    let kind = match (fl.data, e.kind.clone()) {
        (Data::Hex, _) => match data.iter().position(|b| !b.is_ascii_hexdigit()) {
            // Lowercase hex text still says which bytes it stands for.
            None => DecodeWarningKind::LowercaseHex,
            Some(i) => {
                let kind = DecodeErrorKind::InvalidChar {
                    expected: "a hex digit",
                    found: shown(fs, data[i]),
                };
                return Err(err(Some(no), start + i, kind));
            }
        },
        (_, DecodeErrorKind::InvalidChar { expected, found }) => {
            DecodeWarningKind::OutsideCharset {
                expected,
                found,
                count: outside_count(fl, data),
            }
        }
        (_, DecodeErrorKind::InvalidBcd { expected, found }) => {
            DecodeWarningKind::OutsideBcd { expected, found }
        }
        (_, DecodeErrorKind::BadPad { expected, found }) => {
            DecodeWarningKind::OtherPad { expected, found }
        }
        (_, DecodeErrorKind::BadSign { found }) => DecodeWarningKind::NoSign { found },
        _ => return Err(e),
    };
    tolerance.warn(Some(no), e.offset, kind);
    Ok(())
}

/// How many bytes of a text value are outside its character set.
fn outside_count(fl: &FieldLayout, data: &[u8]) -> usize {
    match fl.data {
        Data::Text { class, .. } => data.iter().filter(|&&b| !class.accepts(b)).count(),
        Data::Ebcdic { class, .. } => data
            .iter()
            .filter(|&&e| {
                let a = charset::ebcdic_to_ascii(e);
                a == 0 || !class.accepts(a)
            })
            .count(),
        _ => 1,
    }
}

/// Checks the data bytes of a field against its kind and encoding, and
/// says which byte breaks the rule first.
fn validate(
    fs: &FieldSpec,
    fl: &FieldLayout,
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
                expected: fs.kind.expected(),
                found: shown(fs, b),
            },
        )
    };
    match fl.data {
        Data::Binary => Ok(()),
        Data::Hex => match Class::HexUpper.first_bad(data) {
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
        Data::Text { class, signed } => {
            let (body, off) = split_sign(fs, signed, no, data, start, |b| b)?;
            match class.first_bad(body) {
                Some(i) => Err(bad_char(i + off, body[i])),
                None => Ok(()),
            }
        }
        Data::Ebcdic { class, signed } => {
            let (body, off) = split_sign(fs, signed, no, data, start, charset::ebcdic_to_ascii)?;
            match body.iter().position(|&e| {
                let a = charset::ebcdic_to_ascii(e);
                a == 0 || !class.accepts(a)
            }) {
                Some(i) => Err(bad_char(i + off, body[i])),
                None => Ok(()),
            }
        }
        Data::Bcd { signed, .. } => {
            let (body, off) = split_sign(fs, signed, no, data, start, |b| b)?;
            let digits = if signed {
                chars.saturating_sub(1)
            } else {
                chars
            };
            validate_bcd(fs, fl, no, body, digits, start + off)
        }
    }
}

/// For `x+n`, checks and strips the leading sign byte (after `map`).
fn split_sign<'d>(
    fs: &FieldSpec,
    signed: bool,
    no: FieldNo,
    data: &'d [u8],
    start: usize,
    map: impl Fn(u8) -> u8,
) -> Result<(&'d [u8], usize), DecodeError> {
    if !signed {
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

fn validate_bcd(
    fs: &FieldSpec,
    fl: &FieldLayout,
    no: FieldNo,
    data: &[u8],
    digits: usize,
    start: usize,
) -> Result<(), DecodeError> {
    let Data::Bcd { track, pad, .. } = fl.data else {
        return Ok(());
    };
    let first = fl.first_nibble(digits);
    for (i, &b) in data.iter().enumerate() {
        for (at, n) in [(2 * i, b >> 4), (2 * i + 1, b & 15)] {
            let kind = if at < first || at >= first + digits {
                if n == pad {
                    continue;
                }
                DecodeErrorKind::BadPad {
                    expected: pad,
                    found: n,
                }
            } else if n <= 9 || (track && n == 0xD) {
                continue;
            } else {
                DecodeErrorKind::InvalidBcd {
                    expected: if track {
                        "digit or separator D"
                    } else {
                        "digit"
                    },
                    found: shown(fs, b),
                }
            };
            return Err(err(Some(no), start + i, kind));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::RANKS;
    use crate::spec::{FieldKind, Length};
    use crate::{Message, encode_to_vec, specs};

    fn no(n: u16) -> FieldNo {
        FieldNo::new(n).unwrap_or_else(|| unreachable!())
    }

    #[test]
    fn fields_past_the_recorded_starts_are_found_by_walking() {
        // More fields than a layout records, and a frame over 64 KiB.
        let mut spec = specs::iso87ascii().clone();
        for n in 90..=127u16 {
            let length = Length::Variable {
                digits: 4,
                max: 9999,
            };
            spec.set_field(no(n), FieldSpec::new("big", FieldKind::Ans, length));
        }
        let mut m = Message::new("0200".parse().unwrap_or_else(|_| unreachable!()));
        m.set(2, "4761739001010119").set(4, "000000012500");
        for n in 90..=127u8 {
            m.set(n, vec![b'a' + n % 26; 2000 + usize::from(n)]);
        }
        m.set(128, vec![0xAB; 8]);
        let wire = encode_to_vec(&spec, &m).unwrap_or_else(|e| panic!("{e}"));
        assert!(wire.len() > 65_536);
        assert!(m.fields().count() > RANKS);
        let msg = decode(&spec, &wire).unwrap_or_else(|e| panic!("{e}"));
        for n in [2u8, 4, 100, 105, 126, 127, 128] {
            let want = m.get(n).map(|v| v.to_vec());
            assert_eq!(msg.value(n).map(|v| v.to_vec()), want, "field {n}");
        }
        assert!(msg.to_message() == m);
        assert_eq!(msg.fields().count(), m.fields().count());
        assert_eq!(msg.mac_input(128).len(), wire.len() - 16);
    }

    #[test]
    fn a_decoded_message_is_moved_without_allocating() {
        // The field starts live inside the view: its size is fixed.
        assert!(core::mem::size_of::<MessageRef<'_>>() <= 256);
    }
}
