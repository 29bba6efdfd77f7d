//! # cardwire-codec
//!
//! A zero-copy ISO 8583 codec. One [`Spec`] (a dialect, as data) drives
//! both [`decode`] and [`encode`]. Decoding borrows the frame and makes no
//! heap allocation; encoding writes into a [`bytes::BytesMut`].
//!
//! ```
//! use cardwire_codec::{decode, encode_to_vec, specs};
//! let frame = b"0800822000000000000004000000000000001121120000000001301";
//! let msg = decode(specs::iso87ascii(), frame)?;
//! assert_eq!(msg.mti().to_string(), "0800");
//! assert_eq!(msg.value(7).unwrap().to_string(), "1121120000");
//! // Round trip, byte for byte.
//! assert_eq!(encode_to_vec(specs::iso87ascii(), &msg.to_message())?, frame);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Built-in dialects are in [`specs`]; user dialects load from TOML or JSON
//! with the `serde` feature ([`spec_file`]). Card data is masked in every
//! `Debug` and `Display` ([`mask`]).
//!
//! With the `arbitrary` feature, `arbitrary::arbitrary_message` turns
//! fuzzer input into a valid message of any spec, for fuzzing code that
//! handles cardwire messages.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod amount;
mod charset;
pub mod codes;
pub mod frame;
pub mod mask;
mod message;
mod owned;
pub mod spec;
pub mod specs;
pub mod tlv;
pub mod track2;
pub mod txn;
mod types;
pub mod valid;
mod wire;

#[cfg(feature = "arbitrary")]
pub mod arbitrary;

#[cfg(feature = "serde")]
pub mod json;
#[cfg(feature = "serde")]
pub mod spec_file;

pub use amount::Amount;
pub use codes::{Category, CodeInfo, CodeTable};
pub use message::{Field, Message, MessageRef, Value};
pub use owned::OwnedMessage;
pub use spec::{Charset, FieldSpec, Spec, SpecError};
pub use track2::Track2;
pub use txn::TxnKind;
pub use types::{Bitmap, FieldNo, Mti, MtiClass, MtiError, MtiFunction, MtiOrigin, MtiVersion};
pub use wire::decode::{
    DecodeError, DecodeErrorKind, DecodeMode, DecodeWarning, DecodeWarningKind, Decoded, decode,
    decode_with,
};
pub use wire::encode::{EncodeError, EncodeErrorKind, encode, encode_to_vec};
