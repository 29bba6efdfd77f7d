//! Decode with every built-in spec; the decoder's walk over the fields and
//! the layout of the frame's bitmap must agree; whenever a frame decodes,
//! encoding the decoded message must give back the same bytes (round-trip
//! oracle), and every accessor must work without panicking.
#![no_main]

use cardwire_codec::{arbitrary, decode, encode_to_vec, json, specs};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for name in specs::NAMES {
        let Some(spec) = specs::builtin(name) else {
            continue;
        };
        // The walk over the fields and the layout of the bitmap agree.
        assert!(arbitrary::shapes_agree(spec, data), "{name}: shaped decode");
        let Ok(msg) = decode(spec, data) else {
            continue;
        };
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
