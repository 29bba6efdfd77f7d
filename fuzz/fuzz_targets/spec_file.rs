//! Loading a user spec file never panics; a spec that loads is valid and
//! survives a dump and reload unchanged.
#![no_main]

use cardwire_codec::spec_file::{load_spec, to_toml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(spec) = load_spec(text) {
        spec.validate().expect("a loaded spec is valid");
        let dumped = to_toml(&spec).expect("a valid spec serialises");
        let again = load_spec(&dumped).expect("a dumped spec reloads");
        assert_eq!(again, spec);
    }
});
