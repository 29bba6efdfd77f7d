//! The engine fed arbitrary sessions: operator actions, link faults, clock
//! jumps and garbage frames (`cardwire_engine::exercise`). Nothing may
//! panic; money must be conserved, nothing posted twice, and every approval
//! the terminal never saw reversed or given up on after its retries.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = cardwire_engine::exercise::exercise(data) {
        panic!("engine invariant broken: {e}");
    }
});
