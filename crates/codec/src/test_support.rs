//! What the codec's unit tests share.

use crate::Message;

/// Chip data for field 55 (one BER-TLV: the application cryptogram).
const ICC: [u8; 11] = [
    0x9F, 0x26, 0x08, 0x0A, 0xB1, 0xC2, 0xD3, 0xE4, 0xF5, 0x06, 0x17,
];

/// A 1987 0200 for the codec's unit tests: text, track, numeric, `x+n`,
/// fixed and variable hex and long fields, valid in every ASCII built-in
/// spec but for field 28 (a date in 1993).
pub(crate) fn ascii_sample() -> Message {
    Message::new("0200".parse().unwrap_or_else(|_| unreachable!()))
        .with(2, "4761739001010119")
        .with(3, "000000")
        .with(4, "000000012500")
        .with(11, "000123")
        .with(28, "C00001250")
        .with(35, "4761739001010119=25122011758928889")
        .with(37, "308010000123")
        .with(41, "TERM0001")
        .with(43, "ACME STORE 123 MAIN ST SHANGHAI     SHCN")
        .with(
            48,
            "A1B2 private data, 33 to 64 bytes: copied in two moves....",
        )
        .with(52, vec![0x1A, 0x2B, 0x3C, 0x4D, 0x5E, 0x6F, 0x70, 0x81])
        .with(55, ICC.to_vec())
        .with(70, "301")
}

/// A UnionPay sale: BCD numerics fixed (odd and even) and with BCD
/// prefixes (PAN, track 2, field 60), text and raw data after BCD
/// prefixes (fields 55, 63), TPDU and header.
pub(crate) fn cups_sample() -> Message {
    let mut sale = Message::new("0200".parse().unwrap_or_else(|_| unreachable!()))
        .with(2, "6222021234567890123")
        .with(3, "000000")
        .with(4, "000000012345")
        .with(11, "000123")
        .with(14, "2912")
        .with(22, "051")
        .with(25, "00")
        .with(35, "6222021234567890123D29122011234500000")
        .with(41, "10016919")
        .with(42, "898310048120001")
        .with(49, "156")
        .with(52, vec![0x3A, 0x6C, 0x9F, 0x0E, 0x12, 0xB4, 0xD7, 0xC8])
        .with(55, ICC.to_vec())
        .with(60, "22000001000")
        .with(63, "CUP")
        .with(64, vec![0x31, 0x30, 0x32, 0x45, 0x46, 0x39, 0x31, 0x41]);
    sale.tpdu = Some(bytes::Bytes::from_static(&[0x60, 0, 3, 0, 0]));
    sale.header = Some(bytes::Bytes::from_static(&[
        0x60, 0x31, 0, 0x31, 0x10, 0x03,
    ]));
    sale
}

/// A small deterministic generator for mutations.
pub(crate) struct Lcg(pub(crate) u64);

impl Lcg {
    /// The next number, 31 bits.
    pub(crate) fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as usize
    }
}
