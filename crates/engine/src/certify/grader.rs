//! The grader: a sans-IO machine fed the traffic of one terminal, which
//! walks the plan, tells the host driver how to treat each request and
//! grades each case.

use core::fmt::Write as _;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use cardwire_codec::{MessageRef, TxnKind, mask};
use serde::Serialize;

use super::plan::{Behaviour, Case, Plan, Prompt};
use crate::clock::Timestamp;
use crate::fault::Fault;
use crate::wire::{Dialect, Request};

/// How a case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Outcome {
    /// The terminal did what the case expects.
    #[serde(rename = "PASS")]
    Pass,
    /// It did not; the reason says what it did instead.
    #[serde(rename = "FAIL")]
    Fail,
    /// The case could not be graded (the operator did not act in time, or
    /// the host's answer was not the one the case needs).
    #[serde(rename = "NOT RUN")]
    NotRun,
}

impl Outcome {
    /// `PASS`, `FAIL` or `NOT RUN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::NotRun => "NOT RUN",
        }
    }
}

/// Which way a piece of evidence went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// From the terminal.
    In,
    /// From the host.
    Out,
    /// The link (a disconnect).
    Link,
}

/// One message (masked) or link event behind a verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// When.
    pub at: Timestamp,
    /// Which way.
    pub direction: Direction,
    /// The MTI and fields, card data masked (`0200 2=622202*********0123 3=000000 ...`).
    pub text: String,
}

/// The grade of one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The case's name.
    pub case: String,
    /// PASS, FAIL or NOT RUN.
    pub outcome: Outcome,
    /// Why, in a terminal engineer's words.
    pub reason: String,
    /// The traffic the grade rests on.
    pub evidence: Vec<Evidence>,
}

/// The operator's next step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromptEvent {
    /// The case's name.
    pub case: String,
    /// Its position in the plan (0-based).
    pub index: usize,
    /// What to do.
    pub prompt: Prompt,
    /// When the prompt was given.
    pub at: Timestamp,
    /// The case is NOT RUN unless its request arrives by then.
    pub deadline: Timestamp,
}

/// What the grader reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CertifyEvent {
    /// Ask the operator to do something.
    Prompt(PromptEvent),
    /// Something the grader saw or decided, for the log.
    Observation {
        /// When.
        at: Timestamp,
        /// The case it concerns, if any.
        case: Option<String>,
        /// What.
        text: String,
    },
    /// A case is graded.
    Verdict(Verdict),
    /// Every case is graded.
    Finished {
        /// Cases passed.
        pass: usize,
        /// Cases failed.
        fail: usize,
        /// Cases not run.
        not_run: usize,
    },
}

/// How the host driver must treat one request: one per
/// [`Grader::handle_request`], in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Directive {
    /// The request's STAN.
    pub stan: u32,
    /// Its transaction ([`TxnKind::as_str`]).
    pub kind: &'static str,
    /// Its transaction.
    #[serde(skip)]
    pub txn: TxnKind,
    /// The case it arms or belongs to, if any.
    pub case: Option<String>,
    /// What the host does. For a reversal of a case with
    /// `no-reply-to-reversal`, `fault = "drop-request"`: the host neither
    /// sees nor answers it.
    pub behaviour: Behaviour,
}

/// The masked one-line form of a message: MTI, then `field=value`, card
/// data masked by the spec's sensitivity ([`mask::masked`]).
pub fn masked_line(m: &MessageRef<'_>) -> String {
    let mut s = m.mti().to_string();
    for f in m.fields() {
        let _ = write!(s, " {}={}", f.no, mask::masked(&f));
    }
    s
}

fn kind_name(kind: TxnKind) -> &'static str {
    kind.as_str()
}

fn stan6(stan: u32) -> String {
    format!("{stan:06}")
}

fn money(minor: u64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

fn reason_meaning(code: &str) -> &'static str {
    match code {
        "98" => "no reply",
        "A0" => "bad reply MAC",
        "06" => "other",
        "01" => "contact bank",
        "55" => "wrong PIN",
        "00" => "approved",
        _ => "another reason",
    }
}

/// A request that ends a case's watch: any but a reversal or network
/// management.
fn is_transaction(kind: TxnKind) -> bool {
    !matches!(
        kind,
        TxnKind::Reversal
            | TxnKind::SignOn
            | TxnKind::SignOff
            | TxnKind::Echo
            | TxnKind::NetworkManagement
            | TxnKind::KeyExchange
    )
}

struct Waiting {
    index: usize,
    deadline: Timestamp,
    seen: u32,
}

/// An armed case, watching the traffic.
struct Open {
    index: usize,
    dialect: Dialect,
    armed_at: Timestamp,
    deadline: Timestamp,
    request: Request,
    evidence: Vec<Evidence>,
    reply: Option<String>,
    reply_keys: bool,
    reversals: Vec<(Timestamp, Request)>,
    reversal_answered: Option<String>,
    stray_reversals: Vec<u32>,
    sign_on: bool,
    failures: Vec<String>,
    /// The next transaction, which ended the watch.
    next: Option<String>,
    /// A key check waits for the host's answer to this STAN.
    key_wait: Option<u32>,
    key_answer: Option<String>,
}

impl Open {
    fn what(&self) -> String {
        format!(
            "the {} STAN {}",
            self.request.kind.map_or("request", kind_name),
            stan6(self.request.stan)
        )
    }
}

#[derive(Clone, Default)]
struct Sale {
    amount: u64,
    rrn: Option<String>,
    batch: Option<u32>,
}

/// The grader. See the [module docs](super).
pub struct Grader {
    plan: Plan,
    next: usize,
    waiting: Option<Waiting>,
    open: Vec<Open>,
    events: VecDeque<CertifyEvent>,
    directives: VecDeque<Directive>,
    /// The last request of each STAN (reversals aside), to read replies.
    requests: BTreeMap<u32, Request>,
    /// Sales the host approved, by STAN, in order of approval.
    sales: BTreeMap<u32, Sale>,
    last_sale: Option<u32>,
    answered: BTreeSet<u32>,
    /// STANs the terminal reversed, and sales voided with an approval.
    reversed: BTreeSet<u32>,
    voided: BTreeSet<u32>,
    tally: (usize, usize, usize),
    finished: bool,
}

impl Grader {
    /// A grader for `plan`, started at `now`: the first prompt is ready.
    pub fn new(plan: Plan, now: Timestamp) -> Self {
        let mut g = Grader {
            plan,
            next: 0,
            waiting: None,
            open: Vec::new(),
            events: VecDeque::new(),
            directives: VecDeque::new(),
            requests: BTreeMap::new(),
            sales: BTreeMap::new(),
            last_sale: None,
            answered: BTreeSet::new(),
            reversed: BTreeSet::new(),
            voided: BTreeSet::new(),
            tally: (0, 0, 0),
            finished: false,
        };
        g.prompt_next(now);
        g
    }

    /// The plan being walked.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Whether every case is graded.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The next report.
    pub fn poll_event(&mut self) -> Option<CertifyEvent> {
        self.events.pop_front()
    }

    /// How to treat the request last handed in (one per request).
    pub fn poll_behaviour(&mut self) -> Option<Directive> {
        self.directives.pop_front()
    }

    /// When [`Grader::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.waiting
            .iter()
            .map(|w| w.deadline)
            .chain(self.open.iter().map(|o| o.deadline))
            .min()
    }

    fn case(&self, index: usize) -> &Case {
        &self.plan.cases[index]
    }

    fn observe(&mut self, at: Timestamp, case: Option<String>, text: String) {
        self.events
            .push_back(CertifyEvent::Observation { at, case, text });
    }

    fn prompt_next(&mut self, now: Timestamp) {
        if self.waiting.is_some() {
            return;
        }
        if let Some(case) = self.plan.cases.get(self.next) {
            let deadline = now.plus(case.limit);
            self.events.push_back(CertifyEvent::Prompt(PromptEvent {
                case: case.name.clone(),
                index: self.next,
                prompt: case.prompt.clone(),
                at: now,
                deadline,
            }));
            self.waiting = Some(Waiting {
                index: self.next,
                deadline,
                seen: 0,
            });
            self.next += 1;
        }
        self.check_finished();
    }

    fn check_finished(&mut self) {
        if !self.finished
            && self.waiting.is_none()
            && self.open.is_empty()
            && self.next >= self.plan.cases.len()
        {
            self.finished = true;
            let (pass, fail, not_run) = self.tally;
            self.events.push_back(CertifyEvent::Finished {
                pass,
                fail,
                not_run,
            });
        }
    }

    fn verdict(&mut self, case: String, outcome: Outcome, reason: String, evidence: Vec<Evidence>) {
        match outcome {
            Outcome::Pass => self.tally.0 += 1,
            Outcome::Fail => self.tally.1 += 1,
            Outcome::NotRun => self.tally.2 += 1,
        }
        self.events.push_back(CertifyEvent::Verdict(Verdict {
            case,
            outcome,
            reason,
            evidence,
        }));
    }

    /// A request from the terminal, decoded by the driver. Queues one
    /// [`Directive`] ([`Grader::poll_behaviour`]).
    pub fn handle_request(&mut self, now: Timestamp, m: &MessageRef<'_>) {
        let line = Evidence {
            at: now,
            direction: Direction::In,
            text: masked_line(m),
        };
        let Ok(dialect) = Dialect::for_spec(m.spec()) else {
            self.observe(
                now,
                None,
                format!("request in an unsupported dialect: {}", line.text),
            );
            self.directives.push_back(Directive {
                stan: 0,
                kind: TxnKind::Unknown.as_str(),
                txn: TxnKind::Unknown,
                case: None,
                behaviour: Behaviour::default(),
            });
            return;
        };
        let req = Request::parse(dialect, m);
        let kind = req.kind.unwrap_or(TxnKind::Unknown);
        let mut directive = Directive {
            stan: req.stan,
            kind: kind_name(kind),
            txn: kind,
            case: None,
            behaviour: Behaviour::default(),
        };
        if kind == TxnKind::Reversal {
            // Before or after the host's (late) approval reaches the wire.
            self.reversed.insert(req.stan);
        } else {
            self.requests.insert(req.stan, req.clone());
        }

        // The armed cases watch it first.
        let armed: Vec<u32> = self.open.iter().map(|o| o.request.stan).collect();
        let mut closing = Vec::new();
        for (i, o) in self.open.iter_mut().enumerate() {
            let case = &self.plan.cases[o.index];
            o.evidence.push(line.clone());
            if o.next.is_some() {
                continue; // waiting for the key check's answer
            }
            match kind {
                TxnKind::Reversal if req.stan == o.request.stan => {
                    if let Some(code) = &o.reversal_answered {
                        o.failures.push(format!(
                            "a second 0400 for STAN {} after the host answered the first with {code}: \
                             the reversal was already done",
                            stan6(req.stan)
                        ));
                    }
                    if case.host.no_reply_to_reversal {
                        directive.case = Some(case.name.clone());
                        directive.behaviour = Behaviour {
                            fault: Some(Fault::DropRequest),
                            ..Behaviour::default()
                        };
                    }
                    o.reversals.push((now, req.clone()));
                }
                TxnKind::Reversal if !armed.contains(&req.stan) => {
                    o.stray_reversals.push(req.stan);
                }
                TxnKind::SignOn => o.sign_on = true,
                k if is_transaction(k) => {
                    if req.stan == o.request.stan && case.expect.duplicate_ignored {
                        o.failures.push(format!(
                            "the terminal sent STAN {} again ({}) after the duplicated reply",
                            stan6(req.stan),
                            kind_name(k)
                        ));
                    }
                    o.next = Some(if req.stan == o.request.stan {
                        format!(
                            "the same STAN {} sent again as a {}",
                            stan6(req.stan),
                            kind_name(k)
                        )
                    } else {
                        format!("the next {} STAN {}", kind_name(k), stan6(req.stan))
                    });
                    if case.expect.key_check && o.key_wait.is_none() {
                        if !req.has_mac {
                            o.failures.push(format!(
                                "the {} STAN {} after sign-on carries no MAC (64/128)",
                                kind_name(k),
                                stan6(req.stan)
                            ));
                            closing.push(i);
                        } else {
                            o.key_wait = Some(req.stan);
                        }
                    } else {
                        closing.push(i);
                    }
                }
                _ => {}
            }
        }
        for i in closing.into_iter().rev() {
            let o = self.open.remove(i);
            self.close(o);
        }

        // Then the case waiting for its request.
        if let Some(w) = &mut self.waiting {
            let case = &self.plan.cases[w.index];
            if kind == case.arm.txn() {
                w.seen += 1;
                if w.seen >= case.arm.nth.unwrap_or(1) {
                    let index = w.index;
                    self.waiting = None;
                    directive.case = Some(case.name.clone());
                    directive.behaviour = case.host.clone();
                    self.arm(now, index, dialect, req, line);
                    self.prompt_next(now);
                }
            }
        }
        self.directives.push_back(directive);
        self.check_finished();
    }

    fn arm(
        &mut self,
        now: Timestamp,
        index: usize,
        dialect: Dialect,
        req: Request,
        line: Evidence,
    ) {
        let case = self.case(index).clone();
        let mut o = Open {
            index,
            dialect,
            armed_at: now,
            deadline: now.plus(case.watch),
            request: req,
            evidence: vec![line],
            reply: None,
            reply_keys: false,
            reversals: Vec::new(),
            reversal_answered: None,
            stray_reversals: Vec::new(),
            sign_on: false,
            failures: Vec::new(),
            next: None,
            key_wait: None,
            key_answer: None,
        };
        let behaviour = if case.host.is_normal() {
            "answered as the host decides".to_owned()
        } else {
            toml::to_string(&case.host)
                .unwrap_or_default()
                .trim()
                .replace('\n', ", ")
        };
        self.observe(
            now,
            Some(case.name.clone()),
            format!("armed by {}; host: {behaviour}", o.what()),
        );
        if case.expect.void {
            self.check_void(&mut o);
        }
        if case.expect.balanced {
            self.check_totals(&mut o);
        }
        self.open.push(o);
    }

    fn check_void(&self, o: &mut Open) {
        let r = &o.request;
        let f = &mut o.failures;
        if r.mti.map(|m| m.as_str().to_owned()).as_deref() != Some("0200") {
            f.push(format!(
                "the void is a {}, not a 0200",
                r.mti.map(|m| m.as_str().to_owned()).unwrap_or_default()
            ));
        }
        let unionpay = o.dialect == Dialect::UnionPay;
        let (want_pc, orig_field) = if unionpay {
            ("200000", "61")
        } else {
            ("020000", "90")
        };
        if r.processing_code.as_deref() != Some(want_pc) {
            f.push(format!(
                "the void's processing code (3) is {}, not {want_pc}",
                r.processing_code.as_deref().unwrap_or("absent")
            ));
        }
        if unionpay && r.txn_type.as_deref() != Some("23") {
            f.push(format!(
                "the void's 60.1 is {}, not 23",
                r.txn_type.as_deref().unwrap_or("absent")
            ));
        }
        let Some(last) = self.last_sale else {
            f.push("no approved sale preceded the void, so it cannot be checked".into());
            return;
        };
        let sale = self.sales.get(&last).cloned().unwrap_or_default();
        match r.original.as_ref().and_then(|o| o.stan) {
            Some(s) if s == last => {}
            Some(s) => f.push(format!(
                "the void's {orig_field} names STAN {}, but the last sale was STAN {}",
                stan6(s),
                stan6(last)
            )),
            None => f.push(format!(
                "the void carries no original data in {orig_field} (the sale's STAN {})",
                stan6(last)
            )),
        }
        if sale.rrn.is_some() && r.rrn != sale.rrn {
            f.push(format!(
                "the void's 37 is {}, not the sale's RRN {}",
                r.rrn.as_deref().unwrap_or("absent"),
                sale.rrn.as_deref().unwrap_or("")
            ));
        }
        if r.amount != Some(sale.amount) {
            f.push(format!(
                "the void's amount is {}, the sale's {}",
                r.amount.map_or_else(|| "absent".into(), money),
                money(sale.amount)
            ));
        }
        if unionpay {
            if let (Some(b), Some(ob)) = (sale.batch, r.original.as_ref().and_then(|o| o.batch)) {
                if b != ob {
                    f.push(format!(
                        "the void's 61 names batch {ob:06}, the sale's {b:06}"
                    ));
                }
            }
        }
    }

    fn check_totals(&self, o: &mut Open) {
        let open: Vec<&Sale> = self
            .sales
            .iter()
            .filter(|(stan, _)| !self.reversed.contains(stan) && !self.voided.contains(stan))
            .map(|(_, s)| s)
            .collect();
        let count = open.len() as u64;
        let amount: u64 = open.iter().map(|s| s.amount).sum();
        let theirs = o.request.additional.clone().unwrap_or_default();
        let their_amount = theirs.get(0..12).and_then(|s| s.parse::<u64>().ok());
        let their_count = theirs.get(12..15).and_then(|s| s.parse::<u64>().ok());
        match (their_amount, their_count) {
            (Some(a), Some(c)) if a == amount && c == count => {}
            (Some(a), Some(c)) => o.failures.push(format!(
                "the settlement reports {c} debits for {}, but the host approved {count} sales for {} \
                 that were neither voided nor reversed: the batch does not balance",
                money(a),
                money(amount)
            )),
            _ => o
                .failures
                .push("the settlement carries no totals in 48".to_owned()),
        }
    }

    /// A reply the host driver sent (after any fault: not called for a
    /// reply that was dropped; twice for a duplicated one).
    pub fn handle_reply_sent(&mut self, now: Timestamp, m: &MessageRef<'_>) {
        let line = Evidence {
            at: now,
            direction: Direction::Out,
            text: masked_line(m),
        };
        let stan: u32 = m
            .value(11)
            .and_then(|v| v.to_u64())
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0);
        let code = m.value(39).map(|v| v.to_string()).unwrap_or_default();
        let reversal_reply = m.mti().as_str().get(1..2) == Some("4");
        if !reversal_reply {
            let req = self.requests.get(&stan).cloned();
            let kind = req.as_ref().and_then(|r| r.kind);
            if code == "00" {
                match (kind, req) {
                    (Some(TxnKind::Sale), Some(r)) => {
                        let rrn = m.value(37).map(|v| v.to_string());
                        let e = self.sales.entry(stan).or_default();
                        e.amount = r.amount.unwrap_or(0);
                        e.rrn = rrn;
                        e.batch = r.batch;
                        if self.answered.insert(stan) {
                            self.last_sale = Some(stan);
                        }
                    }
                    (Some(TxnKind::Void), Some(r)) => {
                        if let Some(s) = r.original.and_then(|o| o.stan) {
                            self.voided.insert(s);
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut closing = Vec::new();
        for (i, o) in self.open.iter_mut().enumerate() {
            o.evidence.push(line.clone());
            if stan != o.request.stan {
                if !reversal_reply && o.key_wait == Some(stan) {
                    o.key_answer = Some(code.clone());
                    closing.push(i);
                }
                continue;
            }
            if reversal_reply {
                if matches!(code.as_str(), "00" | "12" | "25") && o.reversal_answered.is_none() {
                    o.reversal_answered = Some(code.clone());
                }
            } else if o.reply.is_none() {
                o.reply = Some(code.clone());
                o.reply_keys = m.has(62);
                if !self.plan.cases[o.index].expect.watches() {
                    closing.push(i);
                }
            }
        }
        for i in closing.into_iter().rev() {
            let o = self.open.remove(i);
            self.close(o);
        }
        self.check_finished();
    }

    /// The link to the terminal dropped (either side closed it).
    pub fn handle_disconnect(&mut self, now: Timestamp) {
        for o in &mut self.open {
            o.evidence.push(Evidence {
                at: now,
                direction: Direction::Link,
                text: "link closed".into(),
            });
        }
        self.observe(now, None, "link closed".into());
    }

    /// Time passed: operators who did not act, watches that ended.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if let Some(w) = &self.waiting {
            if now >= w.deadline {
                let case = self.case(w.index).clone();
                self.waiting = None;
                self.verdict(
                    case.name.clone(),
                    Outcome::NotRun,
                    format!(
                        "no {} arrived within {} of the prompt (do {})",
                        case.arm.kind,
                        humantime::format_duration(case.limit),
                        case.prompt.action
                    ),
                    Vec::new(),
                );
                self.prompt_next(now);
            }
        }
        let mut i = 0;
        while i < self.open.len() {
            if now >= self.open[i].deadline {
                let o = self.open.remove(i);
                self.close(o);
            } else {
                i += 1;
            }
        }
        self.check_finished();
    }

    /// The session ends: open cases are graded on what was seen, the rest
    /// are NOT RUN.
    pub fn finish(&mut self, now: Timestamp) {
        for o in core::mem::take(&mut self.open) {
            self.close(o);
        }
        if let Some(w) = self.waiting.take() {
            let name = self.case(w.index).name.clone();
            self.verdict(
                name,
                Outcome::NotRun,
                "the session ended before the case's request arrived".into(),
                Vec::new(),
            );
        }
        while self.next < self.plan.cases.len() {
            let name = self.case(self.next).name.clone();
            self.next += 1;
            self.verdict(
                name,
                Outcome::NotRun,
                "the session ended before the case was reached".into(),
                Vec::new(),
            );
        }
        let _ = now;
        self.check_finished();
    }

    fn close(&mut self, o: Open) {
        let case = self.case(o.index).clone();
        let (outcome, reason) = grade(&case, &o);
        self.verdict(case.name, outcome, reason, o.evidence);
    }
}

impl super::plan::Expect {
    /// Whether the case watches traffic after the reply (else it is graded
    /// as soon as the reply is sent).
    fn watches(&self) -> bool {
        self.reversal.is_some()
            || self.reversal_retries.is_some()
            || self.no_reversal
            || self.sign_on
            || self.duplicate_ignored
            || self.key_check
    }
}

/// Grades one case from what its watch saw.
fn grade(case: &Case, o: &Open) -> (Outcome, String) {
    let e = &case.expect;
    let what = o.what();
    let until = o.next.clone().map_or_else(
        || format!("within {} of it", humantime::format_duration(case.watch)),
        |n| format!("before {n}"),
    );
    let mut fails = o.failures.clone();
    let mut passes = Vec::new();

    // The host's answer the case depends on.
    if let Some(want) = &e.reply {
        match &o.reply {
            Some(got) if got == want => {}
            Some(got) => {
                return (
                    Outcome::NotRun,
                    format!(
                        "the host answered {what} with {got} ({}), not {want}: the case did not run as planned",
                        reason_meaning(got)
                    ),
                );
            }
            None if case.host.withholds_reply() => {}
            None => {
                return (
                    Outcome::NotRun,
                    format!("no reply to {what} was sent: the case did not run as planned"),
                );
            }
        }
    }

    if e.key_check {
        if !o.reply_keys {
            return (
                Outcome::NotRun,
                "the host's sign-on reply carried no working keys (62), so there is nothing to check"
                    .into(),
            );
        }
        match (&o.next, &o.key_answer) {
            (None, _) => {
                return (
                    Outcome::NotRun,
                    format!("no transaction followed the sign-on {until}, so the keys were not used"),
                );
            }
            (Some(n), Some(code)) if code == "A0" => fails.push(format!(
                "the host answered {n} with A0: its MAC does not verify under the working keys sent at sign-on"
            )),
            (Some(n), Some(_)) => passes.push(format!("{n} carries a MAC that verifies")),
            (Some(n), None) if o.failures.is_empty() => {
                return (
                    Outcome::NotRun,
                    format!("no reply to {n} was sent, so its MAC was not checked"),
                );
            }
            _ => {}
        }
    }

    let mine: Vec<&(Timestamp, Request)> = o.reversals.iter().collect();
    if let Some(want) = &e.reversal {
        match mine.first() {
            None => {
                let consequence = "the cardholder is debited twice";
                match o.stray_reversals.first() {
                    Some(s) => fails.push(format!(
                        "the 0400 carried STAN {}, not the {}'s STAN {}: the host cannot match it, so {consequence}",
                        stan6(*s),
                        o.request.kind.map_or("request", kind_name),
                        stan6(o.request.stan)
                    )),
                    None => fails.push(format!("no 0400 for {what} {until}: {consequence}")),
                }
            }
            Some((at, r)) => {
                let got = r.reason.as_deref().unwrap_or("absent");
                if got != want.reason {
                    fails.push(format!(
                        "the 0400 for STAN {} carries 39 = {got} ({}), not {} ({})",
                        stan6(r.stan),
                        reason_meaning(got),
                        want.reason,
                        reason_meaning(&want.reason)
                    ));
                }
                let late = at.since(o.armed_at);
                if late > want.within {
                    fails.push(format!(
                        "the 0400 for STAN {} came {} after the original, later than {}",
                        stan6(r.stan),
                        humantime::format_duration(late),
                        humantime::format_duration(want.within)
                    ));
                }
                if r.amount != o.request.amount {
                    fails.push(format!(
                        "the 0400 carries amount {}, the original {}",
                        r.amount.map_or_else(|| "absent".into(), money),
                        o.request.amount.map_or_else(|| "absent".into(), money)
                    ));
                }
                if r.processing_code != o.request.processing_code {
                    fails.push(format!(
                        "the 0400's processing code (3) is {}, the original's {}",
                        r.processing_code.as_deref().unwrap_or("absent"),
                        o.request.processing_code.as_deref().unwrap_or("absent")
                    ));
                }
                if want.original_data {
                    let field = if o.dialect == Dialect::UnionPay {
                        "61"
                    } else {
                        "90"
                    };
                    match r.original.as_ref().and_then(|x| x.stan) {
                        Some(s) if s == o.request.stan => {}
                        Some(s) => fails.push(format!(
                            "the 0400's original data ({field}) names STAN {}, not {}",
                            stan6(s),
                            stan6(o.request.stan)
                        )),
                        None => fails.push(format!(
                            "the 0400 carries no original data elements ({field})"
                        )),
                    }
                }
                passes.push(format!(
                    "0400 for STAN {} with 39 = {got} {} after the original, before the next transaction",
                    stan6(r.stan),
                    humantime::format_duration(late)
                ));
            }
        }
    }
    if let Some(max) = e.reversal_retries {
        let n = u32::try_from(mine.len()).unwrap_or(u32::MAX);
        if n > max {
            fails.push(format!(
                "the unanswered 0400 for STAN {} was sent {n} times; at most {max} are allowed",
                stan6(o.request.stan)
            ));
        } else if n > 0 {
            passes.push(format!(
                "the unanswered 0400 was sent {n} times (at most {max})"
            ));
        }
    }
    if e.no_reversal || e.duplicate_ignored {
        if let Some((_, r)) = mine.first() {
            let why = match o.reply.as_deref() {
                Some("00") if e.duplicate_ignored => format!(
                    "the terminal reversed {what} after a duplicated reply: the second copy of the \
                     approval must be ignored, not taken as a failure"
                ),
                Some("00") => format!(
                    "0400 for the approved {}: the terminal undoes a sale it reported approved",
                    what.trim_start_matches("the ")
                ),
                Some(code) => format!(
                    "0400 for {} declined with {code} ({}): a decline debits nothing, so there is nothing to reverse",
                    what.trim_start_matches("the "),
                    reason_meaning(code)
                ),
                None => format!("0400 for {what}, which expects no reversal"),
            };
            fails.push(format!(
                "{why} (39 = {})",
                r.reason.as_deref().unwrap_or("absent")
            ));
        } else {
            passes.push(format!("no reversal of {what} {until}"));
        }
    }
    if e.sign_on {
        if o.sign_on {
            passes.push("sign-on before the next transaction".into());
        } else {
            fails.push(format!(
                "no sign-on after the bad reply MAC {until}: the terminal keeps using working keys the host no longer trusts"
            ));
        }
    }
    if e.void && o.failures.is_empty() {
        passes.push("the void names the last sale (STAN, RRN, amount)".into());
    }
    if e.balanced && o.failures.is_empty() {
        passes.push("the settlement totals match the approved sales".into());
    }
    if fails.is_empty() {
        let reason = if passes.is_empty() {
            format!("{what} went as expected")
        } else {
            passes.join("; ")
        };
        (Outcome::Pass, reason)
    } else {
        (Outcome::Fail, fails.join("; "))
    }
}
