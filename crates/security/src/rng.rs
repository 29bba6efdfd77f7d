//! Where random bytes come from.
//!
//! PIN block fill (formats 1 and 3) and fresh working keys need random
//! bytes. They are taken from a caller-supplied [`RandomSource`], so tests
//! replay fixed bytes ([`FixedBytes`]) and production code uses the
//! operating system ([`OsRandom`], feature `os-rng`, on by default).

use crate::SecurityError;

/// A supplier of random bytes.
///
/// Implement it to plug in an HSM, a `rand` generator or a transaction
/// counter (ISO 9564 format 1 allows transaction-unique rather than random
/// fill).
pub trait RandomSource {
    /// Fills `dest` entirely.
    ///
    /// # Errors
    ///
    /// [`SecurityError::Random`] if the source cannot deliver.
    fn fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), SecurityError>;
}

impl<R: RandomSource + ?Sized> RandomSource for &mut R {
    fn fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), SecurityError> {
        (**self).fill_bytes(dest)
    }
}

/// Replays a fixed byte string, then fails: for tests and published vectors.
///
/// # Example
///
/// ```
/// use cardwire_security::{FixedBytes, RandomSource};
///
/// let mut source = FixedBytes::new(&[1, 2, 3]);
/// let mut out = [0u8; 2];
/// source.fill_bytes(&mut out)?;
/// assert_eq!(out, [1, 2]);
/// assert!(source.fill_bytes(&mut out).is_err()); // only one byte left
/// # Ok::<(), cardwire_security::SecurityError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FixedBytes<'a> {
    bytes: &'a [u8],
}

impl<'a> FixedBytes<'a> {
    /// A source that yields `bytes` in order, once.
    #[must_use]
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// Bytes not yet consumed.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }
}

impl RandomSource for FixedBytes<'_> {
    fn fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), SecurityError> {
        let Some((head, tail)) = self.bytes.split_at_checked(dest.len()) else {
            return Err(SecurityError::Random("fixed byte source exhausted"));
        };
        dest.copy_from_slice(head);
        self.bytes = tail;
        Ok(())
    }
}

/// The operating system's random generator (through `getrandom`).
#[cfg(feature = "os-rng")]
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

#[cfg(feature = "os-rng")]
impl RandomSource for OsRandom {
    fn fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), SecurityError> {
        getrandom::fill(dest).map_err(|_| SecurityError::Random("operating system RNG failed"))
    }
}
