//! The host's ledger: every decided financial request is one journal
//! [`Entry`]; approved ones carry the [`Posting`]s that move money.
//!
//! Balances, the state of every original (approved, voided, reversed) and
//! the duplicate index are all derived from the entries, in order. A host
//! restarted on a durable ledger loads its last snapshot of that derived
//! state ([`Ledger::save_snapshot`]) and replays the entries after it (or
//! all of them), and is back where it was, which is how `cardwire-net`'s
//! SQLite ledger survives `kill -9`.
//!
//! Durability contract: [`Ledger::append`] may buffer; after
//! [`Ledger::commit`] returns, every appended entry is durable. A driver
//! commits before it sends the replies polled since the last commit, so
//! no acknowledged posting is ever lost (group commit).

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// Money moving on one account: negative debits, positive credits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    /// Account id (cardholder account or merchant settlement account).
    pub account: String,
    /// Minor units; debit < 0 < credit.
    pub delta: i64,
}

/// What a journal entry records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the journal, from 1.
    pub seq: u64,
    /// When the host decided.
    pub at: Timestamp,
    /// Business day (`at.day()`).
    pub day: u32,
    /// Transaction (`sale`, `void`, `reversal` ...).
    pub kind: String,
    /// MTI of the request.
    pub mti: String,
    /// Terminal id (41).
    pub terminal: String,
    /// Merchant id (42).
    pub merchant: String,
    /// STAN (11).
    pub stan: u32,
    /// Batch number.
    pub batch: u32,
    /// The configured card the request was for, by id (never the PAN).
    pub card: Option<String>,
    /// Masked PAN, for people reading the journal.
    pub pan_masked: Option<String>,
    /// Amount in minor units.
    pub amount: u64,
    /// Currency (ISO 4217 numeric).
    pub currency: u16,
    /// Response code sent.
    pub code: String,
    /// Retrieval reference number assigned.
    pub rrn: String,
    /// Authorization code assigned (approvals).
    pub auth_code: Option<String>,
    /// The entry this one acts on (void, reversal, refund, completion).
    pub original: Option<u64>,
    /// Money moved. Empty for declines and for repeated reversals.
    pub postings: Vec<Posting>,
    /// Hold placed (+) or released (-) on the card account (pre-auth).
    pub hold: i64,
}

impl Entry {
    /// Whether the host approved.
    pub fn approved(&self) -> bool {
        self.code == "00"
    }
}

/// Errors of a ledger backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The backend failed (disk full, database locked ...).
    #[error("ledger backend: {0}")]
    Backend(String),
    /// An entry's sequence number is not the next one.
    #[error("entry {got} out of order: expected {expected}")]
    OutOfOrder {
        /// Expected sequence number.
        expected: u64,
        /// The entry's.
        got: u64,
    },
}

/// Where the host keeps its journal.
pub trait Ledger {
    /// Appends an entry (may buffer until [`Ledger::commit`]).
    ///
    /// # Errors
    ///
    /// Backend failures; the host then answers `96` and posts nothing.
    fn append(&mut self, entry: &Entry) -> Result<(), LedgerError>;

    /// Makes every appended entry durable.
    ///
    /// # Errors
    ///
    /// Backend failures.
    fn commit(&mut self) -> Result<(), LedgerError> {
        Ok(())
    }

    /// Every entry, in order, for replay at start-up.
    ///
    /// # Errors
    ///
    /// Backend failures.
    fn entries(&self) -> Result<Vec<Entry>, LedgerError>;

    /// The entries after sequence number `seq`, in order: what a host
    /// restored from a snapshot of `seq` replays.
    ///
    /// # Errors
    ///
    /// Backend failures.
    fn entries_after(&self, seq: u64) -> Result<Vec<Entry>, LedgerError> {
        Ok(self
            .entries()?
            .into_iter()
            .filter(|e| e.seq > seq)
            .collect())
    }

    /// Stores a snapshot of the host's state after entry `seq`, replacing
    /// the last one. It must become durable only with (or after) the
    /// entries up to `seq`: a backend that buffers appends writes it in
    /// the same commit as them. A ledger without snapshots ignores it.
    ///
    /// # Errors
    ///
    /// Backend failures.
    fn save_snapshot(&mut self, seq: u64, snapshot: Vec<u8>) -> Result<(), LedgerError> {
        let _ = (seq, snapshot);
        Ok(())
    }

    /// The last snapshot stored, if any, with the entry it follows.
    ///
    /// # Errors
    ///
    /// Backend failures.
    fn snapshot(&self) -> Result<Option<(u64, Vec<u8>)>, LedgerError> {
        Ok(None)
    }
}

/// A ledger in memory: the default for tests, scenarios and `--db :memory:`.
#[derive(Debug, Default, Clone)]
pub struct MemoryLedger {
    entries: Vec<Entry>,
    snapshot: Option<(u64, Vec<u8>)>,
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// The entries so far.
    pub fn as_slice(&self) -> &[Entry] {
        &self.entries
    }
}

impl Ledger for MemoryLedger {
    fn append(&mut self, entry: &Entry) -> Result<(), LedgerError> {
        let expected = self.entries.len() as u64 + 1;
        if entry.seq != expected {
            return Err(LedgerError::OutOfOrder {
                expected,
                got: entry.seq,
            });
        }
        self.entries.push(entry.clone());
        Ok(())
    }

    fn entries(&self) -> Result<Vec<Entry>, LedgerError> {
        Ok(self.entries.clone())
    }

    fn entries_after(&self, seq: u64) -> Result<Vec<Entry>, LedgerError> {
        let from = usize::try_from(seq).unwrap_or(usize::MAX);
        Ok(self.entries.get(from..).unwrap_or_default().to_vec())
    }

    fn save_snapshot(&mut self, seq: u64, snapshot: Vec<u8>) -> Result<(), LedgerError> {
        self.snapshot = Some((seq, snapshot));
        Ok(())
    }

    fn snapshot(&self) -> Result<Option<(u64, Vec<u8>)>, LedgerError> {
        Ok(self.snapshot.clone())
    }
}

impl<L: Ledger + ?Sized> Ledger for Box<L> {
    fn append(&mut self, entry: &Entry) -> Result<(), LedgerError> {
        (**self).append(entry)
    }
    fn commit(&mut self) -> Result<(), LedgerError> {
        (**self).commit()
    }
    fn entries(&self) -> Result<Vec<Entry>, LedgerError> {
        (**self).entries()
    }
    fn entries_after(&self, seq: u64) -> Result<Vec<Entry>, LedgerError> {
        (**self).entries_after(seq)
    }
    fn save_snapshot(&mut self, seq: u64, snapshot: Vec<u8>) -> Result<(), LedgerError> {
        (**self).save_snapshot(seq, snapshot)
    }
    fn snapshot(&self) -> Result<Option<(u64, Vec<u8>)>, LedgerError> {
        (**self).snapshot()
    }
}
