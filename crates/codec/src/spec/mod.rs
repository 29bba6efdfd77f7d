//! Specs: a complete, data-only description of an ISO 8583 dialect.
//!
//! One [`Spec`] drives both decode and encode. Built-in specs live in
//! [`crate::specs`]; users load their own from TOML or JSON (feature
//! `serde`, see [`crate::spec_file`]).
//!
//! Lengths in a spec are *logical*: digits for `n`, `z` and `x+n` (the
//! sign not counted), characters for text, bytes for `b`. The wire size
//! follows from the data encoding: BCD packs two digits a byte, hex text
//! spends two characters a byte.

use core::ops::{Deref, DerefMut};

use crate::codes::CodeTable;
use crate::types::FieldNo;

pub(crate) mod layout;
pub(crate) mod txn;

use layout::FieldLayout;
use txn::TxnRule;

/// How the MTI travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MtiEncoding {
    /// Four ASCII digits.
    Ascii,
    /// Two bytes of packed BCD.
    Bcd,
    /// Four EBCDIC digits.
    Ebcdic,
}

/// How the bitmaps travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BitmapEncoding {
    /// 8 raw bytes per bitmap.
    Binary,
    /// 16 uppercase hex characters per bitmap.
    Hex,
}

/// The data element type, which fixes the character set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldKind {
    /// `n`: digits.
    N,
    /// `a`: letters and space.
    A,
    /// `an`: letters, digits and space.
    An,
    /// `as`: letters, space and specials.
    As,
    /// `ns`: digits and specials.
    Ns,
    /// `ans`: any printable character (bytes 0x80-0xFF are accepted too,
    /// for national character sets such as GBK).
    Ans,
    /// `b`: binary data.
    B,
    /// `z`: track data: digits and the `=` or `D` separator.
    Z,
    /// `x+n`: a `C` (credit) or `D` (debit) sign, then digits.
    XN,
}

impl FieldKind {
    /// The ISO 8583 notation (`n`, `ans`, `x+n` ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::N => "n",
            FieldKind::A => "a",
            FieldKind::An => "an",
            FieldKind::As => "as",
            FieldKind::Ns => "ns",
            FieldKind::Ans => "ans",
            FieldKind::B => "b",
            FieldKind::Z => "z",
            FieldKind::XN => "x+n",
        }
    }

    /// Parses the ISO notation.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "n" => FieldKind::N,
            "a" => FieldKind::A,
            "an" => FieldKind::An,
            "as" => FieldKind::As,
            "ns" => FieldKind::Ns,
            "ans" | "anp" | "ansb" => FieldKind::Ans,
            "b" => FieldKind::B,
            "z" => FieldKind::Z,
            "x+n" | "xn" => FieldKind::XN,
            _ => return None,
        })
    }

    /// Whether the kind is made of digits (and can be packed as BCD).
    pub fn is_numeric(self) -> bool {
        matches!(self, FieldKind::N | FieldKind::Z | FieldKind::XN)
    }
}

/// Fixed or variable length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// Always exactly this many logical units.
    Fixed(u16),
    /// A length prefix of `digits` decimal digits (2 = LL, 3 = LLL,
    /// 4 = LLLL), then up to `max` logical units.
    Variable {
        /// Digits in the prefix: 2, 3 or 4.
        digits: u8,
        /// Maximum logical length.
        max: u16,
    },
}

impl Length {
    /// The maximum (or fixed) logical length.
    pub fn max(self) -> u16 {
        match self {
            Length::Fixed(n) => n,
            Length::Variable { max, .. } => max,
        }
    }

    /// `fixed`, `LL`, `LLL` or `LLLL`.
    pub fn kind_str(self) -> &'static str {
        match self {
            Length::Fixed(_) => "fixed",
            Length::Variable { digits: 2, .. } => "LL",
            Length::Variable { digits: 3, .. } => "LLL",
            Length::Variable { .. } => "LLLL",
        }
    }
}

/// How a length prefix is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrefixEncoding {
    /// ASCII digits: LL is 2 bytes, LLL 3, LLLL 4.
    Ascii,
    /// Packed BCD, right-aligned: LL is 1 byte, LLL and LLLL 2.
    Bcd,
    /// Big-endian binary: LL is 1 byte, LLL and LLLL 2.
    Binary,
    /// EBCDIC digits: one byte a digit.
    Ebcdic,
}

impl PrefixEncoding {
    /// Bytes on the wire for a prefix of `digits` digits.
    pub fn width(self, digits: u8) -> usize {
        match self {
            PrefixEncoding::Ascii | PrefixEncoding::Ebcdic => digits as usize,
            PrefixEncoding::Bcd => (digits as usize).div_ceil(2),
            PrefixEncoding::Binary => {
                if digits <= 2 {
                    1
                } else {
                    2
                }
            }
        }
    }

    /// The largest value such a prefix can carry.
    pub fn capacity(self, digits: u8) -> usize {
        match self {
            PrefixEncoding::Binary => {
                if digits <= 2 {
                    255
                } else {
                    65535
                }
            }
            _ => 10usize.pow(u32::from(digits)) - 1,
        }
    }
}

/// What a length prefix counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LengthUnit {
    /// Logical characters: digits for numeric fields (the `x+n` sign
    /// included), characters for text, bytes for raw binary and hex
    /// characters for binary carried as hex text.
    Chars,
    /// Digits (nibbles). The same count as [`LengthUnit::Chars`]; the name
    /// documents intent for BCD fields.
    Digits,
    /// Bytes on the wire.
    Bytes,
}

/// How the field's data is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataEncoding {
    /// One ASCII byte a character.
    Ascii,
    /// Packed BCD, two digits a byte (numeric and track kinds only).
    Bcd,
    /// Raw bytes (kind `b` only).
    Binary,
    /// EBCDIC (code page 037), one byte a character.
    Ebcdic,
    /// Binary data as uppercase hex text, two characters a byte (kind `b`
    /// only).
    Hex,
}

/// Which side BCD digits sit on when a field has an odd number of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Digits first, pad nibble last.
    Left,
    /// Pad nibble first, digits last.
    Right,
}

/// The pad nibble for odd-length BCD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pad {
    /// `0`
    Zero,
    /// `F`
    F,
}

impl Pad {
    /// The nibble value.
    pub fn nibble(self) -> u8 {
        match self {
            Pad::Zero => 0,
            Pad::F => 0xF,
        }
    }
}

/// What must be hidden when a field is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Sensitivity {
    /// Shown as is.
    #[default]
    Public,
    /// A card number: first 6 and last 4 digits shown.
    Pan,
    /// Track data: the PAN part as for [`Sensitivity::Pan`], the rest hidden.
    Track,
    /// Hidden entirely (PIN blocks, keys, MACs, CVV, expiry).
    Secret,
    /// BER-TLV (EMV field 55): sensitive tags hidden, others shown.
    Tlv,
}

impl Sensitivity {
    /// Whether any part of the value must be kept out of errors.
    pub fn is_sensitive(self) -> bool {
        self != Sensitivity::Public
    }
}

/// The character set of a text field's bytes beyond ASCII, for showing
/// them: the wire bytes are kept as they are either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Charset {
    /// ASCII: other bytes are shown as `\xNN`.
    #[default]
    Ascii,
    /// GBK (a superset of GB 2312), the Chinese text of UnionPay fields
    /// 43, 56 and 63.
    Gbk,
}

impl Charset {
    /// The name used in spec files: `ascii` or `gbk`.
    pub fn as_str(self) -> &'static str {
        match self {
            Charset::Ascii => "ascii",
            Charset::Gbk => "gbk",
        }
    }

    /// Parses a spec file's name for it (`gb2312` and `gb18030` read as
    /// GBK, which covers them for display).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "ascii" => Some(Charset::Ascii),
            "gbk" | "gb2312" | "gb18030" => Some(Charset::Gbk),
            _ => None,
        }
    }
}

/// One positional subfield: a run of logical characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubfieldSpec {
    /// Identifier, e.g. `60.1`.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Logical length.
    pub len: u16,
}

/// How a field splits into parts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Subfields {
    /// Not split.
    #[default]
    None,
    /// Consecutive fixed-length parts; a value may end after any part.
    Positional(Vec<SubfieldSpec>),
    /// BER-TLV data objects (EMV).
    Tlv,
}

/// Everything about one data element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    /// Human name, e.g. "Primary account number".
    pub name: String,
    /// Type: fixes the character set.
    pub kind: FieldKind,
    /// Fixed or variable length, in logical units.
    pub length: Length,
    /// How a variable length's prefix is written.
    pub prefix: PrefixEncoding,
    /// What the prefix counts.
    pub unit: LengthUnit,
    /// How the data is written.
    pub encoding: DataEncoding,
    /// Alignment of odd-length BCD.
    pub align: Align,
    /// Pad nibble for odd-length BCD; `None` forbids odd lengths.
    pub pad: Option<Pad>,
    /// Subfield structure.
    pub subfields: Subfields,
    /// Masking rule.
    pub sensitivity: Sensitivity,
    /// How text beyond ASCII is shown.
    pub charset: Charset,
}

impl FieldSpec {
    /// A field with ASCII data and prefix, counted in characters.
    pub fn new(name: impl Into<String>, kind: FieldKind, length: Length) -> Self {
        FieldSpec {
            name: name.into(),
            kind,
            length,
            prefix: PrefixEncoding::Ascii,
            unit: LengthUnit::Chars,
            encoding: if kind == FieldKind::B {
                DataEncoding::Binary
            } else {
                DataEncoding::Ascii
            },
            align: Align::Right,
            pad: Some(Pad::Zero),
            subfields: Subfields::None,
            sensitivity: Sensitivity::Public,
            charset: Charset::Ascii,
        }
    }

    /// The number of wire bytes taken by `chars` logical units of data.
    ///
    /// For `x+n` the sign is one more unit (so no units take no bytes:
    /// there is no sign either).
    pub fn wire_len(&self, chars: usize) -> usize {
        match self.encoding {
            DataEncoding::Ascii | DataEncoding::Ebcdic | DataEncoding::Binary => chars,
            DataEncoding::Hex => chars * 2,
            DataEncoding::Bcd => {
                if self.kind == FieldKind::XN {
                    chars.min(1) + chars.saturating_sub(1).div_ceil(2)
                } else {
                    chars.div_ceil(2)
                }
            }
        }
    }

    /// Logical characters of a value, including an `x+n` sign.
    pub(crate) fn logical_chars(&self, max_units: u16) -> usize {
        let n = max_units as usize;
        if self.kind == FieldKind::XN { n + 1 } else { n }
    }
}

/// A field definition being edited ([`Spec::field_mut`]): dereferences
/// to the [`FieldSpec`], and updates the spec's layout of the field when
/// dropped.
pub struct FieldSpecMut<'a> {
    field: &'a mut FieldSpec,
    layout: &'a mut Option<FieldLayout>,
}

impl Deref for FieldSpecMut<'_> {
    type Target = FieldSpec;
    fn deref(&self) -> &FieldSpec {
        self.field
    }
}

impl DerefMut for FieldSpecMut<'_> {
    fn deref_mut(&mut self) -> &mut FieldSpec {
        self.field
    }
}

impl Drop for FieldSpecMut<'_> {
    fn drop(&mut self) {
        *self.layout = Some(FieldLayout::of(self.field));
    }
}

/// Where the TPDU and message header sit, before the MTI.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderSpec {
    /// A 5-byte TPDU (`60 DDDD SSSS`) comes first.
    pub tpdu: bool,
    /// Bytes of message header after the TPDU.
    pub length: usize,
    /// Whether the header is text (shown as is) or binary (shown as hex).
    pub text: bool,
}

/// A complete dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// Short name, e.g. `iso87ascii`.
    pub name: String,
    /// One line about the dialect.
    pub description: String,
    /// MTI encoding.
    pub mti: MtiEncoding,
    /// Bitmap encoding.
    pub bitmap: BitmapEncoding,
    /// Bit 65 announces a tertiary bitmap (ISO 8583:1993); otherwise
    /// field 65 is ordinary data.
    pub tertiary_bitmap: bool,
    /// TPDU and header before the MTI.
    pub header: HeaderSpec,
    /// Field definitions, indexed by field number minus one (192 entries).
    fields: Vec<Option<FieldSpec>>,
    /// Response-code table.
    pub codes: CodeTable,
    /// Rules that name a message's transaction type.
    pub transactions: Vec<TxnRule>,
    /// How each defined field is read and written, indexed like `fields`:
    /// worked out whenever a field is set, so it always matches `fields`.
    layouts: Layouts,
}

/// The layouts of a spec's fields: derived from the fields, so shown as
/// `..`.
#[derive(Clone, PartialEq, Eq)]
struct Layouts(Box<[Option<FieldLayout>; FieldNo::MAX as usize]>);

impl core::fmt::Debug for Layouts {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("..")
    }
}

/// A spec that contradicts itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// A field's definition is inconsistent.
    #[error("spec {spec}: field {field} ({name}): {reason}")]
    Field {
        /// Spec name.
        spec: String,
        /// Field number.
        field: u16,
        /// Field name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Something outside the fields is wrong.
    #[error("spec {spec}: {reason}")]
    Spec {
        /// Spec name.
        spec: String,
        /// What is wrong.
        reason: String,
    },
}

impl Spec {
    /// An empty spec: ASCII MTI, hex bitmap, no header, no fields.
    pub fn new(name: impl Into<String>) -> Self {
        Spec {
            name: name.into(),
            description: String::new(),
            mti: MtiEncoding::Ascii,
            bitmap: BitmapEncoding::Hex,
            tertiary_bitmap: false,
            header: HeaderSpec::default(),
            fields: vec![None; FieldNo::MAX as usize],
            codes: CodeTable::Iso87,
            transactions: Vec::new(),
            layouts: Layouts(Box::new([None; FieldNo::MAX as usize])),
        }
    }

    /// How field `no` is read and written, if the spec defines it.
    #[inline]
    pub(crate) fn layout(&self, no: FieldNo) -> Option<&FieldLayout> {
        self.layout_at(no.index())
    }

    /// How the field at zero-based index `i` (field `i + 1`) is read and
    /// written, if the spec defines it.
    #[inline(always)]
    pub(crate) fn layout_at(&self, i: usize) -> Option<&FieldLayout> {
        self.layouts.0.get(i).and_then(Option::as_ref)
    }

    /// The definition of field `n`, if the spec has one.
    #[inline]
    pub fn field(&self, n: FieldNo) -> Option<&FieldSpec> {
        self.fields.get(n.index()).and_then(Option::as_ref)
    }

    /// Defines (or replaces) field `n`.
    pub fn set_field(&mut self, n: FieldNo, f: FieldSpec) {
        if let (Some(slot), Some(layout)) = (
            self.fields.get_mut(n.index()),
            self.layouts.0.get_mut(n.index()),
        ) {
            *layout = Some(FieldLayout::of(&f));
            *slot = Some(f);
        }
    }

    /// Removes field `n`.
    pub fn remove_field(&mut self, n: FieldNo) {
        if let (Some(slot), Some(layout)) = (
            self.fields.get_mut(n.index()),
            self.layouts.0.get_mut(n.index()),
        ) {
            *slot = None;
            *layout = None;
        }
    }

    /// Mutable access to field `n`'s definition; the spec works out the
    /// field's layout again when the returned guard is dropped.
    pub fn field_mut(&mut self, n: FieldNo) -> Option<FieldSpecMut<'_>> {
        let i = n.index();
        let field = self.fields.get_mut(i)?.as_mut()?;
        let layout = self.layouts.0.get_mut(i)?;
        Some(FieldSpecMut { field, layout })
    }

    /// All defined fields in order.
    pub fn fields(&self) -> impl Iterator<Item = (FieldNo, &FieldSpec)> {
        self.fields.iter().enumerate().filter_map(|(i, f)| {
            let f = f.as_ref()?;
            Some((FieldNo::new(i as u16 + 1)?, f))
        })
    }

    /// Bytes before the MTI (TPDU plus header).
    pub fn header_len(&self) -> usize {
        self.header.length + if self.header.tpdu { 5 } else { 0 }
    }

    /// The highest field the bitmaps can address.
    pub fn max_field(&self) -> u8 {
        if self.tertiary_bitmap { 192 } else { 128 }
    }

    /// Checks the spec for contradictions: a fixed BCD field with an odd
    /// length and no pad, a maximum the prefix cannot express, an
    /// encoding the field type cannot use, a field where a bitmap goes.
    ///
    /// # Errors
    /// The first inconsistency, naming the field.
    pub fn validate(&self) -> Result<(), SpecError> {
        let fail = |n: FieldNo, f: &FieldSpec, reason: String| SpecError::Field {
            spec: self.name.clone(),
            field: u16::from(n.get()),
            name: f.name.clone(),
            reason,
        };
        if self.name.trim().is_empty() {
            return Err(SpecError::Spec {
                spec: self.name.clone(),
                reason: "the spec has no name".into(),
            });
        }
        for (n, f) in self.fields() {
            if n.get() == 1 {
                return Err(fail(
                    n,
                    f,
                    "field 1 is the secondary bitmap indicator and cannot carry data".into(),
                ));
            }
            if n.get() == 65 && self.tertiary_bitmap {
                return Err(fail(n, f, "with a tertiary bitmap, field 65 is the bitmap indicator and cannot carry data".into()));
            }
            if n.get() > self.max_field() {
                return Err(fail(
                    n,
                    f,
                    format!(
                        "the bitmaps of this spec address fields up to {} only",
                        self.max_field()
                    ),
                ));
            }
            match (f.kind, f.encoding) {
                (FieldKind::B, DataEncoding::Binary | DataEncoding::Hex) => {}
                (FieldKind::B, e) => {
                    return Err(fail(
                        n,
                        f,
                        format!("binary data cannot use {e:?} encoding; use binary or hex"),
                    ));
                }
                (_, DataEncoding::Binary | DataEncoding::Hex) => {
                    return Err(fail(
                        n,
                        f,
                        format!(
                            "{} data cannot use {:?} encoding; only type b can",
                            f.kind.as_str(),
                            f.encoding
                        ),
                    ));
                }
                (k, DataEncoding::Bcd) if !k.is_numeric() => {
                    return Err(fail(
                        n,
                        f,
                        format!(
                            "{} data cannot be packed as BCD; only n, z and x+n can",
                            k.as_str()
                        ),
                    ));
                }
                _ => {}
            }
            if matches!(f.subfields, Subfields::Tlv) && f.kind != FieldKind::B {
                return Err(fail(n, f, "TLV subfields need a binary (b) field".into()));
            }
            let max = f.length.max();
            if f.wire_len(f.logical_chars(max)) > usize::from(u16::MAX) {
                return Err(fail(
                    n,
                    f,
                    format!("maximum length {max} is over 65535 bytes on the wire"),
                ));
            }
            if max == 0 {
                return Err(fail(n, f, "the length must be at least 1".into()));
            }
            let odd_bcd = |chars: usize| {
                f.encoding == DataEncoding::Bcd && {
                    let digits = if f.kind == FieldKind::XN {
                        chars.saturating_sub(1)
                    } else {
                        chars
                    };
                    digits % 2 == 1
                }
            };
            match f.length {
                Length::Fixed(len) => {
                    if odd_bcd(f.logical_chars(len)) && f.pad.is_none() {
                        return Err(fail(
                            n,
                            f,
                            format!("fixed BCD length {len} is odd and no pad nibble is set"),
                        ));
                    }
                }
                Length::Variable { digits, max } => {
                    if !(2..=4).contains(&digits) {
                        return Err(fail(
                            n,
                            f,
                            format!("a length prefix has 2, 3 or 4 digits, not {digits}"),
                        ));
                    }
                    let cap = f.prefix.capacity(digits);
                    let chars = f.logical_chars(max);
                    let needed = match f.unit {
                        LengthUnit::Chars | LengthUnit::Digits => {
                            if f.encoding == DataEncoding::Hex {
                                chars * 2
                            } else {
                                chars
                            }
                        }
                        LengthUnit::Bytes if f.encoding == DataEncoding::Hex => chars,
                        LengthUnit::Bytes => f.wire_len(chars),
                    };
                    if needed > cap {
                        return Err(fail(
                            n,
                            f,
                            format!(
                                "maximum length {max} needs a prefix of {needed} but a {}-digit {:?} prefix holds at most {cap}",
                                digits, f.prefix
                            ),
                        ));
                    }
                    if f.pad.is_none()
                        && f.encoding == DataEncoding::Bcd
                        && f.unit != LengthUnit::Bytes
                    {
                        return Err(fail(n, f, "variable BCD data needs a pad nibble for odd lengths (or a byte-counted prefix)".into()));
                    }
                    if f.unit == LengthUnit::Bytes
                        && f.encoding == DataEncoding::Bcd
                        && f.kind == FieldKind::XN
                    {
                        return Err(fail(
                            n,
                            f,
                            "x+n in BCD cannot have a byte-counted prefix".into(),
                        ));
                    }
                    if f.unit == LengthUnit::Digits && !f.kind.is_numeric() {
                        return Err(fail(
                            n,
                            f,
                            "a digit-counted prefix needs numeric data (n, z, x+n)".into(),
                        ));
                    }
                }
            }
            if let Subfields::Positional(parts) = &f.subfields {
                if parts.is_empty() {
                    return Err(fail(
                        n,
                        f,
                        "positional subfields listed but none given".into(),
                    ));
                }
                let total: usize = parts.iter().map(|p| p.len as usize).sum();
                if parts.iter().any(|p| p.len == 0) {
                    return Err(fail(n, f, "a subfield has length 0".into()));
                }
                if total > f.logical_chars(max) {
                    return Err(fail(
                        n,
                        f,
                        format!("subfields add up to {total}, more than the field's maximum {max}"),
                    ));
                }
            }
        }
        if self.header.text && self.header.length == 0 {
            return Err(SpecError::Spec {
                spec: self.name.clone(),
                reason: "a text header needs a length".into(),
            });
        }
        Ok(())
    }
}
