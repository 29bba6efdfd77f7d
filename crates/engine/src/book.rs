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

/// One journal entry, as decisions need it, in 48 bytes: a million of
/// them is the working set of a busy day. Its sequence number is its
/// place in the [`Book`]; the entries it points to are numbered relative
/// to it; the rare hold and refunded amount live beside it ([`Extra`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Rec {
    pub(crate) day: u32,
    pub(crate) batch: u32,
    pub(crate) stan: u32,
    terminal: u32,
    card: u32,
    /// The postings: the amount from account `from` to account `to`
    /// (or back, with [`BACK`]). The host's are always such a pair;
    /// `from` is [`NONE`] for none, and any other shape is in
    /// [`Extra::postings`].
    from: u32,
    to: u32,
    /// The entry that closed or reversed this one, as a distance forward
    /// (0: open; `u32::MAX`: in [`Extra::status`]).
    status: u32,
    /// The original this entry acts on, as a distance back (0: none;
    /// `u32::MAX`: in [`Extra::original`]).
    original: u32,
    #[serde(with = "kind_name")]
    pub(crate) kind: TxnKind,
    flags: u8,
    pub(crate) amount: u64,
}

/// [`Rec::flags`]: approved.
const APPROVED: u8 = 1;
/// [`Rec::flags`]: the status is a reversal.
const REVERSED: u8 = 2;
/// [`Rec::flags`]: the postings move the amount from `to` to `from`.
const BACK: u8 = 4;

/// What few records need besides their [`Rec`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Extra {
    /// Hold placed (+) or released (-) (pre-authorizations).
    hold: i64,
    /// Refunded so far (sales, completions).
    refunded: u64,
    /// Postings that are not one pair of the entry's amount.
    postings: Vec<(u32, i64)>,
    /// An original or a closing entry too far away for 32 bits.
    original: Option<u64>,
    status: Option<Status>,
}

impl Rec {
    pub(crate) fn approved(&self) -> bool {
        self.flags & APPROVED != 0
    }

    fn open(&self) -> bool {
        self.status == 0
    }

    /// Counts in its batch's settlement totals: +1 debit, -1 credit.
    fn settles(&self) -> i8 {
        match self.kind {
            _ if !self.approved() => 0,
            TxnKind::Sale | TxnKind::PreAuthCompletion if self.open() => 1,
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

/// The two indexes of every record but reversals, first entry first: a
/// slot holds the low 32 bits of the sequence number ([`seq_of`]
/// restores it: the records in memory never span 2^32 entries).
#[derive(Debug, Clone, Default)]
struct Index {
    hasher: RandomState,
    tables: [HashTable<u32>; 2],
}

/// Which index, and the key it files a record under.
#[derive(Debug, Clone, Copy)]
enum Key {
    /// (terminal, STAN, day): duplicates.
    Day,
    /// (terminal, batch, STAN): reversals, voids, completions.
    Batch,
}

impl Key {
    const BOTH: [Key; 2] = [Key::Day, Key::Batch];

    fn of(self, r: &Rec) -> (u32, u32, u32) {
        match self {
            Key::Day => (r.terminal, r.stan, r.day),
            Key::Batch => (r.terminal, r.batch, r.stan),
        }
    }
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
        rec_in(self.store(), seq)
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

    /// What became of entry `seq`.
    pub(crate) fn status(&self, seq: u64) -> Status {
        let Some(r) = self.get(seq) else {
            return Status::Open;
        };
        if r.status == u32::MAX {
            return self
                .extra
                .get(&seq)
                .and_then(|x| x.status)
                .unwrap_or(Status::Open);
        }
        let by = seq + u64::from(r.status);
        match (r.status, r.flags & REVERSED != 0) {
            (0, _) => Status::Open,
            (_, false) => Status::Closed(by),
            (_, true) => Status::Reversed(by),
        }
    }

    /// The original entry `seq` acts on.
    pub(crate) fn original(&self, seq: u64) -> Option<u64> {
        let r = self.get(seq)?;
        match r.original {
            0 => None,
            u32::MAX => self.extra.get(&seq)?.original,
            back => seq.checked_sub(u64::from(back)),
        }
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
            let delta = i64::try_from(r.amount).unwrap_or(i64::MAX);
            let delta = if r.flags & BACK != 0 { -delta } else { delta };
            return vec![p(r.from, -delta), p(r.to, delta)];
        }
        self.extra.get(&seq).map_or_else(Vec::new, |x| {
            x.postings.iter().map(|&(a, d)| p(a, d)).collect()
        })
    }

    /// The RRN the host gave entry `seq`.
    pub(crate) fn rrn_of(seq: u64, r: &Rec) -> String {
        rrn(day_start(r.day), seq)
    }

    /// What index slots are read against.
    fn store(&self) -> Store<'_> {
        (&self.recs, &self.kept, self.base, self.last_seq)
    }

    /// The first record filed under `key` in index `which`.
    fn lookup(&self, which: Key, key: (u32, u32, u32)) -> Option<u64> {
        let h = self.index.hasher.hash_one(key);
        self.index.tables[which as usize]
            .find(h, |&s| {
                rec_at(self.store(), s).is_some_and(|r| which.of(r) == key)
            })
            .map(|&s| seq_of(self.last_seq, s))
    }

    /// The first entry (reversals aside) of this terminal, STAN and day.
    pub(crate) fn by_day(&self, terminal: &str, stan: u32, day: u32) -> Option<u64> {
        self.lookup(Key::Day, (self.names.id(terminal)?, stan, day))
    }

    /// The first entry (reversals aside) of this terminal, batch and STAN.
    pub(crate) fn by_batch(&self, terminal: &str, batch: u32, stan: u32) -> Option<u64> {
        self.lookup(Key::Batch, (self.names.id(terminal)?, batch, stan))
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
                    r.approved() && r.kind != TxnKind::Reversal && Book::rrn_of(seq, r) == rrn
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
        let seq = e.seq;
        let mut extra = Extra {
            hold: e.hold,
            ..Extra::default()
        };
        let mut flags = if e.approved() { APPROVED } else { 0 };
        let amount = i64::try_from(e.amount).ok();
        let (from, to) = match e.postings.as_slice() {
            [] => (NONE, NONE),
            [a, b] if a.delta == -b.delta && Some(b.delta.abs()) == amount => {
                if b.delta < 0 {
                    flags |= BACK;
                }
                (self.names.intern(&a.account), self.names.intern(&b.account))
            }
            list => {
                extra.postings = list
                    .iter()
                    .map(|p| (self.names.intern(&p.account), p.delta))
                    .collect();
                (NONE, NONE)
            }
        };
        let original = match e.original.map(|o| seq.checked_sub(o).map(u32::try_from)) {
            None => 0,
            Some(Some(Ok(back))) if back != 0 && back != u32::MAX => back,
            Some(_) => {
                extra.original = e.original;
                u32::MAX
            }
        };
        let rec = Rec {
            day: e.day,
            batch: e.batch,
            stan: e.stan,
            terminal,
            card,
            from,
            to,
            status: 0,
            original,
            kind,
            flags,
            amount: e.amount,
        };
        self.last_seq = seq;
        if rec.approved() {
            self.approved += 1;
        }
        if extra.hold != 0 || !extra.postings.is_empty() || extra.original.is_some() {
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

    /// Files record `seq` in both indexes, unless an earlier record holds
    /// its key.
    fn index_rec(&mut self, seq: u64) {
        #[allow(clippy::cast_possible_truncation)]
        let low = seq as u32;
        let store = (&self.recs, &self.kept, self.base, self.last_seq);
        let Some(r) = rec_in(store, seq) else { return };
        let Index { hasher, tables } = &mut self.index;
        for which in Key::BOTH {
            let key = which.of(r);
            let slot = tables[which as usize].entry(
                hasher.hash_one(key),
                |&s| rec_at(store, s).is_some_and(|o| which.of(o) == key),
                |&s| key_hash(hasher, store, which, s),
            );
            if let hashbrown::hash_table::Entry::Vacant(v) = slot {
                v.insert(low);
            }
        }
    }

    /// Sets an original's status, keeping the settlement totals.
    pub(crate) fn set_status(&mut self, seq: u64, status: Status) {
        self.count(seq, -1);
        let (by, reversed) = match status {
            Status::Open => (None, false),
            Status::Closed(by) => (Some(by), false),
            Status::Reversed(by) => (Some(by), true),
        };
        // The distance forward, when it fits in 32 bits (not 0, not MAX).
        let forward = by.map(|b| {
            b.checked_sub(seq)
                .and_then(|d| u32::try_from(d).ok())
                .filter(|&d| d != 0 && d != u32::MAX)
        });
        let far = matches!(forward, Some(None));
        if let Some(r) = self.get_mut(seq) {
            r.flags = if reversed {
                r.flags | REVERSED
            } else {
                r.flags & !REVERSED
            };
            r.status = match forward {
                None => 0,
                Some(Some(d)) => d,
                Some(None) => u32::MAX,
            };
        }
        if far {
            self.extra.entry(seq).or_default().status = Some(status);
        } else if let Some(x) = self.extra.get_mut(&seq) {
            x.status = None;
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
        let holding = |r: &Rec, hold: i64| r.approved() && r.open() && hold != 0;
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
            for which in Key::BOTH {
                let h = self.index.hasher.hash_one(which.of(r));
                if let Ok(slot) = self.index.tables[which as usize].find_entry(h, |&s| s == low) {
                    slot.remove();
                }
            }
        }
        if dropped.len() > self.recs.len() {
            self.recs.shrink_to_fit();
            self.extra.shrink_to_fit();
            let store = (&self.recs, &self.kept, self.base, self.last_seq);
            let Index { hasher, tables } = &mut self.index;
            for which in Key::BOTH {
                tables[which as usize].shrink_to_fit(|&s| key_hash(hasher, store, which, s));
            }
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
        for t in &mut self.index.tables {
            t.reserve(seqs.len(), |_| 0);
        }
        for s in seqs {
            if self.get(s).is_some_and(|r| r.kind != TxnKind::Reversal) {
                self.index_rec(s);
            }
        }
    }
}

/// The records, the first one's number and the last one's.
type Store<'a> = (&'a VecDeque<Rec>, &'a BTreeMap<u64, Rec>, u64, u64);

/// The sequence number, at most `last`, whose low 32 bits are `low`.
fn seq_of(last: u64, low: u32) -> u64 {
    #[allow(clippy::cast_possible_truncation)]
    let last32 = last as u32;
    last - u64::from(last32.wrapping_sub(low))
}

/// Record `seq`, if it is in memory.
fn rec_in((recs, kept, base, _): Store<'_>, seq: u64) -> Option<&Rec> {
    match seq.checked_sub(base) {
        Some(i) => recs.get(usize::try_from(i).ok()?),
        None => kept.get(&seq),
    }
}

/// The record an index slot holds.
fn rec_at(store: Store<'_>, low: u32) -> Option<&Rec> {
    rec_in(store, seq_of(store.3, low))
}

/// The hash of the key of the record an index slot holds (for rehashing
/// a table).
fn key_hash(hasher: &RandomState, store: Store<'_>, which: Key, low: u32) -> u64 {
    rec_at(store, low).map_or(0, |r| hasher.hash_one(which.of(r)))
}

/// The start of business day `day`.
fn day_start(day: u32) -> Timestamp {
    Timestamp::from_millis(u64::from(day) * 86_400_000)
}

/// The RRN of entry `seq` decided at `at`: `MMDD` and 8 digits of `seq`.
pub(crate) fn rrn(at: Timestamp, seq: u64) -> String {
    format!("{}{:08}", at.mmdd(), seq % 100_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, day: u32, kind: &str, stan: u32) -> Entry {
        Entry {
            seq,
            at: Timestamp::from_millis(u64::from(day) * 86_400_000 + 1_000),
            day,
            kind: kind.into(),
            mti: "0200".into(),
            terminal: "T1".into(),
            merchant: "M1".into(),
            stan,
            batch: 1,
            card: Some("alice".into()),
            pan_masked: None,
            amount: 500,
            currency: 156,
            code: "00".into(),
            rrn: String::new(),
            auth_code: None,
            original: None,
            postings: vec![
                Posting {
                    account: "acct".into(),
                    delta: -500,
                },
                Posting {
                    account: "merchant:M1".into(),
                    delta: 500,
                },
            ],
            hold: 0,
        }
    }

    #[test]
    fn a_record_is_48_bytes() {
        assert_eq!(core::mem::size_of::<Rec>(), 48);
    }

    #[test]
    fn postings_come_back_as_they_were_given() {
        let mut b = Book::new(30);
        let mut e = entry(1, 20_000, "sale", 1);
        b.push(&e, TxnKind::Sale);
        assert_eq!(b.postings(1), e.postings);
        e.seq = 2;
        e.stan = 2;
        e.kind = "void".into();
        e.postings.iter_mut().for_each(|p| p.delta = -p.delta);
        b.push(&e, TxnKind::Void);
        assert_eq!(b.postings(2), e.postings);
        // Not a pair of the amount: kept beside the record.
        e.seq = 3;
        e.stan = 3;
        e.amount = 0;
        b.push(&e, TxnKind::Void);
        assert_eq!(b.postings(3), e.postings);
    }

    #[test]
    fn rrns_are_found_past_a_hundred_million_entries() {
        let mut b = Book::new(30);
        let first = 300_000_001;
        for i in 0..3 {
            b.push(
                &entry(first + i, 20_000, "sale", 1 + i as u32),
                TxnKind::Sale,
            );
        }
        let at = Timestamp::from_millis(20_000 * 86_400_000);
        assert_eq!(b.by_rrn(&rrn(at, first + 1)), Some(first + 1));
        assert_eq!(b.by_rrn(&rrn(at, first - 1)), None);
        assert_eq!(b.by_day("T1", 2, 20_000), Some(first + 1));
        assert_eq!(b.by_batch("T1", 1, 3), Some(first + 2));
    }

    #[test]
    fn a_status_set_far_ahead_survives_in_the_extra() {
        let mut b = Book::new(30);
        b.push(&entry(1, 20_000, "sale", 1), TxnKind::Sale);
        let far = 1 + (1 << 33);
        b.set_status(1, Status::Reversed(far));
        assert_eq!(b.status(1), Status::Reversed(far));
        b.set_status(1, Status::Closed(5));
        assert_eq!(b.status(1), Status::Closed(5));
        assert_eq!(
            b.totals("T1", 1),
            (0, 0, 0, 0),
            "a closed sale settles nothing"
        );
        b.set_status(1, Status::Open);
        assert_eq!(b.totals("T1", 1), (500, 1, 0, 0));
    }

    #[test]
    fn a_new_day_drops_what_is_older_than_the_window_and_its_index() {
        let mut b = Book::new(1);
        b.push(&entry(1, 20_000, "sale", 1), TxnKind::Sale);
        b.push(&entry(2, 20_001, "sale", 2), TxnKind::Sale);
        assert_eq!(b.len(), 2);
        b.push(&entry(3, 20_002, "sale", 3), TxnKind::Sale);
        assert_eq!(b.len(), 2);
        assert!(b.get(1).is_none());
        assert_eq!(b.by_day("T1", 1, 20_000), None);
        assert_eq!(b.by_day("T1", 2, 20_001), Some(2));
        assert_eq!(
            b.totals("T1", 1),
            (1_500, 3, 0, 0),
            "totals outlive the records"
        );
    }

    #[test]
    fn a_snapshot_round_trip_keeps_lookups() {
        let mut b = Book::new(30);
        for i in 1..=50 {
            b.push(&entry(i, 20_000, "sale", i as u32), TxnKind::Sale);
        }
        b.set_status(7, Status::Closed(9));
        let bytes = postcard::to_stdvec(&b).expect("serializes");
        let mut c: Book = postcard::from_bytes(&bytes).expect("deserializes");
        c.reindex();
        assert_eq!(c.by_batch("T1", 1, 33), Some(33));
        assert_eq!(c.by_day("T1", 50, 20_000), Some(50));
        assert_eq!(c.status(7), Status::Closed(9));
        assert_eq!(c.totals("T1", 1), b.totals("T1", 1));
        assert_eq!(c.last_seq(), 50);
    }
}
