//! Encode time over decode time for each message of `benches/codec.rs`,
//! measured interleaved: rounds of a block of decodes then a block of
//! encodes of the same message, so that both see the same machine (on a
//! shared VM the speed drifts between criterion's separate benches). The
//! ratio reported is the median of the per-round ratios.
//!
//! ```sh
//! cargo run --release -p cardwire-benches --example codec_ratio [SECONDS_PER_CASE]
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use cardwire_benches::{cups_sale, iso87_0200, iso87_maximal, iso87binary_0200, iso93_1100};
use cardwire_codec::{Spec, decode, encode, specs};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let cases: [(&str, &Spec, Vec<u8>); 5] = [
        ("cups_sale", specs::cups(), cups_sale()),
        ("iso87ascii_0200", specs::iso87ascii(), iso87_0200()),
        ("iso87binary_0200", specs::iso87binary(), iso87binary_0200()),
        ("iso93ascii_1100", specs::iso93ascii(), iso93_1100()),
        ("iso87ascii_maximal", specs::iso87ascii(), iso87_maximal()),
    ];
    println!("| message | bytes | decode (median) | encode (median) | encode / decode |");
    println!("|---|---|---|---|---|");
    for (name, spec, wire) in cases {
        let Ok(msg) = decode(spec, &wire).map(|m| m.to_message()) else {
            eprintln!("{name} does not decode");
            std::process::exit(1);
        };
        let mut out = BytesMut::with_capacity(wire.len() * 2);
        // About 50 µs per block.
        let block = (50_000 / wire.len()).max(20);
        let (mut dec, mut enc, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
        let deadline = Instant::now() + Duration::from_secs_f64(seconds);
        let mut round = 0usize;
        while Instant::now() < deadline || round < 10 {
            let t0 = Instant::now();
            for _ in 0..block {
                let m = decode(spec, black_box(&wire));
                black_box(m.ok().and_then(|m| m.value(2).map(|v| v.len())));
            }
            let t1 = Instant::now();
            for _ in 0..block {
                out.clear();
                let r = encode(spec, black_box(&msg), &mut out);
                black_box((r.is_ok(), out.len()));
            }
            let t2 = Instant::now();
            // The first rounds warm the caches up.
            if round >= 5 {
                let d = (t1 - t0).as_secs_f64() * 1e9 / block as f64;
                let e = (t2 - t1).as_secs_f64() * 1e9 / block as f64;
                dec.push(d);
                enc.push(e);
                ratio.push(e / d);
            }
            round += 1;
        }
        if out[..] != wire[..] {
            eprintln!("{name} encodes differently");
            std::process::exit(1);
        }
        println!(
            "| {name} | {} | {:.1} ns | {:.1} ns | {:.2} |",
            wire.len(),
            median(&mut dec),
            median(&mut enc),
            median(&mut ratio)
        );
    }
}
