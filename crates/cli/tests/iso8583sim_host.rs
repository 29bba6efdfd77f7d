//! cardwire as the client of an independent host: iso8583sim's mock
//! issuer (`pip install iso8583sim`, run as a program; none of its code is
//! used). It approves everything but what its rules say: here, it drops
//! the reply to sales of 6.66. It computes no MACs and hands out no keys,
//! so the terminal runs with `--keys none`.
//!
//! Skipped, with a note, when the `iso8583sim` executable is absent.

#![allow(missing_docs, clippy::unwrap_used)]

mod net_support;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use net_support::{cardwire, scratch, text};

struct Sim(Child);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn have_iso8583sim() -> bool {
    Command::new("iso8583sim")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `iso8583sim serve` on a free port with `rules`; its address.
fn serve(dir: &std::path::Path, rules: &str) -> (Sim, String) {
    let rules_file = dir.join("rules.json");
    std::fs::write(&rules_file, rules).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("iso8583sim")
        .args(["serve", "--host", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .args(["--format", "ascii-hex", "--header", "2b", "--rules"])
        .arg(&rules_file)
        .env("COLUMNS", "200")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain its output so it never blocks on a full pipe.
    for pipe in [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        std::thread::spawn(move || for _ in BufReader::new(pipe).lines() {});
    }
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "iso8583sim serve did not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (Sim(child), addr)
}

/// The JSON events and outcome a `terminal --json` run printed.
fn events(o: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn outcome(o: &std::process::Output) -> serde_json::Value {
    events(o)
        .into_iter()
        .find(|e| e["event"] == "completed")
        .unwrap_or_else(|| panic!("no outcome: {}", text(o)))
}

const RULES: &str = r#"{"rules": [
  {"match": {"mti": "0200", "amount_gt": 665, "amount_lt": 667}, "action": "drop"}
]}"#;

#[test]
fn terminal_and_load_against_iso8583sim() {
    if !have_iso8583sim() {
        eprintln!(
            "note: iso8583sim not installed (pip install iso8583sim): skipping the test against it"
        );
        return;
    }
    let dir = scratch("iso8583sim");
    let (_sim, addr) = serve(&dir, RULES);
    let cards = dir.join("cards.toml");
    std::fs::write(
        &cards,
        "[[cards]]\nlabel = \"sim\"\npan = \"4761739001010010\"\nexpiry = \"3012\"\npin = \"1234\"\n",
    )
    .unwrap();
    let base = [
        "terminal",
        "--connect",
        &addr,
        "--spec",
        "iso87ascii",
        "--keys",
        "none",
        "--signon",
        "keys",
        "--timeout",
        "2s",
        "--cards",
        cards.to_str().unwrap(),
        "--state",
        "state.json",
        "--json",
    ];
    let term = |args: &[&str]| {
        let mut all = base.to_vec();
        all.extend_from_slice(args);
        cardwire(&dir, &all)
    };

    // Sign-on (0800, 70 = 001, no keys), then a sale.
    let o = term(&["sale", "--card", "sim", "--amount", "1.00"]);
    let out = outcome(&o);
    assert_eq!(out["approved"], true, "{}", text(&o));
    let sale_stan = out["stan"].as_u64().unwrap();
    let ev = events(&o);
    assert_eq!(ev[0]["event"], "sent", "{ev:?}");
    assert_eq!(ev[0]["mti"], "0800", "signed on first: {ev:?}");

    let o = term(&["balance", "--card", "sim"]);
    assert_eq!(outcome(&o)["approved"], true, "{}", text(&o));

    let o = term(&["void", "--card", "sim", "--voucher", &sale_stan.to_string()]);
    assert_eq!(outcome(&o)["approved"], true, "{}", text(&o));

    // The host drops the reply to 6.66: the terminal times out and keeps
    // the reversal it stored before sending.
    let o = term(&["sale", "--card", "sim", "--amount", "6.66"]);
    let out = outcome(&o);
    assert_eq!(out["timed_out"], true, "{}", text(&o));
    let lost = out["stan"].as_u64().unwrap();
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["pending_reversal"]["stan"], lost, "{state:#}");
    assert_eq!(state["pending_reversal"]["reason"], "98", "{state:#}");

    // The next sale (after this new process's sign-on) sends the 0400
    // first; the host approves it, then the sale.
    let o = term(&["sale", "--card", "sim", "--amount", "2.00"]);
    let ev = events(&o);
    let sent: Vec<(String, u64)> = ev
        .iter()
        .filter(|e| e["event"] == "sent" && e["mti"] != "0800")
        .map(|e| {
            (
                e["mti"].as_str().unwrap().to_owned(),
                e["stan"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(sent.first(), Some(&("0400".to_owned(), lost)), "{ev:?}");
    assert_eq!(sent.get(1).map(|s| s.0.as_str()), Some("0200"), "{ev:?}");
    assert!(
        ev.iter()
            .any(|e| e["event"] == "reversal-cleared" && e["stan"] == lost && e["by"] == "00"),
        "the reversal was approved: {ev:?}"
    );
    assert_eq!(outcome(&o)["approved"], true, "{}", text(&o));
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("state.json")).unwrap()).unwrap();
    assert!(state["pending_reversal"].is_null(), "{state:#}");

    // A few seconds of load: approvals, no errors, no audit to run.
    let o = cardwire(
        &dir,
        &[
            "load",
            "--connect",
            &addr,
            "--spec",
            "iso87ascii",
            "--keys",
            "none",
            "--admin",
            "off",
            "--terminals",
            "4",
            "--rate",
            "40",
            "--duration",
            "3s",
            "--timeout",
            "2s",
            "--cards",
            cards.to_str().unwrap(),
            "--quiet",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let approved = r["client"]["approved"].as_u64().unwrap();
    assert!(approved >= 40, "{r:#}");
    assert_eq!(r["codes"].as_object().unwrap().len(), 1, "only 00: {r:#}");
    assert_eq!(r["codes"]["00"].as_u64(), Some(approved), "{r:#}");
    assert_eq!(r["client"]["no_reply"], 0, "{r:#}");
    assert_eq!(r["client"]["unknown_outcomes"], 0, "{r:#}");
    assert!(r["audit"].is_null(), "{r:#}");
}
