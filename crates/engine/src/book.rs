//! The host's working set: what its decisions need from the journal, and
//! nothing more.
//!
//! The ledger keeps every [`Entry`]; the host keeps a compact [`Rec`] of
//! each entry of the retention window (the current business day and the
//! `keep_days` before it) and of every pre-authorization still holding
//! money, whatever its age. That answers the duplicate check (terminal,
//! STAN, day), reversals and voids (terminal, batch, STAN), refunds and
//! completions (RRN, or terminal, batch, STAN), and settlement, whose
//! totals are kept per open batch as entries arrive. Older records are
//! dropped when the business day turns.
//!
//! The two indexes are hash tables of sequence numbers: the key of a slot
//! is read from the record it points to, so a slot costs 8 bytes, not a
//! copy of the terminal id. An RRN needs no index at all: the host builds
//! it as `MMDD` and the sequence number modulo 10^8.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::num::NonZeroU64;

use cardwire_codec::TxnKind;
use hashbrown::HashTable;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::host::Totals;
use crate::ledger::{Entry, Posting};

/// No name (a record without a card).
const NONE: u32 = u32::MAX;

/// Strings the records refer to by number: terminal ids, card ids and
/// account ids. They come from the configuration and from postings, so
/// they do not grow with traffic.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Names {
    all: Vec<String>,
    #[serde(skip)]
    ids: HashMap<String, u32>,
}

impl Names {
    fn id(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = u32::try_from(self.all.len()).unwrap_or(NONE - 1);
        self.all.push(s.to_owned());
        self.ids.insert(s.to_owned(), i);
        i
    }

    fn name(&self, id: u32) -> &str {
        self.all.get(id as usize).map_or("", String::as_str)
    }

    fn reindex(&mut self) {
        self.ids = self
            .all
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), u32::try_from(i).unwrap_or(NONE - 1)))
            .collect();
    }
}

/// What became of an original.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Status {
    Open,
    /// Voided, completed (pre-auth) or otherwise consumed by entry n.
    Closed(u64),
    /// Reversed by entry n.
    Reversed(u64),
}

/// One journal entry, as decisions need it, in 64 bytes: a million of
/// them is the working set of a busy day. Its sequence number is its
/// place in the [`Book`]; the rare hold and refunded amount live beside
/// it ([`Extra`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Rec {
    pub(crate) day: u32,
    pub(crate) batch: u32,
    pub(crate) stan: u32,
    terminal: u32,
    card: u32,
    #[serde(with = "kind_name")]
    pub(crate) kind: TxnKind,
    pub(crate) approved: bool,
    /// [`Status`], packed: 0 open, else the entry's number shifted left
    /// once, with the low bit set when it is a reversal.
    status: u64,
    pub(crate) amount: u64,
    original: Option<NonZeroU64>,
    /// The postings: `delta` from account `from` to account `to` (the
    /// host's are always such a pair; `from` is [`NONE`] for none, and
    /// any other shape a ledger holds is in [`Extra::postings`]).
    from: u32,
    to: u32,
    delta: i64,
}

/// What few records need besides their [`Rec`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Extra {
    /// Hold placed (+) or released (-) (pre-authorizations).
    hold: i64,
    /// Refunded so far (sales, completions).
    refunded: u64,
    /// Postings that are not one pair.
    postings: Vec<(u32, i64)>,
}

impl Rec {
    pub(crate) fn original(&self) -> Option<u64> {
        self.original.map(NonZeroU64::get)
    }

    pub(crate) fn status(&self) -> Status {
        match (self.status >> 1, self.status & 1) {
            (0, _) => Status::Open,
            (seq, 0) => Status::Closed(seq),
            (seq, _) => Status::Reversed(seq),
        }
    }

    fn set_status(&mut self, s: Status) {
        self.status = match s {
            Status::Open => 0,
            Status::Closed(seq) => seq << 1,
            Status::Reversed(seq) => seq << 1 | 1,
        };
    }

    /// Counts in its batch's settlement totals: +1 debit, -1 credit.
    fn settles(&self) -> i8 {
        match self.kind {
            _ if !self.approved => 0,
            TxnKind::Sale | TxnKind::PreAuthCompletion if self.status == 0 => 1,
            TxnKind::Refund => -1,
            _ => 0,
        }
    }
}

mod kind_name {
    use cardwire_codec::TxnKind;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(k: &TxnKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(k.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<TxnKind, D::Error> {
        let s = <&str>::deserialize(d)?;
        Ok(TxnKind::parse(s).unwrap_or(TxnKind::Unknown))
    }
}

/// The working set. See the [module docs](self).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Book {
    names: Names,
    /// Records from sequence number `base` on, in order.
    base: u64,
    recs: VecDeque<Rec>,
    /// Older records still needed: pre-authorizations holding money.
    kept: BTreeMap<u64, Rec>,
    extra: HashMap<u64, Extra>,
    totals: HashMap<(u32, u32), Totals>,
    /// The newest business day seen.
    day: u32,
    keep_days: u32,
    last_seq: u64,
    approved: u64,
    #[serde(skip)]
    index: Index,
}

/// (terminal, STAN, day) and (terminal, batch, STAN) of every record but
/// reversals, first entry first. A slot holds the low 32 bits of the
/// sequence number ([`Book::seq_of`] restores it: the records in memory
/// never span 2^32 entries).
#[derive(Debug, Clone, Default)]
struct Index {
    hasher: RandomState,
    by_day: HashTable<u32>,
    by_batch: HashTable<u32>,
}

impl Book {
    pub(crate) fn new(keep_days: u32) -> Self {
        Book {
            names: Names::default(),
            base: 1,
            recs: VecDeque::new(),
            kept: BTreeMap::new(),
            extra: HashMap::new(),
            totals: HashMap::new(),
            day: 0,
            keep_days,
            last_seq: 0,
            approved: 0,
            index: Index::default(),
        }
    }

    pub(crate) fn keep_days(&self) -> u32 {
        self.keep_days
    }

    pub(crate) fn set_keep_days(&mut self, days: u32) {
        self.keep_days = days;
    }

    /// The last entry's sequence number (the number of entries).
    pub(crate) fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// How many entries were approvals.
    pub(crate) fn approved(&self) -> u64 {
        self.approved
    }

    /// How many records the host holds.
    pub(crate) fn len(&self) -> usize {
        self.recs.len() + self.kept.len()
    }

    pub(crate) fn get(&self, seq: u64) -> Option<&Rec> {
        match seq.checked_sub(self.base) {
            Some(i) => self.recs.get(usize::try_from(i).ok()?),
            None => self.kept.get(&seq),
        }
    }

    fn get_mut(&mut self, seq: u64) -> Option<&mut Rec> {
        match seq.checked_sub(self.base) {
            Some(i) => self.recs.get_mut(usize::try_from(i).ok()?),
            None => self.kept.get_mut(&seq),
        }
    }

    pub(crate) fn terminal(&self, r: &Rec) -> &str {
        self.names.name(r.terminal)
    }

    pub(crate) fn card(&self, r: &Rec) -> Option<&str> {
        (r.card != NONE).then(|| self.names.name(r.card))
    }

    /// The hold entry `seq` placed (+) or released (-).
    pub(crate) fn hold(&self, seq: u64) -> i64 {
        self.extra.get(&seq).map_or(0, |x| x.hold)
    }

    /// How much of entry `seq` was refunded.
    pub(crate) fn refunded(&self, seq: u64) -> u64 {
        self.extra.get(&seq).map_or(0, |x| x.refunded)
    }

    /// The postings of entry `seq`, as it made them.
    pub(crate) fn postings(&self, seq: u64) -> Vec<Posting> {
        let p = |a: u32, delta: i64| Posting {
            account: self.names.name(a).to_owned(),
            delta,
        };
        let Some(r) = self.get(seq) else {
            return Vec::new();
        };
        if r.from != NONE {
            return vec![p(r.from, -r.delta), p(r.to, r.delta)];
        }
        self.extra.get(&seq).map_or_else(Vec::new, |x| {
            x.postings.iter().map(|&(a, d)| p(a, d)).collect()
        })
    }

    /// The RRN the host gave entry `seq`.
    pub(crate) fn rrn_of(seq: u64, r: &Rec) -> String {
        rrn(day_start(r.day), seq)
    }

    /// The sequence number whose low 32 bits an index slot holds.
    fn seq_of(&self, low: u32) -> u64 {
        #[allow(clippy::cast_possible_truncation)]
        let last = self.last_seq as u32;
        self.last_seq - u64::from(last.wrapping_sub(low))
    }

    fn hash_day(&self, terminal: u32, stan: u32, day: u32) -> u64 {
        self.index.hasher.hash_one((terminal, stan, day))
    }

    fn hash_batch(&self, terminal: u32, batch: u32, stan: u32) -> u64 {
        self.index.hasher.hash_one((terminal, batch, stan))
    }

    /// The first entry (reversals aside) of this terminal, STAN and day.
    pub(crate) fn by_day(&self, terminal: &str, stan: u32, day: u32) -> Option<u64> {
        let t = self.names.id(terminal)?;
        let h = self.hash_day(t, stan, day);
        self.index
            .by_day
            .find(h, |&s| {
                self.get(self.seq_of(s))
                    .is_some_and(|r| r.terminal == t && r.stan == stan && r.day == day)
            })
            .map(|&s| self.seq_of(s))
    }

    /// The first entry (reversals aside) of this terminal, batch and STAN.
    pub(crate) fn by_batch(&self, terminal: &str, batch: u32, stan: u32) -> Option<u64> {
        let t = self.names.id(terminal)?;
        let h = self.hash_batch(t, batch, stan);
        self.index
            .by_batch
            .find(h, |&s| {
                self.get(self.seq_of(s))
                    .is_some_and(|r| r.terminal == t && r.batch == batch && r.stan == stan)
            })
            .map(|&s| self.seq_of(s))
    }

    /// The approval (reversals aside) that was given this RRN.
    pub(crate) fn by_rrn(&self, rrn: &str) -> Option<u64> {
        if rrn.len() != 12 || !rrn.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let low: u64 = rrn.get(4..)?.parse().ok()?;
        let found = |seq: u64| {
            self.get(seq)
                .filter(|r| {
                    r.approved && r.kind != TxnKind::Reversal && Book::rrn_of(seq, r) == rrn
                })
                .map(|_| seq)
        };
        // The sequence numbers that end in these 8 digits, newest first.
        let back = (self.last_seq % 100_000_000 + 100_000_000 - low) % 100_000_000;
        let mut next = self.last_seq.checked_sub(back);
        while let Some(seq) = next.filter(|&s| s >= self.base && s > 0) {
            if let Some(s) = found(seq) {
                return Some(s);
            }
            next = seq.checked_sub(100_000_000);
        }
        self.kept
            .keys()
            .filter(|&&s| s % 100_000_000 == low)
            .find_map(|&s| found(s))
    }

    /// The settlement totals of a terminal's batch.
    pub(crate) fn totals(&self, terminal: &str, batch: u32) -> Totals {
        self.names
            .id(terminal)
            .and_then(|t| self.totals.get(&(t, batch)))
            .copied()
            .unwrap_or_default()
    }

    fn count(&mut self, r_seq: u64, sign: i8) {
        let Some(r) = self.get(r_seq) else { return };
        let (settles, key, amount) = (r.settles(), (r.terminal, r.batch), r.amount);
        if settles == 0 || sign == 0 {
            return;
        }
        let t = self.totals.entry(key).or_default();
        match (settles, sign > 0) {
            (1, true) => {
                t.0 += amount;
                t.1 += 1;
            }
            (1, false) => {
                t.0 = t.0.saturating_sub(amount);
                t.1 = t.1.saturating_sub(1);
            }
            (_, true) => {
                t.2 += amount;
                t.3 += 1;
            }
            (_, false) => {
                t.2 = t.2.saturating_sub(amount);
                t.3 = t.3.saturating_sub(1);
            }
        }
    }

    /// Records entry `e` (the next in sequence).
    pub(crate) fn push(&mut self, e: &Entry, kind: TxnKind) {
        if e.day > self.day {
            self.day = e.day;
            self.prune();
        }
        if self.recs.is_empty() {
            self.base = e.seq;
        }
        let terminal = self.names.intern(&e.terminal);
        let card = e.card.as_deref().map_or(NONE, |c| self.names.intern(c));
        let mut extra = Extra {
            hold: e.hold,
            ..Extra::default()
        };
        let (from, to, delta) = match e.postings.as_slice() {
            [] => (NONE, NONE, 0),
            [a, b] if a.delta == -b.delta => (
                self.names.intern(&a.account),
                self.names.intern(&b.account),
                b.delta,
            ),
            list => {
                extra.postings = list
                    .iter()
                    .map(|p| (self.names.intern(&p.account), p.delta))
                    .collect();
                (NONE, NONE, 0)
            }
        };
        let rec = Rec {
            day: e.day,
            batch: e.batch,
            stan: e.stan,
            terminal,
            card,
            kind,
            approved: e.approved(),
            status: 0,
            amount: e.amount,
            original: e.original.and_then(NonZeroU64::new),
            from,
            to,
            delta,
        };
        let seq = e.seq;
        self.last_seq = seq;
        if rec.approved {
            self.approved += 1;
        }
        if extra.hold != 0 || !extra.postings.is_empty() {
            self.extra.insert(seq, extra);
        }
        self.recs.push_back(rec);
        self.count(seq, 1);
        if kind != TxnKind::Reversal {
            self.index_rec(seq);
        }
        if kind == TxnKind::Settlement {
            // The batch is closed: its totals are no longer asked for.
            self.totals.remove(&(terminal, e.batch));
        }
    }

    fn index_rec(&mut self, seq: u64) {
        let Some(r) = self.get(seq) else { return };
        let (t, stan, day, batch) = (r.terminal, r.stan, r.day, r.batch);
        #[allow(clippy::cast_possible_truncation)]
        let low = seq as u32;
        if self.by_day(self.names.name(t), stan, day).is_none() {
            let h = self.hash_day(t, stan, day);
            let store = (&self.recs, &self.kept, self.base, self.last_seq);
            let hasher = self.index.hasher.clone();
            self.index.by_day.insert_unique(h, low, |&s| {
                key_hash(&hasher, store, s, |r| (r.terminal, r.stan, r.day))
            });
        }
        if self.by_batch(self.names.name(t), batch, stan).is_none() {
            let h = self.hash_batch(t, batch, stan);
            let store = (&self.recs, &self.kept, self.base, self.last_seq);
            let hasher = self.index.hasher.clone();
            self.index.by_batch.insert_unique(h, low, |&s| {
                key_hash(&hasher, store, s, |r| (r.terminal, r.batch, r.stan))
            });
        }
    }

    /// Sets an original's status, keeping the settlement totals.
    pub(crate) fn set_status(&mut self, seq: u64, status: Status) {
        self.count(seq, -1);
        if let Some(r) = self.get_mut(seq) {
            r.set_status(status);
        }
        self.count(seq, 1);
    }

    pub(crate) fn add_refunded(&mut self, seq: u64, amount: u64) {
        if self.get(seq).is_some() {
            self.extra.entry(seq).or_default().refunded += amount;
        }
    }

    /// Drops the records older than the retention window, keeping open
    /// pre-authorizations that hold money.
    fn prune(&mut self) {
        let cutoff = self.day.saturating_sub(self.keep_days);
        let holding = |r: &Rec, hold: i64| r.approved && r.status == 0 && hold != 0;
        let mut dropped: Vec<(u64, Rec)> = Vec::new();
        let old: Vec<u64> = self
            .kept
            .iter()
            .filter(|(s, r)| !holding(r, self.extra.get(s).map_or(0, |x| x.hold)))
            .map(|(s, _)| *s)
            .collect();
        for s in old {
            if let Some(r) = self.kept.remove(&s) {
                dropped.push((s, r));
            }
        }
        while self.recs.front().is_some_and(|r| r.day < cutoff) {
            let Some(r) = self.recs.pop_front() else {
                break;
            };
            let seq = self.base;
            self.base += 1;
            if r.kind == TxnKind::PreAuth && holding(&r, self.hold(seq)) {
                self.kept.insert(seq, r);
            } else {
                dropped.push((seq, r));
            }
        }
        for (seq, r) in &dropped {
            #[allow(clippy::cast_possible_truncation)]
            let low = *seq as u32;
            self.extra.remove(seq);
            let h = self.hash_day(r.terminal, r.stan, r.day);
            if let Ok(slot) = self.index.by_day.find_entry(h, |&s| s == low) {
                slot.remove();
            }
            let h = self.hash_batch(r.terminal, r.batch, r.stan);
            if let Ok(slot) = self.index.by_batch.find_entry(h, |&s| s == low) {
                slot.remove();
            }
        }
        if dropped.len() > self.recs.len() {
            self.recs.shrink_to_fit();
            self.extra.shrink_to_fit();
            let store = (&self.recs, &self.kept, self.base, self.last_seq);
            let hasher = &self.index.hasher;
            self.index
                .by_day
                .shrink_to_fit(|&s| key_hash(hasher, store, s, |r| (r.terminal, r.stan, r.day)));
            self.index
                .by_batch
                .shrink_to_fit(|&s| key_hash(hasher, store, s, |r| (r.terminal, r.batch, r.stan)));
        }
    }

    /// The records in memory with their numbers, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &Rec)> {
        self.kept
            .iter()
            .map(|(s, r)| (*s, r))
            .chain((self.base..).zip(self.recs.iter()))
    }

    /// Rebuilds what a snapshot does not carry (name lookup, indexes).
    pub(crate) fn reindex(&mut self) {
        self.names.reindex();
        self.index = Index::default();
        let seqs: Vec<u64> = self.iter().map(|(s, _)| s).collect();
        self.index.by_day.reserve(seqs.len(), |_| 0);
        self.index.by_batch.reserve(seqs.len(), |_| 0);
        for s in seqs {
            if self.get(s).is_some_and(|r| r.kind != TxnKind::Reversal) {
                self.index_rec(s);
            }
        }
    }
}

/// The records, the first one's number and the last one's.
type Store<'a> = (&'a VecDeque<Rec>, &'a BTreeMap<u64, Rec>, u64, u64);

/// The hash of the key of the record an index slot holds (for rehashing
/// a table).
fn key_hash<K: std::hash::Hash>(
    hasher: &RandomState,
    (recs, kept, base, last): Store<'_>,
    low: u32,
    key: impl Fn(&Rec) -> K,
) -> u64 {
    #[allow(clippy::cast_possible_truncation)]
    let seq = last - u64::from((last as u32).wrapping_sub(low));
    let r = match seq.checked_sub(base) {
        Some(i) => usize::try_from(i).ok().and_then(|i| recs.get(i)),
        None => kept.get(&seq),
    };
    r.map_or(0, |r| hasher.hash_one(key(r)))
}

/// The start of business day `day`.
fn day_start(day: u32) -> Timestamp {
    Timestamp::from_millis(u64::from(day) * 86_400_000)
}

/// The RRN of entry `seq` decided at `at`: `MMDD` and 8 digits of `seq`.
pub(crate) fn rrn(at: Timestamp, seq: u64) -> String {
    format!("{}{:08}", at.mmdd(), seq % 100_000_000)
}
