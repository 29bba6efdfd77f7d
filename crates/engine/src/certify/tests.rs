//! Grading on traffic built by hand: each expectation, each way a terminal
//! gets it wrong, and a conforming terminal through both built-in plans.

use core::time::Duration;

use cardwire_codec::{Spec, TxnKind, decode, specs};
use cardwire_security::{DesKey, MacAlgorithm};

use super::*;
use crate::Timestamp;
use crate::fault::Fault;
use crate::host::totals_field;
use crate::wire::{Dialect, OriginalRef, Reply, Request, seal};

const PAN: &str = "6222021234567890123";
const AMOUNT: u64 = 1000;

/// A hand-driven terminal: builds its requests and the host's replies as
/// the wire would carry them and feeds them to a grader.
struct Bench {
    spec: &'static Spec,
    dialect: Dialect,
    grader: Grader,
    now: Timestamp,
    key: DesKey,
    events: Vec<CertifyEvent>,
    last: Option<Request>,
}

impl Bench {
    fn new(plan: Plan) -> Self {
        let spec = specs::builtin(&plan.spec).expect("built-in spec").as_ref();
        let spec: &'static Spec = if spec.name == specs::cups().name {
            specs::cups()
        } else {
            specs::iso87ascii()
        };
        let now = Timestamp::SIM_START;
        let mut b = Bench {
            spec,
            dialect: Dialect::for_spec(spec).unwrap(),
            grader: Grader::new(plan, now),
            now,
            key: DesKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap(),
            events: Vec::new(),
            last: None,
        };
        b.drain();
        b
    }

    fn from_toml(text: &str) -> Self {
        Bench::new(Plan::from_toml(text).expect("test plan parses"))
    }

    fn drain(&mut self) {
        while let Some(e) = self.grader.poll_event() {
            self.events.push(e);
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now = self.now.plus(d);
        if self.grader.poll_timeout().is_some_and(|t| t <= self.now) {
            self.grader.handle_timeout(self.now);
        }
        self.drain();
    }

    fn base(&self, kind: TxnKind, stan: u32) -> Request {
        Request {
            kind: Some(kind),
            stan,
            terminal_id: "12345678".into(),
            merchant_id: "123456789012345".into(),
            batch: Some(1),
            ..Request::default()
        }
    }

    fn sale_request(&self, stan: u32) -> Request {
        Request {
            pan: Some(PAN.into()),
            amount: Some(AMOUNT),
            currency: Some(156),
            entry_mode: Some("021".into()),
            ..self.base(TxnKind::Sale, stan)
        }
    }

    /// Sends `r` (MACed unless a sign-on); returns the host's directive.
    fn send(&mut self, r: Request) -> Directive {
        let mut m = r.to_message(self.dialect, self.now).unwrap();
        let mac = (r.kind != Some(TxnKind::SignOn)).then_some((MacAlgorithm::X919, &self.key));
        let wire = seal(self.spec, &mut m, mac).unwrap();
        let view = decode(self.spec, &wire).unwrap();
        self.grader.handle_request(self.now, &view);
        self.last = Some(r);
        self.drain();
        self.grader
            .poll_behaviour()
            .expect("one directive per request")
    }

    /// The host answers the last request with `code`.
    fn reply(&mut self, code: &str) {
        let r = self.last.clone().expect("a request to answer");
        let mut m = r.to_message(self.dialect, self.now).unwrap();
        let wire = seal(self.spec, &mut m, None).unwrap();
        let req = decode(self.spec, &wire).unwrap();
        let reply = Reply {
            code: code.into(),
            rrn: Some(format!("{:012}", 500_000 + r.stan)),
            auth_code: (code == "00" && r.kind != Some(TxnKind::SignOn)).then(|| "A1B2C3".into()),
            keys: (r.kind == Some(TxnKind::SignOn)).then(|| vec![0x11; 24]),
            ..Reply::default()
        };
        let mut out = reply.to_message(self.dialect, &req, self.now);
        let bytes = seal(self.spec, &mut out, None).unwrap();
        let view = decode(self.spec, &bytes).unwrap();
        self.grader.handle_reply_sent(self.now, &view);
        self.drain();
    }

    fn sign_on(&mut self, stan: u32) -> Directive {
        let d = self.send(self.base(TxnKind::SignOn, stan));
        self.reply("00");
        d
    }

    fn sale(&mut self, stan: u32) -> Directive {
        let r = self.sale_request(stan);
        self.send(r)
    }

    /// The reversal a conforming terminal sends for the sale `stan`.
    fn reversal_request(&self, stan: u32, reason: &str) -> Request {
        let sale = self.sale_request(stan);
        Request {
            kind: Some(TxnKind::Reversal),
            pan: None,
            processing_code: Some("000000".into()),
            condition_code: Some("00".into()),
            txn_type: (self.dialect == Dialect::UnionPay).then(|| "22".into()),
            reason: Some(reason.into()),
            original: (self.dialect == Dialect::Iso87).then(|| OriginalRef {
                batch: Some(1),
                stan: Some(stan),
                date: Some(self.now.mmddhhmmss()),
            }),
            ..sale
        }
    }

    fn reverse(&mut self, stan: u32, reason: &str, answer: Option<&str>) -> Directive {
        let r = self.reversal_request(stan, reason);
        let d = self.send(r);
        if let Some(code) = answer {
            self.reply(code);
        }
        d
    }

    fn void(&mut self, stan: u32, of: u32) -> Directive {
        let r = Request {
            pan: Some(PAN.into()),
            amount: Some(AMOUNT),
            currency: Some(156),
            rrn: Some(format!("{:012}", 500_000 + of)),
            auth_code: Some("A1B2C3".into()),
            original: Some(OriginalRef {
                batch: Some(1),
                stan: Some(of),
                date: Some(self.now.mmdd()),
            }),
            ..self.base(TxnKind::Void, stan)
        };
        self.send(r)
    }

    fn settle(&mut self, stan: u32, sales: u64) -> Directive {
        let r = Request {
            additional: Some(totals_field((sales * AMOUNT, sales as u32, 0, 0))),
            ..self.base(TxnKind::Settlement, stan)
        };
        self.send(r)
    }

    fn verdicts(&self) -> Vec<&Verdict> {
        self.events
            .iter()
            .filter_map(|e| match e {
                CertifyEvent::Verdict(v) => Some(v),
                _ => None,
            })
            .collect()
    }

    fn verdict(&self, case: &str) -> &Verdict {
        self.verdicts()
            .into_iter()
            .find(|v| v.case == case)
            .unwrap_or_else(|| panic!("no verdict for {case:?}: {:#?}", self.events))
    }

    fn prompts(&self) -> Vec<&PromptEvent> {
        self.events
            .iter()
            .filter_map(|e| match e {
                CertifyEvent::Prompt(p) => Some(p),
                _ => None,
            })
            .collect()
    }
}

/// One case armed by a sale, with host behaviour and expectations as TOML.
fn one_sale_case(spec: &str, host: &str, expect: &str) -> Bench {
    Bench::from_toml(&format!(
        r#"
name = "test"
spec = "{spec}"

[[case]]
name = "the case"
prompt = {{ do = "sale", card = "alice", amount = "any" }}
arm = {{ kind = "sale" }}
limit = "5m"
watch = "10m"
host = {{ {host} }}
expect = {{ {expect} }}

[[case]]
name = "next sale"
prompt = {{ do = "sale", card = "alice", amount = "any" }}
arm = {{ kind = "sale" }}
limit = "5m"
watch = "10m"
"#
    ))
}

fn lost_reply(spec: &str) -> Bench {
    one_sale_case(
        spec,
        r#"fault = "drop-response""#,
        r#"reversal = { reason = "98", within = "10m" }"#,
    )
}

fn assert_fail(v: &Verdict, words: &str) {
    assert_eq!(v.outcome, Outcome::Fail, "{v:#?}");
    assert!(
        v.reason.contains(words),
        "reason {:?} lacks {words:?}",
        v.reason
    );
}

fn assert_pass(v: &Verdict) {
    assert_eq!(v.outcome, Outcome::Pass, "{v:#?}");
}

// ---- prompts ----

#[test]
fn prompt_serializes_as_the_operator_json() {
    let b = Bench::new(Plan::builtin("cups-pos").unwrap());
    let mut b = b;
    b.sign_on(1);
    let p = b.prompts()[1];
    let json = serde_json::to_value(p).unwrap();
    assert_eq!(
        json["prompt"],
        serde_json::json!({"do": "sale", "card": "alice", "amount": "any"})
    );
    assert_eq!(json["case"], "approved sale");
}

// ---- reversals ----

#[test]
fn lost_reply_reversed_before_the_next_sale_passes() {
    for spec in ["cups", "iso87ascii"] {
        let mut b = lost_reply(spec);
        let d = b.sale(123);
        assert_eq!(d.behaviour.fault, Some(Fault::DropResponse));
        assert_eq!(d.case.as_deref(), Some("the case"));
        b.advance(Duration::from_secs(60));
        b.reverse(123, "98", Some("00"));
        b.sale(124);
        assert_pass(b.verdict("the case"));
    }
}

#[test]
fn terminal_that_never_reverses_fails_with_the_double_debit() {
    let mut b = lost_reply("cups");
    b.sale(123);
    b.advance(Duration::from_secs(60));
    b.sale(124);
    let v = b.verdict("the case");
    assert_fail(
        v,
        "no 0400 for the sale STAN 000123 before the next sale STAN 000124: the cardholder is debited twice",
    );
    assert!(v.evidence.iter().any(|e| e.text.starts_with("0200")));
}

#[test]
fn late_reply_taken_as_the_answer_instead_of_reversing_fails() {
    let mut b = one_sale_case(
        "cups",
        r#"delay = "2m""#,
        r#"reversal = { reason = "98", within = "10m" }"#,
    );
    let d = b.sale(123);
    assert_eq!(d.behaviour.delay, Some(Duration::from_secs(120)));
    b.advance(Duration::from_secs(120));
    b.reply("00");
    b.sale(124);
    assert_fail(
        b.verdict("the case"),
        "no 0400 for the sale STAN 000123 before the next sale STAN 000124",
    );
}

#[test]
fn terminal_that_resends_the_sale_instead_of_reversing_fails() {
    let mut b = lost_reply("cups");
    b.sale(123);
    b.advance(Duration::from_secs(60));
    b.sale(123);
    assert_fail(
        b.verdict("the case"),
        "no 0400 for the sale STAN 000123 before the same STAN 000123 sent again as a sale: \
         the cardholder is debited twice",
    );
}

#[test]
fn reversal_with_the_wrong_stan_fails() {
    let mut b = lost_reply("cups");
    b.sale(123);
    b.reverse(125, "98", Some("25"));
    b.sale(124);
    assert_fail(
        b.verdict("the case"),
        "the 0400 carried STAN 000125, not the sale's STAN 000123: the host cannot match it",
    );
}

#[test]
fn reversal_with_the_wrong_reason_fails() {
    let mut b = one_sale_case(
        "cups",
        "bad-mac = true",
        r#"reversal = { reason = "A0", within = "10m" }"#,
    );
    let d = b.sale(123);
    assert!(d.behaviour.bad_mac);
    b.reply("00");
    b.reverse(123, "98", Some("00"));
    b.sale(124);
    assert_fail(
        b.verdict("the case"),
        "carries 39 = 98 (no reply), not A0 (bad reply MAC)",
    );
}

#[test]
fn reversal_after_the_next_sale_fails() {
    let mut b = lost_reply("iso87ascii");
    b.sale(123);
    b.sale(124);
    b.reverse(123, "98", Some("00"));
    assert_fail(
        b.verdict("the case"),
        "before the next sale STAN 000124: the cardholder is debited twice",
    );
}

#[test]
fn reversal_sent_again_after_the_host_answered_fails() {
    let mut b = lost_reply("cups");
    b.sale(123);
    b.reverse(123, "98", Some("00"));
    b.reverse(123, "98", Some("00"));
    b.sale(124);
    assert_fail(
        b.verdict("the case"),
        "a second 0400 for STAN 000123 after the host answered the first with 00",
    );
}

#[test]
fn reversal_later_than_its_time_limit_fails() {
    let mut b = one_sale_case(
        "cups",
        r#"fault = "drop-response""#,
        r#"reversal = { reason = "98", within = "2m" }"#,
    );
    b.sale(123);
    b.advance(Duration::from_secs(200));
    b.reverse(123, "98", Some("00"));
    b.sale(124);
    assert_fail(b.verdict("the case"), "later than 2m");
}

#[test]
fn reversal_with_another_amount_fails() {
    let mut b = lost_reply("cups");
    b.sale(123);
    let mut r = b.reversal_request(123, "98");
    r.amount = Some(1);
    b.send(r);
    b.sale(124);
    assert_fail(
        b.verdict("the case"),
        "the 0400 carries amount 0.01, the original 10.00",
    );
}

#[test]
fn no_reversal_within_the_watch_fails() {
    let mut b = lost_reply("cups");
    b.sale(123);
    b.advance(Duration::from_secs(11 * 60));
    assert_fail(
        b.verdict("the case"),
        "no 0400 for the sale STAN 000123 within 10m of it",
    );
}

#[test]
fn iso87_reversal_without_original_data_in_90_fails() {
    let mut b = one_sale_case(
        "iso87ascii",
        r#"fault = "drop-response""#,
        r#"reversal = { reason = "98", within = "10m", original-data = true }"#,
    );
    b.sale(123);
    let mut r = b.reversal_request(123, "98");
    r.original = None;
    b.send(r);
    b.sale(124);
    assert_fail(
        b.verdict("the case"),
        "the 0400 carries no original data elements (90)",
    );
}

#[test]
fn unanswered_reversal_retried_within_the_limit_passes_and_gets_no_reply() {
    let mut b = one_sale_case(
        "cups",
        r#"fault = "drop-response", no-reply-to-reversal = true"#,
        r#"reversal = { reason = "98", within = "10m" }, reversal-retries = 3"#,
    );
    b.sale(123);
    for _ in 0..3 {
        b.advance(Duration::from_secs(60));
        let d = b.reverse(123, "98", None);
        assert_eq!(d.behaviour.fault, Some(Fault::DropRequest), "{d:?}");
    }
    b.sale(124);
    assert_pass(b.verdict("the case"));
}

#[test]
fn unanswered_reversal_retried_too_often_fails() {
    let mut b = one_sale_case(
        "cups",
        r#"fault = "drop-response", no-reply-to-reversal = true"#,
        r#"reversal = { reason = "98", within = "10m" }, reversal-retries = 3"#,
    );
    b.sale(123);
    for _ in 0..5 {
        b.reverse(123, "98", None);
    }
    b.sale(124);
    assert_fail(
        b.verdict("the case"),
        "the unanswered 0400 for STAN 000123 was sent 5 times; at most 3 are allowed",
    );
}

#[test]
fn decline_followed_by_a_reversal_fails() {
    let mut b = one_sale_case("cups", r#"code = "55""#, "no-reversal = true");
    let d = b.sale(123);
    assert_eq!(d.behaviour.code.as_deref(), Some("55"));
    b.reply("55");
    b.reverse(123, "98", Some("25"));
    b.sale(124);
    assert_fail(
        b.verdict("the case"),
        "declined with 55 (wrong PIN): a decline debits nothing",
    );
}

#[test]
fn decline_without_a_reversal_passes() {
    let mut b = one_sale_case("iso87ascii", r#"code = "01""#, "no-reversal = true");
    b.sale(123);
    b.reply("01");
    b.sale(124);
    assert_pass(b.verdict("the case"));
}

#[test]
fn missing_sign_on_after_a_bad_mac_fails() {
    let mut b = one_sale_case(
        "cups",
        "bad-mac = true",
        r#"reversal = { reason = "A0", within = "10m" }, sign-on = true"#,
    );
    b.sale(123);
    b.reply("00");
    b.reverse(123, "A0", Some("00"));
    b.sale(124);
    assert_fail(
        b.verdict("the case"),
        "no sign-on after the bad reply MAC before the next sale STAN 000124",
    );
}

#[test]
fn duplicated_reply_taken_as_a_failure_and_reversed_fails() {
    let mut b = one_sale_case(
        "cups",
        r#"fault = "duplicate-response""#,
        r#"reply = "00", duplicate-ignored = true"#,
    );
    b.sale(123);
    b.reply("00");
    b.reply("00");
    b.reverse(123, "98", Some("00"));
    b.sale(124);
    assert_fail(
        b.verdict("the case"),
        "reversed the sale STAN 000123 after a duplicated reply",
    );
}

#[test]
fn duplicated_reply_that_makes_the_terminal_resend_the_stan_fails() {
    let mut b = one_sale_case(
        "cups",
        r#"fault = "duplicate-response""#,
        r#"reply = "00", duplicate-ignored = true"#,
    );
    b.sale(123);
    b.reply("00");
    b.reply("00");
    b.sale(123);
    assert_fail(b.verdict("the case"), "sent STAN 000123 again");
}

// ---- void, settlement, sign-on ----

fn sale_then_void(spec: &str) -> Bench {
    let mut b = Bench::from_toml(&format!(
        r#"
name = "void"
spec = "{spec}"
[[case]]
name = "sale"
prompt = {{ do = "sale", card = "alice", amount = "any" }}
arm = {{ kind = "sale" }}
limit = "5m"
watch = "10m"
expect = {{ reply = "00" }}
[[case]]
name = "void"
prompt = {{ do = "void", voucher = "last" }}
arm = {{ kind = "void" }}
limit = "5m"
watch = "10m"
expect = {{ void = true }}
"#
    ));
    b.sale(40);
    b.reply("00");
    b.sale(41);
    b.reply("00");
    b
}

#[test]
fn void_of_the_last_sale_passes_on_both_dialects() {
    for spec in ["cups", "iso87ascii"] {
        let mut b = sale_then_void(spec);
        b.void(42, 41);
        b.reply("00");
        assert_pass(b.verdict("void"));
    }
}

#[test]
fn void_naming_another_sale_fails() {
    let mut b = sale_then_void("cups");
    b.void(42, 40);
    b.reply("00");
    assert_fail(
        b.verdict("void"),
        "the void's 61 names STAN 000040, but the last sale was STAN 000041",
    );
}

#[test]
fn void_with_the_sale_processing_code_fails() {
    let mut b = sale_then_void("cups");
    let mut r = b.sale_request(42);
    r.kind = Some(TxnKind::Void);
    r.processing_code = Some("000000".into());
    r.txn_type = Some("22".into());
    r.original = Some(OriginalRef {
        batch: Some(1),
        stan: Some(41),
        date: None,
    });
    r.rrn = Some("000000500041".into());
    b.send(r);
    // A 0200 000000 with 60.1 = 22 is a sale, so it does not arm the void
    // case: the operator's void never arrived.
    b.advance(Duration::from_secs(6 * 60));
    assert_eq!(b.verdict("void").outcome, Outcome::NotRun);
}

#[test]
fn settlement_whose_totals_count_a_reversed_sale_fails() {
    let mut b = Bench::from_toml(
        r#"
name = "settle"
spec = "cups"
[[case]]
name = "settle"
prompt = { do = "settle" }
arm = { kind = "settlement" }
limit = "5m"
watch = "10m"
expect = { balanced = true }
"#,
    );
    b.sale(1);
    b.reply("00");
    b.sale(2);
    b.reply("00");
    b.reverse(2, "A0", Some("00"));
    b.settle(3, 2);
    b.reply("00");
    assert_fail(
        b.verdict("settle"),
        "the settlement reports 2 debits for 20.00, but the host approved 1 sales for 10.00",
    );
    assert!(b.grader.is_finished());
}

#[test]
fn sign_on_whose_keys_the_host_rejects_fails() {
    let mut b = Bench::new(Plan::builtin("cups-pos").unwrap());
    b.sign_on(1);
    b.sale(2);
    b.reply("A0");
    assert_fail(
        b.verdict("sign-on and key check"),
        "answered the next sale STAN 000002 with A0",
    );
}

// ---- the operator and the session ----

#[test]
fn operator_who_does_not_act_in_time_gets_not_run() {
    let mut b = Bench::new(Plan::builtin("iso87").unwrap());
    b.advance(Duration::from_secs(5 * 60 + 1));
    let v = b.verdict("sign-on and key check");
    assert_eq!(v.outcome, Outcome::NotRun);
    assert!(
        v.reason.contains("no sign-on arrived within 5m"),
        "{}",
        v.reason
    );
    // The next case is prompted at once.
    assert_eq!(b.prompts().len(), 2);
    assert_eq!(b.prompts()[1].case, "approved sale");
}

#[test]
fn host_declining_the_sale_the_case_needs_is_not_run() {
    let mut b = one_sale_case("cups", "", r#"reply = "00", no-reversal = true"#);
    b.sale(1);
    b.reply("51");
    b.sale(2);
    let v = b.verdict("the case");
    assert_eq!(v.outcome, Outcome::NotRun, "{v:#?}");
}

#[test]
fn finish_marks_unreached_cases_not_run() {
    let mut b = Bench::new(Plan::builtin("cups-pos").unwrap());
    b.sign_on(1);
    b.grader.finish(b.now);
    b.drain();
    let n = Plan::builtin("cups-pos").unwrap().cases.len();
    assert_eq!(b.verdicts().len(), n);
    assert!(
        b.verdicts()[1..]
            .iter()
            .all(|v| v.outcome == Outcome::NotRun)
    );
    assert!(matches!(
        b.events.last(),
        Some(CertifyEvent::Finished { not_run, .. }) if *not_run == n
    ));
}

#[test]
fn evidence_never_shows_a_clear_pan() {
    let mut b = lost_reply("cups");
    b.sale(123);
    b.sale(124);
    let v = b.verdict("the case");
    let all = serde_json::to_string(&b.events).unwrap();
    assert!(!all.contains(PAN), "{all}");
    assert!(
        v.evidence
            .iter()
            .any(|e| e.text.contains("622202*********0123")),
        "{v:#?}"
    );
}

// ---- a conforming terminal through the built-in plans ----

fn conforming_terminal(plan: &str) -> Bench {
    let mut b = Bench::new(Plan::builtin(plan).unwrap());
    let minute = Duration::from_secs(60);
    // sign-on and key check
    b.sign_on(1);
    // approved sale (its MAC checks the keys)
    b.sale(2);
    b.reply("00");
    // lost reply
    let d = b.sale(3);
    assert_eq!(d.behaviour.fault, Some(Fault::DropResponse));
    b.advance(minute);
    b.reverse(3, "98", Some("00"));
    // late reply: the terminal times out at 60 s, the host answers at 2 min
    let d = b.sale(4);
    assert_eq!(d.behaviour.delay, Some(2 * minute));
    b.advance(2 * minute);
    b.reply("00");
    b.reverse(4, "98", Some("00"));
    // bad reply MAC: A0, then sign-on
    let d = b.sale(5);
    assert!(d.behaviour.bad_mac);
    b.reply("00");
    b.sign_on(6);
    b.reverse(5, "A0", Some("00"));
    // 01 and 55: declines, no reversal
    b.sale(7);
    b.reply("01");
    b.sale(8);
    b.reply("55");
    // unanswered reversal: three tries, then give up
    b.sale(9);
    for _ in 0..3 {
        b.advance(minute);
        let d = b.reverse(9, "98", None);
        assert_eq!(d.behaviour.fault, Some(Fault::DropRequest));
    }
    // duplicated reply
    let d = b.sale(10);
    assert_eq!(d.behaviour.fault, Some(Fault::DuplicateResponse));
    b.reply("00");
    b.reply("00");
    // disconnect after the request
    let d = b.sale(11);
    assert!(d.behaviour.disconnect);
    b.grader.handle_disconnect(b.now);
    b.advance(minute);
    b.reverse(11, "98", Some("00"));
    // sale, then its void
    b.sale(12);
    b.reply("00");
    b.void(13, 12);
    b.reply("00");
    // settlement: sales 2 and 10 stand (3, 9, 11 unanswered; 4, 5 reversed; 12 voided)
    b.settle(14, 2);
    b.reply("00");
    b
}

#[test]
fn conforming_cups_terminal_passes_every_case_of_cups_pos() {
    let b = conforming_terminal("cups-pos");
    assert_every_case_passes(&b, "cups-pos");
}

#[test]
fn conforming_iso87_terminal_passes_every_case_of_iso87() {
    let b = conforming_terminal("iso87");
    assert_every_case_passes(&b, "iso87");
}

fn assert_every_case_passes(b: &Bench, plan: &str) {
    let n = Plan::builtin(plan).unwrap().cases.len();
    let verdicts = b.verdicts();
    for v in &verdicts {
        assert_pass(v);
    }
    assert_eq!(verdicts.len(), n, "{:#?}", b.events);
    assert!(b.grader.is_finished());
    assert!(matches!(
        b.events.last(),
        Some(CertifyEvent::Finished { pass, fail: 0, not_run: 0 }) if *pass == n
    ));
}

#[test]
fn settlement_leaves_out_a_sale_reversed_before_its_late_approval_arrived() {
    let mut b = Bench::from_toml(
        r#"
name = "settle"
spec = "iso87ascii"
[[case]]
name = "settle"
prompt = { do = "settle" }
arm = { kind = "settlement" }
limit = "5m"
watch = "10m"
expect = { balanced = true }
"#,
    );
    b.sale(1);
    b.reply("00");
    b.sale(2);
    b.advance(Duration::from_secs(60));
    b.reverse(2, "98", Some("00"));
    // The host's approval of sale 2, held past the terminal's timeout.
    b.last = Some(b.sale_request(2));
    b.reply("00");
    b.settle(3, 1);
    b.reply("00");
    assert_pass(b.verdict("settle"));
}
