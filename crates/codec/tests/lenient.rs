//! Frames from the field, which bend the spec: a lenient decode reads
//! them as far as their structure allows and says where each deviation
//! is; a strict decode stops at the first and keeps the fields before it.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use cardwire_codec::{
    DecodeErrorKind, DecodeMode, DecodeWarning, DecodeWarningKind, Decoded, FieldNo, Message, Spec,
    decode, decode_with, encode_to_vec, specs,
};
use common::no;

fn lenient<'a>(spec: &'a Spec, frame: &'a [u8]) -> Decoded<'a> {
    decode_with(spec, frame, DecodeMode::Lenient)
}

fn strict<'a>(spec: &'a Spec, frame: &'a [u8]) -> Decoded<'a> {
    decode_with(spec, frame, DecodeMode::Strict)
}

/// The only warning of a lenient decode that read the whole frame.
fn one_warning(d: &Decoded<'_>) -> DecodeWarning {
    assert!(d.error.is_none(), "{:?}", d.error);
    assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
    d.warnings[0].clone()
}

/// A 1987 ASCII 0200 with PAN, processing code, amount, STAN, PIN block
/// (hex text) and terminal.
fn ascii_0200() -> (Message, Vec<u8>) {
    let m = Message::new("0200".parse().unwrap())
        .with(2, "4761739001010119")
        .with(3, "000000")
        .with(4, "000000001000")
        .with(11, "000123")
        .with(12, "101530")
        .with(13, "1206")
        .with(14, "2512")
        .with(41, "TERM0001")
        .with(52, vec![0xAB, 0xCD, 0xEF, 0x01, 0x23, 0x45, 0x67, 0x89]);
    let wire = encode_to_vec(specs::iso87ascii(), &m).unwrap();
    (m, wire)
}

/// Where field `n`'s data starts in `frame`, by a strict decode.
fn data_at(spec: &Spec, frame: &[u8], n: u8) -> usize {
    let msg = decode(spec, frame).unwrap();
    let wire = msg.field(n).unwrap().wire;
    wire.as_ptr() as usize - frame.as_ptr() as usize
}

#[test]
fn a_lowercase_hex_bitmap_is_a_warning_at_the_bitmap() {
    let (m, mut wire) = ascii_0200();
    assert_eq!(&wire[4..20], b"703C000000801000");
    wire[4..20].make_ascii_lowercase();
    assert!(strict(specs::iso87ascii(), &wire).error.is_some());
    let d = lenient(specs::iso87ascii(), &wire);
    let w = one_warning(&d);
    assert_eq!(
        (w.field, w.offset, w.kind),
        (None, 4, DecodeWarningKind::LowercaseHex)
    );
    assert_eq!(d.message.unwrap().to_message(), m);
}

#[test]
fn lowercase_hex_text_in_a_field_is_a_warning_on_that_field() {
    let (m, mut wire) = ascii_0200();
    let at = data_at(specs::iso87ascii(), &wire, 52);
    wire[at..at + 16].make_ascii_lowercase();
    let d = lenient(specs::iso87ascii(), &wire);
    let w = one_warning(&d);
    assert_eq!(w.field, Some(no(52)));
    assert_eq!(w.kind, DecodeWarningKind::LowercaseHex);
    let got = d.message.unwrap().value(52).unwrap().to_vec();
    assert_eq!(got, m.get(52).unwrap().to_vec());
}

#[test]
fn hex_text_that_is_not_hex_stops_even_a_lenient_decode() {
    let (_, mut wire) = ascii_0200();
    let at = data_at(specs::iso87ascii(), &wire, 52);
    wire[at + 3] = b'G';
    let d = lenient(specs::iso87ascii(), &wire);
    let e = d.error.unwrap();
    assert_eq!((e.field, e.offset), (Some(no(52)), at + 3));
    // The fields before it are kept.
    assert_eq!(d.message.unwrap().fields().count(), 8);
}

#[test]
fn a_field_longer_than_its_maximum_is_read_as_its_prefix_says() {
    let (_, wire) = ascii_0200();
    // PAN of 25 digits where the spec allows 19.
    let long = "4761739001010119123456789";
    let mut frame = wire[..20].to_vec();
    frame.extend_from_slice(format!("{}{long}", long.len()).as_bytes());
    frame.extend_from_slice(&wire[38..]);
    let s = strict(specs::iso87ascii(), &frame).error.unwrap();
    assert_eq!(
        (s.field, s.offset, s.kind),
        (
            Some(no(2)),
            20,
            DecodeErrorKind::TooLong {
                length: 25,
                max: 19
            }
        )
    );
    let d = lenient(specs::iso87ascii(), &frame);
    let w = one_warning(&d);
    assert_eq!(
        (w.field, w.offset, w.kind),
        (
            Some(no(2)),
            20,
            DecodeWarningKind::OverLong {
                length: 25,
                max: 19
            }
        )
    );
    let msg = d.message.unwrap();
    assert_eq!(msg.value(2).unwrap().to_string(), long);
    assert_eq!(msg.value(41).unwrap().to_string(), "TERM0001");
}

#[test]
fn bytes_outside_a_text_field_s_characters_are_counted_and_the_first_shown() {
    let (_, mut wire) = ascii_0200();
    let at = data_at(specs::iso87ascii(), &wire, 41);
    wire[at + 4] = 0x01;
    wire[at + 6] = 0x7F;
    let d = lenient(specs::iso87ascii(), &wire);
    let w = one_warning(&d);
    assert_eq!(w.field, Some(no(41)));
    assert_eq!(w.offset, at + 4);
    assert!(
        matches!(
            w.kind,
            DecodeWarningKind::OutsideCharset {
                found: Some(0x01),
                count: 2,
                ..
            }
        ),
        "{:?}",
        w.kind
    );
    let msg = d.message.unwrap();
    assert_eq!(
        msg.field(41).unwrap().text(),
        None,
        "control bytes are not text"
    );
}

#[test]
fn a_bcd_pad_nibble_other_than_the_spec_s_is_a_warning() {
    let m = common::cups_sale();
    let mut wire = encode_to_vec(specs::cups(), &m).unwrap();
    // The 19-digit PAN is left-aligned with a 0 pad nibble last.
    let at = data_at(specs::cups(), &wire, 2);
    assert_eq!(wire[at + 9] & 0x0F, 0);
    wire[at + 9] |= 0x0F;
    assert!(matches!(
        strict(specs::cups(), &wire).error.unwrap().kind,
        DecodeErrorKind::BadPad {
            expected: 0,
            found: 0xF
        }
    ));
    let d = lenient(specs::cups(), &wire);
    let w = one_warning(&d);
    assert_eq!(w.field, Some(no(2)));
    assert_eq!(
        w.kind,
        DecodeWarningKind::OtherPad {
            expected: 0,
            found: 0xF
        }
    );
    assert_eq!(d.message.unwrap().to_message(), m);
}

#[test]
fn an_empty_secondary_bitmap_is_a_warning_and_still_decodes_strictly() {
    let m = common::fixtures().pop().unwrap().1;
    assert_eq!(m.min_bitmaps, 2);
    let wire = encode_to_vec(specs::cups(), &m).unwrap();
    assert!(decode(specs::cups(), &wire).is_ok());
    let d = lenient(specs::cups(), &wire);
    let w = one_warning(&d);
    assert_eq!((w.field, w.offset), (None, 11 + 2 + 8));
    assert_eq!(w.kind, DecodeWarningKind::EmptySecondaryBitmap);
}

#[test]
fn bytes_after_the_last_field_are_a_warning() {
    let (m, mut wire) = ascii_0200();
    let end = wire.len();
    wire.extend_from_slice(b"\r\n");
    assert_eq!(
        decode(specs::iso87ascii(), &wire).unwrap_err().kind,
        DecodeErrorKind::TrailingBytes(2)
    );
    let d = lenient(specs::iso87ascii(), &wire);
    let w = one_warning(&d);
    assert_eq!(
        (w.offset, w.kind),
        (end, DecodeWarningKind::TrailingBytes(2))
    );
    assert_eq!(d.message.unwrap().to_message(), m);
}

#[test]
fn an_undefined_field_stops_a_lenient_decode_after_the_fields_before_it() {
    let (_, mut wire) = ascii_0200();
    // A dialect without field 11.
    let spec = {
        let mut s = specs::iso87ascii().clone();
        s.remove_field(no(11));
        s
    };
    let d = lenient(&spec, &wire);
    let e = d.error.unwrap();
    assert_eq!(e.kind, DecodeErrorKind::UndefinedField(11));
    let msg = d.message.unwrap();
    let read: Vec<FieldNo> = msg.fields().map(|f| f.no).collect();
    assert_eq!(read, [no(2), no(3), no(4)]);
    assert!(!msg.has(11) && !msg.has(41));
    // Truncated: the last field cut short.
    wire.truncate(wire.len() - 3);
    let d = lenient(specs::iso87ascii(), &wire);
    assert!(matches!(
        d.error.unwrap().kind,
        DecodeErrorKind::Truncated {
            what: "field data",
            ..
        }
    ));
    assert_eq!(d.message.unwrap().fields().count(), 8);
}

#[test]
fn a_strict_decode_with_keeps_the_fields_before_the_error_decode_reports() {
    let (_, mut wire) = ascii_0200();
    let at = data_at(specs::iso87ascii(), &wire, 11);
    wire[at + 2] = b'X';
    let e = decode(specs::iso87ascii(), &wire).unwrap_err();
    let d = strict(specs::iso87ascii(), &wire);
    assert_eq!(d.error.as_ref(), Some(&e));
    assert!(d.warnings.is_empty());
    let msg = d.message.unwrap();
    assert_eq!(
        msg.fields().map(|f| f.no).collect::<Vec<_>>(),
        [no(2), no(3), no(4)]
    );
    assert_eq!(msg.value(11), None);
}

#[test]
fn valid_frames_read_leniently_give_no_warning_and_the_same_fields() {
    for (spec, m) in common::fixtures() {
        if m.min_bitmaps > 1 {
            continue;
        }
        let wire = common::wire(spec, &m);
        let d = lenient(spec, &wire);
        assert!(d.error.is_none() && d.warnings.is_empty(), "{}", spec.name);
        assert_eq!(d.message.unwrap().to_message(), m, "{}", spec.name);
    }
}

/// A UnionPay sale whose field 60 has 19 digits and whose field 64 is a
/// UnionPay ECB MAC (DOMAIN.md section 3).
const CUPS_SALE_60_19: &str = "600003000060321032007202003020048000C08015000000000000001234000002030099303030303030303139353237313831383232313738373531353600192600000100060000000000435F01123238343431323334353637383930313233345F03063136303033365F04063230303832365C0230314233413039324145";

#[test]
fn a_cups_sale_with_a_19_digit_field_60_decodes_strictly_field_for_field() {
    let frame = hex::decode(CUPS_SALE_60_19).unwrap();
    let msg = decode(specs::cups(), &frame).unwrap();
    let f60 = msg.field(60).unwrap();
    assert_eq!(f60.value.to_string(), "2600000100060000000");
    let parts: Vec<(String, String)> = f60
        .subfields()
        .map(|(p, v)| (p.id.clone(), v.to_string()))
        .collect();
    let want = [
        ("60.1", "26"),
        ("60.2", "000001"),
        ("60.3", "000"),
        ("60.4", "6"),
        ("60.5", "0"),
        ("60.6", "0"),
        ("60.7", "000"),
        ("60.8", "00"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(parts, want);
    assert_eq!(msg.value(4).unwrap().to_string(), "000000001234");
    assert_eq!(msg.value(41).unwrap().to_string(), "00000001");
    assert_eq!(msg.value(42).unwrap().to_string(), "952718182217875");
    assert_eq!(msg.value(64).unwrap().to_vec(), b"B3A092AE");
    assert_eq!(
        encode_to_vec(specs::cups(), &msg.to_message()).unwrap(),
        frame
    );
}

#[test]
fn gbk_text_shows_as_chinese_and_keeps_its_bytes() {
    // 交易成功 ("approved") and 中国银联 ("China UnionPay") in GBK.
    let gbk = b"CUP\xBD\xBB\xD2\xD7\xB3\xC9\xB9\xA6";
    let mut m = Message::new("0210".parse().unwrap());
    m.tpdu = Some(vec![0x60, 0, 0, 0, 3].into());
    m.header = Some(vec![0x60, 0x31, 0, 0x31, 0x10, 0x03].into());
    m.set(39, "00").set(63, &gbk[..]);
    let wire = encode_to_vec(specs::cups(), &m).unwrap();
    let msg = decode(specs::cups(), &wire).unwrap();
    let f63 = msg.field(63).unwrap();
    assert_eq!(f63.text().as_deref(), Some("CUP交易成功"));
    assert_eq!(f63.value.to_vec(), gbk);
    // The same bytes in a field that declares no character set are not
    // shown as text.
    let f = msg.field(39).unwrap();
    assert_eq!(f.text().as_deref(), Some("00"));
    let mut ascii = specs::cups().clone();
    ascii.field_mut(no(63)).unwrap().charset = cardwire_codec::Charset::Ascii;
    let plain = decode(&ascii, &wire).unwrap();
    assert_eq!(plain.field(63).unwrap().text(), None);
}
