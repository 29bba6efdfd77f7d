//! Working keys of a UnionPay sign-on reply (field 62).
//!
//! The host generates fresh working keys, encrypts each under the terminal
//! master key (TMK, DES or 3DES ECB) and sends each with a 4-byte check
//! value: the leftmost 4 bytes of the *clear* working key encrypting 8 zero
//! bytes. The field has one of three layouts, told apart by length:
//!
//! ```text
//! 24 bytes  | PIK 8        | chk 4 | MAK 8        | chk 4 |
//! 40 bytes  | PIK 16       | chk 4 | MAK 8 | 00*8 | chk 4 |
//! 60 bytes  | PIK 16       | chk 4 | MAK 16       | chk 4 | TDK 16 | chk 4 |
//! ```
//!
//! In the 40-byte layout the 8 bytes after the single-length MAK are zero
//! on the wire; [`WorkingKeys::unwrap`] ignores their value.

use core::fmt;

use zeroize::Zeroize;

use crate::{DesKey, KeyLength, RandomSource, SecurityError, WorkingKeyKind};

/// A field 62 working key layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field62Layout {
    /// 24 bytes: single-length PIK and MAK.
    Bytes24,
    /// 40 bytes: double-length PIK, single-length MAK padded to 16 bytes.
    Bytes40,
    /// 60 bytes: double-length PIK, MAK and TDK.
    Bytes60,
}

impl Field62Layout {
    /// Length of the field in bytes.
    #[must_use]
    pub const fn bytes(self) -> usize {
        match self {
            Self::Bytes24 => 24,
            Self::Bytes40 => 40,
            Self::Bytes60 => 60,
        }
    }

    /// The layout with `len` bytes, if there is one.
    #[must_use]
    pub const fn from_len(len: usize) -> Option<Self> {
        match len {
            24 => Some(Self::Bytes24),
            40 => Some(Self::Bytes40),
            60 => Some(Self::Bytes60),
            _ => None,
        }
    }

    /// The slots of this layout: (key, key length, offset of the key,
    /// offset of its check value).
    fn slots(self) -> &'static [(WorkingKeyKind, KeyLength, usize, usize)] {
        use KeyLength::{Double, Single};
        use WorkingKeyKind::{Mak, Pik, Tdk};
        match self {
            Self::Bytes24 => &[(Pik, Single, 0, 8), (Mak, Single, 12, 20)],
            Self::Bytes40 => &[(Pik, Double, 0, 16), (Mak, Single, 20, 36)],
            Self::Bytes60 => &[
                (Pik, Double, 0, 16),
                (Mak, Double, 20, 36),
                (Tdk, Double, 40, 56),
            ],
        }
    }
}

impl fmt::Display for Field62Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-byte", self.bytes())
    }
}

/// The working keys a terminal uses between two sign-ons.
///
/// `Debug` shows each key as length and check value only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingKeys {
    /// PIN key: encrypts PIN blocks (field 52).
    pub pik: DesKey,
    /// MAC key: computes field 64.
    pub mak: DesKey,
    /// Track data key, only in the 60-byte layout.
    pub tdk: Option<DesKey>,
}

impl WorkingKeys {
    /// Terminal side: decrypts field 62 under the TMK and checks every
    /// key's check value. The layout follows from the length.
    ///
    /// # Errors
    ///
    /// [`SecurityError::KeyDataLength`] for a length other than 24, 40 or
    /// 60, [`SecurityError::CheckValueMismatch`] naming the first key whose
    /// check value differs (wrong TMK, corrupted field, or wrong layout).
    ///
    /// # Example
    ///
    /// ```
    /// # #[cfg(feature = "os-rng")] {
    /// use cardwire_security::{DesKey, Field62Layout, OsRandom, WorkingKeys};
    ///
    /// let tmk = DesKey::from_hex("70F2A84CCBC2AE8625CBB0F2C22AB923")?;
    /// // Host side: fresh keys, wrapped into field 62.
    /// let keys = WorkingKeys::generate(Field62Layout::Bytes60, &mut OsRandom)?;
    /// let field62 = keys.wrap(&tmk, Field62Layout::Bytes60)?;
    /// // Terminal side: unwrap and check.
    /// let received = WorkingKeys::unwrap(&tmk, &field62)?;
    /// assert_eq!(received, keys);
    /// # }
    /// # Ok::<(), cardwire_security::SecurityError>(())
    /// ```
    pub fn unwrap(tmk: &DesKey, field62: &[u8]) -> Result<Self, SecurityError> {
        let layout = Field62Layout::from_len(field62.len())
            .ok_or(SecurityError::KeyDataLength { len: field62.len() })?;
        let mut pik = None;
        let mut mak = None;
        let mut tdk = None;
        for &(kind, length, key_at, check_at) in layout.slots() {
            let n = length.bytes();
            let (Some(wrapped), Some(check)) = (
                field62.get(key_at..key_at + n),
                field62.get(check_at..check_at + 4),
            ) else {
                return Err(SecurityError::KeyDataLength { len: field62.len() });
            };
            let key = unwrap_key(tmk, wrapped)?;
            if !key.kcv().matches(check) {
                return Err(SecurityError::CheckValueMismatch { key: kind });
            }
            match kind {
                WorkingKeyKind::Pik => pik = Some(key),
                WorkingKeyKind::Mak => mak = Some(key),
                WorkingKeyKind::Tdk => tdk = Some(key),
            }
        }
        match (pik, mak) {
            (Some(pik), Some(mak)) => Ok(Self { pik, mak, tdk }),
            _ => Err(SecurityError::KeyDataLength { len: field62.len() }),
        }
    }

    /// Host side: encrypts the keys under the TMK into `layout`, each
    /// followed by its check value.
    ///
    /// # Errors
    ///
    /// [`SecurityError::LayoutMismatch`] when a key's length does not fit
    /// the layout (PIK 8/16/16, MAK 8/8/16 bytes; TDK present, 16 bytes,
    /// exactly for the 60-byte layout).
    pub fn wrap(&self, tmk: &DesKey, layout: Field62Layout) -> Result<Vec<u8>, SecurityError> {
        let mismatch = |key, len| SecurityError::LayoutMismatch {
            key,
            len,
            layout: layout.bytes(),
        };
        if layout != Field62Layout::Bytes60
            && let Some(tdk) = &self.tdk
        {
            return Err(mismatch(WorkingKeyKind::Tdk, tdk.len()));
        }
        let mut out = vec![0u8; layout.bytes()];
        for &(kind, length, key_at, check_at) in layout.slots() {
            let key = match kind {
                WorkingKeyKind::Pik => Some(&self.pik),
                WorkingKeyKind::Mak => Some(&self.mak),
                WorkingKeyKind::Tdk => self.tdk.as_ref(),
            };
            let key = key.ok_or_else(|| mismatch(kind, 0))?;
            if key.length() != length {
                return Err(mismatch(kind, key.len()));
            }
            let n = length.bytes();
            let slot = out
                .get_mut(key_at..key_at + n)
                .ok_or_else(|| mismatch(kind, key.len()))?;
            wrap_key_into(tmk, key, slot);
            let check = out
                .get_mut(check_at..check_at + 4)
                .ok_or_else(|| mismatch(kind, key.len()))?;
            check.copy_from_slice(key.kcv().as_bytes());
        }
        Ok(out)
    }

    /// Host side: fresh random working keys (odd parity) sized for
    /// `layout`.
    ///
    /// # Errors
    ///
    /// [`SecurityError::Random`] if `rng` fails.
    pub fn generate(
        layout: Field62Layout,
        rng: &mut impl RandomSource,
    ) -> Result<Self, SecurityError> {
        let mut pik = None;
        let mut mak = None;
        let mut tdk = None;
        for &(kind, length, _, _) in layout.slots() {
            let key = DesKey::generate(length, rng)?;
            match kind {
                WorkingKeyKind::Pik => pik = Some(key),
                WorkingKeyKind::Mak => mak = Some(key),
                WorkingKeyKind::Tdk => tdk = Some(key),
            }
        }
        match (pik, mak) {
            (Some(pik), Some(mak)) => Ok(Self { pik, mak, tdk }),
            _ => Err(SecurityError::Random("layout without PIK or MAK")),
        }
    }
}

fn unwrap_key(tmk: &DesKey, wrapped: &[u8]) -> Result<DesKey, SecurityError> {
    let mut clear = [0u8; 16];
    let n = wrapped.len().min(16);
    for (out, block) in clear[..n].chunks_exact_mut(8).zip(wrapped.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(block);
        tmk.decrypt_block(&mut b);
        out.copy_from_slice(&b);
        b.zeroize();
    }
    let key = DesKey::from_bytes(&clear[..n]);
    clear.zeroize();
    key
}

fn wrap_key_into(tmk: &DesKey, key: &DesKey, out: &mut [u8]) {
    for (slot, block) in out
        .chunks_exact_mut(8)
        .zip(key.expose_secret().chunks_exact(8))
    {
        let mut b = [0u8; 8];
        b.copy_from_slice(block);
        tmk.encrypt_block(&mut b);
        slot.copy_from_slice(&b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FixedBytes;

    fn tmk() -> Result<DesKey, SecurityError> {
        DesKey::from_hex("70F2A84CCBC2AE8625CBB0F2C22AB923")
    }

    #[test]
    fn rejects_unknown_length() -> Result<(), SecurityError> {
        assert_eq!(
            WorkingKeys::unwrap(&tmk()?, &[0u8; 32]),
            Err(SecurityError::KeyDataLength { len: 32 })
        );
        Ok(())
    }

    #[test]
    fn names_the_key_whose_check_value_fails() -> Result<(), SecurityError> {
        let bytes: Vec<u8> = (0u8..=255).collect();
        let keys = WorkingKeys::generate(Field62Layout::Bytes60, &mut FixedBytes::new(&bytes))?;
        let field = keys.wrap(&tmk()?, Field62Layout::Bytes60)?;
        for (at, kind) in [
            (16, WorkingKeyKind::Pik),
            (36, WorkingKeyKind::Mak),
            (59, WorkingKeyKind::Tdk),
        ] {
            let mut bad = field.clone();
            bad[at] ^= 0x01;
            assert_eq!(
                WorkingKeys::unwrap(&tmk()?, &bad),
                Err(SecurityError::CheckValueMismatch { key: kind })
            );
        }
        // A corrupted key (not its check value) fails the same way.
        let mut bad = field;
        bad[45] ^= 0x80;
        assert_eq!(
            WorkingKeys::unwrap(&tmk()?, &bad),
            Err(SecurityError::CheckValueMismatch {
                key: WorkingKeyKind::Tdk
            })
        );
        Ok(())
    }

    #[test]
    fn wrap_rejects_keys_that_do_not_fit() -> Result<(), SecurityError> {
        let bytes: Vec<u8> = (0u8..=255).collect();
        let keys = WorkingKeys::generate(Field62Layout::Bytes60, &mut FixedBytes::new(&bytes))?;
        assert_eq!(
            keys.wrap(&tmk()?, Field62Layout::Bytes40),
            Err(SecurityError::LayoutMismatch {
                key: WorkingKeyKind::Tdk,
                len: 16,
                layout: 40
            })
        );
        let keys = WorkingKeys::generate(Field62Layout::Bytes24, &mut FixedBytes::new(&bytes))?;
        assert_eq!(
            keys.wrap(&tmk()?, Field62Layout::Bytes40),
            Err(SecurityError::LayoutMismatch {
                key: WorkingKeyKind::Pik,
                len: 8,
                layout: 40
            })
        );
        assert_eq!(
            keys.wrap(&tmk()?, Field62Layout::Bytes60),
            Err(SecurityError::LayoutMismatch {
                key: WorkingKeyKind::Pik,
                len: 8,
                layout: 60
            })
        );
        Ok(())
    }

    #[test]
    fn forty_byte_layout_pads_mak_with_zeros() -> Result<(), SecurityError> {
        let bytes: Vec<u8> = (0u8..=255).collect();
        let keys = WorkingKeys::generate(Field62Layout::Bytes40, &mut FixedBytes::new(&bytes))?;
        let field = keys.wrap(&tmk()?, Field62Layout::Bytes40)?;
        assert_eq!(&field[28..36], &[0u8; 8]);
        Ok(())
    }
}
