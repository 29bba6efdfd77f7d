//! A forwarding proxy between terminals and a host that applies a fault
//! plan with the engine's [`FaultyLink`], so a fault behaves on real TCP
//! exactly as in the in-memory tests.
//!
//! ```text
//!  terminal ──► proxy ──FaultyLink::on_request──► schedule ──► host
//!  terminal ◄── schedule ◄──FaultyLink::on_response── proxy ◄── host
//! ```
//!
//! Each terminal id (field 41 of its first request) has its own link,
//! kept across reconnects: `nth = 1` means the first sale of that
//! terminal, however many times it reconnects, and replies held for a
//! reorder go to that terminal's current connection. The plan's seed is
//! mixed with the terminal id so that terminals under `probability`
//! rules do not all fail at the same exchange. A new plan (admin
//! `set-faults`) applies to terminals seen after it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use cardwire_codec::{DecodeMode, Spec, decode, decode_with};
use cardwire_engine::fault::{FaultPlan, FaultyLink, LinkAction};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_util::codec::{Decoder, Encoder};

use crate::NetError;
use crate::control::{self, ControlRequest, error_reply};
use crate::framing::FrameCodec;
use crate::host::HostConnector;
use crate::journal::{Dir, JournalSender, JournalWriter, Rotation};
use tracing::Instrument;

/// Where the proxy forwards to.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Upstream {
    /// A host over TCP.
    Tcp(SocketAddr),
    /// A host in the same process, without a socket
    /// (`cardwire host --faults`).
    InProcess(HostConnector),
}

impl From<SocketAddr> for Upstream {
    fn from(a: SocketAddr) -> Self {
        Upstream::Tcp(a)
    }
}

impl core::fmt::Display for Upstream {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Upstream::Tcp(a) => write!(f, "{a}"),
            Upstream::InProcess(_) => f.write_str("the engine in process"),
        }
    }
}

/// Either half of an upstream connection.
type ReadHalf = Box<dyn tokio::io::AsyncRead + Send + Unpin>;
type WriteHalf = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;

impl Upstream {
    async fn connect(&self) -> Result<(ReadHalf, WriteHalf), NetError> {
        match self {
            Upstream::Tcp(a) => {
                let up = TcpStream::connect(a)
                    .await
                    .map_err(|e| NetError::io(format!("connecting upstream {a}"), e))?;
                let _ = up.set_nodelay(true);
                let (rd, wr) = up.into_split();
                Ok((Box::new(rd), Box::new(wr)))
            }
            Upstream::InProcess(c) => {
                let (rd, wr) = tokio::io::split(c.connect()?);
                Ok((Box::new(rd), Box::new(wr)))
            }
        }
    }
}

/// The proxy's options.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// The dialect (to read transaction kinds and STANs).
    pub spec: Arc<Spec>,
    /// Where terminals connect.
    pub listen: SocketAddr,
    /// The host.
    pub upstream: Upstream,
    /// The fault plan.
    pub plan: FaultPlan,
    /// Admin socket (`faults`, `set-faults`, `status`).
    pub admin: Option<SocketAddr>,
    /// A token every admin request must carry; required to bind the
    /// admin socket to anything but loopback.
    pub admin_token: Option<control::AdminToken>,
    /// Journal file.
    pub journal: Option<PathBuf>,
    /// When the journal file rotates.
    pub journal_rotation: Rotation,
    /// How frames are read (terminal id, fault rules, journal): strict,
    /// or lenient (`--lenient`), reading past deviations with warnings.
    pub decode_mode: DecodeMode,
    /// Framing, with the frame size limit.
    pub codec: FrameCodec,
    /// Log faults and connections on stderr.
    pub verbose: bool,
    /// Client connection limit (over it: logged and closed).
    pub max_connections: usize,
    /// A client silent this long is closed (with its upstream).
    pub idle_timeout: Duration,
    /// A frame a client has begun must be complete within this.
    pub frame_timeout: Duration,
}

#[derive(Debug)]
struct Shared {
    spec: Arc<Spec>,
    decode_mode: DecodeMode,
    plan: Mutex<FaultPlan>,
    links: Mutex<HashMap<String, FaultyLink>>,
    faults: std::sync::atomic::AtomicU64,
    conns: std::sync::atomic::AtomicU64,
}

/// A running proxy.
#[derive(Debug)]
pub struct RunningProxy {
    /// Where terminals connect.
    pub addr: SocketAddr,
    /// The admin socket.
    pub admin_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    journal: Option<(JournalSender, JournalWriter)>,
    shared: Arc<Shared>,
}

impl RunningProxy {
    /// Faults struck so far.
    pub fn faults_struck(&self) -> u64 {
        self.shared
            .faults
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops the proxy.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        if let Some((s, w)) = self.journal {
            drop(s);
            let _ = tokio::task::spawn_blocking(move || w.finish()).await;
        }
    }
}

/// Binds and starts forwarding.
///
/// # Errors
///
/// [`NetError::Io`] when a socket cannot be bound or the journal opened.
pub async fn start(opts: ProxyOptions) -> Result<RunningProxy, NetError> {
    let (listener, addr) = crate::listen(opts.listen).await?;
    let journal = match &opts.journal {
        Some(p) => Some(JournalWriter::start_rotating(
            p,
            Arc::clone(&opts.spec),
            opts.journal_rotation,
            opts.decode_mode,
        )?),
        None => None,
    };
    let shared = Arc::new(Shared {
        spec: Arc::clone(&opts.spec),
        decode_mode: opts.decode_mode,
        plan: Mutex::new(opts.plan.clone()),
        links: Mutex::new(HashMap::new()),
        faults: 0.into(),
        conns: 0.into(),
    });
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut admin_addr = None;
    if let Some(a) = opts.admin {
        let l = control::bind(a, opts.admin_token.as_ref()).await?;
        admin_addr = Some(
            l.local_addr()
                .map_err(|e| NetError::io("admin address", e))?,
        );
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
    let jsend = journal.as_ref().map(|(s, _)| s.clone());
    let accept_shared = Arc::clone(&shared);
    let task = tokio::spawn(async move {
        let mut shutdown_rx = shutdown_rx;
        let mut next = 0u64;
        let limit = Arc::new(tokio::sync::Semaphore::new(opts.max_connections));
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = shutdown_rx.changed() => break,
            };
            let Ok((client, peer)) = accepted else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
                tracing::warn!(
                    "proxy: connection from {peer} refused: limit of {} reached",
                    opts.max_connections
                );
                drop(client);
                continue;
            };
            next += 1;
            let ctx = ProxyConn {
                id: next,
                shared: Arc::clone(&accept_shared),
                upstream: opts.upstream.clone(),
                codec: opts.codec,
                journal: jsend.clone(),
                verbose: opts.verbose,
                idle: opts.idle_timeout,
                frame_timeout: opts.frame_timeout,
                shutdown: shutdown_rx.clone(),
            };
            let span = tracing::info_span!(
                "conn",
                id = next,
                peer = %peer,
                terminal = tracing::field::Empty
            );
            tokio::spawn(
                async move {
                    if let Err(e) = ctx.run(client).await {
                        tracing::warn!("proxy connection from {peer}: {e}");
                    }
                    drop(permit);
                }
                .instrument(span),
            );
        }
    });
    Ok(RunningProxy {
        addr,
        admin_addr,
        shutdown,
        task,
        journal,
        shared,
    })
}

fn control(sh: &Shared, req: ControlRequest) -> Value {
    match req {
        ControlRequest::Status => json!({
            "ok": true,
            "connections": sh.conns.load(std::sync::atomic::Ordering::Relaxed),
            "faults_struck": sh.faults.load(std::sync::atomic::Ordering::Relaxed),
            "terminals": sh.links.lock().map(|l| l.len()).unwrap_or(0),
        }),
        ControlRequest::Faults => match sh.plan.lock() {
            Ok(p) => json!({"ok": true, "plan": *p}),
            Err(_) => error_reply("poisoned"),
        },
        ControlRequest::SetFaults { plan } => {
            if let Ok(mut p) = sh.plan.lock() {
                *p = plan;
            }
            // Links are rebuilt from the new plan.
            if let Ok(mut l) = sh.links.lock() {
                l.clear();
            }
            json!({"ok": true})
        }
        _ => error_reply("this is a proxy: status, faults, set-faults"),
    }
}

enum Due {
    ToUpstream(Bytes),
    ToClient(Bytes),
    Disconnect,
}

struct ProxyConn {
    id: u64,
    shared: Arc<Shared>,
    upstream: Upstream,
    codec: FrameCodec,
    journal: Option<JournalSender>,
    verbose: bool,
    idle: Duration,
    frame_timeout: Duration,
    shutdown: watch::Receiver<bool>,
}

fn terminal_of(spec: &Spec, frame: &[u8], mode: DecodeMode) -> Option<String> {
    let m = match mode {
        DecodeMode::Lenient => {
            let d = decode_with(spec, frame, DecodeMode::Lenient);
            if d.error.is_some() {
                return None;
            }
            d.message?
        }
        _ => decode(spec, frame).ok()?,
    };
    Some(m.value(41)?.to_string().trim().to_owned())
}

fn seed_for(base: u64, terminal: &str) -> u64 {
    // FNV-1a of the terminal id, mixed into the plan's seed.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in terminal.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    base ^ h
}

impl ProxyConn {
    fn link_for(&self, terminal: &str) -> FaultyLink {
        if let Some(l) = self
            .shared
            .links
            .lock()
            .ok()
            .and_then(|mut m| m.remove(terminal))
        {
            return l;
        }
        let mut plan = self
            .shared
            .plan
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default();
        plan.seed = seed_for(plan.seed, terminal);
        let mut link = FaultyLink::new(Arc::clone(&self.shared.spec), plan, Duration::ZERO);
        link.set_decode_mode(self.shared.decode_mode);
        link
    }

    async fn run(mut self, client: TcpStream) -> Result<(), NetError> {
        use std::sync::atomic::Ordering::Relaxed;
        let (mut urd, mut uwr) = self.upstream.connect().await?;
        let _ = client.set_nodelay(true);
        self.shared.conns.fetch_add(1, Relaxed);
        let (mut crd, mut cwr) = client.into_split();
        let (mut cbuf, mut ubuf) = (BytesMut::new(), BytesMut::new());
        let (mut cdec, mut udec) = (self.codec, self.codec);
        let mut terminal: Option<String> = None;
        let mut link: Option<FaultyLink> = None;
        let mut due: Vec<(Instant, u64, Due)> = Vec::new();
        let mut seq = 0u64;
        // When the terminal leaves, frames already on the wire (a duplicated
        // request, say) still reach the host and its answers are journaled,
        // for a grace period.
        let mut client_gone: Option<Instant> = None;
        // Requests written upstream minus replies read back.
        let mut outstanding: i64 = 0;
        // The client's last byte, and since when a frame of its is begun
        // but not whole (a slow sender), for the idle and frame timeouts.
        let mut last_read = Instant::now();
        let mut partial_since: Option<Instant> = None;
        let why: String = 'conn: loop {
            if let Some(g) = client_gone {
                let to_send = due.iter().any(|(_, _, d)| matches!(d, Due::ToUpstream(_)));
                if Instant::now() >= g || (outstanding <= 0 && !to_send) {
                    break 'conn "terminal closed".into();
                }
            }
            // Frames already whole in the buffers.
            let mut broken = None;
            let mut progressed = false;
            loop {
                let f = match cdec.decode(&mut cbuf) {
                    Ok(Some(f)) => {
                        progressed = true;
                        f
                    }
                    Ok(None) => break,
                    Err(e) => {
                        broken = Some(format!("broken frame from the terminal: {e}"));
                        break;
                    }
                };
                if terminal.is_none() {
                    if let Some(t) = terminal_of(&self.shared.spec, &f, self.shared.decode_mode) {
                        tracing::Span::current().record("terminal", tracing::field::display(&t));
                        link = Some(self.link_for(&t));
                        terminal = Some(t);
                    }
                }
                let acts = match link.as_mut() {
                    Some(l) => l.on_request(crate::now(), f),
                    None => vec![LinkAction::Deliver {
                        at: crate::now(),
                        bytes: f,
                    }],
                };
                self.schedule(&mut due, &mut seq, acts, true);
                self.faults(link.as_mut());
            }
            if let Some(b) = broken {
                break 'conn b;
            }
            // A frame's clock starts when its first bytes are buffered, not
            // at every byte: a sender trickling bytes is still slow.
            if cbuf.is_empty() {
                partial_since = None;
            } else if partial_since.is_none() || progressed {
                partial_since = Some(Instant::now());
            }
            while let Some(f) = udec
                .decode(&mut ubuf)
                .map_err(|e| NetError::Other(e.to_string()))?
            {
                outstanding -= 1;
                let acts = match link.as_mut() {
                    Some(l) => l.on_response(crate::now(), f),
                    None => vec![LinkAction::Deliver {
                        at: crate::now(),
                        bytes: f,
                    }],
                };
                self.schedule(&mut due, &mut seq, acts, false);
            }
            // Deliver what is due.
            due.sort_by_key(|(t, s, _)| (*t, *s));
            let now = Instant::now();
            while due.first().is_some_and(|(t, _, _)| *t <= now) {
                let (_, _, d) = due.remove(0);
                match d {
                    Due::ToUpstream(b) => {
                        self.journal_frame(Dir::In, &b);
                        if write_frame(&mut uwr, &mut self.codec, &b).await.is_err() {
                            break 'conn "upstream write failed".into();
                        }
                        outstanding += 1;
                    }
                    Due::ToClient(b) => {
                        self.journal_frame(Dir::Out, &b);
                        if client_gone.is_none()
                            && write_frame(&mut cwr, &mut self.codec, &b).await.is_err()
                        {
                            break 'conn "terminal write failed".into();
                        }
                    }
                    Due::Disconnect => break 'conn "fault: disconnect".into(),
                }
            }
            let link_timer = link
                .as_ref()
                .and_then(FaultyLink::poll_timeout)
                .map(|t| Instant::now() + t.since(crate::now()));
            let next_due = due.first().map(|(t, _, _)| *t);
            // Once the client has gone, its timeouts no longer apply.
            let (idle_due, frame_due) = if client_gone.is_none() {
                (
                    Some(last_read + self.idle),
                    partial_since.map(|t| t + self.frame_timeout),
                )
            } else {
                (None, None)
            };
            let now = Instant::now();
            if idle_due.is_some_and(|d| d <= now) {
                break 'conn format!("idle for {:?}", self.idle);
            }
            if frame_due.is_some_and(|d| d <= now) {
                break 'conn format!(
                    "broken frame: {} bytes of a frame not completed within {:?}",
                    cbuf.len(),
                    self.frame_timeout
                );
            }
            let wake = [link_timer, next_due, client_gone, idle_due, frame_due]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                r = crd.read_buf(&mut cbuf), if client_gone.is_none() => match r {
                    Ok(0) | Err(_) => {
                        client_gone = Some(Instant::now() + Duration::from_secs(1));
                    }
                    Ok(_) => last_read = Instant::now(),
                },
                r = urd.read_buf(&mut ubuf) => match r {
                    Ok(0) | Err(_) => break 'conn "host closed".into(),
                    Ok(_) => {}
                },
                () = tokio::time::sleep_until(wake.into()) => {
                    if let Some(l) = link.as_mut() {
                        let acts = l.handle_timeout(crate::now());
                        self.schedule(&mut due, &mut seq, acts, false);
                    }
                }
                _ = self.shutdown.changed() => break 'conn "proxy shutting down".into(),
            }
        };
        let broken = why.starts_with("broken");
        if self.verbose || broken {
            if broken {
                tracing::warn!("proxy connection {}: {why}", self.id);
            } else {
                tracing::info!("proxy connection {}: {why}", self.id);
            }
        }
        if let Some(j) = &self.journal {
            j.note(self.id, json!({"event": "close", "reason": why}));
        }
        let _ = cwr.shutdown().await;
        let _ = uwr.shutdown().await;
        if let (Some(t), Some(l)) = (terminal, link) {
            if let Ok(mut m) = self.shared.links.lock() {
                m.insert(t, l);
            }
        }
        self.shared.conns.fetch_sub(1, Relaxed);
        Ok(())
    }

    fn schedule(
        &self,
        due: &mut Vec<(Instant, u64, Due)>,
        seq: &mut u64,
        acts: Vec<LinkAction>,
        request: bool,
    ) {
        let now_ts = crate::now();
        let now = Instant::now();
        for a in acts {
            *seq += 1;
            match a {
                LinkAction::Deliver { at, bytes } => {
                    let d = if request {
                        Due::ToUpstream(bytes)
                    } else {
                        Due::ToClient(bytes)
                    };
                    due.push((now + at.since(now_ts), *seq, d));
                }
                LinkAction::Disconnect { at } => {
                    due.push((now + at.since(now_ts), *seq, Due::Disconnect));
                }
            }
        }
    }

    fn faults(&self, link: Option<&mut FaultyLink>) {
        let Some(l) = link else { return };
        while let Some(ev) = l.poll_event() {
            self.shared
                .faults
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if self.verbose {
                tracing::info!(
                    "fault {} on {} STAN {:?} (connection {})",
                    ev.fault.as_str(),
                    ev.kind,
                    ev.stan,
                    self.id
                );
            }
            if let Some(j) = &self.journal {
                j.note(
                    self.id,
                    json!({"event": "fault", "fault": ev.fault.as_str(), "kind": ev.kind, "stan": ev.stan}),
                );
            }
        }
    }

    fn journal_frame(&self, dir: Dir, b: &Bytes) {
        if let Some(j) = &self.journal {
            j.frame(self.id, dir, b);
        }
    }
}

async fn write_frame<W: tokio::io::AsyncWrite + Unpin>(
    wr: &mut W,
    codec: &mut FrameCodec,
    frame: &Bytes,
) -> std::io::Result<()> {
    let mut out = BytesMut::new();
    codec
        .encode(&frame[..], &mut out)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    wr.write_all(&out).await
}
