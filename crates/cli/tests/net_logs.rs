//! The host's log: `tracing` events on stderr, `--log-format json` for log
//! shippers, `RUST_LOG` filtering; connection spans carry the connection
//! and terminal id, never card data.

#![allow(missing_docs, clippy::unwrap_used)]

mod net_support;

use std::time::Duration;

use net_support::{cardwire, host, host_with_env, scratch, text};

const ALICE_PAN: &str = "6222021234567890123";

fn sale(dir: &std::path::Path, addr: &str) {
    let o = cardwire(
        dir,
        &[
            "terminal",
            "--connect",
            addr,
            "--timeout",
            "5s",
            "sale",
            "--amount",
            "1.00",
            "--card",
            "alice",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn json_log_lines_carry_connection_and_terminal_never_the_card() {
    let dir = scratch("log-json");
    let h = host(&["--db", ":memory:", "--log-format", "json", "-v"]);
    sale(&dir, &h.addr);
    std::thread::sleep(Duration::from_millis(300));
    let log = h.stderr_text();
    assert!(!log.contains(ALICE_PAN), "{log}");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let closed = lines
        .iter()
        .find(|v| {
            v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("closed by peer"))
        })
        .unwrap_or_else(|| panic!("no JSON line for the closed connection:\n{log}"));
    assert_eq!(closed["level"], "INFO", "{closed}");
    assert_eq!(closed["span"]["name"], "conn", "{closed}");
    assert!(closed["span"]["id"].as_u64().is_some(), "{closed}");
    assert_eq!(closed["span"]["terminal"], "12345678", "{closed}");
}

#[test]
fn rust_log_filters_the_host_log() {
    let dir = scratch("log-filter");
    let h = host_with_env(&["--db", ":memory:", "-v"], &[("RUST_LOG", "warn")]);
    sale(&dir, &h.addr);
    std::thread::sleep(Duration::from_millis(300));
    let log = h.stderr_text();
    assert!(!log.contains("closed by peer"), "{log}");

    let h = host_with_env(&["--db", ":memory:", "-v"], &[("RUST_LOG", "info")]);
    sale(&dir, &h.addr);
    std::thread::sleep(Duration::from_millis(300));
    let log = h.stderr_text();
    let line = log
        .lines()
        .find(|l| l.contains("closed by peer"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains("INFO") && line.contains("terminal=12345678"),
        "{line}"
    );
}
