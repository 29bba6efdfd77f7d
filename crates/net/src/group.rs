//! Group commit between the host's engine and a durable ledger.
//!
//! ```text
//!  connection task (host lock held)      committer thread
//!    Host::handle_message                   │
//!      GroupLedger::append ──► queue ───────┤ take everything queued
//!    note `appended` (last seq)             │ (a short gather window when
//!  (lock released)                          │  the queue is nearly empty)
//!    wait until durable >= appended         │ one SQLite transaction, fsync
//!      (a oneshot filed under that seq) ◄───┘ durable = last seq; wake only
//!    send the reply                           the waiters it covers
//! ```
//!
//! The engine's [`Ledger::commit`] is a no-op here: the committer thread
//! commits whatever is queued while the previous commit ran, so under
//! load one fsync covers many authorizations, and a reply never leaves
//! before the entries it reports are on disk.
//!
//! When a commit fails (disk full), the committer logs the cause once and
//! tries the same entries again, with a growing pause (up to a second),
//! until it succeeds. Meanwhile [`GroupLedger::append`] refuses new
//! entries, so the engine answers new financial requests with its
//! system-error code (96) and posts nothing; replies already waiting for
//! the failed commit keep waiting and leave once it succeeds. Nothing a
//! terminal was told is ever missing from the ledger. Only at shutdown
//! does the committer give up on entries it cannot write (their replies
//! are never sent).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use cardwire_engine::ledger::{Entry, Ledger, LedgerError};
use tokio::sync::oneshot;

/// What waits for the committer: entries, and the host's last snapshot,
/// taken after every entry before it was queued (so the commit that
/// writes it also writes, or follows, the entries it covers).
#[derive(Debug, Default)]
struct Pending {
    entries: Vec<Entry>,
    snapshot: Option<(u64, Vec<u8>)>,
}

/// The queue between the engine and the committer.
#[derive(Debug)]
pub(crate) struct CommitQueue {
    pending: Mutex<Pending>,
    wake: Condvar,
    /// Highest sequence number on disk.
    durable: AtomicU64,
    /// Replies waiting for a sequence number to be durable.
    waiters: Mutex<BTreeMap<u64, Vec<oneshot::Sender<()>>>>,
    /// Commits are failing now: appends are refused.
    failed: AtomicBool,
    /// Why, while they fail (for the admin `status`).
    cause: Mutex<Option<String>>,
    /// The committer gave up at shutdown with entries unwritten.
    gave_up: AtomicBool,
    closed: AtomicBool,
}

/// The longest pause between two attempts at a failed commit.
const RETRY_AT_MOST: Duration = Duration::from_secs(1);

/// Below this many queued entries the committer waits this long for
/// more before it commits: with `synchronous = NORMAL` a commit is fast
/// and would otherwise carry one entry and rewrite the same pages.
const GATHER_BELOW: usize = 32;
const GATHER_FOR: Duration = Duration::from_micros(250);

impl CommitQueue {
    /// Whether commits are failing now (new entries are refused).
    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Why commits are failing, while they are.
    pub(crate) fn cause(&self) -> Option<String> {
        self.cause
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether the committer stopped with entries it could not write.
    pub(crate) fn gave_up(&self) -> bool {
        self.gave_up.load(Ordering::Acquire)
    }

    fn waiters(&self) -> MutexGuard<'_, BTreeMap<u64, Vec<oneshot::Sender<()>>>> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until entry `seq` is on disk (while commits fail, until they
    /// succeed again); `false` if it never will be (the committer gave up
    /// at shutdown).
    pub(crate) async fn wait(&self, seq: u64) -> bool {
        if self.gave_up() {
            return false;
        }
        if self.durable.load(Ordering::Acquire) >= seq {
            return true;
        }
        let rx = {
            let mut w = self.waiters();
            // Checked again under the lock: the committer publishes
            // `durable` before it takes the lock to wake waiters.
            if self.durable.load(Ordering::Acquire) >= seq {
                return true;
            }
            let (tx, rx) = oneshot::channel();
            w.entry(seq).or_default().push(tx);
            rx
        };
        rx.await.is_ok()
    }

    /// Asks the committer to finish what is queued and stop.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake.notify_all();
    }
}

/// The [`Ledger`] the engine writes to: entries go to the committer (or
/// nowhere, for the in-memory ledger, whose entries live in the host).
#[derive(Debug)]
pub(crate) struct GroupLedger {
    /// What the host replays at start-up: the backend's snapshot and the
    /// entries from the snapshot's own entry on (from the first without
    /// one), handed over once.
    snapshot: Mutex<Option<(u64, Vec<u8>)>>,
    replay: Mutex<Vec<Entry>>,
    replay_after: u64,
    queue: Option<Arc<CommitQueue>>,
    appended: u64,
}

impl GroupLedger {
    /// In memory: every append is at once "durable".
    pub(crate) fn memory() -> Self {
        GroupLedger {
            snapshot: Mutex::new(None),
            replay: Mutex::new(Vec::new()),
            replay_after: 0,
            queue: None,
            appended: 0,
        }
    }

    /// Over `backend`: its entries are replayed into the host, then a
    /// committer thread owns it.
    pub(crate) fn durable<L: Ledger + Send + 'static>(
        backend: L,
    ) -> Result<(Self, Arc<CommitQueue>, std::thread::JoinHandle<()>), LedgerError> {
        // The snapshot and the entries from its own on, when it fits the
        // ledger; else every entry, for a replay from the start.
        let mut snapshot = backend.snapshot()?;
        let mut replay_after = snapshot
            .as_ref()
            .map_or(0, |(seq, _)| seq.saturating_sub(1));
        let mut replay = backend.entries_after(replay_after)?;
        if let Some(s) = &snapshot {
            if !cardwire_engine::host::snapshot_fits(s, replay.first()) {
                tracing::warn!(
                    "the ledger's snapshot (after entry {}) does not fit its entries: replaying them all",
                    s.0
                );
                snapshot = None;
                replay_after = 0;
                replay = backend.entries()?;
            }
        }
        let last = replay.last().map_or(replay_after, |e| e.seq);
        let queue = Arc::new(CommitQueue {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            durable: AtomicU64::new(last),
            waiters: Mutex::new(BTreeMap::new()),
            failed: AtomicBool::new(false),
            cause: Mutex::new(None),
            gave_up: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        let q = Arc::clone(&queue);
        let handle = std::thread::Builder::new()
            .name("cardwire-commit".into())
            .spawn(move || commit_loop(backend, &q))
            .map_err(|e| LedgerError::Backend(format!("starting the committer: {e}")))?;
        Ok((
            GroupLedger {
                snapshot: Mutex::new(snapshot),
                replay: Mutex::new(replay),
                replay_after,
                queue: Some(Arc::clone(&queue)),
                appended: last,
            },
            queue,
            handle,
        ))
    }

    /// The last sequence number appended.
    pub(crate) fn appended(&self) -> u64 {
        self.appended
    }
}

impl Ledger for GroupLedger {
    fn append(&mut self, entry: &Entry) -> Result<(), LedgerError> {
        if let Some(q) = &self.queue {
            if q.failed() {
                return Err(LedgerError::Backend(
                    "the ledger cannot commit; nothing is booked until it can".into(),
                ));
            }
            let mut p = q
                .pending
                .lock()
                .map_err(|_| LedgerError::Backend("commit queue poisoned".into()))?;
            p.entries.push(entry.clone());
            q.wake.notify_one();
        }
        self.appended = entry.seq;
        Ok(())
    }

    fn entries(&self) -> Result<Vec<Entry>, LedgerError> {
        self.entries_after(0)
    }

    fn entries_after(&self, seq: u64) -> Result<Vec<Entry>, LedgerError> {
        // Handed over once, at start-up; the host keeps its own records.
        if seq < self.replay_after {
            return Err(LedgerError::Backend(format!(
                "entries before {} were not read (the host starts from the snapshot)",
                self.replay_after + 1
            )));
        }
        let mut all = self
            .replay
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default();
        all.retain(|e| e.seq > seq);
        Ok(all)
    }

    fn save_snapshot(&mut self, seq: u64, snapshot: Vec<u8>) -> Result<(), LedgerError> {
        if let Some(q) = &self.queue {
            let mut p = q
                .pending
                .lock()
                .map_err(|_| LedgerError::Backend("commit queue poisoned".into()))?;
            p.snapshot = Some((seq, snapshot));
            q.wake.notify_one();
        }
        Ok(())
    }

    fn snapshot(&self) -> Result<Option<(u64, Vec<u8>)>, LedgerError> {
        Ok(self.snapshot.lock().ok().and_then(|mut s| s.take()))
    }
}

fn take_pending(q: &CommitQueue) -> Option<Pending> {
    let mut p = q.pending.lock().ok()?;
    let idle = |p: &Pending| p.entries.is_empty() && p.snapshot.is_none();
    while idle(&p) && !q.closed.load(Ordering::Acquire) {
        p = q.wake.wait(p).ok()?;
    }
    if idle(&p) {
        return None;
    }
    Some(std::mem::take(&mut *p))
}

fn commit_loop<L: Ledger>(mut backend: L, q: &CommitQueue) {
    while let Some(mut batch) = take_pending(q) {
        if batch.entries.len() < GATHER_BELOW && !q.closed.load(Ordering::Acquire) {
            std::thread::sleep(GATHER_FOR);
            if let Ok(mut p) = q.pending.lock() {
                batch.entries.append(&mut p.entries);
                if p.snapshot.is_some() {
                    batch.snapshot = p.snapshot.take();
                }
            }
        }
        let last = batch
            .entries
            .last()
            .map_or(q.durable.load(Ordering::Acquire), |e| e.seq);
        if !commit_batch(&mut backend, &mut batch, q) {
            return;
        }
        q.durable.store(last, Ordering::Release);
        let ready = {
            let mut w = q.waiters();
            let later = w.split_off(&last.saturating_add(1));
            std::mem::replace(&mut *w, later)
        };
        for tx in ready.into_values().flatten() {
            let _ = tx.send(());
        }
    }
}

/// Writes `batch` durably, trying again until it succeeds; `false` when
/// it gave up (shutdown while commits fail).
fn commit_batch<L: Ledger>(backend: &mut L, batch: &mut Pending, q: &CommitQueue) -> bool {
    // Entries the backend has taken: it keeps them across a failed commit.
    let mut handed = 0;
    let mut pause = Duration::from_millis(50);
    loop {
        let res = batch.entries[handed..]
            .iter()
            .try_for_each(|e| {
                backend.append(e)?;
                handed += 1;
                Ok(())
            })
            // The backend keeps the snapshot across a failed commit too.
            .and_then(|()| match batch.snapshot.take() {
                Some((seq, state)) => backend.save_snapshot(seq, state),
                None => Ok(()),
            })
            .and_then(|()| backend.commit());
        let Err(e) = res else {
            if q.failed.swap(false, Ordering::AcqRel) {
                *q.cause.lock().unwrap_or_else(PoisonError::into_inner) = None;
                tracing::info!("ledger commits succeed again; the host books again");
            }
            return true;
        };
        if !q.failed.swap(true, Ordering::AcqRel) {
            tracing::error!(
                "ledger commit failed: {e}; new financial requests are answered \
                     \"system malfunction\" without booking, replies waiting for the \
                     commit are held, and it is tried again until it succeeds"
            );
        }
        *q.cause.lock().unwrap_or_else(PoisonError::into_inner) = Some(e.to_string());
        if q.closed.load(Ordering::Acquire) {
            tracing::error!(
                "ledger: stopping with {} entries not written; their replies were never sent",
                batch.entries.len() + q.pending.lock().map_or(0, |p| p.entries.len()),
            );
            q.gave_up.store(true, Ordering::Release);
            // Dropping the senders wakes every waiter with "never".
            q.waiters().clear();
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(RETRY_AT_MOST);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use cardwire_codec::specs;
    use cardwire_engine::ledger::{Ledger, MemoryLedger};
    use cardwire_engine::{Host, HostConfig};

    use super::*;

    /// A ledger of a few approved sales made by a host, with its snapshot.
    fn ledger_with_snapshot() -> MemoryLedger {
        let spec = Arc::clone(specs::builtin("cups").unwrap());
        let mut l = MemoryLedger::new();
        for seq in 1..=3 {
            let e = Entry {
                seq,
                at: cardwire_engine::Timestamp::SIM_START,
                day: cardwire_engine::Timestamp::SIM_START.day(),
                kind: "balance".into(),
                mti: "0200".into(),
                terminal: "12345678".into(),
                merchant: "123456789012345".into(),
                stan: u32::try_from(seq).unwrap(),
                batch: 1,
                card: Some("alice".into()),
                pan_masked: None,
                amount: 0,
                currency: 156,
                code: "00".into(),
                rrn: String::new(),
                auth_code: None,
                original: None,
                postings: Vec::new(),
                hold: 0,
            };
            l.append(&e).unwrap();
        }
        let mut h = Host::with_ledger(spec, HostConfig::demo(), l).unwrap();
        h.save_snapshot().unwrap();
        h.ledger().clone()
    }

    fn shut(q: &CommitQueue, h: std::thread::JoinHandle<()>) {
        q.close();
        h.join().unwrap();
    }

    #[test]
    fn a_fitting_snapshot_is_handed_over_with_only_the_entries_from_its_own() {
        let (l, q, h) = GroupLedger::durable(ledger_with_snapshot()).unwrap();
        assert_eq!(l.snapshot().unwrap().map(|s| s.0), Some(3));
        let tail = l.entries_after(2).unwrap();
        assert_eq!(tail.iter().map(|e| e.seq).collect::<Vec<_>>(), [3]);
        assert!(l.entries().is_err(), "the entries before it were not read");
        shut(&q, h);
    }

    #[test]
    fn a_snapshot_that_does_not_fit_is_ignored_and_every_entry_replayed() {
        let mut backend = ledger_with_snapshot();
        backend
            .save_snapshot(3, b"not a snapshot".to_vec())
            .unwrap();
        let (l, q, h) = GroupLedger::durable(backend).unwrap();
        assert!(l.snapshot().unwrap().is_none());
        assert_eq!(l.entries().unwrap().len(), 3);
        shut(&q, h);
    }
}
