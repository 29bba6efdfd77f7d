//! Valid messages of every built-in spec, shared by the integration tests.
//! Each one has variable fields and BCD or hex data where its spec has
//! them; all but one need a secondary bitmap.

// Each test crate uses its own part of the fixtures.
#![allow(dead_code)]

use cardwire_codec::{FieldNo, Message, Spec, encode_to_vec, specs};

/// A field number known to be in range.
pub(crate) fn no(n: u8) -> FieldNo {
    FieldNo::new(u16::from(n)).expect("1..=192")
}

/// EMV data for field 55: 9F26 (ARQC), 95 (TVR), 9F36 (ATC).
pub(crate) const ICC: &[u8] = &[
    0x9F, 0x26, 0x08, 0x1A, 0x2B, 0x3C, 0x4D, 0x5E, 0x6F, 0x70, 0x81, 0x95, 0x05, 0x00, 0x80, 0x00,
    0x00, 0x00, 0x9F, 0x36, 0x02, 0x00, 0x01,
];

/// A 19-digit PAN: odd, so BCD specs pad it.
pub(crate) const PAN: &str = "6224242300000000069";

/// Track 2 with the `D` separator (valid in ASCII and in BCD).
pub(crate) const TRACK2: &str = "6224242300000000069D25121011234";

/// A 0200 for ISO 8583:1987 (both the ASCII and the binary spec): every
/// kind of field the 1987 table has, secondary fields 70, 90, 102, 128.
pub(crate) fn iso87_sale() -> Message {
    let mut m = Message::new("0200".parse().expect("MTI"));
    m.set(2, PAN)
        .set(3, "000000")
        .set(4, "000000001234")
        .set(7, "1121120000")
        .set(11, "000123")
        .set(14, "2512")
        .set(22, "051")
        .set(28, "C00000100")
        .set(35, TRACK2)
        .set(37, "123456789012")
        .set(41, "TERM0001")
        .set(42, "MERCHANT0000001")
        .set(48, "PRIVATE DATA 48")
        .set(52, vec![0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0])
        .set(55, ICC)
        .set(70, "301")
        .set(90, "020000012311211200000000000000000000000000")
        .set(102, "ACCOUNT-1")
        .set(128, vec![0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6, 0x07, 0x18]);
    m
}

/// A 1200 for ISO 8583:1993 with secondary and tertiary fields.
pub(crate) fn iso93_sale() -> Message {
    let mut m = Message::new("1200".parse().expect("MTI"));
    m.set(2, PAN)
        .set(3, "000000")
        .set(4, "000000001234")
        .set(11, "000123")
        .set(12, "251121120000")
        .set(22, "A1010151134C")
        .set(24, "200")
        .set(35, "4761739001010010=22122011143804400000")
        .set(37, "ABC123456789")
        .set(41, "TERM0001")
        .set(42, "MERCHANT0000001")
        .set(43, "SHOP NAME>CITY")
        .set(49, "978")
        .set(53, vec![0xAA; 16])
        .set(55, ICC)
        .set(72, "DATA RECORD")
        .set(97, "D0000000000012345")
        .set(100, "12345")
        .set(129, "PRIVATE 129")
        .set(192, "PRIVATE 192");
    m
}

/// A UnionPay POS sale (0200) with TPDU, header, track 2, PIN, field 55,
/// field 60 (odd length, left-aligned BCD) and a MAC.
pub(crate) fn cups_sale() -> Message {
    let mut m = Message::new("0200".parse().expect("MTI"));
    m.tpdu = Some(vec![0x60, 0x00, 0x03, 0x00, 0x00].into());
    m.header = Some(vec![0x60, 0x31, 0x00, 0x31, 0x01, 0x00].into());
    m.set(2, PAN)
        .set(3, "000000")
        .set(4, "000000000100")
        .set(11, "000123")
        .set(14, "2512")
        .set(22, "051")
        .set(23, "001")
        .set(25, "00")
        .set(26, "12")
        .set(35, TRACK2)
        .set(41, "TERM0001")
        .set(42, "MERCHANT0000001")
        .set(49, "156")
        .set(52, vec![0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88])
        .set(53, "2600000000000000")
        .set(55, ICC)
        .set(60, "22000001000")
        .set(64, vec![0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08]);
    m
}

/// Every built-in spec with a valid message for it. `cups` has no field
/// above 64, so its second message asks for an (empty) secondary bitmap.
pub(crate) fn fixtures() -> Vec<(&'static Spec, Message)> {
    let mut cups2 = cups_sale();
    cups2.min_bitmaps = 2;
    vec![
        (specs::iso87ascii(), iso87_sale()),
        (specs::iso87binary(), iso87_sale()),
        (specs::iso93ascii(), iso93_sale()),
        (specs::cups(), cups_sale()),
        (specs::cups(), cups2),
    ]
}

/// Encodes a fixture, which must succeed.
pub(crate) fn wire(spec: &Spec, m: &Message) -> Vec<u8> {
    encode_to_vec(spec, m).unwrap_or_else(|e| panic!("{}: fixture does not encode: {e}", spec.name))
}

/// Uppercase hex, for failure messages.
pub(crate) fn hexs(b: &[u8]) -> String {
    hex::encode_upper(b)
}

/// xorshift64*: a fixed, dependency-free source of test bytes.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Below `n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    pub(crate) fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}
