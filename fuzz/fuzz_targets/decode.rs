//! Decode with every built-in spec, strictly and leniently: a lenient
//! decode accepts whatever a strict one does, with the same fields, and
//! a strict `decode_with` stops where `decode` does; whenever a frame decodes,
//! encoding the decoded message must give back the same bytes (round-trip
//! oracle), and every accessor must work without panicking.
#![no_main]

use cardwire_codec::{
    DecodeMode, DecodeWarningKind, decode, decode_with, encode_to_vec, json, specs,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for name in specs::NAMES {
        let Some(spec) = specs::builtin(name) else {
            continue;
        };
        let strict = decode_with(spec, data, DecodeMode::Strict);
        let lenient = decode_with(spec, data, DecodeMode::Lenient);
        for partial in [&strict.message, &lenient.message].into_iter().flatten() {
            for f in partial.fields() {
                let _ = f.value.to_string();
                let _ = cardwire_codec::mask::masked(&f);
            }
            let _ = json::to_json(partial, false);
        }
        let msg = match decode(spec, data) {
            Ok(msg) => msg,
            Err(e) => {
                assert_eq!(
                    strict.error.as_ref(),
                    Some(&e),
                    "{name}: strict decode_with"
                );
                continue;
            }
        };
        assert!(strict.error.is_none(), "{name}: strict decode_with");
        assert!(
            lenient.error.is_none(),
            "{name}: lenient refuses a valid frame"
        );
        assert!(
            lenient
                .warnings
                .iter()
                .all(|w| w.kind == DecodeWarningKind::EmptySecondaryBitmap),
            "{name}: lenient warns on a valid frame: {:?}",
            lenient.warnings
        );
        let lenient_fields: Vec<_> = lenient
            .message
            .iter()
            .flat_map(|m| m.fields())
            .map(|f| (f.no, f.wire))
            .collect();
        let strict_fields: Vec<_> = msg.fields().map(|f| (f.no, f.wire)).collect();
        assert_eq!(lenient_fields, strict_fields, "{name}: lenient fields");
        for f in msg.fields() {
            let _ = f.value.to_string();
            let _ = cardwire_codec::mask::masked(&f);
            let _ = f.subfields().count();
        }
        let _ = msg.transaction();
        let _ = msg.mac_input(64);
        let _ = json::to_json(&msg, false);
        let again = encode_to_vec(spec, &msg.to_message()).expect("a decoded message re-encodes");
        assert_eq!(again, data, "{name}: encode(decode(b)) != b");
        let back = json::from_json(spec, &json::to_json(&msg, true)).expect("JSON form reads back");
        assert_eq!(back, msg.to_message(), "{name}: JSON round trip");
    }
});
