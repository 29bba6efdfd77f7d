//! cardwire-security on arbitrary input: nothing panics, and
//!
//! * `DesKey::from_hex` / `from_bytes` (and `Sm4Key::from_hex`) accept
//!   exactly the well-formed keys, name the first bad character, give the
//!   bytes back and never echo the input in an error;
//! * a PIN block of any format that decrypts and parses rebuilds to the
//!   very same clear block from its PIN and fill (the parse is exact), and
//!   a valid PIN encrypts and decrypts back, verifying only itself;
//! * every MAC verifies what it computed and nothing else, X9.19 with a
//!   single key is X9.9, zero padding to the block does not change a MAC,
//!   and the UnionPay MAC is 8 uppercase hex characters;
//! * field 62 unwraps from any length without panicking, a successful
//!   unwrap re-wraps to the same bytes, and generated keys round-trip;
//! * field 53 parses exactly the canonical 16 digits and names the first
//!   bad position; PANs and PINs parse exactly the digit strings of their
//!   lengths, and a PAN shows at most 10 digits.
//!
//! Input: one byte picks the check (modulo 8: hex keys, raw keys, field
//! 53, PAN/PIN text, PIN blocks, MACs, field 62 unwrap, field 62
//! generate); the rest is its input. A key there is a selector byte (8,
//! 16 or 24 bytes, modulo 3) and the key bytes; PIN blocks then read a PAN
//! length byte (8 + b % 12), the PAN digits, the 8-byte field 52; MACs a
//! bit-flip byte and the MAB; field 62 the field itself.
#![no_main]

use cardwire_security::{
    ClearPinBlock, DesKey, EncryptedPinBlock, Field62Layout, FixedBytes, KeyLength, MacAlgorithm,
    Pan, Pin, PinBlockDefect, PinBlockFormat, SecurityControl, SecurityError, Sm4Key, WorkingKeys,
    compute_mac, decrypt_pin, encrypt_pin, verify_mac, verify_pin, x9_9_mac,
};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const FORMATS: [PinBlockFormat; 3] = [
    PinBlockFormat::Iso0,
    PinBlockFormat::Iso1,
    PinBlockFormat::Iso3,
];
const ALGORITHMS: [MacAlgorithm; 3] = [
    MacAlgorithm::UnionPayEcb,
    MacAlgorithm::X99,
    MacAlgorithm::X919,
];
const LAYOUTS: [Field62Layout; 3] = [
    Field62Layout::Bytes24,
    Field62Layout::Bytes40,
    Field62Layout::Bytes60,
];

/// A key: a selector byte (8, 16 or 24 bytes), then the key bytes.
fn key(u: &mut Unstructured<'_>) -> Result<DesKey> {
    let len = [8, 16, 24][usize::from(u.arbitrary::<u8>()? % 3)];
    let bytes = u.bytes(len)?;
    Ok(DesKey::from_bytes(bytes).expect("8, 16 or 24 bytes make a key"))
}

/// `len` decimal digits: ASCII digits as they are, other bytes modulo 10.
fn digits(u: &mut Unstructured<'_>, len: usize) -> Result<String> {
    let bytes = u.bytes(len)?;
    Ok(bytes
        .iter()
        .map(|&b| char::from(if b.is_ascii_digit() { b } else { b'0' + b % 10 }))
        .collect())
}

/// An error message must not contain the secret it was about.
fn assert_no_echo(e: &SecurityError, secret: &str) {
    let shown = format!("{e} {e:?}");
    // Eight hex digits in a row never occur in the fixed texts.
    if let Some(head) = secret.as_bytes().get(..8)
        && head.iter().all(u8::is_ascii_hexdigit)
    {
        let head = String::from_utf8_lossy(head);
        assert!(!shown.contains(&*head), "error echoes its input: {shown}");
    }
}

fn hex_keys(text: &str) {
    let b = text.as_bytes();
    match DesKey::from_hex(text) {
        Ok(k) => {
            assert!(
                matches!(b.len(), 16 | 32 | 48),
                "accepted {} digits",
                b.len()
            );
            assert_eq!(
                hex::encode_upper(k.expose_secret()),
                text.to_ascii_uppercase()
            );
            assert_eq!(k.len() * 2, b.len());
        }
        Err(e) => {
            match &e {
                SecurityError::OddHexLength { len, .. } => {
                    assert_eq!(*len, b.len());
                    assert!(!b.len().is_multiple_of(2));
                }
                SecurityError::InvalidHex { index, .. } => {
                    assert!(b.len().is_multiple_of(2));
                    assert!(!b[*index].is_ascii_hexdigit(), "index {index}");
                    assert!(b[..*index].iter().all(u8::is_ascii_hexdigit));
                }
                SecurityError::KeyLength { len, .. } => {
                    assert!(b.iter().all(u8::is_ascii_hexdigit));
                    assert_eq!(*len * 2, b.len());
                    assert!(!matches!(b.len(), 16 | 32 | 48));
                }
                other => panic!("unexpected error {other:?}"),
            }
            assert_no_echo(&e, text);
        }
    }
    match Sm4Key::from_hex(text) {
        Ok(k) => {
            assert_eq!(b.len(), 32);
            assert_eq!(
                hex::encode_upper(k.expose_secret()),
                text.to_ascii_uppercase()
            );
            let mut block = [0x5Au8; 16];
            k.encrypt_block(&mut block);
            k.decrypt_block(&mut block);
            assert_eq!(block, [0x5A; 16]);
        }
        Err(e) => {
            assert!(b.len() != 32 || !b.iter().all(u8::is_ascii_hexdigit));
            assert_no_echo(&e, text);
        }
    }
}

fn raw_keys(bytes: &[u8]) {
    match DesKey::from_bytes(bytes) {
        Ok(k) => {
            assert_eq!(k.expose_secret(), bytes);
            assert_eq!(KeyLength::from_bytes(bytes.len()), Some(k.length()));
            // DES ignores parity bits.
            assert_eq!(k.with_odd_parity().kcv(), k.kcv());
            assert!(k.with_odd_parity().has_odd_parity());
            // K1 = K2 (= K3) is single DES.
            let left = k.left_half();
            let same: Vec<u8> = left.expose_secret().repeat(k.len() / 8);
            let mut a = [0x31u8; 8];
            let mut b = a;
            DesKey::from_bytes(&same)
                .expect("key")
                .encrypt_block(&mut a);
            left.encrypt_block(&mut b);
            assert_eq!(a, b);
            let mut block = [0xC3u8; 8];
            k.encrypt_block(&mut block);
            k.decrypt_block(&mut block);
            assert_eq!(block, [0xC3; 8]);
        }
        Err(_) => assert!(KeyLength::from_bytes(bytes.len()).is_none()),
    }
}

/// The fill source that makes `ClearPinBlock::build` write `fill`.
fn fill_source(format: PinBlockFormat, fill: &[u8]) -> Vec<u8> {
    match format {
        PinBlockFormat::Iso0 => Vec::new(),
        PinBlockFormat::Iso1 => fill.to_vec(),
        PinBlockFormat::Iso3 => fill.iter().map(|n| n.wrapping_sub(0xA)).collect(),
    }
}

fn nibbles(b: &[u8; 8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, x) in b.iter().enumerate() {
        out[2 * i] = x >> 4;
        out[2 * i + 1] = x & 15;
    }
    out
}

/// A 13-digit PAN under which the format 0 block with clear nibbles `n`
/// is well formed: PIN nibbles XOR it are digits, fill nibbles XOR it `F`.
fn pan_fitting(n: &[u8; 16]) -> Pan {
    let len = usize::from(n[1]);
    let digits: String = (4..16)
        .map(|i| {
            let a = if i < 2 + len {
                if n[i] <= 9 { 0 } else { 8 }
            } else {
                n[i] ^ 0xF
            };
            assert!(
                a <= 9,
                "PAN mismatch, yet fill nibble {i} fits no PAN digit"
            );
            char::from(b'0' + a)
        })
        .chain(['0'])
        .collect();
    Pan::new(&digits).expect("13 digits")
}

/// A PIK, a PAN, field 52, then per format a PIN and its fill.
fn pin_blocks(u: &mut Unstructured<'_>) -> Result<()> {
    let pik = key(u)?;
    let pan_len = 8 + usize::from(u.arbitrary::<u8>()? % 12);
    let pan = Pan::new(&digits(u, pan_len)?).expect("digits make a PAN");
    let mut raw = [0u8; 8];
    u.fill_buffer(&mut raw)?;
    let block = EncryptedPinBlock::from_bytes(raw);
    for format in FORMATS {
        // Decrypt and parse anything.
        let clear = block.decrypt(&pik);
        let parsed = decrypt_pin(&pik, format, &block, Some(&pan));
        match &parsed {
            Ok(pin) => {
                // The parse is exact: the PIN and the fill rebuild the block.
                let mut plain = *clear.expose_secret();
                if format.uses_pan() {
                    for (p, a) in plain.iter_mut().zip(pan.account_field()) {
                        *p ^= a;
                    }
                }
                let fill = &nibbles(&plain)[2 + pin.digit_count()..];
                let rebuilt = ClearPinBlock::build(
                    format,
                    pin,
                    Some(&pan),
                    &mut FixedBytes::new(&fill_source(format, fill)),
                )
                .expect("a parsed PIN rebuilds");
                assert_eq!(
                    rebuilt.expose_secret(),
                    clear.expose_secret(),
                    "{format}: parse then build differs"
                );
                assert_eq!(verify_pin(&pik, format, &block, Some(&pan), pin), Ok(true));
            }
            Err(SecurityError::InvalidPinBlock(d)) => {
                let n = nibbles(clear.expose_secret());
                match *d {
                    PinBlockDefect::ControlNibble { expected, found } => {
                        assert_eq!(expected, format.control());
                        assert_eq!(found, n[0]);
                        assert_ne!(found, expected);
                    }
                    PinBlockDefect::PinLength { len } => {
                        assert_eq!(len, n[1]);
                        assert!(!(4..=12).contains(&len));
                    }
                    PinBlockDefect::NonDigitPin { position }
                    | PinBlockDefect::Fill { position } => {
                        assert!((2..16).contains(&position), "{d:?}");
                    }
                    PinBlockDefect::PanMismatch { position } => {
                        assert_eq!(format, PinBlockFormat::Iso0);
                        assert!((4..16).contains(&position), "{d:?}");
                        // Then some PAN makes the block well formed.
                        let pan = pan_fitting(&n);
                        assert!(
                            clear.extract_pin(format, Some(&pan)).is_ok(),
                            "PAN mismatch, yet no PAN fits"
                        );
                    }
                    _ => {}
                }
            }
            Err(e) => panic!("{format}: unexpected error {e:?}"),
        }
        // Format 1 ignores the PAN.
        if format == PinBlockFormat::Iso1 {
            let without = decrypt_pin(&pik, format, &block, None);
            assert_eq!(
                without.as_ref().map(Pin::expose_secret).ok(),
                parsed.as_ref().map(Pin::expose_secret).ok()
            );
        } else {
            assert_eq!(
                decrypt_pin(&pik, format, &block, None).err(),
                Some(SecurityError::PanRequired {
                    format: format.control()
                })
            );
        }

        // A valid PIN goes through and verifies only itself.
        let len = 4 + usize::from(u.arbitrary::<u8>()? % 9);
        let pin = Pin::new(&digits(u, len)?).expect("digits make a PIN");
        let fill_len = usize::from(u.arbitrary::<u8>()? % 33);
        let fill = u.bytes(fill_len)?;
        match encrypt_pin(&pik, format, &pin, Some(&pan), &mut FixedBytes::new(fill)) {
            Ok(field52) => {
                let back = decrypt_pin(&pik, format, &field52, Some(&pan)).expect("own block");
                assert!(back.ct_eq(&pin), "{format}: round trip");
                let mut other = pin.expose_secret().as_bytes().to_vec();
                other[0] = b'0' + (other[0] - b'0' + 1) % 10;
                let other = Pin::new(core::str::from_utf8(&other).expect("digits")).expect("PIN");
                assert_eq!(
                    verify_pin(&pik, format, &field52, Some(&pan), &other),
                    Ok(false)
                );
            }
            // Only the fixed fill source can run dry.
            Err(SecurityError::Random(_)) => assert_ne!(format, PinBlockFormat::Iso0),
            Err(e) => panic!("{format}: {e:?}"),
        }
    }
    Ok(())
}

/// A key, a bit-flip byte, then the MAB.
fn macs(u: &mut Unstructured<'_>) -> Result<()> {
    let k = key(u)?;
    let flip: u8 = u.arbitrary()?;
    let rest = u.len();
    let mab = u.bytes(rest)?;
    for algorithm in ALGORITHMS {
        let mac = match compute_mac(algorithm, &k, mab) {
            Ok(mac) => mac,
            Err(SecurityError::KeyLength { len: 24, .. }) => {
                assert_eq!(algorithm, MacAlgorithm::X919);
                assert_eq!(k.len(), 24);
                continue;
            }
            Err(e) => panic!("{algorithm}: {e:?}"),
        };
        assert_eq!(verify_mac(algorithm, &k, mab, &mac), Ok(()));
        let mut bad = mac;
        let at = usize::from(flip % 8);
        bad[at] ^= 1 << (flip / 32);
        assert_eq!(
            verify_mac(algorithm, &k, mab, &bad),
            Err(SecurityError::MacMismatch {
                algorithm: algorithm.name()
            })
        );
        assert_eq!(
            verify_mac(algorithm, &k, mab, &mac[..at]),
            Err(SecurityError::MacLength { len: at })
        );
        // Zero padding to the block boundary is implied.
        let mut padded = mab.to_vec();
        padded.resize(mab.len().div_ceil(8).max(1) * 8, 0);
        assert_eq!(
            compute_mac(algorithm, &k, &padded),
            Ok(mac),
            "{algorithm}: padding"
        );
        if algorithm == MacAlgorithm::UnionPayEcb {
            assert!(
                mac.iter()
                    .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c)),
                "ECB MAC is uppercase hex"
            );
        }
    }
    // X9.19 with one key is X9.9; X9.9 uses K1 only.
    assert_eq!(
        compute_mac(MacAlgorithm::X919, &k.left_half(), mab),
        Ok(x9_9_mac(&k, mab))
    );
    Ok(())
}

/// Terminal side: a TMK, then field 62 (the rest, any length).
fn field62_unwrap(u: &mut Unstructured<'_>) -> Result<()> {
    let tmk = key(u)?;
    let rest = u.len();
    let bytes = u.bytes(rest)?;
    match WorkingKeys::unwrap(&tmk, bytes) {
        Ok(keys) => {
            let layout = Field62Layout::from_len(bytes.len()).expect("known length");
            let mut again = keys.wrap(&tmk, layout).expect("unwrapped keys re-wrap");
            let mut want = bytes.to_vec();
            if layout == Field62Layout::Bytes40 {
                // The MAK's padding is ignored on unwrap and zero on wrap.
                want[28..36].fill(0);
                again[28..36].fill(0);
            }
            assert_eq!(again, want, "unwrap then wrap");
        }
        Err(SecurityError::KeyDataLength { len }) => {
            assert_eq!(len, bytes.len());
            assert!(Field62Layout::from_len(len).is_none());
        }
        Err(SecurityError::CheckValueMismatch { .. }) => {
            assert!(Field62Layout::from_len(bytes.len()).is_some());
        }
        Err(e) => panic!("field 62: {e:?}"),
    }
    Ok(())
}

/// Host side to terminal side: a TMK, a layout, then the random bytes.
fn field62_generate(u: &mut Unstructured<'_>) -> Result<()> {
    let tmk = key(u)?;
    let layout = LAYOUTS[usize::from(u.arbitrary::<u8>()? % 3)];
    let rest = u.len();
    let random = u.bytes(rest)?;
    if let Ok(keys) = WorkingKeys::generate(layout, &mut FixedBytes::new(random)) {
        let field = keys
            .wrap(&tmk, layout)
            .expect("generated keys fit their layout");
        assert_eq!(field.len(), layout.bytes());
        assert_eq!(WorkingKeys::unwrap(&tmk, &field), Ok(keys));
    }
    Ok(())
}

fn field53(bytes: &[u8]) {
    match SecurityControl::parse(bytes) {
        Ok(f) => assert_eq!(&f.to_digits()[..], bytes, "field 53 is canonical"),
        Err(SecurityError::Field53Length { len }) => {
            assert_eq!(len, bytes.len());
            assert_ne!(len, 16);
        }
        Err(SecurityError::Field53Digit { position, .. }) => {
            assert_eq!(bytes.len(), 16);
            assert!((1..=16).contains(&position));
            // Every digit before the named one is good, and that one is not.
            let mut good = *b"2600000000000000";
            good[..position - 1].copy_from_slice(&bytes[..position - 1]);
            assert!(SecurityControl::parse(&good).is_ok(), "position {position}");
            good[position - 1] = bytes[position - 1];
            assert!(
                matches!(SecurityControl::parse(&good), Err(SecurityError::Field53Digit { position: p, .. }) if p == position),
                "position {position}"
            );
        }
        Err(e) => panic!("field 53: {e:?}"),
    }
}

fn text(s: &str) {
    let _ = s.parse::<MacAlgorithm>();
    let _ = s.parse::<SecurityControl>();
    match Pan::new(s) {
        Ok(pan) => {
            assert_eq!(pan.expose_secret(), s);
            let shown = pan.to_string();
            assert_eq!(shown.len(), s.len());
            assert!(shown.bytes().filter(u8::is_ascii_digit).count() <= 10);
            assert!(s.ends_with(&shown[shown.len() - 4..]));
        }
        Err(_) => assert!(!(8..=19).contains(&s.len()) || !s.bytes().all(|c| c.is_ascii_digit())),
    }
    match Pin::new(s) {
        Ok(pin) => assert_eq!(pin.expose_secret(), s),
        Err(_) => assert!(!(4..=12).contains(&s.len()) || !s.bytes().all(|c| c.is_ascii_digit())),
    }
}

// The first byte picks what to exercise; the rest is its input.
fuzz_target!(|data: &[u8]| {
    let Some((&op, rest)) = data.split_first() else {
        return;
    };
    let mut u = Unstructured::new(rest);
    match op % 8 {
        0 => hex_keys(&String::from_utf8_lossy(rest)),
        1 => raw_keys(rest),
        2 => field53(rest),
        3 => text(&String::from_utf8_lossy(rest)),
        4 => {
            let _ = pin_blocks(&mut u);
        }
        5 => {
            let _ = macs(&mut u);
        }
        6 => {
            let _ = field62_unwrap(&mut u);
        }
        _ => {
            let _ = field62_generate(&mut u);
        }
    }
});
