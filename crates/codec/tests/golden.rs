//! The golden corpus: the exact result of decoding and encoding several
//! thousand inputs, recorded from a known-good build, which every later
//! build must reproduce.
//!
//! The inputs are made here, deterministically: every published vector
//! (`tests/vectors/*.json`), every committed seed of the `decode` fuzz
//! target, the shared fixtures, and frames and messages mutated from them
//! by a seeded generator. Each is decoded (or encoded) with every built-in
//! spec and with `variants`, a spec that exercises the encodings the
//! built-ins do not use (EBCDIC, hex text, binary and BCD prefixes, `x+n`
//! in BCD, byte-counted BCD). `tests/golden/*.txt` holds one line per
//! (spec, input): a hash of the input, so a changed generator is noticed,
//! then the result: the fields with their wire positions and a hash of
//! their logical values, the hash of an encoding's bytes, or the error's
//! `Debug` form.
//!
//! Record again (only when a change of behaviour is intended):
//! `GOLDEN_RECORD=1 cargo test -p cardwire-codec --test golden`.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::fmt::Write as _;
use std::path::PathBuf;

use bytes::Bytes;
use cardwire_codec::spec::{DataEncoding, LengthUnit, MtiEncoding, PrefixEncoding};
use cardwire_codec::{Message, Spec, decode, encode_to_vec, specs};

/// FNV-1a, 64 bits: a stable hash for inputs and values.
fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

use common::Rng;

/// A spec using the encodings the built-ins leave out, built from
/// `iso87binary` as a user would.
fn variants() -> Spec {
    let mut s = specs::iso87binary().clone();
    s.name = "variants".into();
    s.mti = MtiEncoding::Ebcdic;
    let edit = |s: &mut Spec, n: u16, f: &dyn Fn(&mut cardwire_codec::FieldSpec)| {
        let no = common::no(u8::try_from(n).unwrap());
        let mut fs = s.field(no).unwrap().clone();
        f(&mut fs);
        s.set_field(no, fs);
    };
    // PAN: EBCDIC prefix and data.
    edit(&mut s, 2, &|f| {
        f.prefix = PrefixEncoding::Ebcdic;
        f.encoding = DataEncoding::Ebcdic;
    });
    // Amount, transaction fee: x+n in BCD.
    edit(&mut s, 28, &|f| f.encoding = DataEncoding::Bcd);
    // Track 2: BCD with a binary prefix counting digits.
    edit(&mut s, 35, &|f| {
        f.prefix = PrefixEncoding::Binary;
        f.encoding = DataEncoding::Bcd;
    });
    // Private data: BCD prefix, EBCDIC text.
    edit(&mut s, 48, &|f| {
        f.prefix = PrefixEncoding::Bcd;
        f.encoding = DataEncoding::Ebcdic;
    });
    // PIN block and MAC as hex text.
    edit(&mut s, 52, &|f| f.encoding = DataEncoding::Hex);
    edit(&mut s, 128, &|f| f.encoding = DataEncoding::Hex);
    // ICC data as hex text counted in bytes, with a binary prefix.
    edit(&mut s, 55, &|f| {
        f.encoding = DataEncoding::Hex;
        f.unit = LengthUnit::Bytes;
        f.prefix = PrefixEncoding::Binary;
    });
    // Account identification: BCD digits, byte-counted.
    edit(&mut s, 102, &|f| {
        f.kind = cardwire_codec::spec::FieldKind::N;
        f.encoding = DataEncoding::Bcd;
        f.unit = LengthUnit::Bytes;
    });
    s.validate().unwrap();
    s
}

fn all_specs() -> Vec<Spec> {
    let mut v: Vec<Spec> = specs::NAMES
        .iter()
        .map(|n| specs::builtin(n).unwrap().as_ref().clone())
        .collect();
    v.push(variants());
    v
}

/// The result of decoding `frame` with `spec`, as one line.
fn decode_line(spec: &Spec, frame: &[u8]) -> String {
    match decode(spec, frame) {
        Err(e) => format!("ERR {e:?}"),
        Ok(m) => {
            let mut s = format!(
                "OK {} tpdu={} hdr={} bitmaps={}/{}",
                m.mti(),
                m.tpdu().map(hex::encode_upper).unwrap_or_default(),
                m.header().map(hex::encode_upper).unwrap_or_default(),
                m.bitmaps_on_wire(),
                m.bitmaps_needed(),
            );
            let mut values = Vec::new();
            for f in m.fields() {
                let off = f.wire.as_ptr() as usize - frame.as_ptr() as usize;
                let _ = write!(s, " {}@{}+{}", f.no, off, f.wire.len());
                values.extend_from_slice(&f.value.to_vec());
                values.push(0xFF);
                values.extend_from_slice(format!("{:?}", f.value).as_bytes());
                values.push(0xFE);
            }
            let _ = write!(s, " #{:016x}", fnv(&values));
            let _ = write!(s, " mac={}", m.mac_input(64).len());
            s
        }
    }
}

/// The result of encoding `msg` with `spec`, as one line.
fn encode_line(spec: &Spec, msg: &Message) -> String {
    match encode_to_vec(spec, msg) {
        Ok(b) => format!("OK {} #{:016x}", b.len(), fnv(&b)),
        Err(e) => format!("ERR {e:?}"),
    }
}

fn message_hash(m: &Message) -> u64 {
    let mut b = Vec::new();
    b.extend_from_slice(m.mti.as_str().as_bytes());
    b.push(m.min_bitmaps);
    for part in [&m.tpdu, &m.header] {
        match part {
            Some(p) => {
                b.push(1);
                b.extend_from_slice(p);
            }
            None => b.push(0),
        }
    }
    for (n, v) in m.fields() {
        b.extend_from_slice(&u16::from(n.get()).to_be_bytes());
        b.extend_from_slice(&(v.len() as u32).to_be_bytes());
        b.extend_from_slice(v);
    }
    fnv(&b)
}

/// Frames to decode: vectors, fuzz seeds, fixtures' encodings, and their
/// mutations.
fn frames(specs: &[Spec]) -> Vec<Vec<u8>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for file in [
        "moov.json",
        "pyiso8583.json",
        "unionpay.json",
        "unionpay_extra.json",
    ] {
        let text = std::fs::read_to_string(root.join("tests/vectors").join(file)).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        for v in json.as_array().unwrap() {
            if let Some(h) = v["hex"].as_str() {
                seeds.push(hex::decode(h).unwrap());
            }
        }
    }
    for (spec, m) in common::fixtures() {
        seeds.push(common::wire(spec, &m));
    }
    for spec in specs {
        for (_, m) in common::fixtures() {
            if let Ok(b) = encode_to_vec(spec, &m) {
                seeds.push(b);
            }
        }
    }
    let mut out = seeds.clone();
    let corpus = root.join("../../fuzz/corpus/decode");
    let mut names: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in names {
        out.push(std::fs::read(p).unwrap());
    }
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    for _ in 0..3000 {
        let mut f = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(3) {
            mutate_frame(&mut rng, &mut f);
        }
        out.push(f);
    }
    out
}

fn mutate_frame(rng: &mut Rng, f: &mut Vec<u8>) {
    let len = f.len();
    match rng.below(9) {
        0 if len > 0 => {
            let i = rng.below(len);
            f[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            f[i] = rng.next() as u8;
        }
        2 => f.truncate(rng.below(len + 1)),
        3 => {
            let i = rng.below(len + 1);
            f.insert(i, rng.next() as u8);
        }
        4 if len > 0 => {
            let i = rng.below(len);
            f.remove(i);
        }
        5 if len > 0 => {
            // A digit changed: a length prefix, a BCD nibble, a bitmap.
            let i = rng.below(len);
            f[i] = b"0123456789ABCDEFabcdef"[rng.below(22)];
        }
        6 => {
            let n = rng.below(5);
            for _ in 0..n {
                f.push(rng.next() as u8);
            }
        }
        7 => {
            // Lowercase hex letters anywhere.
            for b in f.iter_mut() {
                if (b'A'..=b'F').contains(b) && rng.below(2) == 0 {
                    *b = b.to_ascii_lowercase();
                }
            }
        }
        _ if len > 0 => {
            let i = rng.below(len);
            f[i] = [0x00, 0x0F, 0xF0, 0xFF, 0x80, 0x7F][rng.below(6)];
        }
        _ => {}
    }
}

/// Messages to encode: the fixtures, every decodable frame's message, and
/// their mutations.
fn messages(specs: &[Spec], frames: &[Vec<u8>]) -> Vec<Message> {
    let mut seeds: Vec<Message> = common::fixtures().into_iter().map(|(_, m)| m).collect();
    for f in frames {
        for spec in specs {
            if let Ok(m) = decode(spec, f) {
                seeds.push(m.to_message());
            }
        }
    }
    seeds.dedup();
    let mut out = seeds.clone();
    let mut rng = Rng(0x5eed_cafe_f00d_0002);
    for _ in 0..3000 {
        let mut m = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(3) {
            mutate_message(&mut rng, &mut m);
        }
        out.push(m);
    }
    out
}

fn mutate_message(rng: &mut Rng, m: &mut Message) {
    let present: Vec<u8> = m.fields().map(|(n, _)| n.get()).collect();
    let pick = |rng: &mut Rng| present.get(rng.below(present.len())).copied();
    const CHARS: &[u8] = b"0123456789ABCDEFabcdefCD= ^*.~\x00\x80\xff";
    match rng.below(10) {
        0 => {
            if let Some(n) = pick(rng) {
                m.remove(n);
            }
        }
        1 => {
            let n = 2 + rng.below(191) as u8;
            let len = rng.below(40);
            let v: Vec<u8> = (0..len).map(|_| CHARS[rng.below(CHARS.len())]).collect();
            m.set(n, v);
        }
        2 | 3 => {
            if let Some(n) = pick(rng) {
                let mut v = m.get(n).unwrap().to_vec();
                match rng.below(4) {
                    0 => v.push(CHARS[rng.below(CHARS.len())]),
                    1 => {
                        v.pop();
                    }
                    2 if !v.is_empty() => {
                        let i = rng.below(v.len());
                        v[i] = CHARS[rng.below(CHARS.len())];
                    }
                    _ => v.extend(std::iter::repeat_n(b'9', rng.below(300))),
                }
                m.set(n, v);
            }
        }
        4 => m.min_bitmaps = rng.below(5) as u8,
        5 => {
            m.tpdu = match rng.below(3) {
                0 => None,
                1 => Some(Bytes::from(vec![0x60, 0, 1, 0, 2])),
                _ => Some(Bytes::from(vec![0x60; rng.below(8)])),
            }
        }
        6 => {
            m.header = match rng.below(3) {
                0 => None,
                1 => Some(Bytes::from(vec![0x60, 0x31, 0, 0x31, 0x10, 0x03])),
                _ => Some(Bytes::from(vec![0x31; rng.below(9)])),
            }
        }
        7 => {
            if let Some(n) = pick(rng) {
                m.set(n, Bytes::new());
            }
        }
        8 => {
            let mti = ["0100", "0210", "0400", "0800", "1200", "1814", "9999"][rng.below(7)];
            m.mti = mti.parse().unwrap();
        }
        _ => {
            let v: Vec<u8> = (0..rng.below(20)).map(|_| rng.next() as u8).collect();
            if let Some(n) = pick(rng) {
                m.set(n, v);
            }
        }
    }
}

/// Every (spec, input) line, in a stable order.
fn golden_lines() -> (Vec<String>, Vec<String>) {
    let specs = all_specs();
    let frames = frames(&specs);
    let mut dec = Vec::new();
    for f in &frames {
        let h = fnv(f);
        for spec in &specs {
            dec.push(format!("{} {h:016x} {}", spec.name, decode_line(spec, f)));
        }
    }
    let msgs = messages(&specs, &frames);
    let mut enc = Vec::new();
    for m in &msgs {
        let h = message_hash(m);
        for spec in &specs {
            enc.push(format!("{} {h:016x} {}", spec.name, encode_line(spec, m)));
        }
    }
    (dec, enc)
}

fn check(file: &str, lines: &[String]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(file);
    if std::env::var_os("GOLDEN_RECORD").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let want: Vec<&str> = want.lines().collect();
    assert_eq!(
        want.len(),
        lines.len(),
        "{file}: the corpus has {} entries, this build made {}",
        want.len(),
        lines.len()
    );
    let mut bad = 0;
    for (i, (w, g)) in want.iter().zip(lines).enumerate() {
        if *w != g {
            bad += 1;
            if bad <= 10 {
                eprintln!("{file}:{}:\n  want {w}\n  got  {g}", i + 1);
            }
        }
    }
    assert_eq!(
        bad, 0,
        "{file}: {bad} entries differ from the recorded results"
    );
}

#[test]
fn every_golden_frame_decodes_as_recorded() {
    let (dec, _) = golden_lines();
    check("decode.txt", &dec);
}

#[test]
fn every_golden_message_encodes_as_recorded() {
    let (_, enc) = golden_lines();
    check("encode.txt", &enc);
}
