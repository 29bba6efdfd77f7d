//! `cardwire certify`: grade a real terminal against a test plan.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use cardwire_engine::certify::{CertifyEvent, Outcome, Plan, PromptEvent, Verdict};
use cardwire_net::certify::{CertifyOptions, bind};
use clap::Args;
use serde_json::json;

use crate::net_cmd::{StopSignal, parse_duration, runtime};

#[derive(Args)]
pub(crate) struct CertifyArgs {
    /// Where the terminal connects.
    #[arg(long, default_value = "127.0.0.1:8583")]
    listen: SocketAddr,
    /// Built-in spec name or spec file [default: the plan's].
    #[arg(long)]
    spec: Option<String>,
    /// A built-in plan (cups-pos, iso87) or a plan file (TOML).
    #[arg(long, default_value = "cups-pos")]
    plan: String,
    /// The terminal's response timeout: a reply the plan holds back
    /// (`delay`) is held twice this long, so that it is late for this
    /// terminal. Default: the plan's delays as written.
    #[arg(long, value_parser = parse_duration)]
    terminal_timeout: Option<Duration>,
    /// Write the report as JUnit XML to this file.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// One JSON object per line for each event (prompts, observations,
    /// verdicts, the end).
    #[arg(long)]
    json: bool,
    /// Run only the case of this name (repeatable).
    #[arg(long = "case", value_name = "NAME")]
    cases: Vec<String>,
    /// Print the plan as TOML and exit (no host).
    #[arg(long)]
    show: bool,
}

fn load_plan(name: &str) -> Result<Plan> {
    if let Ok(p) = Plan::builtin(name) {
        return Ok(p);
    }
    let path = std::path::Path::new(name);
    if !path.exists() {
        bail!(
            "no built-in plan {name:?} and no such file (built-in: {})",
            cardwire_engine::certify::BUILTIN_PLANS.join(", ")
        );
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading plan {name}"))?;
    Plan::from_toml(&text).with_context(|| format!("plan file {name}"))
}

/// The operator's instruction, in words: `perform a sale of any amount
/// with card alice`.
fn instruction(p: &PromptEvent) -> String {
    let pr = &p.prompt;
    let card = pr
        .card
        .as_deref()
        .map_or_else(String::new, |c| format!(" with card {c}"));
    let amount = match pr.amount.as_deref() {
        None | Some("any") => "any amount".to_owned(),
        Some(a) => a.to_owned(),
    };
    let voucher = match pr.voucher.as_deref() {
        None | Some("last") => "the last sale".to_owned(),
        Some(v) => format!("voucher {v}"),
    };
    let mut s = match pr.action.as_str() {
        "signon" => "sign on".to_owned(),
        "sale" => format!("perform a sale of {amount}{card}"),
        "balance" => format!("ask for the balance{card}"),
        "void" => format!("void {voucher}{card}"),
        "refund" => format!("refund {voucher} ({amount}){card}"),
        "settle" => "settle the batch".to_owned(),
        "reverse" => "send the pending reversal".to_owned(),
        other => format!("do {other}{card}"),
    };
    if let Some(n) = &pr.note {
        s.push_str(&format!(" ({n})"));
    }
    s
}

fn event_json(e: &CertifyEvent, cases: usize) -> serde_json::Value {
    match e {
        CertifyEvent::Prompt(p) => {
            // `prompt` holds only the action and its flags, so that a
            // script can run it as it is; the advice goes beside it.
            let action = cardwire_engine::certify::Prompt {
                note: None,
                ..p.prompt.clone()
            };
            let mut v = json!({
                "prompt": action,
                "case": p.case,
                "index": p.index + 1,
                "of": cases,
                "deadline": p.deadline,
            });
            if let Some(note) = &p.prompt.note {
                v["note"] = json!(note);
            }
            v
        }
        CertifyEvent::Observation { at, case, text } => {
            json!({"observation": text, "case": case, "at": at})
        }
        CertifyEvent::Verdict(v) => json!({
            "verdict": v.outcome,
            "case": v.case,
            "reason": v.reason,
            "evidence": v.evidence,
        }),
        CertifyEvent::Finished {
            pass,
            fail,
            not_run,
        } => json!({"finished": {"pass": pass, "fail": fail, "not_run": not_run}}),
        other => serde_json::to_value(other).unwrap_or_default(),
    }
}

fn event_text(e: &CertifyEvent, cases: usize) -> Option<String> {
    match e {
        CertifyEvent::Prompt(p) => Some(format!(
            "Case {} of {cases}, {}: {}",
            p.index + 1,
            p.case,
            instruction(p)
        )),
        CertifyEvent::Observation { case, text, .. } => Some(match case {
            Some(c) => format!("  . {c}: {text}"),
            None => format!("  . {text}"),
        }),
        CertifyEvent::Verdict(v) => {
            Some(format!("{} {}: {}", v.outcome.as_str(), v.case, v.reason))
        }
        _ => None,
    }
}

/// The report: every case of the plan, PASS/FAIL/NOT RUN, the reason and
/// the masked evidence.
fn report(plan: &Plan, verdicts: &[Verdict]) -> String {
    let mut out = String::from("\nReport\n");
    for c in &plan.cases {
        match verdicts.iter().find(|v| v.case == c.name) {
            Some(v) => {
                out.push_str(&format!(
                    "{:<8} {}: {}\n",
                    v.outcome.as_str(),
                    v.case,
                    v.reason
                ));
                for e in &v.evidence {
                    let dir = serde_json::to_value(e.direction)
                        .ok()
                        .and_then(|d| d.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    out.push_str(&format!("           {dir:<4} {}\n", e.text));
                }
            }
            None => out.push_str(&format!("NOT RUN  {}: not graded\n", c.name)),
        }
    }
    let n = |o: Outcome| verdicts.iter().filter(|v| v.outcome == o).count();
    out.push_str(&format!(
        "{} passed, {} failed, {} not run\n",
        n(Outcome::Pass),
        n(Outcome::Fail),
        plan.cases.len() - n(Outcome::Pass) - n(Outcome::Fail)
    ));
    out
}

/// Escapes text for XML attributes and content.
fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => o.push(c),
        }
    }
    o
}

/// The report as JUnit XML: a test suite for the plan, a test case per
/// case; FAIL is a `<failure>`, NOT RUN a `<skipped>`, the evidence in
/// the body.
fn junit(plan: &Plan, verdicts: &[Verdict]) -> String {
    let find = |name: &str| verdicts.iter().find(|v| v.case == name);
    let count = |o: Outcome| {
        plan.cases
            .iter()
            .filter(|c| find(&c.name).map_or(Outcome::NotRun, |v| v.outcome) == o)
            .count()
    };
    let suite = xml_escape(&plan.name);
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites>\n  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" errors=\"0\">\n",
        plan.cases.len(),
        count(Outcome::Fail),
        count(Outcome::NotRun)
    ));
    for c in &plan.cases {
        let name = xml_escape(&c.name);
        x.push_str(&format!(
            "    <testcase classname=\"{suite}\" name=\"{name}\">\n"
        ));
        let v = find(&c.name);
        let evidence: String = v
            .map(|v| v.evidence.iter().map(|e| format!("{}\n", e.text)).collect())
            .unwrap_or_default();
        let reason = xml_escape(v.map_or("not graded", |v| v.reason.as_str()));
        match v.map_or(Outcome::NotRun, |v| v.outcome) {
            Outcome::Pass => {
                if !evidence.is_empty() {
                    x.push_str(&format!(
                        "      <system-out>{}</system-out>\n",
                        xml_escape(&evidence)
                    ));
                }
            }
            Outcome::Fail => x.push_str(&format!(
                "      <failure message=\"{reason}\">{}</failure>\n",
                xml_escape(&evidence)
            )),
            Outcome::NotRun => x.push_str(&format!("      <skipped message=\"{reason}\"/>\n")),
        }
        x.push_str("    </testcase>\n");
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

/// Runs the command; `Ok(true)` when every case passed.
pub(crate) fn cmd_certify(a: CertifyArgs) -> Result<bool> {
    let mut plan = load_plan(&a.plan)?;
    if a.show {
        crate::emit(&plan.to_toml());
        return Ok(true);
    }
    if !a.cases.is_empty() {
        for name in &a.cases {
            if !plan.cases.iter().any(|c| &c.name == name) {
                let names: Vec<&str> = plan.cases.iter().map(|c| c.name.as_str()).collect();
                bail!(
                    "the plan has no case {name:?} (cases: {})",
                    names.join("; ")
                );
            }
        }
        plan.cases.retain(|c| a.cases.contains(&c.name));
    }
    if let Some(t) = a.terminal_timeout {
        for c in &mut plan.cases {
            if c.host.delay.is_some() {
                c.host.delay = Some(t.saturating_mul(2));
            }
        }
    }
    let spec = crate::load_spec(a.spec.as_deref().unwrap_or(&plan.spec))?;
    let n = plan.cases.len();
    let json = a.json;
    let rt = runtime()?;
    let verdicts = rt.block_on(async {
        let mut stop = StopSignal::new()?;
        let c = bind(CertifyOptions::demo(spec, plan.clone(), a.listen)).await?;
        eprintln!(
            "cardwire certify: listening on {} (plan {}, {n} cases); Ctrl-C ends it",
            c.addr(),
            plan.name
        );
        let stop = async move {
            let _ = stop.recv().await;
        };
        let verdicts = c
            .run(stop, |e| {
                let line = if json {
                    Some(event_json(e, n).to_string())
                } else {
                    event_text(e, n)
                };
                if let Some(l) = line {
                    crate::emit(&format!("{l}\n"));
                }
            })
            .await?;
        anyhow::Ok(verdicts)
    })?;
    if !json {
        crate::emit(&report(&plan, &verdicts));
    }
    if let Some(path) = &a.junit {
        std::fs::write(path, junit(&plan, &verdicts))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let all_passed = plan.cases.iter().all(|c| {
        verdicts
            .iter()
            .any(|v| v.case == c.name && v.outcome == Outcome::Pass)
    });
    Ok(all_passed)
}
