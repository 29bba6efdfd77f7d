//! PIN blocks, MACs and working keys for ISO 8583 POS links. No I/O.
//!
//! ```text
//!             sign-on reply, field 62
//!   TMK ──unwrap──▶ WorkingKeys { pik, mak, tdk }
//!                         │       │
//!     Pin + Pan ──build──▶ ClearPinBlock ──encrypt(pik)──▶ field 52
//!                                 │
//!     MTI .. field 63 (the MAB) ──compute_mac(algo, mak)──▶ field 64
//!
//!     field 53 "2600000000000000" ◀──▶ SecurityControl
//! ```
//!
//! * [`DesKey`]: single, double and triple length DES keys that wipe
//!   themselves and print only their length and check value.
//! * [`ClearPinBlock`], [`EncryptedPinBlock`], [`encrypt_pin`],
//!   [`decrypt_pin`], [`verify_pin`]: ISO 9564-1 formats 0, 1 and 3.
//! * [`compute_mac`] / [`verify_mac`] with [`MacAlgorithm`]: the UnionPay
//!   POS "ECB" MAC, ANSI X9.9 and ANSI X9.19.
//! * [`WorkingKeys`]: field 62 key download, both sides.
//! * [`SecurityControl`]: field 53.
//! * `Sm4Key` (SM4 block cipher keys) behind the `sm4` feature.
//!
//! Block ciphers come from the RustCrypto `des` and `sm4` crates; this
//! crate writes no cipher code. Randomness (PIN block fill, fresh keys) is
//! drawn from a caller-supplied [`RandomSource`]; [`OsRandom`] (feature
//! `os-rng`, default) reads the operating system generator.
//!
//! # Log hygiene
//!
//! No `Debug` or `Display` output and no error message of this crate
//! contains a key, a PIN, a PIN block or more of a PAN than its first 6
//! and last 4 digits. Secrets are reachable only through methods named
//! `expose_secret`.
//!
//! # Example
//!
//! ```
//! use cardwire_security::{compute_mac, encrypt_pin, DesKey, FixedBytes, MacAlgorithm, Pan, Pin, PinBlockFormat};
//!
//! let pik = DesKey::from_hex("0123456789ABCDEFFEDCBA9876543210")?;
//! let mak = DesKey::from_hex("C24A8FB57AA20123")?;
//! let pan = Pan::new("6225880112345678")?;
//! let field52 = encrypt_pin(&pik, PinBlockFormat::Iso0, &Pin::new("123456")?, Some(&pan), &mut FixedBytes::new(&[]))?;
//! let field64 = compute_mac(MacAlgorithm::UnionPayEcb, &mak, b"0200 ... field 63")?;
//! assert_eq!(field52.as_bytes().len() + field64.len(), 16);
//! assert_eq!(format!("{pik:?} {pan:?}"), "DesKey(16 bytes, kcv 08D7B4FB) Pan(622588******5678)");
//! # Ok::<(), cardwire_security::SecurityError>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod field53;
mod key;
mod mac;
mod pin;
mod rng;
#[cfg(feature = "sm4")]
mod sm4;
mod working_keys;

pub use error::{PinBlockDefect, SecurityError, WorkingKeyKind};
pub use field53::{CipherAlgorithm, PinBlockPanUse, SecurityControl};
pub use key::{DesKey, Kcv, KcvLength, KeyLength, set_odd_parity};
pub use mac::{MacAlgorithm, compute_mac, unionpay_ecb_mac, verify_mac, x9_9_mac, x9_19_mac};
pub use pin::{
    ClearPinBlock, EncryptedPinBlock, Pan, Pin, PinBlockFormat, decrypt_pin, encrypt_pin,
    verify_pin,
};
#[cfg(feature = "os-rng")]
pub use rng::OsRandom;
pub use rng::{FixedBytes, RandomSource};
#[cfg(feature = "sm4")]
pub use sm4::Sm4Key;
pub use working_keys::{Field62Layout, WorkingKeys};
