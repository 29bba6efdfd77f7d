//! The load generator: many engine terminals on real connections at a
//! target rate, with a latency histogram and an audit against the host.
//!
//! Each virtual terminal is a task with its own connection and its own
//! [`Terminal`] (`10000001`, `10000002` ... as registered by `cardwire host
//! --terminals N`), so every request is a real one: PIN block, MAC,
//! reversal discipline. With a rate, terminal `i` starts its `k`-th
//! action at `t0 + (k * N + i) / rate` (open loop; a terminal that falls
//! behind starts at once, and the report says how many starts were late).
//! Latency is measured per exchange, from writing the request to reading
//! its reply, in microseconds, into an HDR histogram.
//!
//! At the end every terminal sends its pending reversal, then the host's
//! admin socket is asked which debits it holds (approved, not reversed)
//! and each is matched against what the terminal saw approved:
//!
//! - a debit the terminal never saw approved is a **double debit** (the
//!   cardholder pays, the merchant has no slip);
//! - an approval the terminal saw that the host does not hold is a
//!   **lost approval** (must never happen, even across a host crash).

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cardwire_codec::Spec;
use cardwire_engine::Money;
use cardwire_engine::reply_codes::Reason;
use cardwire_engine::terminal::{
    Action, Card, GiveUpPolicy, Terminal, TerminalConfig, TerminalEvent, TerminalState,
};
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::json;

use crate::NetError;
use crate::framing::FrameCodec;
use crate::host::{LOAD_CARD_PAN, LOAD_CARD_PIN, load_terminal_id};
use crate::terminal::{Connection, Dial, Progress, run_action};

/// Weights of the transaction mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Mix {
    /// Sales.
    pub sale: u32,
    /// Voids of an earlier sale of the same terminal (a sale when there
    /// is none).
    pub void: u32,
    /// Balance inquiries.
    pub balance: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            sale: 90,
            void: 5,
            balance: 5,
        }
    }
}

impl Mix {
    /// Parses `sale=90,void=5,balance=5` (missing names weigh 0).
    ///
    /// # Errors
    ///
    /// A message for unknown names, bad numbers or an all-zero mix.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut m = Mix {
            sale: 0,
            void: 0,
            balance: 0,
        };
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: expected name=weight"))?;
            let v: u32 = v
                .trim()
                .parse()
                .map_err(|_| format!("{part:?}: weight is not a number"))?;
            match k.trim() {
                "sale" => m.sale = v,
                "void" => m.void = v,
                "balance" => m.balance = v,
                other => {
                    return Err(format!(
                        "unknown transaction {other:?}: sale, void, balance"
                    ));
                }
            }
        }
        if m.sale + m.void + m.balance == 0 {
            return Err("the mix is empty".into());
        }
        Ok(m)
    }

    fn pick(&self, r: u32) -> Pick {
        let total = self.sale + self.void + self.balance;
        let x = r % total.max(1);
        if x < self.sale {
            Pick::Sale
        } else if x < self.sale + self.void {
            Pick::Void
        } else {
            Pick::Balance
        }
    }
}

enum Pick {
    Sale,
    Void,
    Balance,
}

/// The key in [`LoadReport::codes`] of actions whose reply never came.
const NO_REPLY_TIMEOUT: &str = "timeout";
/// The key of actions that could not reach the host.
const NO_REPLY_LINK_DOWN: &str = "link-down";

/// The load's options.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The dialect.
    pub spec: Arc<Spec>,
    /// The host (or a proxy in front of it).
    pub addr: SocketAddr,
    /// Framing.
    pub codec: FrameCodec,
    /// Virtual terminals (`10000001..`).
    pub terminals: u32,
    /// Target actions per second over all terminals (`None`: as fast as
    /// the host answers).
    pub rate: Option<f64>,
    /// How long.
    pub duration: Duration,
    /// The mix.
    pub mix: Mix,
    /// Sale amount.
    pub amount: Money,
    /// The terminals' response timeout.
    pub timeout: Duration,
    /// Conforming terminals (reverse) or not.
    pub conforming: bool,
    /// What a terminal does after its last reversal attempt.
    pub give_up: GiveUpPolicy,
    /// The host's admin socket, for the audit (`None`: no audit).
    pub admin: Option<SocketAddr>,
    /// The admin socket's token, if it has one.
    pub admin_token: Option<crate::control::AdminToken>,
    /// What every terminal starts from: keys, sign-on, MAC algorithm, TMK,
    /// merchant (its terminal id, timeout and reversal settings are the
    /// load's own).
    pub profile: TerminalConfig,
    /// The cards to present, in turn (empty: the host's `load` card).
    pub cards: Vec<Card>,
}

/// Counters the caller can watch while the load runs (progress bar).
#[derive(Debug, Default)]
pub struct LoadCounters {
    /// Actions completed.
    pub done: AtomicU64,
    /// Actions approved.
    pub approved: AtomicU64,
    /// Actions that timed out or lost the link.
    pub failed: AtomicU64,
    /// Actions started later than their schedule.
    pub late: AtomicU64,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Exchanges measured.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th.
    pub p99_ms: f64,
    /// 99.9th.
    pub p999_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

/// The final report.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Terminals.
    pub terminals: u32,
    /// Target rate, if any.
    pub target_rate: Option<f64>,
    /// Wall time of the run, seconds.
    pub elapsed_s: f64,
    /// Operator actions completed (sale, void, balance), whatever their
    /// outcome.
    pub actions: u64,
    /// Actions per second.
    pub actions_per_s: f64,
    /// Actions the host decided: approved or declined (the throughput).
    pub decided: u64,
    /// Decided actions per second.
    pub decided_per_s: f64,
    /// Actions the host refused before deciding (unknown terminal, MAC,
    /// keys, batch, duplicate, format ...), by code.
    pub rejected: BTreeMap<String, u64>,
    /// Request/reply exchanges (including sign-ons and reversals).
    pub exchanges: u64,
    /// Exchanges per second (authorizations per second).
    pub exchanges_per_s: f64,
    /// Starts later than the schedule by more than 10 ms.
    pub late_starts: u64,
    /// Exchange latency.
    pub latency: Latency,
    /// Final response codes of the actions (`timeout`, `link-down` for
    /// none).
    pub codes: BTreeMap<String, u64>,
    /// Reversals (0400) sent, retries included.
    pub reversals_sent: u64,
    /// Reversals the host acknowledged.
    pub reversals_cleared: u64,
    /// Reversals still pending at the end.
    pub reversals_pending: u64,
    /// The audit against the host (when an admin socket was given).
    pub audit: Option<Audit>,
    /// Why the audit could not run, when an admin socket was given.
    pub audit_error: Option<String>,
    /// Faults the plan struck (when run through a fault proxy; the
    /// caller fills it in).
    pub faults_struck: Option<u64>,
    /// What the terminals saw, host audit or not.
    pub client: ClientView,
    /// Exchange latency per transaction kind (sign-on, sale, reversal ...).
    pub latency_by_kind: BTreeMap<String, Latency>,
    /// Actions (sign-ons included) started per second, against the
    /// target rate.
    pub started_per_s: f64,
    /// The schedule slipped: over 5 % of the starts were late, or fewer
    /// than 90 % of the scheduled starts happened (the host, or this
    /// machine, did not keep up with `--rate`).
    pub fell_behind: bool,
}

/// The outcome of the run as the terminals saw it: all a load against a
/// host without an admin socket can know.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClientView {
    /// Actions approved.
    pub approved: u64,
    /// Actions the host answered with another code.
    pub declined: u64,
    /// Actions without a reply (timeout or link down after sending).
    pub no_reply: u64,
    /// Sales and voids whose outcome the terminal could not learn: no
    /// reply, or an approval that failed its MAC. The host may have
    /// booked them.
    pub unknown_outcomes: u64,
    /// Of those, the ones never reversed (the reversal given up and
    /// dropped, still pending at the end, or a non-conforming terminal
    /// that never reverses): possible double debits.
    pub unreversed: u64,
}

/// The audit against the host's ledger.
#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    /// Debits the host holds (approved, not reversed) for these terminals.
    pub host_debits: u64,
    /// Sales the terminals saw approved.
    pub terminal_approvals: u64,
    /// Debits the terminals never saw approved (cardholder debited, no slip).
    pub double_debits: u64,
    /// Approvals the host does not hold.
    pub lost_approvals: u64,
}

struct TermResult {
    hist: Histogram<u64>,
    by_kind: BTreeMap<String, Histogram<u64>>,
    view: ClientView,
    starts: u64,
    dropped: u64,
    codes: BTreeMap<String, u64>,
    approved_sales: Vec<u32>,
    stored: u64,
    cleared: u64,
    pending: bool,
    late: u64,
    actions: u64,
}

fn new_hist() -> Histogram<u64> {
    // 1 µs .. 10 minutes, 3 significant digits: constant, valid bounds.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// Runs the load and returns the report.
///
/// # Errors
///
/// [`NetError::Other`] for options that make no sense (no terminals), or
/// when a terminal task fails.
pub async fn run(opts: LoadOptions, counters: Arc<LoadCounters>) -> Result<LoadReport, NetError> {
    if opts.terminals == 0 {
        return Err(NetError::Other("--terminals must be at least 1".into()));
    }
    // A host that already saw these terminals today would answer 94
    // (duplicate) to a STAN it knows: continue after the last one it saw.
    // The audit at the end looks only at entries after this run began.
    let mut admin = opts.admin;
    let mut audit_error = None;
    let (last_stan, since): (BTreeMap<String, u32>, u64) = match admin {
        Some(a) => match crate::control::request_with_token(
            a,
            &json!({"cmd": "audit", "terminal_prefix": "1", "since": u64::MAX}),
            opts.admin_token.as_ref(),
        )
        .await
        .and_then(|r| {
            // A refusal (a wrong token, say) is no audit either.
            if r.get("ok") == Some(&serde_json::Value::Bool(true)) {
                Ok(r)
            } else {
                Err(NetError::Other(format!(
                    "the admin socket refused the audit: {r}"
                )))
            }
        }) {
            Ok(r) => (
                r.get("last_stan")
                    .cloned()
                    .and_then(|v| serde_json::from_value(v).ok())
                    .unwrap_or_default(),
                r.get("last_seq")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0),
            ),
            Err(e) => {
                // Without the admin socket the run goes on, unaudited.
                tracing::warn!("no audit: {e}");
                admin = None;
                audit_error = Some(format!("admin socket unreachable at the start: {e}"));
                (BTreeMap::new(), 0)
            }
        },
        None => (BTreeMap::new(), 0),
    };
    let t0 = Instant::now();
    let deadline = t0 + opts.duration;
    let mut tasks = Vec::new();
    for i in 0..opts.terminals {
        let o = opts.clone();
        let c = Arc::clone(&counters);
        let stan = last_stan.get(&load_terminal_id(i)).copied().unwrap_or(0);
        tasks.push(tokio::spawn(async move {
            terminal_task(i, stan, &o, t0, deadline, &c).await
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(
            t.await
                .map_err(|e| NetError::Other(format!("terminal task: {e}")))??,
        );
    }
    let elapsed = t0.elapsed().as_secs_f64().max(1e-9);
    let mut hist = new_hist();
    let mut by_kind: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    let mut client = ClientView::default();
    let mut codes = BTreeMap::new();
    let (mut stored, mut cleared, mut pending, mut late, mut actions) = (0, 0, 0, 0, 0);
    for r in &results {
        let _ = hist.add(&r.hist);
        for (k, h) in &r.by_kind {
            let _ = by_kind.entry(k.clone()).or_insert_with(new_hist).add(h);
        }
        client.approved += r.view.approved;
        client.declined += r.view.declined;
        client.no_reply += r.view.no_reply;
        client.unknown_outcomes += r.view.unknown_outcomes;
        client.unreversed += if opts.conforming {
            r.dropped + u64::from(r.pending)
        } else {
            r.view.unknown_outcomes
        };
        for (k, v) in &r.codes {
            *codes.entry(k.clone()).or_insert(0) += v;
        }
        stored += r.stored;
        cleared += r.cleared;
        pending += u64::from(r.pending);
        late += r.late;
        actions += r.actions;
    }
    let latency = latency_of(&hist);
    let latency_by_kind = by_kind
        .iter()
        .map(|(k, h)| (k.clone(), latency_of(h)))
        .collect();
    let starts: u64 = results.iter().map(|r| r.starts).sum();
    let started_per_s = starts as f64 / elapsed;
    let fell_behind = opts.rate.is_some_and(|rate| {
        late * 20 > starts || (starts as f64) < 0.9 * rate * opts.duration.as_secs_f64()
    });
    // A report is worth having without its audit: say why it is missing.
    let audit = match admin {
        Some(a) => match audit(a, since, &opts, &results).await {
            Ok(a) => Some(a),
            Err(e) => {
                audit_error = Some(e.to_string());
                None
            }
        },
        None => None,
    };
    let mut rejected = BTreeMap::new();
    let mut decided = 0;
    for (code, n) in &codes {
        if code == NO_REPLY_TIMEOUT || code == NO_REPLY_LINK_DOWN {
            continue;
        }
        match Reason::from_code(opts.spec.codes, code) {
            Some(r) if r.is_rejection() => {
                rejected.insert(code.clone(), *n);
            }
            _ => decided += n,
        }
    }
    Ok(LoadReport {
        terminals: opts.terminals,
        target_rate: opts.rate,
        elapsed_s: elapsed,
        actions,
        actions_per_s: actions as f64 / elapsed,
        decided,
        decided_per_s: decided as f64 / elapsed,
        rejected,
        exchanges: hist.len(),
        exchanges_per_s: hist.len() as f64 / elapsed,
        late_starts: late,
        latency,
        codes,
        reversals_sent: stored,
        reversals_cleared: cleared,
        reversals_pending: pending,
        audit,
        audit_error,
        faults_struck: None,
        client,
        latency_by_kind,
        started_per_s,
        fell_behind,
    })
}

fn latency_of(hist: &Histogram<u64>) -> Latency {
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    Latency {
        count: hist.len(),
        p50_ms: ms(0.50),
        p90_ms: ms(0.90),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        max_ms: hist.max() as f64 / 1000.0,
        mean_ms: hist.mean() / 1000.0,
    }
}

async fn audit(
    admin: SocketAddr,
    since: u64,
    opts: &LoadOptions,
    results: &[TermResult],
) -> Result<Audit, NetError> {
    let reply = crate::control::request_with_token(
        admin,
        &json!({"cmd": "audit", "terminal_prefix": "1", "since": since}),
        opts.admin_token.as_ref(),
    )
    .await?;
    let debits = reply
        .get("debits")
        .and_then(|d| d.as_object())
        .ok_or_else(|| NetError::Other(format!("audit reply without debits: {reply}")))?;
    let mut a = Audit {
        host_debits: 0,
        terminal_approvals: 0,
        double_debits: 0,
        lost_approvals: 0,
    };
    for (i, r) in (0..opts.terminals).zip(results) {
        let id = load_terminal_id(i);
        let host: HashSet<u32> = debits
            .get(&id)
            .and_then(|v| v.as_array())
            .map(|v| {
                v.iter()
                    .filter_map(|s| s.as_u64().and_then(|s| u32::try_from(s).ok()))
                    .collect()
            })
            .unwrap_or_default();
        let term: HashSet<u32> = r.approved_sales.iter().copied().collect();
        a.host_debits += host.len() as u64;
        a.terminal_approvals += term.len() as u64;
        a.double_debits += host.difference(&term).count() as u64;
        a.lost_approvals += term.difference(&host).count() as u64;
    }
    Ok(a)
}

async fn terminal_task(
    i: u32,
    first_stan: u32,
    o: &LoadOptions,
    t0: Instant,
    deadline: Instant,
    counters: &LoadCounters,
) -> Result<TermResult, NetError> {
    let cfg = TerminalConfig {
        terminal_id: load_terminal_id(i),
        timeout: o.timeout,
        conforming: o.conforming,
        give_up: o.give_up,
        ..o.profile.clone()
    };
    let state = TerminalState {
        stan: first_stan % 999_999,
        batch: 1,
        ..TerminalState::default()
    };
    let mut term = Terminal::restore(Arc::clone(&o.spec), cfg, state)
        .map_err(|e| NetError::Engine(e.to_string()))?;
    let dial = Dial::new(o.addr, o.codec, &o.spec);
    let card = Card {
        id: Some(crate::host::LOAD_CARD_ID.into()),
        pan: LOAD_CARD_PAN.into(),
        expiry: Some("3012".into()),
        pin: Some(LOAD_CARD_PIN.into()),
        entry: Default::default(),
        track2: None,
    };
    let mut r = TermResult {
        hist: new_hist(),
        by_kind: BTreeMap::new(),
        view: ClientView::default(),
        starts: 0,
        dropped: 0,
        codes: BTreeMap::new(),
        approved_sales: Vec::new(),
        stored: 0,
        cleared: 0,
        pending: false,
        late: 0,
        actions: 0,
    };
    let mut conn: Option<Connection> = None;
    let mut rng: u64 =
        0x9E37_79B9_7F4A_7C15 ^ (u64::from(i) + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let mut k: u64 = 0;
    // Spread the first starts over one period so terminals do not all
    // fire at once.
    let period = o
        .rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(f64::from(o.terminals) / r));
    let offset = period.map_or(Duration::ZERO, |p| {
        p.mul_f64(f64::from(i) / f64::from(o.terminals))
    });
    // Sign on first, unless the profile says this host takes none.
    let mut first = o.profile.sign_on_mode() != cardwire_engine::keys::SignOnMode::None;
    loop {
        if let Some(p) = period {
            let due = t0 + offset + p.mul_f64(k as f64);
            let now = Instant::now();
            if due > now {
                tokio::time::sleep_until(due.into()).await;
            } else if now.duration_since(due) > Duration::from_millis(10) && k > 0 {
                r.late += 1;
                counters.late.fetch_add(1, Ordering::Relaxed);
            }
        }
        if Instant::now() >= deadline {
            break;
        }
        k += 1;
        r.starts += 1;
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Each terminal walks the card list from its own place.
        let card = if o.cards.is_empty() {
            card.clone()
        } else {
            let at = (u64::from(i) + k) % o.cards.len() as u64;
            o.cards
                .get(usize::try_from(at).unwrap_or(0))
                .cloned()
                .unwrap_or_else(|| card.clone())
        };
        let action = if first {
            first = false;
            Action::SignOn
        } else {
            match o.mix.pick((rng >> 32) as u32) {
                Pick::Balance => Action::Balance { card: card.clone() },
                Pick::Void => match term
                    .journal()
                    .iter()
                    .rev()
                    .find(|j| j.kind == "sale" && !j.voided)
                {
                    Some(j) => Action::Void {
                        // The sale's own card.
                        card: o
                            .cards
                            .iter()
                            .find(|c| c.id.is_some() && c.id == j.card)
                            .cloned()
                            .unwrap_or_else(|| card.clone()),
                        voucher: j.voucher,
                        password: "123456".into(),
                    },
                    None => Action::sale(card.clone(), o.amount),
                },
                Pick::Sale => Action::sale(card.clone(), o.amount),
            }
        };
        let counted = !matches!(action, Action::SignOn);
        let reversible = action.kind().is_reversible();
        let out = drive(&mut term, &mut conn, &dial, action, &mut r).await?;
        if counted {
            r.actions += 1;
            counters.done.fetch_add(1, Ordering::Relaxed);
            let key = match (&out.code, out.timed_out) {
                (Some(c), _) => c.clone(),
                (None, true) => NO_REPLY_TIMEOUT.into(),
                (None, false) => NO_REPLY_LINK_DOWN.into(),
            };
            if out.approved {
                counters.approved.fetch_add(1, Ordering::Relaxed);
                r.view.approved += 1;
            } else if out.code.is_none() {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                r.view.no_reply += 1;
            } else {
                r.view.declined += 1;
            }
            // Sent (it has a STAN) and no trustworthy answer: no reply, or
            // an approval that failed its MAC.
            let unknown = out.stan.is_some()
                && !out.approved
                && (out.timed_out
                    || (out.code.is_none()
                        && out
                            .local_error
                            .as_deref()
                            .is_some_and(|e| e.starts_with("link down")))
                    || out.code.as_deref() == Some("00"));
            if reversible && unknown {
                r.view.unknown_outcomes += 1;
            }
            *r.codes.entry(key).or_insert(0) += 1;
        }
        if conn.is_none() {
            // The link dropped: do not spin on a dead host.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Settle what is owed before the audit.
    for _ in 0..3 {
        if term.pending_reversal().is_none() || !o.conforming {
            break;
        }
        let _ = drive(&mut term, &mut conn, &dial, Action::Reverse, &mut r).await?;
    }
    r.pending = term.pending_reversal().is_some();
    r.approved_sales = term
        .journal()
        .iter()
        .filter(|j| j.kind == "sale")
        .map(|j| j.voucher)
        .collect();
    Ok(r)
}

async fn drive(
    term: &mut Terminal,
    conn: &mut Option<Connection>,
    dial: &Dial,
    action: Action,
    r: &mut TermResult,
) -> Result<cardwire_engine::terminal::Outcome, NetError> {
    let (hist, by_kind) = (&mut r.hist, &mut r.by_kind);
    let (stored, cleared, dropped) = (&mut r.stored, &mut r.cleared, &mut r.dropped);
    let mut last: Option<u64> = None;
    run_action(term, conn, dial, action, |p| match p {
        Progress::Latency(d) => {
            let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
            let _ = hist.record(us);
            last = Some(us);
        }
        Progress::Event(TerminalEvent::Received { kind, .. }, _) => {
            if let Some(us) = last.take() {
                let h = match by_kind.get_mut(kind.as_str()) {
                    Some(h) => h,
                    None => by_kind.entry(kind.clone()).or_insert_with(new_hist),
                };
                let _ = h.record(us);
            }
        }
        Progress::Event(TerminalEvent::Sent { kind, .. }, _) if kind == "reversal" => *stored += 1,
        Progress::Event(TerminalEvent::ReversalCleared { by, .. }, _)
            if by != "approved" && by != "declined" =>
        {
            *cleared += 1;
        }
        Progress::Event(TerminalEvent::ReversalGivenUp { dropped: true, .. }, _) => *dropped += 1,
        _ => {}
    })
    .await
}
