//! Runs one decoder of the peer benchmark `N` times on its own bytes, for
//! counting instructions with callgrind, which does not depend on what
//! else the machine is doing (criterion's times do):
//!
//! ```sh
//! cargo build --release -p cardwire-benches --example peers_loop
//! bash benches/instructions.sh
//! ```
//!
//! `peers_loop DECODER N` with DECODER one of `cardwire_hex`,
//! `iso_8583_rs`, `i8583`, `iso8583_codec_rs`, `cardwire_binary`,
//! `iso8583_rs`, `cardwire_no_64`, `iso8583_core`, `floor_hex`.

use std::hint::black_box;

#[path = "../peers/mod.rs"]
mod peers;

use peers::Format;

fn main() {
    // iso8583_rs needs SPEC_FILE in the environment: run again with it.
    let args: Vec<String> = std::env::args().skip(1).collect();
    peers::run_again_with_iso8583_rs_spec_if_needed(&args);
    let (Some(which), Some(n)) = (args.first(), args.get(1).and_then(|n| n.parse().ok())) else {
        eprintln!("usage: peers_loop DECODER N");
        std::process::exit(2);
    };
    let n: usize = n;
    let mut seen = 0usize;
    match which.as_str() {
        "cardwire_hex" | "cardwire_binary" | "cardwire_no_64" => {
            let (format, wire) = match which.as_str() {
                "cardwire_hex" => (Format::HexBitmap, peers::i8583_encode()),
                "cardwire_binary" => (Format::BinaryBitmap, peers::iso8583_rs_encode()),
                _ => (Format::BinaryBitmap, peers::core_encode()),
            };
            let spec = format.cardwire_spec();
            let with_mac = which != "cardwire_no_64";
            if peers::cardwire_encode(&spec, with_mac) != wire {
                eprintln!("cardwire encodes {} differently", format.name());
                std::process::exit(1);
            }
            for _ in 0..n {
                seen += peers::cardwire(&spec, black_box(&wire), <[u8]>::len).unwrap_or(0);
            }
        }
        "floor_hex" => {
            let wire = peers::i8583_encode();
            for _ in 0..n {
                let sum = black_box(&wire)
                    .iter()
                    .fold(0u32, |acc, &b| acc.wrapping_add(u32::from(b)));
                seen += sum as usize;
            }
        }
        "i8583" => {
            let wire = peers::i8583_encode();
            for _ in 0..n {
                seen += peers::i8583(black_box(&wire), <[u8]>::len).unwrap_or(0);
            }
        }
        "iso_8583_rs" => {
            let spec = peers::iso_8583_rs_spec();
            let wire = peers::iso_8583_rs_encode(&spec);
            for _ in 0..n {
                seen += peers::iso_8583_rs(&spec, black_box(&wire), <[u8]>::len).unwrap_or(0);
            }
        }
        "iso8583_codec_rs" => {
            let spec = peers::codec_rs_spec();
            let wire = peers::codec_rs_encode(&spec);
            for _ in 0..n {
                seen += peers::codec_rs(&spec, black_box(&wire), <[u8]>::len).unwrap_or(0);
            }
        }
        "iso8583_core" => {
            let wire = peers::core_encode();
            for _ in 0..n {
                seen += peers::core(black_box(&wire), <[u8]>::len).unwrap_or(0);
            }
        }
        "iso8583_rs" => {
            let mut wire = peers::iso8583_rs_encode();
            for _ in 0..n {
                seen += peers::iso8583_rs(black_box(&mut wire), <[u8]>::len).unwrap_or(0);
            }
        }
        other => {
            eprintln!("unknown decoder {other}");
            std::process::exit(2);
        }
    }
    println!("{seen}");
}
