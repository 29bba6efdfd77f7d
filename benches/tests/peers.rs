//! Every peer in the peer benchmark is given the same message, builds it
//! with its own encoder, and must read back the same PAN as cardwire from
//! those bytes; otherwise the benchmark would compare different work.

#[path = "../peers/mod.rs"]
mod peers;

use peers::many::{self, COUNT, Sample, Traffic};
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

/// The 1,000-message set of the `many_bitmaps` bench, built by
/// iso_8583_rs (`Traffic::new` panics unless i8583 and cardwire build the
/// same bytes), with the specs that read it.
fn many_bitmaps() -> (Traffic, iso_8583_rs::CompiledSpec, cardwire_codec::Spec) {
    let spec = peers::iso_8583_rs_spec();
    let cardwire = Format::HexBitmap.cardwire_spec();
    (Traffic::new(&spec, &cardwire), spec, cardwire)
}

/// 1,000 frames with 1,000 different bitmaps, each the bitmap its message
/// was given, both with and without a secondary bitmap; cardwire decodes
/// every frame to the fields its message was given, and cardwire,
/// iso_8583_rs and i8583 read each message's PAN from its frame.
#[test]
fn many_bitmaps_are_distinct_and_every_decoder_reads_each_pan() {
    let (traffic, spec, cardwire) = many_bitmaps();
    assert_eq!(traffic.frames().count(), COUNT);
    assert_eq!(
        traffic.bytes(),
        traffic.frames().map(<[u8]>::len).sum::<usize>()
    );
    assert_eq!(many::distinct_bitmaps(traffic.frames()), Ok(COUNT));

    let field_1 = 1u128 << 127;
    let mut with_secondary = 0;
    for (frame, s) in traffic.frames().zip(traffic.samples()) {
        assert_eq!(many::wire_bitmap(frame), Some(s.bitmap()));
        assert_eq!(
            many::cardwire_fields(&cardwire, frame),
            Some(s.bitmap() & !field_1)
        );
        if s.bitmap() & field_1 != 0 {
            with_secondary += 1;
        }
    }
    assert!(
        (100..COUNT - 100).contains(&with_secondary),
        "{with_secondary} frames of {COUNT} have a secondary bitmap"
    );

    let pans = || traffic.samples().iter().map(Sample::pan);
    assert_eq!(
        many::reads_pans("cardwire", traffic.frames(), pans(), |w| {
            peers::cardwire(&cardwire, w, <[u8]>::to_vec)
        }),
        Ok(())
    );
    assert_eq!(
        many::reads_pans("iso_8583_rs", traffic.frames(), pans(), |w| {
            peers::iso_8583_rs(&spec, w, <[u8]>::to_vec)
        }),
        Ok(())
    );
    assert_eq!(
        many::reads_pans("i8583", traffic.frames(), pans(), |w| {
            peers::i8583(w, <[u8]>::to_vec)
        }),
        Ok(())
    );
    // What the bench and peers_ratio check before timing.
    assert_eq!(traffic.check(&spec, &cardwire), Ok(()));
}

/// The checks above can fail: a frame that repeats another's bitmap, and
/// a frame whose PAN is not its message's, are caught.
#[test]
fn many_bitmaps_checks_catch_a_repeated_bitmap_and_a_changed_pan() {
    let (traffic, spec, cardwire) = many_bitmaps();
    let frames: Vec<Vec<u8>> = traffic.frames().map(<[u8]>::to_vec).collect();

    let mut repeated = frames.clone();
    repeated[COUNT - 1] = repeated[0].clone();
    let err = many::distinct_bitmaps(repeated.iter().map(Vec::as_slice));
    assert!(
        err.as_ref().is_err_and(|e| e.contains("frame 999")),
        "{err:?}"
    );

    let at = 500;
    let pan = traffic.samples()[at].pan();
    let mut changed = frames;
    let frame = &mut changed[at];
    let start = frame
        .windows(pan.len())
        .position(|w| w == pan)
        .unwrap_or_else(|| panic!("PAN not found in frame {at}"));
    frame[start + 3] = if frame[start + 3] == b'0' { b'1' } else { b'0' };
    let pans = || traffic.samples().iter().map(Sample::pan);
    let frames = || changed.iter().map(Vec::as_slice);
    let expected = Err(format!("cardwire reads another PAN from frame {at}"));
    assert_eq!(
        many::reads_pans("cardwire", frames(), pans(), |w| {
            peers::cardwire(&cardwire, w, <[u8]>::to_vec)
        }),
        expected
    );
    let expected = Err(format!("iso_8583_rs reads another PAN from frame {at}"));
    assert_eq!(
        many::reads_pans("iso_8583_rs", frames(), pans(), |w| {
            peers::iso_8583_rs(&spec, w, <[u8]>::to_vec)
        }),
        expected
    );
    let expected = Err(format!("i8583 reads another PAN from frame {at}"));
    assert_eq!(
        many::reads_pans("i8583", frames(), pans(), |w| peers::i8583(
            w,
            <[u8]>::to_vec
        )),
        expected
    );
}
