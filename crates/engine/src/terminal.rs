//! The POS terminal: a sans-IO state machine with the reversal discipline
//! of a conforming UnionPay terminal.
//!
//! ```text
//!  start(now, action) ─► plan: [sign-on if needed] [pending reversal] action
//!        │                        each step: build ─► MAC ─► poll_transmit
//!        ▼
//!  handle_message(now, reply) ─► match STAN ─► check MAC ─► outcome
//!  handle_timeout(now)        ─► no reply: timeout shown, reversal kept
//!  handle_disconnect(now)     ─► link down: abort, reversal kept
//!        │
//!        ▼
//!  poll_event(): Sent, Received, Display, Reversal*, Completed(Outcome)
//! ```
//!
//! Reversal rules (DOMAIN.md section 6): before sending a reversible
//! request (sale, void, pre-auth family) the terminal stores a reversal
//! with the same STAN and reason `98`; a bad MAC on the reply makes the
//! reason `A0`; a decline or an approval clears it; no reply keeps it.
//! Before the next online transaction the pending `0400` goes first; a
//! reply of `00`, `12` or `25` clears it; after `reversal_retries`
//! attempts the [`GiveUpPolicy`] decides. A `94` (duplicate) reply to a
//! reversible request means the host already holds that STAN and the
//! outcome is unknown, so the reversal is kept.
//!
//! With `conforming = false` the terminal never stores or sends a
//! reversal: the double debit of the field cases.

use std::collections::VecDeque;
use std::sync::Arc;

use core::time::Duration;

use bytes::Bytes;
use cardwire_codec::{Category, Spec, TxnKind, decode};
use cardwire_security::{
    DesKey, FixedBytes, MacAlgorithm, Pan, Pin, PinBlockFormat, WorkingKeys, encrypt_pin,
};
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::config::{Money, duration, mac_serde};
use crate::host::{Totals, totals_field};
use crate::keys::{KeyMode, SignOnMode, StaticKeys, TerminalKeys};
use crate::reply_codes::Reason;
use crate::template::TemplateSet;
use crate::wire::{Dialect, OriginalRef, Reply, Request, WireError, check_mac, seal};

/// A card presented at the terminal.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    /// A label for reports and the journal (never the PAN).
    #[serde(default)]
    pub id: Option<String>,
    /// PAN.
    pub pan: String,
    /// Expiry `YYMM`.
    #[serde(default)]
    pub expiry: Option<String>,
    /// PIN the cardholder types (none: no PIN entered).
    #[serde(default)]
    pub pin: Option<String>,
    /// How the card was read.
    #[serde(default)]
    pub entry: EntryMode,
    /// Track 2 equivalent data (35), sent when present. Sensitive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track2: Option<String>,
}

impl core::fmt::Debug for Card {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Card")
            .field("id", &self.id)
            .field("pan", &cardwire_codec::mask::mask_pan(self.pan.as_bytes()))
            .field("pin", &self.pin.as_ref().map(|_| "<hidden>"))
            .field("track2", &self.track2.as_ref().map(|_| "<hidden>"))
            .field("entry", &self.entry)
            .finish_non_exhaustive()
    }
}

/// How the card was read (field 22).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryMode {
    /// Magnetic stripe.
    #[default]
    Swipe,
    /// Contact chip.
    Chip,
    /// Contactless.
    Contactless,
    /// Keyed.
    Manual,
}

impl EntryMode {
    fn field22(self, pin: bool) -> String {
        let m = match self {
            EntryMode::Swipe => "02",
            EntryMode::Chip => "05",
            EntryMode::Contactless => "07",
            EntryMode::Manual => "01",
        };
        format!("{m}{}", if pin { '1' } else { '2' })
    }
}

/// What the operator asks the terminal to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Action {
    /// Sign on: download working keys, adopt the host's batch.
    SignOn,
    /// Echo test.
    Echo,
    /// Balance inquiry.
    Balance {
        /// The card.
        card: Card,
    },
    /// Sale.
    Sale {
        /// The card.
        card: Card,
        /// Amount.
        amount: Money,
    },
    /// Void of a sale from this batch.
    Void {
        /// The card, swiped again.
        card: Card,
        /// The sale's voucher number (its STAN).
        voucher: u32,
        /// Supervisor password.
        password: String,
    },
    /// Refund (any day), referring to the original's RRN.
    Refund {
        /// The card.
        card: Card,
        /// Amount to give back.
        amount: Money,
        /// RRN of the original.
        rrn: String,
        /// Original date `MMDD`.
        #[serde(default)]
        date: Option<String>,
        /// Supervisor password.
        password: String,
    },
    /// Pre-authorization.
    PreAuth {
        /// The card.
        card: Card,
        /// Amount to hold.
        amount: Money,
    },
    /// Void of a pre-authorization.
    PreAuthVoid {
        /// The card.
        card: Card,
        /// The pre-auth's voucher number.
        voucher: u32,
        /// Supervisor password.
        password: String,
    },
    /// Completion of a pre-authorization.
    Completion {
        /// The card.
        card: Card,
        /// The pre-auth's voucher number.
        voucher: u32,
        /// Final amount (at most the pre-auth's).
        amount: Money,
    },
    /// Void of a completion.
    CompletionVoid {
        /// The card.
        card: Card,
        /// The completion's voucher number.
        voucher: u32,
        /// Supervisor password.
        password: String,
    },
    /// Settlement of the batch (batch upload if unbalanced).
    Settle,
    /// Send the pending reversal now, if any.
    Reverse,
}

impl Action {
    /// A sale.
    pub fn sale(card: Card, amount: Money) -> Self {
        Action::Sale { card, amount }
    }

    /// The transaction this action sends.
    pub fn kind(&self) -> TxnKind {
        match self {
            Action::SignOn => TxnKind::SignOn,
            Action::Echo => TxnKind::Echo,
            Action::Balance { .. } => TxnKind::BalanceInquiry,
            Action::Sale { .. } => TxnKind::Sale,
            Action::Void { .. } => TxnKind::Void,
            Action::Refund { .. } => TxnKind::Refund,
            Action::PreAuth { .. } => TxnKind::PreAuth,
            Action::PreAuthVoid { .. } => TxnKind::PreAuthVoid,
            Action::Completion { .. } => TxnKind::PreAuthCompletion,
            Action::CompletionVoid { .. } => TxnKind::PreAuthCompletionVoid,
            Action::Settle => TxnKind::Settlement,
            Action::Reverse => TxnKind::Reversal,
        }
    }

    /// The card, if the action takes one.
    pub fn card(&self) -> Option<&Card> {
        match self {
            Action::Balance { card }
            | Action::Sale { card, .. }
            | Action::Void { card, .. }
            | Action::Refund { card, .. }
            | Action::PreAuth { card, .. }
            | Action::PreAuthVoid { card, .. }
            | Action::Completion { card, .. }
            | Action::CompletionVoid { card, .. } => Some(card),
            _ => None,
        }
    }
}

/// What a terminal does after its last reversal retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GiveUpPolicy {
    /// Drop the record and print "reversal failed"; the new transaction
    /// goes ahead. The money stays debited until someone clears it.
    #[default]
    Drop,
    /// Keep the record and refuse new transactions until it goes through.
    Keep,
}

/// A terminal's configuration.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalConfig {
    /// Terminal id (41).
    #[serde(default = "default_tid")]
    pub terminal_id: String,
    /// Merchant id (42).
    #[serde(default = "default_mid")]
    pub merchant_id: String,
    /// Terminal master key, hex.
    #[serde(default = "default_tmk")]
    pub tmk: String,
    /// MAC algorithm.
    #[serde(default = "default_mac", with = "mac_serde")]
    pub mac: MacAlgorithm,
    /// Supervisor password for voids and refunds.
    #[serde(default = "default_password")]
    pub supervisor_password: String,
    /// Response timeout.
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
    /// Reversal attempts before the give-up policy applies (1-3 in the
    /// field; default 3).
    #[serde(default = "three")]
    pub reversal_retries: u8,
    /// What happens after the last attempt.
    #[serde(default)]
    pub give_up: GiveUpPolicy,
    /// `false`: the non-conforming terminal that never reverses.
    #[serde(default = "yes")]
    pub conforming: bool,
    /// Currency (ISO 4217 numeric).
    #[serde(default = "cny")]
    pub currency: u16,
    /// Where the working keys come from (see [`crate::keys`]).
    #[serde(default)]
    pub keys: KeyMode,
    /// What goes out before the first transaction (default: the key
    /// mode's, [`KeyMode::default_sign_on`]).
    #[serde(default)]
    pub signon: Option<SignOnMode>,
    /// The working keys of `keys = "static"`.
    #[serde(default)]
    pub static_keys: StaticKeys,
    /// What each request carries, per transaction (see
    /// [`crate::template`]); kinds without a template send the dialect's
    /// own message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub templates: Option<TemplateSet>,
}

fn default_tid() -> String {
    "12345678".into()
}
fn default_mid() -> String {
    "123456789012345".into()
}
fn default_tmk() -> String {
    crate::config::DEMO_TMK.into()
}
fn default_mac() -> MacAlgorithm {
    MacAlgorithm::UnionPayEcb
}
fn default_password() -> String {
    "123456".into()
}
fn default_timeout() -> Duration {
    Duration::from_secs(60)
}
fn three() -> u8 {
    3
}
fn yes() -> bool {
    true
}
fn cny() -> u16 {
    156
}

impl Default for TerminalConfig {
    fn default() -> Self {
        TerminalConfig {
            terminal_id: default_tid(),
            merchant_id: default_mid(),
            tmk: default_tmk(),
            mac: default_mac(),
            supervisor_password: default_password(),
            timeout: default_timeout(),
            reversal_retries: 3,
            give_up: GiveUpPolicy::Drop,
            conforming: true,
            currency: cny(),
            keys: KeyMode::Cups,
            signon: None,
            static_keys: StaticKeys::default(),
            templates: None,
        }
    }
}

impl TerminalConfig {
    /// The sign-on this terminal does: the configured one, else its key
    /// mode's default.
    pub fn sign_on_mode(&self) -> SignOnMode {
        self.signon.unwrap_or_else(|| self.keys.default_sign_on())
    }
}

impl core::fmt::Debug for TerminalConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TerminalConfig")
            .field("terminal_id", &self.terminal_id)
            .field("merchant_id", &self.merchant_id)
            .field("tmk", &"<hidden>")
            .field("timeout", &self.timeout)
            .field("conforming", &self.conforming)
            .field("keys", &self.keys)
            .field("signon", &self.signon)
            .field("static_keys", &self.static_keys)
            .finish_non_exhaustive()
    }
}

/// A transaction in the terminal's own journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalRecord {
    /// Voucher number: the STAN.
    pub voucher: u32,
    /// Transaction.
    pub kind: String,
    /// Batch.
    pub batch: u32,
    /// Date `MMDD`.
    pub date: String,
    /// Card label.
    pub card: Option<String>,
    /// Masked PAN.
    pub pan_masked: String,
    /// Amount, minor units.
    pub amount: u64,
    /// RRN from the host.
    pub rrn: String,
    /// Authorization code.
    pub auth_code: Option<String>,
    /// Voided (or completed, for a pre-auth) by a later transaction.
    pub voided: bool,
    /// Voucher of the transaction this one voids or completes.
    pub original: Option<u32>,
}

/// The reversal a terminal owes the host.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingReversal {
    /// The original's transaction.
    pub kind: String,
    /// The original's STAN (the reversal's too).
    pub stan: u32,
    /// The original's batch.
    pub batch: u32,
    /// Amount.
    pub amount: Option<u64>,
    /// Currency.
    pub currency: Option<u16>,
    /// Processing code.
    pub processing_code: Option<String>,
    /// POS condition code.
    pub condition_code: Option<String>,
    /// Entry mode.
    pub entry_mode: Option<String>,
    /// The original's reference to its own original (a void's sale).
    pub original: Option<(Option<u32>, Option<u32>, Option<String>)>,
    /// Reason code (39): `98` no reply, `A0` bad MAC.
    pub reason: String,
    /// Attempts so far.
    pub attempts: u8,
    /// Card label.
    pub card: Option<String>,
    /// The original's transmission date and time (7), `MMDDhhmmss`, for
    /// the original data elements (90) of a 1987 reversal.
    #[serde(default)]
    pub transmitted: Option<String>,
}

impl core::fmt::Debug for PendingReversal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingReversal")
            .field("kind", &self.kind)
            .field("stan", &self.stan)
            .field("batch", &self.batch)
            .field("amount", &self.amount)
            .field("reason", &self.reason)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// What the terminal keeps across restarts (`cardwire terminal` writes it
/// to a state file): counters, the pending reversal, the journal. Keys
/// are not kept: a restarted terminal signs on again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalState {
    /// Last STAN used.
    pub stan: u32,
    /// Current batch.
    pub batch: u32,
    /// The reversal owed, if any.
    pub pending_reversal: Option<PendingReversal>,
    /// Transactions of the current batch.
    pub journal: Vec<JournalRecord>,
}

/// The result of one operator action, as the terminal shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// Transaction.
    pub kind: String,
    /// STAN used (voucher number).
    pub stan: Option<u32>,
    /// Response code, if a reply came.
    pub code: Option<String>,
    /// What the screen shows.
    pub display: String,
    /// Approved.
    pub approved: bool,
    /// No reply in time.
    pub timed_out: bool,
    /// RRN.
    pub rrn: Option<String>,
    /// Authorization code.
    pub auth_code: Option<String>,
    /// Amount, minor units.
    pub amount: Option<u64>,
    /// Balance (inquiries).
    pub balance: Option<i64>,
    /// A reason the terminal refused locally (wrong supervisor password,
    /// unknown voucher, link down ...).
    pub local_error: Option<String>,
}

impl Outcome {
    /// An outcome without a reply (refused locally, link down ...): not
    /// approved, nothing from the host.
    pub fn empty(kind: TxnKind, display: &str) -> Self {
        Outcome {
            kind: kind.as_str().into(),
            stan: None,
            code: None,
            display: display.into(),
            approved: false,
            timed_out: false,
            rrn: None,
            auth_code: None,
            amount: None,
            balance: None,
            local_error: None,
        }
    }
}

/// What the terminal did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TerminalEvent {
    /// A request went out.
    Sent {
        /// When.
        at: Timestamp,
        /// Transaction.
        kind: String,
        /// MTI.
        mti: String,
        /// STAN.
        stan: u32,
    },
    /// A reply matched the request in flight.
    Received {
        /// When.
        at: Timestamp,
        /// Transaction.
        kind: String,
        /// STAN.
        stan: u32,
        /// Response code.
        code: String,
    },
    /// A reply nobody waits for any more (late, duplicated, or unknown).
    UnexpectedReply {
        /// When.
        at: Timestamp,
        /// STAN.
        stan: Option<u32>,
        /// Response code.
        code: Option<String>,
        /// Why it was ignored.
        reason: String,
    },
    /// The screen.
    Display {
        /// When.
        at: Timestamp,
        /// Text.
        text: String,
    },
    /// A reversal record was stored before sending.
    ReversalStored {
        /// When.
        at: Timestamp,
        /// STAN.
        stan: u32,
        /// Reason.
        reason: String,
    },
    /// The reversal record's reason changed (A0 after a bad MAC).
    ReversalReason {
        /// When.
        at: Timestamp,
        /// STAN.
        stan: u32,
        /// Reason.
        reason: String,
    },
    /// The reversal was cleared.
    ReversalCleared {
        /// When.
        at: Timestamp,
        /// STAN.
        stan: u32,
        /// Why: `approved`, `declined`, or the host's code to the 0400.
        by: String,
    },
    /// Retries exhausted.
    ReversalGivenUp {
        /// When.
        at: Timestamp,
        /// STAN.
        stan: u32,
        /// Whether the record was dropped (and "reversal failed" printed).
        dropped: bool,
    },
    /// An action finished.
    Completed(Outcome),
}

/// Errors starting an action.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TerminalError {
    /// A transaction is in flight.
    #[error("terminal busy with STAN {0}")]
    Busy(u32),
    /// Bad configuration (TMK).
    #[error("terminal configuration: {0}")]
    Config(String),
}

#[derive(Debug, Clone)]
enum Step {
    SignOn,
    Reversal,
    Main,
    Upload(usize),
    UploadEnd,
}

#[derive(Debug)]
struct InFlight {
    step: Step,
    kind: TxnKind,
    /// The request's MTI: a reply with its response MTI and the STAN
    /// matches even when the spec's rules classify it otherwise (a
    /// template's own processing code).
    mti: cardwire_codec::Mti,
    stan: u32,
    deadline: Timestamp,
    request: Request,
    reversible: bool,
}

/// Texts the terminal shows for local conditions.
struct Texts {
    timeout: &'static str,
    link_down: &'static str,
    password: &'static str,
    no_original: &'static str,
    voided: &'static str,
    reversal_failed: &'static str,
    reversal_pending: &'static str,
    mac_error: &'static str,
    settled: &'static str,
    unbalanced: &'static str,
}

const TEXTS_CN: Texts = Texts {
    timeout: "交易超时，请重试",
    link_down: "通讯失败，请重试",
    password: "主管密码错",
    no_original: "原交易不存在",
    voided: "原交易已撤销",
    reversal_failed: "冲正失败",
    reversal_pending: "冲正未完成，请稍后重试",
    mac_error: "MAC校验错，请重新签到",
    settled: "结算平",
    unbalanced: "结算不平，已上送",
};

const TEXTS_EN: Texts = Texts {
    timeout: "TIMEOUT, TRY AGAIN",
    link_down: "NO CONNECTION",
    password: "WRONG SUPERVISOR PASSWORD",
    no_original: "ORIGINAL NOT FOUND",
    voided: "ALREADY VOIDED",
    reversal_failed: "REVERSAL FAILED",
    reversal_pending: "REVERSAL PENDING, TRY LATER",
    mac_error: "MAC ERROR, SIGN ON AGAIN",
    settled: "BATCH BALANCED",
    unbalanced: "BATCH UNBALANCED, UPLOADED",
};

/// The terminal state machine. See the module docs.
pub struct Terminal {
    cfg: TerminalConfig,
    spec: Arc<Spec>,
    dialect: Dialect,
    tmk: DesKey,
    keys: Option<TerminalKeys>,
    signed_on: bool,
    state: TerminalState,
    action: Option<Action>,
    plan: VecDeque<Step>,
    inflight: Option<InFlight>,
    main_outcome: Option<Outcome>,
    upload_seen: bool,
    transmits: VecDeque<Bytes>,
    events: VecDeque<TerminalEvent>,
}

impl core::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Terminal")
            .field("cfg", &self.cfg)
            .field("state", &self.state)
            .field("signed_on", &self.signed_on)
            .finish_non_exhaustive()
    }
}

impl Terminal {
    /// A fresh terminal (STAN 0, batch 1, not signed on).
    ///
    /// # Errors
    ///
    /// [`TerminalError::Config`] for a bad TMK or a spec without engine
    /// dialect.
    pub fn new(spec: Arc<Spec>, cfg: TerminalConfig) -> Result<Self, TerminalError> {
        Self::restore(
            spec,
            cfg,
            TerminalState {
                batch: 1,
                ..TerminalState::default()
            },
        )
    }

    /// A terminal resumed from a saved [`TerminalState`].
    ///
    /// # Errors
    ///
    /// As [`Terminal::new`].
    pub fn restore(
        spec: Arc<Spec>,
        cfg: TerminalConfig,
        state: TerminalState,
    ) -> Result<Self, TerminalError> {
        let dialect = Dialect::for_spec(&spec).map_err(|e| TerminalError::Config(e.to_string()))?;
        let tmk =
            DesKey::from_hex(&cfg.tmk).map_err(|e| TerminalError::Config(format!("TMK: {e}")))?;
        let keys = match cfg.keys {
            KeyMode::Static => Some(
                cfg.static_keys
                    .load(&tmk)
                    .map_err(|e| TerminalError::Config(e.to_string()))?,
            ),
            KeyMode::Cups | KeyMode::None => None,
        };
        if let Some(t) = &cfg.templates {
            t.check(&spec, dialect)
                .map_err(|e| TerminalError::Config(format!("templates: {e}")))?;
        }
        if cfg.keys == KeyMode::Cups && cfg.sign_on_mode() != SignOnMode::Keys {
            return Err(TerminalError::Config(format!(
                "keys = \"cups\" come with the sign-on: signon = \"{}\" cannot give them (use signon \"keys\", or keys \"static\" or \"none\")",
                cfg.sign_on_mode().as_str()
            )));
        }
        Ok(Terminal {
            cfg,
            spec,
            dialect,
            tmk,
            keys,
            signed_on: false,
            state,
            action: None,
            plan: VecDeque::new(),
            inflight: None,
            main_outcome: None,
            upload_seen: false,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        })
    }

    /// What to save to resume after a restart.
    pub fn state(&self) -> &TerminalState {
        &self.state
    }

    /// The pending reversal, if any.
    pub fn pending_reversal(&self) -> Option<&PendingReversal> {
        self.state.pending_reversal.as_ref()
    }

    /// The journal of the current batch.
    pub fn journal(&self) -> &[JournalRecord] {
        &self.state.journal
    }

    /// Whether the terminal may send a transaction without signing on
    /// first: signed on (with its keys, in `cups` mode), or configured
    /// not to sign on.
    pub fn is_signed_on(&self) -> bool {
        self.signed_on || self.cfg.sign_on_mode() == SignOnMode::None
    }

    /// Whether a transaction must be preceded by a sign-on.
    fn needs_sign_on(&self) -> bool {
        !self.is_signed_on()
    }

    /// The host asked for a new sign-on (or a reply failed its MAC):
    /// downloaded keys are gone, configured ones stay.
    fn forget_sign_on(&mut self) {
        self.signed_on = false;
        if self.cfg.keys == KeyMode::Cups {
            self.keys = None;
        }
    }

    /// Whether an action is in progress.
    pub fn is_busy(&self) -> bool {
        self.action.is_some()
    }

    /// The configuration.
    pub fn config(&self) -> &TerminalConfig {
        &self.cfg
    }

    fn texts(&self) -> &'static Texts {
        match self.dialect {
            Dialect::UnionPay => &TEXTS_CN,
            Dialect::Iso87 => &TEXTS_EN,
        }
    }

    // ----- inputs -------------------------------------------------------

    /// Starts an operator action.
    ///
    /// # Errors
    ///
    /// [`TerminalError::Busy`] while another action runs.
    pub fn start(&mut self, now: Timestamp, action: Action) -> Result<(), TerminalError> {
        if self.action.is_some() {
            return Err(TerminalError::Busy(
                self.inflight.as_ref().map_or(0, |f| f.stan),
            ));
        }
        self.plan.clear();
        self.main_outcome = None;
        self.upload_seen = false;
        let kind = action.kind();
        if self.needs_sign_on() && kind != TxnKind::SignOn && kind != TxnKind::Echo {
            self.plan.push_back(Step::SignOn);
        }
        if self.cfg.conforming
            && self.state.pending_reversal.is_some()
            && !matches!(kind, TxnKind::SignOn | TxnKind::Echo)
        {
            self.plan.push_back(Step::Reversal);
        }
        match kind {
            TxnKind::SignOn => self.plan.push_back(Step::SignOn),
            TxnKind::Reversal => {}
            _ => self.plan.push_back(Step::Main),
        }
        self.action = Some(action);
        self.advance(now);
        Ok(())
    }

    /// A frame arrived from the host.
    pub fn handle_message(&mut self, now: Timestamp, frame: &[u8]) {
        let spec = Arc::clone(&self.spec);
        let msg = match decode(&spec, frame) {
            Ok(m) => m,
            Err(e) => {
                self.events.push_back(TerminalEvent::UnexpectedReply {
                    at: now,
                    stan: None,
                    code: None,
                    reason: format!("undecodable reply: {e}"),
                });
                return;
            }
        };
        let stan = msg
            .value(11)
            .and_then(|v| v.to_u64())
            .and_then(|v| u32::try_from(v).ok());
        let reply = Reply::parse(self.dialect, &msg);
        let matches = self.inflight.as_ref().is_some_and(|f| {
            Some(f.stan) == stan
                && msg.mti().is_response()
                && (msg.transaction() == f.kind || msg.mti() == f.mti.response())
        });
        if !matches {
            self.events.push_back(TerminalEvent::UnexpectedReply {
                at: now,
                stan,
                code: Some(reply.code.clone()),
                reason: "no request in flight with this STAN (late or duplicated reply)".into(),
            });
            return;
        }
        let Some(f) = self.inflight.take() else {
            return;
        };
        let financial =
            !matches!(f.kind, TxnKind::SignOn | TxnKind::Echo) && self.cfg.keys != KeyMode::None;
        let mac_ok = match (&self.keys, financial) {
            (Some(k), true) => {
                if msg.has(64) || msg.has(128) {
                    check_mac(&msg, self.cfg.mac, &k.mak).is_ok()
                } else {
                    reply.code != "00"
                }
            }
            _ => true,
        };
        self.events.push_back(TerminalEvent::Received {
            at: now,
            kind: f.kind.as_str().into(),
            stan: f.stan,
            code: reply.code.clone(),
        });
        self.on_reply(now, f, reply, mac_ok);
    }

    /// Time passed: a request in flight may have timed out.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.inflight.as_ref().is_some_and(|f| now >= f.deadline) {
            if let Some(f) = self.inflight.take() {
                self.on_no_reply(now, f, false);
            }
        }
    }

    /// The link went down: whatever is in flight gets no reply.
    pub fn handle_disconnect(&mut self, now: Timestamp) {
        if let Some(f) = self.inflight.take() {
            self.on_no_reply(now, f, true);
        } else if self.action.is_some() {
            self.abort(now, self.texts().link_down, "link down");
        }
    }

    // ----- outputs ------------------------------------------------------

    /// Next frame to send.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmits.pop_front()
    }

    /// When [`Terminal::handle_timeout`] should be called.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.inflight.as_ref().map(|f| f.deadline)
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<TerminalEvent> {
        self.events.pop_front()
    }

    // ----- the machine --------------------------------------------------

    fn display(&mut self, now: Timestamp, text: &str) {
        self.events.push_back(TerminalEvent::Display {
            at: now,
            text: text.into(),
        });
    }

    fn finish(&mut self, now: Timestamp, outcome: Outcome) {
        if self.upload_seen {
            // Batch upload done (or abandoned): the batch is closed.
            self.upload_seen = false;
            self.close_batch();
        }
        self.display(now, &outcome.display.clone());
        self.events.push_back(TerminalEvent::Completed(outcome));
        self.action = None;
        self.plan.clear();
        self.inflight = None;
    }

    fn abort(&mut self, now: Timestamp, display: &str, why: &str) {
        let kind = self.action.as_ref().map_or(TxnKind::Unknown, Action::kind);
        let mut o = Outcome::empty(kind, display);
        o.local_error = Some(why.into());
        self.finish(now, o);
    }

    fn next_stan(&mut self) -> u32 {
        self.state.stan = self.state.stan % 999_999 + 1;
        self.state.stan
    }

    fn advance(&mut self, now: Timestamp) {
        loop {
            let Some(step) = self.plan.pop_front() else {
                // Plan done.
                let o = self.main_outcome.take();
                match o {
                    Some(o) => self.finish(now, o),
                    None => {
                        if self.action.is_some() {
                            let kind = self.action.as_ref().map_or(TxnKind::Unknown, Action::kind);
                            let mut o = Outcome::empty(kind, "");
                            o.approved = true;
                            self.finish(now, o);
                        }
                    }
                }
                return;
            };
            match self.build(now, &step) {
                Ok(Some((req, kind, reversible))) => {
                    if let Err(e) = self.send(now, step, req, kind, reversible) {
                        self.abort(now, "ENCODE ERROR", &e.to_string());
                    }
                    return;
                }
                Ok(None) => continue,
                Err(local) => {
                    let (display, why) = local;
                    self.abort(now, display, &why);
                    return;
                }
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn build(
        &mut self,
        _now: Timestamp,
        step: &Step,
    ) -> Result<Option<(Request, TxnKind, bool)>, (&'static str, String)> {
        let t = self.texts();
        let base = Request {
            terminal_id: self.cfg.terminal_id.clone(),
            merchant_id: self.cfg.merchant_id.clone(),
            batch: Some(self.state.batch),
            ..Request::default()
        };
        match step {
            Step::SignOn => {
                // An operator's explicit sign-on is a sign-on whatever the
                // mode; before a transaction, the configured one goes out.
                let kind = match self.cfg.sign_on_mode() {
                    SignOnMode::Echo if !matches!(self.action, Some(Action::SignOn)) => {
                        TxnKind::Echo
                    }
                    _ => TxnKind::SignOn,
                };
                Ok(Some((
                    Request {
                        kind: Some(kind),
                        ..base
                    },
                    kind,
                    false,
                )))
            }
            Step::Reversal => {
                let Some(p) = self.state.pending_reversal.as_mut() else {
                    return Ok(None);
                };
                p.attempts += 1;
                let req = Request {
                    kind: Some(TxnKind::Reversal),
                    stan: p.stan,
                    batch: Some(p.batch),
                    amount: p.amount,
                    currency: p.currency,
                    processing_code: p.processing_code.clone(),
                    condition_code: p.condition_code.clone(),
                    txn_type: txn_type_of(self.dialect, &p.kind),
                    entry_mode: p.entry_mode.clone(),
                    reason: Some(p.reason.clone()),
                    original: match self.dialect {
                        // 90 names the request reversed: its MTI, STAN and
                        // transmission date and time.
                        Dialect::Iso87 => Some(OriginalRef {
                            batch: Some(p.batch),
                            stan: Some(p.stan),
                            date: p.transmitted.clone(),
                        }),
                        // 61 names the original of a void reversed.
                        Dialect::UnionPay => p.original.clone().map(|(b, s, d)| OriginalRef {
                            batch: b,
                            stan: s,
                            date: d,
                        }),
                    },
                    ..base
                };
                Ok(Some((req, TxnKind::Reversal, false)))
            }
            Step::UploadEnd => Ok(Some((
                Request {
                    kind: Some(TxnKind::BatchUpload),
                    net_code: Some("202".into()),
                    additional: Some(format!("{:04}", self.state.journal.len())),
                    ..base
                },
                TxnKind::BatchUpload,
                false,
            ))),
            Step::Upload(i) => {
                let Some(r) = self.state.journal.get(*i) else {
                    return Ok(None);
                };
                Ok(Some((
                    Request {
                        kind: Some(TxnKind::BatchUpload),
                        amount: Some(r.amount),
                        currency: Some(self.cfg.currency),
                        original: Some(OriginalRef {
                            batch: Some(r.batch),
                            stan: Some(r.voucher),
                            date: Some(r.date.clone()),
                        }),
                        ..base
                    },
                    TxnKind::BatchUpload,
                    false,
                )))
            }
            Step::Main => {
                let Some(action) = self.action.clone() else {
                    return Ok(None);
                };
                let kind = action.kind();
                let mut req = Request {
                    kind: Some(kind),
                    currency: Some(self.cfg.currency),
                    ..base
                };
                let password_ok = |p: &str| p == self.cfg.supervisor_password;
                match &action {
                    Action::Echo => {}
                    Action::Settle => {
                        req.additional = Some(totals_field(self.totals()));
                        req.currency = None;
                    }
                    Action::Balance { card } => self.card_fields(&mut req, card, true)?,
                    Action::Sale { card, amount } | Action::PreAuth { card, amount } => {
                        req.amount = Some(amount.minor());
                        self.card_fields(&mut req, card, true)?;
                    }
                    Action::Void {
                        card,
                        voucher,
                        password,
                    }
                    | Action::PreAuthVoid {
                        card,
                        voucher,
                        password,
                    }
                    | Action::CompletionVoid {
                        card,
                        voucher,
                        password,
                    } => {
                        if !password_ok(password) {
                            return Err((t.password, "wrong supervisor password".into()));
                        }
                        let want = match kind {
                            TxnKind::Void => TxnKind::Sale,
                            TxnKind::PreAuthVoid => TxnKind::PreAuth,
                            _ => TxnKind::PreAuthCompletion,
                        };
                        let orig = self.find_voucher(*voucher, want)?;
                        req.amount = Some(orig.amount);
                        // A host that gave no RRN gets none back.
                        req.rrn = Some(orig.rrn.clone()).filter(|r| !r.is_empty());
                        req.auth_code = orig.auth_code.clone();
                        req.original = Some(OriginalRef {
                            batch: Some(orig.batch),
                            stan: Some(orig.voucher),
                            date: Some(orig.date.clone()),
                        });
                        self.card_fields(&mut req, card, false)?;
                    }
                    Action::Completion {
                        card,
                        voucher,
                        amount,
                    } => {
                        let orig = self.find_voucher(*voucher, TxnKind::PreAuth)?;
                        req.amount = Some(amount.minor());
                        req.auth_code = orig.auth_code.clone();
                        req.original = Some(OriginalRef {
                            batch: Some(orig.batch),
                            stan: Some(orig.voucher),
                            date: Some(orig.date.clone()),
                        });
                        self.card_fields(&mut req, card, false)?;
                    }
                    Action::Refund {
                        card,
                        amount,
                        rrn,
                        date,
                        password,
                    } => {
                        if !password_ok(password) {
                            return Err((t.password, "wrong supervisor password".into()));
                        }
                        req.amount = Some(amount.minor());
                        req.rrn = Some(rrn.clone());
                        req.original = Some(OriginalRef {
                            batch: None,
                            stan: None,
                            date: date.clone(),
                        });
                        self.card_fields(&mut req, card, false)?;
                    }
                    Action::SignOn | Action::Reverse => return Ok(None),
                }
                Ok(Some((req, kind, kind.is_reversible())))
            }
        }
    }

    fn find_voucher(
        &self,
        voucher: u32,
        want: TxnKind,
    ) -> Result<JournalRecord, (&'static str, String)> {
        let t = self.texts();
        let r = self
            .state
            .journal
            .iter()
            .find(|r| r.voucher == voucher && r.kind == want.as_str())
            .ok_or((
                t.no_original,
                format!(
                    "no {} with voucher {voucher:06} in this batch",
                    want.as_str()
                ),
            ))?;
        if r.voided {
            return Err((t.voided, format!("voucher {voucher:06} already voided")));
        }
        Ok(r.clone())
    }

    fn card_fields(
        &self,
        req: &mut Request,
        card: &Card,
        with_pin: bool,
    ) -> Result<(), (&'static str, String)> {
        req.pan = Some(card.pan.clone());
        req.expiry = card.expiry.clone();
        req.track2 = card.track2.clone();
        // Without keys there is no PIN block: the PIN is not entered.
        let pin = card
            .pin
            .as_deref()
            .filter(|_| with_pin && self.cfg.keys != KeyMode::None);
        req.entry_mode = Some(card.entry.field22(pin.is_some()));
        if let Some(pin) = pin {
            let keys = self
                .keys
                .as_ref()
                .ok_or(("NO KEYS", "not signed on".to_owned()))?;
            let pik = keys.pik.as_ref().ok_or((
                "NO PIN KEY",
                "a PIN was entered but the terminal has no PIK (--pik)".to_owned(),
            ))?;
            let pin = Pin::new(pin).map_err(|e| ("PIN ERROR", e.to_string()))?;
            let pan = Pan::new(&card.pan).map_err(|e| ("CARD ERROR", e.to_string()))?;
            let block = encrypt_pin(
                pik,
                PinBlockFormat::Iso0,
                &pin,
                Some(&pan),
                &mut FixedBytes::new(&[]),
            )
            .map_err(|e| ("PIN ERROR", e.to_string()))?;
            req.pin_block = Some(*block.as_bytes());
        }
        Ok(())
    }

    fn totals(&self) -> Totals {
        let mut t = (0, 0, 0, 0);
        for r in &self.state.journal {
            match TxnKind::parse(&r.kind) {
                Some(TxnKind::Sale | TxnKind::PreAuthCompletion) if !r.voided => {
                    t.0 += r.amount;
                    t.1 += 1;
                }
                Some(TxnKind::Refund) => {
                    t.2 += r.amount;
                    t.3 += 1;
                }
                _ => {}
            }
        }
        t
    }

    fn send(
        &mut self,
        now: Timestamp,
        step: Step,
        mut req: Request,
        kind: TxnKind,
        reversible: bool,
    ) -> Result<(), WireError> {
        if !matches!(step, Step::Reversal) {
            req.stan = self.next_stan();
        }
        let templated = self
            .cfg
            .templates
            .as_ref()
            .and_then(|t| t.render(&req, self.dialect, now));
        let mut m = match templated {
            Some(m) => m,
            None => req.to_message(self.dialect, now)?,
        };
        let mac = match (&self.keys, kind) {
            (Some(k), k2) if !matches!(k2, TxnKind::SignOn | TxnKind::Echo) => {
                Some((self.cfg.mac, k.mak.clone()))
            }
            _ => None,
        };
        let bytes = seal(&self.spec, &mut m, mac.as_ref().map(|(a, k)| (*a, k)))?;
        if reversible && self.cfg.conforming {
            // Store before send (reason 98).
            self.state.pending_reversal = Some(PendingReversal {
                kind: kind.as_str().into(),
                stan: req.stan,
                batch: req.batch.unwrap_or(0),
                amount: req.amount,
                currency: req.currency,
                processing_code: m.get_str(3).map(str::to_owned),
                condition_code: m.get_str(25).map(str::to_owned),
                entry_mode: req.entry_mode.clone(),
                original: req.original.clone().map(|o| (o.batch, o.stan, o.date)),
                reason: "98".into(),
                attempts: 0,
                card: self.card_label(),
                transmitted: m.get_str(7).map(str::to_owned),
            });
            self.events.push_back(TerminalEvent::ReversalStored {
                at: now,
                stan: req.stan,
                reason: "98".into(),
            });
        }
        self.events.push_back(TerminalEvent::Sent {
            at: now,
            kind: kind.as_str().into(),
            mti: m.mti.as_str().into(),
            stan: req.stan,
        });
        self.transmits.push_back(bytes);
        self.inflight = Some(InFlight {
            step,
            kind,
            mti: m.mti,
            stan: req.stan,
            deadline: now.plus(self.cfg.timeout),
            request: req,
            reversible,
        });
        Ok(())
    }

    fn card_label(&self) -> Option<String> {
        self.action.as_ref()?.card()?.id.clone()
    }

    fn outcome(&self, f: &InFlight, reply: Option<&Reply>) -> Outcome {
        let info = reply.map(|r| self.spec.codes.lookup(&r.code));
        Outcome {
            kind: f.kind.as_str().into(),
            stan: Some(f.stan),
            code: reply.map(|r| r.code.clone()),
            display: info.map_or_else(|| self.texts().timeout.to_owned(), |i| i.display.to_owned()),
            approved: reply.is_some_and(|r| r.code == "00"),
            timed_out: reply.is_none(),
            rrn: reply.and_then(|r| r.rrn.clone()),
            auth_code: reply.and_then(|r| r.auth_code.clone()),
            amount: f.request.amount,
            balance: reply.and_then(|r| r.balance),
            local_error: None,
        }
    }

    fn on_reply(&mut self, now: Timestamp, f: InFlight, reply: Reply, mac_ok: bool) {
        let info = self.spec.codes.lookup(&reply.code);
        if info.category == Category::SignOnAgain
            || Reason::from_code(self.spec.codes, &reply.code).is_some_and(Reason::asks_for_sign_on)
        {
            self.forget_sign_on();
        }
        match f.step {
            Step::SignOn => {
                if reply.code != "00" {
                    let o = self.outcome(&f, Some(&reply));
                    self.finish(now, o);
                    return;
                }
                let keys = match self.cfg.keys {
                    KeyMode::Cups => reply
                        .keys
                        .as_deref()
                        .ok_or_else(|| {
                            "sign-on reply without field 62: this host gives no keys (try --keys static or --keys none)"
                                .to_owned()
                        })
                        .and_then(|k| {
                            WorkingKeys::unwrap(&self.tmk, k)
                                .map(TerminalKeys::from)
                                .map_err(|e| e.to_string())
                        })
                        .map(Some),
                    // Keys of their own, or none: the reply's 62 is not theirs.
                    KeyMode::Static | KeyMode::None => Ok(None),
                };
                match keys {
                    Ok(k) => {
                        if let Some(k) = k {
                            self.keys = Some(k);
                        }
                        self.signed_on = true;
                        if let Some(b) = reply.batch {
                            if b != self.state.batch {
                                self.state.journal.retain(|r| r.batch == b);
                            }
                            self.state.batch = b;
                        }
                        if matches!(self.action, Some(Action::SignOn)) {
                            self.main_outcome = Some(self.outcome(&f, Some(&reply)));
                        }
                        self.advance(now);
                    }
                    Err(e) => {
                        let mut o = self.outcome(&f, Some(&reply));
                        o.approved = false;
                        o.display = "KEY ERROR".into();
                        o.local_error = Some(e);
                        self.finish(now, o);
                    }
                }
            }
            Step::Reversal => {
                let clears = mac_ok && matches!(reply.code.as_str(), "00" | "12" | "25");
                if clears {
                    self.state.pending_reversal = None;
                    self.events.push_back(TerminalEvent::ReversalCleared {
                        at: now,
                        stan: f.stan,
                        by: reply.code.clone(),
                    });
                    if matches!(self.action, Some(Action::Reverse)) {
                        self.main_outcome = Some(self.outcome(&f, Some(&reply)));
                    }
                    self.advance(now);
                } else {
                    self.reversal_failed(now);
                }
            }
            Step::Main => self.on_main_reply(now, f, reply, mac_ok),
            Step::Upload(_) | Step::UploadEnd => self.advance(now),
        }
    }

    fn reversal_failed(&mut self, now: Timestamp) {
        let retries = self.cfg.reversal_retries.max(1);
        let Some(p) = self.state.pending_reversal.as_ref() else {
            self.advance(now);
            return;
        };
        let stan = p.stan;
        if p.attempts < retries {
            self.plan.push_front(Step::Reversal);
            if self.needs_sign_on() {
                // The host asked for a new sign-on (A0, 77, 99): keys first.
                self.plan.push_front(Step::SignOn);
            }
            self.advance(now);
            return;
        }
        match self.cfg.give_up {
            GiveUpPolicy::Drop => {
                self.state.pending_reversal = None;
                self.events.push_back(TerminalEvent::ReversalGivenUp {
                    at: now,
                    stan,
                    dropped: true,
                });
                let text = self.texts().reversal_failed;
                self.display(now, text);
                self.advance(now);
            }
            GiveUpPolicy::Keep => {
                if let Some(p) = self.state.pending_reversal.as_mut() {
                    p.attempts = 0;
                }
                self.events.push_back(TerminalEvent::ReversalGivenUp {
                    at: now,
                    stan,
                    dropped: false,
                });
                let text = self.texts().reversal_pending;
                self.abort(now, text, "reversal still pending");
            }
        }
    }

    fn on_main_reply(&mut self, now: Timestamp, f: InFlight, reply: Reply, mac_ok: bool) {
        let mut o = self.outcome(&f, Some(&reply));
        if !mac_ok {
            // Bad MAC: never trust it; reverse an approval with reason A0.
            o.approved = false;
            o.display = self.texts().mac_error.into();
            if f.reversible && self.cfg.conforming {
                if let Some(p) = self.state.pending_reversal.as_mut() {
                    p.reason = "A0".into();
                }
                self.events.push_back(TerminalEvent::ReversalReason {
                    at: now,
                    stan: f.stan,
                    reason: "A0".into(),
                });
            }
            self.forget_sign_on();
            self.main_outcome = Some(o);
            self.plan.clear();
            self.advance(now);
            return;
        }
        if f.reversible
            && self.cfg.conforming
            && reply.code != "94"
            && self
                .state
                .pending_reversal
                .as_ref()
                .is_some_and(|p| p.stan == f.stan)
        {
            self.state.pending_reversal = None;
            self.events.push_back(TerminalEvent::ReversalCleared {
                at: now,
                stan: f.stan,
                by: if o.approved {
                    "approved".into()
                } else {
                    "declined".into()
                },
            });
        }
        if o.approved {
            self.record(now, &f, &reply);
        }
        if f.kind == TxnKind::Settlement && o.approved {
            let balanced = reply
                .additional
                .as_deref()
                .is_some_and(|a| a.ends_with('1'));
            if balanced {
                o.display = self.texts().settled.into();
                self.close_batch();
            } else {
                o.display = self.texts().unbalanced.into();
                self.upload_seen = true;
                for i in 0..self.state.journal.len() {
                    self.plan.push_back(Step::Upload(i));
                }
                self.plan.push_back(Step::UploadEnd);
            }
        }
        self.main_outcome = Some(o);
        self.advance(now);
    }

    fn close_batch(&mut self) {
        self.state.journal.clear();
        self.state.batch = self.state.batch % 999_999 + 1;
    }

    fn record(&mut self, now: Timestamp, f: &InFlight, reply: &Reply) {
        if !matches!(
            f.kind,
            TxnKind::Sale
                | TxnKind::Void
                | TxnKind::Refund
                | TxnKind::PreAuth
                | TxnKind::PreAuthVoid
                | TxnKind::PreAuthCompletion
                | TxnKind::PreAuthCompletionVoid
        ) {
            return;
        }
        let original = f.request.original.as_ref().and_then(|o| o.stan);
        if matches!(
            f.kind,
            TxnKind::Void
                | TxnKind::PreAuthVoid
                | TxnKind::PreAuthCompletionVoid
                | TxnKind::PreAuthCompletion
        ) {
            if let Some(o) = original {
                if let Some(r) = self.state.journal.iter_mut().find(|r| r.voucher == o) {
                    r.voided = true;
                }
            }
        }
        self.state.journal.push(JournalRecord {
            voucher: f.stan,
            kind: f.kind.as_str().into(),
            batch: f.request.batch.unwrap_or(self.state.batch),
            date: reply.date.clone().unwrap_or_else(|| now.mmdd()),
            card: self.card_label(),
            pan_masked: f
                .request
                .pan
                .as_deref()
                .map(|p| cardwire_codec::mask::mask_pan(p.as_bytes()))
                .unwrap_or_default(),
            amount: f.request.amount.unwrap_or(0),
            rrn: reply.rrn.clone().unwrap_or_default(),
            auth_code: reply.auth_code.clone(),
            voided: false,
            original,
        });
    }

    fn on_no_reply(&mut self, now: Timestamp, f: InFlight, link_down: bool) {
        match f.step {
            Step::Reversal => {
                if link_down {
                    // It never reached the host: not an attempt.
                    if let Some(p) = self.state.pending_reversal.as_mut() {
                        p.attempts = p.attempts.saturating_sub(1);
                    }
                    let text = self.texts().link_down;
                    self.abort(now, text, "link down while reversing");
                } else {
                    self.reversal_failed(now);
                }
            }
            _ => {
                let mut o = self.outcome(&f, None);
                if link_down {
                    o.display = self.texts().link_down.into();
                    o.local_error = Some("link down".into());
                }
                // The reversal record (reason 98) stays.
                if matches!(f.step, Step::SignOn) && !matches!(self.action, Some(Action::SignOn)) {
                    o.kind = self
                        .action
                        .as_ref()
                        .map_or(TxnKind::Unknown, Action::kind)
                        .as_str()
                        .into();
                    o.stan = None;
                }
                self.finish(now, o);
            }
        }
    }
}

fn txn_type_of(dialect: Dialect, kind: &str) -> Option<String> {
    let k = TxnKind::parse(kind)?;
    dialect.request_shape(k).ok().map(|s| s.3.to_owned())
}
