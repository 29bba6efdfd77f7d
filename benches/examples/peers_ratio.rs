//! cardwire against the fastest peers of `benches/peers.rs`, measured
//! interleaved: rounds of a block of decodes by each contender in turn,
//! on the same bytes, so that all see the same machine (on a shared VM
//! the speed drifts between criterion's separate benches by a third).
//! Reported: each contender's median time per decode (and read of field
//! 2), and the median over rounds of its time over cardwire's.
//!
//! ```sh
//! cargo run --release -p cardwire-benches --example peers_ratio [SECONDS]
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

#[path = "../peers/mod.rs"]
mod peers;

use peers::Format;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

type Contender<'a> = (&'static str, Box<dyn Fn() -> usize + 'a>);

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    // i8583 and iso_8583_rs build the same bytes (`tests/peers.rs`).
    let wire = peers::i8583_encode();
    let new_spec = peers::iso_8583_rs_spec();
    let spec = Format::HexBitmap.cardwire_spec();
    if peers::cardwire_encode(&spec, true) != wire || peers::iso_8583_rs_encode(&new_spec) != wire {
        eprintln!("the contenders do not build the same bytes");
        std::process::exit(1);
    }
    let w = &wire;
    let contenders: Vec<Contender<'_>> = vec![
        (
            "cardwire",
            Box::new(|| peers::cardwire(&spec, black_box(w), <[u8]>::len).unwrap_or(0)),
        ),
        (
            "iso_8583_rs",
            Box::new(|| peers::iso_8583_rs(&new_spec, black_box(w), <[u8]>::len).unwrap_or(0)),
        ),
        (
            "i8583",
            Box::new(|| peers::i8583(black_box(w), <[u8]>::len).unwrap_or(0)),
        ),
        (
            "floor",
            Box::new(|| {
                black_box(w)
                    .iter()
                    .fold(0u32, |acc, &b| acc.wrapping_add(u32::from(b))) as usize
            }),
        ),
    ];
    let block = 500;
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut seen = 0usize;
    let mut round = 0usize;
    while Instant::now() < deadline || round < 10 {
        let mut this = Vec::with_capacity(contenders.len());
        for (_, run) in &contenders {
            let t = Instant::now();
            for _ in 0..block {
                seen = seen.wrapping_add(run());
            }
            this.push(t.elapsed().as_secs_f64() * 1e9 / f64::from(block));
        }
        // The first rounds warm the caches up.
        if round >= 5 {
            for (i, &t) in this.iter().enumerate() {
                times[i].push(t);
                ratios[i].push(t / this[0]);
            }
        }
        round += 1;
    }
    println!(
        "{} bytes, {} rounds of {block} decodes each",
        wire.len(),
        round - 5
    );
    println!("| decoder | median | time / cardwire's (median of rounds) |");
    println!("|---|---|---|");
    for (i, (name, _)) in contenders.iter().enumerate() {
        println!(
            "| {name} | {:.1} ns | {:.2} |",
            median(&mut times[i]),
            median(&mut ratios[i])
        );
    }
    black_box(seen);
}
