//! Decode and encode per built-in spec, frame + decode, TLV walk.
//! Run: `cargo bench -p cardwire-benches --bench codec`.

use std::hint::black_box;

use bytes::BytesMut;
use cardwire_benches::{cups_sale, iso87_0200, iso87_maximal, iso87binary_0200, iso93_1100};
use cardwire_codec::frame::{FramePrefix, FrameStatus, split_frame};
use cardwire_codec::{Spec, decode, encode, specs, tlv};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn cases() -> Vec<(&'static str, &'static Spec, Vec<u8>)> {
    vec![
        ("cups_sale", specs::cups(), cups_sale()),
        ("iso87ascii_0200", specs::iso87ascii(), iso87_0200()),
        ("iso87binary_0200", specs::iso87binary(), iso87binary_0200()),
        ("iso93ascii_1100", specs::iso93ascii(), iso93_1100()),
        ("iso87ascii_maximal", specs::iso87ascii(), iso87_maximal()),
    ]
}

fn bench_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    for (name, spec, wire) in cases() {
        g.throughput(Throughput::Bytes(wire.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| match decode(spec, black_box(&wire)) {
                Ok(m) => black_box(m.value(2).map(|v| v.len())),
                Err(_) => None,
            })
        });
    }
    g.finish();
}

fn bench_encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    for (name, spec, wire) in cases() {
        let msg = decode(spec, &wire).map(|m| m.to_message()).ok();
        let Some(msg) = msg else { continue };
        g.throughput(Throughput::Bytes(wire.len() as u64));
        let mut out = BytesMut::with_capacity(wire.len() * 2);
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                let r = encode(spec, black_box(&msg), &mut out);
                black_box((r.is_ok(), out.len()))
            })
        });
    }
    g.finish();
}

fn bench_frame_decode(c: &mut Criterion) {
    let wire = cups_sale();
    let mut stream = (wire.len() as u16).to_be_bytes().to_vec();
    stream.extend_from_slice(&wire);
    let mut g = c.benchmark_group("frame_decode");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("cups_sale", |b| {
        b.iter(
            || match split_frame(black_box(&stream), FramePrefix::Binary2, 8192) {
                Ok(FrameStatus::Complete { frame, .. }) => {
                    black_box(decode(specs::cups(), frame).is_ok())
                }
                _ => false,
            },
        )
    });
    g.finish();
}

fn bench_tlv(c: &mut Criterion) {
    let wire = cups_sale();
    let msg = decode(specs::cups(), &wire).ok();
    let emv = msg
        .and_then(|m| m.value(55))
        .and_then(|v| v.as_binary())
        .unwrap_or_default()
        .to_vec();
    let mut g = c.benchmark_group("tlv_walk");
    g.throughput(Throughput::Bytes(emv.len() as u64));
    g.bench_function("cups_sale_55", |b| {
        b.iter(|| tlv::walk(black_box(&emv)).filter(|t| t.is_ok()).count())
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_decode,
    bench_encode,
    bench_frame_decode,
    bench_tlv
);
criterion_main!(benches);
