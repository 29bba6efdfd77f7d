//! The host: acquirer and issuer in one sans-IO state machine.
//!
//! ```text
//!  bytes in ──► handle_message(now, conn, frame)
//!                 decode ─► terminal known? MAC? batch? duplicate?
//!                 response rules ─► issuer state ─► card, PIN, limits, funds
//!                 journal entry ─► ledger.append ─► balances, notifications
//!                 reply ─► MAC ─► encode
//!  bytes out ◄── poll_transmit()      (delayed replies wait for handle_timeout)
//!  timers    ◄── poll_timeout()
//!  events    ◄── poll_event()         (received, replied, posted, SMS ...)
//! ```
//!
//! The host never reads a clock and never touches a socket: the in-memory
//! [`Pair`](crate::pair::Pair) and `cardwire-net`'s tokio driver feed it.
//! Bad input never panics and never changes state: an undecodable request
//! whose MTI can be read is answered with a format error (see
//! [`salvage`](crate::salvage)) and reported as a [`HostEvent::Rejected`]
//! with the codec's error (field, offset, reason; no card data); one
//! without a readable MTI is reported as [`HostEvent::Unreadable`], for
//! the driver to close the connection. The host goes on serving.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use cardwire_codec::{
    CodeTable, DecodeMode, MessageRef, Spec, TxnKind, decode, decode_with, mask::mask_pan,
};
use cardwire_security::{
    DesKey, EncryptedPinBlock, Field62Layout, MacAlgorithm, Pan, PinBlockFormat, RandomSource,
    SecurityError, WorkingKeys, decrypt_pin,
};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::book::{Book, Rec, Status};
use crate::clock::Timestamp;
use crate::config::{CardConfig, CardStatus, HostConfig, IssuerState, Money, PinLockPolicy};
use crate::ledger::{Entry, Ledger, LedgerError, MemoryLedger, Posting};
use crate::reply_codes::Reason;
use crate::rules::{ResponseRule, RuleSet};
use crate::salvage::{Salvage, salvage};
use crate::wire::{Dialect, OriginalRef, Reply, Request, WireError, check_mac, seal};

/// A connection, as the driver numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ConnId(pub u64);

/// Bytes to send on a connection (one frame, without length prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub conn: ConnId,
    /// The message.
    pub bytes: Bytes,
}

/// An SMS a cardholder would receive for one posting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// When it was sent.
    pub at: Timestamp,
    /// Card id.
    pub card: String,
    /// Account id.
    pub account: String,
    /// Transaction that caused it.
    pub kind: String,
    /// Money moved on the account (debit < 0).
    pub delta: i64,
    /// Balance after the posting.
    pub balance: i64,
    /// Journal entry that caused it.
    pub entry: u64,
    /// The text, with the card masked.
    pub text: String,
}

/// What happened inside the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum HostEvent {
    /// A request arrived and decoded.
    Received {
        /// Connection.
        conn: ConnId,
        /// When.
        at: Timestamp,
        /// MTI.
        mti: String,
        /// Transaction.
        kind: String,
        /// Terminal id.
        terminal: String,
        /// STAN.
        stan: u32,
        /// Amount, minor units.
        amount: Option<u64>,
        /// Masked PAN.
        pan: Option<String>,
    },
    /// A reply was queued.
    Replied {
        /// Connection.
        conn: ConnId,
        /// When decided.
        at: Timestamp,
        /// Transaction.
        kind: String,
        /// Terminal id.
        terminal: String,
        /// STAN.
        stan: u32,
        /// Response code.
        code: String,
        /// What it means.
        meaning: String,
        /// When it will be sent, if held by a rule or a slow issuer.
        delayed_until: Option<Timestamp>,
    },
    /// A rule dropped the request: no decision, no reply.
    Dropped {
        /// Connection.
        conn: ConnId,
        /// When.
        at: Timestamp,
        /// Terminal id.
        terminal: String,
        /// STAN.
        stan: u32,
    },
    /// A frame that is not a request this host can read.
    Rejected {
        /// Connection.
        conn: ConnId,
        /// When.
        at: Timestamp,
        /// Why (field, offset, reason; never card data).
        reason: String,
    },
    /// A frame whose MTI cannot be read: nothing to answer. The peer does
    /// not speak this dialect; the driver closes the connection.
    Unreadable {
        /// Connection.
        conn: ConnId,
        /// When.
        at: Timestamp,
        /// Why (offset and reason; never card data).
        reason: String,
    },
    /// A journal entry (approved or declined).
    Journal(Entry),
    /// A cardholder SMS.
    Notification(Notification),
    /// A settlement was compared.
    Settled {
        /// Terminal.
        terminal: String,
        /// Batch closed.
        batch: u32,
        /// Whether the terminal's totals matched the host's.
        balanced: bool,
        /// The host's totals (debit amount, debit count, credit amount,
        /// credit count).
        host_totals: (u64, u32, u64, u32),
    },
}

/// Errors building a host.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The configuration is inconsistent.
    #[error("host configuration: {0}")]
    Config(String),
    /// The spec has no engine dialect.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// Replaying the ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

#[derive(Debug, Clone)]
struct CardState {
    cfg: CardConfig,
    hard_locked: bool,
}

struct TermState {
    merchant: String,
    merchant_name: String,
    tmk: DesKey,
    mac: MacAlgorithm,
    keys: Option<WorkingKeys>,
    batch: u32,
    /// (STAN, day, field 62) of the last sign-on, to answer a
    /// retransmission with the same keys.
    last_sign_on: Option<(u32, u32, Vec<u8>)>,
}

/// A seeded random source (ChaCha8): the same seed gives the same keys and
/// auth codes, so every simulated run can be replayed.
struct Seeded<'a>(&'a mut ChaCha8Rng);

impl RandomSource for Seeded<'_> {
    fn fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), SecurityError> {
        self.0.fill_bytes(dest);
        Ok(())
    }
}

/// Settlement totals: debit amount, debit count, credit amount, credit count.
pub type Totals = (u64, u32, u64, u32);

/// What [`Host::audit`] finds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Audit {
    /// Standing card debits by sales, by terminal: their STANs.
    pub debits: BTreeMap<String, Vec<u32>>,
    /// The highest STAN seen from each terminal.
    pub last_stan: BTreeMap<String, u32>,
    /// The last journal entry's number.
    pub last_seq: u64,
}

/// Everything a host derives from its journal, as of entry `seq`: a
/// restart loads it and replays only the entries after `seq`.
#[derive(Serialize, Deserialize)]
struct Snapshot<B = Book> {
    version: u32,
    seq: u64,
    /// When entry `seq` was decided (ties the snapshot to its ledger).
    at: Timestamp,
    /// Net postings per account (the configuration gives the opening
    /// balances, which may have changed since).
    moved: BTreeMap<String, i64>,
    holds: Vec<(String, i64)>,
    daily: Vec<(String, u32, i64)>,
    /// PIN tries of the day by card id, and hard-locked cards.
    pin_fail: Vec<(String, u32, u8)>,
    locked: Vec<String>,
    /// The batch each terminal is in.
    batches: Vec<(String, u32)>,
    book: B,
}

/// Whether a ledger's snapshot (`(seq, bytes)` from
/// [`Ledger::snapshot`]) is one this host can load, and belongs with
/// the ledger whose entry `seq` is `entry`: a snapshot of another
/// version, or of another ledger, is ignored and every entry replayed.
/// A ledger that hands entries out once ([`Ledger::entries_after`])
/// asks this before it reads them.
pub fn snapshot_fits(snapshot: &(u64, Vec<u8>), entry: Option<&Entry>) -> bool {
    // Only the head is read: the fields a snapshot starts with.
    #[derive(Deserialize)]
    struct Head {
        version: u32,
        seq: u64,
        at: Timestamp,
    }
    postcard::take_from_bytes::<Head>(&snapshot.1).is_ok_and(|(h, _)| {
        h.version == Snapshot::VERSION
            && h.seq == snapshot.0
            && entry.is_some_and(|e| e.seq == h.seq && e.at == h.at)
    })
}

impl Snapshot {
    const VERSION: u32 = 1;
}

/// Formats totals as field 48 (n12 n3 n12 n3).
pub fn totals_field(t: Totals) -> String {
    format!("{:012}{:03}{:012}{:03}", t.0, t.1 % 1000, t.2, t.3 % 1000)
}

/// The host state machine. See the module docs.
pub struct Host<L: Ledger = MemoryLedger> {
    spec: Arc<Spec>,
    dialect: Dialect,
    currency: u16,
    no_pin_limit: Money,
    pin_tries: u8,
    pin_lock: PinLockPolicy,
    require_mac: bool,
    issuer: IssuerState,
    slow_delay: core::time::Duration,
    bank: String,
    cards: HashMap<String, CardState>,
    /// Card id -> PAN (journal entries name cards by id).
    pan_of: HashMap<String, String>,
    card_accounts: HashSet<String>,
    accounts: BTreeMap<String, i64>,
    holds: HashMap<String, i64>,
    daily: HashMap<(String, u32), i64>,
    pin_fail: HashMap<String, (u32, u8)>,
    terminals: HashMap<String, TermState>,
    book: Book,
    /// Balances before any entry (the configuration's).
    opening: BTreeMap<String, i64>,
    /// When the last entry was decided.
    last_at: Timestamp,
    snapshot_every: u64,
    /// How the host started: the snapshot's entry, entries replayed.
    start: (Option<u64>, u64),
    rules: RuleSet,
    rng: ChaCha8Rng,
    ledger: L,
    delayed: Vec<(Timestamp, u64, Transmit)>,
    delay_seq: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<HostEvent>,
    traffic_events: bool,
    booking_events: bool,
    decode_mode: DecodeMode,
}

impl Host<MemoryLedger> {
    /// A host with an in-memory ledger.
    ///
    /// # Errors
    ///
    /// See [`Host::with_ledger`].
    pub fn new(spec: Arc<Spec>, config: HostConfig) -> Result<Self, HostError> {
        Self::with_ledger(spec, config, MemoryLedger::new())
    }
}

impl<L: Ledger> Host<L> {
    /// A host over `ledger`: its last snapshot is loaded and the entries
    /// after it replayed (every entry, without a snapshot that matches),
    /// so a restarted host has the balances, originals and duplicate
    /// index it had before.
    ///
    /// # Errors
    ///
    /// [`HostError::Config`] for duplicate PANs or ids, or a TMK that is not
    /// a DES key; [`HostError::Wire`] for a spec without engine dialect;
    /// [`HostError::Ledger`] when the ledger cannot be read.
    pub fn with_ledger(spec: Arc<Spec>, config: HostConfig, ledger: L) -> Result<Self, HostError> {
        let snapshot = ledger.snapshot()?;
        let mut host = Self::from_config(spec, config, ledger)?;
        // The last snapshot and the entries after it, when the snapshot
        // describes this ledger (its last entry is the ledger's entry of
        // that number, decided at the same instant); else every entry.
        if let Some(snap) = &snapshot {
            let tail = host.ledger.entries_after(snap.0.saturating_sub(1))?;
            let fits = snapshot_fits(snap, tail.first());
            if let Some(state) = fits
                .then(|| postcard::from_bytes::<Snapshot>(&snap.1).ok())
                .flatten()
            {
                host.restore(state);
                let tail = tail.get(1..).unwrap_or_default();
                for e in tail {
                    host.apply(e, false);
                }
                host.start = (Some(snap.0), tail.len() as u64);
                return Ok(host);
            }
        }
        let all = host.ledger.entries()?;
        for e in &all {
            host.apply(e, false);
        }
        host.start = (None, all.len() as u64);
        if host.snapshot_every > 0 && all.len() as u64 >= host.snapshot_every {
            // A long replay is not done twice: the next start loads this.
            drop(all);
            let _ = host.save_snapshot();
        }
        Ok(host)
    }

    /// How the host started from its ledger: the entry its snapshot
    /// followed (if it had one that matched), and how many entries it
    /// replayed after it.
    pub fn start_report(&self) -> (Option<u64>, u64) {
        self.start
    }

    fn from_config(spec: Arc<Spec>, config: HostConfig, ledger: L) -> Result<Self, HostError> {
        let dialect = Dialect::for_spec(&spec)?;
        let mut cards = HashMap::new();
        let mut pan_of = HashMap::new();
        let mut accounts = BTreeMap::new();
        let mut card_accounts = HashSet::new();
        let mut ids = HashSet::new();
        for c in &config.cards {
            if !ids.insert(c.id.clone()) {
                return Err(HostError::Config(format!(
                    "card id {:?} appears twice",
                    c.id
                )));
            }
            if c.pan.len() < 12 || !c.pan.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HostError::Config(format!(
                    "card {:?}: PAN must be 12-19 digits",
                    c.id
                )));
            }
            if cardwire_security::Pin::new(&c.pin).is_err() {
                return Err(HostError::Config(format!(
                    "card {:?}: PIN must be 4-12 digits",
                    c.id
                )));
            }
            let acct = c.account_id().to_owned();
            if card_accounts.insert(acct.clone()) {
                accounts.insert(acct, c.balance.0);
            }
            let state = CardState {
                cfg: c.clone(),
                hard_locked: false,
            };
            pan_of.insert(c.id.clone(), c.pan.clone());
            if cards.insert(c.pan.clone(), state).is_some() {
                return Err(HostError::Config(format!(
                    "card {:?}: PAN appears twice",
                    c.id
                )));
            }
        }
        let mut terminals = HashMap::new();
        for t in &config.terminals {
            let tmk = DesKey::from_hex(&t.tmk)
                .map_err(|e| HostError::Config(format!("terminal {:?}: TMK: {e}", t.id)))?;
            accounts.entry(merchant_account(&t.merchant)).or_insert(0);
            let state = TermState {
                merchant: t.merchant.clone(),
                merchant_name: t.merchant_name.clone(),
                tmk,
                mac: t.mac,
                keys: None,
                batch: t.batch,
                last_sign_on: None,
            };
            if terminals.insert(t.id.clone(), state).is_some() {
                return Err(HostError::Config(format!(
                    "terminal {:?} appears twice",
                    t.id
                )));
            }
        }
        let opening = accounts.clone();
        Ok(Host {
            spec,
            dialect,
            currency: config.currency,
            no_pin_limit: config.no_pin_limit,
            pin_tries: config.pin_tries.max(1),
            pin_lock: config.pin_lock,
            require_mac: config.require_mac,
            issuer: config.issuer,
            slow_delay: config.slow_delay,
            bank: config.bank,
            cards,
            pan_of,
            card_accounts,
            accounts,
            holds: HashMap::new(),
            daily: HashMap::new(),
            pin_fail: HashMap::new(),
            terminals,
            book: Book::new(config.keep_days),
            opening,
            last_at: Timestamp::default(),
            snapshot_every: config.snapshot_every,
            start: (None, 0),
            rules: RuleSet::new(config.rules, config.amount_code_rule),
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            ledger,
            delayed: Vec::new(),
            delay_seq: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            traffic_events: true,
            booking_events: true,
            decode_mode: DecodeMode::Strict,
        })
    }

    // ----- inputs -------------------------------------------------------

    /// A frame arrived on `conn`.
    pub fn handle_message(&mut self, now: Timestamp, conn: ConnId, frame: &[u8]) {
        let spec = Arc::clone(&self.spec);
        let decoded = match self.decode_mode {
            DecodeMode::Lenient => {
                // The warnings are the driver's to journal; the request
                // is decided as read.
                let d = decode_with(&spec, frame, DecodeMode::Lenient);
                match (d.message, d.error) {
                    (Some(m), None) => Ok(m),
                    (_, Some(e)) => Err(e),
                    (None, None) => decode(&spec, frame),
                }
            }
            _ => decode(&spec, frame),
        };
        let msg = match decoded {
            Ok(m) => m,
            Err(e) => {
                self.answer_undecodable(now, conn, frame, &e);
                return;
            }
        };
        if !msg.mti().is_request() {
            self.events.push_back(HostEvent::Rejected {
                conn,
                at: now,
                reason: format!("MTI {} is not a request", msg.mti()),
            });
            return;
        }
        let req = Request::parse(self.dialect, &msg);
        let kind = req.kind.unwrap_or(TxnKind::Unknown);
        if self.traffic_events {
            self.events.push_back(HostEvent::Received {
                conn,
                at: now,
                mti: msg.mti().as_str().to_owned(),
                kind: kind.as_str().to_owned(),
                terminal: req.terminal_id.clone(),
                stan: req.stan,
                amount: req.amount,
                pan: req.pan.as_deref().map(|p| mask_pan(p.as_bytes())),
            });
        }
        let (reply, delay, sign) = match self.decide(now, conn, &msg, &req, kind) {
            Some(d) => d,
            None => return,
        };
        let mut out = reply.to_message(self.dialect, &msg, now);
        let mac = if sign {
            self.terminals
                .get(&req.terminal_id)
                .and_then(|t| t.keys.as_ref().map(|k| (t.mac, k.mak.clone())))
        } else {
            None
        };
        let bytes = match seal(&spec, &mut out, mac.as_ref().map(|(a, k)| (*a, k))) {
            Ok(b) => b,
            Err(e) => {
                self.events.push_back(HostEvent::Rejected {
                    conn,
                    at: now,
                    reason: format!("reply could not be encoded: {e}"),
                });
                return;
            }
        };
        let delayed_until = delay.map(|d| now.plus(d));
        if self.traffic_events {
            let info = CodeTable::lookup(self.spec.codes, &reply.code);
            self.events.push_back(HostEvent::Replied {
                conn,
                at: now,
                kind: kind.as_str().to_owned(),
                terminal: req.terminal_id.clone(),
                stan: req.stan,
                code: reply.code.clone(),
                meaning: info.meaning.to_owned(),
                delayed_until,
            });
        }
        let t = Transmit { conn, bytes };
        match delayed_until {
            Some(at) if at > now => {
                self.delay_seq += 1;
                self.delayed.push((at, self.delay_seq, t));
            }
            _ => self.transmits.push_back(t),
        }
    }

    /// A frame that does not decode: a format error to a request whose MTI
    /// can be read (echoing the fields before the broken one), nothing to a
    /// response, and [`HostEvent::Unreadable`] when not even the MTI can be
    /// read.
    fn answer_undecodable(
        &mut self,
        now: Timestamp,
        conn: ConnId,
        frame: &[u8],
        err: &cardwire_codec::DecodeError,
    ) {
        let spec = Arc::clone(&self.spec);
        let readable = match salvage(&spec, frame, err) {
            Salvage::Readable(f) => f,
            Salvage::Unreadable => {
                self.events.push_back(HostEvent::Unreadable {
                    conn,
                    at: now,
                    reason: format!("{err}; no MTI to answer"),
                });
                return;
            }
        };
        let Ok(msg) = decode(&spec, &readable) else {
            return;
        };
        if !msg.mti().is_request() {
            self.events.push_back(HostEvent::Rejected {
                conn,
                at: now,
                reason: format!("{err} (MTI {}, not a request)", msg.mti()),
            });
            return;
        }
        let reply = Reply {
            code: Reason::FormatError.code(spec.codes).into(),
            ..Reply::default()
        };
        let mut out = reply.to_message(self.dialect, &msg, now);
        match seal(&spec, &mut out, None) {
            Ok(bytes) => {
                self.events.push_back(HostEvent::Rejected {
                    conn,
                    at: now,
                    reason: format!("{err}; answered {} {}", out.mti, reply.code),
                });
                self.transmits.push_back(Transmit { conn, bytes });
            }
            Err(e) => self.events.push_back(HostEvent::Rejected {
                conn,
                at: now,
                reason: format!("{err}; the format-error reply could not be encoded: {e}"),
            }),
        }
    }

    /// Time has come: releases delayed replies that are due.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.delayed.sort_by_key(|(at, seq, _)| (*at, *seq));
        while self.delayed.first().is_some_and(|(at, _, _)| *at <= now) {
            let (_, _, t) = self.delayed.remove(0);
            self.transmits.push_back(t);
        }
    }

    /// The connection closed: replies still held for it are discarded.
    pub fn handle_disconnect(&mut self, _now: Timestamp, conn: ConnId) {
        self.delayed.retain(|(_, _, t)| t.conn != conn);
        self.transmits.retain(|t| t.conn != conn);
    }

    // ----- outputs ------------------------------------------------------

    /// Next frame to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// When [`Host::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.delayed.iter().map(|(at, _, _)| *at).min()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<HostEvent> {
        self.events.pop_front()
    }

    // ----- control and inspection ---------------------------------------

    /// Whether to emit [`HostEvent::Received`] and [`HostEvent::Replied`]
    /// (on by default). A driver that journals the frames itself turns them
    /// off and saves their allocations.
    pub fn set_traffic_events(&mut self, on: bool) {
        self.traffic_events = on;
    }

    /// How requests are decoded: [`DecodeMode::Strict`] (the default), or
    /// [`DecodeMode::Lenient`], which reads past deviations that leave the
    /// frame readable (lowercase hex, an overlong field, bytes after the
    /// last field ...) and decides the request as read. A request whose
    /// lenient decode still stops is answered as an undecodable one.
    pub fn set_decode_mode(&mut self, mode: DecodeMode) {
        self.decode_mode = mode;
    }

    /// Whether to emit [`HostEvent::Journal`] and
    /// [`HostEvent::Notification`] (on by default). Balances, the ledger and
    /// every decision are the same either way.
    pub fn set_booking_events(&mut self, on: bool) {
        self.booking_events = on;
    }

    /// Sets the issuer state (up, down, unreachable, slow).
    pub fn set_issuer_state(&mut self, state: IssuerState) {
        self.issuer = state;
    }

    /// The issuer state.
    pub fn issuer_state(&self) -> IssuerState {
        self.issuer
    }

    /// Replaces the response rules.
    pub fn set_rules(&mut self, rules: Vec<ResponseRule>) {
        self.rules.replace(rules);
    }

    /// Adds a rule in front of the others.
    pub fn add_rule(&mut self, rule: ResponseRule) {
        self.rules.push_front(rule);
    }

    /// The response rules.
    pub fn rules(&self) -> Vec<ResponseRule> {
        self.rules.rules().cloned().collect()
    }

    /// Balance of an account (card accounts by account id, merchants as
    /// `merchant:<id>`).
    pub fn balance(&self, account: &str) -> Option<i64> {
        self.accounts.get(account).copied()
    }

    /// Balance of the account behind card `card_id`.
    pub fn card_balance(&self, card_id: &str) -> Option<i64> {
        let c = self.card_by_id(card_id)?;
        self.balance(c.cfg.account_id())
    }

    /// Every account and its balance.
    pub fn accounts(&self) -> &BTreeMap<String, i64> {
        &self.accounts
    }

    /// Sum of all balances at start (money is conserved: always equal to
    /// the current sum).
    pub fn opening_total(&self) -> i64 {
        self.opening.values().sum()
    }

    /// Stores a snapshot of the host's state in the ledger (see
    /// [`Ledger::save_snapshot`]), so that a restart replays only the
    /// entries after it. The host does so by itself every
    /// `snapshot_every` entries; a driver also calls it at shutdown.
    ///
    /// # Errors
    ///
    /// The ledger's.
    pub fn save_snapshot(&mut self) -> Result<(), LedgerError> {
        let seq = self.book.last_seq();
        if seq == 0 {
            return Ok(());
        }
        let mut moved = BTreeMap::new();
        for (a, b) in &self.accounts {
            let d = b - self.opening.get(a).copied().unwrap_or(0);
            if d != 0 {
                moved.insert(a.clone(), d);
            }
        }
        let snap = Snapshot {
            version: Snapshot::VERSION,
            seq,
            at: self.last_at,
            moved,
            holds: self.holds.iter().map(|(a, h)| (a.clone(), *h)).collect(),
            daily: self
                .daily
                .iter()
                .map(|((a, d), v)| (a.clone(), *d, *v))
                .collect(),
            pin_fail: self
                .pin_fail
                .iter()
                .map(|(c, (d, n))| (c.clone(), *d, *n))
                .collect(),
            locked: self
                .cards
                .values()
                .filter(|c| c.hard_locked)
                .map(|c| c.cfg.id.clone())
                .collect(),
            batches: self
                .terminals
                .iter()
                .map(|(id, t)| (id.clone(), t.batch))
                .collect(),
            book: &self.book,
        };
        // Sized first: a buffer grown by doubling would leave its
        // smaller copies behind in the allocator.
        let err = |e: postcard::Error| LedgerError::Backend(format!("snapshot: {e}"));
        let mut bytes = vec![0; postcard::experimental::serialized_size(&snap).map_err(err)?];
        postcard::to_slice(&snap, &mut bytes).map_err(err)?;
        self.ledger.save_snapshot(seq, bytes)
    }

    /// Takes the state of a snapshot (on a host fresh from its
    /// configuration).
    fn restore(&mut self, s: Snapshot) {
        for (a, d) in s.moved {
            *self.accounts.entry(a).or_insert(0) += d;
        }
        self.holds = s.holds.into_iter().collect();
        self.daily = s.daily.into_iter().map(|(a, d, v)| ((a, d), v)).collect();
        self.pin_fail = s
            .pin_fail
            .into_iter()
            .map(|(c, d, n)| (c, (d, n)))
            .collect();
        for id in s.locked {
            if let Some(c) = self.pan_of.get(&id).and_then(|p| self.cards.get_mut(p)) {
                c.hard_locked = true;
            }
        }
        for (id, b) in s.batches {
            if let Some(t) = self.terminals.get_mut(&id) {
                t.batch = b;
            }
        }
        let keep_days = self.book.keep_days();
        self.book = s.book;
        self.book.set_keep_days(keep_days);
        self.book.reindex();
        self.last_at = s.at;
    }

    /// How many journal entries there are (the last one's number).
    pub fn entries(&self) -> u64 {
        self.book.last_seq()
    }

    /// How many journal entries were approvals.
    pub fn approved_entries(&self) -> u64 {
        self.book.approved()
    }

    /// How many entries the host holds in memory (the retention window
    /// and the pre-authorizations still holding money).
    pub fn entries_in_memory(&self) -> usize {
        self.book.len()
    }

    /// The approved sales after entry `since` that debited a card and
    /// stand (not reversed), by terminal, and the last STAN of each
    /// terminal, for terminals whose id starts with `terminal_prefix`;
    /// over the entries in memory.
    pub fn audit(&self, terminal_prefix: &str, since: u64) -> Audit {
        let mut a = Audit {
            last_seq: self.book.last_seq(),
            ..Audit::default()
        };
        for (seq, r) in self.book.iter() {
            let terminal = self.book.terminal(r);
            if !terminal.starts_with(terminal_prefix) {
                continue;
            }
            let last = a.last_stan.entry(terminal.to_owned()).or_insert(0);
            *last = (*last).max(r.stan);
            // Sales only: a reversal of a void also debits the card,
            // under the void's STAN, and is not a sale the terminal
            // should have in its journal.
            if seq > since
                && r.kind == TxnKind::Sale
                && r.approved()
                && self
                    .book
                    .postings(seq)
                    .iter()
                    .any(|p| p.delta < 0 && self.card_accounts.contains(&p.account))
                && !matches!(self.book.status(seq), Status::Reversed(_))
            {
                a.debits
                    .entry(terminal.to_owned())
                    .or_default()
                    .push(r.stan);
            }
        }
        a
    }

    /// The ledger.
    pub fn ledger(&self) -> &L {
        &self.ledger
    }

    /// The ledger, to commit it (see [`Ledger::commit`]).
    pub fn ledger_mut(&mut self) -> &mut L {
        &mut self.ledger
    }

    /// Whether entry `seq` has been reversed (of the entries in memory).
    pub fn is_reversed(&self, seq: u64) -> bool {
        matches!(self.book.status(seq), Status::Reversed(_))
    }

    /// Whether entry `seq` is still open (not voided, completed or
    /// reversed; of the entries in memory).
    pub fn is_open(&self, seq: u64) -> bool {
        self.book.get(seq).is_some() && self.book.status(seq) == Status::Open
    }

    /// The spec this host speaks.
    pub fn spec(&self) -> &Arc<Spec> {
        &self.spec
    }

    /// The batch the host expects from a terminal.
    pub fn terminal_batch(&self, terminal: &str) -> Option<u32> {
        self.terminals.get(terminal).map(|t| t.batch)
    }

    // ----- decisions ----------------------------------------------------

    fn card_by_id(&self, id: &str) -> Option<&CardState> {
        self.cards.get(self.pan_of.get(id)?)
    }

    /// (reply, delay, whether to MAC it) or `None` for a silent drop.
    fn decide(
        &mut self,
        now: Timestamp,
        conn: ConnId,
        msg: &MessageRef<'_>,
        req: &Request,
        kind: TxnKind,
    ) -> Option<(Reply, Option<core::time::Duration>, bool)> {
        let codes = self.spec.codes;
        let code = |r: Reason| Reply {
            code: r.code(codes).into(),
            ..Reply::default()
        };
        // An echo test (or other network management that is not a sign-on
        // or sign-off) checks the link, not a terminal: switches and many
        // terminals send it without field 41.
        if req.terminal_id.is_empty() && matches!(kind, TxnKind::Echo | TxnKind::NetworkManagement)
        {
            return Some((code(Reason::Approved), None, false));
        }
        let Some(term) = self.terminals.get(&req.terminal_id) else {
            return Some((code(Reason::UnknownTerminal), None, false));
        };
        if term.merchant != req.merchant_id {
            return Some((code(Reason::WrongMerchant), None, false));
        }
        let network = matches!(
            kind,
            TxnKind::SignOn | TxnKind::SignOff | TxnKind::Echo | TxnKind::NetworkManagement
        );
        if !network {
            if let Some(keys) = &term.keys {
                let bad = if req.has_mac {
                    check_mac(msg, term.mac, &keys.mak).is_err()
                } else {
                    self.require_mac
                };
                if bad {
                    return Some((code(Reason::BadMac), None, false));
                }
            } else if self.require_mac {
                // No working keys yet: the terminal must sign on first.
                return Some((code(Reason::NotSignedOn), None, false));
            }
        }
        let sign = !network && term.keys.is_some();
        match kind {
            TxnKind::SignOn => return Some((self.sign_on(now, req), None, false)),
            TxnKind::SignOff | TxnKind::Echo | TxnKind::NetworkManagement => {
                return Some((code(Reason::Approved), None, false));
            }
            TxnKind::Settlement => {
                let reply = self.settle(req);
                if reply.code == Reason::Approved.code(codes) {
                    let entry = self.entry(now, req, kind, None, Draft::approve(Vec::new()));
                    if let Err(e) = self.ledger.append(&entry) {
                        self.events.push_back(HostEvent::Rejected {
                            conn,
                            at: now,
                            reason: format!("ledger: {e}"),
                        });
                        return Some((code(Reason::SystemError), None, sign));
                    }
                    self.apply(&entry, true);
                }
                return Some((reply, None, sign));
            }
            TxnKind::BatchUpload => return Some((code(Reason::Approved), None, sign)),
            TxnKind::Unknown | TxnKind::KeyExchange => {
                return Some((code(Reason::NotSupported), None, sign));
            }
            _ => {}
        }
        // Financial requests.
        let card_id = req
            .pan
            .as_deref()
            .and_then(|p| self.cards.get(p))
            .map(|c| c.cfg.id.clone());
        let mut delay = None;
        let forced = if term.batch != req.batch.unwrap_or(term.batch) {
            Some(Draft::decline(Reason::BatchMismatch))
        } else if kind != TxnKind::Reversal
            && self
                .book
                .by_day(&req.terminal_id, req.stan, now.day())
                .is_some()
        {
            Some(Draft::decline(Reason::Duplicate))
        } else {
            let outcome = self.rules.evaluate(req, card_id.as_deref());
            if outcome.drop {
                self.events.push_back(HostEvent::Dropped {
                    conn,
                    at: now,
                    terminal: req.terminal_id.clone(),
                    stan: req.stan,
                });
                return None;
            }
            delay = outcome.delay;
            match self.issuer {
                IssuerState::Down => Some(Draft::decline(Reason::IssuerDown)),
                IssuerState::Unreachable => Some(Draft::decline(Reason::IssuerUnreachable)),
                IssuerState::Slow => {
                    delay = Some(delay.unwrap_or_default().max(self.slow_delay));
                    Some(Draft::decline(Reason::IssuerTimeout))
                }
                IssuerState::Up => outcome.respond.filter(|c| c != "00").map(Draft::given),
            }
        };
        let draft = match forced {
            Some(d) => d,
            None => self.authorize(now, req, kind),
        };
        let entry = self.entry(now, req, kind, card_id, draft);
        let mut reply = Reply {
            code: entry.code.clone(),
            rrn: Some(entry.rrn.clone()),
            auth_code: entry.auth_code.clone(),
            ..Reply::default()
        };
        if let Err(e) = self.ledger.append(&entry) {
            self.events.push_back(HostEvent::Rejected {
                conn,
                at: now,
                reason: format!("ledger: {e}"),
            });
            return Some((code(Reason::SystemError), delay, sign));
        }
        if kind == TxnKind::BalanceInquiry && entry.approved() {
            reply.balance = card_pan(req).and_then(|p| self.available(p));
        }
        self.apply(&entry, true);
        Some((reply, delay, sign))
    }

    fn entry(
        &mut self,
        now: Timestamp,
        req: &Request,
        kind: TxnKind,
        card: Option<String>,
        d: Draft,
    ) -> Entry {
        let seq = self.book.last_seq() + 1;
        // A reversal carries no card data: it acts on the original's card.
        let orig = d.original.and_then(|o| self.book.get(o));
        let card = card.or_else(|| orig.and_then(|o| self.book.card(o)).map(str::to_owned));
        let pan_masked = req.pan.as_deref().map_or_else(
            || {
                card.as_deref()
                    .and_then(|c| self.pan_of.get(c))
                    .map(|p| mask_pan(p.as_bytes()))
            },
            |p| Some(mask_pan(p.as_bytes())),
        );
        let code = match d.verdict {
            Verdict::Reason(r) => r.code(self.spec.codes).to_owned(),
            Verdict::Given(c) => c,
        };
        let auth_code = (code == "00" && kind != TxnKind::Reversal)
            .then(|| format!("{:06}", self.rng.next_u32() % 1_000_000));
        Entry {
            seq,
            at: now,
            day: now.day(),
            kind: kind.as_str().to_owned(),
            mti: req.mti.map(|m| m.as_str().to_owned()).unwrap_or_default(),
            terminal: req.terminal_id.clone(),
            merchant: req.merchant_id.clone(),
            stan: req.stan,
            batch: req.batch.unwrap_or(0),
            card,
            pan_masked,
            amount: req.amount.unwrap_or(0),
            currency: req.currency.unwrap_or(self.currency),
            code,
            rrn: crate::book::rrn(now, seq),
            auth_code,
            original: d.original,
            postings: d.postings,
            hold: d.hold,
        }
    }

    fn available(&self, pan: &str) -> Option<i64> {
        let acct = self.cards.get(pan)?.cfg.account_id();
        Some(self.accounts.get(acct)? - self.holds.get(acct).copied().unwrap_or(0))
    }

    fn sign_on(&mut self, now: Timestamp, req: &Request) -> Reply {
        let codes = self.spec.codes;
        // A retransmitted sign-on (same STAN, same day) gets the same keys:
        // fresh keys would leave the terminal with the first reply's keys
        // and the host with the second's.
        if let Some(t) = self.terminals.get(&req.terminal_id) {
            if let Some((stan, day, wrapped)) = &t.last_sign_on {
                if *stan == req.stan && *day == now.day() {
                    return Reply {
                        code: Reason::Approved.code(codes).into(),
                        keys: Some(wrapped.clone()),
                        batch: Some(t.batch),
                        ..Reply::default()
                    };
                }
            }
        }
        let layout = match req.net_code.as_deref() {
            Some("001") if self.dialect == Dialect::UnionPay => Field62Layout::Bytes24,
            Some("004") => Field62Layout::Bytes60,
            _ => Field62Layout::Bytes40,
        };
        let mut rng = Seeded(&mut self.rng);
        let Ok(keys) = WorkingKeys::generate(layout, &mut rng) else {
            return Reply {
                code: Reason::SystemError.code(codes).into(),
                ..Reply::default()
            };
        };
        let Some(term) = self.terminals.get_mut(&req.terminal_id) else {
            return Reply {
                code: Reason::UnknownTerminal.code(codes).into(),
                ..Reply::default()
            };
        };
        let Ok(wrapped) = keys.wrap(&term.tmk, layout) else {
            return Reply {
                code: Reason::SystemError.code(codes).into(),
                ..Reply::default()
            };
        };
        term.keys = Some(keys);
        term.last_sign_on = Some((req.stan, now.day(), wrapped.clone()));
        Reply {
            code: Reason::Approved.code(codes).into(),
            keys: Some(wrapped),
            batch: Some(term.batch),
            ..Reply::default()
        }
    }

    fn settle(&mut self, req: &Request) -> Reply {
        let codes = self.spec.codes;
        let Some(batch) = self.terminals.get(&req.terminal_id).map(|t| t.batch) else {
            return Reply {
                code: Reason::UnknownTerminal.code(codes).into(),
                ..Reply::default()
            };
        };
        if req.batch.is_some_and(|b| b != batch) {
            return Reply {
                code: Reason::BatchMismatch.code(codes).into(),
                ..Reply::default()
            };
        }
        let host = self.book.totals(&req.terminal_id, batch);
        let theirs = req.additional.clone().unwrap_or_default();
        let mine = totals_field(host);
        let balanced = theirs.get(..30) == Some(mine.as_str());
        let head = theirs.get(..30).unwrap_or(&mine).to_owned();
        self.events.push_back(HostEvent::Settled {
            terminal: req.terminal_id.clone(),
            batch,
            balanced,
            host_totals: host,
        });
        Reply {
            code: Reason::Approved.code(codes).into(),
            additional: Some(format!("{head}{}", if balanced { '1' } else { '2' })),
            ..Reply::default()
        }
    }

    /// The original of a void, refund or completion, or the decline to send.
    fn original_of(&self, req: &Request) -> Result<(u64, &Rec), Draft> {
        let seq = self.find_original(req).map_err(Draft::decline)?;
        let rec = self
            .book
            .get(seq)
            .ok_or_else(|| Draft::decline(Reason::OriginalNotFound))?;
        Ok((seq, rec))
    }

    /// Whether the request's card is the original's.
    fn same_card(&self, req: &Request, orig: &Rec) -> bool {
        card_pan(req)
            .and_then(|p| self.cards.get(p))
            .map(|c| c.cfg.id.as_str())
            == self.book.card(orig)
    }

    /// Looks up the original of a void, refund or completion.
    fn find_original(&self, req: &Request) -> Result<u64, Reason> {
        if let Some(rrn) = req.rrn.as_deref().filter(|r| !r.trim().is_empty()) {
            if let Some(seq) = self.book.by_rrn(rrn) {
                let r = self.book.get(seq).ok_or(Reason::OriginalNotFound)?;
                if self.book.terminal(r) != req.terminal_id {
                    return Err(Reason::WrongTerminal);
                }
                return Ok(seq);
            }
        }
        let o = req.original.clone().unwrap_or_default();
        self.book
            .by_batch(
                &req.terminal_id,
                o.batch.or(req.batch).unwrap_or(0),
                o.stan.ok_or(Reason::OriginalNotFound)?,
            )
            .ok_or(Reason::OriginalNotFound)
    }

    fn authorize(&mut self, now: Timestamp, req: &Request, kind: TxnKind) -> Draft {
        match kind {
            TxnKind::Sale | TxnKind::BalanceInquiry | TxnKind::PreAuth => {
                self.debit(now, req, kind)
            }
            TxnKind::Void | TxnKind::PreAuthVoid | TxnKind::PreAuthCompletionVoid => {
                self.void(now, req, kind)
            }
            TxnKind::PreAuthCompletion => self.completion(req),
            TxnKind::Refund => self.refund(req),
            TxnKind::Reversal => self.reversal(req),
            _ => Draft::decline(Reason::NotSupported),
        }
    }

    fn card_checks(&self, now: Timestamp, req: &Request) -> Result<(), Reason> {
        let card = req
            .pan
            .as_deref()
            .and_then(|p| self.cards.get(p))
            .ok_or(Reason::InvalidCard)?;
        match card.cfg.status {
            CardStatus::Active => {}
            CardStatus::Lost => return Err(Reason::LostCard),
            CardStatus::Stolen => return Err(Reason::StolenCard),
            CardStatus::Blocked => return Err(Reason::CardBlocked),
        }
        let expiry: u32 = card.cfg.expiry.parse().unwrap_or(0);
        let today: u32 = now.yymm().parse().unwrap_or(0);
        // YYMM compares as a number within one century.
        if expiry < today {
            return Err(Reason::ExpiredCard);
        }
        if let Some(e) = req.expiry.as_deref() {
            if e != card.cfg.expiry {
                return Err(Reason::ExpiredCard);
            }
        }
        Ok(())
    }

    fn check_pin(&mut self, now: Timestamp, req: &Request, kind: TxnKind) -> Result<(), Reason> {
        let pan = req.pan.clone().unwrap_or_default();
        let Some(card) = self.cards.get(&pan) else {
            return Err(Reason::InvalidCard);
        };
        let contactless = req
            .entry_mode
            .as_deref()
            .is_some_and(|m| m.starts_with("07") || m.starts_with("98"));
        let small = req.amount.unwrap_or(0) <= self.no_pin_limit.minor();
        let Some(block) = req.pin_block else {
            let exempt =
                !card.cfg.pin_required || (contactless && small && kind != TxnKind::BalanceInquiry);
            return if exempt {
                Ok(())
            } else {
                Err(Reason::IncorrectPin)
            };
        };
        if card.hard_locked {
            return Err(Reason::PinTriesExceededLocked);
        }
        let id = card.cfg.id.clone();
        let want = card.cfg.pin.clone();
        let day = now.day();
        let tries = self.pin_fail.entry(id).or_insert((day, 0));
        if tries.0 != day {
            *tries = (day, 0);
        }
        if tries.1 >= self.pin_tries {
            return Err(match self.pin_lock {
                PinLockPolicy::Daily => Reason::PinTriesExceeded,
                PinLockPolicy::Hard => Reason::PinTriesExceededLocked,
            });
        }
        let pik = self
            .terminals
            .get(&req.terminal_id)
            .and_then(|t| t.keys.as_ref())
            .map(|k| k.pik.clone())
            .ok_or(Reason::PinKeyError)?;
        let pan_ref = Pan::new(&pan).map_err(|_| Reason::InvalidCard)?;
        let got = decrypt_pin(
            &pik,
            PinBlockFormat::Iso0,
            &EncryptedPinBlock::from_bytes(block),
            Some(&pan_ref),
        )
        .map_err(|_| Reason::PinKeyError)?;
        if got.expose_secret() == want {
            tries.1 = 0;
            return Ok(());
        }
        tries.1 += 1;
        if tries.1 >= self.pin_tries {
            return Err(match self.pin_lock {
                PinLockPolicy::Daily => Reason::PinTriesExceeded,
                PinLockPolicy::Hard => {
                    if let Some(c) = self.cards.get_mut(&pan) {
                        c.hard_locked = true;
                    }
                    Reason::PinTriesExceededLocked
                }
            });
        }
        Err(Reason::IncorrectPin)
    }

    fn debit(&mut self, now: Timestamp, req: &Request, kind: TxnKind) -> Draft {
        if let Err(c) = self.card_checks(now, req) {
            return Draft::decline(c);
        }
        if let Err(c) = self.check_pin(now, req, kind) {
            return Draft::decline(c);
        }
        let Some(pan) = req.pan.as_deref() else {
            return Draft::decline(Reason::InvalidCard);
        };
        let Some(card) = self.cards.get(pan) else {
            return Draft::decline(Reason::InvalidCard);
        };
        let acct = card.cfg.account_id().to_owned();
        if kind == TxnKind::BalanceInquiry {
            return Draft::approve(Vec::new());
        }
        let amount = req.amount.unwrap_or(0);
        let Ok(signed) = i64::try_from(amount) else {
            return Draft::decline(Reason::InvalidAmount);
        };
        if amount == 0 {
            return Draft::decline(Reason::InvalidAmount);
        }
        if card.cfg.per_txn_limit.is_some_and(|l| amount > l.minor()) {
            return Draft::decline(Reason::ExceedsLimit);
        }
        let spent = self
            .daily
            .get(&(acct.clone(), now.day()))
            .copied()
            .unwrap_or(0);
        if card
            .cfg
            .daily_limit
            .is_some_and(|l| spent.saturating_add(signed) > l.0)
        {
            return Draft::decline(Reason::ExceedsLimit);
        }
        if self.available(pan).unwrap_or(0) < signed {
            return Draft::decline(Reason::InsufficientFunds);
        }
        if kind == TxnKind::PreAuth {
            let mut d = Draft::approve(Vec::new());
            d.hold = signed;
            return d;
        }
        Draft::approve(transfer(acct, &req.merchant_id, signed))
    }

    fn void(&mut self, now: Timestamp, req: &Request, kind: TxnKind) -> Draft {
        let (seq, orig) = match self.original_of(req) {
            Ok(found) => found,
            Err(d) => return d,
        };
        let want = match kind {
            TxnKind::Void => TxnKind::Sale,
            TxnKind::PreAuthVoid => TxnKind::PreAuth,
            _ => TxnKind::PreAuthCompletion,
        };
        let verdict = if orig.kind != want || !orig.approved() {
            Err(Reason::InvalidTransaction)
        } else if self.book.status(seq) != Status::Open {
            Err(Reason::OriginalClosed)
        } else if orig.day != now.day() {
            Err(Reason::InvalidTransaction)
        } else if self.book.terminal(orig) != req.terminal_id {
            Err(Reason::WrongTerminal)
        } else if !self.same_card(req, orig) {
            Err(Reason::InvalidCard)
        } else if req.amount.is_some_and(|a| a != orig.amount) {
            Err(Reason::AmountMismatch)
        } else {
            Ok(())
        };
        match verdict {
            Err(c) => Draft::decline_on(c, seq),
            Ok(()) => {
                let mut d = Draft::approve(negate(&self.book.postings(seq)));
                d.hold = -self.book.hold(seq);
                d.original = Some(seq);
                d
            }
        }
    }

    fn completion(&mut self, req: &Request) -> Draft {
        let (seq, orig) = match self.original_of(req) {
            Ok(found) => found,
            Err(d) => return d,
        };
        let amount = req.amount.unwrap_or(0);
        let verdict = if orig.kind != TxnKind::PreAuth || !orig.approved() {
            Err(Reason::InvalidTransaction)
        } else if self.book.status(seq) != Status::Open {
            Err(Reason::OriginalClosed)
        } else if !self.same_card(req, orig) {
            Err(Reason::InvalidCard)
        } else if amount == 0 || amount > orig.amount {
            Err(Reason::AmountMismatch)
        } else {
            Ok(())
        };
        if let Err(c) = verdict {
            return Draft::decline_on(c, seq);
        }
        let Some(acct) = card_pan(req)
            .and_then(|p| self.cards.get(p))
            .map(|c| c.cfg.account_id().to_owned())
        else {
            return Draft::decline(Reason::InvalidCard);
        };
        let hold = self.book.hold(seq);
        let signed = i64::try_from(amount).unwrap_or(i64::MAX);
        let available = self.accounts.get(&acct).copied().unwrap_or(0)
            - (self.holds.get(&acct).copied().unwrap_or(0) - hold);
        if available < signed {
            return Draft::decline_on(Reason::InsufficientFunds, seq);
        }
        let mut d = Draft::approve(transfer(acct, &req.merchant_id, signed));
        d.hold = -hold;
        d.original = Some(seq);
        d
    }

    fn refund(&mut self, req: &Request) -> Draft {
        let (seq, orig) = match self.original_of(req) {
            Ok(found) => found,
            Err(d) => return d,
        };
        let amount = req.amount.unwrap_or(0);
        let verdict = if !matches!(orig.kind, TxnKind::Sale | TxnKind::PreAuthCompletion)
            || !orig.approved()
        {
            Err(Reason::InvalidTransaction)
        } else if self.book.status(seq) != Status::Open {
            Err(Reason::OriginalClosed)
        } else if !self.same_card(req, orig) {
            Err(Reason::InvalidCard)
        } else if amount == 0 || amount > orig.amount.saturating_sub(self.book.refunded(seq)) {
            Err(Reason::AmountMismatch)
        } else {
            Ok(())
        };
        if let Err(c) = verdict {
            return Draft::decline_on(c, seq);
        }
        let Some(acct) = self
            .book
            .postings(seq)
            .iter()
            .find(|p| p.delta < 0)
            .map(|p| p.account.clone())
        else {
            return Draft::decline_on(Reason::InvalidTransaction, seq);
        };
        let signed = i64::try_from(amount).unwrap_or(i64::MAX);
        let mut d = Draft::approve(transfer(acct, &req.merchant_id, -signed));
        d.original = Some(seq);
        d
    }

    fn reversal(&mut self, req: &Request) -> Draft {
        let Some(seq) = self
            .book
            .by_batch(&req.terminal_id, req.batch.unwrap_or(0), req.stan)
        else {
            return Draft::decline(Reason::OriginalNotFound);
        };
        let Some(orig) = self.book.get(seq) else {
            return Draft::decline(Reason::OriginalNotFound);
        };
        if !orig.kind.is_reversible() {
            return Draft::decline_on(Reason::InvalidTransaction, seq);
        }
        if !orig.approved() {
            return Draft::decline_on(Reason::InvalidTransaction, seq);
        }
        if matches!(self.book.status(seq), Status::Reversed(_)) {
            // Already reversed: the same answer, no second credit.
            let mut d = Draft::approve(Vec::new());
            d.original = Some(seq);
            return d;
        }
        if matches!(self.book.status(seq), Status::Closed(_)) {
            return Draft::decline_on(Reason::OriginalClosed, seq);
        }
        if req.amount.is_some_and(|a| a != orig.amount) {
            return Draft::decline_on(Reason::AmountMismatch, seq);
        }
        if req.pan.is_some() && !self.same_card(req, orig) {
            return Draft::decline_on(Reason::InvalidCard, seq);
        }
        let mut d = Draft::approve(negate(&self.book.postings(seq)));
        d.hold = -self.book.hold(seq);
        d.original = Some(seq);
        d
    }

    // ----- applying entries ---------------------------------------------

    /// Applies one journal entry to balances and indexes. `live` entries
    /// also emit events and notifications; replayed ones do not.
    fn apply(&mut self, e: &Entry, live: bool) {
        let kind = TxnKind::parse(&e.kind).unwrap_or(TxnKind::Unknown);
        if e.day > self.last_at.day() {
            // A new business day: yesterday's spending is all a daily
            // limit still needs.
            let today = e.day;
            self.daily.retain(|(_, day), _| *day + 1 >= today);
        }
        self.last_at = e.at;
        for p in &e.postings {
            *self.accounts.entry(p.account.clone()).or_insert(0) += p.delta;
            if self.card_accounts.contains(&p.account) {
                *self.daily.entry((p.account.clone(), e.day)).or_insert(0) -= p.delta;
            }
        }
        if e.hold != 0 {
            if let Some(acct) = e
                .card
                .as_ref()
                .and_then(|id| self.card_by_id(id))
                .map(|c| c.cfg.account_id().to_owned())
            {
                *self.holds.entry(acct).or_insert(0) += e.hold;
            }
        }
        self.book.push(e, kind);
        match (e.original.filter(|_| e.approved()), kind) {
            // Only the first reversal acts (and only on an original in
            // memory).
            (Some(orig), TxnKind::Reversal) => {
                let first = self.book.get(orig).is_some()
                    && !matches!(self.book.status(orig), Status::Reversed(_));
                if first {
                    self.book.set_status(orig, Status::Reversed(e.seq));
                    // A reversed void gives its sale back.
                    let voided = self.book.original(orig);
                    if let Some(sale) =
                        voided.filter(|&s| self.book.status(s) == Status::Closed(orig))
                    {
                        self.book.set_status(sale, Status::Open);
                    }
                }
            }
            (Some(orig), TxnKind::Refund) => self.book.add_refunded(orig, e.amount),
            (Some(orig), _) => self.book.set_status(orig, Status::Closed(e.seq)),
            (None, _) => {}
        }
        if kind == TxnKind::Settlement {
            if let Some(t) = self.terminals.get_mut(&e.terminal) {
                t.batch = (e.batch + 1) % 1_000_000;
            }
        }
        if live && self.snapshot_every > 0 && e.seq % self.snapshot_every == 0 {
            // A snapshot that cannot be stored only makes the next start
            // replay more.
            let _ = self.save_snapshot();
        }
        if live && self.booking_events {
            self.events.push_back(HostEvent::Journal(e.clone()));
            self.notify(e);
        }
    }

    fn notify(&mut self, e: &Entry) {
        for p in &e.postings {
            if !self.card_accounts.contains(&p.account) {
                continue;
            }
            let Some(card) = e.card.as_ref().and_then(|id| self.card_by_id(id)) else {
                continue;
            };
            let last4 = card
                .cfg
                .pan
                .get(card.cfg.pan.len().saturating_sub(4)..)
                .unwrap_or("");
            let merchant = self
                .terminals
                .get(&e.terminal)
                .map_or("", |t| t.merchant_name.as_str());
            let balance = self.accounts.get(&p.account).copied().unwrap_or(0);
            let cur = cardwire_codec::Amount {
                minor: 0,
                currency: Some(e.currency),
            }
            .currency_alpha()
            .unwrap_or("CNY");
            let verb = if p.delta < 0 { "debited" } else { "credited" };
            let when = e.at.to_string();
            let text = format!(
                "[{}] Card *{last4} {verb} {cur} {} at {merchant} ({}) on {}. Balance {cur} {}.",
                self.bank,
                Money(p.delta.abs()),
                e.kind,
                when.get(5..19).unwrap_or(&when),
                Money(balance),
            );
            self.events.push_back(HostEvent::Notification(Notification {
                at: e.at,
                card: card.cfg.id.clone(),
                account: p.account.clone(),
                kind: e.kind.clone(),
                delta: p.delta,
                balance,
                entry: e.seq,
                text,
            }));
        }
    }
}

/// The merchant settlement account of merchant `mid`.
pub fn merchant_account(mid: &str) -> String {
    format!("merchant:{mid}")
}

fn card_pan(req: &Request) -> Option<&str> {
    req.pan.as_deref()
}

/// `amount` from the card account to the merchant (negative: back).
fn transfer(account: String, merchant: &str, amount: i64) -> Vec<Posting> {
    vec![
        Posting {
            account,
            delta: -amount,
        },
        Posting {
            account: merchant_account(merchant),
            delta: amount,
        },
    ]
}

fn negate(p: &[Posting]) -> Vec<Posting> {
    p.iter()
        .map(|p| Posting {
            account: p.account.clone(),
            delta: -p.delta,
        })
        .collect()
}

/// The code of a decision: the host's own reason, or a code a response
/// rule gives (sent as given).
enum Verdict {
    Reason(Reason),
    Given(String),
}

struct Draft {
    verdict: Verdict,
    postings: Vec<Posting>,
    hold: i64,
    original: Option<u64>,
}

impl Draft {
    fn decline(reason: Reason) -> Self {
        Draft {
            verdict: Verdict::Reason(reason),
            postings: Vec::new(),
            hold: 0,
            original: None,
        }
    }
    fn decline_on(reason: Reason, original: u64) -> Self {
        Draft {
            original: Some(original),
            ..Draft::decline(reason)
        }
    }
    fn given(code: String) -> Self {
        Draft {
            verdict: Verdict::Given(code),
            ..Draft::decline(Reason::Approved)
        }
    }
    fn approve(postings: Vec<Posting>) -> Self {
        Draft {
            verdict: Verdict::Reason(Reason::Approved),
            postings,
            hold: 0,
            original: None,
        }
    }
}

impl<L: Ledger> core::fmt::Debug for Host<L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Host")
            .field("spec", &self.spec.name)
            .field("cards", &self.cards.len())
            .field("terminals", &self.terminals.len())
            .field("entries", &self.book.last_seq())
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl OriginalRef {
    /// Reference to a journal entry's transaction.
    pub fn of(e: &Entry) -> Self {
        OriginalRef {
            batch: Some(e.batch),
            stan: Some(e.stan),
            date: Some(e.at.mmdd()),
        }
    }
}
