//! `cardwire scenario`: built-ins pass with exit 0, a failing expectation
//! exits 1 and says what failed, JSON is machine-readable.

use std::process::Command;

fn cardwire(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cardwire"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn double_debit_scenario_reports_the_double_debit_and_passes() {
    let (code, out, err) = cardwire(&["scenario", "double-debit"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("DOUBLE DEBIT  sale STAN 000002 100.00 on card alice"),
        "{out}"
    );
    assert!(out.contains("verdict: PASS"), "{out}");
}

#[test]
fn failing_expectation_exits_1_and_names_the_check() {
    let dir = std::env::temp_dir().join(format!("cardwire-scn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("mine.toml");
    std::fs::write(
        &file,
        "name = \"mine\"\n[[step]]\ndo = \"sale\"\ncard = \"alice\"\namount = \"9901.01\"\nexpect = { code = \"00\" }\n",
    )
    .expect("write");
    let (code, out, _) = cardwire(&["scenario", file.to_str().expect("utf8")]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAILED    response code: expected 00, got 01"),
        "{out}"
    );
}

#[test]
fn json_report_has_the_verdict_and_the_steps() {
    let (code, out, err) = cardwire(&["scenario", "contact-bank", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["passed"], true);
    assert_eq!(v["steps"][0]["outcome"]["code"], "01");
}

#[test]
fn unknown_scenario_is_a_clear_error() {
    let (code, _, err) = cardwire(&["scenario", "no-such-case"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("neither a built-in scenario nor a readable file"),
        "{err}"
    );
}

#[test]
fn the_scenario_file_example_in_the_readme_runs_and_passes() {
    let readme = include_str!("../../../README.md");
    let at = readme.find("**Scenario files**").expect("section");
    let rest = &readme[at..];
    let start = rest.find("```toml\n").expect("toml block") + "```toml\n".len();
    let end = start + rest[start..].find("```\n").expect("block end");
    let dir = std::env::temp_dir().join(format!("cardwire-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("readme.toml");
    std::fs::write(&file, &rest[start..end]).expect("write");
    let (code, out, err) = cardwire(&["scenario", file.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verdict: PASS"), "{out}");
}
