//! Field 53, security related control information (n16, UnionPay POS).
//!
//! ```text
//! position  1   2   3   4 .. 16
//!         +---+---+---+----------+
//!         | P | A | T | 0 ... 0  |
//!         +---+---+---+----------+
//! P  PIN format: 1 = ANSI X9.8 without PAN, 2 = ANSI X9.8 with PAN
//! A  algorithm:  0 = single DES, 6 = triple DES, 4 = SM4
//! T  track data encryption: 0 = no, 1 = yes
//! ```
//!
//! Example: `2600000000000000` is "PIN block with PAN, 3DES, tracks in
//! clear". On the wire the 16 digits are usually 8 BCD bytes; the codec
//! turns them into the digit string this module reads.

use core::fmt;
use core::str::FromStr;

use crate::SecurityError;

/// How the PIN block is formed (position 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinBlockPanUse {
    /// `1`: ANSI X9.8 PIN block without the PAN (PAN field all zeros).
    WithoutPan,
    /// `2`: ANSI X9.8 PIN block with the PAN (ISO 9564 format 0).
    WithPan,
}

/// Cipher algorithm of the working keys (position 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CipherAlgorithm {
    /// `0`: single DES.
    Des,
    /// `6`: triple DES (double-length keys).
    TripleDes,
    /// `4`: SM4 (China's GM/T 0002 block cipher).
    Sm4,
}

/// Field 53 in typed form.
///
/// # Example
///
/// ```
/// use cardwire_security::{CipherAlgorithm, PinBlockPanUse, SecurityControl};
///
/// let f53: SecurityControl = "2600000000000000".parse()?;
/// assert_eq!(f53.pin_block, PinBlockPanUse::WithPan);
/// assert_eq!(f53.algorithm, CipherAlgorithm::TripleDes);
/// assert!(!f53.track_encryption);
/// assert_eq!(f53.to_string(), "2600000000000000");
/// # Ok::<(), cardwire_security::SecurityError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecurityControl {
    /// Position 1: PIN block with or without the PAN.
    pub pin_block: PinBlockPanUse,
    /// Position 2: DES, 3DES or SM4.
    pub algorithm: CipherAlgorithm,
    /// Position 3: whether track data is encrypted with the TDK.
    pub track_encryption: bool,
}

impl SecurityControl {
    /// Parses the 16 ASCII digits of field 53.
    ///
    /// # Errors
    ///
    /// [`SecurityError::Field53Length`] unless `digits` has 16 bytes,
    /// [`SecurityError::Field53Digit`] naming the 1-based position of an
    /// unknown value (positions 4 to 16 must be `0`).
    pub fn parse(digits: &[u8]) -> Result<Self, SecurityError> {
        let Ok(d) = <&[u8; 16]>::try_from(digits) else {
            return Err(SecurityError::Field53Length { len: digits.len() });
        };
        let pin_block = match d[0] {
            b'1' => PinBlockPanUse::WithoutPan,
            b'2' => PinBlockPanUse::WithPan,
            _ => {
                return Err(SecurityError::Field53Digit {
                    position: 1,
                    reason: "PIN format must be 1 or 2",
                });
            }
        };
        let algorithm = match d[1] {
            b'0' => CipherAlgorithm::Des,
            b'6' => CipherAlgorithm::TripleDes,
            b'4' => CipherAlgorithm::Sm4,
            _ => {
                return Err(SecurityError::Field53Digit {
                    position: 2,
                    reason: "algorithm must be 0, 4 or 6",
                });
            }
        };
        let track_encryption = match d[2] {
            b'0' => false,
            b'1' => true,
            _ => {
                return Err(SecurityError::Field53Digit {
                    position: 3,
                    reason: "track encryption flag must be 0 or 1",
                });
            }
        };
        if let Some(i) = d[3..].iter().position(|&c| c != b'0') {
            return Err(SecurityError::Field53Digit {
                position: 4 + i,
                reason: "reserved, must be 0",
            });
        }
        Ok(Self {
            pin_block,
            algorithm,
            track_encryption,
        })
    }

    /// The 16 ASCII digits of field 53.
    #[must_use]
    pub fn to_digits(&self) -> [u8; 16] {
        let mut d = [b'0'; 16];
        d[0] = match self.pin_block {
            PinBlockPanUse::WithoutPan => b'1',
            PinBlockPanUse::WithPan => b'2',
        };
        d[1] = match self.algorithm {
            CipherAlgorithm::Des => b'0',
            CipherAlgorithm::TripleDes => b'6',
            CipherAlgorithm::Sm4 => b'4',
        };
        d[2] = if self.track_encryption { b'1' } else { b'0' };
        d
    }
}

impl FromStr for SecurityControl {
    type Err = SecurityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s.as_bytes())
    }
}

impl fmt::Display for SecurityControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.to_digits() {
            write!(f, "{}", char::from(c))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_combination() -> Result<(), SecurityError> {
        for pin_block in [PinBlockPanUse::WithoutPan, PinBlockPanUse::WithPan] {
            for algorithm in [
                CipherAlgorithm::Des,
                CipherAlgorithm::TripleDes,
                CipherAlgorithm::Sm4,
            ] {
                for track_encryption in [false, true] {
                    let f = SecurityControl {
                        pin_block,
                        algorithm,
                        track_encryption,
                    };
                    assert_eq!(f.to_string().parse::<SecurityControl>()?, f);
                }
            }
        }
        assert_eq!(
            "1010000000000000".parse::<SecurityControl>()?.to_string(),
            "1010000000000000"
        );
        Ok(())
    }

    #[test]
    fn rejects_bad_digits_with_position() {
        for (s, position) in [
            ("3600000000000000", 1),
            ("2700000000000000", 2),
            ("2620000000000000", 3),
            ("2600000000000001", 16),
            ("2600900000000000", 5),
        ] {
            assert!(
                matches!(s.parse::<SecurityControl>(), Err(SecurityError::Field53Digit { position: p, .. }) if p == position),
                "{s}"
            );
        }
        assert_eq!(
            "26000000".parse::<SecurityControl>(),
            Err(SecurityError::Field53Length { len: 8 })
        );
    }
}
