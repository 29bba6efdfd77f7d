//! ISO 9564-1 PIN blocks, formats 0, 1 and 3.
//!
//! ```text
//!  nibble   0   1   2   3   4   5   6   7   8   9  10  11  12  13  14  15
//!         +---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+
//!  PIN    | C | L | P | P | P | P |P/F|P/F|P/F|P/F|P/F|P/F|P/F|P/F| F | F |
//!         +---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+
//!  PAN    | 0 | 0 | 0 | 0 |A1 |A2 |A3 |A4 |A5 |A6 |A7 |A8 |A9 |A10|A11|A12|
//!         +---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+
//!
//!  C  control: 0, 1 or 3        L  PIN length 4..=12      P  PIN digit
//!  F  fill: format 0 `F`, format 1 any nibble (random or transaction
//!     unique), format 3 random `A`..`F`
//!  A1..A12  the 12 rightmost PAN digits without the check digit
//!
//!  format 0 and 3 block = PIN field XOR PAN field; format 1 = PIN field
//! ```
//!
//! The clear block is then encrypted under the PIN key (PIK) with DES or
//! 3DES in ECB mode and travels in field 52.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::{DesKey, PinBlockDefect, RandomSource, SecurityError};

/// An ISO 9564-1 PIN block format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinBlockFormat {
    /// Format 0 (ANSI X9.8, VISA-1, ECI-1): PIN with `F` fill, XOR PAN.
    Iso0,
    /// Format 1: PIN with random or transaction-unique fill, no PAN.
    Iso1,
    /// Format 3: PIN with random `A`..`F` fill, XOR PAN.
    Iso3,
}

impl PinBlockFormat {
    /// The control nibble (0, 1 or 3), which is also the format number.
    #[must_use]
    pub const fn control(self) -> u8 {
        match self {
            Self::Iso0 => 0,
            Self::Iso1 => 1,
            Self::Iso3 => 3,
        }
    }

    /// Whether the PAN is mixed into the block.
    #[must_use]
    pub const fn uses_pan(self) -> bool {
        matches!(self, Self::Iso0 | Self::Iso3)
    }
}

impl fmt::Display for PinBlockFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ISO 9564 format {}", self.control())
    }
}

/// Decimal digits kept as a secret, what [`Pin`] and [`Pan`] hold: up to
/// `N` in a fixed buffer (no heap copy to forget), wiped on drop.
#[derive(Clone)]
struct SecretDigits<const N: usize> {
    digits: [u8; N],
    len: usize,
}

/// Why text is not [`SecretDigits`]: its length, or where a non-digit is.
enum NotDigits {
    Length(usize),
    NonDigit(usize),
}

impl<const N: usize> SecretDigits<N> {
    /// `text` when it is `min..=N` ASCII digits.
    fn parse(text: &str, min: usize) -> Result<Self, NotDigits> {
        let bytes = text.as_bytes();
        if !(min..=N).contains(&bytes.len()) {
            return Err(NotDigits::Length(bytes.len()));
        }
        if let Some(index) = bytes.iter().position(|c| !c.is_ascii_digit()) {
            return Err(NotDigits::NonDigit(index));
        }
        let mut digits = [0u8; N];
        digits[..bytes.len()].copy_from_slice(bytes);
        Ok(Self {
            digits,
            len: bytes.len(),
        })
    }

    /// The digits in use, as ASCII.
    fn as_bytes(&self) -> &[u8] {
        &self.digits[..self.len]
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored, so this cannot fall back.
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl<const N: usize> Drop for SecretDigits<N> {
    fn drop(&mut self) {
        self.digits.zeroize();
    }
}

/// A cardholder PIN of 4 to 12 decimal digits.
///
/// Wiped on drop; `Debug` prints `Pin(<redacted>)`, not even the length.
#[derive(Clone)]
pub struct Pin(SecretDigits<12>);

impl Pin {
    /// Validates and stores a PIN.
    ///
    /// # Errors
    ///
    /// [`SecurityError::PinLength`] outside 4..=12 characters,
    /// [`SecurityError::PinNotNumeric`] (with the index) for a non-digit.
    ///
    /// # Example
    ///
    /// ```
    /// use cardwire_security::Pin;
    ///
    /// let pin = Pin::new("1234")?;
    /// assert_eq!(format!("{pin:?}"), "Pin(<redacted>)");
    /// assert!(Pin::new("123").is_err());
    /// assert!(Pin::new("12a4").is_err());
    /// # Ok::<(), cardwire_security::SecurityError>(())
    /// ```
    pub fn new(pin: &str) -> Result<Self, SecurityError> {
        SecretDigits::parse(pin, 4).map(Self).map_err(|e| match e {
            NotDigits::Length(len) => SecurityError::PinLength { len },
            NotDigits::NonDigit(index) => SecurityError::PinNotNumeric { index },
        })
    }

    /// Number of digits (4..=12).
    #[must_use]
    pub fn digit_count(&self) -> usize {
        self.0.len
    }

    /// The PIN as ASCII digits. Never log the result.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        self.0.as_str()
    }

    /// Constant-time equality (length is compared first; it leaks only
    /// whether the lengths differ).
    #[must_use]
    pub fn ct_eq(&self, other: &Pin) -> bool {
        self.0.len == other.0.len && bool::from(self.0.digits.ct_eq(&other.0.digits))
    }
}

/// The digits are wiped when the PIN is dropped.
impl zeroize::ZeroizeOnDrop for Pin {}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

/// A primary account number of 8 to 19 digits, check digit included.
///
/// Wiped on drop. `Debug` and `Display` show at most the first 6 and last
/// 4 digits (`622588******1234`); PANs shorter than 13 digits show only the
/// last 4.
#[derive(Clone)]
pub struct Pan(SecretDigits<19>);

impl Pan {
    /// Validates and stores a PAN (digits only, check digit included; the
    /// check digit is not verified, test PANs often fail Luhn).
    ///
    /// # Errors
    ///
    /// [`SecurityError::PanLength`] outside 8..=19 characters,
    /// [`SecurityError::PanNotNumeric`] (with the index) for a non-digit.
    ///
    /// # Example
    ///
    /// ```
    /// use cardwire_security::Pan;
    ///
    /// let pan = Pan::new("6225880112345678")?;
    /// assert_eq!(pan.to_string(), "622588******5678");
    /// # Ok::<(), cardwire_security::SecurityError>(())
    /// ```
    pub fn new(pan: &str) -> Result<Self, SecurityError> {
        SecretDigits::parse(pan, 8).map(Self).map_err(|e| match e {
            NotDigits::Length(len) => SecurityError::PanLength { len },
            NotDigits::NonDigit(index) => SecurityError::PanNotNumeric { index },
        })
    }

    /// Number of digits.
    #[must_use]
    pub fn digit_count(&self) -> usize {
        self.0.len
    }

    /// The full PAN. Never log the result; use `Display` instead.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        self.0.as_str()
    }

    /// The ISO 9564 account number field: `0000` then the 12 rightmost
    /// digits excluding the check digit, left-padded with zeros, packed as 8
    /// bytes.
    #[must_use]
    pub fn account_field(&self) -> [u8; 8] {
        let all = self.0.as_bytes();
        let body = &all[..all.len().saturating_sub(1)];
        let take = body.len().min(12);
        let digits = &body[body.len() - take..];
        let mut nibbles = [0u8; 16];
        for (slot, d) in nibbles[16 - take..].iter_mut().zip(digits) {
            *slot = d - b'0';
        }
        pack(&nibbles)
    }
}

/// The digits are wiped when the PAN is dropped.
impl zeroize::ZeroizeOnDrop for Pan {}

impl fmt::Display for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.as_bytes();
        let (head, tail) = if digits.len() >= 13 { (6, 4) } else { (0, 4) };
        for (i, d) in digits.iter().enumerate() {
            if i < head || i >= digits.len() - tail {
                write!(f, "{}", char::from(*d))?;
            } else {
                f.write_str("*")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pan({self})")
    }
}

/// A PIN block in clear: the 8 bytes before encryption under the PIK.
///
/// Wiped on drop; `Debug` prints `ClearPinBlock(<redacted>)`.
#[derive(Clone)]
pub struct ClearPinBlock([u8; 8]);

impl ClearPinBlock {
    /// Builds the clear PIN block of `format` for `pin`.
    ///
    /// `pan` is required for formats 0 and 3 and ignored by format 1. Fill
    /// nibbles of formats 1 and 3 come from `rng`: format 1 uses the low
    /// nibble of one byte per fill nibble, format 3 maps one byte to
    /// `A`..`F` as `0xA + byte % 6`, discarding bytes 252..=255 so that the
    /// six values stay equally likely. Format 0 reads nothing from `rng`.
    ///
    /// # Errors
    ///
    /// [`SecurityError::PanRequired`] for format 0 or 3 without a PAN,
    /// [`SecurityError::Random`] if `rng` fails.
    ///
    /// # Example
    ///
    /// ```
    /// use cardwire_security::{ClearPinBlock, FixedBytes, Pan, Pin, PinBlockFormat};
    ///
    /// // IDTech's published ISO-0 example.
    /// let pin = Pin::new("1234")?;
    /// let pan = Pan::new("43219876543210987")?;
    /// let block = ClearPinBlock::build(PinBlockFormat::Iso0, &pin, Some(&pan), &mut FixedBytes::new(&[]))?;
    /// assert_eq!(block.expose_secret(), &[0x04, 0x12, 0xAC, 0x89, 0xAB, 0xCD, 0xEF, 0x67]);
    /// assert_eq!(block.extract_pin(PinBlockFormat::Iso0, Some(&pan))?.expose_secret(), "1234");
    /// # Ok::<(), cardwire_security::SecurityError>(())
    /// ```
    pub fn build(
        format: PinBlockFormat,
        pin: &Pin,
        pan: Option<&Pan>,
        rng: &mut impl RandomSource,
    ) -> Result<Self, SecurityError> {
        let account = account_field_for(format, pan)?;
        let mut nibbles = [0u8; 16];
        nibbles[0] = format.control();
        // PIN length is 4..=12 by construction of `Pin`.
        let digits = pin.0.as_bytes();
        nibbles[1] = digits.len() as u8;
        for (slot, d) in nibbles[2..].iter_mut().zip(digits) {
            *slot = d - b'0';
        }
        let fill = &mut nibbles[2 + digits.len()..];
        let filled = match format {
            PinBlockFormat::Iso0 => {
                fill.fill(0xF);
                Ok(())
            }
            PinBlockFormat::Iso1 => fill_any(fill, rng),
            PinBlockFormat::Iso3 => fill_a_to_f(fill, rng),
        };
        let mut block = pack(&nibbles);
        nibbles.zeroize();
        filled?;
        for (b, a) in block.iter_mut().zip(account) {
            *b ^= a;
        }
        Ok(Self(block))
    }

    /// Wraps 8 clear bytes (for example from a test vector or an HSM).
    #[must_use]
    pub fn from_bytes(bytes: [u8; 8]) -> Self {
        Self(bytes)
    }

    /// The clear block. Never log the result.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8; 8] {
        &self.0
    }

    /// Encrypts the block under the PIN key (DES or 3DES ECB).
    #[must_use]
    pub fn encrypt(&self, pik: &DesKey) -> EncryptedPinBlock {
        let mut block = self.0;
        pik.encrypt_block(&mut block);
        EncryptedPinBlock(block)
    }

    /// Checks the block against `format` and returns the PIN it carries.
    ///
    /// # Errors
    ///
    /// [`SecurityError::PanRequired`] for format 0 or 3 without a PAN, or
    /// [`SecurityError::InvalidPinBlock`] naming the defect: wrong control
    /// nibble, PIN length outside 4..=12, a non-digit PIN nibble, a bad
    /// fill nibble, or (format 0 only) a block that is well formed for some
    /// other PAN but not for `pan` ([`PinBlockDefect::PanMismatch`]). A
    /// wrong PAN cannot be told from corruption in format 3, whose fill is
    /// random; it then shows as a bad PIN or fill nibble at index 4 or
    /// later.
    pub fn extract_pin(
        &self,
        format: PinBlockFormat,
        pan: Option<&Pan>,
    ) -> Result<Pin, SecurityError> {
        let account = account_field_for(format, pan)?;
        let mut raw = unpack(&self.0);
        let result = decode(format, &raw, &unpack(&account));
        raw.zeroize();
        result.map_err(SecurityError::InvalidPinBlock)
    }
}

impl Drop for ClearPinBlock {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl zeroize::ZeroizeOnDrop for ClearPinBlock {}

impl fmt::Debug for ClearPinBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClearPinBlock(<redacted>)")
    }
}

/// A PIN block encrypted under the PIK: the 8 bytes of field 52.
///
/// `Debug` prints `EncryptedPinBlock(<redacted>)`: PCI DSS forbids logging
/// PIN blocks, encrypted ones included.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptedPinBlock([u8; 8]);

impl EncryptedPinBlock {
    /// Wraps the 8 bytes of field 52.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 8]) -> Self {
        Self(bytes)
    }

    /// Wraps field 52 from a slice.
    ///
    /// # Errors
    ///
    /// [`SecurityError::PinBlockLength`] unless `bytes` is 8 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, SecurityError> {
        <[u8; 8]>::try_from(bytes)
            .map(Self)
            .map_err(|_| SecurityError::PinBlockLength { len: bytes.len() })
    }

    /// The bytes to put in field 52.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }

    /// Decrypts under the PIN key.
    #[must_use]
    pub fn decrypt(&self, pik: &DesKey) -> ClearPinBlock {
        let mut block = self.0;
        pik.decrypt_block(&mut block);
        ClearPinBlock(block)
    }
}

impl fmt::Debug for EncryptedPinBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptedPinBlock(<redacted>)")
    }
}

/// Builds the PIN block of `format` and encrypts it under `pik`: what a
/// terminal puts in field 52.
///
/// # Errors
///
/// As [`ClearPinBlock::build`].
///
/// # Example
///
/// ```
/// # #[cfg(feature = "os-rng")] {
/// use cardwire_security::{decrypt_pin, encrypt_pin, DesKey, OsRandom, Pan, Pin, PinBlockFormat};
///
/// let pik = DesKey::from_hex("0123456789ABCDEFFEDCBA9876543210")?;
/// let pan = Pan::new("6225880112345678")?;
/// let pin = Pin::new("123456")?;
/// let field52 = encrypt_pin(&pik, PinBlockFormat::Iso3, &pin, Some(&pan), &mut OsRandom)?;
/// let back = decrypt_pin(&pik, PinBlockFormat::Iso3, &field52, Some(&pan))?;
/// assert!(back.ct_eq(&pin));
/// # }
/// # Ok::<(), cardwire_security::SecurityError>(())
/// ```
pub fn encrypt_pin(
    pik: &DesKey,
    format: PinBlockFormat,
    pin: &Pin,
    pan: Option<&Pan>,
    rng: &mut impl RandomSource,
) -> Result<EncryptedPinBlock, SecurityError> {
    Ok(ClearPinBlock::build(format, pin, pan, rng)?.encrypt(pik))
}

/// Decrypts field 52 under `pik` and extracts the PIN: what a host does.
///
/// # Errors
///
/// As [`ClearPinBlock::extract_pin`]; a wrong key almost always shows as
/// [`PinBlockDefect::ControlNibble`] or [`PinBlockDefect::PinLength`].
pub fn decrypt_pin(
    pik: &DesKey,
    format: PinBlockFormat,
    block: &EncryptedPinBlock,
    pan: Option<&Pan>,
) -> Result<Pin, SecurityError> {
    block.decrypt(pik).extract_pin(format, pan)
}

/// Whether field 52 carries `expected`, compared in constant time.
///
/// # Errors
///
/// As [`decrypt_pin`] when the block is malformed: a malformed block is an
/// error, a well-formed block with another PIN is `Ok(false)`.
///
/// # Example
///
/// ```
/// use cardwire_security::{encrypt_pin, verify_pin, DesKey, FixedBytes, Pan, Pin, PinBlockFormat};
///
/// let pik = DesKey::from_hex("0123456789ABCDEF")?;
/// let pan = Pan::new("4000001234562")?;
/// let block = encrypt_pin(&pik, PinBlockFormat::Iso0, &Pin::new("92389")?, Some(&pan), &mut FixedBytes::new(&[]))?;
/// assert!(verify_pin(&pik, PinBlockFormat::Iso0, &block, Some(&pan), &Pin::new("92389")?)?);
/// assert!(!verify_pin(&pik, PinBlockFormat::Iso0, &block, Some(&pan), &Pin::new("92388")?)?);
/// # Ok::<(), cardwire_security::SecurityError>(())
/// ```
pub fn verify_pin(
    pik: &DesKey,
    format: PinBlockFormat,
    block: &EncryptedPinBlock,
    pan: Option<&Pan>,
    expected: &Pin,
) -> Result<bool, SecurityError> {
    Ok(decrypt_pin(pik, format, block, pan)?.ct_eq(expected))
}

fn account_field_for(format: PinBlockFormat, pan: Option<&Pan>) -> Result<[u8; 8], SecurityError> {
    match (format.uses_pan(), pan) {
        (false, _) => Ok([0; 8]),
        (true, Some(pan)) => Ok(pan.account_field()),
        (true, None) => Err(SecurityError::PanRequired {
            format: format.control(),
        }),
    }
}

fn fill_any(fill: &mut [u8], rng: &mut impl RandomSource) -> Result<(), SecurityError> {
    rng.fill_bytes(fill)?;
    for n in fill.iter_mut() {
        *n &= 0x0F;
    }
    Ok(())
}

fn fill_a_to_f(fill: &mut [u8], rng: &mut impl RandomSource) -> Result<(), SecurityError> {
    for n in fill.iter_mut() {
        let mut byte = [0u8; 1];
        // 252 = 6 * 42: rejecting 252..=255 keeps `byte % 6` uniform.
        loop {
            rng.fill_bytes(&mut byte)?;
            if byte[0] < 252 {
                break;
            }
        }
        *n = 0xA + byte[0] % 6;
    }
    Ok(())
}

/// Validates a clear block given as nibbles; `account` is the PAN field
/// (all zero for format 1).
fn decode(
    format: PinBlockFormat,
    raw: &[u8; 16],
    account: &[u8; 16],
) -> Result<Pin, PinBlockDefect> {
    // Nibbles 0 and 1 are never touched by the PAN field.
    if raw[0] != format.control() {
        return Err(PinBlockDefect::ControlNibble {
            expected: format.control(),
            found: raw[0],
        });
    }
    let len = usize::from(raw[1]);
    if !(4..=12).contains(&len) {
        return Err(PinBlockDefect::PinLength { len: raw[1] });
    }
    let mut clear = [0u8; 16];
    for ((c, r), a) in clear.iter_mut().zip(raw).zip(account) {
        *c = r ^ a;
    }
    let defect = first_defect(format, &clear, len);
    let result = match defect {
        None => {
            let mut digits = [0u8; 12];
            for (d, n) in digits.iter_mut().zip(&clear[2..2 + len]) {
                *d = b'0' + n;
            }
            Ok(Pin(SecretDigits { digits, len }))
        }
        Some(defect) => Err(classify(format, raw, len, defect)),
    };
    clear.zeroize();
    result
}

fn first_defect(format: PinBlockFormat, clear: &[u8; 16], len: usize) -> Option<PinBlockDefect> {
    if let Some(i) = clear[2..2 + len].iter().position(|&n| n > 9) {
        return Some(PinBlockDefect::NonDigitPin { position: 2 + i });
    }
    let fill_ok = |n: u8| match format {
        PinBlockFormat::Iso0 => n == 0xF,
        PinBlockFormat::Iso1 => true,
        PinBlockFormat::Iso3 => n >= 0xA,
    };
    clear[2 + len..]
        .iter()
        .position(|&n| !fill_ok(n))
        .map(|i| PinBlockDefect::Fill {
            position: 2 + len + i,
        })
}

/// Turns a structural defect into [`PinBlockDefect::PanMismatch`] when the
/// block is consistent with another PAN. Only format 0 can show that: its
/// fill nibbles are `F` XOR a PAN digit, so every fill nibble of a block
/// built for some PAN must XOR `F` to a decimal digit.
fn classify(
    format: PinBlockFormat,
    raw: &[u8; 16],
    len: usize,
    defect: PinBlockDefect,
) -> PinBlockDefect {
    let position = match defect {
        PinBlockDefect::NonDigitPin { position } | PinBlockDefect::Fill { position } => position,
        other => return other,
    };
    let built_for_another_pan = format == PinBlockFormat::Iso0
        && position >= 4
        && raw[2 + len..].iter().all(|&n| (n ^ 0xF) <= 9);
    if built_for_another_pan {
        PinBlockDefect::PanMismatch { position }
    } else {
        defect
    }
}

fn pack(nibbles: &[u8; 16]) -> [u8; 8] {
    let mut out = [0u8; 8];
    for (o, pair) in out.iter_mut().zip(nibbles.chunks_exact(2)) {
        *o = (pair[0] << 4) | (pair[1] & 0x0F);
    }
    out
}

fn unpack(bytes: &[u8; 8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = b >> 4;
        pair[1] = b & 0x0F;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FixedBytes;

    fn block(hex: &str) -> ClearPinBlock {
        let mut b = [0u8; 8];
        let _ = hex::decode_to_slice(hex, &mut b);
        ClearPinBlock::from_bytes(b)
    }

    fn defect(r: Result<Pin, SecurityError>) -> Option<PinBlockDefect> {
        match r {
            Err(SecurityError::InvalidPinBlock(d)) => Some(d),
            _ => None,
        }
    }

    #[test]
    fn account_field_takes_12_digits_before_check_digit() -> Result<(), SecurityError> {
        let pan = Pan::new("43219876543210987")?;
        assert_eq!(hex::encode_upper(pan.account_field()), "0000987654321098");
        // Short PAN: 8 digits, 7 without check digit, right-justified.
        let pan = Pan::new("12345678")?;
        assert_eq!(hex::encode_upper(pan.account_field()), "0000000001234567");
        Ok(())
    }

    #[test]
    fn rejects_wrong_control_nibble() -> Result<(), SecurityError> {
        let pan = Pan::new("43219876543210987")?;
        let d = defect(block("0412AC89ABCDEF67").extract_pin(PinBlockFormat::Iso3, Some(&pan)));
        assert_eq!(
            d,
            Some(PinBlockDefect::ControlNibble {
                expected: 3,
                found: 0
            })
        );
        Ok(())
    }

    #[test]
    fn rejects_bad_pin_length() {
        for hex in ["1312345FFFFFFFFF", "1D1234FFFFFFFFFF"] {
            let d = defect(block(hex).extract_pin(PinBlockFormat::Iso1, None));
            assert!(matches!(d, Some(PinBlockDefect::PinLength { .. })), "{hex}");
        }
    }

    #[test]
    fn rejects_non_digit_pin_nibble() {
        let d = defect(block("14123A6ABCFDE1FF").extract_pin(PinBlockFormat::Iso1, None));
        assert_eq!(d, Some(PinBlockDefect::NonDigitPin { position: 5 }));
    }

    #[test]
    fn rejects_bad_fill() -> Result<(), SecurityError> {
        // Format 3 fill must be A..F: a 5 in the fill is corruption.
        let d = defect(
            block("341234AAAAAAAA5A")
                .extract_pin(PinBlockFormat::Iso3, Some(&Pan::new("0000000000000")?)),
        );
        assert_eq!(d, Some(PinBlockDefect::Fill { position: 14 }));
        // Format 0 fill nibble that no PAN digit explains (F XOR 0 .. F XOR 9
        // is F..6, so 0..5 cannot come from any PAN).
        let d = defect(
            block("041234FFFFFFFF0F")
                .extract_pin(PinBlockFormat::Iso0, Some(&Pan::new("0000000000000")?)),
        );
        assert_eq!(d, Some(PinBlockDefect::Fill { position: 14 }));
        Ok(())
    }

    #[test]
    fn detects_format0_pan_mismatch() -> Result<(), SecurityError> {
        let pin = Pin::new("1234")?;
        let built = ClearPinBlock::build(
            PinBlockFormat::Iso0,
            &pin,
            Some(&Pan::new("4321987654321098")?),
            &mut FixedBytes::new(&[]),
        )?;
        let other = Pan::new("4321987654329998")?;
        let d = defect(built.extract_pin(PinBlockFormat::Iso0, Some(&other)));
        assert!(
            matches!(d, Some(PinBlockDefect::PanMismatch { .. })),
            "{d:?}"
        );
        Ok(())
    }

    #[test]
    fn pan_required_for_formats_0_and_3() -> Result<(), SecurityError> {
        let pin = Pin::new("1234")?;
        for format in [PinBlockFormat::Iso0, PinBlockFormat::Iso3] {
            let r = ClearPinBlock::build(format, &pin, None, &mut FixedBytes::new(&[0; 16]));
            assert_eq!(
                r.err(),
                Some(SecurityError::PanRequired {
                    format: format.control()
                })
            );
        }
        Ok(())
    }

    #[test]
    fn format3_fill_rejects_biased_bytes() -> Result<(), SecurityError> {
        let pin = Pin::new("123456789012")?;
        // 0xFC..=0xFF are skipped; 0x00 -> A, 0x05 -> F.
        let fill = [0xFC, 0xFF, 0x00, 0x05];
        let b = ClearPinBlock::build(
            PinBlockFormat::Iso1,
            &pin,
            None,
            &mut FixedBytes::new(&[0x0A, 0x0B]),
        )?;
        assert_eq!(hex::encode_upper(b.expose_secret()), "1C123456789012AB");
        let zero_pan = Pan::new("0000000000000")?;
        let b = ClearPinBlock::build(
            PinBlockFormat::Iso3,
            &pin,
            Some(&zero_pan),
            &mut FixedBytes::new(&fill),
        )?;
        assert_eq!(hex::encode_upper(b.expose_secret()), "3C123456789012AF");
        Ok(())
    }

    #[test]
    fn pan_display_masks_middle_digits() -> Result<(), SecurityError> {
        assert_eq!(
            Pan::new("6225880112345678")?.to_string(),
            "622588******5678"
        );
        assert_eq!(
            Pan::new("6225880112345678901")?.to_string(),
            "622588*********8901"
        );
        assert_eq!(Pan::new("4000001234562")?.to_string(), "400000***4562");
        assert_eq!(Pan::new("123456789012")?.to_string(), "********9012");
        Ok(())
    }
}
