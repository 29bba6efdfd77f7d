//! Bad input: the decoder never panics and names the field, the byte
//! offset and the reason; card data never appears in an error; the
//! encoder refuses what the decoder would refuse, naming the field.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use cardwire_codec::spec::{
    BitmapEncoding, DataEncoding, FieldKind, FieldSpec, Length, LengthUnit, MtiEncoding,
};
use cardwire_codec::{
    DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind, FieldNo, Message, Spec, decode,
    encode_to_vec, specs,
};
use common::{PAN, TRACK2, fixtures, hexs, no, wire};

/// Decodes, turning a panic into a test failure that shows the input.
fn try_decode(spec: &Spec, b: &[u8]) -> Result<(), DecodeError> {
    match catch_unwind(AssertUnwindSafe(|| decode(spec, b).map(|_| ()))) {
        Ok(r) => r,
        Err(_) => panic!("{}: decode panicked on {}", spec.name, hexs(b)),
    }
}

/// The error for `b`, which must not decode.
fn decode_err(spec: &Spec, b: &[u8]) -> DecodeError {
    match try_decode(spec, b) {
        Ok(()) => panic!("{}: decoded but should not: {}", spec.name, hexs(b)),
        Err(e) => e,
    }
}

/// Where field `n` sits in a valid frame: (prefix start, data start, data length).
fn locate(spec: &Spec, wire: &[u8], n: u8) -> (usize, usize, usize) {
    let msg = decode(spec, wire).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
    let f = msg
        .field(n)
        .unwrap_or_else(|| panic!("{}: field {n} absent", spec.name));
    let data = f.wire.as_ptr() as usize - wire.as_ptr() as usize;
    let prefix = match f.spec.length {
        Length::Variable { digits, .. } => f.spec.prefix.width(digits),
        Length::Fixed(_) => 0,
    };
    (data - prefix, data, f.wire.len())
}

fn fixture(name: &str) -> (&'static Spec, Vec<u8>) {
    let (spec, m) = fixtures()
        .into_iter()
        .find(|(s, _)| s.name == name)
        .unwrap_or_else(|| panic!("no fixture for {name}"));
    (spec, wire(spec, &m))
}

/// One thing the decoder reads in a single step: header, MTI, a bitmap,
/// a length prefix or a field's data.
struct Unit {
    start: usize,
    len: usize,
    field: Option<FieldNo>,
}

/// The units of a valid frame, in wire order; they tile the frame.
fn units(spec: &Spec, wire: &[u8]) -> Vec<Unit> {
    let msg = decode(spec, wire).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
    let mut out = Vec::new();
    let mut push = |start: usize, len: usize, field: Option<FieldNo>| {
        if len > 0 {
            out.push(Unit { start, len, field });
        }
    };
    let hl = spec.header_len();
    push(0, hl, None);
    let mti = if spec.mti == MtiEncoding::Bcd { 2 } else { 4 };
    push(hl, mti, None);
    let bm = if spec.bitmap == BitmapEncoding::Binary {
        8
    } else {
        16
    };
    for i in 0..usize::from(msg.bitmaps_on_wire()) {
        push(hl + mti + i * bm, bm, None);
    }
    for f in msg.fields() {
        let data = f.wire.as_ptr() as usize - wire.as_ptr() as usize;
        if let Length::Variable { digits, .. } = f.spec.length {
            let w = f.spec.prefix.width(digits);
            push(data - w, w, Some(f.no));
        }
        push(data, f.wire.len(), Some(f.no));
    }
    let mut pos = 0;
    for u in &out {
        assert_eq!(u.start, pos, "{}: units must tile the frame", spec.name);
        pos += u.len;
    }
    assert_eq!(pos, wire.len(), "{}: units must cover the frame", spec.name);
    out
}

#[test]
fn every_strict_prefix_of_a_valid_message_is_truncated_at_the_unit_it_cuts() {
    for (spec, m) in fixtures() {
        let wire = wire(spec, &m);
        let units = units(spec, &wire);
        for k in 0..wire.len() {
            let e = decode_err(spec, &wire[..k]);
            let u = units
                .iter()
                .find(|u| u.start <= k && k < u.start + u.len)
                .unwrap_or_else(|| panic!("no unit holds byte {k}"));
            match e.kind {
                DecodeErrorKind::Truncated {
                    needed, available, ..
                } => {
                    assert_eq!(
                        (e.field, e.offset, needed, available),
                        (u.field, u.start, u.len, k - u.start),
                        "{}: prefix of {k} bytes of {}",
                        spec.name,
                        hexs(&wire)
                    );
                }
                other => panic!(
                    "{}: prefix of {k} bytes: {other:?}, want Truncated",
                    spec.name
                ),
            }
        }
        // The whole frame still decodes: the cut is what broke it.
        try_decode(spec, &wire).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
    }
}

#[test]
fn lowercase_hex_in_the_primary_bitmap_is_bad_bitmap_at_that_char() {
    let (spec, mut wire) = fixture("iso87ascii");
    let i = (4..20)
        .find(|&i| (b'A'..=b'F').contains(&wire[i]))
        .expect("the fixture's primary bitmap has a hex letter");
    wire[i] = wire[i].to_ascii_lowercase();
    let e = decode_err(spec, &wire);
    assert_eq!(
        (e.field, e.offset, e.kind),
        (None, i, DecodeErrorKind::BadBitmap)
    );
}

#[test]
fn non_hex_char_in_the_secondary_bitmap_is_bad_bitmap_at_that_char() {
    let (spec, mut wire) = fixture("iso87ascii");
    wire[25] = b'G';
    let e = decode_err(spec, &wire);
    assert_eq!(
        (e.field, e.offset, e.kind),
        (None, 25, DecodeErrorKind::BadBitmap)
    );
}

/// TPDU, header, MTI 0200 and a primary bitmap for `cups`.
fn cups_head(bitmap: [u8; 8]) -> Vec<u8> {
    let mut v = vec![
        0x60, 0x00, 0x03, 0x00, 0x00, 0x60, 0x31, 0x00, 0x31, 0x01, 0x00, 0x02, 0x00,
    ];
    v.extend_from_slice(&bitmap);
    v
}

#[test]
fn bitmap_bit_for_a_field_the_spec_lacks_is_undefined_field_where_it_would_start() {
    // Fields 3 (defined, 3 BCD bytes) and 5 (not in the UnionPay table).
    let mut wire = cups_head([0x28, 0, 0, 0, 0, 0, 0, 0]);
    wire.extend_from_slice(&[0x00, 0x00, 0x00]);
    let e = decode_err(specs::cups(), &wire);
    assert_eq!(
        (e.field, e.offset, e.kind),
        (Some(no(5)), 24, DecodeErrorKind::UndefinedField(5))
    );
}

#[test]
fn lll_prefix_of_999_in_a_40_byte_frame_is_truncated_not_a_huge_read() {
    // iso87ascii: MTI, bitmap with field 48 only, LLL = 999, 17 bytes of data.
    let mut wire = b"02000000000000010000999".to_vec();
    wire.extend_from_slice(&[b'x'; 17]);
    assert_eq!(wire.len(), 40);
    let e = decode_err(specs::iso87ascii(), &wire);
    assert_eq!((e.field, e.offset), (Some(no(48)), 23));
    assert!(
        matches!(
            e.kind,
            DecodeErrorKind::Truncated {
                needed: 999,
                available: 17,
                ..
            }
        ),
        "{:?}",
        e.kind
    );

    // cups: field 46, BCD LLL 0999, same 40 bytes in all.
    let mut wire = cups_head([0, 0, 0, 0, 0, 0x04, 0, 0]);
    wire.extend_from_slice(&[0x09, 0x99]);
    wire.extend_from_slice(&[b'x'; 17]);
    assert_eq!(wire.len(), 40);
    let e = decode_err(specs::cups(), &wire);
    assert_eq!((e.field, e.offset), (Some(no(46)), 23));
    assert!(
        matches!(
            e.kind,
            DecodeErrorKind::Truncated {
                needed: 999,
                available: 17,
                ..
            }
        ),
        "{:?}",
        e.kind
    );
}

#[test]
fn length_prefix_over_the_field_maximum_is_too_long_at_the_prefix() {
    let mut wire = b"0200400000000000000025".to_vec();
    wire.extend_from_slice(&[b'1'; 25]);
    let e = decode_err(specs::iso87ascii(), &wire);
    assert_eq!(
        (e.field, e.offset, e.kind),
        (
            Some(no(2)),
            20,
            DecodeErrorKind::TooLong {
                length: 25,
                max: 19
            }
        )
    );

    let mut wire = cups_head([0x40, 0, 0, 0, 0, 0, 0, 0]);
    wire.push(0x25);
    wire.extend_from_slice(&[0x11; 13]);
    let e = decode_err(specs::cups(), &wire);
    assert_eq!(
        (e.field, e.offset, e.kind),
        (
            Some(no(2)),
            21,
            DecodeErrorKind::TooLong {
                length: 25,
                max: 19
            }
        )
    );
}

#[test]
fn length_prefix_that_is_not_a_number_is_bad_length_prefix_at_the_prefix() {
    let (spec, mut wire) = fixture("iso87ascii");
    let (p, _, _) = locate(spec, &wire, 2);
    wire[p + 1] = b'x';
    let e = decode_err(spec, &wire);
    assert_eq!(
        (e.field, e.offset, e.kind),
        (
            Some(no(2)),
            p,
            DecodeErrorKind::BadLengthPrefix { encoding: "ASCII" }
        )
    );

    let (spec, mut wire) = fixture("cups");
    let (p, _, _) = locate(spec, &wire, 2);
    wire[p] = 0x1A;
    let e = decode_err(spec, &wire);
    assert_eq!(
        (e.field, e.offset, e.kind),
        (
            Some(no(2)),
            p,
            DecodeErrorKind::BadLengthPrefix { encoding: "BCD" }
        )
    );
}

#[test]
fn odd_hex_text_length_is_odd_hex_length_at_the_prefix() {
    // Field 55 in iso87ascii counts hex characters: 23 bytes are "046".
    let (spec, mut wire) = fixture("iso87ascii");
    let (p, _, _) = locate(spec, &wire, 55);
    assert_eq!(&wire[p..p + 3], b"046");
    wire[p + 2] = b'5';
    let e = decode_err(spec, &wire);
    assert_eq!(
        (e.field, e.offset, e.kind),
        (
            Some(no(55)),
            p,
            DecodeErrorKind::OddHexLength { length: 45 }
        )
    );
}

#[test]
fn non_digit_in_a_numeric_field_is_invalid_char_at_that_byte() {
    for name in ["iso87ascii", "iso93ascii"] {
        let (spec, mut wire) = fixture(name);
        let (_, d, _) = locate(spec, &wire, 11);
        wire[d + 3] = b'Q';
        let e = decode_err(spec, &wire);
        assert_eq!(
            (e.field, e.offset, e.kind),
            (
                Some(no(11)),
                d + 3,
                DecodeErrorKind::InvalidChar {
                    expected: "a digit",
                    found: Some(b'Q')
                }
            ),
            "{name}"
        );
    }
}

#[test]
fn nibble_above_nine_in_bcd_is_invalid_bcd_at_that_byte() {
    for name in ["iso87binary", "cups"] {
        let (spec, mut wire) = fixture(name);
        let (_, d, _) = locate(spec, &wire, 11);
        wire[d + 1] = 0x0A;
        let e = decode_err(spec, &wire);
        assert_eq!(
            (e.field, e.offset, e.kind),
            (
                Some(no(11)),
                d + 1,
                DecodeErrorKind::InvalidBcd {
                    expected: "digit",
                    found: Some(0x0A)
                }
            ),
            "{name}"
        );
    }
    // Field 60 of cups: 11 digits, left-aligned; a bad digit nibble in the last byte.
    let (spec, mut wire) = fixture("cups");
    let (_, d, len) = locate(spec, &wire, 60);
    assert_eq!(len, 6);
    wire[d + 5] = 0xB0;
    let e = decode_err(spec, &wire);
    assert_eq!((e.field, e.offset), (Some(no(60)), d + 5));
    assert!(
        matches!(
            e.kind,
            DecodeErrorKind::InvalidBcd {
                found: Some(0xB0),
                ..
            }
        ),
        "{:?}",
        e.kind
    );
}

#[test]
fn wrong_pad_nibble_is_bad_pad_at_that_byte() {
    let (spec, wire) = fixture("cups");
    // Field 2: 19 digits, left-aligned, so the pad is the last low nibble.
    let (_, d, len) = locate(spec, &wire, 2);
    let mut w = wire.clone();
    w[d + len - 1] |= 0x0F;
    let e = decode_err(spec, &w);
    assert_eq!(
        (e.field, e.offset, e.kind),
        (
            Some(no(2)),
            d + len - 1,
            DecodeErrorKind::BadPad {
                expected: 0,
                found: 0xF
            }
        )
    );
    // Field 23: 3 digits, right-aligned, so the pad is the first high nibble.
    let (_, d, _) = locate(spec, &wire, 23);
    let mut w = wire.clone();
    w[d] |= 0xF0;
    let e = decode_err(spec, &w);
    assert_eq!(
        (e.field, e.offset, e.kind),
        (
            Some(no(23)),
            d,
            DecodeErrorKind::BadPad {
                expected: 0,
                found: 0xF
            }
        )
    );
}

#[test]
fn amount_sign_other_than_c_or_d_is_bad_sign_at_the_sign() {
    for name in ["iso87ascii", "iso87binary"] {
        let (spec, mut wire) = fixture(name);
        let (_, d, _) = locate(spec, &wire, 28);
        assert_eq!(wire[d], b'C');
        wire[d] = b'X';
        let e = decode_err(spec, &wire);
        assert_eq!(
            (e.field, e.offset, e.kind),
            (
                Some(no(28)),
                d,
                DecodeErrorKind::BadSign { found: Some(b'X') }
            ),
            "{name}"
        );
    }
}

#[test]
fn bytes_after_the_last_field_are_trailing_bytes_with_their_count() {
    for (spec, m) in fixtures() {
        let mut wire = wire(spec, &m);
        let end = wire.len();
        wire.extend_from_slice(b"000");
        let e = decode_err(spec, &wire);
        assert_eq!(
            (e.field, e.offset, e.kind),
            (None, end, DecodeErrorKind::TrailingBytes(3)),
            "{}",
            spec.name
        );
    }
}

#[test]
fn mti_that_is_not_four_digits_is_bad_mti_at_its_start() {
    for name in ["iso87ascii", "iso93ascii"] {
        let (spec, mut wire) = fixture(name);
        wire[2] = b'X';
        let e = decode_err(spec, &wire);
        assert_eq!(
            (e.field, e.offset, e.kind),
            (None, 0, DecodeErrorKind::BadMti),
            "{name}"
        );
    }
    for name in ["iso87binary", "cups"] {
        let (spec, mut wire) = fixture(name);
        let at = spec.header_len();
        wire[at + 1] = 0x0A;
        let e = decode_err(spec, &wire);
        assert_eq!(
            (e.field, e.offset, e.kind),
            (None, at, DecodeErrorKind::BadMti),
            "{name}"
        );
    }
}

/// Every 4-digit run of `secret` that could identify it.
fn assert_no_leak(shown: &str, secret: &str, bad: u8) {
    for w in secret.as_bytes().windows(4) {
        let w = std::str::from_utf8(w).expect("ASCII");
        assert!(!shown.contains(w), "{shown:?} shows {w:?} of the card data");
    }
    assert!(
        !shown.contains(bad as char),
        "{shown:?} shows the bad character"
    );
    assert!(
        !shown.contains(&format!("{bad:02X}")),
        "{shown:?} shows the bad byte"
    );
}

#[test]
fn pan_with_a_letter_is_reported_without_the_pan_or_the_letter() {
    let (spec, mut wire) = fixture("iso87ascii");
    let (_, d, _) = locate(spec, &wire, 2);
    wire[d + 6] = b'Q';
    let e = decode_err(spec, &wire);
    assert_eq!(
        (e.field, e.offset, e.kind.clone()),
        (
            Some(no(2)),
            d + 6,
            DecodeErrorKind::InvalidChar {
                expected: "a digit",
                found: None
            }
        )
    );
    assert_no_leak(&e.to_string(), PAN, b'Q');
    assert_no_leak(&format!("{e:?}"), PAN, b'Q');

    // BCD: a nibble of E in the PAN.
    let (spec, mut wire) = fixture("cups");
    let (_, d, _) = locate(spec, &wire, 2);
    wire[d + 3] = 0xE2;
    let e = decode_err(spec, &wire);
    assert_eq!((e.field, e.offset), (Some(no(2)), d + 3));
    assert!(
        matches!(e.kind, DecodeErrorKind::InvalidBcd { found: None, .. }),
        "{:?}",
        e.kind
    );
    assert_no_leak(&e.to_string(), PAN, 0xE2);

    // The encoder keeps the same rule.
    let mut m = common::iso87_sale();
    m.set(2, "622424Q300000000069");
    let e = encode_to_vec(specs::iso87ascii(), &m).expect_err("a letter in the PAN");
    assert_eq!(
        (e.field, e.kind.clone()),
        (
            Some(no(2)),
            EncodeErrorKind::InvalidChar {
                expected: "a digit",
                position: 6,
                found: None
            }
        )
    );
    assert_no_leak(&e.to_string(), PAN, b'Q');
}

#[test]
fn track2_with_a_bad_char_is_reported_without_the_track() {
    let (spec, mut wire) = fixture("iso87ascii");
    let (_, d, _) = locate(spec, &wire, 35);
    wire[d + 22] = b'Q';
    let e = decode_err(spec, &wire);
    assert_eq!((e.field, e.offset), (Some(no(35)), d + 22));
    assert!(
        matches!(e.kind, DecodeErrorKind::InvalidChar { found: None, .. }),
        "{:?}",
        e.kind
    );
    assert_no_leak(&e.to_string(), TRACK2, b'Q');
    assert_no_leak(&format!("{e:?}"), TRACK2, b'Q');

    let (spec, mut wire) = fixture("cups");
    let (_, d, _) = locate(spec, &wire, 35);
    wire[d + 11] = 0x5E;
    let e = decode_err(spec, &wire);
    assert_eq!((e.field, e.offset), (Some(no(35)), d + 11));
    assert!(
        matches!(e.kind, DecodeErrorKind::InvalidBcd { found: None, .. }),
        "{:?}",
        e.kind
    );
    assert_no_leak(&e.to_string(), TRACK2, 0x5E);
}

#[test]
fn lowercase_hex_in_a_pin_block_is_invalid_char_without_echo() {
    let (spec, mut wire) = fixture("iso87ascii");
    let (_, d, _) = locate(spec, &wire, 52);
    assert_eq!(&wire[d..d + 16], b"123456789ABCDEF0");
    wire[d + 9] = b'a';
    let e = decode_err(spec, &wire);
    assert_eq!(
        (e.field, e.offset, e.kind.clone()),
        (
            Some(no(52)),
            d + 9,
            DecodeErrorKind::InvalidChar {
                expected: "an uppercase hex digit",
                found: None
            }
        )
    );
    assert!(!e.to_string().contains("9ABC"), "{e}");
}

#[test]
fn public_field_error_shows_the_bad_char() {
    let (spec, mut wire) = fixture("iso87ascii");
    let (_, d, _) = locate(spec, &wire, 11);
    wire[d] = b'Q';
    let shown = decode_err(spec, &wire).to_string();
    assert!(shown.contains("field 11"), "{shown}");
    assert!(shown.contains("'Q'") && shown.contains("0x51"), "{shown}");

    let mut m = common::iso87_sale();
    m.set(11, "Q00123");
    let shown = encode_to_vec(spec, &m).expect_err("bad STAN").to_string();
    assert!(
        shown.contains("field 11") && shown.contains("'Q'"),
        "{shown}"
    );
}

fn encode_err(spec: &Spec, m: &Message) -> EncodeError {
    match encode_to_vec(spec, m) {
        Ok(w) => panic!("{}: encoded but should not: {}", spec.name, hexs(&w)),
        Err(e) => e,
    }
}

#[test]
fn encoder_refuses_bad_values_naming_the_field() {
    let a = specs::iso87ascii();
    let base = common::iso87_sale;

    let e = encode_err(a, &base().with(11, "12345"));
    assert_eq!(
        (e.field, e.kind),
        (
            Some(no(11)),
            EncodeErrorKind::WrongLength {
                expected: 6,
                got: 5
            }
        )
    );

    // x+n counts its sign: 8 digits are 9 characters.
    let e = encode_err(a, &base().with(28, "C0000010"));
    assert_eq!(
        (e.field, e.kind),
        (
            Some(no(28)),
            EncodeErrorKind::WrongLength {
                expected: 9,
                got: 8
            }
        )
    );

    let e = encode_err(a, &base().with(2, "62242423000000000691"));
    assert_eq!(
        (e.field, e.kind),
        (
            Some(no(2)),
            EncodeErrorKind::TooLong {
                length: 20,
                max: 19
            }
        )
    );

    let e = encode_err(a, &base().with(11, "12A456"));
    assert_eq!(
        (e.field, e.kind),
        (
            Some(no(11)),
            EncodeErrorKind::InvalidChar {
                expected: "a digit",
                position: 2,
                found: Some(b'A')
            }
        )
    );

    let e = encode_err(a, &base().with(28, "X00000100"));
    assert_eq!(e.field, Some(no(28)));
    assert!(
        matches!(e.kind, EncodeErrorKind::InvalidChar { position: 0, .. }),
        "{:?}",
        e.kind
    );

    // Binary data in an ASCII spec is written as hex: 8 bytes, not 16 characters.
    let e = encode_err(a, &base().with(52, "123456789ABCDEF0"));
    assert_eq!(
        (e.field, e.kind),
        (
            Some(no(52)),
            EncodeErrorKind::WrongLength {
                expected: 8,
                got: 16
            }
        )
    );
}

#[test]
fn encoder_refuses_fields_the_spec_cannot_carry() {
    let e = encode_err(specs::cups(), &common::cups_sale().with(5, "000000000001"));
    assert_eq!(
        (e.field, e.kind),
        (Some(no(5)), EncodeErrorKind::UndefinedField(5))
    );

    // ISO 8583:1993: bit 65 announces the tertiary bitmap.
    let e = encode_err(
        specs::iso93ascii(),
        &common::iso93_sale().with(65, vec![0u8]),
    );
    assert_eq!(
        (e.field, e.kind),
        (Some(no(65)), EncodeErrorKind::ReservedField(65))
    );

    let e = encode_err(specs::iso87ascii(), &common::iso87_sale().with(1, "0"));
    assert_eq!(
        (e.field, e.kind),
        (Some(no(1)), EncodeErrorKind::ReservedField(1))
    );

    let e = encode_err(specs::iso87ascii(), &common::iso87_sale().with(129, "X"));
    assert_eq!(
        (e.field, e.kind),
        (Some(no(129)), EncodeErrorKind::ReservedField(129))
    );

    let mut m = common::iso87_sale();
    m.min_bitmaps = 3;
    let e = encode_err(specs::iso87ascii(), &m);
    assert_eq!((e.field, e.kind), (None, EncodeErrorKind::NoTertiaryBitmap));
}

#[test]
fn encoder_refuses_a_missing_or_malformed_tpdu_and_header() {
    let mut m = common::cups_sale();
    m.tpdu = None;
    let e = encode_err(specs::cups(), &m);
    assert_eq!(e.field, None);
    assert!(matches!(e.kind, EncodeErrorKind::Header(_)), "{:?}", e.kind);

    let mut m = common::cups_sale();
    m.tpdu = Some(vec![0x60, 0, 3, 0].into());
    assert!(matches!(
        encode_err(specs::cups(), &m).kind,
        EncodeErrorKind::Header(_)
    ));

    let mut m = common::cups_sale();
    m.header = None;
    assert!(matches!(
        encode_err(specs::cups(), &m).kind,
        EncodeErrorKind::Header(_)
    ));

    let mut m = common::iso87_sale();
    m.tpdu = Some(vec![0x60, 0, 3, 0, 0].into());
    assert!(matches!(
        encode_err(specs::iso87ascii(), &m).kind,
        EncodeErrorKind::Header(_)
    ));
}

#[test]
fn odd_digit_count_with_a_byte_counted_bcd_prefix_is_odd_digits() {
    let mut spec = specs::cups().clone();
    spec.field_mut(no(2)).expect("field 2").unit = LengthUnit::Bytes;
    spec.validate()
        .expect("a byte-counted BCD PAN is a valid spec");
    let e = encode_err(&spec, &common::cups_sale());
    assert_eq!(
        (e.field, e.kind),
        (Some(no(2)), EncodeErrorKind::OddDigits(19))
    );
}

use common::Rng;

/// A byte the specs often accept: a digit, a hex letter, a separator, packed BCD.
fn plausible(rng: &mut Rng) -> u8 {
    const NICE: &[u8] = b"0123456789ABCDEF=D CX";
    match rng.below(3) {
        0 => NICE[rng.below(NICE.len())],
        1 => (rng.below(10) as u8) << 4 | rng.below(10) as u8,
        _ => rng.byte(),
    }
}

fn mutate(rng: &mut Rng, b: &mut Vec<u8>) {
    let at = |rng: &mut Rng, b: &Vec<u8>| rng.below(b.len().max(1));
    match rng.below(7) {
        0 if !b.is_empty() => {
            let i = at(rng, b);
            b[i] = rng.byte();
        }
        1 if !b.is_empty() => {
            let i = at(rng, b);
            b[i] = plausible(rng);
        }
        2 if !b.is_empty() => {
            let i = at(rng, b);
            b[i] ^= 1 << rng.below(8);
        }
        3 if !b.is_empty() => {
            let i = at(rng, b);
            b.remove(i);
        }
        4 => {
            let i = rng.below(b.len() + 1);
            let v = plausible(rng);
            b.insert(i, v);
        }
        5 => {
            let i = rng.below(b.len() + 1);
            b.truncate(i);
        }
        _ if !b.is_empty() => {
            let i = at(rng, b);
            let n = rng.below(8).min(b.len() - i);
            let chunk = b[i..i + n].to_vec();
            let j = rng.below(b.len() + 1);
            b.splice(j..j, chunk);
        }
        _ => b.push(rng.byte()),
    }
}

#[test]
fn random_bytes_never_panic_and_every_decodable_input_reencodes_identically() {
    let specs_and_frames: Vec<(&Spec, Vec<Vec<u8>>)> = specs::NAMES
        .iter()
        .map(|name| {
            let spec: &Spec = specs::builtin(name).expect("built-in");
            let frames = fixtures()
                .iter()
                .filter(|(s, _)| s.name == *name)
                .map(|(s, m)| wire(s, m))
                .collect();
            (spec, frames)
        })
        .collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut decoded = [0usize; 4];
    for _ in 0..20_000 {
        for (si, (spec, frames)) in specs_and_frames.iter().enumerate() {
            let input: Vec<u8> = match rng.below(3) {
                // Pure noise.
                0 => (0..rng.below(300)).map(|_| rng.byte()).collect(),
                // A valid head (header, MTI, bitmaps), then plausible bytes.
                1 => {
                    let f = &frames[rng.below(frames.len())];
                    let head = spec.header_len() + if spec.mti == MtiEncoding::Bcd { 2 } else { 4 };
                    let mut b = f[..head + rng.below(f.len() - head)].to_vec();
                    let n = rng.below(300);
                    b.extend((0..n).map(|_| plausible(&mut rng)));
                    b
                }
                // A valid frame, mutated.
                _ => {
                    let mut b = frames[rng.below(frames.len())].clone();
                    for _ in 0..=rng.below(3) {
                        mutate(&mut rng, &mut b);
                    }
                    b
                }
            };
            let outcome = catch_unwind(AssertUnwindSafe(|| match decode(spec, &input) {
                Ok(msg) => Ok(encode_to_vec(spec, &msg.to_message())),
                Err(e) => Err(e),
            }));
            match outcome {
                Err(_) => panic!("{}: panicked on {}", spec.name, hexs(&input)),
                Ok(Ok(Ok(again))) => {
                    assert_eq!(
                        hexs(&again),
                        hexs(&input),
                        "{}: encode(decode(b)) != b for {}",
                        spec.name,
                        hexs(&input)
                    );
                    decoded[si] += 1;
                }
                Ok(Ok(Err(e))) => panic!(
                    "{}: decoded but does not re-encode ({e}): {}",
                    spec.name,
                    hexs(&input)
                ),
                Ok(Err(e)) => {
                    assert!(
                        e.offset <= input.len(),
                        "{}: {e} past the end of {}",
                        spec.name,
                        hexs(&input)
                    );
                    if let DecodeErrorKind::Truncated {
                        needed, available, ..
                    } = e.kind
                    {
                        assert!(
                            needed > available && e.offset + available == input.len(),
                            "{}: inconsistent {e} for {}",
                            spec.name,
                            hexs(&input)
                        );
                    }
                }
            }
        }
    }
    // The round-trip branch must have run, or the test proves only "no panic".
    for (i, n) in decoded.iter().enumerate() {
        assert!(
            *n >= 200,
            "{}: only {n} random inputs decoded",
            specs::NAMES[i]
        );
    }
}

#[test]
fn zero_length_prefix_on_a_bcd_amount_is_bad_sign_not_a_bare_sign() {
    // x+n..9 in BCD with a character-counted prefix (the sign counts).
    // A prefix of 0 announces neither sign nor digits; the decoder used to
    // read one byte anyway, took it for the sign and gave back "C", which
    // re-encodes with a prefix of 1.
    let mut spec = Spec::new("amounts");
    let mut fs = FieldSpec::new(
        "Amount, transaction fee",
        FieldKind::XN,
        Length::Variable { digits: 2, max: 9 },
    );
    fs.encoding = DataEncoding::Bcd;
    spec.set_field(no(28), fs);
    spec.validate().expect("valid spec");
    let mut frame = b"0200".to_vec();
    frame.extend_from_slice(b"0000001000000000");
    let at = frame.len() + 2;
    frame.extend_from_slice(b"00C");
    let e = decode_err(&spec, &frame);
    assert_eq!(
        (e.field, e.offset, e.kind),
        (Some(no(28)), at, DecodeErrorKind::BadSign { found: None })
    );
    // What the encoder makes of the shortest amount decodes back.
    let mut m = Message::new("0200".parse().expect("MTI"));
    m.set(28, "C");
    let wire = encode_to_vec(&spec, &m).expect("encodes");
    assert_eq!(&wire[20..], b"01C");
    assert_eq!(decode(&spec, &wire).expect("decodes").to_message(), m);
}

#[test]
fn byte_counted_bcd_longer_than_its_maximum_is_too_long() {
    // n..19 in BCD with a prefix that counts bytes: 10 bytes would be 20
    // digits, one more than the field may hold (and than the encoder would
    // write). Found by review of the fuzz campaign.
    let mut spec = Spec::new("bytes");
    let mut fs = FieldSpec::new("PAN", FieldKind::N, Length::Variable { digits: 2, max: 19 });
    fs.encoding = DataEncoding::Bcd;
    fs.unit = LengthUnit::Bytes;
    spec.set_field(no(2), fs);
    spec.validate().expect("valid spec");
    let mut frame = b"0200".to_vec();
    frame.extend_from_slice(b"4000000000000000");
    let at = frame.len();
    frame.extend_from_slice(b"10");
    frame.extend_from_slice(&[0x12; 10]);
    let e = decode_err(&spec, &frame);
    assert_eq!((e.field, e.offset), (Some(no(2)), at), "{e}");
    assert!(
        matches!(e.kind, DecodeErrorKind::TooLong { length: 10, max: 9 }),
        "{e}"
    );
    // Nine bytes (18 digits) are fine and round-trip.
    let mut m = Message::new("0200".parse().expect("MTI"));
    m.set(2, "123456789012345678");
    let wire = encode_to_vec(&spec, &m).expect("encodes");
    assert_eq!(decode(&spec, &wire).expect("decodes").to_message(), m);
}
