#!/usr/bin/env bash
# Instructions per decode (and read of field 2) for cardwire and each peer
# of `benches/benches/peers.rs`, counted by callgrind: the difference
# between 20 000 and 10 000 runs, so setup does not count. Independent of
# the machine's load, unlike criterion's times.
# Needs valgrind and `cargo build --release -p cardwire-benches --example peers_loop`.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${CARGO_TARGET_DIR:-target}/release/examples/peers_loop"
# iso8583_rs reads its spec from this file (otherwise the program runs
# itself again with it set, out of callgrind's sight).
export SPEC_FILE="$PWD/benches/peers/iso8583_rs.yaml"
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 |
    awk '/Collected/ { print $4 }'
}
for d in cardwire_hex iso_8583_rs i8583 iso8583_codec_rs floor_hex \
         cardwire_binary iso8583_rs cardwire_no_64 iso8583_core; do
  a=$(count "$d" 10000)
  b=$(count "$d" 20000)
  echo "$d $(( (b - a) / 10000 ))"
done
