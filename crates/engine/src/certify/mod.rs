//! Certification: grade a real terminal against a test plan.
//!
//! `cardwire certify` is a host that walks a [`Plan`] against whatever
//! terminal connects: for each case it prompts the operator, waits for the
//! request that arms the case, treats that request as the case says
//! (a lost reply, a late one, a bad MAC, a forced decline, a dropped link),
//! then watches the terminal's traffic and grades it PASS, FAIL or NOT
//! RUN.
//!
//! # Example
//!
//! ```
//! use cardwire_engine::certify::Plan;
//!
//! let plan = Plan::builtin("cups-pos")?;
//! assert_eq!(Plan::from_toml(&plan.to_toml())?, plan);
//! # Ok::<(), cardwire_engine::certify::PlanError>(())
//! ```

mod plan;

pub use plan::{
    ACTIONS, Arm, BUILTIN_PLANS, Behaviour, Case, Expect, ExpectReversal, Plan, PlanError, Prompt,
};
