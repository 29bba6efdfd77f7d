//! Response rules: match a request on PAN, amount, processing code,
//! terminal, MTI or transaction, then force a response code, delay the
//! reply, or drop the request silently.
//!
//! ```toml
//! [[host.rules]]
//! amount = "66.60"      # exact amount, major units
//! respond = "05"        # force "do not honour"
//!
//! [[host.rules]]
//! terminal = "12345678"
//! kind = "balance"
//! delay = "70s"         # later than the terminal's timeout
//! times = 1             # once, then the rule is spent
//! ```
//!
//! Besides these, the host has one built-in rule (on by default,
//! `amount_code_rule = false` turns it off): an amount of `9901.NN` in
//! major units forces response code `NN`, so `9901.01` gives `01`
//! "please contact your bank" and `9901.55` gives `55` "wrong PIN".

use core::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{Money, duration};
use crate::wire::Request;

/// One rule: all given conditions must hold; then the action applies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseRule {
    /// PAN prefix (a full PAN matches one card).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pan: Option<String>,
    /// Card id from the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<String>,
    /// Exact amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    /// Amount at or above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_min: Option<Money>,
    /// Processing-code prefix (`00`, `31` ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_code: Option<String>,
    /// Terminal id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal: Option<String>,
    /// MTI (`0200`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mti: Option<String>,
    /// Transaction (`sale`, `void`, `reversal` ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Force this response code (no posting unless `00`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respond: Option<String>,
    /// Hold the reply this long (the decision and posting happen at once).
    #[serde(
        default,
        with = "duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub delay: Option<Duration>,
    /// Ignore the request: no decision, no posting, no reply.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drop: bool,
    /// Apply this many times, then never again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

/// What the matching rules decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleOutcome {
    /// Forced response code.
    pub respond: Option<String>,
    /// Reply delay.
    pub delay: Option<Duration>,
    /// Drop the request.
    pub drop: bool,
    /// Index of the rule that matched (`None`: the built-in amount rule).
    pub rule: Option<usize>,
}

impl ResponseRule {
    /// Whether the rule matches `req` (with the card id the host resolved).
    pub fn matches(&self, req: &Request, card: Option<&str>) -> bool {
        let opt = |want: &Option<String>, have: Option<&str>, prefix: bool| match want {
            None => true,
            Some(w) => have.is_some_and(|h| {
                if prefix {
                    h.starts_with(w.as_str())
                } else {
                    h == w
                }
            }),
        };
        opt(&self.pan, req.pan.as_deref(), true)
            && opt(&self.card, card, false)
            && opt(&self.processing_code, req.processing_code.as_deref(), true)
            && opt(&self.terminal, Some(&req.terminal_id), false)
            && opt(&self.mti, req.mti.as_ref().map(|m| m.as_str()), false)
            && opt(&self.kind, req.kind.map(|k| k.as_str()), false)
            && self.amount.is_none_or(|a| req.amount == Some(a.minor()))
            && self
                .amount_min
                .is_none_or(|a| req.amount.is_some_and(|x| x >= a.minor()))
    }
}

/// Rules with their remaining use counts.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<(ResponseRule, Option<u32>)>,
    amount_code_rule: bool,
}

impl RuleSet {
    /// From configured rules.
    pub fn new(rules: Vec<ResponseRule>, amount_code_rule: bool) -> Self {
        RuleSet {
            rules: rules
                .into_iter()
                .map(|r| {
                    let t = r.times;
                    (r, t)
                })
                .collect(),
            amount_code_rule,
        }
    }

    /// Replaces the rules (admin API, scenario steps).
    pub fn replace(&mut self, rules: Vec<ResponseRule>) {
        let keep = self.amount_code_rule;
        *self = RuleSet::new(rules, keep);
    }

    /// Adds one rule at the front (it wins over the others).
    pub fn push_front(&mut self, rule: ResponseRule) {
        let t = rule.times;
        self.rules.insert(0, (rule, t));
    }

    /// The rules as configured.
    pub fn rules(&self) -> impl Iterator<Item = &ResponseRule> {
        self.rules.iter().map(|(r, _)| r)
    }

    /// The first matching rule (spending one use), else the amount rule.
    pub fn evaluate(&mut self, req: &Request, card: Option<&str>) -> RuleOutcome {
        for (i, (rule, left)) in self.rules.iter_mut().enumerate() {
            if *left == Some(0) || !rule.matches(req, card) {
                continue;
            }
            if let Some(n) = left {
                *n -= 1;
            }
            return RuleOutcome {
                respond: rule.respond.clone(),
                delay: rule.delay,
                drop: rule.drop,
                rule: Some(i),
            };
        }
        // Reversals are the acquirer's business: the amount rule, meant to
        // drive the issuer's answer, leaves them alone.
        if self.amount_code_rule && req.kind != Some(cardwire_codec::TxnKind::Reversal) {
            if let Some(code) = req.amount.and_then(amount_code) {
                return RuleOutcome {
                    respond: Some(code),
                    ..RuleOutcome::default()
                };
            }
        }
        RuleOutcome::default()
    }
}

/// The built-in rule: `9901.NN` (minor units 9901NN) forces code `NN`.
pub fn amount_code(minor: u64) -> Option<String> {
    (minor / 100 == 9901).then(|| format!("{:02}", minor % 100))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amount_9901_nn_forces_code_nn() {
        assert_eq!(amount_code(990_101).as_deref(), Some("01"));
        assert_eq!(amount_code(990_155).as_deref(), Some("55"));
        assert_eq!(amount_code(990_200), None);
        assert_eq!(amount_code(1_234), None);
    }

    #[test]
    fn rule_with_times_is_spent() {
        let rule = ResponseRule {
            terminal: Some("T1".into()),
            respond: Some("96".into()),
            times: Some(1),
            ..ResponseRule::default()
        };
        let mut set = RuleSet::new(vec![rule], true);
        let req = Request {
            terminal_id: "T1".into(),
            ..Request::default()
        };
        assert_eq!(set.evaluate(&req, None).respond.as_deref(), Some("96"));
        assert_eq!(set.evaluate(&req, None).respond, None);
    }

    #[test]
    fn rules_parse_from_toml() {
        let r: ResponseRule =
            toml::from_str("amount = \"66.60\"\nrespond = \"05\"\ndelay = \"70s\"").unwrap();
        assert_eq!(r.amount, Some(Money(6660)));
        assert_eq!(r.delay, Some(Duration::from_secs(70)));
    }
}
