//! The one error type of this crate.
//!
//! Every variant carries enough data to find the problem (which input, which
//! byte or nibble, what was expected) and never the secret itself: no key
//! byte, no PIN digit, no PIN block, no PAN digit ever reaches a message.

use core::fmt;

/// What a decoded (clear) PIN block got wrong.
///
/// Positions are nibble indexes in the 16-nibble block, 0 being the control
/// nibble. A defect never reports the value of a PIN digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PinBlockDefect {
    /// The control nibble (format number) is not the one expected.
    ControlNibble {
        /// Control nibble of the expected format.
        expected: u8,
        /// Control nibble found in the block.
        found: u8,
    },
    /// The PIN length nibble is outside 4..=12.
    PinLength {
        /// The length the block claims.
        len: u8,
    },
    /// A nibble inside the PIN is not a decimal digit.
    NonDigitPin {
        /// Nibble index of the offending PIN position.
        position: usize,
    },
    /// A fill nibble is not what the format requires (`F` for format 0,
    /// `A`..=`F` for format 3).
    Fill {
        /// Nibble index of the offending fill position.
        position: usize,
    },
    /// Format 0 only: after removing this PAN's field a PIN or fill nibble
    /// is invalid, yet every fill nibble is `F` XOR a decimal digit, i.e.
    /// the block is well formed for some other PAN. (A format 3 block,
    /// whose fill is random, cannot show this; a wrong PAN there reports
    /// [`PinBlockDefect::NonDigitPin`] or [`PinBlockDefect::Fill`] at
    /// nibble 4 or later.)
    PanMismatch {
        /// First nibble index that failed once the PAN field was removed.
        position: usize,
    },
}

impl fmt::Display for PinBlockDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ControlNibble { expected, found } => {
                write!(f, "control nibble is {found:X}, expected {expected:X}")
            }
            Self::PinLength { len } => write!(f, "PIN length {len} is outside 4..=12"),
            Self::NonDigitPin { position } => {
                write!(
                    f,
                    "PIN nibble at position {position} is not a decimal digit"
                )
            }
            Self::Fill { position } => write!(f, "fill nibble at position {position} is invalid"),
            Self::PanMismatch { position } => write!(
                f,
                "block does not match the PAN (nibble {position} invalid after removing the PAN field)"
            ),
        }
    }
}

/// Which working key of a field 62 key set a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkingKeyKind {
    /// PIN key (PIK), encrypts PIN blocks (field 52).
    Pik,
    /// MAC key (MAK), computes field 64 / 128.
    Mak,
    /// Track data key (TDK), encrypts track 2 / 3 data.
    Tdk,
}

impl fmt::Display for WorkingKeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pik => "PIK",
            Self::Mak => "MAK",
            Self::Tdk => "TDK",
        })
    }
}

/// Errors of the security layer: keys, PIN blocks, MACs, working keys and
/// field 53.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecurityError {
    /// A hex string has an odd number of characters.
    #[error("{what}: hex string has odd length {len}")]
    OddHexLength {
        /// What was being parsed (for example "DES key").
        what: &'static str,
        /// Number of characters received.
        len: usize,
    },
    /// A hex string contains a character that is not a hex digit. The
    /// character itself is not reported: it may be part of a key.
    #[error("{what}: invalid hex character at index {index}")]
    InvalidHex {
        /// What was being parsed.
        what: &'static str,
        /// Index of the first bad character.
        index: usize,
    },
    /// A key has a length this operation does not accept.
    #[error("{what}: key length {len} bytes, expected {expected}")]
    KeyLength {
        /// Which key or operation.
        what: &'static str,
        /// Length received, in bytes.
        len: usize,
        /// Lengths accepted, for humans ("8, 16 or 24 bytes").
        expected: &'static str,
    },
    /// A PIN has fewer than 4 or more than 12 digits.
    #[error("PIN length {len} is outside 4..=12")]
    PinLength {
        /// Number of characters received.
        len: usize,
    },
    /// A PIN contains a character that is not a decimal digit.
    #[error("PIN character at index {index} is not a decimal digit")]
    PinNotNumeric {
        /// Index of the first bad character.
        index: usize,
    },
    /// A PAN has fewer than 8 or more than 19 digits.
    #[error("PAN length {len} is outside 8..=19")]
    PanLength {
        /// Number of characters received.
        len: usize,
    },
    /// A PAN contains a character that is not a decimal digit.
    #[error("PAN character at index {index} is not a decimal digit")]
    PanNotNumeric {
        /// Index of the first bad character.
        index: usize,
    },
    /// PIN block formats 0 and 3 mix the PAN into the block; none was given.
    #[error("PIN block format {format} needs the PAN")]
    PanRequired {
        /// ISO 9564 format number.
        format: u8,
    },
    /// A decrypted PIN block is malformed.
    #[error("malformed PIN block: {0}")]
    InvalidPinBlock(PinBlockDefect),
    /// A PIN block is not 8 bytes long.
    #[error("PIN block length {len} bytes, expected 8")]
    PinBlockLength {
        /// Length received.
        len: usize,
    },
    /// A received MAC does not match the one computed over the MAB.
    #[error("{algorithm} MAC mismatch")]
    MacMismatch {
        /// Algorithm name as in [`crate::MacAlgorithm`]'s `Display`.
        algorithm: &'static str,
    },
    /// A received MAC is not 8 bytes long.
    #[error("MAC length {len} bytes, expected 8")]
    MacLength {
        /// Length received.
        len: usize,
    },
    /// A MAC algorithm name is not one of "ecb", "x9.9", "x9.19".
    #[error("unknown MAC algorithm (expected ecb, x9.9 or x9.19)")]
    UnknownMacAlgorithm,
    /// Field 62 has a length that matches no known key layout.
    #[error("field 62 key data length {len} bytes, expected 24, 40 or 60")]
    KeyDataLength {
        /// Length received.
        len: usize,
    },
    /// A working key's check value does not match the one sent with it.
    #[error("{key} check value mismatch")]
    CheckValueMismatch {
        /// Which key failed.
        key: WorkingKeyKind,
    },
    /// Working keys do not fit the requested field 62 layout.
    #[error("{key} of {len} bytes does not fit the {layout}-byte field 62 layout")]
    LayoutMismatch {
        /// Which key does not fit.
        key: WorkingKeyKind,
        /// Its length in bytes (0 when a required key is absent).
        len: usize,
        /// Layout length in bytes.
        layout: usize,
    },
    /// Field 53 is not 16 characters long.
    #[error("field 53 length {len}, expected 16 digits")]
    Field53Length {
        /// Length received.
        len: usize,
    },
    /// A field 53 digit is not a value this crate knows.
    #[error("field 53 position {position}: {reason}")]
    Field53Digit {
        /// 1-based digit position, as in the specification.
        position: usize,
        /// What was expected there.
        reason: &'static str,
    },
    /// The random source could not deliver bytes.
    #[error("random source failed: {0}")]
    Random(&'static str),
}
