//! Sample messages shared by the benchmarks: built with the codec itself so
//! every bench measures the same bytes.

use cardwire_codec::{Message, encode_to_vec, specs};

/// A typical UnionPay POS chip sale: 18 fields, field 55 with 19 EMV tags.
pub fn cups_sale() -> Vec<u8> {
    let mut m = Message::new("0200".parse().unwrap_or_else(|_| unreachable!()));
    m.tpdu = Some(vec![0x60, 0x00, 0x03, 0x00, 0x00].into());
    m.header = Some(vec![0x60, 0x31, 0x00, 0x31, 0x10, 0x03].into());
    m.set(2, "6222021234567890123")
        .set(3, "000000")
        .set(4, "000000012345")
        .set(11, "000123")
        .set(14, "2912")
        .set(22, "051")
        .set(23, "001")
        .set(25, "00")
        .set(26, "12")
        .set(35, "6222021234567890123D29122011234500000")
        .set(41, "10016919")
        .set(42, "898310048120001")
        .set(49, "156")
        .set(52, hex_bytes("3A6C9F0E12B4D7C8"))
        .set(53, "2600000000000000")
        .set(55, hex_bytes(EMV))
        .set(60, "22000001000500")
        .set(64, hex_bytes("3130324546393141"));
    encode_to_vec(specs::cups(), &m).unwrap_or_default()
}

/// The 1987 0200 the benchmarks encode in two dialects: the fields
/// acquirers commonly send.
fn iso87_0200_message() -> Message {
    Message::new("0200".parse().unwrap_or_else(|_| unreachable!()))
        .with(2, "4761739001010119")
        .with(3, "000000")
        .with(4, "000000012500")
        .with(7, "0321101530")
        .with(11, "000123")
        .with(12, "101530")
        .with(13, "0321")
        .with(14, "2512")
        .with(18, "5411")
        .with(22, "051")
        .with(25, "00")
        .with(32, "123456")
        .with(35, "4761739001010119=25122011758928889")
        .with(37, "308010000123")
        .with(41, "TERM0001")
        .with(42, "MERCHANT0000001")
        .with(43, "ACME STORE 123 MAIN ST SHANGHAI     SHCN")
        .with(49, "156")
        .with(52, hex_bytes("1A2B3C4D5E6F7081"))
        .with(64, hex_bytes("0102030405060708"))
}

/// A 1987 ASCII 0200 with the fields acquirers commonly send.
pub fn iso87_0200() -> Vec<u8> {
    encode_to_vec(specs::iso87ascii(), &iso87_0200_message()).unwrap_or_default()
}

/// The same 1987 0200 in the BCD dialect (`iso87binary`): BCD numerics,
/// binary bitmap, BCD length prefixes, raw binary PIN block and MAC.
pub fn iso87binary_0200() -> Vec<u8> {
    encode_to_vec(specs::iso87binary(), &iso87_0200_message()).unwrap_or_default()
}

/// A 1993 ASCII 1100 authorization request with chip data, a security
/// field and the secondary-bitmap MAC (field 128).
pub fn iso93_1100() -> Vec<u8> {
    let m = Message::new("1100".parse().unwrap_or_else(|_| unreachable!()))
        .with(2, "4761739001010119")
        .with(3, "000000")
        .with(4, "000000012500")
        .with(7, "1121101530")
        .with(11, "000123")
        .with(12, "261121101530")
        .with(14, "2912")
        .with(22, "51010151134C")
        .with(24, "100")
        .with(26, "5411")
        .with(32, "123456")
        .with(35, "4761739001010119=29122011758928889")
        .with(37, "308010000123")
        .with(41, "TERM0001")
        .with(42, "MERCHANT0000001")
        .with(43, r"ACME STORE\123 MAIN ST\SHANGHAI\200000  SHCN")
        .with(49, "156")
        .with(52, hex_bytes("1A2B3C4D5E6F7081"))
        .with(53, hex_bytes("0102030405060708"))
        .with(55, hex_bytes(EMV))
        .with(128, hex_bytes("0102030405060708"));
    encode_to_vec(specs::iso93ascii(), &m).unwrap_or_default()
}

/// A 1987 ASCII message with a secondary bitmap and every field at its
/// maximum length, for worst-case throughput.
pub fn iso87_maximal() -> Vec<u8> {
    let spec = specs::iso87ascii();
    let mut m = Message::new("0200".parse().unwrap_or_else(|_| unreachable!()));
    for (no, f) in spec.fields() {
        let n = f.length.max() as usize;
        let v: Vec<u8> = match f.kind {
            cardwire_codec::spec::FieldKind::B => vec![0xA5; n],
            cardwire_codec::spec::FieldKind::XN => std::iter::once(b'C')
                .chain(std::iter::repeat_n(b'7', n))
                .collect(),
            cardwire_codec::spec::FieldKind::N
            | cardwire_codec::spec::FieldKind::Z
            | cardwire_codec::spec::FieldKind::Ns => vec![b'7'; n],
            _ => vec![b'A'; n],
        };
        m.set_no(no, v);
    }
    match encode_to_vec(spec, &m) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

const EMV: &str = "9F2608A1B2C3D4E5F607089F2701809F100707011703A000009F3704F1E2D3C49F36020047950500000000009A032611219C01009F02060000000123455F2A02015682027C009F1A0201569F03060000000000009F3303E0F1C89F34034203009F3501229F1E0831323334353637388408A0000003330101029F090200209F410400000123";

fn hex_bytes(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn samples_encode() {
        assert!(super::cups_sale().len() > 200);
        assert!(super::iso87_0200().len() > 200);
        assert!(super::iso87_maximal().len() > 10_000);
    }
}
