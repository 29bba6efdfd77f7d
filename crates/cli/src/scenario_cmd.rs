//! `cardwire scenario`: run the field cases (built-in or from a file) on
//! the in-memory simulator and print the report.

use anyhow::{Context, Result, bail};
use cardwire_engine::scenario::{BUILTIN, Scenario};
use clap::Args;

use crate::emit;

#[derive(Args)]
pub(crate) struct ScenarioArgs {
    /// A built-in scenario name or a scenario file (TOML); see `--list`.
    name: Option<String>,
    /// Run every built-in scenario.
    #[arg(long, conflicts_with = "name")]
    all: bool,
    /// List the built-in scenarios.
    #[arg(long, conflicts_with_all = ["name", "all"])]
    list: bool,
    /// Print the scenario file of a built-in (to start your own from).
    #[arg(long, requires = "name")]
    show: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Ok(true) when every scenario passed.
pub(crate) fn cmd_scenario(a: ScenarioArgs) -> Result<bool> {
    if a.list {
        let mut out = String::new();
        for (name, text) in BUILTIN {
            let s = Scenario::from_toml(text)?;
            w!(out, "{name:<24} {}", s.title);
        }
        emit(&out);
        return Ok(true);
    }
    let texts: Vec<(String, String)> = if a.all {
        BUILTIN
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect()
    } else {
        let Some(name) = a.name else {
            bail!("name a scenario (see `cardwire scenario --list`), a file, or use --all");
        };
        let text = match cardwire_engine::scenario::builtin(&name) {
            Some(t) => t.to_owned(),
            None => std::fs::read_to_string(&name).with_context(|| {
                format!("{name:?} is neither a built-in scenario nor a readable file")
            })?,
        };
        if a.show {
            emit(&text);
            return Ok(true);
        }
        vec![(name, text)]
    };
    let mut all_passed = true;
    let mut reports = Vec::new();
    for (name, text) in &texts {
        let s = Scenario::from_toml(text).with_context(|| format!("scenario {name}"))?;
        let r = s.run().with_context(|| format!("scenario {name}"))?;
        all_passed &= r.passed;
        if a.json {
            reports.push(serde_json::to_value(&r)?);
        } else {
            emit(&r.to_text());
            if texts.len() > 1 {
                emit("\n----------------------------------------------------------------\n\n");
            }
        }
    }
    if a.json {
        let v = if reports.len() == 1 {
            reports.remove(0)
        } else {
            serde_json::Value::Array(reports)
        };
        emit(&format!("{}\n", serde_json::to_string_pretty(&v)?));
    } else if texts.len() > 1 {
        emit(&format!(
            "{} scenarios: {}\n",
            texts.len(),
            if all_passed {
                "all passed"
            } else {
                "SOME FAILED"
            }
        ));
    }
    Ok(all_passed)
}
