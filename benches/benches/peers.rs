//! cardwire against the other Rust ISO 8583 crates, on the same bytes and
//! in the same run: each decodes one 0200 built by the peer's own encoder
//! in the peer's own wire format and reads field 2 (the PAN). `floor` is
//! one pass over the same bytes doing the least any decoder must do:
//! read every byte once (a byte sum the compiler vectorizes).
//!
//! `many_bitmaps` is the same work on 1,000 messages with 1,000 different
//! bitmaps (`peers::many`), decoded in turn, as a switch sees traffic:
//! one iteration decodes all of them.
//!
//! Run: `cargo bench -p cardwire-benches --bench peers`.
//! `tests/peers.rs` proves every peer reads the same PAN as cardwire from
//! these bytes; the setup below checks it again before timing.

use std::hint::black_box;

use criterion::{BenchmarkGroup, Criterion, Throughput, measurement::WallTime};

#[path = "../peers/mod.rs"]
mod peers;

use peers::Format;
use peers::many::Traffic;

/// The least work any decoder must do: look at every byte once.
fn floor(wire: &[u8]) -> u32 {
    wire.iter()
        .fold(0u32, |acc, &b| acc.wrapping_add(u32::from(b)))
}

/// A group over one set of bytes, with cardwire and the floor in it.
fn group<'c>(
    c: &'c mut Criterion,
    format: Format,
    with_mac: bool,
    label: &str,
    wire: &[u8],
) -> BenchmarkGroup<'c, WallTime> {
    let spec = format.cardwire_spec();
    assert_eq!(
        peers::cardwire_encode(&spec, with_mac),
        wire,
        "cardwire encodes {label} differently"
    );
    assert_eq!(
        peers::cardwire(&spec, wire, <[u8]>::to_vec).as_deref(),
        Some(peers::PAN.as_bytes()),
        "cardwire cannot read the PAN of {label}"
    );
    let mut g = c.benchmark_group(format!("peers_{label}"));
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("cardwire", |b| {
        b.iter(|| peers::cardwire(&spec, black_box(wire), <[u8]>::len))
    });
    g.bench_function("floor", |b| b.iter(|| floor(black_box(wire))));
    g
}

/// Panics unless the peer read the PAN.
fn expect_pan(who: &str, pan: Option<Vec<u8>>) {
    assert_eq!(
        pan.as_deref(),
        Some(peers::PAN.as_bytes()),
        "{who} does not read the PAN from its own message"
    );
}

/// i8583, iso_8583_rs and iso8583-codec-rs build the same bytes
/// (`tests/peers.rs`): one group.
fn hex_bitmap(c: &mut Criterion) {
    let wire = peers::i8583_encode();
    let new_spec = peers::iso_8583_rs_spec();
    let json_spec = peers::codec_rs_spec();
    assert_eq!(peers::iso_8583_rs_encode(&new_spec), wire);
    assert_eq!(peers::codec_rs_encode(&json_spec), wire);
    expect_pan("i8583", peers::i8583(&wire, <[u8]>::to_vec));
    expect_pan(
        "iso_8583_rs",
        peers::iso_8583_rs(&new_spec, &wire, <[u8]>::to_vec),
    );
    expect_pan(
        "iso8583-codec-rs",
        peers::codec_rs(&json_spec, &wire, <[u8]>::to_vec),
    );

    let mut g = group(c, Format::HexBitmap, true, Format::HexBitmap.name(), &wire);
    g.bench_function("i8583", |b| {
        b.iter(|| peers::i8583(black_box(&wire), <[u8]>::len))
    });
    g.bench_function("iso_8583_rs", |b| {
        b.iter(|| peers::iso_8583_rs(&new_spec, black_box(&wire), <[u8]>::len))
    });
    g.bench_function("iso8583_codec_rs", |b| {
        b.iter(|| peers::codec_rs(&json_spec, black_box(&wire), <[u8]>::len))
    });
    g.finish();
}

fn binary_bitmap(c: &mut Criterion) {
    let mut wire = peers::iso8583_rs_encode();
    expect_pan("iso8583_rs", peers::iso8583_rs(&mut wire, <[u8]>::to_vec));
    let fixed = wire.clone();
    let mut g = group(
        c,
        Format::BinaryBitmap,
        true,
        Format::BinaryBitmap.name(),
        &fixed,
    );
    g.bench_function("iso8583_rs", |b| {
        b.iter(|| peers::iso8583_rs(black_box(&mut wire), <[u8]>::len))
    });
    g.finish();
}

/// iso8583-core cannot carry field 64 (see `peers::binary_fields`): the
/// same message without it.
fn binary_bitmap_without_mac(c: &mut Criterion) {
    let wire = peers::core_encode();
    expect_pan("iso8583-core", peers::core(&wire, <[u8]>::to_vec));
    let label = format!("{}_no_64", Format::BinaryBitmap.name());
    let mut g = group(c, Format::BinaryBitmap, false, &label, &wire);
    g.bench_function("iso8583_core", |b| {
        b.iter(|| peers::core(black_box(&wire), <[u8]>::len))
    });
    g.finish();
}

/// Decodes every frame in turn with `decode`; the sum of what it returns.
fn each(frames: &[&[u8]], decode: impl Fn(&[u8]) -> Option<usize>) -> usize {
    frames
        .iter()
        .map(|&w| decode(black_box(w)).unwrap_or(0))
        .sum()
}

/// 1,000 frames with 1,000 different bitmaps, built by iso_8583_rs (and
/// the same bytes by i8583 and cardwire); one iteration decodes them all.
fn many_bitmaps(c: &mut Criterion) {
    let spec = Format::HexBitmap.cardwire_spec();
    let new_spec = peers::iso_8583_rs_spec();
    let traffic = Traffic::new(&new_spec, &spec);
    traffic
        .check(&new_spec, &spec)
        .unwrap_or_else(|e| panic!("{e}"));
    let frames: Vec<&[u8]> = traffic.frames().collect();
    let frames = frames.as_slice();

    let mut g = c.benchmark_group("many_bitmaps");
    g.throughput(Throughput::Bytes(traffic.bytes() as u64));
    g.bench_function("cardwire", |b| {
        b.iter(|| each(frames, |w| peers::cardwire(&spec, w, <[u8]>::len)))
    });
    g.bench_function("iso_8583_rs", |b| {
        b.iter(|| each(frames, |w| peers::iso_8583_rs(&new_spec, w, <[u8]>::len)))
    });
    g.bench_function("i8583", |b| {
        b.iter(|| each(frames, |w| peers::i8583(w, <[u8]>::len)))
    });
    g.bench_function("floor", |b| {
        b.iter(|| each(frames, |w| Some(floor(w) as usize)))
    });
    g.finish();
}

fn main() {
    // iso8583_rs needs SPEC_FILE in the environment: run again with it.
    let args: Vec<String> = std::env::args().skip(1).collect();
    peers::run_again_with_iso8583_rs_spec_if_needed(&args);
    let mut c = Criterion::default().configure_from_args();
    hex_bitmap(&mut c);
    binary_bitmap(&mut c);
    binary_bitmap_without_mac(&mut c);
    many_bitmaps(&mut c);
    c.final_summary();
}
