//! Faults on the link between terminal and host, sans-IO.
//!
//! A [`FaultPlan`] is a list of [`FaultRule`]s: which exchanges they hit
//! (transaction kind, the n-th matching request, a seeded probability, a
//! number of times) and what they do. A [`FaultyLink`] applies the plan to
//! the frames that cross it and says when each frame arrives; the
//! in-memory [`Pair`](crate::pair::Pair) and `cardwire proxy` both use it,
//! so a fault behaves the same in a millisecond test and on real TCP.
//!
//! | fault | effect |
//! |---|---|
//! | `drop-request` | the host never sees the request |
//! | `drop-response` | the host decides and posts; the reply is lost |
//! | `delay-response` | the reply arrives `delay` later (past the timeout: a late reply) |
//! | `duplicate-request` | the host gets the request twice |
//! | `duplicate-response` | the terminal gets the reply twice |
//! | `corrupt-response` | one bit of the reply's last byte flips: its MAC fails |
//! | `corrupt-request` | one bit of the request's last byte flips: the host answers A0 |
//! | `disconnect-after-request` | the request reaches the host, then the link drops |
//! | `reorder` | the reply is held and delivered after the next one (or after `delay`, default 5 s) |
//!
//! Every run with the same seed makes the same choices ([`ChaCha8Rng`]).
//!
//! ```toml
//! [faults]
//! seed = 7
//! [[faults.rules]]
//! fault = "drop-response"
//! kind = "sale"
//! nth = 1                 # only the first sale
//! [[faults.rules]]
//! fault = "delay-response"
//! delay = "90s"
//! probability = 0.05      # 5 % of all exchanges
//! ```

use core::time::Duration;
use std::collections::VecDeque;

use bytes::Bytes;
use cardwire_codec::{DecodeMode, Spec, TxnKind, decode, decode_with};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::config::duration;

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Fault {
    /// The request is lost.
    DropRequest,
    /// The reply is lost (after the host posted).
    DropResponse,
    /// The reply is late.
    DelayResponse,
    /// The request arrives twice.
    DuplicateRequest,
    /// The reply arrives twice.
    DuplicateResponse,
    /// The reply is damaged (MAC fails).
    CorruptResponse,
    /// The request is damaged (host answers A0).
    CorruptRequest,
    /// The link drops once the request is through.
    DisconnectAfterRequest,
    /// The reply is overtaken by the next one.
    Reorder,
}

impl Fault {
    /// kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::DropRequest => "drop-request",
            Fault::DropResponse => "drop-response",
            Fault::DelayResponse => "delay-response",
            Fault::DuplicateRequest => "duplicate-request",
            Fault::DuplicateResponse => "duplicate-response",
            Fault::CorruptResponse => "corrupt-response",
            Fault::CorruptRequest => "corrupt-request",
            Fault::DisconnectAfterRequest => "disconnect-after-request",
            Fault::Reorder => "reorder",
        }
    }

    /// Every fault.
    pub const ALL: [Fault; 9] = [
        Fault::DropRequest,
        Fault::DropResponse,
        Fault::DelayResponse,
        Fault::DuplicateRequest,
        Fault::DuplicateResponse,
        Fault::CorruptResponse,
        Fault::CorruptRequest,
        Fault::DisconnectAfterRequest,
        Fault::Reorder,
    ];

    /// Parses a kebab-case name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// When and how a fault strikes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// The fault.
    pub fault: Fault,
    /// Only exchanges of this transaction (`sale`, `reversal` ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Only the n-th matching request (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth: Option<u32>,
    /// Strike with this probability (seeded); default: always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// At most this many times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// For `delay-response` and `reorder`: how long.
    #[serde(
        default,
        with = "duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub delay: Option<Duration>,
}

impl FaultRule {
    /// A rule that strikes every matching exchange.
    pub fn always(fault: Fault) -> Self {
        FaultRule {
            fault,
            kind: None,
            nth: None,
            probability: None,
            times: None,
            delay: None,
        }
    }

    /// Only for transaction `kind`.
    pub fn on(mut self, kind: TxnKind) -> Self {
        self.kind = Some(kind.as_str().into());
        self
    }

    /// At most `n` times.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    /// With a delay.
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = Some(d);
        self
    }
}

/// A seeded set of fault rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    /// Seed of the probability draws.
    #[serde(default)]
    pub seed: u64,
    /// Rules; several may strike the same exchange.
    #[serde(default)]
    pub rules: Vec<FaultRule>,
}

/// A fault that struck.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultEvent {
    /// When.
    pub at: Timestamp,
    /// Which.
    pub fault: Fault,
    /// The exchange's transaction.
    pub kind: String,
    /// Its STAN.
    pub stan: Option<u32>,
}

/// What the link does with a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkAction {
    /// Deliver these bytes at this time.
    Deliver {
        /// Arrival time.
        at: Timestamp,
        /// The frame.
        bytes: Bytes,
    },
    /// Close the connection at this time.
    Disconnect {
        /// When.
        at: Timestamp,
    },
}

#[derive(Debug, Clone)]
struct Armed {
    stan: Option<u32>,
    kind: String,
    faults: Vec<(Fault, Option<Duration>)>,
}

/// One direction-aware link applying a [`FaultPlan`].
#[derive(Debug)]
pub struct FaultyLink {
    spec: std::sync::Arc<Spec>,
    rules: Vec<(FaultRule, u32, u32)>,
    rng: ChaCha8Rng,
    latency: Duration,
    armed: VecDeque<Armed>,
    held: Vec<(Timestamp, Bytes)>,
    events: VecDeque<FaultEvent>,
    decode_mode: DecodeMode,
}

fn meta(spec: &Spec, bytes: &[u8], mode: DecodeMode) -> (String, Option<u32>) {
    let m = match mode {
        DecodeMode::Lenient => {
            let d = decode_with(spec, bytes, DecodeMode::Lenient);
            match (d.message, d.error) {
                (Some(m), None) => Ok(m),
                _ => Err(()),
            }
        }
        _ => decode(spec, bytes).map_err(|_| ()),
    };
    match m {
        Ok(m) => (
            m.transaction().as_str().to_owned(),
            m.value(11)
                .and_then(|v| v.to_u64())
                .and_then(|v| u32::try_from(v).ok()),
        ),
        Err(_) => ("unknown".to_owned(), None),
    }
}

fn flip_last_bit(b: &Bytes) -> Bytes {
    let mut v = b.to_vec();
    if let Some(last) = v.last_mut() {
        *last ^= 0x01;
    }
    Bytes::from(v)
}

impl FaultyLink {
    /// A link with `latency` per hop.
    pub fn new(spec: std::sync::Arc<Spec>, plan: FaultPlan, latency: Duration) -> Self {
        FaultyLink {
            spec,
            rules: plan.rules.into_iter().map(|r| (r, 0, 0)).collect(),
            rng: ChaCha8Rng::seed_from_u64(plan.seed),
            latency,
            armed: VecDeque::new(),
            held: Vec::new(),
            events: VecDeque::new(),
            decode_mode: DecodeMode::Strict,
        }
    }

    /// How frames are read to match the rules (transaction, STAN):
    /// strict by default; lenient reads frames with deviations too.
    pub fn set_decode_mode(&mut self, mode: DecodeMode) {
        self.decode_mode = mode;
    }

    /// Adds rules (scenario steps add faults on the way).
    pub fn add_rules(&mut self, rules: impl IntoIterator<Item = FaultRule>) {
        self.rules.extend(rules.into_iter().map(|r| (r, 0, 0)));
    }

    /// Removes every rule.
    pub fn clear_rules(&mut self) {
        self.rules.clear();
    }

    /// Next fault event.
    pub fn poll_event(&mut self) -> Option<FaultEvent> {
        self.events.pop_front()
    }

    /// When held frames must be released.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.held.iter().map(|(at, _)| *at).min()
    }

    /// Releases held (reordered) replies that are due.
    pub fn handle_timeout(&mut self, now: Timestamp) -> Vec<LinkAction> {
        let (due, keep): (Vec<_>, Vec<_>) = self.held.drain(..).partition(|(at, _)| *at <= now);
        self.held = keep;
        due.into_iter()
            .map(|(_, bytes)| LinkAction::Deliver {
                at: now.plus(self.latency),
                bytes,
            })
            .collect()
    }

    fn strike(&mut self, kind: &str) -> Vec<(Fault, Option<Duration>)> {
        let mut out = Vec::new();
        for (rule, seen, struck) in &mut self.rules {
            if rule.kind.as_deref().is_some_and(|k| k != kind) {
                continue;
            }
            *seen += 1;
            if rule.nth.is_some_and(|n| n != *seen) {
                continue;
            }
            if rule.times.is_some_and(|t| *struck >= t) {
                continue;
            }
            if let Some(p) = rule.probability {
                if !self.rng.random_bool(p.clamp(0.0, 1.0)) {
                    continue;
                }
            }
            *struck += 1;
            out.push((rule.fault, rule.delay));
        }
        out
    }

    /// A request leaves the terminal at `now`.
    pub fn on_request(&mut self, now: Timestamp, bytes: Bytes) -> Vec<LinkAction> {
        let (kind, stan) = meta(&self.spec, &bytes, self.decode_mode);
        let faults = self.strike(&kind);
        let at = now.plus(self.latency);
        let has = |f: Fault| faults.iter().any(|(x, _)| *x == f);
        for (f, _) in &faults {
            self.events.push_back(FaultEvent {
                at: now,
                fault: *f,
                kind: kind.clone(),
                stan,
            });
        }
        if has(Fault::DropRequest) {
            return Vec::new();
        }
        let bytes = if has(Fault::CorruptRequest) {
            flip_last_bit(&bytes)
        } else {
            bytes
        };
        let response_faults: Vec<_> = faults
            .iter()
            .copied()
            .filter(|(f, _)| {
                matches!(
                    f,
                    Fault::DropResponse
                        | Fault::DelayResponse
                        | Fault::DuplicateResponse
                        | Fault::CorruptResponse
                        | Fault::Reorder
                )
            })
            .collect();
        if !response_faults.is_empty() {
            self.armed.push_back(Armed {
                stan,
                kind: kind.clone(),
                faults: response_faults,
            });
        }
        let mut out = vec![LinkAction::Deliver {
            at,
            bytes: bytes.clone(),
        }];
        if has(Fault::DuplicateRequest) {
            out.push(LinkAction::Deliver {
                at: at.plus(Duration::from_millis(1)),
                bytes,
            });
        }
        if has(Fault::DisconnectAfterRequest) {
            out.push(LinkAction::Disconnect {
                at: at.plus(Duration::from_millis(1)),
            });
        }
        out
    }

    /// A reply leaves the host at `now`.
    pub fn on_response(&mut self, now: Timestamp, bytes: Bytes) -> Vec<LinkAction> {
        let at = now.plus(self.latency);
        // Replies that overtake held ones release them right after.
        let mut out = Vec::new();
        let (kind, stan) = meta(&self.spec, &bytes, self.decode_mode);
        let pos = self
            .armed
            .iter()
            .position(|a| a.stan == stan && (a.kind == kind || stan.is_some()));
        let Some(armed) = pos.and_then(|i| self.armed.remove(i)) else {
            out.push(LinkAction::Deliver { at, bytes });
            out.extend(self.release_held(at));
            return out;
        };
        let has = |f: Fault| armed.faults.iter().any(|(x, _)| *x == f);
        let delay_of = |f: Fault, default: Duration| {
            armed
                .faults
                .iter()
                .find(|(x, _)| *x == f)
                .and_then(|(_, d)| *d)
                .unwrap_or(default)
        };
        if has(Fault::DropResponse) {
            return self.release_held(at);
        }
        let bytes = if has(Fault::CorruptResponse) {
            flip_last_bit(&bytes)
        } else {
            bytes
        };
        if has(Fault::Reorder) {
            let until = now.plus(delay_of(Fault::Reorder, Duration::from_secs(5)));
            self.held.push((until, bytes.clone()));
            if has(Fault::DuplicateResponse) {
                self.held.push((until, bytes));
            }
            return out;
        }
        let at = if has(Fault::DelayResponse) {
            at.plus(delay_of(Fault::DelayResponse, Duration::from_secs(90)))
        } else {
            at
        };
        out.push(LinkAction::Deliver {
            at,
            bytes: bytes.clone(),
        });
        if has(Fault::DuplicateResponse) {
            out.push(LinkAction::Deliver {
                at: at.plus(Duration::from_millis(1)),
                bytes,
            });
        }
        out.extend(self.release_held(at.plus(Duration::from_millis(2))));
        out
    }

    fn release_held(&mut self, at: Timestamp) -> Vec<LinkAction> {
        self.held
            .drain(..)
            .map(|(_, bytes)| LinkAction::Deliver { at, bytes })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_parses_from_toml() {
        let p: FaultPlan = toml::from_str(
            "seed = 7\n[[rules]]\nfault = \"drop-response\"\nkind = \"sale\"\nnth = 1\n\
             [[rules]]\nfault = \"delay-response\"\ndelay = \"90s\"\nprobability = 0.05\n",
        )
        .unwrap();
        assert_eq!(p.rules.len(), 2);
        assert_eq!(p.rules[1].delay, Some(Duration::from_secs(90)));
    }

    #[test]
    fn every_fault_name_round_trips() {
        for f in Fault::ALL {
            assert_eq!(Fault::parse(f.as_str()), Some(f));
        }
    }
}
