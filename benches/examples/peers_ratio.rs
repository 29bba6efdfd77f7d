//! cardwire against the peers of `benches/peers.rs`, measured
//! interleaved: for each wire format, rounds of a block of decodes (and
//! reads of field 2) by each contender in turn, on the same bytes, so
//! that all see the same machine (on a shared VM the speed drifts
//! between criterion's separate benches by up to a third). Reported:
//! each contender's median time per message, and the median over rounds
//! of its time over cardwire's. Last, the same for the 1,000 messages with
//! 1,000 different bitmaps of `many_bitmaps` (`peers::many`), decoded in
//! turn.
//!
//! ```sh
//! cargo run --release -p cardwire-benches --example peers_ratio [SECONDS_PER_FORMAT]
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

#[path = "../peers/mod.rs"]
mod peers;

use peers::Format;
use peers::many::{self, Traffic};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// A decoder's name and one run over its bytes: one decode, or one of
/// each of many frames (returning the PAN's length, or the sum of them,
/// so nothing is optimized away).
type Contender<'a> = (&'static str, Box<dyn Fn() -> usize + 'a>);

fn floor(wire: &[u8]) -> usize {
    black_box(wire)
        .iter()
        .fold(0u32, |acc, &b| acc.wrapping_add(u32::from(b))) as usize
}

/// Decodes every frame in turn with `decode`; the sum of what it returns.
fn each(frames: &[&[u8]], decode: impl Fn(&[u8]) -> Option<usize>) -> usize {
    frames
        .iter()
        .map(|&w| decode(black_box(w)).unwrap_or(0))
        .sum()
}

/// Runs the contenders in turn for `seconds` and prints their table; the
/// first is cardwire. One run of a contender decodes `messages` messages.
fn race(title: &str, bytes: usize, messages: usize, contenders: &[Contender<'_>], seconds: f64) {
    // Runs of each contender a round: enough for 200 decodes or more.
    let block = 200usize.div_ceil(messages);
    let decodes = block * messages;
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut seen = 0usize;
    let mut round = 0usize;
    while Instant::now() < deadline || round < 10 {
        let mut this = Vec::with_capacity(contenders.len());
        for (_, run) in contenders {
            let t = Instant::now();
            for _ in 0..block {
                seen = seen.wrapping_add(run());
            }
            this.push(t.elapsed().as_secs_f64() * 1e9 / decodes as f64);
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
    black_box(seen);
    println!();
    println!(
        "{title}, {bytes} bytes, {} rounds of {decodes} decodes each",
        round - 5
    );
    println!();
    println!("| decoder | median per message | time / cardwire's (median of rounds) |");
    println!("|---|---|---|");
    for (i, (name, _)) in contenders.iter().enumerate() {
        println!(
            "| {name} | {:.1} ns | {:.2} |",
            median(&mut times[i]),
            median(&mut ratios[i])
        );
    }
}

fn main() {
    // iso8583_rs needs SPEC_FILE in the environment: run again with it.
    let args: Vec<String> = std::env::args().skip(1).collect();
    peers::run_again_with_iso8583_rs_spec_if_needed(&args);
    let seconds: f64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(5.0);

    // i8583, iso_8583_rs and iso8583-codec-rs build the same bytes
    // (`tests/peers.rs`).
    let hex = peers::i8583_encode();
    let new_spec = peers::iso_8583_rs_spec();
    let json_spec = peers::codec_rs_spec();
    let hex_spec = Format::HexBitmap.cardwire_spec();
    assert_eq!(peers::cardwire_encode(&hex_spec, true), hex);
    assert_eq!(peers::iso_8583_rs_encode(&new_spec), hex);
    assert_eq!(peers::codec_rs_encode(&json_spec), hex);
    let w = &hex;
    race(
        Format::HexBitmap.name(),
        hex.len(),
        1,
        &[
            (
                "cardwire",
                Box::new(|| peers::cardwire(&hex_spec, black_box(w), <[u8]>::len).unwrap_or(0)),
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
                "iso8583-codec-rs",
                Box::new(|| peers::codec_rs(&json_spec, black_box(w), <[u8]>::len).unwrap_or(0)),
            ),
            ("floor", Box::new(|| floor(w))),
        ],
        seconds,
    );

    let bin_spec = Format::BinaryBitmap.cardwire_spec();
    let binary = peers::iso8583_rs_encode();
    assert_eq!(peers::cardwire_encode(&bin_spec, true), binary);
    // iso8583_rs decodes from a `&mut Vec<u8>`.
    let scratch = std::cell::RefCell::new(binary.clone());
    let b = &binary;
    race(
        Format::BinaryBitmap.name(),
        binary.len(),
        1,
        &[
            (
                "cardwire",
                Box::new(|| peers::cardwire(&bin_spec, black_box(b), <[u8]>::len).unwrap_or(0)),
            ),
            (
                "iso8583_rs",
                Box::new(|| {
                    let mut wire = scratch.borrow_mut();
                    peers::iso8583_rs(black_box(&mut wire), <[u8]>::len).unwrap_or(0)
                }),
            ),
            ("floor", Box::new(|| floor(b))),
        ],
        seconds,
    );

    let no_64 = peers::core_encode();
    assert_eq!(peers::cardwire_encode(&bin_spec, false), no_64);
    let c = &no_64;
    race(
        "0200_binary_bitmap_no_64",
        no_64.len(),
        1,
        &[
            (
                "cardwire",
                Box::new(|| peers::cardwire(&bin_spec, black_box(c), <[u8]>::len).unwrap_or(0)),
            ),
            (
                "iso8583-core",
                Box::new(|| peers::core(black_box(c), <[u8]>::len).unwrap_or(0)),
            ),
            ("floor", Box::new(|| floor(c))),
        ],
        seconds,
    );

    let traffic = Traffic::new(&new_spec, &hex_spec);
    traffic
        .check(&new_spec, &hex_spec)
        .unwrap_or_else(|e| panic!("{e}"));
    let frames: Vec<&[u8]> = traffic.frames().collect();
    let frames = frames.as_slice();
    race(
        &format!("{} messages with distinct bitmaps", many::COUNT),
        traffic.bytes(),
        frames.len(),
        &[
            (
                "cardwire",
                Box::new(|| each(frames, |w| peers::cardwire(&hex_spec, w, <[u8]>::len))),
            ),
            (
                "iso_8583_rs",
                Box::new(|| each(frames, |w| peers::iso_8583_rs(&new_spec, w, <[u8]>::len))),
            ),
            (
                "i8583",
                Box::new(|| each(frames, |w| peers::i8583(w, <[u8]>::len))),
            ),
            ("floor", Box::new(|| each(frames, |w| Some(floor(w))))),
        ],
        seconds,
    );
}
