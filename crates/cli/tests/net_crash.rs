//! Crash safety: load against a host on SQLite, `kill -9` it mid-run,
//! restart it on the same file and port. Every approval a terminal
//! received must be in the ledger exactly once, money must be conserved,
//! and the conforming terminals' reversals leave no double debit.
//!
//! The terminals keep a reversal until it goes through (`--give-up keep`):
//! around the crash a reversal can fail three times (link down, then A0
//! from the restarted host, which lost the working keys), and with the
//! default `drop` policy it would be given up, a double debit caused by
//! the terminal's policy, not by the host.

#![allow(missing_docs, clippy::unwrap_used)]

mod net_support;

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use net_support::{bin, cardwire, ctl, host, scratch, text};

#[test]
fn host_killed_mid_load_loses_no_approval() {
    let dir = scratch("crash");
    let db = dir.join("ledger.db");
    let db = db.to_str().unwrap();
    // Snapshots every 40 entries: the restart loads one and replays only
    // the entries after it.
    let args = [
        "--db",
        db,
        "--terminals",
        "6",
        "--journal",
        "off",
        "--snapshot-every",
        "40",
    ];
    let mut h = host(&args);
    let (addr, admin) = (h.addr.clone(), h.admin.clone().unwrap());

    let load = Command::new(bin())
        .args([
            "load",
            "--connect",
            &addr,
            "--admin",
            &admin,
            "--terminals",
            "6",
            "--duration",
            "4s",
            "--timeout",
            "400ms",
            "--give-up",
            "keep",
            "--json",
            "--quiet",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    h.kill();
    let before = ctl_count_entries(db);
    assert!(
        before > 50,
        "the load ran before the kill: {before} entries"
    );
    std::thread::sleep(Duration::from_millis(300));
    let h2 = host(&[&args[..], &["--listen", &addr, "--admin", &admin]].concat());
    let out = load.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let audit = &r["audit"];
    assert_eq!(audit["lost_approvals"], 0, "{r:#}");
    assert_eq!(audit["double_debits"], 0, "{r:#}");
    assert!(audit["terminal_approvals"].as_u64().unwrap() > 50, "{r:#}");
    assert!(
        r["codes"]["00"].as_u64().unwrap() > 0 && r["reversals_pending"] == 0,
        "{r:#}"
    );

    let status = ctl(h2.admin.as_deref().unwrap(), &["status"]);
    assert_eq!(status["money_conserved"], true, "{status:#}");

    // Once: no (terminal, STAN, transaction) is booked twice.
    drop(h2);
    let o = cardwire(&dir, &["journal", "--db", db, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let mut seen = HashSet::new();
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        if e["code"] == "00" {
            let key = (
                e["terminal"].as_str().unwrap().to_owned(),
                e["stan"].as_u64().unwrap(),
                e["kind"].as_str().unwrap().to_owned(),
            );
            assert!(seen.insert(key.clone()), "booked twice: {key:?}");
        }
    }
    assert!(seen.len() as u64 >= audit["host_debits"].as_u64().unwrap());
}

fn ctl_count_entries(db: &str) -> usize {
    let o = Command::new(bin())
        .args(["journal", "--db", db, "--json"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).lines().count()
}

#[test]
fn sigterm_stops_the_host_cleanly_like_ctrl_c() {
    let dir = scratch("sigterm");
    let db = dir.join("ledger.db");
    let db = db.to_str().unwrap();
    let mut h = host(&["--db", db, "--journal", "off"]);
    let o = cardwire(
        &dir,
        &[
            "terminal",
            "--connect",
            &h.addr,
            "--timeout",
            "5s",
            "sale",
            "--amount",
            "12.34",
            "--card",
            "alice",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let status = h.terminate();
    assert!(status.success(), "{status:?}: {}", h.stderr_text());
    assert!(
        h.stderr_text().contains("cardwire host: stopped"),
        "{}",
        h.stderr_text()
    );
    // Committed and checkpointed: the WAL is folded into the file.
    assert!(!dir.join("ledger.db-wal").exists());
    assert_eq!(ctl_count_entries(db), 1);
    // A snapshot was taken at the stop: the next start replays nothing.
    let again = host(&["--db", db, "--journal", "off"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !again.stderr_text().contains("snapshot after entry")
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        again
            .stderr_text()
            .contains("ledger: 1 entries; snapshot after entry 1, ledger replayed: 0 entries"),
        "{}",
        again.stderr_text()
    );
    let status = ctl(again.admin.as_deref().unwrap(), &["balance", "alice"]);
    assert_eq!(status["balance"], "4987.66", "{status:#}");
}
