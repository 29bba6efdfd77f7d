//! SM4 keys (feature `sm4`), for links whose field 53 names algorithm 4.

use core::fmt;

use sm4::Sm4;
use sm4::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::key::decode_hex_into;
use crate::{Kcv, SecurityError};

/// A 16-byte SM4 key (GB/T 32907-2016), wiped on drop and printed only as
/// `Sm4Key(kcv ...)`.
///
/// # Example
///
/// ```
/// use cardwire_security::Sm4Key;
///
/// // GB/T 32907-2016 appendix A, example 1.
/// let key = Sm4Key::from_hex("0123456789ABCDEFFEDCBA9876543210")?;
/// let mut block = *key.expose_secret();
/// key.encrypt_block(&mut block);
/// assert_eq!(hex::encode(block), "681edf34d206965e86b3e94f536e4246");
/// # Ok::<(), cardwire_security::SecurityError>(())
/// ```
#[derive(Clone)]
pub struct Sm4Key {
    bytes: [u8; 16],
    cipher: Sm4,
}

impl Sm4Key {
    /// A key from its 16 bytes.
    #[must_use]
    pub fn new(bytes: [u8; 16]) -> Self {
        let cipher = Sm4::new(&bytes.into());
        Self { bytes, cipher }
    }

    /// A key from 32 hex digits.
    ///
    /// # Errors
    ///
    /// [`SecurityError::OddHexLength`], [`SecurityError::InvalidHex`] or
    /// [`SecurityError::KeyLength`], never echoing the key.
    pub fn from_hex(hex: &str) -> Result<Self, SecurityError> {
        let mut buf = [0u8; 16];
        let n = decode_hex_into("SM4 key", hex, &mut buf)?;
        let key = if n == 16 {
            Ok(Self::new(buf))
        } else {
            Err(SecurityError::KeyLength {
                what: "SM4 key",
                len: n,
                expected: "16 bytes",
            })
        };
        buf.zeroize();
        key
    }

    /// Encrypts one 16-byte block in place.
    pub fn encrypt_block(&self, block: &mut [u8; 16]) {
        self.cipher.encrypt_block(block.into());
    }

    /// Decrypts one 16-byte block in place.
    pub fn decrypt_block(&self, block: &mut [u8; 16]) {
        self.cipher.decrypt_block(block.into());
    }

    /// Check value: leftmost 4 bytes of the key encrypting 16 zero bytes.
    #[must_use]
    pub fn kcv(&self) -> Kcv {
        let mut block = [0u8; 16];
        self.encrypt_block(&mut block);
        let mut four = [0u8; 4];
        four.copy_from_slice(&block[..4]);
        Kcv::from_four(four)
    }

    /// The clear key bytes. Never log the result.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8; 16] {
        &self.bytes
    }
}

impl Drop for Sm4Key {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl PartialEq for Sm4Key {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.bytes.ct_eq(&other.bytes))
    }
}

impl Eq for Sm4Key {}

impl fmt::Debug for Sm4Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sm4Key(16 bytes, kcv {})", self.kcv())
    }
}
