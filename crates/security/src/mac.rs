//! Message authentication codes over the MAC block (MAB).
//!
//! The codec hands over the MAB; on UnionPay POS links it is the message
//! from the MTI through field 63 (no TPDU, no header, no field 64). The
//! algorithm differs by acquirer, so it is a per-terminal setting:
//! [`MacAlgorithm`].
//!
//! ```text
//! UnionPay "ECB" MAC                     ANSI X9.9 / X9.19 (CBC-MAC)
//!
//!  M1 ^ M2 ^ ... ^ Mn   (zero pad)        C = 0
//!         |                               for each block Mi (zero pad):
//!   hex-expand: 16 ASCII chars H1 | H2        C = E_K1(C ^ Mi)
//!         |                               X9.9:  MAC = C
//!   E_MAK(H1) ^ H2                        X9.19: MAC = E_K1(D_K2(C))
//!         |
//!   E_MAK(..), hex-expand, first 8 chars
//! ```

use core::fmt;
use core::str::FromStr;

use des::cipher::{BlockCipherDecrypt, BlockCipherEncrypt};
use subtle::ConstantTimeEq;

use crate::{DesKey, KeyLength, SecurityError};

/// The MAC algorithm a terminal and its acquirer agreed on.
///
/// Parses from `"ecb"`, `"x9.9"` and `"x9.19"`, ignoring case, and prints
/// back the same names.
///
/// # Example
///
/// ```
/// use cardwire_security::MacAlgorithm;
///
/// let algo: MacAlgorithm = "X9.19".parse()?;
/// assert_eq!(algo, MacAlgorithm::X919);
/// assert_eq!(algo.to_string(), "x9.19");
/// # Ok::<(), cardwire_security::SecurityError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MacAlgorithm {
    /// China UnionPay POS "ECB" MAC: 8 ASCII hex characters.
    UnionPayEcb,
    /// ANSI X9.9 DES CBC-MAC with zero padding, 8 bytes.
    X99,
    /// ANSI X9.19 retail MAC (ISO/IEC 9797-1 algorithm 3), 8 bytes.
    X919,
}

impl MacAlgorithm {
    /// The name `FromStr` accepts and `Display` prints.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::UnionPayEcb => "ecb",
            Self::X99 => "x9.9",
            Self::X919 => "x9.19",
        }
    }
}

impl fmt::Display for MacAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for MacAlgorithm {
    type Err = SecurityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::UnionPayEcb, Self::X99, Self::X919]
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
            .ok_or(SecurityError::UnknownMacAlgorithm)
    }
}

/// Computes the 8 bytes that go into field 64 (or 128).
///
/// * [`MacAlgorithm::UnionPayEcb`]: see [`unionpay_ecb_mac`]; any key length.
/// * [`MacAlgorithm::X99`]: see [`x9_9_mac`]; any key length, single DES
///   with the leftmost 8 bytes.
/// * [`MacAlgorithm::X919`]: see [`x9_19_mac`]; 8- or 16-byte key.
///
/// # Errors
///
/// [`SecurityError::KeyLength`] for X9.19 with a 24-byte key.
///
/// # Example
///
/// ```
/// use cardwire_security::{compute_mac, verify_mac, DesKey, MacAlgorithm};
///
/// // Bouncy Castle's ISO 9797-1 algorithm 3 (= X9.19) test vector.
/// let key = DesKey::from_hex("7CA110454A1A6E570131D9619DC1376E")?;
/// let mac = compute_mac(MacAlgorithm::X919, &key, b"Hello World !!!!")?;
/// assert_eq!(hex::encode_upper(mac), "F09B856213BAB83B");
/// verify_mac(MacAlgorithm::X919, &key, b"Hello World !!!!", &mac)?;
/// # Ok::<(), cardwire_security::SecurityError>(())
/// ```
pub fn compute_mac(
    algorithm: MacAlgorithm,
    key: &DesKey,
    mab: &[u8],
) -> Result<[u8; 8], SecurityError> {
    match algorithm {
        MacAlgorithm::UnionPayEcb => Ok(unionpay_ecb_mac(key, mab)),
        MacAlgorithm::X99 => Ok(x9_9_mac(key, mab)),
        MacAlgorithm::X919 => x9_19_mac(key, mab),
    }
}

/// Recomputes the MAC over `mab` and compares it with `received` in
/// constant time.
///
/// # Errors
///
/// [`SecurityError::MacLength`] unless `received` is 8 bytes,
/// [`SecurityError::MacMismatch`] when it differs (a host answers `A0`), or
/// the errors of [`compute_mac`].
pub fn verify_mac(
    algorithm: MacAlgorithm,
    key: &DesKey,
    mab: &[u8],
    received: &[u8],
) -> Result<(), SecurityError> {
    if received.len() != 8 {
        return Err(SecurityError::MacLength {
            len: received.len(),
        });
    }
    let expected = compute_mac(algorithm, key, mab)?;
    if bool::from(expected.ct_eq(received)) {
        Ok(())
    } else {
        Err(SecurityError::MacMismatch {
            algorithm: algorithm.name(),
        })
    }
}

/// China UnionPay POS "ECB" MAC.
///
/// 1. XOR all 8-byte blocks of the MAB (the last one zero padded).
/// 2. Expand the 8-byte result to 16 uppercase ASCII hex characters.
/// 3. Encrypt the first 8 characters with the MAK.
/// 4. XOR the result with the last 8 characters, encrypt again.
/// 5. Expand to 16 uppercase hex characters; the first 8 are the MAC.
///
/// "Encrypt" is DES for an 8-byte MAK and 3DES for a 16- or 24-byte one.
///
/// # Example
///
/// ```
/// use cardwire_security::{unionpay_ecb_mac, DesKey};
///
/// let mak = DesKey::from_hex("C24A8FB57AA20123")?;
/// let mac = unionpay_ecb_mac(&mak, b"0200...MTI through field 63...");
/// assert!(mac.iter().all(|c| c.is_ascii_hexdigit()));
/// # Ok::<(), cardwire_security::SecurityError>(())
/// ```
#[must_use]
pub fn unionpay_ecb_mac(key: &DesKey, mab: &[u8]) -> [u8; 8] {
    let mut acc = [0u8; 8];
    for chunk in mab.chunks(8) {
        for (a, m) in acc.iter_mut().zip(chunk) {
            *a ^= m;
        }
    }
    let expanded = hex_upper(&acc);
    let mut block = [0u8; 8];
    block.copy_from_slice(&expanded[..8]);
    key.encrypt_block(&mut block);
    for (b, h) in block.iter_mut().zip(&expanded[8..]) {
        *b ^= h;
    }
    key.encrypt_block(&mut block);
    let out = hex_upper(&block);
    let mut mac = [0u8; 8];
    mac.copy_from_slice(&out[..8]);
    mac
}

/// ANSI X9.9 (FIPS 113) DES CBC-MAC: zero IV, zero padding, full 8 bytes.
///
/// X9.9 is single DES. A 16- or 24-byte key contributes only its leftmost
/// 8 bytes (K1); use [`x9_19_mac`] to involve K2. An empty MAB is one block
/// of zeros (ISO/IEC 9797-1 padding method 1).
#[must_use]
pub fn x9_9_mac(key: &DesKey, mab: &[u8]) -> [u8; 8] {
    let (k1, _) = key.k1_k2();
    cbc_mac(&k1, mab)
}

/// ANSI X9.19 retail MAC (ISO/IEC 9797-1 MAC algorithm 3, padding 1): DES
/// CBC-MAC under K1, then decrypt with K2 and encrypt with K1 on the last
/// block.
///
/// An 8-byte key makes K2 = K1, which reduces to [`x9_9_mac`] (as HSMs do).
///
/// # Errors
///
/// [`SecurityError::KeyLength`] for a 24-byte key: X9.19 is defined for
/// two keys.
pub fn x9_19_mac(key: &DesKey, mab: &[u8]) -> Result<[u8; 8], SecurityError> {
    if key.length() == KeyLength::Triple {
        return Err(SecurityError::KeyLength {
            what: "X9.19 MAC key",
            len: key.len(),
            expected: "8 or 16 bytes",
        });
    }
    let (k1, k2) = key.k1_k2();
    let mut mac = cbc_mac(&k1, mab);
    k2.decrypt_block((&mut mac).into());
    k1.encrypt_block((&mut mac).into());
    Ok(mac)
}

fn cbc_mac(k1: &des::Des, mab: &[u8]) -> [u8; 8] {
    let mut state = [0u8; 8];
    if mab.is_empty() {
        k1.encrypt_block((&mut state).into());
        return state;
    }
    for chunk in mab.chunks(8) {
        for (s, m) in state.iter_mut().zip(chunk) {
            *s ^= m;
        }
        k1.encrypt_block((&mut state).into());
    }
    state
}

fn hex_upper(bytes: &[u8; 8]) -> [u8; 16] {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = [0u8; 16];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0F)];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_round_trip_case_insensitively() {
        for (s, a) in [
            ("ecb", MacAlgorithm::UnionPayEcb),
            ("ECB", MacAlgorithm::UnionPayEcb),
            ("x9.9", MacAlgorithm::X99),
            ("X9.9", MacAlgorithm::X99),
            ("x9.19", MacAlgorithm::X919),
            ("X9.19", MacAlgorithm::X919),
        ] {
            assert_eq!(s.parse::<MacAlgorithm>(), Ok(a));
            assert_eq!(a.to_string().parse::<MacAlgorithm>(), Ok(a));
        }
        for bad in ["", "cbc", "x9.1", "x919", "ecb "] {
            assert_eq!(
                bad.parse::<MacAlgorithm>(),
                Err(SecurityError::UnknownMacAlgorithm)
            );
        }
    }

    #[test]
    fn x919_with_single_key_equals_x99() -> Result<(), SecurityError> {
        let key = DesKey::from_hex("0123456789ABCDEF")?;
        let mab = b"7654321 Now is the time for ";
        assert_eq!(x9_19_mac(&key, mab)?, x9_9_mac(&key, mab));
        Ok(())
    }

    #[test]
    fn x99_uses_left_half_of_double_key() -> Result<(), SecurityError> {
        let single = DesKey::from_hex("0123456789ABCDEF")?;
        let double = DesKey::from_hex("0123456789ABCDEFFEDCBA9876543210")?;
        assert_eq!(x9_9_mac(&single, b"abc"), x9_9_mac(&double, b"abc"));
        Ok(())
    }

    #[test]
    fn x919_rejects_triple_length_key() -> Result<(), SecurityError> {
        let key = DesKey::from_hex(&"0123456789ABCDEF".repeat(3))?;
        assert!(matches!(
            compute_mac(MacAlgorithm::X919, &key, b"x"),
            Err(SecurityError::KeyLength { len: 24, .. })
        ));
        Ok(())
    }

    #[test]
    fn verify_rejects_wrong_length_and_wrong_value() -> Result<(), SecurityError> {
        let key = DesKey::from_hex("0123456789ABCDEF")?;
        let mut mac = compute_mac(MacAlgorithm::UnionPayEcb, &key, b"mab")?;
        assert_eq!(
            verify_mac(MacAlgorithm::UnionPayEcb, &key, b"mab", &mac[..4]),
            Err(SecurityError::MacLength { len: 4 })
        );
        mac[7] ^= 1;
        assert_eq!(
            verify_mac(MacAlgorithm::UnionPayEcb, &key, b"mab", &mac),
            Err(SecurityError::MacMismatch { algorithm: "ecb" })
        );
        Ok(())
    }

    #[test]
    fn empty_mab_is_one_zero_block() -> Result<(), SecurityError> {
        let key = DesKey::from_hex("0123456789ABCDEF")?;
        assert_eq!(x9_9_mac(&key, b""), x9_9_mac(&key, &[0u8; 8]));
        assert_eq!(
            unionpay_ecb_mac(&key, b""),
            unionpay_ecb_mac(&key, &[0u8; 8])
        );
        Ok(())
    }
}
