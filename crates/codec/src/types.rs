//! Small wire types: field numbers, the MTI and bitmaps.

use core::fmt;

/// A data element number, 1 to 192.
///
/// Field 1 is the secondary-bitmap indicator; in specs with a tertiary
/// bitmap, field 65 is the tertiary-bitmap indicator.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldNo(u8);

impl FieldNo {
    /// The highest field number any bitmap can address (three bitmaps).
    pub const MAX: u8 = 192;

    /// A field number, if it is within 1..=192.
    pub const fn new(n: u16) -> Option<Self> {
        if n >= 1 && n <= Self::MAX as u16 {
            Some(Self(n as u8))
        } else {
            None
        }
    }

    /// The number as an integer.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// The field at zero-based index `i` of a 192-entry table (`i` below
    /// 192).
    #[inline(always)]
    pub(crate) const fn from_index(i: usize) -> Self {
        Self(i.wrapping_add(1) as u8)
    }

    /// Zero-based index into a 192-entry table.
    pub(crate) const fn index(self) -> usize {
        self.0 as usize - 1
    }
}

impl fmt::Debug for FieldNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "F{}", self.0)
    }
}

impl fmt::Display for FieldNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The message type indicator: four decimal digits.
///
/// ```
/// use cardwire_codec::{Mti, MtiClass, MtiFunction};
/// let mti: Mti = "0200".parse().unwrap();
/// assert_eq!(mti.class(), MtiClass::Financial);
/// assert_eq!(mti.function(), MtiFunction::Request);
/// assert_eq!(mti.response().to_string(), "0210");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mti([u8; 4]);

/// An MTI that is not four ASCII digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an MTI is four decimal digits")]
pub struct MtiError;

impl Mti {
    /// A placeholder (zero bytes, so that a zeroed layout is all zero),
    /// never shown: decoding replaces it or fails.
    pub(crate) const ZERO: Mti = Mti([0; 4]);

    /// An MTI from four ASCII digits.
    ///
    /// # Errors
    /// [`MtiError`] when a byte is not an ASCII digit.
    #[inline]
    pub fn from_digits(d: [u8; 4]) -> Result<Self, MtiError> {
        if d.iter().all(u8::is_ascii_digit) {
            Ok(Self(d))
        } else {
            Err(MtiError)
        }
    }

    /// The four ASCII digits.
    pub const fn digits(&self) -> [u8; 4] {
        self.0
    }

    /// The MTI as a string slice.
    pub fn as_str(&self) -> &str {
        // Invariant: all four bytes are ASCII digits.
        core::str::from_utf8(&self.0).unwrap_or("????")
    }

    fn digit(&self, i: usize) -> u8 {
        self.0[i] - b'0'
    }

    /// Position 1: the version of ISO 8583.
    pub fn version(&self) -> MtiVersion {
        match self.digit(0) {
            0 => MtiVersion::Iso1987,
            1 => MtiVersion::Iso1993,
            2 => MtiVersion::Iso2003,
            8 => MtiVersion::National,
            9 => MtiVersion::Private,
            d => MtiVersion::Reserved(d),
        }
    }

    /// Position 2: the message class.
    pub fn class(&self) -> MtiClass {
        match self.digit(1) {
            1 => MtiClass::Authorization,
            2 => MtiClass::Financial,
            3 => MtiClass::FileAction,
            4 => MtiClass::Reversal,
            5 => MtiClass::Reconciliation,
            6 => MtiClass::Administrative,
            7 => MtiClass::FeeCollection,
            8 => MtiClass::NetworkManagement,
            d => MtiClass::Reserved(d),
        }
    }

    /// Position 3: the message function.
    pub fn function(&self) -> MtiFunction {
        match self.digit(2) {
            0 => MtiFunction::Request,
            1 => MtiFunction::RequestResponse,
            2 => MtiFunction::Advice,
            3 => MtiFunction::AdviceResponse,
            4 => MtiFunction::Notification,
            5 => MtiFunction::NotificationAck,
            6 => MtiFunction::Instruction,
            7 => MtiFunction::InstructionAck,
            d => MtiFunction::Reserved(d),
        }
    }

    /// Position 4: the message origin.
    pub fn origin(&self) -> MtiOrigin {
        match self.digit(3) {
            0 => MtiOrigin::Acquirer,
            1 => MtiOrigin::AcquirerRepeat,
            2 => MtiOrigin::Issuer,
            3 => MtiOrigin::IssuerRepeat,
            4 => MtiOrigin::Other,
            5 => MtiOrigin::OtherRepeat,
            d => MtiOrigin::Reserved(d),
        }
    }

    /// True for request, advice, notification and instruction messages
    /// (an even function digit).
    pub fn is_request(&self) -> bool {
        self.digit(2) % 2 == 0
    }

    /// True for responses and acknowledgements (an odd function digit).
    pub fn is_response(&self) -> bool {
        !self.is_request()
    }

    /// The matching response MTI: function digit plus one, origin
    /// repeat cleared (0200 -> 0210, 0421 -> 0430). A response maps to
    /// itself.
    pub fn response(&self) -> Mti {
        let mut d = self.0;
        if self.is_request() {
            d[2] += 1;
        }
        d[3] = b'0' + (self.digit(3) & !1);
        Mti(d)
    }

    /// The repeat form of a request (0420 -> 0421).
    pub fn repeat(&self) -> Mti {
        let mut d = self.0;
        d[3] = b'0' + (self.digit(3) | 1).min(9);
        Mti(d)
    }
}

impl core::str::FromStr for Mti {
    type Err = MtiError;
    fn from_str(s: &str) -> Result<Self, MtiError> {
        let b: [u8; 4] = s.as_bytes().try_into().map_err(|_| MtiError)?;
        Mti::from_digits(b)
    }
}

impl fmt::Display for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mti({})", self.as_str())
    }
}

/// MTI position 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MtiVersion {
    /// 0: ISO 8583:1987.
    Iso1987,
    /// 1: ISO 8583:1993.
    Iso1993,
    /// 2: ISO 8583:2003.
    Iso2003,
    /// 8: national use.
    National,
    /// 9: private use.
    Private,
    /// 3-7: reserved.
    Reserved(u8),
}

/// MTI position 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MtiClass {
    /// 1: authorization.
    Authorization,
    /// 2: financial presentment.
    Financial,
    /// 3: file actions.
    FileAction,
    /// 4: reversals and chargebacks.
    Reversal,
    /// 5: reconciliation (settlement).
    Reconciliation,
    /// 6: administrative.
    Administrative,
    /// 7: fee collection.
    FeeCollection,
    /// 8: network management.
    NetworkManagement,
    /// 0 or 9: reserved.
    Reserved(u8),
}

/// MTI position 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MtiFunction {
    /// 0
    Request,
    /// 1
    RequestResponse,
    /// 2
    Advice,
    /// 3
    AdviceResponse,
    /// 4
    Notification,
    /// 5
    NotificationAck,
    /// 6
    Instruction,
    /// 7
    InstructionAck,
    /// 8-9: reserved.
    Reserved(u8),
}

/// MTI position 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MtiOrigin {
    /// 0
    Acquirer,
    /// 1
    AcquirerRepeat,
    /// 2
    Issuer,
    /// 3
    IssuerRepeat,
    /// 4
    Other,
    /// 5
    OtherRepeat,
    /// 6-9: reserved.
    Reserved(u8),
}

/// Up to three 64-bit bitmaps. Bit 1 is the most significant bit of the
/// first byte of the primary bitmap.
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Bitmap([u64; 3]);

impl Bitmap {
    /// An empty bitmap.
    pub const fn new() -> Self {
        Self([0; 3])
    }

    /// The bitmap words: primary, secondary, tertiary.
    pub const fn words(&self) -> [u64; 3] {
        self.0
    }

    /// A bitmap from its three words.
    pub const fn from_words(w: [u64; 3]) -> Self {
        Self(w)
    }

    fn pos(n: FieldNo) -> (usize, u32) {
        let i = n.index();
        (i / 64, 63 - (i % 64) as u32)
    }

    /// Whether bit `n` is set.
    pub fn is_set(&self, n: FieldNo) -> bool {
        let (w, b) = Self::pos(n);
        self.0[w] >> b & 1 == 1
    }

    /// Sets bit `n`.
    pub fn set(&mut self, n: FieldNo) {
        let (w, b) = Self::pos(n);
        self.0[w] |= 1 << b;
    }

    /// Clears bit `n`.
    pub fn clear(&mut self, n: FieldNo) {
        let (w, b) = Self::pos(n);
        self.0[w] &= !(1 << b);
    }

    /// How many bits below `n` are set (the field's rank in the message).
    pub(crate) fn rank(&self, n: FieldNo) -> usize {
        let (w, b) = Self::pos(n);
        let mut r = 0;
        for word in &self.0[..w] {
            r += word.count_ones() as usize;
        }
        // Bits strictly before `n` in word `w` are the ones above bit `b`.
        let above = if b == 63 { 0 } else { self.0[w] >> (b + 1) };
        r + above.count_ones() as usize
    }

    /// The set bits, in ascending order.
    pub fn iter(&self) -> BitmapIter {
        BitmapIter {
            words: self.0,
            word: 0,
        }
    }

    /// The number of set bits.
    pub fn count(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }
}

impl fmt::Debug for Bitmap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|n| n.get()))
            .finish()
    }
}

/// Iterator over the set bits of a [`Bitmap`].
#[derive(Debug, Clone)]
pub struct BitmapIter {
    words: [u64; 3],
    word: usize,
}

impl Iterator for BitmapIter {
    type Item = FieldNo;
    fn next(&mut self) -> Option<FieldNo> {
        while self.word < 3 {
            let w = self.words[self.word];
            if w != 0 {
                let lz = w.leading_zeros();
                self.words[self.word] &= !(1u64 << (63 - lz));
                return FieldNo::new((self.word as u32 * 64 + lz + 1) as u16);
            }
            self.word += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(n: u16) -> FieldNo {
        FieldNo::new(n).unwrap()
    }

    #[test]
    fn bitmap_iterates_in_wire_order_and_ranks_fields() {
        let mut b = Bitmap::new();
        for n in [2, 3, 64, 65, 128, 129, 192] {
            b.set(f(n));
        }
        let got: Vec<u8> = b.iter().map(FieldNo::get).collect();
        assert_eq!(got, vec![2, 3, 64, 65, 128, 129, 192]);
        assert_eq!(b.rank(f(2)), 0);
        assert_eq!(b.rank(f(64)), 2);
        assert_eq!(b.rank(f(129)), 5);
        assert_eq!(b.rank(f(192)), 6);
        assert_eq!(b.words()[0] >> 62, 0b01);
    }

    #[test]
    fn mti_parts_and_response() {
        let m: Mti = "0421".parse().unwrap();
        assert_eq!(m.class(), MtiClass::Reversal);
        assert_eq!(m.function(), MtiFunction::Advice);
        assert_eq!(m.origin(), MtiOrigin::AcquirerRepeat);
        assert_eq!(m.response().as_str(), "0430");
        assert_eq!("0420".parse::<Mti>().unwrap().repeat().as_str(), "0421");
        assert!("02x0".parse::<Mti>().is_err());
        assert!("020".parse::<Mti>().is_err());
    }
}
