//! A durable [`Ledger`] in SQLite (bundled, WAL), with group commit.
//!
//! [`Ledger::append`] only buffers; [`Ledger::commit`] writes every
//! buffered entry in one transaction. The host driver commits once per
//! batch of requests, before it sends the batch's replies, so an approval
//! a terminal has seen is always on disk, and one fsync pays for many
//! authorizations.
//!
//! ```text
//!  entries(seq INTEGER PRIMARY KEY, at, day, kind, terminal, stan,
//!          code, amount, entry JSON)
//!  snapshot(id = 1, seq, state BLOB)
//! ```
//!
//! The snapshot is the host's state after entry `seq` (see
//! [`Ledger::save_snapshot`]); it is written in the same transaction as
//! the entries it covers, so it is never ahead of them, and a start
//! replays only the entries after it.
//!
//! Checkpoints (copying the WAL into the database file) run on a thread
//! of their own with a second connection (`wal_autocheckpoint = 0` on
//! the writer), so a commit rarely stalls behind one. That thread alone
//! never lets the WAL shrink under sustained load: a passive checkpoint
//! copies the frames written before it began, and the writer only starts
//! the WAL over from its beginning when every frame has been copied. So
//! once the WAL passes [`WAL_CHECKPOINT_AT`], the writer itself copies
//! what is left between two commits (a passive checkpoint on its own
//! connection: no commit runs meanwhile, so it completes), the next
//! commit starts the WAL over, and `journal_size_limit` truncates the
//! file back to [`WAL_SIZE_LIMIT`]. The WAL stays near
//! [`WAL_CHECKPOINT_AT`] whatever the load.
//!
//! The `entry` column is the engine's [`Entry`] as JSON (masked PAN only,
//! never a full PAN); the other columns are there for `cardwire journal
//! --db` queries.

use std::path::Path;

use cardwire_engine::ledger::{Entry, Ledger, LedgerError};
use rusqlite::{Connection, params};

/// The writer checkpoints once the WAL file is this large.
pub const WAL_CHECKPOINT_AT: u64 = 32 << 20;
/// `journal_size_limit`: the WAL file is cut back to this size when it
/// starts over (below [`WAL_CHECKPOINT_AT`], so a WAL cut back is not
/// checkpointed again at once).
pub const WAL_SIZE_LIMIT: u64 = 16 << 20;

/// How hard SQLite works to keep a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous = FULL`: a commit survives a power cut.
    #[default]
    Full,
    /// `synchronous = NORMAL` (WAL): a commit survives a crash of the
    /// process (`kill -9`), the last ones may be lost on a power cut.
    Normal,
}

impl Durability {
    /// Parses `full` or `normal`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "full" => Some(Durability::Full),
            "normal" => Some(Durability::Normal),
            _ => None,
        }
    }
}

/// A ledger in a SQLite file.
#[derive(Debug)]
pub struct SqliteLedger {
    conn: Connection,
    pending: Vec<Entry>,
    snapshot: Option<(u64, Vec<u8>)>,
    next_seq: u64,
    /// The `-wal` file, watched after each commit (`None` read-only).
    wal: Option<std::path::PathBuf>,
    _checkpointer: Option<Checkpointer>,
}

/// Copies the WAL back into the database file from a thread of its own,
/// so no commit (and no reply waiting for it) ever pays for a checkpoint.
#[derive(Debug)]
struct Checkpointer {
    stop: std::sync::mpsc::Sender<()>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: &Path) -> Result<Self, LedgerError> {
        let conn = Connection::open(path).map_err(backend)?;
        let (stop, rx) = std::sync::mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("cardwire-checkpoint".into())
            .spawn(move || {
                // PASSIVE never blocks the writer; once the WAL is fully
                // copied, the next commit starts it over from the top.
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    rx.recv_timeout(std::time::Duration::from_millis(500))
                {
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .map_err(backend)?;
        Ok(Checkpointer {
            stop,
            handle: Some(handle),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn backend(e: impl core::fmt::Display) -> LedgerError {
    LedgerError::Backend(e.to_string())
}

impl SqliteLedger {
    /// Opens (or creates) the ledger at `path`.
    ///
    /// # Errors
    ///
    /// [`LedgerError::Backend`] when the file cannot be opened or is not a
    /// cardwire ledger.
    pub fn open(path: &Path, durability: Durability) -> Result<Self, LedgerError> {
        // A new ledger is created readable by its owner only; SQLite gives
        // its WAL and shared-memory files the database file's mode.
        if !path.exists() {
            crate::owner_only()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(|e| backend(format!("creating {}: {e}", path.display())))?;
        }
        let conn = Connection::open(path).map_err(backend)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        conn.pragma_update(
            None,
            "synchronous",
            match durability {
                Durability::Full => "FULL",
                Durability::Normal => "NORMAL",
            },
        )
        .map_err(backend)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS entries (
                seq INTEGER PRIMARY KEY,
                at INTEGER NOT NULL,
                day INTEGER NOT NULL,
                kind TEXT NOT NULL,
                terminal TEXT NOT NULL,
                stan INTEGER NOT NULL,
                code TEXT NOT NULL,
                amount INTEGER NOT NULL,
                entry TEXT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS entries_terminal ON entries (terminal, stan);
            CREATE TABLE IF NOT EXISTS snapshot (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                seq INTEGER NOT NULL,
                state BLOB NOT NULL
            );",
        )
        .map_err(backend)?;
        let last: Option<i64> = conn
            .query_row("SELECT MAX(seq) FROM entries", [], |r| r.get(0))
            .map_err(backend)?;
        let next_seq = u64::try_from(last.unwrap_or(0)).map_err(backend)? + 1;
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(backend)?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)
            .map_err(backend)?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Ok(SqliteLedger {
            conn,
            pending: Vec::new(),
            snapshot: None,
            next_seq,
            wal: Some(wal.into()),
            _checkpointer: Some(Checkpointer::start(path)?),
        })
    }

    /// Opens an existing ledger read-only (for `cardwire journal --db`).
    ///
    /// # Errors
    ///
    /// [`LedgerError::Backend`] when it cannot be opened.
    pub fn open_read_only(path: &Path) -> Result<Self, LedgerError> {
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(backend)?;
        Ok(SqliteLedger {
            conn,
            pending: Vec::new(),
            snapshot: None,
            next_seq: 0,
            wal: None,
            _checkpointer: None,
        })
    }

    /// Entries buffered and not yet committed.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Between two commits: once the WAL has passed
    /// [`WAL_CHECKPOINT_AT`], copy the rest of it into the database file,
    /// so the next commit starts it over (and cuts it back). The
    /// background checkpointer has usually copied most of it already.
    /// Busy (the background checkpoint is running) is not an error: the
    /// next commit tries again.
    fn bound_wal(&self) {
        let Some(wal) = &self.wal else { return };
        if std::fs::metadata(wal).map_or(0, |m| m.len()) < WAL_CHECKPOINT_AT {
            return;
        }
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }
}

impl Ledger for SqliteLedger {
    fn append(&mut self, entry: &Entry) -> Result<(), LedgerError> {
        let expected = self.next_seq + self.pending.len() as u64;
        if entry.seq != expected {
            return Err(LedgerError::OutOfOrder {
                expected,
                got: entry.seq,
            });
        }
        self.pending.push(entry.clone());
        Ok(())
    }

    fn commit(&mut self) -> Result<(), LedgerError> {
        if self.pending.is_empty() && self.snapshot.is_none() {
            return Ok(());
        }
        let tx = self.conn.transaction().map_err(backend)?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO entries (seq, at, day, kind, terminal, stan, code, amount, entry)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(backend)?;
            for e in &self.pending {
                let json = serde_json::to_string(e).map_err(backend)?;
                st.execute(params![
                    i64::try_from(e.seq).map_err(backend)?,
                    i64::try_from(e.at.as_millis()).map_err(backend)?,
                    e.day,
                    e.kind,
                    e.terminal,
                    e.stan,
                    e.code,
                    i64::try_from(e.amount).map_err(backend)?,
                    json
                ])
                .map_err(backend)?;
            }
        }
        if let Some((seq, state)) = &self.snapshot {
            tx.execute(
                "INSERT OR REPLACE INTO snapshot (id, seq, state) VALUES (1, ?1, ?2)",
                params![i64::try_from(*seq).map_err(backend)?, state],
            )
            .map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
        self.next_seq += self.pending.len() as u64;
        self.pending.clear();
        self.snapshot = None;
        self.bound_wal();
        Ok(())
    }

    fn entries(&self) -> Result<Vec<Entry>, LedgerError> {
        self.entries_after(0)
    }

    fn entries_after(&self, seq: u64) -> Result<Vec<Entry>, LedgerError> {
        let mut st = self
            .conn
            .prepare("SELECT entry FROM entries WHERE seq > ?1 ORDER BY seq")
            .map_err(backend)?;
        let rows = st
            .query_map([i64::try_from(seq).map_err(backend)?], |r| {
                r.get::<_, String>(0)
            })
            .map_err(backend)?;
        let mut out = Vec::new();
        for r in rows {
            let text = r.map_err(backend)?;
            out.push(serde_json::from_str(&text).map_err(backend)?);
        }
        Ok(out)
    }

    fn save_snapshot(&mut self, seq: u64, snapshot: Vec<u8>) -> Result<(), LedgerError> {
        let last_buffered = self.next_seq + self.pending.len() as u64 - 1;
        if seq > last_buffered {
            return Err(LedgerError::Backend(format!(
                "a snapshot of entry {seq} ahead of the ledger (entry {last_buffered})"
            )));
        }
        self.snapshot = Some((seq, snapshot));
        Ok(())
    }

    fn snapshot(&self) -> Result<Option<(u64, Vec<u8>)>, LedgerError> {
        // A ledger written before snapshots existed has no such table.
        let Ok(mut st) = self
            .conn
            .prepare("SELECT seq, state FROM snapshot WHERE id = 1")
        else {
            return Ok(None);
        };
        let mut rows = st.query([]).map_err(backend)?;
        match rows.next().map_err(backend)? {
            Some(r) => {
                let seq: i64 = r.get(0).map_err(backend)?;
                let seq = u64::try_from(seq).map_err(backend)?;
                Ok(Some((seq, r.get(1).map_err(backend)?)))
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cardwire_engine::Timestamp;

    fn entry(seq: u64) -> Entry {
        Entry {
            seq,
            at: Timestamp::SIM_START,
            day: Timestamp::SIM_START.day(),
            kind: "sale".into(),
            mti: "0200".into(),
            terminal: "12345678".into(),
            merchant: "123456789012345".into(),
            stan: u32::try_from(seq).unwrap(),
            batch: 1,
            card: Some("alice".into()),
            pan_masked: Some("622202*********0123".into()),
            amount: 100,
            currency: 156,
            code: "00".into(),
            rrn: format!("{seq:012}"),
            auth_code: Some("123456".into()),
            original: None,
            postings: vec![],
            hold: 0,
        }
    }

    #[test]
    fn only_committed_entries_survive_a_reopen() {
        let dir = std::env::temp_dir().join(format!("cardwire-sqlite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ledger.db");
        let _ = std::fs::remove_file(&path);
        {
            let mut l = SqliteLedger::open(&path, Durability::Normal).unwrap();
            l.append(&entry(1)).unwrap();
            l.append(&entry(2)).unwrap();
            assert!(l.append(&entry(4)).is_err());
            l.commit().unwrap();
            l.append(&entry(3)).unwrap();
            // dropped without commit: entry 3 is lost, as after kill -9
        }
        let mut l = SqliteLedger::open(&path, Durability::Full).unwrap();
        assert_eq!(l.entries().unwrap(), vec![entry(1), entry(2)]);
        l.append(&entry(3)).unwrap();
        l.commit().unwrap();
        assert_eq!(l.entries().unwrap().len(), 3);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn wal_stays_bounded_while_commits_keep_coming() {
        let dir = std::env::temp_dir().join(format!("cardwire-wal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ledger.db");
        let _ = std::fs::remove_file(&path);
        let wal = dir.join("ledger.db-wal");
        let cap = 2 * WAL_CHECKPOINT_AT;
        let mut l = SqliteLedger::open(&path, Durability::Normal).unwrap();
        let mut largest = 0;
        let mut seq = 1;
        // Small group commits back to back, as under full load: each
        // rewrites the last pages of the table and its index in the WAL.
        while seq < 120_000 {
            for _ in 0..8 {
                l.append(&entry(seq)).unwrap();
                seq += 1;
            }
            l.commit().unwrap();
            largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        }
        drop(l);
        let l = SqliteLedger::open_read_only(&path).unwrap();
        assert_eq!(l.entries().unwrap().len() as u64, seq - 1);
        assert!(
            largest < cap,
            "the WAL reached {} MiB (cap {} MiB)",
            largest >> 20,
            cap >> 20
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
