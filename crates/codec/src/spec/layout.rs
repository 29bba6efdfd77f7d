//! How each field is read and written, worked out once from its
//! [`FieldSpec`] when the field is set on a [`Spec`](super::Spec): the
//! decoder's walk and the encoder's writer both follow it.
//!
//! ```text
//!  fixed:    [data: wire bytes]
//!  prefixed: [prefix: width bytes, value v] [data: lengths(v).wire bytes]
//! ```

use super::{Align, DataEncoding, FieldKind, FieldSpec, Length, LengthUnit, Pad, PrefixEncoding};
use crate::charset::Class;

/// A field's layout: how its length is found and how its data is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldLayout {
    /// How the length is found.
    pub(crate) size: Size,
    /// How the data is written and checked.
    pub(crate) data: Data,
    /// The character set of data a strict decode may check together with
    /// its neighbours' (unsigned ASCII text, hex text).
    pub(crate) run: Option<Class>,
    /// Whether the length prefix is ASCII digits that the run's set holds,
    /// so the prefix joins the run.
    pub(crate) prefix_joins: bool,
}

/// How a field's length is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Size {
    /// Always `wire` bytes holding `chars` logical units.
    Fixed {
        /// Logical units (sign included).
        chars: usize,
        /// Bytes on the wire.
        wire: usize,
    },
    /// A length prefix, then the data.
    Prefixed {
        /// How the prefix is written.
        encoding: PrefixEncoding,
        /// Digits the prefix stands for (2 = LL, 3 = LLL, 4 = LLLL).
        digits: u8,
        /// Bytes of prefix on the wire.
        width: usize,
        /// What the prefix value counts.
        count: Count,
        /// The largest prefix value the spec allows.
        limit: usize,
        /// The longest value, in logical units.
        max_chars: usize,
    },
}

/// What a length prefix counts, and so how its value `v` becomes the
/// value's logical units and its bytes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Count {
    /// Logical units, one byte each (text, raw binary).
    Units,
    /// Hex characters: `v / 2` bytes of value, `v` on the wire.
    HexChars,
    /// Bytes of a hex-text value: `v` bytes of value, `2v` on the wire.
    HexBytes,
    /// BCD digits (the `x+n` sign included).
    Digits {
        /// An `x+n` value: a sign byte, then the digits.
        signed: bool,
    },
    /// Bytes of packed BCD: `2v` digits (or, for `x+n`, `2v` units).
    BcdBytes,
}

/// How a field's data is written and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Data {
    /// Raw bytes: anything goes.
    Binary,
    /// Binary data as uppercase hex text.
    Hex,
    /// One ASCII byte a character; `signed` for `x+n` (a `C`/`D` first).
    Text {
        /// The characters allowed (after the sign).
        class: Class,
        /// An `x+n` value.
        signed: bool,
    },
    /// One EBCDIC byte a character.
    Ebcdic {
        /// The characters allowed, in ASCII (after the sign).
        class: Class,
        /// An `x+n` value.
        signed: bool,
    },
    /// Packed BCD digits.
    Bcd {
        /// Track data: the nibble `D` is a separator.
        track: bool,
        /// An `x+n` value: an ASCII sign byte first.
        signed: bool,
        /// Odd digit counts put the pad nibble first.
        pad_first: bool,
        /// The pad nibble.
        pad: u8,
    },
}

impl FieldKind {
    /// The characters a value of this kind is made of (after an `x+n`
    /// sign).
    pub(crate) fn class(self) -> Class {
        match self {
            FieldKind::N | FieldKind::XN => Class::Digit,
            FieldKind::A => Class::Alpha,
            FieldKind::An => Class::AlphaNum,
            FieldKind::As => Class::AlphaSpecial,
            FieldKind::Ns => Class::NumSpecial,
            FieldKind::Ans => Class::Printable,
            FieldKind::Z => Class::Track,
            FieldKind::B => Class::Any,
        }
    }

    /// What a value of this kind is made of, for error messages.
    pub(crate) fn expected(self) -> &'static str {
        match self {
            FieldKind::N => "a digit",
            FieldKind::XN => "a digit after the C/D sign",
            FieldKind::A => "a letter or space",
            FieldKind::An => "a letter, digit or space",
            FieldKind::As => "a letter, space or special character",
            FieldKind::Ns => "a digit, space or special character",
            FieldKind::Ans => "a printable character",
            FieldKind::Z => "a digit or track separator (= or D)",
            FieldKind::B => "any byte",
        }
    }
}

impl FieldLayout {
    /// The layout of `fs`.
    pub(crate) fn of(fs: &FieldSpec) -> FieldLayout {
        let signed = fs.kind == FieldKind::XN;
        let class = fs.kind.class();
        let data = match fs.encoding {
            DataEncoding::Binary => Data::Binary,
            DataEncoding::Hex => Data::Hex,
            DataEncoding::Ascii => Data::Text { class, signed },
            DataEncoding::Ebcdic => Data::Ebcdic { class, signed },
            DataEncoding::Bcd => Data::Bcd {
                track: fs.kind == FieldKind::Z,
                signed,
                pad_first: fs.align == Align::Right,
                pad: fs.pad.map_or(0, Pad::nibble),
            },
        };
        let size = match fs.length {
            Length::Fixed(n) => {
                let chars = fs.logical_chars(n);
                Size::Fixed {
                    chars,
                    wire: fs.wire_len(chars),
                }
            }
            Length::Variable { digits, max } => {
                let hex = fs.encoding == DataEncoding::Hex;
                let bcd = fs.encoding == DataEncoding::Bcd;
                let max_chars = fs.logical_chars(max);
                let (count, limit) = match fs.unit {
                    LengthUnit::Bytes if hex => (Count::HexBytes, max_chars),
                    // Byte-counted BCD digits come in pairs: at most
                    // max/2 bytes, or 2v digits would exceed the maximum.
                    LengthUnit::Bytes if bcd && !signed => (Count::BcdBytes, max_chars / 2),
                    LengthUnit::Bytes if bcd => (Count::BcdBytes, fs.wire_len(max_chars)),
                    LengthUnit::Bytes => (Count::Units, max_chars),
                    LengthUnit::Chars | LengthUnit::Digits if hex => {
                        (Count::HexChars, max_chars * 2)
                    }
                    LengthUnit::Chars | LengthUnit::Digits if bcd => {
                        (Count::Digits { signed }, max_chars)
                    }
                    LengthUnit::Chars | LengthUnit::Digits => (Count::Units, max_chars),
                };
                Size::Prefixed {
                    encoding: fs.prefix,
                    digits,
                    width: fs.prefix.width(digits),
                    count,
                    limit,
                    max_chars,
                }
            }
        };
        let run = match data {
            Data::Text {
                class,
                signed: false,
            } => Some(class),
            Data::Hex => Some(Class::HexUpper),
            _ => None,
        };
        let prefix_joins = matches!(
            size,
            Size::Prefixed {
                encoding: PrefixEncoding::Ascii,
                ..
            }
        ) && run.is_some_and(|c| c.accepts(b'0'));
        FieldLayout {
            size,
            data,
            run,
            prefix_joins,
        }
    }

    /// Wire bytes of a value of `chars` logical units.
    #[inline]
    pub(crate) fn wire_len(&self, chars: usize) -> usize {
        match self.data {
            Data::Binary | Data::Text { .. } | Data::Ebcdic { .. } => chars,
            Data::Hex => chars.saturating_mul(2),
            Data::Bcd { signed: true, .. } => chars.min(1) + chars.saturating_sub(1).div_ceil(2),
            Data::Bcd { .. } => chars.div_ceil(2),
        }
    }

    /// The prefix value written for a value of `chars` logical units.
    #[inline]
    pub(crate) fn prefix_value(&self, count: Count, chars: usize) -> usize {
        match count {
            Count::Units | Count::Digits { .. } | Count::HexBytes => chars,
            Count::HexChars => chars.saturating_mul(2),
            Count::BcdBytes => self.wire_len(chars),
        }
    }

    /// Where the digits of a BCD value of `digits` digits start, in
    /// nibbles: 1 when an odd count puts the pad nibble first.
    pub(crate) fn first_nibble(&self, digits: usize) -> usize {
        match self.data {
            Data::Bcd { pad_first, .. } => usize::from(digits % 2 == 1 && pad_first),
            _ => 0,
        }
    }

    /// Bytes of prefix before the data.
    pub(crate) fn prefix_width(&self) -> usize {
        match self.size {
            Size::Fixed { .. } => 0,
            Size::Prefixed { width, .. } => width,
        }
    }
}

impl Count {
    /// Logical units and wire bytes of a value whose prefix says `v`.
    #[inline]
    pub(crate) fn lengths(self, v: usize) -> (usize, usize) {
        match self {
            Count::Units => (v, v),
            Count::HexChars => (v / 2, v),
            Count::HexBytes => (v, v.saturating_mul(2)),
            Count::Digits { signed: false } => (v, v.div_ceil(2)),
            Count::Digits { signed: true } => (v, v.min(1) + v.saturating_sub(1).div_ceil(2)),
            Count::BcdBytes => (v.saturating_mul(2), v),
        }
    }
}

impl PrefixEncoding {
    /// The number a length prefix of `digits` digits says, `None` when it
    /// is not a number in this encoding (or a BCD value beyond what
    /// `digits` digits hold).
    #[inline]
    pub(crate) fn value(self, digits: u8, b: &[u8]) -> Option<usize> {
        let mut v = 0usize;
        match self {
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
                    let d = d.wrapping_sub(0xF0);
                    if d > 9 {
                        return None;
                    }
                    v = v * 10 + usize::from(d);
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
                if v > self.capacity(digits) {
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

    /// The name used in errors.
    pub(crate) fn name(self) -> &'static str {
        match self {
            PrefixEncoding::Ascii => "ASCII",
            PrefixEncoding::Bcd => "BCD",
            PrefixEncoding::Binary => "binary",
            PrefixEncoding::Ebcdic => "EBCDIC",
        }
    }
}
