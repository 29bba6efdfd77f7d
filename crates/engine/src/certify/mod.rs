//! Certification: grade a real terminal against a test plan.
//!
//! `cardwire certify` is a host that walks a [`Plan`] against whatever
//! terminal connects: for each case it prompts the operator, waits for the
//! request that arms the case, treats that request as the case says
//! (a lost reply, a late one, a bad MAC, a forced decline, a dropped link),
//! then watches the terminal's traffic and grades it PASS, FAIL or NOT
//! RUN, with the reason in a terminal engineer's words and the masked
//! messages it rests on.
//!
//! This module is the sans-IO core; the network driver feeds it:
//!
//! ```text
//!  Grader::new(plan, now)                 ─► poll_event(): Prompt
//!  handle_request(now, &MessageRef)       ─► poll_behaviour(): Directive (one per request)
//!  handle_reply_sent(now, &MessageRef)    ─► (replies that reached the wire)
//!  handle_disconnect(now)
//!  handle_timeout(now) at poll_timeout()  ─► poll_event(): Observation, Verdict, Finished
//!  finish(now)                            ─► the rest graded or NOT RUN
//! ```
//!
//! A case's prompt is given when the case before it is armed: the
//! operator's next transaction is what makes a terminal send the reversal
//! it owes, and it ends the previous case's watch (a reversal must come
//! before it).
//!
//! The driver decides nothing: it answers with a host (an engine
//! [`Host`](crate::host::Host)) and applies each [`Directive`]'s
//! [`Behaviour`]: [`Behaviour::response_rule`] on the host,
//! [`Behaviour::link_faults`] on a [`FaultyLink`](crate::fault::FaultyLink)
//! between the terminal and the host. It reports each reply that reaches
//! the terminal with `handle_reply_sent` (twice for a duplicate, never for
//! a dropped one).
//!
//! # Example
//!
//! ```
//! use cardwire_engine::Timestamp;
//! use cardwire_engine::certify::{CertifyEvent, Grader, Plan};
//!
//! let plan = Plan::builtin("cups-pos")?;
//! assert_eq!(Plan::from_toml(&plan.to_toml())?, plan);
//! let mut grader = Grader::new(plan, Timestamp::SIM_START);
//! let Some(CertifyEvent::Prompt(p)) = grader.poll_event() else { panic!() };
//! assert_eq!(p.prompt.action, "signon");
//! # Ok::<(), cardwire_engine::certify::PlanError>(())
//! ```

mod grader;
mod plan;

pub use grader::{
    CertifyEvent, Direction, Directive, Evidence, Grader, Outcome, PromptEvent, Verdict,
    masked_line,
};
pub use plan::{
    ACTIONS, Arm, BUILTIN_PLANS, Behaviour, Case, Expect, ExpectReversal, Plan, PlanError, Prompt,
};

#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;
