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
    // The engine's clock counts whole milliseconds: its 400 ms may end up
    // to 1 ms before the journal's microsecond clock says.
    let latency = replies[0]["latency_ms"].as_f64().unwrap();
    assert!(latency >= 399.0, "{latency}");
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

/// Runs `cardwire ARGS`; `None` if it is still running after 5 s (killed).
fn exits_within_5s(args: &[&str]) -> Option<std::process::Output> {
    let mut child = std::process::Command::new(net_support::bin())
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// One line to the admin socket, one line back.
fn raw_admin(admin: &str, line: &str) -> serde_json::Value {
    use std::io::{BufRead, BufReader, Write};
    let mut s = std::net::TcpStream::connect(admin).unwrap();
    s.write_all(line.as_bytes()).unwrap();
    s.write_all(b"\n").unwrap();
    let mut reply = String::new();
    BufReader::new(s).read_line(&mut reply).unwrap();
    serde_json::from_str(&reply).unwrap()
}

#[test]
fn admin_socket_needs_a_token_off_loopback_and_refuses_long_lines() {
    // Off loopback without a token: refused, host and proxy alike.
    for args in [
        &[
            "host",
            "--db",
            ":memory:",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "0.0.0.0:0",
        ][..],
        &["proxy", "--listen", "127.0.0.1:0", "--admin", "0.0.0.0:0"][..],
    ] {
        let o = exits_within_5s(args).unwrap_or_else(|| panic!("{args:?} is serving"));
        assert!(!o.status.success());
        assert!(text(&o).contains("--admin-token"), "{}", text(&o));
    }

    // With a token, every request must carry it.
    let h = host(&["--db", ":memory:", "--admin-token", "s3cret"]);
    let admin = h.admin.clone().unwrap();
    let r = raw_admin(&admin, r#"{"cmd":"status"}"#);
    assert_eq!(r["ok"], false, "{r}");
    let r = raw_admin(&admin, r#"{"cmd":"status","token":"wrong!"}"#);
    assert_eq!(r["ok"], false, "{r}");
    let r = raw_admin(&admin, r#"{"cmd":"status","token":"s3cret"}"#);
    assert_eq!(r["ok"], true, "{r}");
    let o = cardwire(
        &scratch("admin-token"),
        &[
            "host-ctl",
            "--admin",
            &admin,
            "--admin-token",
            "s3cret",
            "status",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(!h.stderr_text().contains("s3cret"));

    // A line with no end is not buffered without bound: the socket closes.
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(&admin).unwrap();
    let chunk = vec![b'x'; 16 * 1024];
    let mut closed = false;
    for _ in 0..64 {
        if s.write_all(&chunk).is_err() {
            closed = true;
            break;
        }
    }
    if !closed {
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = [0u8; 64];
        closed = match s.read(&mut buf) {
            Ok(0) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
            Ok(_) => false,
        };
    }
    assert!(closed, "a 1 MiB line kept the admin connection open");
    // And the admin socket still serves.
    let r = raw_admin(&admin, r#"{"cmd":"status","token":"s3cret"}"#);
    assert_eq!(r["ok"], true, "{r}");
}

#[cfg(unix)]
#[test]
fn ledger_journal_and_terminal_state_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("owner-only");
    let db = dir.join("ledger.db");
    let journal = dir.join("journal.jsonl");
    let state = dir.join("terminal.json");
    let mut h = host(&[
        "--db",
        db.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
    ]);
    let o = cardwire(
        &dir,
        &[
            "terminal",
            "--connect",
            &h.addr,
            "--state",
            state.to_str().unwrap(),
            "sale",
            "--amount",
            "1.00",
            "--card",
            "alice",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let wal = dir.join("ledger.db-wal");
    let mut files = vec![&db, &journal, &state];
    if wal.exists() {
        files.push(&wal);
    }
    for f in files {
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", f.display());
    }
    assert!(h.interrupt().success());
}

/// An admin socket that answers the load generator's opening audit, then
/// goes away: the closing audit cannot reach it.
fn admin_that_answers_once() -> String {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        if let Ok((s, _)) = l.accept() {
            let mut line = String::new();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let _ = r.read_line(&mut line);
            let mut w = s;
            let _ = w.write_all(b"{\"ok\":true,\"debits\":{},\"last_stan\":{},\"last_seq\":0}\n");
        }
        drop(l);
    });
    addr
}

fn load(addr: &str, admin: &str, terminals: &str, json: bool) -> std::process::Output {
    let mut args = vec![
        "load",
        "--connect",
        addr,
        "--admin",
        admin,
        "--terminals",
        terminals,
        "--duration",
        "1s",
        "--rate",
        "40",
        "--quiet",
    ];
    if json {
        args.push("--json");
    }
    cardwire(&scratch("load-report"), &args)
}

#[test]
fn load_prints_its_report_when_the_audit_cannot_run() {
    let h = host(&["--db", ":memory:", "--terminals", "2"]);
    let fake = admin_that_answers_once();
    let o = load(&h.addr, &fake, "2", false);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("latency ms"), "{}", text(&o));
    assert!(out.contains("audit          could not run"), "{}", text(&o));
    // The audit was asked for and did not happen: not a success.
    assert!(!o.status.success(), "{}", text(&o));
}

#[test]
fn load_throughput_counts_decisions_and_reports_rejections_apart() {
    // Two load terminals, one registered: the other's requests get 97.
    let h = host(&["--db", ":memory:", "--terminals", "1"]);
    let o = load(&h.addr, h.admin.as_deref().unwrap(), "2", true);
    assert!(o.status.success(), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let codes = r["codes"].as_object().unwrap();
    let approved = codes["00"].as_u64().unwrap();
    assert!(approved > 0, "{r:#}");
    assert!(r["rejected"]["97"].as_u64().unwrap() > 0, "{r:#}");
    assert_eq!(r["decided"].as_u64().unwrap(), approved, "{r:#}");
    let rate = r["decided_per_s"].as_f64().unwrap() * r["elapsed_s"].as_f64().unwrap();
    assert!((rate - approved as f64).abs() < 1.0, "{r:#}");
    let o = load(&h.addr, h.admin.as_deref().unwrap(), "2", false);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("rejected       "), "{out}");
}

/// `cardwire ARGS` in `cwd` with the given environment changes.
fn cardwire_env(
    cwd: &std::path::Path,
    env: &[(&str, Option<&std::path::Path>)],
    args: &[&str],
) -> std::process::Output {
    let mut c = std::process::Command::new(net_support::bin());
    c.args(args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.output().unwrap()
}

#[test]
fn terminal_state_lives_in_the_user_state_dir_keyed_by_terminal_and_host() {
    let h = host(&["--db", ":memory:"]);
    let port = h.addr.rsplit(':').next().unwrap().to_owned();
    let base = scratch("state-dir");
    let cwd = base.join("cwd");
    let xdg = base.join("xdg");
    let home = base.join("home");
    for d in [&cwd, &xdg, &home] {
        std::fs::create_dir_all(d).unwrap();
    }
    let sale = [
        "terminal",
        "--connect",
        &h.addr,
        "sale",
        "--amount",
        "1.00",
        "--card",
        "alice",
    ];
    let name = format!("terminal-12345678-127.0.0.1-{port}.json");

    // $XDG_STATE_HOME/cardwire/...
    let o = cardwire_env(
        &cwd,
        &[("XDG_STATE_HOME", Some(&xdg)), ("HOME", Some(&home))],
        &sale,
    );
    assert!(o.status.success(), "{}", text(&o));
    let file = xdg.join("cardwire").join(&name);
    assert!(file.exists(), "{}", text(&o));
    assert!(
        text(&o).contains(&file.display().to_string()),
        "{}",
        text(&o)
    );
    assert_eq!(
        std::fs::read_dir(&cwd).unwrap().count(),
        0,
        "nothing in the current directory"
    );

    // Without XDG_STATE_HOME: ~/.local/state/cardwire/... (a fresh state
    // starts again at STAN 1: a sign-on, which the host answers again,
    // rather than a sale it would call a duplicate).
    let signon = ["terminal", "--connect", &h.addr, "signon"];
    let o = cardwire_env(
        &cwd,
        &[("XDG_STATE_HOME", None), ("HOME", Some(&home))],
        &signon,
    );
    assert!(o.status.success(), "{}", text(&o));
    let file = home.join(".local/state/cardwire").join(&name);
    assert!(file.exists(), "{}", text(&o));
    assert!(
        text(&o).contains(&file.display().to_string()),
        "{}",
        text(&o)
    );

    // --state FILE wins, and is printed.
    let chosen = base.join("mine.json");
    let mut args = vec!["terminal", "--state", chosen.to_str().unwrap()];
    args.extend_from_slice(&signon[1..]);
    let o = cardwire_env(&cwd, &[("XDG_STATE_HOME", Some(&xdg))], &args);
    assert!(o.status.success(), "{}", text(&o));
    assert!(chosen.exists());
    assert!(
        text(&o).contains(&chosen.display().to_string()),
        "{}",
        text(&o)
    );
}
