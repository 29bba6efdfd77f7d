//! Sans-IO terminal and host state machines for ISO 8583 POS links.
//!
//! Everything here is a pure state machine in the shape of quinn-proto:
//! inputs are `handle_message(now, ..)`, `handle_timeout(now)` and
//! `handle_disconnect(now)`; outputs are `poll_transmit()`,
//! `poll_timeout()` and `poll_event()`. No sockets, no tokio, no clock:
//! `now` is a [`Timestamp`] the driver passes in, so a test can run a
//! 60-second timeout in microseconds and every seeded run is identical.
//!
//! - [`host::Host`]: acquirer + issuer. Cards, accounts, PIN tries,
//!   limits, every UnionPay transaction type and its 1987 equivalent, the
//!   reversal and void rules with their response codes, response rules,
//!   issuer states, cardholder SMS notifications, a [`ledger::Ledger`].
//! - [`terminal::Terminal`]: STAN and batch counters, sign-on, MAC,
//!   the reversal discipline (store before send, send before the next
//!   transaction, retries, give-up policy), void with supervisor password
//!   and voucher number, a non-conforming mode that never reverses.
//! - [`fault`]: a seeded fault plan for the link (drop, delay, duplicate,
//!   corrupt, disconnect, reorder).
//! - [`pair::Pair`]: a terminal and a host joined by an in-memory link
//!   with a simulated clock and the fault plan.
//! - [`scenario`]: scenario files (TOML), the built-in field cases and
//!   the runner with its report and invariants.
//! - [`certify`]: grade a real terminal: a test plan (TOML, built-ins
//!   `cups-pos` and `iso87`) and the grader that arms each case, tells
//!   the host how to break it and grades the terminal's traffic.
//!
//! # Example
//!
//! ```
//! use cardwire_engine::{Money, pair::Pair, terminal::Action};
//!
//! let mut pair = Pair::demo(1)?;
//! let out = pair.run(Action::sale(pair.card("alice")?, Money(1234)))?;
//! assert_eq!(out.code.as_deref(), Some("00"));
//! assert_eq!(out.display, "交易成功");
//! assert_eq!(pair.host.card_balance("alice"), Some(500_000 - 1234));
//! # Ok::<(), cardwire_engine::pair::PairError>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod book;
pub mod cards;
pub mod certify;
pub mod clock;
pub mod config;
pub mod exercise;
pub mod fault;
pub mod host;
pub mod invariants;
pub mod keys;
pub mod ledger;
pub mod pair;
pub mod reply_codes;
pub mod rules;
pub mod salvage;
pub mod scenario;
pub mod schedule;
pub mod template;
pub mod terminal;
pub mod wire;

pub use clock::Timestamp;
pub use config::{HostConfig, Money};
pub use host::{ConnId, Host, HostEvent, Transmit};
pub use ledger::{Entry, Ledger, MemoryLedger, Posting};
pub use terminal::{Action, Terminal, TerminalConfig, TerminalEvent};
