//! The built-in plans against the engine's own terminal, in memory: a
//! small driver in the shape the net driver will take (a host, a faulty
//! link applying each directive, the grader watching both directions, an
//! operator following the prompts), on a simulated clock.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use cardwire_codec::{Spec, decode, specs};
use core::time::Duration;

use super::*;
use crate::fault::{FaultPlan, FaultyLink, LinkAction};
use crate::pair::Pair;
use crate::schedule::Schedule;
use crate::terminal::{Outcome as TerminalOutcome, TerminalEvent};
use crate::{Action, ConnId, Host, HostConfig, Money, Terminal, TerminalConfig, Timestamp};

enum Delivery {
    ToHost(Bytes),
    ToTerminal(Bytes),
    Disconnect,
}

struct Sim {
    spec: Arc<Spec>,
    host: Host,
    terminal: Terminal,
    grader: Grader,
    link: FaultyLink,
    now: Timestamp,
    conn: ConnId,
    queue: Schedule<Delivery>,
    events: Vec<CertifyEvent>,
    prompts: VecDeque<PromptEvent>,
    outcomes: Vec<TerminalOutcome>,
}

impl Sim {
    fn new(plan: &str, cfg: TerminalConfig) -> Self {
        let plan = Plan::builtin(plan).unwrap();
        let spec = Arc::clone(specs::builtin(&plan.spec).unwrap());
        let now = Timestamp::SIM_START;
        let mut sim = Sim {
            host: Host::new(Arc::clone(&spec), HostConfig::demo()).unwrap(),
            terminal: Terminal::new(Arc::clone(&spec), cfg).unwrap(),
            link: FaultyLink::new(
                Arc::clone(&spec),
                FaultPlan::default(),
                Duration::from_millis(5),
            ),
            spec,
            grader: Grader::new(plan, now),
            now,
            conn: ConnId(1),
            queue: Schedule::new(),
            events: Vec::new(),
            prompts: VecDeque::new(),
            outcomes: Vec::new(),
        };
        sim.flush();
        sim
    }

    fn schedule(&mut self, acts: Vec<LinkAction>, to_terminal: bool) {
        for a in acts {
            let (at, d) = match a {
                LinkAction::Deliver { at, bytes } if to_terminal => {
                    (at, Delivery::ToTerminal(bytes))
                }
                LinkAction::Deliver { at, bytes } => (at, Delivery::ToHost(bytes)),
                LinkAction::Disconnect { at } => (at, Delivery::Disconnect),
            };
            self.queue.push(at, d);
        }
    }

    fn flush(&mut self) {
        loop {
            let mut moved = false;
            while let Some(frame) = self.terminal.poll_transmit() {
                moved = true;
                let view = decode(&self.spec, &frame).expect("the terminal's request decodes");
                self.grader.handle_request(self.now, &view);
                let d = self.grader.poll_behaviour().expect("a directive");
                if let Some(rule) = d.behaviour.response_rule(d.txn) {
                    self.host.add_rule(rule);
                }
                self.link.add_rules(d.behaviour.link_faults());
                let acts = self.link.on_request(self.now, frame);
                self.schedule(acts, false);
            }
            while let Some(t) = self.host.poll_transmit() {
                moved = true;
                if t.conn == self.conn {
                    let acts = self.link.on_response(self.now, t.bytes);
                    self.schedule(acts, true);
                }
            }
            while self.link.poll_event().is_some() || self.host.poll_event().is_some() {
                moved = true;
            }
            while let Some(e) = self.terminal.poll_event() {
                moved = true;
                if let TerminalEvent::Completed(o) = e {
                    self.outcomes.push(o);
                }
            }
            while let Some(e) = self.grader.poll_event() {
                moved = true;
                if let CertifyEvent::Prompt(p) = &e {
                    self.prompts.push_back(p.clone());
                }
                self.events.push(e);
            }
            if !moved {
                break;
            }
        }
    }

    fn next_time(&self) -> Option<Timestamp> {
        [
            self.queue.next_at(),
            self.host.poll_timeout(),
            self.terminal.poll_timeout(),
            self.link.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn step_to(&mut self, t: Timestamp) {
        self.now = self.now.max(t);
        let now = self.now;
        while let Some(d) = self.queue.pop_due(now) {
            match d {
                Delivery::ToHost(b) => self.host.handle_message(now, self.conn, &b),
                Delivery::ToTerminal(b) => {
                    if let Ok(view) = decode(&self.spec, &b) {
                        self.grader.handle_reply_sent(now, &view);
                    }
                    self.terminal.handle_message(now, &b);
                }
                Delivery::Disconnect => {
                    self.queue.clear();
                    self.host.handle_disconnect(now, self.conn);
                    self.terminal.handle_disconnect(now);
                    self.grader.handle_disconnect(now);
                    self.conn = ConnId(self.conn.0 + 1);
                }
            }
            self.flush();
        }
        self.host.handle_timeout(now);
        let released = self.link.handle_timeout(now);
        self.schedule(released, true);
        self.terminal.handle_timeout(now);
        self.grader.handle_timeout(now);
        self.flush();
    }

    /// Runs one action until the terminal completes it.
    fn run(&mut self, action: Action) -> TerminalOutcome {
        let seen = self.outcomes.len();
        self.terminal.start(self.now, action).unwrap();
        let deadline = self.now.plus(Duration::from_secs(3600));
        while self.outcomes.len() == seen {
            self.flush();
            if self.outcomes.len() > seen {
                break;
            }
            match self.next_time() {
                Some(t) if t <= deadline => self.step_to(t),
                _ => panic!("the terminal is stuck"),
            }
        }
        self.outcomes[seen].clone()
    }

    /// The operator follows every prompt; returns the verdicts.
    fn operate(&mut self) -> Vec<Verdict> {
        let card = Pair::demo(1).unwrap().card("alice").unwrap();
        let mut last_sale = None;
        while let Some(p) = self.prompts.pop_front() {
            let action = match p.prompt.action.as_str() {
                "signon" => Action::SignOn,
                "sale" => Action::sale(card.clone(), Money(1000)),
                "void" => Action::Void {
                    card: card.clone(),
                    voucher: last_sale.expect("a sale to void"),
                    password: TerminalConfig::default().supervisor_password,
                },
                "settle" => Action::Settle,
                other => panic!("no operator for {other}"),
            };
            let o = self.run(action);
            if o.kind == "sale" && o.approved {
                last_sale = o.stan;
            }
            // Let the host's held replies arrive before the next prompt.
            self.flush();
        }
        // Whatever is still in flight, then the watches end.
        for _ in 0..100 {
            match self.next_time() {
                Some(t) if !self.grader.is_finished() => self.step_to(t),
                _ => break,
            }
        }
        if !self.grader.is_finished() {
            let end = self.now.plus(Duration::from_secs(3600));
            self.grader.handle_timeout(end);
            self.flush();
        }
        self.events
            .iter()
            .filter_map(|e| match e {
                CertifyEvent::Verdict(v) => Some(v.clone()),
                _ => None,
            })
            .collect()
    }
}

fn outcomes(verdicts: &[Verdict]) -> Vec<(String, Outcome, String)> {
    verdicts
        .iter()
        .map(|v| (v.case.clone(), v.outcome, v.reason.clone()))
        .collect()
}

#[test]
fn engine_terminal_passes_every_case_of_both_builtin_plans() {
    for plan in BUILTIN_PLANS {
        let mut sim = Sim::new(plan, TerminalConfig::default());
        let verdicts = sim.operate();
        let n = Plan::builtin(plan).unwrap().cases.len();
        assert_eq!(verdicts.len(), n, "{plan}: {:#?}", outcomes(&verdicts));
        for v in &verdicts {
            assert_eq!(
                v.outcome,
                Outcome::Pass,
                "{plan}: {:#?}",
                outcomes(&verdicts)
            );
        }
    }
}

#[test]
fn engine_terminal_that_never_reverses_fails_the_reversal_cases() {
    let cfg = TerminalConfig {
        conforming: false,
        ..TerminalConfig::default()
    };
    let mut sim = Sim::new("cups-pos", cfg);
    let verdicts = sim.operate();
    let lost = verdicts
        .iter()
        .find(|v| v.case == "lost reply to a sale")
        .unwrap();
    assert_eq!(lost.outcome, Outcome::Fail, "{:#?}", outcomes(&verdicts));
    assert!(
        lost.reason.contains("before the next sale STAN") && lost.reason.contains("debited twice"),
        "{}",
        lost.reason
    );
    for v in &verdicts {
        let reverses = ["lost reply", "later than", "bad reply MAC", "disconnect"]
            .iter()
            .any(|w| v.case.contains(w));
        if reverses {
            assert_eq!(v.outcome, Outcome::Fail, "{}: {}", v.case, v.reason);
        }
    }
}
