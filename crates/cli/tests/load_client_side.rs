//! `cardwire load` against a host without an admin socket: the report
//! says there is no host-side audit and counts what the terminals saw
//! (approvals, no replies, reversals, outcomes they could not learn), per
//! transaction latency, on any framing.

#![allow(missing_docs, clippy::unwrap_used)]

mod net_support;

use net_support::{cardwire, host, scratch, text};

#[test]
fn load_without_an_admin_socket_reports_what_the_terminals_saw() {
    let dir = scratch("load-client-side");
    let h = host(&[
        "--db",
        ":memory:",
        "--terminals",
        "2",
        "--admin",
        "off",
        "--prefix",
        "ascii4",
    ]);
    // The load's own fault proxy drops the reply to some sales of
    // each terminal: those outcomes are unknown until reversed.
    let plan = dir.join("plan.toml");
    std::fs::write(
        &plan,
        "seed = 1\n[[rules]]\nfault = \"drop-response\"\nkind = \"sale\"\nprobability = 0.3\n",
    )
    .unwrap();
    let base = [
        "load",
        "--connect",
        &h.addr,
        "--admin",
        "off",
        "--prefix",
        "ascii4",
        "--terminals",
        "2",
        "--duration",
        "3s",
        "--rate",
        "6",
        "--timeout",
        "200ms",
        "--mix",
        "sale=1",
        "--quiet",
    ];
    let mut args = base.to_vec();
    args.extend(["--faults", plan.to_str().unwrap(), "--json"]);
    let o = cardwire(&dir, &args);
    assert!(o.status.success(), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(r["audit"].is_null(), "{r:#}");
    let c = &r["client"];
    let approved = c["approved"].as_u64().unwrap();
    let no_reply = c["no_reply"].as_u64().unwrap();
    assert!(approved > 0, "{r:#}");
    assert!(no_reply > 0, "the plan drops replies: {r:#}");
    assert_eq!(c["unknown_outcomes"].as_u64(), Some(no_reply), "{r:#}");
    // Conforming terminals reversed every one of them.
    assert!(r["reversals_sent"].as_u64().unwrap() >= no_reply, "{r:#}");
    assert_eq!(
        r["reversals_cleared"].as_u64(),
        Some(no_reply),
        "every reversal acknowledged: {r:#}"
    );
    assert_eq!(c["unreversed"].as_u64(), Some(0), "{r:#}");
    let by_kind = r["latency_by_kind"].as_object().unwrap();
    for kind in ["sign-on", "sale", "reversal"] {
        assert!(
            by_kind[kind]["count"].as_u64().unwrap() > 0,
            "{kind}: {r:#}"
        );
    }
    // Each terminal starts every 333 ms: a 200 ms timeout plus its
    // reversal still fits, so the schedule holds.
    assert_eq!(r["fell_behind"], false, "{r:#}");

    // The same run in words; a terminal that never reverses leaves its
    // unknown outcomes as possible double debits.
    let mut args = base.to_vec();
    args.extend(["--faults", plan.to_str().unwrap(), "--non-conforming"]);
    let o = cardwire(&dir, &args);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("no host-side audit"), "{out}");
    assert!(out.contains("possible double debits"), "{out}");
    assert!(out.contains("  sale "), "per-kind latency: {out}");
}
