//! Security layer: MAC over a typical 200-byte MAB and PIN block
//! build + encrypt.

use std::hint::black_box;

use cardwire_security::{
    ClearPinBlock, DesKey, FixedBytes, MacAlgorithm, Pan, Pin, PinBlockFormat, SecurityError,
    compute_mac,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// A MAB about the size of a UnionPay POS sale, MTI through field 63.
fn mab() -> Vec<u8> {
    (0u8..200)
        .map(|b| b.wrapping_mul(37).wrapping_add(11))
        .collect()
}

fn mac(c: &mut Criterion) -> Result<(), SecurityError> {
    let mab = mab();
    let mut group = c.benchmark_group("mac");
    group.throughput(Throughput::Bytes(mab.len() as u64));
    let single = DesKey::from_hex("C24A8FB57AA20123")?;
    let double = DesKey::from_hex("0123456789ABCDEFFEDCBA9876543210")?;
    for (name, algo, key) in [
        ("ecb/des", MacAlgorithm::UnionPayEcb, &single),
        ("ecb/3des", MacAlgorithm::UnionPayEcb, &double),
        ("x9.19", MacAlgorithm::X919, &double),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| compute_mac(algo, black_box(key), black_box(&mab)))
        });
    }
    group.finish();
    Ok(())
}

fn pin_block(c: &mut Criterion) -> Result<(), SecurityError> {
    let pik = DesKey::from_hex("0123456789ABCDEFFEDCBA9876543210")?;
    let pin = Pin::new("123456")?;
    let pan = Pan::new("6225880112345678")?;
    let fill = [0x5Au8; 32];
    let mut group = c.benchmark_group("pin_block");
    for (name, format) in [
        ("iso0", PinBlockFormat::Iso0),
        ("iso3", PinBlockFormat::Iso3),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                ClearPinBlock::build(
                    format,
                    black_box(&pin),
                    Some(black_box(&pan)),
                    &mut FixedBytes::new(&fill),
                )
                .map(|clear| clear.encrypt(black_box(&pik)))
            })
        });
    }
    group.finish();
    Ok(())
}

fn security(c: &mut Criterion) {
    if let Err(e) = mac(c).and_then(|()| pin_block(c)) {
        eprintln!("benchmark setup failed: {e}");
    }
}

criterion_group!(benches, security);
criterion_main!(benches);
