//! Property: for every built-in spec, any valid message survives
//! encode -> decode unchanged, and re-encoding gives the same bytes.
//!
//! Messages are generated from the spec itself: each field the spec
//! defines may appear, with a length within its limits and characters
//! from its kind's set (the library's rules, `FieldSpec::alphabet` and
//! `FieldSpec::value_lengths`, which the `arbitrary` feature uses too).

mod common;

use std::cell::Cell;

use cardwire_codec::spec::FieldSpec;
use cardwire_codec::valid::{SIGNS, ValueLengths};
use cardwire_codec::{Message, Mti, Spec, decode, encode_to_vec, specs};
use common::hexs;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

const CASES: u32 = 256;

/// A valid value of `len` logical units, characters taken from `pick`
/// (the spec's own rules: [`FieldSpec::alphabet`], the `x+n` sign).
fn value_of(fs: &FieldSpec, len: usize, mut pick: impl FnMut(&[u8]) -> u8) -> Vec<u8> {
    let set = fs.alphabet();
    let mut v = Vec::with_capacity(len);
    if fs.has_sign() {
        v.push(pick(SIGNS));
    }
    while v.len() < len {
        v.push(pick(&set));
    }
    v
}

/// Any valid value for the field.
fn value(fs: &FieldSpec) -> BoxedStrategy<Vec<u8>> {
    let ValueLengths { min, max, step } = fs.value_lengths();
    let set = fs.alphabet();
    let sign = usize::from(fs.has_sign());
    // Lengths near the maximum are as likely as short ones.
    let len = prop_oneof![
        3 => (min / step..=max / step).prop_map(move |k| k * step),
        1 => Just(max),
        1 => Just(min),
    ];
    len.prop_flat_map(move |len| {
        let body = proptest::collection::vec(proptest::sample::select(set.clone()), len - sign);
        let sign = if sign == 1 {
            proptest::sample::select(SIGNS.to_vec())
                .prop_map(|c| vec![c])
                .boxed()
        } else {
            Just(Vec::new()).boxed()
        };
        (sign, body).prop_map(|(mut s, b)| {
            s.extend(b);
            s
        })
    })
    .boxed()
}

/// Bitmaps the fields of `m` need on the wire.
fn bitmaps_needed(m: &Message) -> u8 {
    m.fields()
        .map(|(n, _)| 1 + u8::from(n.get() > 64) + u8::from(n.get() > 128))
        .max()
        .unwrap_or(1)
}

/// A valid message for `spec`: every defined field present with
/// probability `density`, a random MTI, and TPDU and header when the spec
/// has them. `min_bitmaps` is what decoding will record, so that the
/// decoded message compares equal.
fn message(spec: &'static Spec) -> impl Strategy<Value = Message> {
    let densities = prop_oneof![Just(0.03), Just(0.15), Just(0.5), Just(0.95)];
    let max_bitmaps: u8 = if spec.tertiary_bitmap { 3 } else { 2 };
    densities.prop_flat_map(move |density| {
        let fields: Vec<_> = spec
            .fields()
            .map(|(n, fs)| {
                proptest::option::weighted(density, value(fs)).prop_map(move |v| v.map(|v| (n, v)))
            })
            .collect();
        (
            proptest::array::uniform4(b'0'..=b'9'),
            proptest::array::uniform5(any::<u8>()),
            proptest::collection::vec(any::<u8>(), spec.header.length),
            1..=max_bitmaps,
            fields,
        )
            .prop_map(move |(mti, tpdu, header, extra, fields)| {
                let mut m = Message::new(Mti::from_digits(mti).expect("digits"));
                if spec.header.tpdu {
                    m.tpdu = Some(tpdu.to_vec().into());
                }
                if spec.header.length > 0 {
                    m.header = Some(header.into());
                }
                for (n, v) in fields.into_iter().flatten() {
                    m.set_no(n, v);
                }
                // Decoding remembers only bitmaps the fields do not need.
                let needed = bitmaps_needed(&m);
                m.min_bitmaps = if extra > needed { extra } else { 1 };
                m
            })
    })
}

/// encode -> decode -> to_message is the identity, and encoding again
/// gives the same bytes.
fn check_round_trip(spec: &Spec, m: &Message) -> Result<(), String> {
    let wire = encode_to_vec(spec, m)
        .map_err(|e| format!("{}: a valid message does not encode: {e}", spec.name))?;
    let decoded = decode(spec, &wire).map_err(|e| {
        format!(
            "{}: own output does not decode: {e}\nwire {}",
            spec.name,
            hexs(&wire)
        )
    })?;
    // Random access finds each field where the walk in order does, also
    // past the starts the decoder records (messages with many fields).
    for (rank, f) in decoded.fields().enumerate() {
        let by_number = decoded.field_no(f.no).map(|g| g.wire);
        if by_number != Some(f.wire) {
            return Err(format!(
                "{}: field {} (rank {rank}) differs by number",
                spec.name, f.no
            ));
        }
    }
    let back = decoded.to_message();
    if &back != m {
        let diff: Vec<String> = m
            .fields()
            .filter(|(n, v)| back.get(n.get()) != Some(*v))
            .map(|(n, _)| n.to_string())
            .chain(
                back.fields()
                    .filter(|(n, _)| !m.has(n.get()))
                    .map(|(n, _)| format!("+{n}")),
            )
            .collect();
        return Err(format!(
            "{}: decode(encode(m)) != m (fields {diff:?}, bitmaps {} vs {})\nwire {}",
            spec.name,
            back.min_bitmaps,
            m.min_bitmaps,
            hexs(&wire)
        ));
    }
    let again = encode_to_vec(spec, &back)
        .map_err(|e| format!("{}: decoded message does not encode: {e}", spec.name))?;
    if again != wire {
        return Err(format!(
            "{}: re-encoding differs\nfirst  {}\nsecond {}",
            spec.name,
            hexs(&wire),
            hexs(&again)
        ));
    }
    Ok(())
}

fn run_property(spec: &'static Spec) {
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let with_secondary = Cell::new(0u32);
    let with_tertiary = Cell::new(0u32);
    let result = runner.run(&message(spec), |m| {
        with_secondary.set(
            with_secondary.get()
                + u32::from(m.fields().any(|(n, _)| (65..=128).contains(&n.get()))),
        );
        with_tertiary.set(with_tertiary.get() + u32::from(m.fields().any(|(n, _)| n.get() > 128)));
        check_round_trip(spec, &m).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // The generator must reach the extra bitmaps where the spec has fields there.
    let has = |lo: u8, hi: u8| spec.fields().any(|(n, _)| (lo..=hi).contains(&n.get()));
    if has(65, 128) {
        assert!(
            with_secondary.get() >= CASES / 4,
            "{}: {} cases with secondary fields",
            spec.name,
            with_secondary.get()
        );
    }
    if has(129, 192) {
        assert!(
            with_tertiary.get() >= CASES / 4,
            "{}: {} cases with tertiary fields",
            spec.name,
            with_tertiary.get()
        );
    }
}

#[test]
fn iso87ascii_valid_messages_round_trip() {
    run_property(specs::iso87ascii());
}

#[test]
fn iso87binary_valid_messages_round_trip() {
    run_property(specs::iso87binary());
}

#[test]
fn iso93ascii_valid_messages_with_tertiary_fields_round_trip() {
    run_property(specs::iso93ascii());
}

#[test]
fn cups_valid_messages_with_tpdu_and_header_round_trip() {
    run_property(specs::cups());
}

/// Every defined field at its maximum length at once, and once more at
/// its minimum, with characters cycling through the kind's set.
#[test]
fn every_field_at_maximum_and_minimum_length_at_once_round_trips() {
    for name in specs::NAMES {
        let spec: &Spec = specs::builtin(name).expect("built-in");
        for longest in [true, false] {
            let mut m = Message::new("0200".parse().expect("MTI"));
            if spec.header.tpdu {
                m.tpdu = Some(vec![0x60, 0x12, 0x34, 0x56, 0x78].into());
            }
            if spec.header.length > 0 {
                m.header = Some(vec![0x5A; spec.header.length].into());
            }
            let mut i = 0usize;
            for (n, fs) in spec.fields() {
                let ValueLengths { min, max, .. } = fs.value_lengths();
                let v = value_of(fs, if longest { max } else { min }, |set| {
                    i += 1;
                    set[i % set.len()]
                });
                m.set_no(n, v);
            }
            check_round_trip(spec, &m).unwrap_or_else(|e| panic!("longest={longest}: {e}"));
        }
    }
}

#[test]
fn generated_values_fit_their_field() {
    // The generator's limits, checked against the encoder's rules on
    // values just outside them: a generator that is too timid would make
    // the round trip prove little.
    for name in specs::NAMES {
        let spec: &Spec = specs::builtin(name).expect("built-in");
        for (n, fs) in spec.fields() {
            let ValueLengths { max, step, .. } = fs.value_lengths();
            if max == 0 || step != 1 {
                continue;
            }
            let mut m = Message::new("0200".parse().expect("MTI"));
            m.tpdu = spec.header.tpdu.then(|| vec![0x60, 0, 0, 0, 0].into());
            m.header = (spec.header.length > 0).then(|| vec![0; spec.header.length].into());
            m.set_no(n, value_of(fs, max + 1, |set| set[0]));
            assert!(
                encode_to_vec(spec, &m).is_err(),
                "{name}: field {n} accepts {} units",
                max + 1
            );
        }
    }
}
