//! Runs one codec benchmark of `benches/codec.rs` `N` times, for counting
//! instructions with callgrind (independent of the machine's load):
//!
//! ```sh
//! cargo build --release -p cardwire-benches --example codec_loop
//! valgrind --tool=callgrind target/release/examples/codec_loop encode iso87ascii_0200 20000
//! ```
//!
//! `codec_loop decode|encode|fields|to_message CASE N` (`fields`: decode
//! and walk every field; `to_message`: decode and copy into a `Message`),
//! CASE one of `cups_sale`,
//! `iso87ascii_0200`, `iso87binary_0200`, `iso93ascii_1100`,
//! `iso87ascii_maximal`.

use std::hint::black_box;

use bytes::BytesMut;
use cardwire_benches::{cups_sale, iso87_0200, iso87_maximal, iso87binary_0200, iso93_1100};
use cardwire_codec::{decode, encode, specs};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(op), Some(case), Some(n)) = (
        args.first(),
        args.get(1),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: codec_loop decode|encode|fields|to_message CASE N");
        std::process::exit(2);
    };
    let (spec, wire) = match case.as_str() {
        "cups_sale" => (specs::cups(), cups_sale()),
        "iso87ascii_0200" => (specs::iso87ascii(), iso87_0200()),
        "iso87ascii_maximal" => (specs::iso87ascii(), iso87_maximal()),
        "iso87binary_0200" => (specs::iso87binary(), iso87binary_0200()),
        "iso93ascii_1100" => (specs::iso93ascii(), iso93_1100()),
        _ => {
            eprintln!("unknown case {case}");
            std::process::exit(2);
        }
    };
    let mut seen = 0usize;
    match op.as_str() {
        "decode" => {
            for _ in 0..n {
                seen += match decode(spec, black_box(&wire)) {
                    Ok(m) => m.value(2).map_or(0, |v| v.len()),
                    Err(_) => 0,
                };
            }
        }
        "encode" => {
            let Ok(msg) = decode(spec, &wire).map(|m| m.to_message()) else {
                eprintln!("{case} does not decode");
                std::process::exit(1);
            };
            let mut out = BytesMut::with_capacity(wire.len() * 2);
            for _ in 0..n {
                out.clear();
                if encode(spec, black_box(&msg), &mut out).is_ok() {
                    seen += out.len();
                }
            }
            if out[..] != wire[..] {
                eprintln!("{case} encodes differently");
                std::process::exit(1);
            }
        }
        "fields" => {
            for _ in 0..n {
                if let Ok(m) = decode(spec, black_box(&wire)) {
                    seen += m.fields().map(|f| f.wire.len()).sum::<usize>();
                }
            }
        }
        "to_message" => {
            for _ in 0..n {
                if let Ok(m) = decode(spec, black_box(&wire)) {
                    seen += m.to_message().fields().count();
                }
            }
        }
        _ => {
            eprintln!("usage: codec_loop decode|encode|fields|to_message CASE N");
            std::process::exit(2);
        }
    }
    println!("{seen}");
}
