//! Inputs the fuzz targets (`fuzz/`) found failing, one test each, named
//! after what they prove. Each failed before its fix.

use cardwire_codec::mask::mask_tlv;
use cardwire_codec::{Message, decode, encode_to_vec, specs};

/// Found by `tlv`: a response template (77) holding track 2 equivalent
/// data (57), the CID and the ATC, then an issuer script template (71)
/// cut short by the template's end. Masking walked only the top level,
/// so the track data inside the template was shown in clear.
const TEMPLATE_WITH_TRACK2: &[u8] = &[
    0x77, 0x12, 0x57, 0x05, 0x47, 0x61, 0x73, 0xD2, 0x21, 0x9F, 0x27, 0x01, 0x80, 0x9F, 0x36, 0x02,
    0x00, 0x01, 0x71, 0x02, 0x00, 0x00,
];

#[test]
fn masked_field55_hides_track2_inside_a_template() {
    // The template does not parse to its end, so all of it is hidden.
    assert_eq!(
        mask_tlv(TEMPLATE_WITH_TRACK2),
        format!("7712{}0000", "*".repeat(36))
    );
    // Well formed, only the track data is hidden.
    let mut whole = TEMPLATE_WITH_TRACK2[..18].to_vec();
    whole[1] = 16;
    assert_eq!(mask_tlv(&whole), "77105705**********9F2701809F36020001");
}

#[test]
fn masked_field55_hides_a_pan_nested_two_templates_deep() {
    // 70 { 61 { 5A <PAN> } 9F36 }
    let data = [
        0x70, 0x0C, 0x61, 0x05, 0x5A, 0x03, 0x47, 0x61, 0x73, 0x9F, 0x36, 0x02, 0x00, 0x01,
    ];
    assert_eq!(mask_tlv(&data), "700C61055A03******9F36020001");
}

#[test]
fn a_template_that_does_not_parse_is_hidden_whole() {
    // 70 { 5A <PAN>, then a length byte BER does not allow }, then 9F36.
    let data = [
        0x70, 0x07, 0x5A, 0x02, 0x47, 0x61, 0x95, 0x80, 0x00, 0x9F, 0x36, 0x01, 0x07,
    ];
    assert_eq!(mask_tlv(&data), "7007**************9F360107");
}

#[test]
fn decoded_field55_with_a_template_shows_no_track_data_in_display_or_json() {
    let spec = specs::iso87binary();
    let mut m = Message::new("0110".parse().expect("MTI"));
    m.set(3, "000000").set(55, TEMPLATE_WITH_TRACK2);
    let wire = encode_to_vec(spec, &m).expect("encodes");
    let msg = decode(spec, &wire).expect("decodes");
    let track = "476173D221";
    let field = msg.field(55).expect("field 55");
    assert!(!cardwire_codec::mask::masked(&field).contains(track));
    assert!(!format!("{field:?}").contains(track));
    assert!(!msg.to_string().contains(track));
    #[cfg(feature = "serde")]
    assert!(
        !cardwire_codec::json::to_json(&msg, false)
            .to_string()
            .contains(track)
    );
}

/// Found by `message`: an iso93ascii message with a tertiary field and no
/// secondary one. Its secondary bitmap only announces the tertiary
/// bitmap, which the lenient decode called an empty secondary bitmap.
#[test]
fn a_secondary_bitmap_that_announces_a_tertiary_is_not_empty() {
    use cardwire_codec::{DecodeMode, decode_with};
    let m = Message::new("1200".parse().unwrap_or_else(|_| unreachable!()))
        .with(3, "000000")
        .with(129, "PRIVATE 129");
    let wire = encode_to_vec(specs::iso93ascii(), &m).unwrap_or_else(|e| panic!("{e}"));
    let d = decode_with(specs::iso93ascii(), &wire, DecodeMode::Lenient);
    assert!(d.error.is_none(), "{:?}", d.error);
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
}
