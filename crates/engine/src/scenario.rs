//! Scenarios: the field cases as files, run on a [`Pair`] with a report.
//!
//! A scenario is a TOML file: the host (cards, terminals, rules; the demo
//! set when omitted), the terminal, a fault plan, the steps (terminal
//! actions, faults, issuer states, clock advances) and what to expect
//! after each step and at the end. The runner checks the invariants
//! ([`crate::invariants`]) after every step and produces a [`Report`]: a
//! timeline per step (what the terminal sent and showed, what the host
//! booked, which SMS went out) and a verdict.
//!
//! ```toml
//! name = "contact-bank"
//! title = "Please contact your bank"
//! spec = "cups"                    # default
//!
//! [[step]]
//! do = "sale"
//! card = "alice"                   # a card of the host configuration
//! amount = "9901.01"               # the built-in rule: code 01
//! expect = { code = "01", display = "请持卡人与发卡银行联系" }
//!
//! [expect]
//! balances = { alice = "5000.00" }
//! notifications = 0
//! ```
//!
//! Step actions (`do`): `sign-on`, `echo`, `balance`, `sale`, `void`,
//! `refund`, `pre-auth`, `pre-auth-void`, `completion`, `completion-void`,
//! `settle`, `reverse` (terminal actions); `wait` (`for = "90s"`),
//! `next-day`; `issuer` (`state = "down"`); `rule` (`rule = {...}`, a
//! response rule), `clear-rules`; `link-down`, `link-up`, `clear-faults`.
//! Any step may add `faults = [...]` (fault rules) or the shortcut
//! `fault = "drop-response"` (once, on this step's transaction).
//! `voucher = "@2"` and `rrn = "@2"` refer to the outcome of step 2;
//! `pin = "000000"` types a wrong PIN, `pin = "none"` types none.

use core::fmt::Write as _;
use core::time::Duration;
use std::collections::BTreeMap;
use std::sync::Arc;

use cardwire_codec::{TxnKind, specs};
use serde::{Deserialize, Serialize};

use crate::config::{HostConfig, IssuerState, Money, duration};
use crate::fault::{Fault, FaultPlan, FaultRule};
use crate::host::HostEvent;
use crate::invariants::{self, InvariantReport};
use crate::pair::{Pair, PairError, PairEvent};
use crate::rules::ResponseRule;
use crate::terminal::{Action, EntryMode, Outcome, TerminalConfig, TerminalEvent};

/// The built-in scenarios: (name, TOML text), one per field case.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "contact-bank",
        include_str!("../scenarios/contact-bank.toml"),
    ),
    ("pin-error", include_str!("../scenarios/pin-error.toml")),
    ("void", include_str!("../scenarios/void.toml")),
    (
        "lost-response-reversed",
        include_str!("../scenarios/lost-response-reversed.toml"),
    ),
    (
        "double-debit",
        include_str!("../scenarios/double-debit.toml"),
    ),
    (
        "frequent-sms",
        include_str!("../scenarios/frequent-sms.toml"),
    ),
    (
        "late-response",
        include_str!("../scenarios/late-response.toml"),
    ),
    ("bad-mac", include_str!("../scenarios/bad-mac.toml")),
    (
        "duplicate-request",
        include_str!("../scenarios/duplicate-request.toml"),
    ),
    (
        "next-day-void",
        include_str!("../scenarios/next-day-void.toml"),
    ),
    ("issuer-down", include_str!("../scenarios/issuer-down.toml")),
    ("settlement", include_str!("../scenarios/settlement.toml")),
    (
        "reversal-given-up",
        include_str!("../scenarios/reversal-given-up.toml"),
    ),
    ("link-down", include_str!("../scenarios/link-down.toml")),
];

/// The TOML text of a built-in scenario.
pub fn builtin(name: &str) -> Option<&'static str> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Errors loading or running a scenario.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file does not parse.
    #[error("scenario file: {0}")]
    Parse(String),
    /// A step cannot be carried out as written.
    #[error("step {step}: {reason}")]
    Step {
        /// 1-based step number.
        step: usize,
        /// Why.
        reason: String,
    },
    /// Setting up the pair failed.
    #[error(transparent)]
    Pair(#[from] PairError),
}

/// A scenario file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name.
    pub name: String,
    /// One line for people.
    #[serde(default)]
    pub title: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// Built-in spec name (`cups`, `iso87ascii`, `iso87binary`).
    #[serde(default = "default_spec")]
    pub spec: String,
    /// Seed for the host and the fault plan.
    #[serde(default)]
    pub seed: u64,
    /// Host configuration; cards and terminals default to the demo set.
    #[serde(default)]
    pub host: HostConfig,
    /// Terminal configuration.
    #[serde(default)]
    pub terminal: TerminalConfig,
    /// Faults from the start.
    #[serde(default)]
    pub faults: FaultPlan,
    /// The steps.
    #[serde(default, rename = "step")]
    pub steps: Vec<Step>,
    /// What must hold at the end.
    #[serde(default)]
    pub expect: FinalExpect,
}

fn default_spec() -> String {
    "cups".into()
}

/// A number or a reference to an earlier step's outcome (`"@2"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Ref {
    /// A literal.
    Number(u32),
    /// `@N` or a literal string.
    Text(String),
}

/// One step.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// What to do (see the module docs).
    #[serde(rename = "do")]
    pub action: String,
    /// A note printed in the report.
    #[serde(default)]
    pub note: Option<String>,
    /// Card id.
    #[serde(default)]
    pub card: Option<String>,
    /// Amount.
    #[serde(default)]
    pub amount: Option<Money>,
    /// PIN typed (`none` for none); default the card's PIN.
    #[serde(default)]
    pub pin: Option<String>,
    /// How the card is read.
    #[serde(default)]
    pub entry: Option<EntryMode>,
    /// Voucher number (voids, completions).
    #[serde(default)]
    pub voucher: Option<Ref>,
    /// Original RRN (refunds).
    #[serde(default)]
    pub rrn: Option<Ref>,
    /// Supervisor password typed; default the right one.
    #[serde(default)]
    pub password: Option<String>,
    /// Fault rules added before this step.
    #[serde(default)]
    pub faults: Vec<FaultRule>,
    /// Shortcut: this fault once, on this step's transaction.
    #[serde(default)]
    pub fault: Option<Fault>,
    /// Delay for the `fault` shortcut (`delay-response`, `reorder`).
    #[serde(default, with = "duration::option")]
    pub delay: Option<Duration>,
    /// Issuer state (`do = "issuer"`).
    #[serde(default)]
    pub state: Option<IssuerState>,
    /// Response rule (`do = "rule"`).
    #[serde(default)]
    pub rule: Option<ResponseRule>,
    /// How long (`do = "wait"`).
    #[serde(default, rename = "for", with = "duration::option")]
    pub wait: Option<Duration>,
    /// Checks after the step.
    #[serde(default)]
    pub expect: Option<StepExpect>,
}

/// Checks after one step.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepExpect {
    /// Response code shown (`none`: no reply).
    #[serde(default)]
    pub code: Option<String>,
    /// Display text (exact).
    #[serde(default)]
    pub display: Option<String>,
    /// Approved.
    #[serde(default)]
    pub approved: Option<bool>,
    /// No reply in time.
    #[serde(default)]
    pub timed_out: Option<bool>,
    /// Refused by the terminal itself.
    #[serde(default)]
    pub local_error: Option<bool>,
    /// SMS sent during the step.
    #[serde(default)]
    pub notifications: Option<usize>,
    /// Reversals (0400) the terminal sent during the step.
    #[serde(default)]
    pub reversals_sent: Option<usize>,
    /// Whether the terminal owes a reversal after the step.
    #[serde(default)]
    pub reversal_pending: Option<bool>,
    /// Card balances after the step.
    #[serde(default)]
    pub balances: BTreeMap<String, Money>,
}

/// Checks at the end.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinalExpect {
    /// Card balances.
    #[serde(default)]
    pub balances: BTreeMap<String, Money>,
    /// SMS in all.
    #[serde(default)]
    pub notifications: Option<usize>,
    /// SMS per card.
    #[serde(default)]
    pub notifications_per_card: BTreeMap<String, usize>,
    /// Reversals sent in all.
    #[serde(default)]
    pub reversals_sent: Option<usize>,
    /// Double debits found at the end.
    #[serde(default)]
    pub double_debits: Option<usize>,
    /// Money conserved and nothing posted twice, after every step.
    #[serde(default = "yes")]
    pub invariants: bool,
}

impl Default for FinalExpect {
    fn default() -> Self {
        FinalExpect {
            balances: BTreeMap::new(),
            notifications: None,
            notifications_per_card: BTreeMap::new(),
            reversals_sent: None,
            double_debits: None,
            invariants: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// One check and its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked.
    pub what: String,
    /// Expected.
    pub expected: String,
    /// Found.
    pub got: String,
    /// Whether it held.
    pub ok: bool,
}

/// One step in the report.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// 1-based.
    pub index: usize,
    /// What the step did.
    pub summary: String,
    /// Simulated time at the start.
    pub at: crate::Timestamp,
    /// The note from the file.
    pub note: Option<String>,
    /// What the terminal sent, received and showed.
    pub terminal: Vec<String>,
    /// What the host received and booked.
    pub host: Vec<String>,
    /// SMS sent.
    pub sms: Vec<String>,
    /// Faults that struck.
    pub faults: Vec<String>,
    /// The terminal's outcome.
    pub outcome: Option<Outcome>,
    /// Checks.
    pub checks: Vec<Check>,
}

/// The result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Scenario name.
    pub name: String,
    /// Title.
    pub title: String,
    /// Whether every check held.
    pub passed: bool,
    /// Steps.
    pub steps: Vec<StepReport>,
    /// End checks.
    pub checks: Vec<Check>,
    /// Invariants at the end.
    pub invariants: InvariantReport,
    /// Card balances at the end (major units).
    pub balances: BTreeMap<String, Money>,
}

impl Scenario {
    /// Parses a TOML scenario.
    ///
    /// # Errors
    ///
    /// [`ScenarioError::Parse`] with the TOML error (line, column, key).
    pub fn from_toml(text: &str) -> Result<Self, ScenarioError> {
        toml::from_str(text).map_err(|e| ScenarioError::Parse(e.to_string()))
    }

    /// Runs the scenario.
    ///
    /// # Errors
    ///
    /// Setup errors and steps that cannot be carried out (unknown card,
    /// bad reference); failed expectations are not errors but a failing
    /// [`Report`].
    pub fn run(&self) -> Result<Report, ScenarioError> {
        let spec = specs::builtin(&self.spec)
            .map(Arc::clone)
            .ok_or_else(|| ScenarioError::Parse(format!("unknown spec {:?}", self.spec)))?;
        let mut host = self.host.clone();
        let demo = HostConfig::demo();
        if host.cards.is_empty() {
            host.cards = demo.cards;
        }
        if host.terminals.is_empty() {
            host.terminals = demo.terminals;
        }
        host.seed = self.seed;
        let mut faults = self.faults.clone();
        if faults.seed == 0 {
            faults.seed = self.seed;
        }
        let mut pair = Pair::new(spec, host, self.terminal.clone(), faults)?;
        let mut steps = Vec::new();
        let mut outcomes: Vec<Option<Outcome>> = Vec::new();
        let mut passed = true;
        for (i, step) in self.steps.iter().enumerate() {
            let r = self.run_step(&mut pair, i + 1, step, &outcomes)?;
            passed &= r.checks.iter().all(|c| c.ok);
            outcomes.push(r.outcome.clone());
            steps.push(r);
        }
        let inv = invariants::check(&pair.host, &[&pair.terminal]);
        let mut checks = Vec::new();
        let x = &self.expect;
        let balances = card_balances(&pair);
        for (card, want) in &x.balances {
            let got = balances.get(card).copied();
            checks.push(check(
                &format!("balance of {card}"),
                want.to_string(),
                got.map_or("no such card".into(), |m| m.to_string()),
            ));
        }
        let sms: Vec<_> = pair
            .log
            .iter()
            .filter_map(|e| match e {
                PairEvent::Host(HostEvent::Notification(n)) => Some(n),
                _ => None,
            })
            .collect();
        if let Some(n) = x.notifications {
            checks.push(check("SMS sent", n.to_string(), sms.len().to_string()));
        }
        for (card, n) in &x.notifications_per_card {
            let got = sms.iter().filter(|s| &s.card == card).count();
            checks.push(check(
                &format!("SMS to {card}"),
                n.to_string(),
                got.to_string(),
            ));
        }
        if let Some(n) = x.reversals_sent {
            checks.push(check(
                "reversals sent",
                n.to_string(),
                count_reversals(&pair.log).to_string(),
            ));
        }
        if let Some(n) = x.double_debits {
            checks.push(check(
                "double debits",
                n.to_string(),
                inv.double_debits().count().to_string(),
            ));
        }
        if x.invariants {
            checks.push(check(
                "money conserved",
                inv.opening_total.to_string(),
                inv.total.to_string(),
            ));
            checks.push(check(
                "postings applied twice",
                "none".into(),
                if inv.double_postings.is_empty() {
                    "none".into()
                } else {
                    inv.double_postings.join("; ")
                },
            ));
        }
        passed &= checks.iter().all(|c| c.ok);
        Ok(Report {
            name: self.name.clone(),
            title: self.title.clone(),
            passed,
            steps,
            checks,
            invariants: inv,
            balances,
        })
    }

    fn resolve(
        &self,
        step: usize,
        r: &Ref,
        outcomes: &[Option<Outcome>],
        rrn: bool,
    ) -> Result<String, ScenarioError> {
        let err = |reason: String| ScenarioError::Step { step, reason };
        match r {
            Ref::Number(n) => Ok(n.to_string()),
            Ref::Text(t) => match t.strip_prefix('@') {
                None => Ok(t.clone()),
                Some(n) => {
                    let n: usize = n.parse().map_err(|_| err(format!("bad reference {t:?}")))?;
                    let o = outcomes
                        .get(n.wrapping_sub(1))
                        .and_then(Option::as_ref)
                        .ok_or_else(|| err(format!("step {n} has no outcome to refer to")))?;
                    if rrn {
                        o.rrn
                            .clone()
                            .ok_or_else(|| err(format!("step {n} got no RRN")))
                    } else {
                        o.stan
                            .map(|s| s.to_string())
                            .ok_or_else(|| err(format!("step {n} has no voucher number")))
                    }
                }
            },
        }
    }

    fn action(
        &self,
        pair: &Pair,
        index: usize,
        step: &Step,
        outcomes: &[Option<Outcome>],
    ) -> Result<Option<Action>, ScenarioError> {
        let err = |reason: String| ScenarioError::Step {
            step: index,
            reason,
        };
        let card = || -> Result<_, ScenarioError> {
            let id = step
                .card
                .as_deref()
                .ok_or_else(|| err(format!("{:?} needs a card", step.action)))?;
            let mut c = pair.card(id).map_err(|e| err(e.to_string()))?;
            match step.pin.as_deref() {
                Some("none") => c.pin = None,
                Some(p) => c.pin = Some(p.to_owned()),
                None => {}
            }
            if let Some(e) = step.entry {
                c.entry = e;
            }
            Ok(c)
        };
        let amount = || {
            step.amount
                .ok_or_else(|| err(format!("{:?} needs an amount", step.action)))
        };
        let password = || {
            step.password
                .clone()
                .unwrap_or_else(|| self.terminal.supervisor_password.clone())
        };
        let voucher = || -> Result<u32, ScenarioError> {
            let r = step
                .voucher
                .as_ref()
                .ok_or_else(|| err("needs a voucher".into()))?;
            self.resolve(index, r, outcomes, false)?
                .parse()
                .map_err(|_| err("voucher is not a number".into()))
        };
        Ok(Some(match step.action.as_str() {
            "sign-on" => Action::SignOn,
            "echo" => Action::Echo,
            "settle" => Action::Settle,
            "reverse" => Action::Reverse,
            "balance" => Action::Balance { card: card()? },
            "sale" => Action::Sale {
                card: card()?,
                amount: amount()?,
            },
            "pre-auth" => Action::PreAuth {
                card: card()?,
                amount: amount()?,
            },
            "void" => Action::Void {
                card: card()?,
                voucher: voucher()?,
                password: password(),
            },
            "pre-auth-void" => Action::PreAuthVoid {
                card: card()?,
                voucher: voucher()?,
                password: password(),
            },
            "completion-void" => Action::CompletionVoid {
                card: card()?,
                voucher: voucher()?,
                password: password(),
            },
            "completion" => Action::Completion {
                card: card()?,
                voucher: voucher()?,
                amount: amount()?,
            },
            "refund" => {
                let r = step
                    .rrn
                    .as_ref()
                    .ok_or_else(|| err("refund needs an rrn".into()))?;
                Action::Refund {
                    card: card()?,
                    amount: amount()?,
                    rrn: self.resolve(index, r, outcomes, true)?,
                    date: None,
                    password: password(),
                }
            }
            _ => return Ok(None),
        }))
    }

    fn run_step(
        &self,
        pair: &mut Pair,
        index: usize,
        step: &Step,
        outcomes: &[Option<Outcome>],
    ) -> Result<StepReport, ScenarioError> {
        let err = |reason: String| ScenarioError::Step {
            step: index,
            reason,
        };
        let at = pair.now;
        let from = pair.log.len();
        let action = self.action(pair, index, step, outcomes)?;
        let mut rules = step.faults.clone();
        if let Some(f) = step.fault {
            let mut r = FaultRule::always(f).times(1);
            r.delay = step.delay;
            if let Some(a) = &action {
                r.kind = Some(a.kind().as_str().into());
            }
            rules.push(r);
        }
        pair.add_faults(rules);
        let mut summary = step.action.clone();
        if let Some(c) = &step.card {
            let _ = write!(summary, " {c}");
        }
        if let Some(a) = step.amount {
            let _ = write!(summary, " {a}");
        }
        if let Some(p) = &step.pin {
            let _ = write!(
                summary,
                " (PIN {})",
                if p == "none" { "none" } else { "typed wrong" }
            );
        }
        if let Some(f) = step.fault {
            let _ = write!(summary, " [fault: {}]", f.as_str());
        }
        let mut outcome = None;
        match (&action, step.action.as_str()) {
            (Some(a), _) => {
                outcome = Some(pair.run(a.clone())?);
            }
            (None, "wait") => {
                let d = step.wait.ok_or_else(|| err("wait needs `for`".into()))?;
                let _ = write!(summary, " {}", humantime::format_duration(d));
                pair.advance(d);
            }
            (None, "next-day") => {
                let day_ms = 86_400_000;
                let next = (pair.now.as_millis() / day_ms + 1) * day_ms + 9 * 3_600_000;
                pair.advance(Duration::from_millis(next - pair.now.as_millis()));
            }
            (None, "issuer") => {
                let s = step
                    .state
                    .ok_or_else(|| err("issuer needs `state`".into()))?;
                let _ = write!(summary, " {s:?}");
                pair.host.set_issuer_state(s);
            }
            (None, "rule") => {
                let r = step
                    .rule
                    .clone()
                    .ok_or_else(|| err("rule needs `rule`".into()))?;
                pair.host.add_rule(r);
            }
            (None, "clear-rules") => pair.host.set_rules(Vec::new()),
            (None, "clear-faults") => pair.link.clear_rules(),
            (None, "link-down") => pair.set_link(false),
            (None, "link-up") => pair.set_link(true),
            (None, other) => return Err(err(format!("unknown action {other:?}"))),
        }
        let mut r = StepReport {
            index,
            summary,
            at,
            note: step.note.clone(),
            terminal: Vec::new(),
            host: Vec::new(),
            sms: Vec::new(),
            faults: Vec::new(),
            outcome: outcome.clone(),
            checks: Vec::new(),
        };
        describe(&pair.log[from..], &mut r);
        let inv = invariants::check(&pair.host, &[&pair.terminal]);
        if self.expect.invariants && !inv.holds() {
            r.checks.push(check(
                "invariants after step",
                "hold".into(),
                format!(
                    "total {} vs opening {}; {}",
                    inv.total,
                    inv.opening_total,
                    inv.double_postings.join("; ")
                ),
            ));
        }
        if let Some(x) = &step.expect {
            let o = outcome.as_ref();
            if let Some(c) = &x.code {
                let got = o
                    .and_then(|o| o.code.clone())
                    .unwrap_or_else(|| "none".into());
                r.checks.push(check("response code", c.clone(), got));
            }
            if let Some(d) = &x.display {
                let got = o.map(|o| o.display.clone()).unwrap_or_default();
                r.checks.push(check("display", d.clone(), got));
            }
            if let Some(b) = x.approved {
                let got = o.is_some_and(|o| o.approved);
                r.checks
                    .push(check("approved", b.to_string(), got.to_string()));
            }
            if let Some(b) = x.timed_out {
                let got = o.is_some_and(|o| o.timed_out);
                r.checks
                    .push(check("timed out", b.to_string(), got.to_string()));
            }
            if let Some(b) = x.local_error {
                let got = o.is_some_and(|o| o.local_error.is_some());
                r.checks.push(check(
                    "refused by the terminal",
                    b.to_string(),
                    got.to_string(),
                ));
            }
            if let Some(n) = x.notifications {
                r.checks.push(check(
                    "SMS in this step",
                    n.to_string(),
                    r.sms.len().to_string(),
                ));
            }
            if let Some(n) = x.reversals_sent {
                r.checks.push(check(
                    "reversals sent in this step",
                    n.to_string(),
                    count_reversals(&pair.log[from..]).to_string(),
                ));
            }
            if let Some(b) = x.reversal_pending {
                let got = pair.terminal.pending_reversal().is_some();
                r.checks
                    .push(check("reversal pending", b.to_string(), got.to_string()));
            }
            let balances = card_balances(pair);
            for (card, want) in &x.balances {
                let got = balances.get(card).copied();
                r.checks.push(check(
                    &format!("balance of {card}"),
                    want.to_string(),
                    got.map_or("no such card".into(), |m| m.to_string()),
                ));
            }
        }
        Ok(r)
    }
}

fn check(what: &str, expected: String, got: String) -> Check {
    Check {
        what: what.into(),
        ok: expected == got,
        expected,
        got,
    }
}

fn card_balances(pair: &Pair) -> BTreeMap<String, Money> {
    pair.host
        .accounts()
        .iter()
        .filter(|(a, _)| !a.starts_with("merchant:"))
        .map(|(a, b)| (a.clone(), Money(*b)))
        .collect()
}

fn count_reversals(log: &[PairEvent]) -> usize {
    log.iter()
        .filter(|e| {
            matches!(e, PairEvent::Terminal(TerminalEvent::Sent { kind, .. }) if kind == TxnKind::Reversal.as_str())
        })
        .count()
}

fn describe(log: &[PairEvent], r: &mut StepReport) {
    for e in log {
        match e {
            PairEvent::Terminal(t) => match t {
                TerminalEvent::Sent {
                    kind, mti, stan, ..
                } => {
                    r.terminal.push(format!("sent {mti} {kind} STAN {stan:06}"));
                }
                TerminalEvent::Received {
                    kind, stan, code, ..
                } => {
                    r.terminal
                        .push(format!("got reply to {kind} STAN {stan:06}: {code}"));
                }
                TerminalEvent::UnexpectedReply {
                    stan, code, reason, ..
                } => r.terminal.push(format!(
                    "ignored reply STAN {} code {}: {reason}",
                    stan.map_or("?".into(), |s| format!("{s:06}")),
                    code.as_deref().unwrap_or("?")
                )),
                TerminalEvent::Display { text, .. } => r.terminal.push(format!("shows \"{text}\"")),
                TerminalEvent::ReversalStored { stan, reason, .. } => {
                    r.terminal.push(format!(
                        "stored reversal for STAN {stan:06} (reason {reason})"
                    ));
                }
                TerminalEvent::ReversalReason { stan, reason, .. } => {
                    r.terminal.push(format!(
                        "reversal for STAN {stan:06} now has reason {reason}"
                    ));
                }
                TerminalEvent::ReversalCleared { stan, by, .. } => {
                    r.terminal
                        .push(format!("cleared reversal for STAN {stan:06} ({by})"));
                }
                TerminalEvent::ReversalGivenUp { stan, dropped, .. } => r.terminal.push(format!(
                    "gave up reversing STAN {stan:06}{}",
                    if *dropped {
                        ": record dropped"
                    } else {
                        ": record kept"
                    }
                )),
                TerminalEvent::Completed(_) => {}
            },
            PairEvent::Host(h) => match h {
                HostEvent::Journal(e) => r.host.push(format!(
                    "booked {} STAN {:06} {}{}: {}{}{}",
                    e.kind,
                    e.stan,
                    Money(i64::try_from(e.amount).unwrap_or(i64::MAX)),
                    e.card
                        .as_ref()
                        .map_or(String::new(), |c| format!(" card {c}")),
                    e.code,
                    if e.postings.is_empty() {
                        ""
                    } else {
                        ", money moved"
                    },
                    e.original
                        .map_or(String::new(), |o| format!(" (original entry {o})")),
                )),
                HostEvent::Replied {
                    kind,
                    stan,
                    code,
                    meaning,
                    delayed_until,
                    ..
                } => {
                    r.host.push(format!(
                        "replied {code} ({meaning}) to {kind} STAN {stan:06}{}",
                        delayed_until.map_or(String::new(), |t| format!(", held until {t}"))
                    ));
                }
                HostEvent::Dropped { stan, .. } => {
                    r.host.push(format!("dropped STAN {stan:06} (rule)"))
                }
                HostEvent::Rejected { reason, .. } => {
                    r.host.push(format!("rejected a frame: {reason}"))
                }
                HostEvent::Notification(n) => r.sms.push(n.text.clone()),
                HostEvent::Settled {
                    batch, balanced, ..
                } => r.host.push(format!(
                    "settled batch {batch:06}: {}",
                    if *balanced { "balanced" } else { "unbalanced" }
                )),
                _ => {}
            },
            PairEvent::Fault(f) => r.faults.push(format!(
                "{} on {} STAN {}",
                f.fault.as_str(),
                f.kind,
                f.stan.map_or("?".into(), |s| format!("{s:06}"))
            )),
            PairEvent::Disconnected { at } => r.faults.push(format!("link down at {at}")),
        }
    }
}

impl Report {
    /// The report as text for people.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "scenario {}: {}", self.name, self.title);
        for st in &self.steps {
            let time = st.at.to_string();
            let _ = writeln!(
                s,
                "\n{:>2}. {}   [{}]",
                st.index,
                st.summary,
                time.get(11..19).unwrap_or(&time)
            );
            if let Some(n) = &st.note {
                let _ = writeln!(s, "    note:     {n}");
            }
            for (label, lines) in [
                ("fault", &st.faults),
                ("terminal", &st.terminal),
                ("host", &st.host),
                ("sms", &st.sms),
            ] {
                for l in lines.iter() {
                    let _ = writeln!(s, "    {label:<9} {l}");
                }
            }
            for c in &st.checks {
                let _ = writeln!(s, "    {}", fmt_check(c));
            }
        }
        let _ = writeln!(s, "\nend:");
        for (card, b) in &self.balances {
            let _ = writeln!(s, "    balance   {card}: {b}");
        }
        for u in &self.invariants.unacknowledged {
            let _ = writeln!(
                s,
                "    {}  {} STAN {:06} {} on card {}: approved by the host, never seen by the terminal",
                if u.reversal_pending {
                    "pending  "
                } else {
                    "DOUBLE DEBIT"
                },
                u.kind,
                u.stan,
                Money(i64::try_from(u.amount).unwrap_or(i64::MAX)),
                u.card.as_deref().unwrap_or("?")
            );
        }
        for c in &self.checks {
            let _ = writeln!(s, "    {}", fmt_check(c));
        }
        let total = self.steps.iter().map(|s| s.checks.len()).sum::<usize>() + self.checks.len();
        let failed = self
            .steps
            .iter()
            .flat_map(|s| &s.checks)
            .chain(&self.checks)
            .filter(|c| !c.ok)
            .count();
        let _ = writeln!(
            s,
            "\nverdict: {} ({} checks, {} failed)",
            if self.passed { "PASS" } else { "FAIL" },
            total,
            failed
        );
        s
    }
}

fn fmt_check(c: &Check) -> String {
    if c.ok {
        format!("ok        {} = {}", c.what, c.got)
    } else {
        format!(
            "FAILED    {}: expected {}, got {}",
            c.what, c.expected, c.got
        )
    }
}
