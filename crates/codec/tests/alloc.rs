//! Decoding makes no heap allocation: the message is a view of the frame
//! and every field value a view of its bytes.
//!
//! The workspace forbids `unsafe_code` in every target, and `forbid`
//! cannot be lifted by `allow`, so the counting global allocator comes
//! from the `allocation-counter` dev-dependency. It counts per thread,
//! so tests running in parallel do not disturb each other.

mod common;

use std::hint::black_box;

use allocation_counter::measure;
use cardwire_codec::{DecodeErrorKind, Spec, decode, specs};
use common::{fixtures, wire};

/// Reads every field the way an application would, folding what it sees
/// into a number so nothing is optimised away.
fn read_everything(spec: &Spec, frame: &[u8]) -> usize {
    let msg = decode(spec, frame).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
    let mut seen = usize::from(msg.mti().digits()[1]) + msg.bitmap().count();
    for n in 1..=192u8 {
        if let Some(f) = msg.field(n) {
            let v = f.value;
            seen += v.len() + usize::from(v.get(0).unwrap_or(0));
            seen += v.iter().map(usize::from).sum::<usize>();
            seen += f.subfields().map(|(_, s)| s.len()).sum::<usize>();
        }
        if let Some(v) = msg.value(n) {
            seen += usize::from(v.eq_bytes(b"000123"));
        }
    }
    seen + msg.fields().count() + msg.mac_input(64).len()
}

#[test]
fn the_counter_sees_heap_allocations() {
    // Without this, a broken counter would make every test below pass.
    let info = measure(|| {
        let v: Vec<u8> = black_box(Vec::with_capacity(64));
        black_box(v);
    });
    assert_eq!(info.count_total, 1);
}

#[test]
fn decoding_a_cups_sale_and_reading_every_field_does_not_allocate() {
    let spec = specs::cups();
    let frame = wire(spec, &common::cups_sale());
    let warm = read_everything(spec, &frame);
    let mut seen = 0;
    let info = measure(|| seen = read_everything(spec, black_box(&frame)));
    assert_eq!(seen, warm);
    assert!(decode(spec, &frame).is_ok_and(|m| m.has(55) && m.has(60)));
    assert_eq!(info.count_total, 0, "{info:?}");
}

#[test]
fn decoding_an_iso87ascii_0200_with_secondary_bitmap_does_not_allocate() {
    let spec = specs::iso87ascii();
    let frame = wire(spec, &common::iso87_sale());
    assert_eq!(
        decode(spec, &frame).map(|m| m.bitmaps_on_wire()).ok(),
        Some(2)
    );
    let warm = read_everything(spec, &frame);
    let mut seen = 0;
    let info = measure(|| seen = read_everything(spec, black_box(&frame)));
    assert_eq!(seen, warm);
    assert_eq!(info.count_total, 0, "{info:?}");
}

#[test]
fn decoding_every_fixture_does_not_allocate() {
    for (spec, m) in fixtures() {
        let frame = wire(spec, &m);
        read_everything(spec, &frame);
        let info = measure(|| {
            black_box(read_everything(spec, black_box(&frame)));
        });
        assert_eq!(info.count_total, 0, "{}: {info:?}", spec.name);
    }
}

#[test]
fn decode_errors_do_not_allocate() {
    let spec = specs::iso87ascii();
    let frame = wire(spec, &common::iso87_sale());
    let mut bad = frame.clone();
    bad[40] = b'Q';
    let mut kinds = Vec::with_capacity(4);
    let info = measure(|| {
        for input in [&frame[..frame.len() - 1], &bad[..], &frame[..3]] {
            if let Err(e) = decode(spec, black_box(input)) {
                kinds.push(e.kind);
            }
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
    assert_eq!(kinds.len(), 3);
    assert!(
        matches!(kinds[1], DecodeErrorKind::InvalidChar { .. }),
        "{kinds:?}"
    );
}

/// A spec keeps no per-bitmap state: frames of 200 different bitmaps,
/// decoded with a fresh copy of the spec, allocate nothing, the first
/// time as every time.
#[test]
fn frames_of_new_bitmaps_do_not_allocate() {
    use cardwire_codec::{Message, encode_to_vec};
    // Frames built with the built-in spec; decoded with a copy that has
    // seen none of them.
    let optional: [(u8, &str); 8] = [
        (3, "000000"),
        (7, "1121120000"),
        (11, "000123"),
        (12, "101530"),
        (22, "051"),
        (37, "308010000123"),
        (41, "TERM0001"),
        (49, "156"),
    ];
    let frames: Vec<Vec<u8>> = (0u32..200)
        .map(|mask| {
            let mut m = Message::new("0200".parse().unwrap_or_else(|_| unreachable!()));
            m.set(2, "4761739001010119").set(4, "000000012500");
            for (i, (n, v)) in optional.iter().enumerate() {
                if mask >> i & 1 == 1 {
                    m.set(*n, *v);
                }
            }
            if mask >= 128 {
                m.set(70, "301");
            }
            encode_to_vec(specs::iso87ascii(), &m).unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    let spec = specs::iso87ascii().clone();
    let first = measure(|| {
        for f in &frames {
            assert!(decode(&spec, black_box(f)).is_ok());
        }
    });
    assert_eq!(first.count_total, 0, "{first:?}");
}
