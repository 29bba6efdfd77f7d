//! The tokio driver around cardwire's sans-IO engine.
//!
//! The engine ([`cardwire_engine`]) decides everything: replies, postings,
//! reversals, faults. This crate only moves bytes and time between sockets
//! and those state machines, in the manner of quinn's `ConnectionDriver`:
//!
//! ```text
//!   TCP ──► FrameCodec ──► channel ──► host thread: Host::handle_message(now, conn, frame)
//!                                         │ ledger.commit()  (group commit, SQLite)
//!   TCP ◄── FrameCodec ◄── channel ◄──────┘ Host::poll_transmit()
//! ```
//!
//! - [`framing`]: `tokio_util::codec` framing for the four length
//!   prefixes, with a frame size limit.
//! - [`host`]: the TCP host: one thread owns the [`Host`](cardwire_engine::Host),
//!   connections talk to it over channels; connection limit, idle
//!   timeout, graceful shutdown, admin socket, message journal.
//! - [`sqlite`]: a durable ledger with group commit.
//! - [`terminal`]: one engine terminal on a real connection.
//! - [`load`]: many terminals at a target rate, latency histogram, audit.
//! - [`proxy`]: a forwarding proxy that applies a fault plan.
//! - [`certify`]: a host that grades a terminal against a test plan.
//! - [`control`]: the line-based JSON admin protocol.
//! - [`journal`]: the JSON-lines message journal.
//!
//! Logging goes through [`tracing`]: events at `info`, `warn` and
//! `error`, inside a `conn` span (connection number, peer, terminal id
//! once known) for what a connection does. Nothing logged carries card
//! data. The binary installs the subscriber (`RUST_LOG`, `--log-format`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod certify;
pub mod control;
pub mod framing;
mod group;
pub mod host;
pub mod journal;
pub mod load;
pub mod proxy;
pub mod sqlite;
pub mod terminal;

use cardwire_engine::Timestamp;

/// The default host port (the standard's number).
pub const DEFAULT_PORT: u16 = 8583;
/// The default admin port of the host.
pub const DEFAULT_ADMIN_PORT: u16 = 8584;

/// Wall-clock time as the engine sees it.
pub fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Timestamp(ms)
}

/// Errors of the network layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// A socket failed.
    #[error("{context}: {err}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        err: std::io::Error,
    },
    /// The engine refused the configuration.
    #[error("engine: {0}")]
    Engine(String),
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] cardwire_engine::ledger::LedgerError),
    /// Something else (bad option, protocol error).
    #[error("{0}")]
    Other(String),
}

impl NetError {
    pub(crate) fn io(context: impl Into<String>, err: std::io::Error) -> Self {
        NetError::Io {
            context: context.into(),
            err,
        }
    }
}

/// Lets a repeated warning through at most `burst` times per `every`,
/// counting the ones it holds back, so junk traffic cannot fill the disk
/// with logs.
#[derive(Debug)]
pub(crate) struct Throttle {
    every: std::time::Duration,
    burst: u32,
    window: Option<std::time::Instant>,
    used: u32,
    held: u64,
}

impl Throttle {
    pub(crate) const fn new(every: std::time::Duration, burst: u32) -> Self {
        Throttle {
            every,
            burst,
            window: None,
            used: 0,
            held: 0,
        }
    }

    /// `Some(n)` when a line may be written now, `n` being how many were
    /// held back since the last one; `None` (and one more held) otherwise.
    pub(crate) fn pass(&mut self) -> Option<u64> {
        let now = std::time::Instant::now();
        if self
            .window
            .is_none_or(|t| now.duration_since(t) >= self.every)
        {
            self.window = Some(now);
            self.used = 0;
        }
        if self.used >= self.burst {
            self.held += 1;
            return None;
        }
        self.used += 1;
        Some(std::mem::take(&mut self.held))
    }
}

/// Binds a listening socket and returns it with the address it got (the
/// port chosen for `:0`).
pub(crate) async fn listen(
    addr: std::net::SocketAddr,
) -> Result<(tokio::net::TcpListener, std::net::SocketAddr), NetError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| NetError::io(format!("binding {addr}"), e))?;
    let local = listener
        .local_addr()
        .map_err(|e| NetError::io("local address", e))?;
    Ok((listener, local))
}

/// Options that create a file readable and writable by its owner only
/// (0600 on Unix): ledgers, journals and terminal state hold card
/// activity and reversal records.
pub(crate) fn owner_only() -> std::fs::OpenOptions {
    let mut o = std::fs::OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}
