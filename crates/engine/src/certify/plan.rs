//! The test plan as data: cases, what the operator is asked to do, which
//! request arms each case, how the host behaves for it, and what the
//! terminal's traffic must show afterwards. Loaded from TOML (unknown keys
//! are errors) or taken from the built-ins [`Plan::builtin`].

use core::time::Duration;

use cardwire_codec::TxnKind;
use serde::{Deserialize, Serialize};

use crate::config::duration;
use crate::fault::{Fault, FaultRule};
use crate::rules::ResponseRule;

/// The `cardwire terminal` actions an operator can be asked to do.
pub const ACTIONS: [&str; 7] = [
    "signon", "sale", "balance", "void", "refund", "settle", "reverse",
];

/// Names of the built-in plans.
pub const BUILTIN_PLANS: [&str; 2] = ["cups-pos", "iso87"];

/// Errors of a plan file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The TOML does not parse or has unknown keys.
    #[error("plan file: {0}")]
    Toml(#[from] toml::de::Error),
    /// A case names something that does not exist.
    #[error("case {case:?}: {what}")]
    Invalid {
        /// The case's name.
        case: String,
        /// What is wrong.
        what: String,
    },
    /// No built-in plan has this name.
    #[error("no built-in plan {0:?} (built-ins: cups-pos, iso87)")]
    UnknownBuiltin(String),
}

/// A certification plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Plan {
    /// The plan's name.
    pub name: String,
    /// The codec spec the terminal speaks (`cups`, `iso87ascii` ...).
    pub spec: String,
    /// The cases, walked in order.
    #[serde(rename = "case")]
    pub cases: Vec<Case>,
}

/// One case of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Case {
    /// Short name, shown in the report.
    pub name: String,
    /// What the operator is asked to do.
    pub prompt: Prompt,
    /// Which request arms the case.
    pub arm: Arm,
    /// How the host treats the arming request.
    #[serde(default, skip_serializing_if = "Behaviour::is_normal")]
    pub host: Behaviour,
    /// How long the operator has to start the transaction (else NOT RUN).
    #[serde(with = "duration")]
    pub limit: Duration,
    /// How long the terminal's traffic is watched after the arming
    /// request, unless its next transaction ends the watch sooner.
    #[serde(with = "duration")]
    pub watch: Duration,
    /// What the terminal's traffic must show.
    #[serde(default)]
    pub expect: Expect,
}

/// What the operator is asked to do on the terminal: a `cardwire
/// terminal` action and its flags. Serializes as
/// `{"do": "sale", "card": "alice", "amount": "any"}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Prompt {
    /// The action (see [`ACTIONS`]).
    #[serde(rename = "do")]
    pub action: String,
    /// The card (a card id of the host's card file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<String>,
    /// The amount, e.g. `12.34`, or `any`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// The voucher (STAN) of the original, or `last`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voucher: Option<String>,
    /// A line of advice for the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Which request arms a case: the first (or `nth`) request of a
/// transaction kind after the case's prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Arm {
    /// Transaction kind (`sale`, `sign-on`, `void`, `settlement` ...).
    pub kind: String,
    /// The n-th request of that kind (1-based); default the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth: Option<u32>,
}

impl Arm {
    /// The transaction kind.
    pub fn txn(&self) -> TxnKind {
        TxnKind::parse(&self.kind).unwrap_or(TxnKind::Unknown)
    }
}

/// How the host treats the arming request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Behaviour {
    /// An engine link fault ([`Fault`]) applied to this exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
    /// Answer with this response code instead of deciding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Hold the reply this long.
    #[serde(
        default,
        with = "duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub delay: Option<Duration>,
    /// Send the reply with a wrong MAC.
    #[serde(default, skip_serializing_if = "is_false")]
    pub bad_mac: bool,
    /// Close the link once the request is in, without a reply.
    #[serde(default, skip_serializing_if = "is_false")]
    pub disconnect: bool,
    /// Never answer the reversals of this case's request.
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_reply_to_reversal: bool,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if signature
fn is_false(b: &bool) -> bool {
    !*b
}

impl Behaviour {
    /// Answer as the host decides, on time, with a good MAC.
    pub fn is_normal(&self) -> bool {
        *self == Behaviour::default()
    }

    /// The link faults that carry this behaviour out on one exchange, for
    /// a [`FaultyLink`](crate::fault::FaultyLink) between the terminal and
    /// the host: add them just before handing it the request. Each strikes
    /// once. A bad MAC is `corrupt-response` (the reply's last byte, its
    /// MAC, loses a bit); a disconnect is `disconnect-after-request`.
    pub fn link_faults(&self) -> Vec<FaultRule> {
        let mut rules = Vec::new();
        let delayed = matches!(self.fault, Some(Fault::DelayResponse | Fault::Reorder));
        if let Some(f) = self.fault {
            let mut r = FaultRule::always(f).times(1);
            if delayed {
                r.delay = self.delay;
            }
            rules.push(r);
        }
        if let (Some(d), false) = (self.delay, delayed) {
            rules.push(FaultRule::always(Fault::DelayResponse).times(1).delay(d));
        }
        if self.bad_mac {
            rules.push(FaultRule::always(Fault::CorruptResponse).times(1));
        }
        if self.disconnect {
            rules.push(FaultRule::always(Fault::DisconnectAfterRequest).times(1));
        }
        rules
    }

    /// The host response rule that forces this behaviour's code on the
    /// next request of `kind` (once), if it forces one.
    pub fn response_rule(&self, kind: TxnKind) -> Option<ResponseRule> {
        self.code.as_ref().map(|code| ResponseRule {
            kind: Some(kind.as_str().into()),
            respond: Some(code.clone()),
            times: Some(1),
            ..ResponseRule::default()
        })
    }

    /// Whether the terminal gets no usable reply to the request.
    pub fn withholds_reply(&self) -> bool {
        self.disconnect
            || matches!(
                self.fault,
                Some(Fault::DropRequest | Fault::DropResponse | Fault::DisconnectAfterRequest)
            )
    }
}

/// The reversal a case calls for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExpectReversal {
    /// The reason in 39 (`98` no reply, `A0` bad MAC ...).
    pub reason: String,
    /// At the latest this long after the original request.
    #[serde(with = "duration")]
    pub within: Duration,
    /// The original data elements must name the original: 90 on ISO
    /// 8583:1987 (original MTI and STAN), 61 on UnionPay.
    #[serde(default, skip_serializing_if = "is_false")]
    pub original_data: bool,
}

/// What the terminal's traffic must show once a case is armed. Every
/// check runs until the terminal's next transaction (any request but a
/// reversal, a sign-on, a sign-off or an echo) or the end of the watch.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Expect {
    /// The host answers the arming request with this code (a sign-on's
    /// 00, a sale's approval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// The working keys sent at sign-on are used: the next transaction
    /// carries a MAC and the host does not answer it A0.
    #[serde(default, skip_serializing_if = "is_false")]
    pub key_check: bool,
    /// A reversal (0400) of the arming request, same STAN, this reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reversal: Option<ExpectReversal>,
    /// An unanswered reversal is sent at most this many times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reversal_retries: Option<u32>,
    /// No reversal of the arming request (a plain decline, an approval).
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_reversal: bool,
    /// A sign-on before the next transaction (after a MAC error).
    #[serde(default, skip_serializing_if = "is_false")]
    pub sign_on: bool,
    /// The arming request is a well-formed void of the last approved
    /// sale: 0200, the dialect's processing code, 60.1 = 23 on UnionPay,
    /// the sale's STAN in 61 (90 on 1987), its RRN in 37, its amount.
    #[serde(default, skip_serializing_if = "is_false")]
    pub void: bool,
    /// A duplicated reply is ignored: the request is not reversed and its
    /// STAN is not sent again.
    #[serde(default, skip_serializing_if = "is_false")]
    pub duplicate_ignored: bool,
    /// The settlement's totals (48) match the sales approved and neither
    /// voided nor reversed since the certification began.
    #[serde(default, skip_serializing_if = "is_false")]
    pub balanced: bool,
}

impl Plan {
    /// Parses and checks a plan file.
    ///
    /// # Errors
    ///
    /// [`PlanError::Toml`] for syntax and unknown keys, [`PlanError::Invalid`]
    /// for an unknown action, transaction kind or response code shape.
    pub fn from_toml(text: &str) -> Result<Self, PlanError> {
        let plan: Plan = toml::from_str(text)?;
        plan.validate()?;
        Ok(plan)
    }

    /// The plan as TOML (what `--show` prints); [`Plan::from_toml`] reads it
    /// back to the same plan.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Checks the names a case uses.
    ///
    /// # Errors
    ///
    /// [`PlanError::Invalid`] naming the case.
    pub fn validate(&self) -> Result<(), PlanError> {
        for c in &self.cases {
            let bad = |what: String| PlanError::Invalid {
                case: c.name.clone(),
                what,
            };
            if !ACTIONS.contains(&c.prompt.action.as_str()) {
                return Err(bad(format!(
                    "do = {:?} is not a terminal action ({})",
                    c.prompt.action,
                    ACTIONS.join(", ")
                )));
            }
            if TxnKind::parse(&c.arm.kind).is_none() {
                return Err(bad(format!(
                    "arm kind {:?} is not a transaction kind",
                    c.arm.kind
                )));
            }
            if c.arm.nth == Some(0) {
                return Err(bad("arm nth counts from 1".into()));
            }
            let code_ok = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphanumeric());
            for code in [c.host.code.as_deref(), c.expect.reply.as_deref()]
                .into_iter()
                .flatten()
                .chain(c.expect.reversal.as_ref().map(|r| r.reason.as_str()))
            {
                if !code_ok(code) {
                    return Err(bad(format!(
                        "{code:?} is not a two-character response code"
                    )));
                }
            }
            if matches!(c.host.fault, Some(Fault::DelayResponse | Fault::Reorder))
                && c.host.delay.is_none()
            {
                return Err(bad(format!(
                    "fault {} needs a delay",
                    c.host.fault.map_or("", Fault::as_str)
                )));
            }
            if c.expect.reversal.is_some() && c.expect.no_reversal {
                return Err(bad("expects both a reversal and no reversal".into()));
            }
        }
        Ok(())
    }

    /// A built-in plan: `cups-pos` (UnionPay POS) or `iso87`.
    ///
    /// # Errors
    ///
    /// [`PlanError::UnknownBuiltin`].
    pub fn builtin(name: &str) -> Result<Self, PlanError> {
        match name {
            "cups-pos" => Ok(builtin_plan("cups-pos", "cups", false)),
            "iso87" => Ok(builtin_plan("iso87", "iso87ascii", true)),
            other => Err(PlanError::UnknownBuiltin(other.into())),
        }
    }
}

const MINUTE: Duration = Duration::from_secs(60);

fn prompt(action: &str, card: Option<&str>, amount: Option<&str>, note: Option<&str>) -> Prompt {
    Prompt {
        action: action.into(),
        card: card.map(Into::into),
        amount: amount.map(Into::into),
        voucher: None,
        note: note.map(Into::into),
    }
}

fn case(name: &str, prompt: Prompt, kind: &str) -> Case {
    Case {
        name: name.into(),
        prompt,
        arm: Arm {
            kind: kind.into(),
            nth: None,
        },
        host: Behaviour::default(),
        limit: 5 * MINUTE,
        watch: 10 * MINUTE,
        expect: Expect::default(),
    }
}

fn sale(name: &str) -> Case {
    case(
        name,
        prompt("sale", Some("alice"), Some("any"), None),
        "sale",
    )
}

fn reversal(reason: &str, original_data: bool) -> Option<ExpectReversal> {
    Some(ExpectReversal {
        reason: reason.into(),
        within: 10 * MINUTE,
        original_data,
    })
}

fn builtin_plan(name: &str, spec: &str, iso87: bool) -> Plan {
    let mut cases = Vec::new();

    let mut c = case(
        "sign-on and key check",
        prompt("signon", None, None, None),
        "sign-on",
    );
    c.expect.reply = Some("00".into());
    c.expect.key_check = true;
    cases.push(c);

    let mut c = sale("approved sale");
    c.expect.reply = Some("00".into());
    c.expect.no_reversal = true;
    cases.push(c);

    let mut c = sale("lost reply to a sale");
    c.host.fault = Some(Fault::DropResponse);
    c.expect.reversal = reversal("98", iso87);
    cases.push(c);

    let mut c = sale("reply later than the terminal's timeout");
    c.host.delay = Some(2 * MINUTE);
    c.expect.reversal = reversal("98", iso87);
    cases.push(c);

    let mut c = sale("bad reply MAC");
    c.host.bad_mac = true;
    c.expect.reversal = reversal("A0", iso87);
    c.expect.sign_on = true;
    cases.push(c);

    let mut c = sale("01 contact bank");
    c.host.code = Some("01".into());
    c.expect.no_reversal = true;
    cases.push(c);

    let mut c = sale("55 wrong PIN");
    c.host.code = Some("55".into());
    c.expect.no_reversal = true;
    cases.push(c);

    let mut c = sale("unanswered reversal");
    c.prompt.note = Some(
        "the sale times out; the reversal is never answered: start the next case when the terminal gives up"
            .into(),
    );
    c.host.fault = Some(Fault::DropResponse);
    c.host.no_reply_to_reversal = true;
    c.expect.reversal = reversal("98", iso87);
    c.expect.reversal_retries = Some(3);
    c.watch = 15 * MINUTE;
    cases.push(c);

    let mut c = sale("duplicated reply");
    c.host.fault = Some(Fault::DuplicateResponse);
    c.expect.reply = Some("00".into());
    c.expect.duplicate_ignored = true;
    cases.push(c);

    let mut c = sale("disconnect after the request");
    c.host.disconnect = true;
    c.expect.reversal = reversal("98", iso87);
    cases.push(c);

    let mut c = sale("sale to void");
    c.expect.reply = Some("00".into());
    c.expect.no_reversal = true;
    cases.push(c);

    let mut p = prompt("void", Some("alice"), None, None);
    p.voucher = Some("last".into());
    let mut c = case("void of the last sale", p, "void");
    c.expect.void = true;
    c.expect.reply = Some("00".into());
    c.expect.no_reversal = true;
    cases.push(c);

    let mut c = case(
        "balanced settlement",
        prompt("settle", None, None, None),
        "settlement",
    );
    c.expect.balanced = true;
    cases.push(c);

    Plan {
        name: name.into(),
        spec: spec.into(),
        cases,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_plans_print_as_toml_that_loads_back_to_the_same_plan() {
        for name in BUILTIN_PLANS {
            let plan = Plan::builtin(name).unwrap();
            let text = plan.to_toml();
            assert!(text.contains("[[case]]"), "{text}");
            assert_eq!(Plan::from_toml(&text).unwrap(), plan, "{name}:\n{text}");
        }
        assert!(Plan::builtin("visa").is_err());
    }

    #[test]
    fn builtin_plans_cover_the_issue_cases() {
        for name in BUILTIN_PLANS {
            let plan = Plan::builtin(name).unwrap();
            let names: Vec<&str> = plan.cases.iter().map(|c| c.name.as_str()).collect();
            for want in [
                "sign-on and key check",
                "approved sale",
                "lost reply to a sale",
                "reply later than the terminal's timeout",
                "bad reply MAC",
                "01 contact bank",
                "55 wrong PIN",
                "unanswered reversal",
                "duplicated reply",
                "disconnect after the request",
                "void of the last sale",
                "balanced settlement",
            ] {
                assert!(names.contains(&want), "{name} lacks {want:?}");
            }
            let iso = name == "iso87";
            let lost = &plan.cases[2];
            assert_eq!(
                lost.expect.reversal.as_ref().unwrap().original_data,
                iso,
                "only the 1987 reversal carries 90"
            );
        }
    }

    #[test]
    fn plan_rejects_unknown_keys() {
        let text = Plan::builtin("cups-pos").unwrap().to_toml().replacen(
            "limit = ",
            "limt = \"1s\"\nlimit = ",
            1,
        );
        let err = Plan::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains("limt"), "{err}");
        let text = Plan::builtin("iso87").unwrap().to_toml().replacen(
            "[case.expect]",
            "[case.expect]\nreversal-reason = \"98\"",
            1,
        );
        assert!(Plan::from_toml(&text).is_err());
    }

    #[test]
    fn plan_rejects_an_action_the_terminal_does_not_have() {
        let text = Plan::builtin("cups-pos").unwrap().to_toml().replacen(
            "do = \"sale\"",
            "do = \"purchase\"",
            1,
        );
        let err = Plan::from_toml(&text).unwrap_err().to_string();
        assert!(
            err.contains("purchase") && err.contains("approved sale"),
            "{err}"
        );
    }

    #[test]
    fn plan_accepts_every_engine_fault_by_name() {
        let plan = Plan::builtin("cups-pos").unwrap().to_toml();
        for f in Fault::ALL {
            let text = plan.replacen(
                "fault = \"drop-response\"",
                &format!("fault = \"{}\"\ndelay = \"90s\"", f.as_str()),
                1,
            );
            let back = Plan::from_toml(&text).unwrap();
            assert_eq!(back.cases[2].host.fault, Some(f));
        }
    }

    #[test]
    fn plan_refuses_a_delay_fault_without_its_delay() {
        let text = Plan::builtin("cups-pos").unwrap().to_toml().replacen(
            "fault = \"drop-response\"",
            "fault = \"delay-response\"",
            1,
        );
        let err = Plan::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains("delay-response needs a delay"), "{err}");
    }
}
