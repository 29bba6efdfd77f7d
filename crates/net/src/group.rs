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

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use cardwire_engine::ledger::{Entry, Ledger, LedgerError};
use tokio::sync::{oneshot, watch};

use crate::log;

/// The queue between the engine and the committer.
#[derive(Debug)]
pub(crate) struct CommitQueue {
    pending: Mutex<Vec<Entry>>,
    wake: Condvar,
    /// Highest sequence number on disk.
    durable: AtomicU64,
    /// Replies waiting for a sequence number to be durable.
    waiters: Mutex<BTreeMap<u64, Vec<oneshot::Sender<()>>>>,
    failed: AtomicBool,
    failure: watch::Sender<bool>,
    closed: AtomicBool,
}

/// Below this many queued entries the committer waits this long for
/// more before it commits: with `synchronous = NORMAL` a commit is fast
/// and would otherwise carry one entry and rewrite the same pages.
const GATHER_BELOW: usize = 32;
const GATHER_FOR: Duration = Duration::from_micros(250);

impl CommitQueue {
    /// Whether the committer failed (replies must not be sent).
    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Fires when the committer fails.
    pub(crate) fn subscribe(&self) -> watch::Receiver<bool> {
        self.failure.subscribe()
    }

    fn waiters(&self) -> MutexGuard<'_, BTreeMap<u64, Vec<oneshot::Sender<()>>>> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until entry `seq` is on disk; `false` if it never will be.
    pub(crate) async fn wait(&self, seq: u64) -> bool {
        if self.failed() {
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
        rx.await.is_ok() && !self.failed()
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
    replay: Mutex<Vec<Entry>>,
    queue: Option<Arc<CommitQueue>>,
    appended: u64,
}

impl GroupLedger {
    /// In memory: every append is at once "durable".
    pub(crate) fn memory() -> Self {
        GroupLedger {
            replay: Mutex::new(Vec::new()),
            queue: None,
            appended: 0,
        }
    }

    /// Over `backend`: its entries are replayed into the host, then a
    /// committer thread owns it.
    pub(crate) fn durable<L: Ledger + Send + 'static>(
        backend: L,
    ) -> Result<(Self, Arc<CommitQueue>, std::thread::JoinHandle<()>), LedgerError> {
        let replay = backend.entries()?;
        let last = replay.last().map_or(0, |e| e.seq);
        let queue = Arc::new(CommitQueue {
            pending: Mutex::new(Vec::new()),
            wake: Condvar::new(),
            durable: AtomicU64::new(last),
            waiters: Mutex::new(BTreeMap::new()),
            failed: AtomicBool::new(false),
            failure: watch::channel(false).0,
            closed: AtomicBool::new(false),
        });
        let q = Arc::clone(&queue);
        let handle = std::thread::Builder::new()
            .name("cardwire-commit".into())
            .spawn(move || commit_loop(backend, &q))
            .map_err(|e| LedgerError::Backend(format!("starting the committer: {e}")))?;
        Ok((
            GroupLedger {
                replay: Mutex::new(replay),
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
                return Err(LedgerError::Backend("ledger commit failed earlier".into()));
            }
            let mut p = q
                .pending
                .lock()
                .map_err(|_| LedgerError::Backend("commit queue poisoned".into()))?;
            p.push(entry.clone());
            q.wake.notify_one();
        }
        self.appended = entry.seq;
        Ok(())
    }

    fn entries(&self) -> Result<Vec<Entry>, LedgerError> {
        // Handed over once, at start-up; the host keeps its own records.
        Ok(self
            .replay
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default())
    }
}

fn take_pending(q: &CommitQueue) -> Option<Vec<Entry>> {
    let mut p = q.pending.lock().ok()?;
    while p.is_empty() && !q.closed.load(Ordering::Acquire) {
        p = q.wake.wait(p).ok()?;
    }
    if p.is_empty() {
        return None;
    }
    Some(std::mem::take(&mut *p))
}

fn commit_loop<L: Ledger>(mut backend: L, q: &CommitQueue) {
    while let Some(mut batch) = take_pending(q) {
        if batch.len() < GATHER_BELOW && !q.closed.load(Ordering::Acquire) {
            std::thread::sleep(GATHER_FOR);
            if let Ok(mut p) = q.pending.lock() {
                batch.append(&mut p);
            }
        }
        let last = batch.last().map_or(0, |e| e.seq);
        let res = batch
            .iter()
            .try_for_each(|e| backend.append(e))
            .and_then(|()| backend.commit());
        if let Err(e) = res {
            log(
                "ERROR",
                &format!("ledger commit failed: {e}; replies are withheld, the host stops"),
            );
            q.failed.store(true, Ordering::Release);
            // Dropping the senders wakes every waiter with "never".
            q.waiters().clear();
            q.failure.send_replace(true);
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
