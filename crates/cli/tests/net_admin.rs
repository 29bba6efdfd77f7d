//! The host's admin socket, config file, journal and delayed replies,
//! over real loopback TCP.

#![allow(missing_docs, clippy::unwrap_used)]

mod net_support;

use std::time::{Duration, Instant};

use net_support::{balance, cardwire, ctl, host, scratch, text};

#[test]
fn rules_and_issuer_change_while_running_and_everything_is_journaled() {
    let dir = scratch("admin");
    let journal = dir.join("j.jsonl");
    let mut h = host(&["--db", ":memory:", "--journal", journal.to_str().unwrap()]);
    let admin = h.admin.clone().unwrap();
    let term = |args: &[&str]| {
        let mut all = vec!["terminal", "--connect", &h.addr, "--timeout", "5s"];
        all.extend_from_slice(args);
        cardwire(&dir, &all)
    };

    // A response rule added at run time.
    ctl(
        &admin,
        &["add-rule", r#"{"amount":"66.60","respond":"05"}"#],
    );
    let o = term(&["sale", "--amount", "66.60", "--card", "bob"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("code     05"), "{}", text(&o));
    assert_eq!(balance(&admin, "bob"), "50.00");

    // A delayed reply comes from the timer, through the connection's channel.
    ctl(
        &admin,
        &[
            "add-rule",
            r#"{"kind":"balance","delay":"400ms","times":1}"#,
        ],
    );
    let t = Instant::now();
    let o = term(&["balance", "--card", "alice"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(t.elapsed() >= Duration::from_millis(400));
    assert!(text(&o).contains("balance  5000.00"), "{}", text(&o));

    // The issuer goes down, then up again.
    ctl(&admin, &["issuer", "down"]);
    let o = term(&["sale", "--amount", "1.00", "--card", "alice"]);
    assert!(text(&o).contains("code     91"), "{}", text(&o));
    ctl(&admin, &["issuer", "up"]);
    ctl(&admin, &["clear-rules"]);
    let o = term(&["sale", "--amount", "66.60", "--card", "alice"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(balance(&admin, "alice"), "4933.40");

    // Ctrl-C flushes the journal; every message is in it, PANs masked.
    assert!(h.interrupt().success());
    let lines = std::fs::read_to_string(&journal).unwrap();
    assert!(
        !lines.contains("6222021234567890123"),
        "full PAN in the journal"
    );
    assert!(lines.contains("622202*********0123"));
    let o = cardwire(
        &dir,
        &[
            "journal",
            "--file",
            journal.to_str().unwrap(),
            "--code",
            "05",
        ],
    );
    let out = text(&o);
    assert!(
        out.contains("out 0210 sale") && out.contains("05 do not honour"),
        "{out}"
    );
    let o = cardwire(
        &dir,
        &[
            "journal",
            "--file",
            journal.to_str().unwrap(),
            "--kind",
            "balance",
            "--json",
        ],
    );
    let replies: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["dir"] == "out")
        .collect();
    assert_eq!(replies.len(), 1, "{}", text(&o));
    assert!(replies[0]["latency_ms"].as_f64().unwrap() >= 400.0);
}

#[test]
fn a_config_file_defines_cards_and_terminals() {
    let dir = scratch("config");
    let cfg = dir.join("host.toml");
    std::fs::write(
        &cfg,
        r#"
[host]
[[host.cards]]
id = "carol"
pan = "6222020000000000011"
pin = "1234"
balance = "10.00"

[[host.terminals]]
id = "87654321"
merchant = "999999999999999"
tmk = "70F2A84CCBC2AE8625CBB0F2C22AB923"
"#,
    )
    .unwrap();
    let h = host(&["--config", cfg.to_str().unwrap()]);
    let admin = h.admin.clone().unwrap();
    let term = |args: &[&str]| {
        let mut all = vec![
            "terminal",
            "--connect",
            &h.addr,
            "--terminal-id",
            "87654321",
            "--merchant-id",
            "999999999999999",
        ];
        all.extend_from_slice(args);
        cardwire(&dir, &all)
    };
    let o = term(&[
        "sale",
        "--amount",
        "4.00",
        "--card",
        "6222020000000000011",
        "--pin",
        "1234",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(balance(&admin, "carol"), "6.00");
    // The ledger went next to the config file.
    assert!(dir.join("cardwire-ledger.db").exists());
    drop(h);
    let o = cardwire(
        &dir,
        &[
            "journal",
            "--db",
            dir.join("cardwire-ledger.db").to_str().unwrap(),
        ],
    );
    assert!(text(&o).contains("sale       87654321"), "{}", text(&o));
    assert!(!text(&o).contains("6222020000000000011"));
}
