//! Valid messages from unstructured bytes, for fuzzing code that handles
//! cardwire messages (feature `arbitrary`).
//!
//! [`arbitrary_message`] turns fuzzer input into a [`Message`] that a
//! given [`Spec`] encodes: a valid MTI, the TPDU and header the spec
//! needs, and a set of the spec's fields, each with a value of a valid
//! length made of characters its kind and encoding carry (see
//! [`FieldSpec::alphabet`] and [`FieldSpec::value_lengths`]). Short
//! inputs give small messages; an exhausted input gives the message built
//! so far, never an error.
//!
//! The message is canonical: decoding its encoding gives it back, so
//! `decode(encode(m)).to_message() == m`.
//!
//! # Example
//!
//! A cargo-fuzz target that feeds a terminal's reply handler (here a
//! stand-in) with valid UnionPay messages:
//!
//! ```
//! use cardwire_codec::arbitrary::{Unstructured, arbitrary_message};
//! use cardwire_codec::{Message, decode, encode_to_vec, specs};
//!
//! fn handle_reply(m: &Message) -> Option<&[u8]> {
//!     m.get(39).map(|code| &code[..])
//! }
//!
//! // fuzz_target!(|data: &[u8]| { ... }) in a real fuzz target:
//! let data = b"fuzzer input: any bytes at all \x00\x01\x02\xFF";
//! let mut u = Unstructured::new(data);
//! let msg = arbitrary_message(specs::cups(), &mut u)?;
//! let _ = handle_reply(&msg);
//! // It is valid: it encodes, and decodes back to itself.
//! let wire = encode_to_vec(specs::cups(), &msg)?;
//! assert_eq!(decode(specs::cups(), &wire)?.to_message(), msg);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use bytes::Bytes;

pub use ::arbitrary::{Error, Result, Unstructured};

use crate::spec::{DataEncoding, FieldSpec};
use crate::valid::SIGNS;
use crate::{Message, Mti, Spec};

/// A valid message for `spec` (which must pass [`Spec::validate`]).
///
/// The first input byte sets how dense the message is (from a field or
/// two to nearly every field the spec defines); then come the MTI, the
/// TPDU and header when the spec has them, the number of bitmaps, and for
/// each defined field in turn whether it is present and its value (see
/// [`arbitrary_value`]).
///
/// # Errors
/// None in practice: an exhausted input reads as zeros. The `Result` is
/// the `arbitrary` convention, so the function composes with `?` inside
/// `Arbitrary` implementations.
///
/// # Example
///
/// ```
/// use cardwire_codec::arbitrary::{Unstructured, arbitrary_message};
/// use cardwire_codec::{encode_to_vec, specs};
///
/// let bytes: Vec<u8> = (0..=255).cycle().take(4096).collect();
/// let mut u = Unstructured::new(&bytes);
/// let msg = arbitrary_message(specs::iso93ascii(), &mut u)?;
/// assert!(encode_to_vec(specs::iso93ascii(), &msg).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn arbitrary_message(spec: &Spec, u: &mut Unstructured<'_>) -> Result<Message> {
    // Presence threshold out of 256: a field or two, some, half, nearly all.
    let density: u8 = match u.int_in_range(0u8..=3)? {
        0 => 8,
        1 => 40,
        2 => 128,
        _ => 244,
    };
    let mut m = Message::new(arbitrary_mti(u)?);
    if spec.header.tpdu {
        let mut tpdu = [0u8; 5];
        u.fill_buffer(&mut tpdu)?;
        m.tpdu = Some(Bytes::copy_from_slice(&tpdu));
    }
    if spec.header.length > 0 {
        let mut header = vec![0u8; spec.header.length];
        u.fill_buffer(&mut header)?;
        m.header = Some(header.into());
    }
    let max_bitmaps: u8 = if spec.tertiary_bitmap { 3 } else { 2 };
    let bitmaps = u.int_in_range(1..=max_bitmaps)?;
    for (n, fs) in spec.fields() {
        // An exhausted input reads 0: absent.
        let roll: u8 = u.arbitrary()?;
        if roll >= u8::MAX - density {
            m.set_no(n, arbitrary_value(fs, u)?);
        }
    }
    // Decoding records only bitmaps the fields do not need; ask for more
    // only when the fields need fewer, so the message stays canonical.
    let needed = bitmaps_needed(&m);
    m.min_bitmaps = if bitmaps > needed { bitmaps } else { 1 };
    Ok(m)
}

/// A valid MTI: four decimal digits.
///
/// # Errors
/// None in practice (see [`arbitrary_message`]).
pub fn arbitrary_mti(u: &mut Unstructured<'_>) -> Result<Mti> {
    let mut d = [0u8; 4];
    for c in &mut d {
        *c = b'0' + u.int_in_range(0u8..=9)?;
    }
    Mti::from_digits(d).map_err(|_| Error::IncorrectFormat)
}

/// A valid logical value for a field: a length from
/// [`FieldSpec::value_lengths`] (the shortest and the longest as likely
/// as all others together), the `x+n` sign when the field has one, then
/// characters from [`FieldSpec::alphabet`] (any bytes for `b`).
///
/// # Errors
/// None in practice (see [`arbitrary_message`]).
///
/// # Example
///
/// ```
/// use cardwire_codec::arbitrary::{Unstructured, arbitrary_value};
/// use cardwire_codec::{FieldNo, specs};
///
/// let amount = specs::iso87ascii().field(FieldNo::new(28).unwrap()).unwrap(); // x+n 8
/// let v = arbitrary_value(amount, &mut Unstructured::new(b"\x02\x01\x07\x03"))?;
/// assert_eq!(v.len(), 9);
/// assert!(v[0] == b'C' || v[0] == b'D');
/// assert!(v[1..].iter().all(u8::is_ascii_digit));
/// # Ok::<(), cardwire_codec::arbitrary::Error>(())
/// ```
pub fn arbitrary_value(fs: &FieldSpec, u: &mut Unstructured<'_>) -> Result<Bytes> {
    let lengths = fs.value_lengths();
    let last = lengths.count() - 1;
    let i = match u.int_in_range(0u8..=3)? {
        0 => 0,
        1 => last,
        _ => u.int_in_range(0..=last)?,
    };
    let len = lengths.nth(i).unwrap_or(lengths.min);
    let mut v = Vec::with_capacity(len);
    if fs.has_sign() {
        v.push(*u.choose(SIGNS)?);
    }
    let body = len.saturating_sub(v.len());
    if matches!(fs.encoding, DataEncoding::Binary | DataEncoding::Hex) {
        let start = v.len();
        v.resize(len, 0);
        u.fill_buffer(&mut v[start..])?;
    } else {
        let alphabet = fs.alphabet();
        for _ in 0..body {
            v.push(alphabet[u.choose_index(alphabet.len())?]);
        }
    }
    Ok(v.into())
}

/// Bitmaps the fields of `m` need on the wire.
fn bitmaps_needed(m: &Message) -> u8 {
    m.fields()
        .map(|(n, _)| 1 + u8::from(n.get() > 64) + u8::from(n.get() > 128))
        .max()
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, encode_to_vec, specs};

    /// A deterministic stream of pseudo-random bytes.
    fn noise(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn generated_messages_round_trip_in_every_built_in_spec() {
        for name in specs::NAMES {
            let spec: &Spec = specs::builtin(name).expect("built-in");
            let mut fields = 0;
            for seed in 0..200 {
                let data = noise(seed, 8192);
                let m = arbitrary_message(spec, &mut Unstructured::new(&data)).expect("message");
                fields += m.fields().count();
                let wire = encode_to_vec(spec, &m).unwrap_or_else(|e| panic!("{name}: {e}"));
                let back = decode(spec, &wire)
                    .unwrap_or_else(|e| panic!("{name}: {e}"))
                    .to_message();
                assert_eq!(back, m, "{name}");
            }
            // The generator must not be stuck on empty messages.
            assert!(fields > 200 * 5, "{name}: {fields} fields in 200 messages");
        }
    }

    #[test]
    fn empty_input_gives_an_empty_valid_message() {
        for name in specs::NAMES {
            let spec: &Spec = specs::builtin(name).expect("built-in");
            let m = arbitrary_message(spec, &mut Unstructured::new(&[])).expect("message");
            assert_eq!(m.fields().count(), 0, "{name}");
            assert!(encode_to_vec(spec, &m).is_ok(), "{name}");
        }
    }
}
