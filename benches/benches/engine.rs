//! Host authorizations per second through the engine alone: decode,
//! MAC check, PIN check, decide, post to the in-memory ledger, build the
//! reply, MAC it and encode it. Run:
//! `cargo bench -p cardwire-benches --bench engine`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cardwire_codec::{TxnKind, decode, specs};
use cardwire_engine::Timestamp;
use cardwire_engine::config::{DEMO_TMK, HostConfig, Money};
use cardwire_engine::host::{ConnId, Host};
use cardwire_engine::wire::{Dialect, Reply, Request, seal};
use cardwire_security::{
    DesKey, FixedBytes, MacAlgorithm, Pan, Pin, PinBlockFormat, WorkingKeys, encrypt_pin,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const BATCH: u32 = 5_000;

fn config() -> HostConfig {
    let mut cfg = HostConfig::demo();
    cfg.cards[0].balance = Money(i64::MAX / 4);
    cfg
}

/// A host that has signed the demo terminal on, and `BATCH` sale frames
/// (distinct STANs, PIN block, ECB MAC) it will approve.
fn setup(seed: u64) -> (Host, Vec<Bytes>) {
    let spec = Arc::clone(specs::builtin("cups").expect("cups"));
    let mut cfg = config();
    cfg.seed = seed;
    let mut host = Host::new(spec, cfg).expect("host");
    let now = Timestamp::SIM_START;
    let signon = Request {
        kind: Some(TxnKind::SignOn),
        stan: 1,
        terminal_id: "12345678".into(),
        merchant_id: "123456789012345".into(),
        batch: Some(1),
        ..Request::default()
    };
    let mut m = signon.to_message(Dialect::UnionPay, now).expect("message");
    let wire = seal(specs::cups(), &mut m, None).expect("seal");
    host.handle_message(now, ConnId(1), &wire);
    let reply = host.poll_transmit().expect("reply");
    let r = Reply::parse(
        Dialect::UnionPay,
        &decode(specs::cups(), &reply.bytes).expect("decode"),
    );
    let tmk = DesKey::from_hex(DEMO_TMK).expect("tmk");
    let keys = WorkingKeys::unwrap(&tmk, &r.keys.expect("keys")).expect("unwrap");
    while host.poll_event().is_some() {}
    let pan = "6222021234567890123";
    let block = encrypt_pin(
        &keys.pik,
        PinBlockFormat::Iso0,
        &Pin::new("123456").expect("pin"),
        Some(&Pan::new(pan).expect("pan")),
        &mut FixedBytes::new(&[]),
    )
    .expect("pin block");
    let frames = (0..BATCH)
        .map(|i| {
            let req = Request {
                kind: Some(TxnKind::Sale),
                stan: i + 2,
                terminal_id: "12345678".into(),
                merchant_id: "123456789012345".into(),
                batch: Some(1),
                pan: Some(pan.into()),
                amount: Some(1_000 + u64::from(i)),
                currency: Some(156),
                entry_mode: Some("021".into()),
                pin_block: Some(*block.as_bytes()),
                ..Request::default()
            };
            let mut m = req.to_message(Dialect::UnionPay, now).expect("message");
            seal(
                specs::cups(),
                &mut m,
                Some((MacAlgorithm::UnionPayEcb, &keys.mak)),
            )
            .expect("seal")
        })
        .collect();
    (host, frames)
}

fn bench_authorizations(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(1));
    g.bench_function("host_sale_authorization", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            let mut seed = 0;
            while done < iters {
                seed += 1;
                let (mut host, frames) = setup(seed);
                let n = (iters - done).min(u64::from(BATCH)) as usize;
                let now = Timestamp::SIM_START;
                let start = Instant::now();
                for f in &frames[..n] {
                    host.handle_message(now, ConnId(1), black_box(f));
                    black_box(host.poll_transmit());
                    while host.poll_event().is_some() {}
                }
                total += start.elapsed();
                done += n as u64;
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, bench_authorizations);
criterion_main!(benches);
