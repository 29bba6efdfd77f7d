//! DES and triple-DES keys that never print in clear.

use core::fmt;

use des::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use des::{Des, TdesEde2, TdesEde3};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::{RandomSource, SecurityError};

/// The length of a DES-family key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyLength {
    /// Single-length DES key, 8 bytes.
    Single,
    /// Double-length 3DES key (K1 K2 K1), 16 bytes.
    Double,
    /// Triple-length 3DES key (K1 K2 K3), 24 bytes.
    Triple,
}

impl KeyLength {
    /// Length in bytes: 8, 16 or 24.
    #[must_use]
    pub const fn bytes(self) -> usize {
        match self {
            Self::Single => 8,
            Self::Double => 16,
            Self::Triple => 24,
        }
    }

    /// The key length with `len` bytes, if there is one.
    #[must_use]
    pub const fn from_bytes(len: usize) -> Option<Self> {
        match len {
            8 => Some(Self::Single),
            16 => Some(Self::Double),
            24 => Some(Self::Triple),
            _ => None,
        }
    }
}

/// How many bytes of E(key, zeros) a key check value keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KcvLength {
    /// 3 bytes (6 hex digits), the ANSI X9.24 / PCI PIN convention.
    Three,
    /// 4 bytes (8 hex digits), what UnionPay field 62 carries.
    #[default]
    Four,
}

/// A key check value: the leftmost bytes of the key encrypting a zero block.
///
/// It identifies a key without revealing it, so it is safe to print.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kcv {
    bytes: [u8; 4],
    len: usize,
}

impl Kcv {
    #[cfg_attr(not(feature = "sm4"), allow(dead_code))]
    pub(crate) fn from_four(bytes: [u8; 4]) -> Self {
        Self { bytes, len: 4 }
    }

    /// The check value bytes (3 or 4).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Whether `other` (3 or 4 bytes, for example as received in field 62)
    /// equals this check value, compared in constant time.
    #[must_use]
    pub fn matches(&self, other: &[u8]) -> bool {
        bool::from(self.as_bytes().ct_eq(other))
    }
}

impl fmt::Display for Kcv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Kcv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kcv({self})")
    }
}

#[derive(Clone)]
enum Engine {
    Single(Des),
    Double(TdesEde2),
    Triple(TdesEde3),
}

/// A single, double or triple length DES key.
///
/// The key bytes are wiped when the value is dropped, and neither `Debug`
/// nor any error ever shows them: `Debug` prints only the length and the
/// key check value, e.g. `DesKey(16 bytes, kcv 08D7B4FB)`.
///
/// A 16-byte key is two-key triple DES (K1 K2 K1), a 24-byte key three-key
/// triple DES, both EDE, as in NIST SP 800-67.
///
/// # Example
///
/// ```
/// use cardwire_security::DesKey;
///
/// let key = DesKey::from_hex("0123456789ABCDEFFEDCBA9876543210")?;
/// assert_eq!(key.len(), 16);
/// assert_eq!(key.kcv().to_string(), "08D7B4FB");
/// assert_eq!(format!("{key:?}"), "DesKey(16 bytes, kcv 08D7B4FB)");
/// # Ok::<(), cardwire_security::SecurityError>(())
/// ```
#[derive(Clone)]
pub struct DesKey {
    bytes: [u8; 24],
    length: KeyLength,
    engine: Engine,
}

impl DesKey {
    /// A single-length DES key.
    #[must_use]
    pub fn single(bytes: [u8; 8]) -> Self {
        Self::build(&bytes, KeyLength::Single)
    }

    /// A double-length (two-key) triple-DES key.
    #[must_use]
    pub fn double(bytes: [u8; 16]) -> Self {
        Self::build(&bytes, KeyLength::Double)
    }

    /// A triple-length (three-key) triple-DES key.
    #[must_use]
    pub fn triple(bytes: [u8; 24]) -> Self {
        Self::build(&bytes, KeyLength::Triple)
    }

    /// A key from 8, 16 or 24 bytes.
    ///
    /// # Errors
    ///
    /// [`SecurityError::KeyLength`] for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SecurityError> {
        match KeyLength::from_bytes(bytes.len()) {
            Some(length) => Ok(Self::build(bytes, length)),
            None => Err(SecurityError::KeyLength {
                what: "DES key",
                len: bytes.len(),
                expected: "8, 16 or 24 bytes",
            }),
        }
    }

    /// A key from 16, 32 or 48 hex digits (either case).
    ///
    /// # Errors
    ///
    /// [`SecurityError::OddHexLength`], [`SecurityError::InvalidHex`] (the
    /// index of the bad character, never the character), or
    /// [`SecurityError::KeyLength`] for a well-formed string of the wrong
    /// size.
    ///
    /// # Example
    ///
    /// ```
    /// use cardwire_security::{DesKey, SecurityError};
    ///
    /// assert!(DesKey::from_hex("0123456789abcdef").is_ok());
    /// assert!(matches!(DesKey::from_hex("012"), Err(SecurityError::OddHexLength { .. })));
    /// assert!(matches!(DesKey::from_hex("0123456789ABCDEG"), Err(SecurityError::InvalidHex { index: 15, .. })));
    /// assert!(matches!(DesKey::from_hex("0123456789"), Err(SecurityError::KeyLength { len: 5, .. })));
    /// ```
    pub fn from_hex(hex: &str) -> Result<Self, SecurityError> {
        let mut buf = [0u8; 24];
        let len = decode_hex_into("DES key", hex, &mut buf)?;
        let key = match KeyLength::from_bytes(len) {
            Some(length) => Ok(Self::build(&buf[..len], length)),
            None => Err(SecurityError::KeyLength {
                what: "DES key",
                len,
                expected: "8, 16 or 24 bytes",
            }),
        };
        buf.zeroize();
        key
    }

    /// A fresh random key of `length`, with odd parity set on every byte.
    ///
    /// # Errors
    ///
    /// [`SecurityError::Random`] if `rng` fails.
    pub fn generate(length: KeyLength, rng: &mut impl RandomSource) -> Result<Self, SecurityError> {
        let mut buf = [0u8; 24];
        let n = length.bytes();
        let filled = rng.fill_bytes(&mut buf[..n]);
        let key = filled.map(|()| {
            set_odd_parity(&mut buf[..n]);
            Self::build(&buf[..n], length)
        });
        buf.zeroize();
        key
    }

    fn build(bytes: &[u8], length: KeyLength) -> Self {
        let mut buf = [0u8; 24];
        for (b, s) in buf.iter_mut().zip(bytes) {
            *b = *s;
        }
        let engine = match length {
            KeyLength::Single => {
                let mut k = prefix::<8>(&buf, 0);
                let e = Engine::Single(des_engine(&k));
                k.zeroize();
                e
            }
            KeyLength::Double => {
                let mut k = prefix::<16>(&buf, 0);
                let e = Engine::Double(tdes2_engine(&k));
                k.zeroize();
                e
            }
            KeyLength::Triple => Engine::Triple(tdes3_engine(&buf)),
        };
        Self {
            bytes: buf,
            length,
            engine,
        }
    }

    /// Key length in bytes: 8, 16 or 24.
    #[must_use]
    #[allow(clippy::len_without_is_empty)] // a key is never empty
    pub fn len(&self) -> usize {
        self.length.bytes()
    }

    /// Single, double or triple length.
    #[must_use]
    pub fn length(&self) -> KeyLength {
        self.length
    }

    /// The 4-byte key check value: E(key, 8 zero bytes), leftmost 4 bytes.
    #[must_use]
    pub fn kcv(&self) -> Kcv {
        self.kcv_with(KcvLength::Four)
    }

    /// The key check value truncated to `len`.
    #[must_use]
    pub fn kcv_with(&self, len: KcvLength) -> Kcv {
        let mut block = [0u8; 8];
        self.encrypt_block(&mut block);
        let mut bytes = [0u8; 4];
        bytes.copy_from_slice(&block[..4]);
        Kcv {
            bytes,
            len: match len {
                KcvLength::Three => 3,
                KcvLength::Four => 4,
            },
        }
    }

    /// Encrypts one 8-byte block in place (DES or 3DES EDE, ECB).
    pub fn encrypt_block(&self, block: &mut [u8; 8]) {
        let b = block.into();
        match &self.engine {
            Engine::Single(c) => c.encrypt_block(b),
            Engine::Double(c) => c.encrypt_block(b),
            Engine::Triple(c) => c.encrypt_block(b),
        }
    }

    /// Decrypts one 8-byte block in place (DES or 3DES EDE, ECB).
    pub fn decrypt_block(&self, block: &mut [u8; 8]) {
        let b = block.into();
        match &self.engine {
            Engine::Single(c) => c.decrypt_block(b),
            Engine::Double(c) => c.decrypt_block(b),
            Engine::Triple(c) => c.decrypt_block(b),
        }
    }

    /// Whether every byte has odd parity (an odd number of one bits), as
    /// DES keys conventionally do.
    #[must_use]
    pub fn has_odd_parity(&self) -> bool {
        self.expose_secret().iter().all(|b| b.count_ones() % 2 == 1)
    }

    /// The same key with the low bit of each byte adjusted to odd parity.
    /// DES ignores those bits, so the key encrypts exactly as before.
    #[must_use]
    pub fn with_odd_parity(&self) -> Self {
        let mut buf = self.bytes;
        set_odd_parity(&mut buf[..self.len()]);
        let key = Self::build(&buf[..self.len()], self.length);
        buf.zeroize();
        key
    }

    /// The clear key bytes.
    ///
    /// For loading a key into a device or wrapping it; never log the
    /// result.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8] {
        &self.bytes[..self.len()]
    }

    /// The leftmost 8 bytes (K1) as a single-length key.
    #[must_use]
    pub fn left_half(&self) -> DesKey {
        Self::build(&self.bytes[..8], KeyLength::Single)
    }

    /// K1 and K2 as single DES ciphers (K2 = K1 for a single-length key).
    pub(crate) fn k1_k2(&self) -> (Des, Des) {
        let mut k = prefix::<8>(&self.bytes, 0);
        let k1 = des_engine(&k);
        let k2 = match self.length {
            KeyLength::Single => k1.clone(),
            KeyLength::Double | KeyLength::Triple => {
                k = prefix::<8>(&self.bytes, 8);
                des_engine(&k)
            }
        };
        k.zeroize();
        (k1, k2)
    }
}

impl Drop for DesKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl zeroize::ZeroizeOnDrop for DesKey {}

impl PartialEq for DesKey {
    /// Constant-time comparison of length and key bytes.
    fn eq(&self, other: &Self) -> bool {
        self.length == other.length && bool::from(self.bytes.ct_eq(&other.bytes))
    }
}

impl Eq for DesKey {}

impl fmt::Debug for DesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DesKey({} bytes, kcv {})", self.len(), self.kcv())
    }
}

/// Sets the low bit of each byte so that the byte has odd parity.
///
/// # Example
///
/// ```
/// let mut key = [0x00, 0x01, 0xFE, 0xFF];
/// cardwire_security::set_odd_parity(&mut key);
/// assert_eq!(key, [0x01, 0x01, 0xFE, 0xFE]);
/// ```
pub fn set_odd_parity(bytes: &mut [u8]) {
    for b in bytes {
        if b.count_ones() % 2 == 0 {
            *b ^= 1;
        }
    }
}

fn des_engine(k: &[u8; 8]) -> Des {
    Des::new(&(*k).into())
}

fn tdes2_engine(k: &[u8; 16]) -> TdesEde2 {
    TdesEde2::new(&(*k).into())
}

fn tdes3_engine(k: &[u8; 24]) -> TdesEde3 {
    TdesEde3::new(&(*k).into())
}

/// `N` bytes of the 24-byte key buffer from `offset`, as an array.
fn prefix<const N: usize>(buf: &[u8; 24], offset: usize) -> [u8; N] {
    core::array::from_fn(|i| buf.get(offset + i).copied().unwrap_or(0))
}

/// Decodes hex into the front of `out`, returning the byte count. Errors
/// name the position of a bad character, never the character.
pub(crate) fn decode_hex_into(
    what: &'static str,
    hex: &str,
    out: &mut [u8],
) -> Result<usize, SecurityError> {
    let digits = hex.as_bytes();
    if digits.len() % 2 != 0 {
        return Err(SecurityError::OddHexLength {
            what,
            len: digits.len(),
        });
    }
    let n = digits.len() / 2;
    if let Some(index) = digits.iter().position(|c| !c.is_ascii_hexdigit()) {
        return Err(SecurityError::InvalidHex { what, index });
    }
    if n > out.len() {
        return Err(SecurityError::KeyLength {
            what,
            len: n,
            expected: if out.len() == 24 {
                "8, 16 or 24 bytes"
            } else {
                "16 bytes"
            },
        });
    }
    hex::decode_to_slice(hex, &mut out[..n])
        .map_err(|_| SecurityError::InvalidHex { what, index: 0 })?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parity_adjust_keeps_encryption() -> Result<(), SecurityError> {
        let key = DesKey::from_hex("0022446688AACCEE")?;
        assert!(!key.has_odd_parity());
        let fixed = key.with_odd_parity();
        assert!(fixed.has_odd_parity());
        assert_eq!(
            fixed.expose_secret(),
            hex::decode("0123456789ABCDEF").unwrap_or_default()
        );
        assert_eq!(key.kcv(), fixed.kcv());
        Ok(())
    }

    #[test]
    fn kcv_three_is_prefix_of_four() -> Result<(), SecurityError> {
        let key = DesKey::from_hex("0123456789ABCDEF")?;
        let four = key.kcv();
        let three = key.kcv_with(KcvLength::Three);
        assert_eq!(three.as_bytes(), &four.as_bytes()[..3]);
        assert!(four.matches(four.as_bytes()));
        assert!(!four.matches(three.as_bytes()));
        Ok(())
    }

    #[test]
    fn double_key_with_equal_halves_is_single_des() -> Result<(), SecurityError> {
        let single = DesKey::from_hex("0123456789ABCDEF")?;
        let double = DesKey::from_hex("0123456789ABCDEF0123456789ABCDEF")?;
        assert_eq!(single.kcv(), double.kcv());
        Ok(())
    }

    #[test]
    fn hex_errors_do_not_echo_the_key() {
        let err = DesKey::from_hex("0123456789ABCDEZ")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("DES key: invalid hex character at index 15")
        );
        let err = DesKey::from_hex("0123456789ABCDEF01")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("DES key: key length 9 bytes, expected 8, 16 or 24 bytes")
        );
        let err = DesKey::from_hex(&"00".repeat(25))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("DES key: key length 25 bytes, expected 8, 16 or 24 bytes")
        );
    }

    #[test]
    fn generated_keys_have_parity_and_requested_length() -> Result<(), SecurityError> {
        let bytes = [0u8; 24];
        let key = DesKey::generate(KeyLength::Double, &mut crate::FixedBytes::new(&bytes))?;
        assert_eq!(key.len(), 16);
        assert!(key.has_odd_parity());
        Ok(())
    }
}
