//! Every peer in the peer benchmark is given the same message, builds it
//! with its own encoder, and must read back the same PAN as cardwire from
//! those bytes; otherwise the benchmark would compare different work.

#[path = "../peers/mod.rs"]
mod peers;

use peers::{Format, PAN};

fn pan_of(read: Option<Vec<u8>>, who: &str) -> String {
    let pan = read.unwrap_or_else(|| panic!("{who} could not decode the message or find field 2"));
    String::from_utf8(pan).unwrap_or_else(|_| panic!("{who}: field 2 is not text"))
}

/// The bytes a peer built decode with cardwire to the same PAN the peer
/// reads, and are the bytes cardwire's own encoder builds for that format.
fn check(format: Format, with_mac: bool, who: &str, wire: &[u8], peer_pan: Option<Vec<u8>>) {
    let spec = format.cardwire_spec();
    assert_eq!(
        hex::encode_upper(wire),
        hex::encode_upper(peers::cardwire_encode(&spec, with_mac)),
        "{who} and cardwire ({}, {}) encode the message differently",
        spec.name,
        format.name()
    );
    let ours = pan_of(peers::cardwire(&spec, wire, <[u8]>::to_vec), "cardwire");
    let theirs = pan_of(peer_pan, who);
    assert_eq!(ours, PAN);
    assert_eq!(theirs, ours, "{who} reads another PAN than cardwire");
}

#[test]
fn i8583_reads_the_same_pan_as_cardwire() {
    let wire = peers::i8583_encode();
    let pan = peers::i8583(&wire, <[u8]>::to_vec);
    check(Format::HexBitmap, true, "i8583", &wire, pan);
}

#[test]
fn iso_8583_rs_reads_the_same_pan_as_cardwire() {
    let spec = peers::iso_8583_rs_spec();
    let wire = peers::iso_8583_rs_encode(&spec);
    let pan = peers::iso_8583_rs(&spec, &wire, <[u8]>::to_vec);
    check(Format::HexBitmap, true, "iso_8583_rs", &wire, pan);
}

#[test]
fn iso8583_codec_rs_reads_the_same_pan_as_cardwire() {
    let spec = peers::codec_rs_spec();
    let wire = peers::codec_rs_encode(&spec);
    let pan = peers::codec_rs(&spec, &wire, <[u8]>::to_vec);
    check(Format::HexBitmap, true, "iso8583-codec-rs", &wire, pan);
}

#[test]
fn iso8583_core_reads_the_same_pan_as_cardwire() {
    let wire = peers::core_encode();
    let pan = peers::core(&wire, <[u8]>::to_vec);
    check(Format::BinaryBitmap, false, "iso8583-core", &wire, pan);
}

#[test]
fn iso8583_rs_reads_the_same_pan_as_cardwire() {
    const NAME: &str = "iso8583_rs_reads_the_same_pan_as_cardwire";
    let args = [NAME, "--exact", "--nocapture", "--test-threads=1"].map(String::from);
    if let Some(mut rerun) = peers::rerun_with_iso8583_rs_spec(&args) {
        let out = rerun
            .output()
            .unwrap_or_else(|e| panic!("cannot run the test again: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{NAME} with SPEC_FILE set failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let mut wire = peers::iso8583_rs_encode();
    let pan = peers::iso8583_rs(&mut wire, <[u8]>::to_vec);
    check(Format::BinaryBitmap, true, "iso8583_rs", &wire, pan);
}

/// iso8583-core's field table is shifted from field 56 on: the MAC it
/// writes for field 64 is 4 bytes (field 72's length), not 8.
#[test]
fn iso8583_core_cannot_carry_field_64() {
    use iso8583_core::field::FieldValue;
    use iso8583_core::{Field, ISO8583Message, MessageType};
    let mut m =
        ISO8583Message::new(MessageType::from_bytes(b"0200").unwrap_or_else(|e| panic!("{e}")));
    let mac = Field::from_number(64).unwrap_or_else(|e| panic!("{e}"));
    m.set_field(mac, FieldValue::from_binary(vec![0xAB; 8]))
        .unwrap_or_else(|e| panic!("{e}"));
    // MTI, 8-byte bitmap, then the MAC: 4 bytes instead of 8.
    assert_eq!(m.to_bytes().len(), 4 + 8 + 4);
}

/// The check above can fail: a message whose PAN differs is caught.
#[test]
fn a_different_pan_is_caught() {
    let spec = Format::HexBitmap.cardwire_spec();
    let mut wire = peers::i8583_encode();
    let at = wire
        .windows(PAN.len())
        .position(|w| w == PAN.as_bytes())
        .unwrap_or_else(|| panic!("PAN not found in the frame"));
    wire[at] = b'5';
    let ours = peers::cardwire(&spec, &wire, <[u8]>::to_vec);
    let theirs = peers::i8583(&wire, <[u8]>::to_vec);
    assert_eq!(ours, theirs);
    assert_ne!(ours.as_deref(), Some(PAN.as_bytes()));
}
