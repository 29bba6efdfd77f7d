//! The TCP host: many terminals, one engine [`Host`].
//!
//! ```text
//!  accept ─► semaphore (connection limit) ─► one task per connection:
//!     read ─► FrameCodec ─► every whole frame buffered:
//!         lock Host ─ handle_message(now, conn, frame) ─ poll_transmit ─ unlock
//!     wait until the ledger holds the entries those replies report
//!     one write for all the replies                     (idle timeout, frame limit)
//!
//!  committer thread (SQLite):  take every entry appended since the last
//!     commit ─► one transaction, one fsync ─► "durable up to seq N" ─► wake
//!     the replies waiting for N or less
//!  timer task:  Host::handle_timeout at Host::poll_timeout (delayed replies)
//! ```
//!
//! The engine is a plain state machine behind a `std::sync::Mutex`, held
//! only for the synchronous `handle_*`/`poll_*` calls (microseconds), never
//! across an `.await`. Replies wait for the committer, not for the lock,
//! so while one fsync runs, other connections keep deciding, and the next
//! commit carries all of their entries: group commit without a batch
//! timer. An approval is never written to a socket before it is on disk;
//! after `kill -9` the restarted host replays the ledger and has every
//! approval any terminal saw.
//!
//! An earlier design had one thread own the host and connections talk
//! to it over channels; it cost about twice the CPU per authorization
//! (two cross-thread wake-ups per message), see ARCHITECTURE.md.
//!
//! Shutdown (Ctrl-C or SIGTERM, caught by the CLI): stop accepting, stop
//! reading, answer what was read, let the committer finish, flush the
//! journal, exit.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use cardwire_codec::frame::FramePrefix;
use cardwire_codec::{DecodeMode, Spec};
use cardwire_engine::config::{CardConfig, CardStatus, DEMO_TMK, HostConfig, TerminalProfile};
use cardwire_engine::{ConnId, Host, HostEvent, Money, Transmit};
use serde_json::{Value, json};
use tokio::io::DuplexStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, mpsc as tmpsc, watch};
use tokio_util::codec::{Decoder, Encoder};
use tracing::Instrument;

use crate::NetError;
use crate::control::{self, ControlRequest, error_reply};
use crate::framing::FrameCodec;
use crate::group::{CommitQueue, GroupLedger};
use crate::journal::{Dir, JournalSender, JournalWriter, Rotation};
use crate::sqlite::{Durability, SqliteLedger};

/// Where the host keeps its ledger.
#[derive(Debug, Clone)]
pub enum LedgerChoice {
    /// In memory (`--db :memory:`): lost at exit.
    Memory,
    /// A SQLite file.
    Sqlite {
        /// The file.
        path: PathBuf,
        /// Synchronous mode.
        durability: Durability,
    },
}

/// The host's options.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// The dialect.
    pub spec: Arc<Spec>,
    /// Cards, terminals, policies.
    pub config: HostConfig,
    /// Where terminals connect (`None`: no TCP listener; connections come
    /// only through [`RunningHost::connector`], from a proxy in the same
    /// process).
    pub listen: Option<SocketAddr>,
    /// The admin socket (`None`: none).
    pub admin: Option<SocketAddr>,
    /// A token every admin request must carry; required to bind the
    /// admin socket to anything but loopback.
    pub admin_token: Option<control::AdminToken>,
    /// The ledger.
    pub ledger: LedgerChoice,
    /// The message journal file (`None`: none).
    pub journal: Option<PathBuf>,
    /// When the journal file rotates.
    pub journal_rotation: Rotation,
    /// How requests (and the journal's frames) are decoded: strict, or
    /// lenient (`--lenient`), reading past deviations with warnings.
    pub decode_mode: DecodeMode,
    /// Length prefix.
    pub prefix: FramePrefix,
    /// Frame size limit.
    pub max_frame: usize,
    /// Connection limit.
    pub max_connections: usize,
    /// A connection silent this long is closed.
    pub idle_timeout: Duration,
    /// A frame begun must be complete within this (slow senders).
    pub frame_timeout: Duration,
    /// Log each connection (open, close and why) on stderr.
    pub log_connections: bool,
}

impl HostOptions {
    /// Demo options: demo config, `127.0.0.1:8583`, admin on
    /// `127.0.0.1:8584`, in-memory ledger, no journal, UnionPay framing,
    /// 8 KiB frames, 10 000 connections, 5 minutes idle timeout, 10 s
    /// to finish a frame once begun.
    pub fn demo(spec: Arc<Spec>) -> Self {
        HostOptions {
            spec,
            config: HostConfig::demo(),
            listen: Some(SocketAddr::from(([127, 0, 0, 1], crate::DEFAULT_PORT))),
            admin: Some(SocketAddr::from((
                [127, 0, 0, 1],
                crate::DEFAULT_ADMIN_PORT,
            ))),
            admin_token: None,
            ledger: LedgerChoice::Memory,
            journal: None,
            journal_rotation: Rotation::default(),
            decode_mode: DecodeMode::Strict,
            prefix: FramePrefix::Binary2,
            max_frame: crate::framing::DEFAULT_MAX_FRAME,
            max_connections: 10_000,
            idle_timeout: Duration::from_secs(300),
            frame_timeout: Duration::from_secs(10),
            log_connections: false,
        }
    }
}

/// First id of the terminals [`add_load_terminals`] registers.
pub const LOAD_TERMINAL_BASE: u32 = 10_000_001;
/// The card the load generator uses (a large balance, PIN 123456).
pub const LOAD_CARD_PAN: &str = "6222028888000000000";
/// The load card's PIN.
pub const LOAD_CARD_PIN: &str = "123456";
/// The load card's id.
pub const LOAD_CARD_ID: &str = "load";

/// The id of load terminal `i` (0-based): `10000001`, `10000002` ...
pub fn load_terminal_id(i: u32) -> String {
    format!("{}", LOAD_TERMINAL_BASE.saturating_add(i))
}

/// Registers `n` terminals `10000001..` (merchant `123456789012345`, the
/// demo TMK, ECB MAC) and the card `load` (PAN [`LOAD_CARD_PAN`], PIN
/// 123456, balance 10 000 000 000.00), for `cardwire load`.
pub fn add_load_terminals(cfg: &mut HostConfig, n: u32) {
    for i in 0..n {
        let id = load_terminal_id(i);
        if cfg.terminals.iter().any(|t| t.id == id) {
            continue;
        }
        cfg.terminals.push(TerminalProfile {
            id,
            merchant: "123456789012345".into(),
            merchant_name: "CARDWIRE LOAD SHOP".into(),
            tmk: DEMO_TMK.into(),
            mac: cardwire_security::MacAlgorithm::UnionPayEcb,
            batch: 1,
        });
    }
    if n > 0 && !cfg.cards.iter().any(|c| c.id == LOAD_CARD_ID) {
        cfg.cards.push(CardConfig {
            id: LOAD_CARD_ID.into(),
            pan: LOAD_CARD_PAN.into(),
            pin: LOAD_CARD_PIN.into(),
            account: None,
            balance: Money(1_000_000_000_000),
            expiry: "3012".into(),
            status: CardStatus::Active,
            per_txn_limit: None,
            daily_limit: None,
            pin_required: true,
            phone: None,
        });
    }
}

/// Counters, shared with the admin socket.
#[derive(Debug, Default)]
struct Stats {
    accepted: AtomicU64,
    refused: AtomicU64,
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    broken: AtomicU64,
}

/// What every connection task shares.
struct Shared {
    host: Mutex<Host<GroupLedger>>,
    /// Reply channels, for replies a task produces for another
    /// connection (delayed replies released by the timer).
    routes: Mutex<HashMap<ConnId, tmpsc::UnboundedSender<Bytes>>>,
    queue: Option<Arc<CommitQueue>>,
    timer: Notify,
    stats: Stats,
    journal: Option<JournalSender>,
    /// Warnings about connections closed for broken frames.
    close_log: Mutex<crate::Throttle>,
}

impl Shared {
    fn host(&self) -> MutexGuard<'_, Host<GroupLedger>> {
        // A panic inside the engine would poison the lock; the engine's
        // state is still consistent between calls, so go on serving.
        self.host.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn close_log(&self) -> MutexGuard<'_, crate::Throttle> {
        self.close_log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn routes(&self) -> MutexGuard<'_, HashMap<ConnId, tmpsc::UnboundedSender<Bytes>>> {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the engine and collects what it wants sent, the last
    /// ledger entry those replies depend on, and whether a timer is set.
    /// `origin` is the connection whose input this is (0: the timer), for
    /// the journal.
    fn process(&self, origin: ConnId, f: impl FnOnce(&mut Host<GroupLedger>)) -> Batch {
        let mut h = self.host();
        let before = h.ledger().appended();
        f(&mut h);
        let mut close = None;
        let mut rejected = 0;
        let mut reject_reason = None;
        while let Some(ev) = h.poll_event() {
            let conn = match &ev {
                HostEvent::Rejected { conn, reason, .. } => {
                    // While the ledger cannot commit, every financial
                    // request is refused for that one cause, logged once
                    // by the committer. Other rejections are logged by the
                    // connection, a summary at most once a second.
                    if !(reason.starts_with("ledger:") && self.ledger_failing()) {
                        rejected += 1;
                        reject_reason = Some(reason.clone());
                    }
                    conn.0
                }
                HostEvent::Unreadable { conn, reason, .. } => {
                    close = Some(format!("broken frame: {reason}"));
                    conn.0
                }
                HostEvent::Dropped { conn, .. } => conn.0,
                // The frames themselves are journaled already.
                HostEvent::Received { .. } | HostEvent::Replied { .. } => continue,
                _ => origin.0,
            };
            // What the host booked and the SMS it sent, beside the frames.
            if let Some(j) = &self.journal {
                if let Ok(v) = serde_json::to_value(&ev) {
                    j.note(conn, v);
                }
            }
        }
        let mut out = Vec::new();
        while let Some(t) = h.poll_transmit() {
            out.push(t);
        }
        let appended = h.ledger().appended();
        Batch {
            out,
            // While the ledger cannot commit, a request that booked nothing
            // (refused with 96, a sign-on, an echo) is answered at once; it
            // does not wait behind the entries whose commit is held.
            seq: if appended == before && origin.0 != 0 && self.ledger_failing() {
                0
            } else {
                appended
            },
            timer: h.poll_timeout().is_some(),
            close,
            rejected,
            reject_reason,
        }
    }

    fn ledger_failing(&self) -> bool {
        self.queue.as_ref().is_some_and(|q| q.failed())
    }

    /// Waits until the ledger holds entry `seq`; `false` when it never will.
    async fn durable(&self, seq: u64) -> bool {
        match &self.queue {
            Some(q) => q.wait(seq).await,
            None => true,
        }
    }

    /// Replies for other connections go through their channels.
    fn route(&self, t: Transmit) {
        if let Some(tx) = self.routes().get(&t.conn) {
            let _ = tx.send(t.bytes);
        }
    }
}

#[derive(Default)]
struct Batch {
    out: Vec<Transmit>,
    seq: u64,
    timer: bool,
    /// Why the connection must close (a frame without a readable MTI).
    close: Option<String>,
    /// Requests rejected (undecodable ...), and the last reason.
    rejected: u64,
    reject_reason: Option<String>,
}

/// A connection's rejected requests, logged as a summary at most once a
/// second: a peer sending junk costs one line a second, not one a frame.
struct RejectLog {
    throttle: crate::Throttle,
    count: u64,
    reason: Option<String>,
}

impl RejectLog {
    fn new() -> Self {
        RejectLog {
            throttle: crate::Throttle::new(Duration::from_secs(1), 1),
            count: 0,
            reason: None,
        }
    }

    fn add(&mut self, n: u64, reason: Option<String>, ctx: &ConnCtx) {
        if n == 0 {
            return;
        }
        self.count += n;
        self.reason = reason.or(self.reason.take());
        if self.throttle.pass().is_some() {
            self.flush(ctx);
        }
    }

    fn flush(&mut self, ctx: &ConnCtx) {
        if self.count == 0 {
            return;
        }
        tracing::warn!(
            "connection {} from {}: {} rejected (last: {})",
            ctx.conn.0,
            ctx.peer,
            plural(self.count, "request"),
            self.reason.as_deref().unwrap_or("?"),
        );
        self.count = 0;
    }
}

fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Opens connections to a running host inside the process, without a
/// socket: what `cardwire host --faults` puts its proxy on, so that no
/// port reaches the engine around the fault plan.
#[derive(Debug, Clone)]
pub struct HostConnector {
    tx: tmpsc::UnboundedSender<DuplexStream>,
}

impl HostConnector {
    /// A new connection to the host, served like an accepted one (same
    /// connection limit, timeouts and framing).
    ///
    /// # Errors
    ///
    /// [`NetError::Io`] when the host has stopped.
    pub fn connect(&self) -> Result<DuplexStream, NetError> {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        self.tx.send(theirs).map_err(|_| {
            NetError::io(
                "connecting in process",
                std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    "the host has stopped",
                ),
            )
        })?;
        Ok(ours)
    }
}

/// A running host.
#[derive(Debug)]
pub struct RunningHost {
    /// Where terminals connect (`None` without a TCP listener).
    pub addr: Option<SocketAddr>,
    /// The admin socket, if any.
    pub admin_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    server: tokio::task::JoinHandle<Result<(), NetError>>,
    connector: HostConnector,
}

impl RunningHost {
    /// Connections to this host from inside the process.
    pub fn connector(&self) -> HostConnector {
        self.connector.clone()
    }

    /// Stops accepting, answers what is in flight, commits, and returns.
    ///
    /// # Errors
    ///
    /// A ledger failure, if there was one.
    pub async fn shutdown(self) -> Result<(), NetError> {
        let _ = self.shutdown.send(true);
        self.server
            .await
            .map_err(|e| NetError::Other(format!("host task: {e}")))?
    }

    /// Waits until the host stops by itself (its accept loop failed).
    ///
    /// # Errors
    ///
    /// As [`RunningHost::shutdown`].
    pub async fn wait(&mut self) -> Result<(), NetError> {
        (&mut self.server)
            .await
            .map_err(|e| NetError::Other(format!("host task: {e}")))?
    }
}

/// Binds the sockets, replays the ledger, and starts serving.
///
/// # Errors
///
/// [`NetError::Io`] when a socket cannot be bound, [`NetError::Engine`]
/// for a configuration the engine refuses, [`NetError::Ledger`] when the
/// ledger cannot be opened or replayed.
pub async fn start(opts: HostOptions) -> Result<RunningHost, NetError> {
    match &opts.ledger {
        LedgerChoice::Memory => launch(opts, GroupLedger::memory(), None, None).await,
        LedgerChoice::Sqlite { path, durability } => {
            let backend = SqliteLedger::open(path, *durability)?;
            start_on(opts, backend).await
        }
    }
}

/// Starts the host on a durable ledger `backend` (committed by a
/// committer thread).
pub(crate) async fn start_on<L: cardwire_engine::ledger::Ledger + Send + 'static>(
    opts: HostOptions,
    backend: L,
) -> Result<RunningHost, NetError> {
    let (l, q, h) = GroupLedger::durable(backend)?;
    launch(opts, l, Some(q), Some(h)).await
}

async fn launch(
    opts: HostOptions,
    ledger: GroupLedger,
    queue: Option<Arc<CommitQueue>>,
    committer: Option<std::thread::JoinHandle<()>>,
) -> Result<RunningHost, NetError> {
    let mut host = Host::with_ledger(Arc::clone(&opts.spec), opts.config.clone(), ledger)
        .map_err(|e| NetError::Engine(e.to_string()))?;
    // Frames are journaled by the driver; bookings and SMS only when there
    // is a journal to write them to.
    host.set_traffic_events(false);
    host.set_booking_events(opts.journal.is_some());
    host.set_decode_mode(opts.decode_mode);
    let (snapshot, replayed) = host.start_report();
    let entries = host.entries();
    let (listener, addr) = match opts.listen {
        Some(a) => {
            let (l, addr) = crate::listen(a).await?;
            (Some(l), Some(addr))
        }
        None => (None, None),
    };
    let (in_process, in_process_rx) = tmpsc::unbounded_channel();
    let admin = match opts.admin {
        Some(a) => Some(control::bind(a, opts.admin_token.as_ref()).await?),
        None => None,
    };
    let admin_addr = match &admin {
        Some(l) => Some(
            l.local_addr()
                .map_err(|e| NetError::io("admin address", e))?,
        ),
        None => None,
    };
    let journal = match &opts.journal {
        Some(p) => Some(JournalWriter::start_rotating(
            p,
            Arc::clone(&opts.spec),
            opts.journal_rotation,
            opts.decode_mode,
        )?),
        None => None,
    };
    if let Some(seq) = snapshot {
        tracing::info!(
            "ledger: {entries} entries; snapshot after entry {seq}, ledger replayed: {replayed} entries"
        );
    } else if replayed > 0 {
        tracing::info!("ledger replayed: {replayed} entries");
    }
    let shared = Arc::new(Shared {
        host: Mutex::new(host),
        routes: Mutex::new(HashMap::new()),
        queue,
        timer: Notify::new(),
        stats: Stats::default(),
        journal: journal.as_ref().map(|(s, _)| s.clone()),
        close_log: Mutex::new(crate::Throttle::new(Duration::from_secs(1), 20)),
    });
    let (shutdown, shutdown_rx) = watch::channel(false);
    if let Some(l) = admin {
        let sh = Arc::clone(&shared);
        let handler = move |req: ControlRequest| {
            let sh = Arc::clone(&sh);
            async move { control(&sh, req) }
        };
        tokio::spawn(control::serve(
            l,
            opts.admin_token.clone(),
            handler,
            shutdown_rx.clone(),
        ));
    }
    tokio::spawn(timer_task(Arc::clone(&shared), shutdown_rx.clone()));
    let server = tokio::spawn(accept_loop(
        listener,
        in_process_rx,
        opts,
        Arc::clone(&shared),
        shutdown_rx,
        committer,
        journal.map(|(_, w)| w),
    ));
    Ok(RunningHost {
        addr,
        admin_addr,
        shutdown,
        server,
        connector: HostConnector { tx: in_process },
    })
}

/// A connection to serve: a TCP stream or an in-process one.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Stream for T {}

async fn accept_loop(
    listener: Option<TcpListener>,
    mut in_process: tmpsc::UnboundedReceiver<DuplexStream>,
    opts: HostOptions,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    committer: Option<std::thread::JoinHandle<()>>,
    journal: Option<JournalWriter>,
) -> Result<(), NetError> {
    let limit = Arc::new(Semaphore::new(opts.max_connections));
    let mut next_conn = 0u64;
    let codec = FrameCodec::new(opts.prefix, opts.max_frame);
    let mut refusals = crate::Throttle::new(Duration::from_secs(1), 1);
    loop {
        let accepted: std::io::Result<(Box<dyn Stream>, String)> = tokio::select! {
            a = async {
                match &listener {
                    Some(l) => l.accept().await,
                    None => std::future::pending().await,
                }
            } => a.map(|(s, peer)| {
                let _ = s.set_nodelay(true);
                (Box::new(s) as Box<dyn Stream>, peer.to_string())
            }),
            Some(s) = in_process.recv() => {
                Ok((Box::new(s) as Box<dyn Stream>, "in-process".to_owned()))
            }
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off, go on.
                tracing::warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
            shared.stats.refused.fetch_add(1, Ordering::Relaxed);
            if let Some(held) = refusals.pass() {
                let also = if held > 0 {
                    format!(" ({} more refused since the last line)", held)
                } else {
                    String::new()
                };
                tracing::warn!(
                    "connection from {peer} refused: limit of {} reached{also}",
                    opts.max_connections
                );
            }
            drop(stream);
            continue;
        };
        next_conn += 1;
        shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
        let ctx = ConnCtx {
            conn: ConnId(next_conn),
            peer,
            codec,
            idle: opts.idle_timeout,
            frame_timeout: opts.frame_timeout,
            shutdown: shutdown.clone(),
            log: opts.log_connections,
            spec: Arc::clone(&opts.spec),
        };
        let span = tracing::info_span!(
            "conn",
            id = next_conn,
            peer = %ctx.peer,
            terminal = tracing::field::Empty
        );
        let sh = Arc::clone(&shared);
        tokio::spawn(
            async move {
                serve_conn(stream, ctx, &sh).await;
                drop(permit);
            }
            .instrument(span),
        );
    }
    // Graceful: every connection task answers what it has read, then
    // ends; wait (bounded) for all of them.
    let all = u32::try_from(opts.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(5), limit.acquire_many(all)).await;
    if let Some(q) = &shared.queue {
        // The next start loads this and replays nothing.
        if let Err(e) = shared.host().save_snapshot() {
            tracing::warn!("no snapshot at shutdown: {e}; the next start replays the ledger");
        }
        q.close();
    }
    let queue = shared.queue.clone();
    let journal_tx = shared.journal.clone();
    drop(shared);
    drop(journal_tx);
    tokio::task::spawn_blocking(move || {
        if let Some(c) = committer {
            let _ = c.join();
        }
        if let Some(w) = journal {
            w.finish();
        }
    })
    .await
    .map_err(|e| NetError::Other(format!("host shutdown: {e}")))?;
    if queue.is_some_and(|q| q.gave_up()) {
        return Err(NetError::Other(
            "the ledger failed; the host stopped without sending unrecorded replies".into(),
        ));
    }
    Ok(())
}

async fn timer_task(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let wait = shared
            .host()
            .poll_timeout()
            .map_or(Duration::from_secs(3600), |t| t.since(crate::now()));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shared.timer.notified() => continue,
            _ = shutdown.changed() => return,
        }
        let b = shared.process(ConnId(0), |h| h.handle_timeout(crate::now()));
        if b.out.is_empty() || !shared.durable(b.seq).await {
            continue;
        }
        for t in b.out {
            shared.route(t);
        }
    }
}

struct ConnCtx {
    conn: ConnId,
    peer: String,
    codec: FrameCodec,
    idle: Duration,
    frame_timeout: Duration,
    shutdown: watch::Receiver<bool>,
    log: bool,
    /// To read the terminal id (41) for the connection's span.
    spec: Arc<Spec>,
}

/// The connection's span gets the terminal id of the first requests
/// that carry one (a terminal id is not card data); tried on the first
/// few frames only.
fn note_terminal(ctx: &ConnCtx, frame: &[u8], tries: &mut u8) {
    if *tries == 0 {
        return;
    }
    *tries -= 1;
    if let Some(t) = cardwire_codec::decode_with(&ctx.spec, frame, DecodeMode::Lenient)
        .message
        .and_then(|m| m.value(41).map(|v| v.to_string()))
    {
        tracing::Span::current().record("terminal", tracing::field::display(t.trim()));
        *tries = 0;
    }
}

async fn serve_conn(stream: Box<dyn Stream>, mut ctx: ConnCtx, shared: &Shared) {
    let conn = ctx.conn;
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (tx, mut rx) = tmpsc::unbounded_channel::<Bytes>();
    shared.routes().insert(conn, tx);
    if let Some(j) = &shared.journal {
        j.note(
            conn.0,
            json!({"event": "open", "peer": ctx.peer.to_string()}),
        );
    }
    let mut codec = ctx.codec;
    let mut buf = BytesMut::with_capacity(4096);
    let mut out = BytesMut::with_capacity(1024);
    let mut batch = Batch::default();
    let mut rejects = RejectLog::new();
    let mut terminal_tries = 3u8;
    // One timer per connection, pushed back lazily: re-arming a timer on
    // every read costs more than the read. It watches two deadlines: no
    // byte for `idle`, and a frame begun but not finished for
    // `frame_timeout` (a slow sender holding a connection byte by byte).
    let mut last_read = tokio::time::Instant::now();
    let mut partial_since: Option<tokio::time::Instant> = None;
    let idle = tokio::time::sleep(ctx.idle);
    tokio::pin!(idle);
    let why: String = 'conn: loop {
        // Every whole frame buffered goes to the engine first; then one
        // wait for the ledger and one write answer them all.
        let mut broken = None;
        let mut progressed = false;
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    progressed = true;
                    shared.stats.frames_in.fetch_add(1, Ordering::Relaxed);
                    if let Some(j) = &shared.journal {
                        j.frame(conn.0, Dir::In, &frame);
                    }
                    note_terminal(&ctx, &frame, &mut terminal_tries);
                    let b = shared.process(conn, |h| h.handle_message(crate::now(), conn, &frame));
                    batch.out.extend(b.out);
                    batch.seq = batch.seq.max(b.seq);
                    batch.timer |= b.timer;
                    rejects.add(b.rejected, b.reject_reason, &ctx);
                    if let Some(why) = b.close {
                        shared.stats.broken.fetch_add(1, Ordering::Relaxed);
                        broken = Some(why);
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    shared.stats.broken.fetch_add(1, Ordering::Relaxed);
                    broken = Some(e.to_string());
                    break;
                }
            }
        }
        if batch.timer {
            shared.timer.notify_one();
        }
        if !batch.out.is_empty() {
            if !shared.durable(batch.seq).await {
                break 'conn "ledger failed: replies withheld".into();
            }
            for t in batch.out.drain(..) {
                if t.conn == conn {
                    if let Some(j) = &shared.journal {
                        j.frame(conn.0, Dir::Out, &t.bytes);
                    }
                    if codec.encode(t.bytes, &mut out).is_ok() {
                        shared.stats.frames_out.fetch_add(1, Ordering::Relaxed);
                    }
                } else {
                    shared.route(t);
                }
            }
        }
        batch = Batch::default();
        if !out.is_empty() {
            if let Err(e) = wr.write_all(&out).await {
                break 'conn format!("write error: {e}");
            }
            out.clear();
        }
        if let Some(b) = broken {
            break 'conn b;
        }
        if buf.is_empty() {
            partial_since = None;
        } else if partial_since.is_none() || progressed {
            let now = tokio::time::Instant::now();
            partial_since = Some(now);
            let due = now + ctx.frame_timeout;
            if due < idle.deadline() {
                idle.as_mut().reset(due);
            }
        }
        tokio::select! {
            r = rd.read_buf(&mut buf) => match r {
                Err(e) => break 'conn format!("read error: {e}"),
                Ok(0) => match codec.decode_eof(&mut buf) {
                    Err(e) => {
                        shared.stats.broken.fetch_add(1, Ordering::Relaxed);
                        break 'conn e.to_string();
                    }
                    Ok(_) => break 'conn "closed by peer".into(),
                },
                Ok(_) => last_read = tokio::time::Instant::now(),
            },
            () = &mut idle => {
                let now = tokio::time::Instant::now();
                let idle_due = last_read + ctx.idle;
                if idle_due <= now {
                    break 'conn format!("idle for {:?}", ctx.idle);
                }
                let frame_due = partial_since.map(|t| t + ctx.frame_timeout);
                if frame_due.is_some_and(|d| d <= now) {
                    shared.stats.broken.fetch_add(1, Ordering::Relaxed);
                    break 'conn format!(
                        "broken frame: {} bytes of a frame not completed within {:?}",
                        buf.len(),
                        ctx.frame_timeout
                    );
                }
                idle.as_mut().reset(frame_due.map_or(idle_due, |d| d.min(idle_due)));
            }
            Some(reply) = rx.recv() => {
                // A reply released for this connection by someone else
                // (a delayed reply); already durable.
                if let Some(j) = &shared.journal {
                    j.frame(conn.0, Dir::Out, &reply);
                }
                if codec.encode(reply, &mut out).is_ok() {
                    shared.stats.frames_out.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ = ctx.shutdown.changed() => break 'conn "host shutting down".into(),
        }
    };
    rejects.flush(&ctx);
    let broken = why.starts_with("broken") || why.starts_with("connection closed mid");
    let quiet = broken && !ctx.log && {
        // A flood of broken connections: 20 lines a second, then a count.
        let mut t = shared.close_log();
        match t.pass() {
            Some(0) => false,
            Some(n) => {
                tracing::warn!(
                    "{} closed for broken frames (not logged)",
                    plural(n, "connection"),
                );
                false
            }
            None => true,
        }
    };
    if (ctx.log || broken) && !quiet {
        if broken {
            tracing::warn!("connection {} from {}: {why}", conn.0, ctx.peer);
        } else {
            tracing::info!("connection {} from {}: {why}", conn.0, ctx.peer);
        }
    }
    if let Some(j) = &shared.journal {
        j.note(conn.0, json!({"event": "close", "reason": why}));
    }
    shared.routes().remove(&conn);
    let _ = shared.process(conn, |h| h.handle_disconnect(crate::now(), conn));
    let _ = wr.shutdown().await;
}

fn control(shared: &Shared, req: ControlRequest) -> Value {
    let stats = &shared.stats;
    let connections = shared.routes().len();
    let mut host = shared.host();
    let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
    match req {
        ControlRequest::Status => {
            let total: i64 = host.accounts().values().sum();
            let entries = host.entries();
            let approved = host.approved_entries();
            json!({
                "ok": true,
                "connections": connections,
                "accepted": ld(&stats.accepted),
                "refused": ld(&stats.refused),
                "frames_in": ld(&stats.frames_in),
                "frames_out": ld(&stats.frames_out),
                "broken_frames": ld(&stats.broken),
                "entries": entries,
                "approved": approved,
                "issuer": host.issuer_state(),
                "opening_total": host.opening_total(),
                "total": total,
                "money_conserved": total == host.opening_total(),
                "ledger_error": shared.queue.as_ref().and_then(|q| q.cause()),
                "journal_error": shared.journal.as_ref().and_then(JournalSender::error),
            })
        }
        ControlRequest::Issuer { state } => {
            host.set_issuer_state(state);
            json!({"ok": true, "issuer": state})
        }
        ControlRequest::Rules => json!({"ok": true, "rules": host.rules()}),
        ControlRequest::AddRule { rule } => {
            host.add_rule(rule);
            json!({"ok": true, "rules": host.rules()})
        }
        ControlRequest::SetRules { rules } => {
            host.set_rules(rules);
            json!({"ok": true, "rules": host.rules()})
        }
        ControlRequest::Balance { account } => {
            let b = host
                .card_balance(&account)
                .or_else(|| host.balance(&account));
            match b {
                Some(b) => {
                    json!({"ok": true, "account": account, "balance": Money(b).to_string(), "minor": b})
                }
                None => error_reply(format!("no card or account {account:?}")),
            }
        }
        ControlRequest::Accounts => {
            let m: serde_json::Map<String, Value> = host
                .accounts()
                .iter()
                .map(|(k, v)| (k.clone(), json!(Money(*v).to_string())))
                .collect();
            json!({"ok": true, "accounts": m})
        }
        ControlRequest::Audit {
            terminal_prefix,
            since,
        } => {
            let a = host.audit(&terminal_prefix, since);
            json!({"ok": true, "debits": a.debits, "last_stan": a.last_stan, "last_seq": a.last_seq})
        }
        ControlRequest::Faults | ControlRequest::SetFaults { .. } => {
            error_reply("faults live in `cardwire proxy`; this is a host")
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::atomic::AtomicBool;

    use cardwire_codec::specs;
    use cardwire_engine::ledger::{Entry, Ledger, LedgerError};
    use cardwire_engine::terminal::{Action, Card, Terminal, TerminalConfig};

    use super::*;
    use crate::terminal::{Connection, Dial, run_action};

    /// A SQLite ledger whose commits fail while `full` is set, as on a
    /// full disk (SQLite's own words).
    struct FullDisk {
        inner: SqliteLedger,
        full: Arc<AtomicBool>,
    }

    impl Ledger for FullDisk {
        fn append(&mut self, entry: &Entry) -> Result<(), LedgerError> {
            self.inner.append(entry)
        }
        fn commit(&mut self) -> Result<(), LedgerError> {
            if self.full.load(Ordering::Acquire) {
                return Err(LedgerError::Backend("database or disk is full".into()));
            }
            self.inner.commit()
        }
        fn entries(&self) -> Result<Vec<Entry>, LedgerError> {
            self.inner.entries()
        }
    }

    fn load_card() -> Card {
        Card {
            id: Some(LOAD_CARD_ID.into()),
            pan: LOAD_CARD_PAN.into(),
            expiry: Some("3012".into()),
            pin: Some(LOAD_CARD_PIN.into()),
            entry: Default::default(),
            track2: None,
        }
    }

    fn terminal(spec: &Arc<Spec>, i: u32) -> Terminal {
        Terminal::new(
            Arc::clone(spec),
            TerminalConfig {
                terminal_id: load_terminal_id(i),
                timeout: Duration::from_millis(800),
                ..TerminalConfig::default()
            },
        )
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_commits_answer_96_keep_connections_and_resume() {
        let dir = std::env::temp_dir().join(format!("cardwire-full-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ledger.db");
        let _ = std::fs::remove_file(&path);
        let spec = Arc::new(specs::cups().clone());
        let mut config = HostConfig::demo();
        add_load_terminals(&mut config, 2);
        let full = Arc::new(AtomicBool::new(false));
        let backend = FullDisk {
            inner: SqliteLedger::open(&path, Durability::Normal).unwrap(),
            full: Arc::clone(&full),
        };
        let h = start_on(
            HostOptions {
                listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
                admin: None,
                config,
                ..HostOptions::demo(Arc::clone(&spec))
            },
            backend,
        )
        .await
        .unwrap();
        let dial = Dial::new(h.addr.unwrap(), FrameCodec::default(), &spec);
        let (mut a, mut b) = (terminal(&spec, 0), terminal(&spec, 1));
        let (mut ca, mut cb): (Option<Connection>, Option<Connection>) = (None, None);
        let sale = || Action::sale(load_card(), Money(100));

        let o = run_action(&mut a, &mut ca, &dial, sale(), |_| {})
            .await
            .unwrap();
        assert!(o.approved, "{o:?}");
        let o = run_action(&mut b, &mut cb, &dial, sale(), |_| {})
            .await
            .unwrap();
        assert!(o.approved, "{o:?}");

        // The disk fills. A's sale was decided but cannot be written: its
        // reply is held, A times out and keeps a reversal.
        full.store(true, Ordering::Release);
        let o = run_action(&mut a, &mut ca, &dial, sale(), |_| {})
            .await
            .unwrap();
        assert!(o.timed_out && o.code.is_none(), "{o:?}");
        assert!(a.pending_reversal().is_some());
        // B is refused with 96 ("system malfunction"), nothing booked,
        // on the same connection, again and again.
        for _ in 0..3 {
            let o = run_action(&mut b, &mut cb, &dial, sale(), |_| {})
                .await
                .unwrap();
            assert_eq!(o.code.as_deref(), Some("96"), "{o:?}");
            assert!(cb.is_some(), "the connection stays open");
        }

        // Space again: the held commit goes through, the host books again.
        full.store(false, Ordering::Release);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let o = run_action(&mut b, &mut cb, &dial, sale(), |_| {})
                .await
                .unwrap();
            if o.approved {
                break;
            }
            assert_eq!(o.code.as_deref(), Some("96"), "{o:?}");
            assert!(
                tokio::time::Instant::now() < deadline,
                "the host never resumed"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // A sends its reversal first, then its sale is approved.
        let o = run_action(&mut a, &mut ca, &dial, sale(), |_| {})
            .await
            .unwrap();
        assert!(o.approved, "{o:?}");
        assert!(a.pending_reversal().is_none());
        h.shutdown().await.unwrap();

        // Every decision is in the ledger, in order; no 96 was booked.
        let l = SqliteLedger::open_read_only(&path).unwrap();
        let entries = l.entries().unwrap();
        let kinds: Vec<(&str, &str)> = entries
            .iter()
            .map(|e| (e.kind.as_str(), e.code.as_str()))
            .collect();
        assert!(!kinds.iter().any(|(_, c)| *c == "96"), "{kinds:?}");
        assert_eq!(
            entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=entries.len() as u64).collect::<Vec<_>>()
        );
        // A's held sale, then its reversal.
        let a_id = load_terminal_id(0);
        let of_a: Vec<&str> = entries
            .iter()
            .filter(|e| e.terminal == a_id)
            .map(|e| e.kind.as_str())
            .collect();
        assert_eq!(of_a, ["sale", "sale", "reversal", "sale"], "{kinds:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `/dev/full` takes the open and fails every write with "no space".
    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn journal_write_errors_show_in_status_and_the_host_goes_on() {
        let spec = Arc::new(specs::cups().clone());
        let mut config = HostConfig::demo();
        add_load_terminals(&mut config, 1);
        let h = start(HostOptions {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            admin: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            journal: Some("/dev/full".into()),
            config,
            ..HostOptions::demo(Arc::clone(&spec))
        })
        .await
        .unwrap();
        let admin = h.admin_addr.unwrap();
        let status = || async {
            control::request(admin, &json!({"cmd": "status"}))
                .await
                .unwrap()
        };
        assert_eq!(status().await["journal_error"], Value::Null);
        let dial = Dial::new(h.addr.unwrap(), FrameCodec::default(), &spec);
        let (mut t, mut c) = (terminal(&spec, 0), None);
        for _ in 0..2 {
            let o = run_action(
                &mut t,
                &mut c,
                &dial,
                Action::sale(load_card(), Money(100)),
                |_| {},
            )
            .await
            .unwrap();
            assert!(o.approved, "{o:?}");
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        let s = loop {
            let s = status().await;
            if s["journal_error"] != Value::Null || tokio::time::Instant::now() > deadline {
                break s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let e = s["journal_error"].as_str().unwrap_or_default();
        assert!(e.contains("/dev/full") && e.contains("lines lost"), "{s:#}");
        h.shutdown().await.unwrap();
    }
}
