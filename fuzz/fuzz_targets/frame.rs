//! The framing decoder fed the same stream in arbitrary chunks yields the
//! same frames as in one piece.
#![no_main]

use cardwire_codec::frame::{FramePrefix, FrameStatus, split_frame};
use libfuzzer_sys::fuzz_target;

fn frames(stream: &[u8], prefix: FramePrefix) -> (Vec<Vec<u8>>, bool) {
    let mut out = Vec::new();
    let mut rest = stream;
    loop {
        match split_frame(rest, prefix, 4096) {
            Ok(FrameStatus::Complete { frame, consumed }) => {
                out.push(frame.to_vec());
                rest = &rest[consumed..];
            }
            Ok(FrameStatus::Partial { .. }) => return (out, false),
            Err(_) => return (out, true),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut_seed, stream)) = data.split_first() else {
        return;
    };
    for prefix in [
        FramePrefix::Binary2,
        FramePrefix::Binary2Inclusive,
        FramePrefix::Bcd2,
        FramePrefix::Ascii4,
    ] {
        let whole = frames(stream, prefix);
        // Feed in chunks of 1..=16 bytes, buffering like a socket reader.
        let step = usize::from(cut_seed % 16) + 1;
        let mut buf = Vec::new();
        let mut got = Vec::new();
        let mut broken = false;
        for chunk in stream.chunks(step) {
            buf.extend_from_slice(chunk);
            loop {
                match split_frame(&buf, prefix, 4096) {
                    Ok(FrameStatus::Complete { frame, consumed }) => {
                        got.push(frame.to_vec());
                        buf.drain(..consumed);
                    }
                    Ok(FrameStatus::Partial { .. }) => break,
                    Err(_) => {
                        broken = true;
                        break;
                    }
                }
            }
            if broken {
                break;
            }
        }
        assert_eq!(got, whole.0, "{prefix:?}");
        assert_eq!(broken, whole.1, "{prefix:?}");
    }
});
