//! One engine [`Terminal`] on a real TCP connection.
//!
//! ```text
//!  Terminal::start(now, action)
//!   loop: poll_transmit ─► FrameCodec ─► socket
//!         socket ─► FrameCodec ─► handle_message(now, frame)
//!         poll_timeout passed ─► handle_timeout(now)
//!         EOF / error ─► handle_disconnect(now)
//!   until poll_event() gives Completed(outcome)
//! ```
//!
//! The terminal decides everything (sign-on first, the pending reversal
//! before the next transaction, what the screen shows); this module only
//! carries its bytes and its clock. [`save_state`] / [`load_state`] keep
//! its [`TerminalState`] in a file so a reversal survives a restart.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use cardwire_engine::terminal::{Action, Outcome, Terminal, TerminalEvent, TerminalState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::{Decoder, Encoder};

use crate::NetError;
use crate::framing::FrameCodec;

/// A framed connection to a host.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    codec: FrameCodec,
    rbuf: BytesMut,
    wbuf: BytesMut,
}

impl Connection {
    /// Connects to `addr` (within `timeout`).
    ///
    /// # Errors
    ///
    /// [`NetError::Io`] when the host cannot be reached.
    pub async fn connect(
        addr: SocketAddr,
        codec: FrameCodec,
        timeout: Duration,
    ) -> Result<Self, NetError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| {
                NetError::io(
                    format!("connecting to {addr}"),
                    std::io::ErrorKind::TimedOut.into(),
                )
            })?
            .map_err(|e| NetError::io(format!("connecting to {addr}"), e))?;
        let _ = stream.set_nodelay(true);
        Ok(Connection {
            stream,
            codec,
            rbuf: BytesMut::with_capacity(4096),
            wbuf: BytesMut::with_capacity(1024),
        })
    }

    async fn send(&mut self, frame: &[u8]) -> Result<(), NetError> {
        self.wbuf.clear();
        self.codec
            .encode(frame, &mut self.wbuf)
            .map_err(|e| NetError::Other(e.to_string()))?;
        self.stream
            .write_all(&self.wbuf)
            .await
            .map_err(|e| NetError::io("writing", e))
    }

    /// The next frame; `Ok(None)` when the host closed the connection.
    async fn recv(&mut self) -> Result<Option<bytes::Bytes>, NetError> {
        loop {
            if let Some(f) = self
                .codec
                .decode(&mut self.rbuf)
                .map_err(|e| NetError::Other(e.to_string()))?
            {
                return Ok(Some(f));
            }
            let n = self
                .stream
                .read_buf(&mut self.rbuf)
                .await
                .map_err(|e| NetError::io("reading", e))?;
            if n == 0 {
                return self
                    .codec
                    .decode_eof(&mut self.rbuf)
                    .map_err(|e| NetError::Other(e.to_string()));
            }
        }
    }
}

/// What the driver tells its caller as the action runs.
#[derive(Debug)]
pub enum Progress<'a> {
    /// A terminal event (after which the state may have changed).
    Event(&'a TerminalEvent, &'a Terminal),
    /// A reply arrived this long after its request was written (given
    /// just before the reply's `Received` event, which names the kind).
    Latency(Duration),
    /// The connection dropped (reason).
    Disconnected(&'a str),
}

/// Where the driver connects, and how.
#[derive(Debug, Clone, Copy)]
pub struct Dial {
    /// The host (or proxy).
    pub addr: SocketAddr,
    /// Framing.
    pub codec: FrameCodec,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// What the screen shows when the host cannot be reached.
    pub link_down_text: &'static str,
}

impl Dial {
    /// Dialing `addr` with `codec`, 5 s connect timeout, the screen text
    /// of `spec`'s terminals (Chinese for UnionPay).
    pub fn new(addr: SocketAddr, codec: FrameCodec, spec: &cardwire_codec::Spec) -> Self {
        Dial {
            addr,
            codec,
            connect_timeout: Duration::from_secs(5),
            link_down_text: if spec.codes == cardwire_codec::CodeTable::Cups {
                "通讯失败，请重试"
            } else {
                "NO CONNECTION"
            },
        }
    }
}

/// Runs `action` on `term` to completion over `conn` (connecting first
/// when there is none; after a drop, the next action reconnects).
/// `progress` sees every event.
///
/// # Errors
///
/// [`NetError::Engine`] when the terminal refuses to start (busy).
pub async fn run_action(
    term: &mut Terminal,
    conn: &mut Option<Connection>,
    dial: &Dial,
    action: Action,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<Outcome, NetError> {
    if conn.is_none() {
        // Dial first, as a POS terminal does: a terminal that cannot
        // reach the host does not start the transaction, so no STAN is
        // used and no reversal attempt is spent on a dead line.
        match Connection::connect(dial.addr, dial.codec, dial.connect_timeout).await {
            Ok(c) => *conn = Some(c),
            Err(e) => {
                let why = e.to_string();
                progress(Progress::Disconnected(&why));
                let mut o = Outcome::empty(action.kind(), dial.link_down_text);
                o.local_error = Some(format!("link down: {why}"));
                return Ok(o);
            }
        }
    }
    term.start(crate::now(), action)
        .map_err(|e| NetError::Engine(e.to_string()))?;
    let mut sent_at: Option<Instant> = None;
    // Taken when the reply is read, before the terminal sends its next
    // request (a sale right after its reversal's reply).
    let mut reply_latency: Option<Duration> = None;
    let timer = tokio::time::sleep(Duration::from_secs(3600));
    tokio::pin!(timer);
    loop {
        while let Some(frame) = term.poll_transmit() {
            let Some(c) = conn.as_mut() else {
                term.handle_disconnect(crate::now());
                continue;
            };
            if let Err(e) = c.send(&frame).await {
                progress(Progress::Disconnected(&e.to_string()));
                *conn = None;
                term.handle_disconnect(crate::now());
            } else {
                sent_at = Some(Instant::now());
            }
        }
        let mut done = None;
        while let Some(ev) = term.poll_event() {
            if let TerminalEvent::Received { .. } = &ev {
                if let Some(d) = reply_latency.take() {
                    progress(Progress::Latency(d));
                }
            }
            progress(Progress::Event(&ev, term));
            if let TerminalEvent::Completed(o) = ev {
                done = Some(o);
            }
        }
        if let Some(o) = done {
            return Ok(o);
        }
        let wait = term
            .poll_timeout()
            .map(|t| t.since(crate::now()))
            .unwrap_or(Duration::from_secs(3600));
        // One timer for the whole action, moved only when the terminal's
        // deadline moves (registering a timer per reply costs more than
        // the reply).
        let due = tokio::time::Instant::now() + wait;
        if due.saturating_duration_since(timer.deadline()) > Duration::from_millis(1)
            || timer.deadline().saturating_duration_since(due) > Duration::from_millis(1)
        {
            timer.as_mut().reset(due);
        }
        let Some(c) = conn.as_mut() else {
            // No link and nothing in flight that can time out: the
            // terminal was told about the drop; let it finish.
            tokio::time::sleep(wait.min(Duration::from_millis(10))).await;
            term.handle_timeout(crate::now());
            continue;
        };
        tokio::select! {
            r = c.recv() => match r {
                Ok(Some(frame)) => {
                    reply_latency = sent_at.map(|t| t.elapsed());
                    term.handle_message(crate::now(), &frame);
                }
                Ok(None) => {
                    progress(Progress::Disconnected("closed by host"));
                    *conn = None;
                    term.handle_disconnect(crate::now());
                }
                Err(e) => {
                    progress(Progress::Disconnected(&e.to_string()));
                    *conn = None;
                    term.handle_disconnect(crate::now());
                }
            },
            () = &mut timer => term.handle_timeout(crate::now()),
        }
    }
}

/// Where `cardwire terminal` keeps the state of terminal `terminal_id`
/// talking to `host` when no file is given: in the user's state directory
/// (`$XDG_STATE_HOME/cardwire/`, else `~/.local/state/cardwire/`), one file
/// per terminal and host address, so it does not depend on the current
/// directory. `None` when neither variable is set.
pub fn default_state_path(terminal_id: &str, host: SocketAddr) -> Option<PathBuf> {
    let nonempty = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let dir = nonempty("XDG_STATE_HOME")
        .filter(|p| p.is_absolute())
        .or_else(|| nonempty("HOME").map(|h| h.join(".local").join("state")))?
        .join("cardwire");
    let safe = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    Some(dir.join(format!(
        "terminal-{}-{}-{}.json",
        safe(terminal_id),
        safe(&host.ip().to_string()),
        host.port()
    )))
}

/// Creates the directory a state file goes in, readable by its owner only
/// when it is new.
///
/// # Errors
///
/// [`NetError::Io`] when it cannot be created.
pub fn create_state_dir(path: &Path) -> Result<(), NetError> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .map_err(|e| NetError::io(format!("creating {}", dir.display()), e))
}

/// Reads a saved terminal state; a missing file is a fresh terminal.
///
/// # Errors
///
/// [`NetError::Other`] for a file that is not a terminal state.
pub fn load_state(path: &Path) -> Result<Option<TerminalState>, NetError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| NetError::Other(format!("state file {}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(NetError::io(format!("reading {}", path.display()), e)),
    }
}

/// Saves the terminal state atomically (write, fsync, rename), so a kill
/// at any moment leaves either the old or the new state.
///
/// # Errors
///
/// [`NetError::Io`] when the file cannot be written.
pub fn save_state(path: &Path, state: &TerminalState) -> Result<(), NetError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let text = serde_json::to_vec_pretty(state).map_err(|e| NetError::Other(e.to_string()))?;
    // A leftover temporary file would keep its mode: start afresh.
    let _ = std::fs::remove_file(&tmp);
    let mut f = crate::owner_only()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| NetError::io(format!("writing {}", tmp.display()), e))?;
    f.write_all(&text)
        .and_then(|()| f.sync_all())
        .map_err(|e| NetError::io(format!("writing {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| NetError::io(format!("renaming to {}", path.display()), e))
}
