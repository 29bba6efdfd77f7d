//! The message journal: every frame in and out as one JSON line, written
//! by a thread of its own so decoding and formatting never slow the host.
//!
//! ```json
//! {"time":"2026-11-21 09:00:00.123","t":1795251600123,"conn":3,"dir":"in","len":120,
//!  "mti":"0200","kind":"sale","terminal":"12345678","stan":7,
//!  "fields":{"2":"622202*********0123","3":"000000","4":"000000001234", ...}}
//! {"time":"2026-11-21 09:00:00.124","t":1795251600124,"conn":3,"dir":"out","len":98,
//!  "mti":"0210","kind":"sale","terminal":"12345678","stan":7,"code":"00",
//!  "meaning":"approved","latency_ms":0.41,"fields":{...}}
//! ```
//!
//! The host adds what it decided beside the frames: `{"event":"journal", ...}`
//! (the ledger entry: transaction, amount, code, postings), `{"event":
//! "notification", "text": ...}` (the cardholder's SMS), `settled`,
//! `dropped` (a rule swallowed the request), `rejected` (undecodable), and
//! `open`/`close` of each connection with the reason; the proxy adds
//! `fault` notes.
//!
//! Fields are masked as `cardwire decode` masks them: PAN first 6 + last
//! 4, track data, PIN blocks, MACs and keys hidden. A frame that does not
//! decode is journaled with its length and the decode error (field,
//! offset, reason), never its bytes. Lines are flushed whenever the
//! writer has nothing else to do, so `tail -f` shows them at once.
//!
//! The file rotates by size: once it reaches [`Rotation::max_size`] it
//! becomes `PATH.1` (the older ones `PATH.2` ... up to
//! [`Rotation::keep`], the oldest deleted) and a new `PATH` begins, so
//! the journal never takes more than `(keep + 1) * max_size` (plus a
//! line). Only regular files rotate.
//!
//! A write that fails (disk full) loses the lines it carried and is
//! logged, at most once a minute; the error is kept for the host's
//! admin `status` ([`JournalSender::error`]) until a write succeeds
//! again. The journal never stops the host.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cardwire_codec::{CodeTable, DecodeMode, Spec, decode, decode_with, json::to_json};
use cardwire_engine::Timestamp;
use cardwire_engine::ledger::{Entry, Ledger};
use serde_json::{Map, Value, json};

use crate::NetError;

/// Direction of a frame, as the journal writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Into the host (a request), or terminal to upstream in the proxy.
    In,
    /// Out of the host (a reply), or upstream to terminal in the proxy.
    Out,
}

/// One thing to journal.
#[derive(Debug)]
pub enum Item {
    /// A frame.
    Frame {
        /// Wall-clock time.
        at: Timestamp,
        /// Monotonic time, for latencies.
        instant: Instant,
        /// Connection number.
        conn: u64,
        /// Direction.
        dir: Dir,
        /// The frame (without length prefix).
        bytes: Bytes,
    },
    /// Anything else (connection opened or closed, fault struck ...),
    /// as a JSON object; `time` and `conn` are added.
    Note {
        /// Wall-clock time.
        at: Timestamp,
        /// Connection number.
        conn: u64,
        /// The object.
        value: Value,
    },
}

/// Lines waiting for the writer, at most. A sender that finds the queue
/// full waits for room: under a load the writer cannot keep up with, the
/// journal slows the host instead of holding an ever longer queue in
/// memory or dropping lines.
pub const JOURNAL_QUEUE: usize = 4_096;

/// The sending half: cheap to clone; blocks only while the writer is
/// [`JOURNAL_QUEUE`] lines behind.
#[derive(Debug, Clone)]
pub struct JournalSender {
    tx: mpsc::SyncSender<Item>,
    health: Arc<Health>,
}

/// How the writer is doing, shared with the senders.
#[derive(Debug, Default)]
struct Health {
    /// The last write error, while writes fail.
    error: Mutex<Option<String>>,
    /// Lines lost to failed writes, ever.
    lost: AtomicU64,
}

/// Failed writes are logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(60);

impl JournalSender {
    /// Why the last write to the journal file failed, while writes fail
    /// (with the number of lines lost so far).
    pub fn error(&self) -> Option<String> {
        let e = self
            .health
            .error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        let lost = self.health.lost.load(Ordering::Relaxed);
        Some(format!("{e} ({lost} lines lost)"))
    }

    /// Journals a frame.
    pub fn frame(&self, conn: u64, dir: Dir, bytes: &Bytes) {
        let _ = self.tx.send(Item::Frame {
            at: crate::now(),
            instant: Instant::now(),
            conn,
            dir,
            // A copy: the frame may be a slice of a connection's read
            // buffer, which a queued line would otherwise keep alive.
            bytes: Bytes::copy_from_slice(bytes),
        });
    }

    /// Journals a note.
    pub fn note(&self, conn: u64, value: Value) {
        let _ = self.tx.send(Item::Note {
            at: crate::now(),
            conn,
            value,
        });
    }
}

/// When the journal file rotates, and how many old files are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// The file rotates once it holds this many bytes.
    pub max_size: u64,
    /// Rotated files kept (`PATH.1` newest ... `PATH.keep` oldest).
    pub keep: u32,
}

impl Default for Rotation {
    /// 256 MiB, 4 old files.
    fn default() -> Self {
        Rotation {
            max_size: 256 << 20,
            keep: 4,
        }
    }
}

/// The writer thread; dropping every [`JournalSender`] ends it, and
/// [`JournalWriter::finish`] waits for the last line.
#[derive(Debug)]
pub struct JournalWriter {
    handle: std::thread::JoinHandle<()>,
}

impl JournalWriter {
    /// Opens `path` for appending and starts the writer thread, with the
    /// default [`Rotation`].
    ///
    /// # Errors
    ///
    /// [`NetError::Io`] when the file cannot be opened.
    pub fn start(path: &Path, spec: Arc<Spec>) -> Result<(JournalSender, Self), NetError> {
        Self::start_rotating(path, spec, Rotation::default(), DecodeMode::Strict)
    }

    /// Opens `path` for appending and starts the writer thread; the file
    /// rotates as `rotation` says, and frames are decoded in `mode` (a
    /// lenient decode adds its warnings to the frame's line).
    ///
    /// # Errors
    ///
    /// [`NetError::Io`] when the file cannot be opened.
    pub fn start_rotating(
        path: &Path,
        spec: Arc<Spec>,
        rotation: Rotation,
        mode: DecodeMode,
    ) -> Result<(JournalSender, Self), NetError> {
        let file = open_journal(path)?;
        let meta = file
            .metadata()
            .map_err(|e| NetError::io(format!("opening journal {}", path.display()), e))?;
        let (tx, rx) = mpsc::sync_channel(JOURNAL_QUEUE);
        let health = Arc::new(Health::default());
        let sink = Sink {
            path: path.to_owned(),
            file,
            size: meta.len(),
            rotation: meta.is_file().then_some(rotation),
            buf: Vec::with_capacity(1 << 16),
            health: Arc::clone(&health),
            logged: None,
        };
        let handle = std::thread::Builder::new()
            .name("cardwire-journal".into())
            .spawn(move || write_loop(rx, sink, &spec, mode))
            .map_err(|e| NetError::io("starting the journal thread", e))?;
        Ok((JournalSender { tx, health }, JournalWriter { handle }))
    }

    /// Waits until every line sent so far is written (after the senders
    /// are dropped).
    pub fn finish(self) {
        let _ = self.handle.join();
    }
}

fn open_journal(path: &Path) -> Result<std::fs::File, NetError> {
    crate::owner_only()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| NetError::io(format!("opening journal {}", path.display()), e))
}

/// `PATH.n`.
fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(format!(".{n}"));
    p.into()
}

/// The journal file and the lines not yet written to it.
struct Sink {
    path: PathBuf,
    file: std::fs::File,
    /// Bytes in the current file.
    size: u64,
    /// `None`: not a regular file (a pipe, `/dev/null`), never rotated.
    rotation: Option<Rotation>,
    buf: Vec<u8>,
    health: Arc<Health>,
    /// When a failed write was last logged.
    logged: Option<Instant>,
}

impl Sink {
    fn line(&mut self, v: &Value) {
        if serde_json::to_writer(&mut self.buf, v).is_ok() {
            self.buf.push(b'\n');
        }
        let full = self
            .rotation
            .is_some_and(|r| self.size + self.buf.len() as u64 >= r.max_size);
        if full || self.buf.len() >= 1 << 16 {
            self.flush();
        }
        if full {
            self.rotate();
        }
    }

    /// `PATH` becomes `PATH.1`, `PATH.1` becomes `PATH.2` ..., the
    /// oldest is deleted, and a new `PATH` begins. On failure the current
    /// file goes on (and the error is reported as a write error).
    fn rotate(&mut self) {
        let Some(r) = self.rotation else { return };
        if self.size < r.max_size {
            return;
        }
        let res = (|| {
            if r.keep == 0 {
                std::fs::remove_file(&self.path)?;
            } else {
                for n in (1..r.keep).rev() {
                    let from = rotated(&self.path, n);
                    if from.exists() {
                        std::fs::rename(&from, rotated(&self.path, n + 1))?;
                    }
                }
                std::fs::rename(&self.path, rotated(&self.path, 1))?;
            }
            open_journal(&self.path).map_err(|e| match e {
                NetError::Io { err, .. } => err,
                other => std::io::Error::other(other.to_string()),
            })
        })();
        match res {
            Ok(file) => {
                self.file = file;
                self.size = 0;
            }
            Err(e) => self.failed(&format!("rotating {}: {e}", self.path.display())),
        }
    }

    /// Keeps `error` for `status` and logs it at most once a minute.
    fn failed(&mut self, error: &str) {
        *self
            .health
            .error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(error.to_owned());
        if self.logged.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
            self.logged = Some(Instant::now());
            let lost = self.health.lost.load(Ordering::Relaxed);
            tracing::error!(
                "journal: {error}; {lost} lines lost so far (logged at most once a minute)"
            );
        }
    }

    /// Writes the buffered lines; on failure they are lost, counted, and
    /// the error kept (and logged at most once a minute).
    fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        match self.file.write_all(&self.buf) {
            Ok(()) => {
                self.size += self.buf.len() as u64;
                let was = self
                    .health
                    .error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                if was.is_some() {
                    tracing::info!("journal {}: writes succeed again", self.path.display(),);
                }
            }
            Err(e) => {
                let lines = self.buf.iter().filter(|&&b| b == b'\n').count() as u64;
                self.health.lost.fetch_add(lines, Ordering::Relaxed);
                self.failed(&format!("writing {}: {e}", self.path.display()));
            }
        }
        self.buf.clear();
    }
}

fn write_loop(rx: mpsc::Receiver<Item>, mut out: Sink, spec: &Spec, mode: DecodeMode) {
    let mut pending: HashMap<(u64, u32), Instant> = HashMap::new();
    while let Ok(first) = rx.recv() {
        let mut item = Some(first);
        while let Some(it) = item {
            let line = render(spec, mode, it, &mut pending);
            out.line(&line);
            item = rx.try_recv().ok();
        }
        out.flush();
        if pending.len() > 100_000 {
            // Requests that never got a reply: forget the oldest half.
            let now = Instant::now();
            pending.retain(|_, t| now.duration_since(*t).as_secs() < 120);
        }
    }
    out.flush();
}

fn render(
    spec: &Spec,
    mode: DecodeMode,
    item: Item,
    pending: &mut HashMap<(u64, u32), Instant>,
) -> Value {
    match item {
        Item::Note { at, conn, value } => {
            let mut m = Map::new();
            m.insert("time".into(), at.to_string().into());
            m.insert("t".into(), at.as_millis().into());
            m.insert("conn".into(), conn.into());
            if let Value::Object(o) = value {
                m.extend(o);
            }
            Value::Object(m)
        }
        Item::Frame {
            at,
            instant,
            conn,
            dir,
            bytes,
        } => {
            let mut m = Map::new();
            m.insert("time".into(), at.to_string().into());
            m.insert("t".into(), at.as_millis().into());
            m.insert("conn".into(), conn.into());
            m.insert(
                "dir".into(),
                match dir {
                    Dir::In => "in",
                    Dir::Out => "out",
                }
                .into(),
            );
            m.insert("len".into(), bytes.len().into());
            describe_with(spec, &bytes, mode, &mut m);
            if let Some(stan) = m
                .get("stan")
                .and_then(Value::as_u64)
                .and_then(|s| u32::try_from(s).ok())
            {
                match dir {
                    Dir::In => {
                        pending.insert((conn, stan), instant);
                    }
                    Dir::Out => {
                        if let Some(t) = pending.remove(&(conn, stan)) {
                            let us = instant.duration_since(t).as_micros();
                            m.insert("latency_ms".into(), json!(us as f64 / 1000.0));
                        }
                    }
                }
            }
            Value::Object(m)
        }
    }
}

/// Decodes `frame` and adds its summary (MTI, transaction, terminal, STAN,
/// response code and meaning, masked fields) to `m`; an undecodable frame
/// adds `"error"` (field, offset, reason; never card data).
pub fn describe_into(spec: &Spec, frame: &[u8], m: &mut Map<String, Value>) {
    describe_with(spec, frame, DecodeMode::Strict, m);
}

/// [`describe_into`], decoding in `mode`: a lenient decode adds
/// `"warnings"` (one text per deviation read past: field, offset, reason;
/// never card data), and a frame it still cannot read gets `"error"`.
pub fn describe_with(spec: &Spec, frame: &[u8], mode: DecodeMode, m: &mut Map<String, Value>) {
    let decoded = match mode {
        DecodeMode::Lenient => {
            let d = decode_with(spec, frame, DecodeMode::Lenient);
            if !d.warnings.is_empty() {
                let w: Vec<Value> = d.warnings.iter().map(|w| w.to_string().into()).collect();
                m.insert("warnings".into(), w.into());
            }
            match (d.message, d.error) {
                (Some(msg), None) => Ok(msg),
                (_, Some(e)) => Err(e),
                (None, None) => decode(spec, frame),
            }
        }
        _ => decode(spec, frame),
    };
    match decoded {
        Ok(msg) => {
            m.insert("mti".into(), msg.mti().as_str().into());
            m.insert("kind".into(), msg.transaction().as_str().into());
            if let Some(t) = msg.value(41) {
                m.insert("terminal".into(), t.to_string().trim().into());
            }
            if let Some(s) = msg.value(11).and_then(|v| v.to_u64()) {
                m.insert("stan".into(), s.into());
            }
            if let Some(c) = msg.value(39) {
                let code = c.to_string();
                let info = CodeTable::lookup(spec.codes, &code);
                m.insert("code".into(), code.into());
                m.insert("meaning".into(), info.meaning.into());
            }
            let j = to_json(&msg, false);
            if let Some(f) = j.get("fields") {
                m.insert("fields".into(), f.clone());
            }
        }
        Err(e) => {
            m.insert("error".into(), e.to_string().into());
        }
    }
}

/// What `cardwire journal` selects.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Terminal id.
    pub terminal: Option<String>,
    /// STAN.
    pub stan: Option<u32>,
    /// Response code.
    pub code: Option<String>,
    /// Transaction kind (`sale`, `reversal` ...).
    pub kind: Option<String>,
    /// Connection number (journal file only).
    pub conn: Option<u64>,
    /// Only the last n matches.
    pub last: Option<usize>,
}

impl Filter {
    fn keep(&self, v: &Value) -> bool {
        let s = |k: &str| v.get(k).and_then(Value::as_str);
        let n = |k: &str| v.get(k).and_then(Value::as_u64);
        self.terminal
            .as_deref()
            .is_none_or(|t| s("terminal") == Some(t))
            && self.stan.is_none_or(|x| n("stan") == Some(u64::from(x)))
            && self.code.as_deref().is_none_or(|c| s("code") == Some(c))
            && self.kind.as_deref().is_none_or(|k| s("kind") == Some(k))
            && self.conn.is_none_or(|c| n("conn") == Some(c))
    }

    fn tail(&self, mut v: Vec<Value>) -> Vec<Value> {
        if let Some(n) = self.last {
            let skip = v.len().saturating_sub(n);
            v.drain(..skip);
        }
        v
    }
}

/// Reads the matching lines of a journal file. Lines that are not JSON
/// (a line being written while we read) are skipped.
///
/// # Errors
///
/// [`NetError::Io`] when the file cannot be read.
pub fn query_file(path: &Path, filter: &Filter) -> Result<Vec<Value>, NetError> {
    let f = std::fs::File::open(path)
        .map_err(|e| NetError::io(format!("opening journal {}", path.display()), e))?;
    let mut out = Vec::new();
    for line in std::io::BufReader::new(f).lines() {
        let line = line.map_err(|e| NetError::io("reading the journal", e))?;
        if let Ok(v) = serde_json::from_str::<Value>(&line) {
            if filter.keep(&v) {
                out.push(v);
            }
        }
    }
    Ok(filter.tail(out))
}

/// Reads the matching entries of a SQLite ledger, as JSON.
///
/// # Errors
///
/// [`NetError::Ledger`] when the database cannot be read.
pub fn query_db(path: &Path, filter: &Filter) -> Result<Vec<Value>, NetError> {
    let l = crate::sqlite::SqliteLedger::open_read_only(path)?;
    let out = l
        .entries()?
        .into_iter()
        .filter_map(|e: Entry| serde_json::to_value(e).ok())
        .filter(|v| filter.keep(v))
        .collect();
    Ok(filter.tail(out))
}

/// The default journal file next to a database or config file:
/// `<dir>/cardwire-journal.jsonl`.
pub fn default_path_near(file: &Path) -> PathBuf {
    file.parent()
        .unwrap_or_else(|| Path::new("."))
        .join("cardwire-journal.jsonl")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn journal_rotates_by_size_and_keeps_that_many_files() {
        let dir = std::env::temp_dir().join(format!("cardwire-rotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("journal.jsonl");
        let rotation = Rotation {
            max_size: 8 << 10,
            keep: 3,
        };
        let spec = Arc::new(cardwire_codec::specs::cups().clone());
        let (tx, w) =
            JournalWriter::start_rotating(&path, spec, rotation, DecodeMode::Strict).unwrap();
        // About 100 bytes a line, 200 KiB in all: many rotations.
        for i in 0..2_000u64 {
            tx.note(i, json!({"event": "junk", "n": i, "pad": "x".repeat(40)}));
        }
        drop(tx);
        w.finish();
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "journal.jsonl",
                "journal.jsonl.1",
                "journal.jsonl.2",
                "journal.jsonl.3"
            ]
        );
        let mut last_n = None;
        for name in names[1..].iter().rev().chain(names.first()) {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            // A file holds at most its limit plus the line that crossed it.
            assert!(
                text.len() as u64 <= rotation.max_size + 200,
                "{name}: {}",
                text.len()
            );
            // Whole lines, in order across the files, none lost in between.
            for line in text.lines() {
                let n = serde_json::from_str::<Value>(line).unwrap()["n"]
                    .as_u64()
                    .unwrap();
                if let Some(l) = last_n {
                    assert_eq!(n, l + 1, "{name}");
                }
                last_n = Some(n);
            }
        }
        assert_eq!(last_n, Some(1_999));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
