//! Invariants checked after every scenario step and in property tests.
//!
//! 1. Money is conserved: the sum of all balances equals the opening sum
//!    (every posting has its opposite on a merchant or cardholder account).
//! 2. No posting is applied twice: no original is reversed or voided with
//!    money twice, and no (terminal, STAN, day) is approved twice.
//! 3. Every approval the terminal never saw is either reversed, still owed
//!    as a pending reversal (conforming terminal), or reported as a double
//!    debit.

use std::collections::{HashMap, HashSet};

use cardwire_codec::TxnKind;
use serde::Serialize;

use crate::host::Host;
use crate::ledger::Ledger;
use crate::terminal::Terminal;

/// An approval the terminal did not record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unacknowledged {
    /// Journal entry.
    pub entry: u64,
    /// Transaction.
    pub kind: String,
    /// Terminal.
    pub terminal: String,
    /// STAN.
    pub stan: u32,
    /// Card id.
    pub card: Option<String>,
    /// Amount.
    pub amount: u64,
    /// The terminal still owes the reversal (it will go before the next
    /// transaction).
    pub reversal_pending: bool,
}

/// The state of the invariants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InvariantReport {
    /// Sum of balances now.
    pub total: i64,
    /// Sum of balances at opening.
    pub opening_total: i64,
    /// Postings applied twice (descriptions).
    pub double_postings: Vec<String>,
    /// Approvals with money moved that the terminal never saw and that are
    /// not reversed.
    pub unacknowledged: Vec<Unacknowledged>,
}

impl InvariantReport {
    /// Money conserved.
    pub fn conserved(&self) -> bool {
        self.total == self.opening_total
    }

    /// Double debits: unacknowledged approvals with no reversal pending.
    pub fn double_debits(&self) -> impl Iterator<Item = &Unacknowledged> {
        self.unacknowledged.iter().filter(|u| !u.reversal_pending)
    }

    /// The hard invariants hold: money conserved, nothing posted twice.
    pub fn holds(&self) -> bool {
        self.conserved() && self.double_postings.is_empty()
    }
}

/// Checks the invariants of a host and the terminals that talk to it.
pub fn check<L: Ledger>(host: &Host<L>, terminals: &[&Terminal]) -> InvariantReport {
    let total: i64 = host.accounts().values().sum();
    let mut double_postings = Vec::new();
    let mut moved_on: HashMap<u64, u32> = HashMap::new();
    let mut approved_keys: HashSet<(String, u32, u32)> = HashSet::new();
    // The ledger holds every entry; the host only those it still needs.
    let journal = host.ledger().entries().unwrap_or_default();
    for e in &journal {
        let kind = TxnKind::parse(&e.kind).unwrap_or(TxnKind::Unknown);
        if !e.approved() {
            continue;
        }
        if kind != TxnKind::Reversal
            && kind.is_reversible()
            && !approved_keys.insert((e.terminal.clone(), e.stan, e.day))
        {
            double_postings.push(format!(
                "terminal {} STAN {:06} approved twice on day {}",
                e.terminal, e.stan, e.day
            ));
        }
        if let Some(o) = e.original {
            // A void that was itself reversed no longer consumes its
            // original: only standing entries count.
            if (!e.postings.is_empty() || e.hold != 0)
                && kind != TxnKind::Refund
                && !host.is_reversed(e.seq)
            {
                let n = moved_on.entry(o).or_insert(0);
                *n += 1;
                if *n > 1 {
                    double_postings.push(format!(
                        "entry {o} undone or consumed twice (last by entry {})",
                        e.seq
                    ));
                }
            }
        }
    }
    let mut unacknowledged = Vec::new();
    for e in &journal {
        let kind = TxnKind::parse(&e.kind).unwrap_or(TxnKind::Unknown);
        if !e.approved() || !kind.is_reversible() || host.is_reversed(e.seq) {
            continue;
        }
        let Some(t) = terminals
            .iter()
            .find(|t| t.config().terminal_id == e.terminal)
        else {
            continue;
        };
        let seen = t
            .journal()
            .iter()
            .any(|r| r.voucher == e.stan && r.rrn == e.rrn);
        // A settled batch leaves the terminal's journal: only the current
        // batch can be compared.
        if seen || e.batch != t.state().batch {
            continue;
        }
        let reversal_pending = t
            .pending_reversal()
            .is_some_and(|p| p.stan == e.stan && p.batch == e.batch);
        unacknowledged.push(Unacknowledged {
            entry: e.seq,
            kind: e.kind.clone(),
            terminal: e.terminal.clone(),
            stan: e.stan,
            card: e.card.clone(),
            amount: e.amount,
            reversal_pending,
        });
    }
    InvariantReport {
        total,
        opening_total: host.opening_total(),
        double_postings,
        unacknowledged,
    }
}
