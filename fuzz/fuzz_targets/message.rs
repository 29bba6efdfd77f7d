//! Structure-aware: a valid message (`cardwire_codec::arbitrary`) for
//! every built-in spec, and for a spec made up from the input (any field
//! types, encodings, prefixes, pads and alignments `Spec::validate`
//! allows). Each message must encode; its encoding must decode back to
//! the same message (also through `OwnedMessage`, the JSON form and every
//! frame prefix) and re-encode to the same bytes; every field's value
//! must read back as set. A made-up spec must survive a TOML dump and
//! reload.
#![no_main]

use std::sync::Arc;

use cardwire_codec::arbitrary::{Result, Unstructured, arbitrary_message};
use cardwire_codec::frame::{FramePrefix, FrameStatus, split_frame};
use cardwire_codec::spec::{
    Align, BitmapEncoding, DataEncoding, FieldKind, FieldSpec, HeaderSpec, Length, LengthUnit,
    MtiEncoding, Pad, PrefixEncoding,
};
use cardwire_codec::spec_file::{load_spec, to_toml};
use cardwire_codec::{
    DecodeMode, FieldNo, OwnedMessage, Spec, decode, decode_with, encode_to_vec, json, specs,
};
use libfuzzer_sys::fuzz_target;

/// A field definition; `Spec::validate` decides whether it stays.
fn arbitrary_field(u: &mut Unstructured<'_>) -> Result<FieldSpec> {
    use FieldKind::*;
    let kind = *u.choose(&[N, A, An, As, Ns, Ans, B, Z, XN])?;
    let length = if u.arbitrary()? {
        Length::Fixed(u.int_in_range(1..=40)?)
    } else {
        let digits = u.int_in_range(2..=4)?;
        let max = u.int_in_range(1..=if digits == 2 { 99 } else { 999 })?;
        Length::Variable { digits, max }
    };
    let mut fs = FieldSpec::new("made up", kind, length);
    fs.prefix = *u.choose(&[
        PrefixEncoding::Ascii,
        PrefixEncoding::Bcd,
        PrefixEncoding::Binary,
        PrefixEncoding::Ebcdic,
    ])?;
    fs.unit = *u.choose(&[LengthUnit::Chars, LengthUnit::Digits, LengthUnit::Bytes])?;
    fs.encoding = match kind {
        B => *u.choose(&[DataEncoding::Binary, DataEncoding::Hex])?,
        N | Z | XN => *u.choose(&[DataEncoding::Ascii, DataEncoding::Bcd, DataEncoding::Ebcdic])?,
        _ => *u.choose(&[DataEncoding::Ascii, DataEncoding::Ebcdic])?,
    };
    fs.align = *u.choose(&[Align::Left, Align::Right])?;
    fs.pad = *u.choose(&[None, Some(Pad::Zero), Some(Pad::F)])?;
    Ok(fs)
}

/// A valid spec with up to 12 made-up fields.
fn arbitrary_spec(u: &mut Unstructured<'_>) -> Result<Spec> {
    let mut spec = Spec::new("made-up");
    spec.mti = *u.choose(&[MtiEncoding::Ascii, MtiEncoding::Bcd, MtiEncoding::Ebcdic])?;
    spec.bitmap = *u.choose(&[BitmapEncoding::Binary, BitmapEncoding::Hex])?;
    spec.tertiary_bitmap = u.arbitrary()?;
    let length = u.int_in_range(0..=8)?;
    spec.header = HeaderSpec {
        tpdu: u.arbitrary()?,
        length,
        text: length > 0 && u.arbitrary()?,
    };
    for _ in 0..u.int_in_range(0..=12)? {
        let n = u.int_in_range(2..=u16::from(spec.max_field()))?;
        let Some(no) = FieldNo::new(n) else { continue };
        let fs = arbitrary_field(u)?;
        spec.set_field(no, fs);
        if spec.validate().is_err() {
            spec.remove_field(no);
        }
    }
    Ok(spec)
}

fn check(spec: &Spec, data: &[u8], u: &mut Unstructured<'_>) {
    let name = &spec.name;
    let m = arbitrary_message(spec, u).expect("arbitrary_message does not fail");
    let wire = encode_to_vec(spec, &m)
        .unwrap_or_else(|e| panic!("{name}: a generated message does not encode: {e}\n{m:?}"));
    // One character of one value replaced: the encoder refuses it naming
    // that field, or writes what the decoder accepts.
    if let (Ok(pick), Ok(at), Ok(byte)) = (u.arbitrary::<u8>(), u.arbitrary::<u8>(), u.arbitrary())
    {
        let fields: Vec<_> = m.fields().map(|(n, v)| (n.get(), v.to_vec())).collect();
        if let Some((n, mut v)) = fields.get(usize::from(pick) % fields.len().max(1)).cloned() {
            let i = usize::from(at) % v.len().max(1);
            if let Some(b) = v.get_mut(i) {
                *b = byte;
            }
            let changed = m.clone().with(n, v);
            match encode_to_vec(spec, &changed) {
                Ok(w) => {
                    if let Err(e) = decode(spec, &w) {
                        panic!(
                            "{name}: the encoder wrote what the decoder refuses: {e}\n{changed:?}"
                        );
                    }
                }
                Err(e) => assert_eq!(e.field, FieldNo::new(u16::from(n)), "{name}: {e}"),
            }
        }
    }
    // A valid frame reads leniently with nothing to warn about.
    let lenient = decode_with(spec, &wire, DecodeMode::Lenient);
    assert!(
        lenient.error.is_none() && lenient.warnings.is_empty() || m.min_bitmaps > 1,
        "{name}: lenient {:?}",
        lenient.warnings
    );
    let msg = decode(spec, &wire).unwrap_or_else(|e| {
        panic!(
            "{name}: own output does not decode: {e}\nwire {}",
            hex(&wire)
        )
    });
    let back = msg.to_message();
    assert_eq!(
        back,
        m,
        "{name}: decode(encode(m)) != m\nwire {}",
        hex(&wire)
    );
    let again = encode_to_vec(spec, &back).expect("a decoded message re-encodes");
    assert_eq!(again, wire, "{name}: encode(decode(b)) != b");

    // Every field reads back as set, in order.
    let got: Vec<_> = msg.fields().map(|f| (f.no, f.value.to_vec())).collect();
    let want: Vec<_> = m.fields().map(|(n, v)| (n, v.to_vec())).collect();
    assert_eq!(got, want, "{name}: field values");
    for f in msg.fields() {
        assert_eq!(
            f.value.len(),
            f.value.to_vec().len(),
            "{name}: field {} len",
            f.no
        );
        let _ = cardwire_codec::mask::masked(&f);
        let _ = f.subfields().count();
    }

    // The owned form decodes the same bytes the same way.
    let owned = OwnedMessage::decode(Arc::new(spec.clone()), wire.clone().into())
        .expect("owned decode of own output");
    assert_eq!(owned.view().to_message(), m, "{name}: OwnedMessage");

    // JSON, unmasked, reads back.
    let j = json::to_json(&msg, true);
    let from =
        json::from_json(spec, &j).unwrap_or_else(|e| panic!("{name}: JSON reads back: {e}\n{j}"));
    assert_eq!(from, m, "{name}: JSON round trip");

    // Every frame prefix carries it.
    for prefix in [
        FramePrefix::Binary2,
        FramePrefix::Binary2Inclusive,
        FramePrefix::Bcd2,
        FramePrefix::Ascii4,
    ] {
        let Ok(p) = prefix.encode(wire.len()) else {
            assert!(wire.len() > prefix.capacity(), "{prefix:?}");
            continue;
        };
        let mut stream = p[..prefix.width()].to_vec();
        stream.extend_from_slice(&wire);
        stream.extend_from_slice(data.get(..3).unwrap_or_default());
        assert_eq!(
            split_frame(&stream, prefix, 65535),
            Ok(FrameStatus::Complete {
                frame: &wire[..],
                consumed: prefix.width() + wire.len()
            }),
            "{name}: {prefix:?}"
        );
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

fuzz_target!(|data: &[u8]| {
    for name in specs::NAMES {
        let Some(spec) = specs::builtin(name) else {
            continue;
        };
        check(spec, data, &mut Unstructured::new(data));
    }

    let mut u = Unstructured::new(data);
    let Ok(spec) = arbitrary_spec(&mut u) else {
        return;
    };
    spec.validate().expect("made-up spec is valid");
    let text = to_toml(&spec).expect("a valid spec dumps");
    let reloaded = load_spec(&text).unwrap_or_else(|e| panic!("dumped spec reloads: {e}\n{text}"));
    assert_eq!(reloaded, spec, "TOML dump and reload\n{text}");
    check(&spec, data, &mut u);
});
