//! `cardwire certify` over real TCP: a script plays the operator, reading
//! the `--json` prompts and running a `cardwire terminal` process for each.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use cardwire_engine::certify::Plan;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_cardwire")
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cardwire-certify-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// An approved sale, then a sale whose reply is lost, then the next sale
/// (which must come after the reversal). Short limits, so that a test
/// that goes wrong ends in seconds.
const LOST_REPLY_PLAN: &str = r#"
name = "lost-reply"
spec = "cups"

[[case]]
name = "approved sale"
limit = "20s"
watch = "20s"
[case.prompt]
do = "sale"
card = "alice"
amount = "any"
[case.arm]
kind = "sale"
[case.expect]
reply = "00"
no-reversal = true

[[case]]
name = "lost reply to a sale"
limit = "20s"
watch = "20s"
[case.prompt]
do = "sale"
card = "alice"
amount = "any"
[case.arm]
kind = "sale"
[case.host]
fault = "drop-response"
[case.expect.reversal]
reason = "98"
within = "1m"

[[case]]
name = "the next sale"
limit = "20s"
watch = "20s"
[case.prompt]
do = "sale"
card = "alice"
amount = "any"
[case.arm]
kind = "sale"
[case.expect]
reply = "00"
"#;

struct Run {
    code: i32,
    lines: Vec<serde_json::Value>,
    junit: String,
}

/// Runs `cardwire certify --json` on the plan (a built-in's name, or the
/// text of a plan file); for every prompt, unless `idle`, runs the
/// `cardwire terminal` action it names (with `extra` terminal flags, a
/// 2 s timeout, one state file).
fn certify(name: &str, plan: &str, extra: &[&str], idle: bool) -> Run {
    let dir = temp_dir(name);
    let plan_arg = if Plan::builtin(plan).is_ok() {
        PathBuf::from(plan)
    } else {
        let f = dir.join("plan.toml");
        std::fs::write(&f, plan).unwrap();
        f
    };
    let junit = dir.join("report.xml");
    let mut child = Command::new(bin())
        .args(["certify", "--listen", "127.0.0.1:0", "--json"])
        .args(["--terminal-timeout", "2s", "--plan"])
        .arg(&plan_arg)
        .arg("--junit")
        .arg(&junit)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    let addr = first
        .split("listening on ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_owned();
    std::thread::spawn(move || for _ in err.lines() {});
    let state = dir.join("terminal.json");
    let mut lines = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        if let (Some(p), false) = (v.get("prompt"), idle) {
            let action = p["do"].as_str().unwrap().to_owned();
            let mut cmd = Command::new(bin());
            cmd.args(["terminal", "--connect", &addr, "--timeout", "2s"])
                .arg("--state")
                .arg(&state)
                .args(extra)
                .arg(&action);
            // Every key but `do` is one of the action's flags, as it is.
            for (flag, value) in p.as_object().unwrap() {
                if flag != "do" {
                    cmd.arg(format!("--{flag}")).arg(value.as_str().unwrap());
                }
            }
            let out = cmd.output().unwrap();
            assert!(
                out.status.code().is_some(),
                "terminal {action} died: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        lines.push(v);
    }
    let status = child.wait().unwrap();
    let junit = std::fs::read_to_string(&junit).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    Run {
        code: status.code().unwrap(),
        lines,
        junit,
    }
}

fn verdicts(r: &Run) -> Vec<(String, String, String)> {
    r.lines
        .iter()
        .filter(|v| v.get("verdict").is_some())
        .map(|v| {
            (
                v["case"].as_str().unwrap().to_owned(),
                v["verdict"].as_str().unwrap().to_owned(),
                v["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Checks that `xml` is well-formed enough for a JUnit reader: one
/// declaration, every tag closed in order, no raw `<` or `&` in text.
/// Returns the element names in document order.
fn xml_elements(xml: &str) -> Vec<String> {
    let body = xml
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
        .expect("an XML declaration");
    let mut stack: Vec<String> = Vec::new();
    let mut names = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find('<') {
        let text = &rest[..i];
        for (j, _) in text.match_indices('&') {
            let ent = &text[j..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                    .iter()
                    .any(|e| ent.starts_with(e)),
                "raw & in {text:?}"
            );
        }
        let end = rest[i..].find('>').expect("an unclosed tag") + i;
        let tag = &rest[i + 1..end];
        assert!(!tag.contains('<'), "a < inside the tag {tag:?}");
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "unbalanced quotes in {tag:?}"
        );
        if let Some(closing) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(closing),
                "mismatched </{closing}>"
            );
        } else {
            let name = tag.split([' ', '/']).next().unwrap().to_owned();
            names.push(name.clone());
            if !tag.ends_with('/') {
                stack.push(name);
            }
        }
        rest = &rest[end + 1..];
    }
    assert!(stack.is_empty(), "unclosed {stack:?}");
    assert!(rest.trim().is_empty());
    names
}

#[test]
fn show_prints_a_builtin_plan_that_loads_back() {
    for name in ["cups-pos", "iso87"] {
        let out = Command::new(bin())
            .args(["certify", "--plan", name, "--show"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            Plan::from_toml(&text).unwrap(),
            Plan::builtin(name).unwrap()
        );
        // The printed file, given back as --plan, prints the same.
        let dir = temp_dir(&format!("show-{name}"));
        let f = dir.join("plan.toml");
        std::fs::write(&f, &text).unwrap();
        let again = Command::new(bin())
            .args(["certify", "--show", "--plan"])
            .arg(&f)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(again.stdout).unwrap(), text);
    }
}

#[test]
fn conforming_terminal_passes_a_lost_reply_plan_over_tcp() {
    let r = certify("pass", LOST_REPLY_PLAN, &[], false);
    let v = verdicts(&r);
    assert_eq!(r.code, 0, "{v:#?}");
    assert_eq!(v.len(), 3, "{v:#?}");
    assert!(v.iter().all(|(_, o, _)| o == "PASS"), "{v:#?}");
    let prompt = r.lines.iter().find(|l| l.get("prompt").is_some()).unwrap();
    assert_eq!(
        prompt["prompt"],
        serde_json::json!({"do": "sale", "card": "alice", "amount": "any"})
    );
    assert_eq!(prompt["case"], "approved sale");
    let finished = r.lines.last().unwrap();
    assert_eq!(finished["finished"]["pass"], 3);
    // No clear PAN in any event.
    let all: String = r.lines.iter().map(|l| l.to_string()).collect();
    assert!(
        !all.contains("6222020000000123"),
        "a clear PAN in the events"
    );
    let names = xml_elements(&r.junit);
    assert_eq!(names.iter().filter(|n| *n == "testcase").count(), 3);
    assert!(!names.iter().any(|n| n == "failure" || n == "skipped"));
}

#[test]
fn non_conforming_terminal_fails_the_lost_reply_with_the_double_debit() {
    let r = certify("fail", LOST_REPLY_PLAN, &["--non-conforming"], false);
    let v = verdicts(&r);
    assert_eq!(r.code, 1, "{v:#?}");
    let (_, outcome, reason) = v
        .iter()
        .find(|(c, _, _)| c == "lost reply to a sale")
        .unwrap();
    assert_eq!(outcome, "FAIL");
    assert!(
        reason.contains("no 0400 for the sale STAN")
            && reason.contains("before the next sale STAN")
            && reason.contains("the cardholder is debited twice"),
        "{reason}"
    );
    let names = xml_elements(&r.junit);
    assert_eq!(names.iter().filter(|n| *n == "failure").count(), 1);
    assert!(r.junit.contains("debited twice"));
}

#[test]
fn operator_who_never_acts_gets_not_run_after_the_limit() {
    let plan = LOST_REPLY_PLAN.replace("limit = \"20s\"", "limit = \"1s\"");
    let r = certify("idle", &plan, &[], true);
    let v = verdicts(&r);
    assert_eq!(r.code, 1, "{v:#?}");
    assert_eq!(v.len(), 3, "{v:#?}");
    for (case, outcome, reason) in &v {
        assert_eq!(outcome, "NOT RUN", "{case}");
        assert!(reason.contains("no sale arrived within 1s"), "{reason}");
    }
    let names = xml_elements(&r.junit);
    assert_eq!(names.iter().filter(|n| *n == "skipped").count(), 3);
}

/// The names of the cases of a built-in plan.
fn case_names(plan: &str) -> Vec<String> {
    Plan::builtin(plan)
        .unwrap()
        .cases
        .into_iter()
        .map(|c| c.name)
        .collect()
}

fn conforming_terminal_passes_every_case_of(plan: &str, spec: &str) {
    let r = certify(plan, plan, &["--spec", spec], false);
    let v = verdicts(&r);
    let mut names: Vec<String> = v.iter().map(|(c, _, _)| c.clone()).collect();
    names.sort();
    let mut all = case_names(plan);
    all.sort();
    assert_eq!(names, all, "{v:#?}");
    let failed: Vec<_> = v.iter().filter(|(_, o, _)| o != "PASS").collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(r.code, 0);
    let n = v.len();
    let junit = xml_elements(&r.junit);
    assert_eq!(junit.iter().filter(|e| *e == "testcase").count(), n);
}

#[test]
fn conforming_terminal_passes_every_case_of_cups_pos_over_tcp() {
    conforming_terminal_passes_every_case_of("cups-pos", "cups");
}

#[test]
fn conforming_terminal_passes_every_case_of_iso87_over_tcp() {
    conforming_terminal_passes_every_case_of("iso87", "iso87ascii");
}

/// The cases in which the non-conforming terminal (which never reverses)
/// leaves the cardholder debited: every case that expects a reversal.
fn reversal_cases(plan: &str) -> Vec<String> {
    Plan::builtin(plan)
        .unwrap()
        .cases
        .into_iter()
        .filter(|c| c.expect.reversal.is_some())
        .map(|c| c.name)
        .collect()
}

/// The settlement case, which the same unreversed sales unbalance.
fn settlement_cases(plan: &str) -> Vec<String> {
    Plan::builtin(plan)
        .unwrap()
        .cases
        .into_iter()
        .filter(|c| c.expect.balanced)
        .map(|c| c.name)
        .collect()
}

fn non_conforming_terminal_fails_exactly_the_reversal_cases_of(plan: &str, spec: &str) {
    let r = certify(
        &format!("{plan}-nc"),
        plan,
        &["--spec", spec, "--non-conforming"],
        false,
    );
    let v = verdicts(&r);
    assert_eq!(r.code, 1, "{v:#?}");
    let reversals = reversal_cases(plan);
    let settlements = settlement_cases(plan);
    assert!(!reversals.is_empty() && !settlements.is_empty());
    for (case, outcome, reason) in &v {
        if reversals.contains(case) {
            assert_eq!(outcome, "FAIL", "{case}: {reason}");
            assert!(
                reason.contains("no 0400 for the sale STAN")
                    && reason.contains("the cardholder is debited twice"),
                "{case}: {reason}"
            );
        } else if settlements.contains(case) {
            // The sales it never reversed are approved at the host and
            // missing from its own totals.
            assert_eq!(outcome, "FAIL", "{case}: {reason}");
            assert!(
                reason.contains("neither voided nor reversed: the batch does not balance"),
                "{case}: {reason}"
            );
        } else {
            assert_eq!(outcome, "PASS", "{case}: {reason}");
        }
    }
    let mut names: Vec<String> = v.iter().map(|(c, _, _)| c.clone()).collect();
    names.sort();
    let mut all = case_names(plan);
    all.sort();
    assert_eq!(names, all, "{v:#?}");
    let junit = xml_elements(&r.junit);
    assert_eq!(
        junit.iter().filter(|e| *e == "failure").count(),
        reversals.len() + settlements.len()
    );
}

#[test]
fn non_conforming_terminal_fails_the_reversal_cases_and_the_settlement_of_cups_pos() {
    non_conforming_terminal_fails_exactly_the_reversal_cases_of("cups-pos", "cups");
}

#[test]
fn non_conforming_terminal_fails_the_reversal_cases_and_the_settlement_of_iso87() {
    non_conforming_terminal_fails_exactly_the_reversal_cases_of("iso87", "iso87ascii");
}

#[test]
fn usage_errors_exit_2() {
    let run = |args: &[&str]| {
        Command::new(bin())
            .arg("certify")
            .args(args)
            .output()
            .unwrap()
    };
    let unknown_plan = run(&["--plan", "no-such-plan", "--show"]);
    assert_eq!(unknown_plan.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown_plan.stderr).contains("cups-pos, iso87"));
    let unknown_case = run(&["--listen", "127.0.0.1:0", "--case", "no such case"]);
    assert_eq!(unknown_case.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown_case.stderr).contains("no case"));
    let bad_flag = run(&["--terminal-timeout", "soon"]);
    assert_eq!(bad_flag.status.code(), Some(2));
}

#[test]
fn human_output_prompts_in_words_and_reports_each_case() {
    let plan = LOST_REPLY_PLAN.replace("limit = \"20s\"", "limit = \"1s\"");
    let dir = temp_dir("words");
    let f = dir.join("plan.toml");
    std::fs::write(&f, plan).unwrap();
    let out = Command::new(bin())
        .args(["certify", "--listen", "127.0.0.1:0", "--plan"])
        .arg(&f)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(
            "Case 2 of 3, lost reply to a sale: perform a sale of any amount with card alice"
        ),
        "{text}"
    );
    assert!(
        text.contains("NOT RUN  the next sale: no sale arrived within 1s"),
        "{text}"
    );
    assert!(text.contains("0 passed, 0 failed, 3 not run"), "{text}");
}
