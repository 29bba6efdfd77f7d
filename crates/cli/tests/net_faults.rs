//! Fault cases over real loopback TCP: `cardwire host`, `cardwire proxy`
//! with a fault plan, `cardwire terminal` and `cardwire load`, run as a
//! user would run them.

#![allow(missing_docs, clippy::unwrap_used)]

mod net_support;

use net_support::{balance, cardwire, ctl, host, proxy, scratch, text};

fn write_plan(dir: &std::path::Path, body: &str) -> String {
    let p = dir.join("faults.toml");
    std::fs::write(&p, body).unwrap();
    p.to_str().unwrap().to_owned()
}

/// The state file `cardwire terminal` says it uses.
fn state_file_of(o: &std::process::Output) -> std::path::PathBuf {
    let out = text(o);
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("cardwire terminal: state "))
        .unwrap_or_else(|| panic!("no state line: {out}"));
    std::path::PathBuf::from(line.trim())
}

#[test]
fn lost_response_is_reversed_before_next_sale() {
    let dir = scratch("lost-response");
    let h = host(&["--db", ":memory:"]);
    let plan = write_plan(
        &dir,
        "seed = 1\n[[rules]]\nfault = \"drop-response\"\nkind = \"sale\"\nnth = 1\n",
    );
    let p = proxy(&h.addr, &["--faults", &plan]);
    let admin = h.admin.clone().unwrap();
    let term = |args: &[&str]| {
        let mut all = vec!["terminal", "--connect", &p.addr, "--timeout", "1s"];
        all.extend_from_slice(args);
        cardwire(&dir, &all)
    };

    // The host approves and debits; the reply is lost; the terminal times out.
    let o = term(&["sale", "--amount", "10.00", "--card", "alice"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("NO REPLY"), "{}", text(&o));
    assert_eq!(balance(&admin, "alice"), "4990.00");
    let state_file = state_file_of(&o);
    let state = std::fs::read_to_string(&state_file).unwrap();
    assert!(state.contains("\"reason\": \"98\""), "{state}");

    // A new process (the terminal restarted) sends the reversal first.
    let o = term(&["sale", "--amount", "20.00", "--card", "alice"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("pending reversal of sale"), "{out}");
    let rev = out.find("0400 reversal").expect("a 0400 went out");
    let sale = out.rfind("0200 sale").unwrap();
    assert!(rev < sale, "the reversal goes before the next sale:\n{out}");
    assert!(out.contains("RRN"), "{out}");
    assert!(out.contains("auth"), "{out}");
    assert_eq!(balance(&admin, "alice"), "4980.00");
    assert_eq!(state_file_of(&o), state_file);
    let state = std::fs::read_to_string(&state_file).unwrap();
    assert!(state.contains("\"pending_reversal\": null"), "{state}");
}

#[test]
fn non_conforming_terminal_leaves_a_double_debit() {
    let dir = scratch("non-conforming");
    let h = host(&["--db", ":memory:"]);
    let plan = write_plan(
        &dir,
        "seed = 1\n[[rules]]\nfault = \"drop-response\"\nkind = \"sale\"\nnth = 1\n",
    );
    let p = proxy(&h.addr, &["--faults", &plan]);
    let admin = h.admin.clone().unwrap();
    let term = |args: &[&str]| {
        let mut all = vec![
            "terminal",
            "--connect",
            &p.addr,
            "--timeout",
            "1s",
            "--non-conforming",
        ];
        all.extend_from_slice(args);
        cardwire(&dir, &all)
    };
    let o = term(&["sale", "--amount", "10.00", "--card", "alice"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = term(&["sale", "--amount", "10.00", "--card", "alice"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("0400"), "{}", text(&o));
    // Two debits, one slip.
    assert_eq!(balance(&admin, "alice"), "4980.00");

    // The load generator's audit finds it: one lost reply per terminal,
    // non-conforming terminals, so one double debit per terminal.
    let plan = write_plan(
        &dir,
        "seed = 1\n[[rules]]\nfault = \"drop-response\"\nkind = \"sale\"\nnth = 2\n",
    );
    let h = host(&["--db", ":memory:", "--terminals", "3"]);
    let admin = h.admin.clone().unwrap();
    let load = |extra: &[&str]| {
        let mut all = vec![
            "load",
            "--connect",
            &h.addr,
            "--admin",
            &admin,
            "--terminals",
            "3",
            "--duration",
            "1500ms",
            "--timeout",
            "300ms",
            "--faults",
            &plan,
            "--mix",
            "sale=1",
            "--json",
            "--quiet",
        ];
        all.extend_from_slice(extra);
        let o = cardwire(&dir, &all);
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let r = load(&["--non-conforming"]);
    assert_eq!(r["audit"]["double_debits"], 3, "{r:#}");
    assert_eq!(r["audit"]["lost_approvals"], 0, "{r:#}");
    assert_eq!(r["reversals_sent"], 0, "{r:#}");
    assert_eq!(r["faults_struck"], 3, "{r:#}");
    assert!(r["codes"]["timeout"].as_u64().unwrap() >= 3, "{r:#}");

    // Conforming terminals on a fresh host: same faults, no double debit.
    drop(h);
    let h = host(&["--db", ":memory:", "--terminals", "3"]);
    let admin = h.admin.clone().unwrap();
    let all = [
        "load",
        "--connect",
        &h.addr,
        "--admin",
        &admin,
        "--terminals",
        "3",
        "--duration",
        "1500ms",
        "--timeout",
        "300ms",
        "--faults",
        &plan,
        "--mix",
        "sale=1",
        "--json",
        "--quiet",
    ];
    let o = cardwire(&dir, &all);
    assert!(o.status.success(), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["audit"]["double_debits"], 0, "{r:#}");
    assert_eq!(r["audit"]["lost_approvals"], 0, "{r:#}");
    assert!(r["reversals_cleared"].as_u64().unwrap() >= 3, "{r:#}");
    let status = net_support::ctl(&admin, &["status"]);
    assert_eq!(status["money_conserved"], true, "{status:#}");
}

#[test]
fn duplicated_request_is_booked_once() {
    let dir = scratch("duplicate");
    let h = host(&["--db", ":memory:", "--journal", "off"]);
    let plan = write_plan(
        &dir,
        "seed = 1\n[[rules]]\nfault = \"duplicate-request\"\nkind = \"sale\"\n",
    );
    let journal = dir.join("proxy.jsonl");
    let mut p = proxy(
        &h.addr,
        &["--faults", &plan, "--journal", journal.to_str().unwrap()],
    );
    let admin = h.admin.clone().unwrap();
    let o = cardwire(
        &dir,
        &[
            "terminal",
            "--connect",
            &p.addr,
            "--timeout",
            "2s",
            "sale",
            "--amount",
            "7.00",
            "--card",
            "alice",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(balance(&admin, "alice"), "4993.00");
    // The proxy saw the host answer the copy with 94 (duplicate).
    assert!(p.interrupt().success());
    let o = cardwire(
        &dir,
        &[
            "journal",
            "--file",
            journal.to_str().unwrap(),
            "--kind",
            "sale",
        ],
    );
    let out = text(&o);
    assert_eq!(out.matches(" in  0200 sale").count(), 2, "{out}");
    assert!(out.contains("00 approved") && out.contains("94 "), "{out}");
}

#[test]
fn host_with_its_own_fault_plan_loses_the_reply_and_takes_the_reversal() {
    let dir = scratch("host-faults");
    let plan = write_plan(
        &dir,
        "seed = 3\n[[rules]]\nfault = \"drop-response\"\nkind = \"sale\"\nnth = 1\n",
    );
    let h = host(&[
        "--db",
        ":memory:",
        "--faults",
        &plan,
        "--faults-admin",
        "127.0.0.1:0",
    ]);
    let admin = h.admin.clone().unwrap();
    let log = h.stderr_text();
    let faults_admin = log
        .split("--admin ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("the faults admin address is printed")
        .to_owned();
    let term = |args: &[&str]| {
        let mut all = vec!["terminal", "--connect", &h.addr, "--timeout", "1s"];
        all.extend_from_slice(args);
        cardwire(&dir, &all)
    };
    let o = term(&["sale", "--amount", "10.00", "--card", "alice"]);
    assert!(text(&o).contains("NO REPLY"), "{}", text(&o));
    assert_eq!(balance(&admin, "alice"), "4990.00");
    let o = term(&["sale", "--amount", "20.00", "--card", "alice"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("0400 reversal"), "{}", text(&o));
    assert_eq!(balance(&admin, "alice"), "4980.00");
    // The plan is visible (and replaceable) while the host runs.
    let v = ctl(&faults_admin, &["faults"]);
    assert_eq!(v["plan"]["rules"][0]["fault"], "drop-response", "{v}");
}

/// The TCP ports process `pid` listens on (Linux: its socket inodes
/// matched against /proc/net/tcp and tcp6 in state LISTEN).
#[cfg(target_os = "linux")]
fn listening_ports(pid: u32) -> std::collections::BTreeSet<u16> {
    let mut inodes = std::collections::HashSet::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        if let Ok(target) = std::fs::read_link(fd.path()) {
            let t = target.to_string_lossy().into_owned();
            if let Some(i) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                inodes.insert(i.to_owned());
            }
        }
    }
    let mut ports = std::collections::BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // local_address is column 1 (ADDR:PORT in hex), st column 3,
            // inode column 9.
            if cols.len() > 9 && cols[3] == "0A" && inodes.contains(cols[9]) {
                let port = cols[1].rsplit(':').next().unwrap();
                ports.insert(u16::from_str_radix(port, 16).unwrap());
            }
        }
    }
    ports
}

#[cfg(target_os = "linux")]
#[test]
fn host_with_faults_opens_no_port_that_bypasses_the_plan() {
    let dir = scratch("host-faults-ports");
    let plan = write_plan(
        &dir,
        "seed = 3\n[[rules]]\nfault = \"drop-response\"\nkind = \"sale\"\nnth = 1\n",
    );
    let h = host(&[
        "--db",
        ":memory:",
        "--faults",
        &plan,
        "--faults-admin",
        "127.0.0.1:0",
    ]);
    let log = h.stderr_text();
    let port = |addr: &str| addr.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    let faults_admin = log
        .split("--admin ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_owned();
    let expected: std::collections::BTreeSet<u16> = [
        port(&h.addr),
        port(h.admin.as_deref().unwrap()),
        port(&faults_admin),
    ]
    .into();
    assert_eq!(listening_ports(h.child.id()), expected, "{log}");
    // Terminals still reach the engine, through the plan: the first
    // sale's reply is dropped.
    let o = cardwire(
        &dir,
        &[
            "terminal",
            "--connect",
            &h.addr,
            "--timeout",
            "1s",
            "sale",
            "--amount",
            "1.00",
            "--card",
            "alice",
        ],
    );
    assert!(text(&o).contains("NO REPLY"), "{}", text(&o));
}
