//! The certification driver: a host that walks a test plan against
//! whatever terminal connects (`cardwire certify`).
//!
//! It moves bytes and time between the sockets and three engine machines,
//! exactly as the in-memory driver of the engine's certify tests does:
//!
//! ```text
//!  terminal ──► frame ──► Grader::handle_request ──► Directive
//!                 │          response rule ─► Host::add_rule
//!                 │          link faults   ─► FaultyLink::add_rules
//!                 └──► FaultyLink::on_request ──► schedule ──► Host::handle_message
//!  terminal ◄── schedule ◄── FaultyLink::on_response ◄── Host::poll_transmit
//!      └─ each reply written: Grader::handle_reply_sent
//! ```
//!
//! One engine [`Host`] (demo cards and keys, in-memory ledger) serves
//! every connection; one [`FaultyLink`] stands between it and the
//! terminal, kept across reconnects (a `cardwire terminal` process per
//! transaction is one terminal). Replies go to the terminal's latest
//! connection; a reply for a connection that has closed is not sent, and
//! not reported to the grader.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use cardwire_codec::frame::FramePrefix;
use cardwire_codec::{Spec, decode};
use cardwire_engine::certify::{CertifyEvent, Grader, Plan, Verdict};
use cardwire_engine::config::HostConfig;
use cardwire_engine::fault::{FaultPlan, FaultyLink, LinkAction};
use cardwire_engine::schedule::Schedule;
use cardwire_engine::{ConnId, Host, Timestamp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, Encoder};

use crate::NetError;
use crate::framing::FrameCodec;

/// The certification host's options.
#[derive(Debug, Clone)]
pub struct CertifyOptions {
    /// The dialect the terminal speaks.
    pub spec: Arc<Spec>,
    /// The plan to walk.
    pub plan: Plan,
    /// The host's cards, terminals and keys.
    pub config: HostConfig,
    /// Where the terminal connects.
    pub listen: SocketAddr,
    /// Length prefix.
    pub prefix: FramePrefix,
}

impl CertifyOptions {
    /// The demo host (cards alice, bob ..., the demo TMK), UnionPay
    /// framing, on `listen`.
    pub fn demo(spec: Arc<Spec>, plan: Plan, listen: SocketAddr) -> Self {
        CertifyOptions {
            spec,
            plan,
            config: HostConfig::demo(),
            listen,
            prefix: FramePrefix::Binary2,
        }
    }
}

/// A bound certification host, ready to [`run`](Certifier::run).
#[derive(Debug)]
pub struct Certifier {
    opts: CertifyOptions,
    listener: TcpListener,
    addr: SocketAddr,
}

/// Binds the listening socket.
///
/// # Errors
///
/// [`NetError::Io`] when the address cannot be bound.
pub async fn bind(opts: CertifyOptions) -> Result<Certifier, NetError> {
    let (listener, addr) = crate::listen(opts.listen).await?;
    Ok(Certifier {
        opts,
        listener,
        addr,
    })
}

enum Inbound {
    Frame(ConnId, Bytes),
    Closed(ConnId),
}

enum Delivery {
    ToHost(ConnId, Bytes),
    ToTerminal(Bytes),
    Disconnect,
}

struct Session {
    spec: Arc<Spec>,
    host: Host,
    link: FaultyLink,
    grader: Grader,
    conns: HashMap<ConnId, mpsc::UnboundedSender<Bytes>>,
    current: Option<ConnId>,
    queue: Schedule<Delivery>,
    verdicts: Vec<Verdict>,
}

impl Certifier {
    /// Where the terminal connects.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Walks the plan until every case is graded or `stop` completes
    /// (then the open cases are graded on what was seen and the rest are
    /// NOT RUN). Every event goes to `on_event` as it happens; the
    /// verdicts are returned in the order they were given.
    ///
    /// # Errors
    ///
    /// [`NetError::Engine`] when the host refuses its configuration.
    pub async fn run(
        self,
        stop: impl Future<Output = ()>,
        mut on_event: impl FnMut(&CertifyEvent),
    ) -> Result<Vec<Verdict>, NetError> {
        let Certifier { opts, listener, .. } = self;
        let codec = FrameCodec::new(opts.prefix, crate::framing::DEFAULT_MAX_FRAME);
        let host = Host::new(Arc::clone(&opts.spec), opts.config.clone())
            .map_err(|e| NetError::Engine(e.to_string()))?;
        let mut s = Session {
            link: FaultyLink::new(Arc::clone(&opts.spec), FaultPlan::default(), Duration::ZERO),
            spec: opts.spec,
            host,
            grader: Grader::new(opts.plan, crate::now()),
            conns: HashMap::new(),
            current: None,
            queue: Schedule::new(),
            verdicts: Vec::new(),
        };
        let (in_tx, mut in_rx) = mpsc::unbounded_channel();
        let mut next_conn = 0u64;
        tokio::pin!(stop);
        s.flush(crate::now(), &mut on_event);
        while !s.grader.is_finished() {
            let now = crate::now();
            let wake = s
                .next_time()
                .map_or(Duration::from_secs(3600), |t| t.since(now));
            tokio::select! {
                a = listener.accept() => {
                    if let Ok((stream, _peer)) = a {
                        next_conn += 1;
                        let conn = ConnId(next_conn);
                        let (tx, rx) = mpsc::unbounded_channel();
                        s.conns.insert(conn, tx);
                        tokio::spawn(serve_conn(stream, conn, codec, rx, in_tx.clone()));
                    }
                }
                Some(ev) = in_rx.recv() => {
                    let now = crate::now();
                    match ev {
                        Inbound::Frame(conn, frame) => s.handle_request(now, conn, frame),
                        Inbound::Closed(conn) => {
                            if s.conns.remove(&conn).is_some() {
                                s.host.handle_disconnect(now, conn);
                                s.grader.handle_disconnect(now);
                            }
                        }
                    }
                    s.flush(now, &mut on_event);
                }
                () = tokio::time::sleep_until((Instant::now() + wake).into()) => {
                    s.step(crate::now(), &mut on_event);
                }
                () = &mut stop => break,
            }
        }
        if !s.grader.is_finished() {
            s.grader.finish(crate::now());
            s.flush(crate::now(), &mut on_event);
        }
        // Closing the writers lets each connection finish and close.
        s.conns.clear();
        Ok(s.verdicts)
    }
}

impl Session {
    fn handle_request(&mut self, now: Timestamp, conn: ConnId, frame: Bytes) {
        self.current = Some(conn);
        // Undecodable requests go to the host as they are: it answers or
        // rejects them as it would any terminal's.
        if let Ok(view) = decode(&self.spec, &frame) {
            self.grader.handle_request(now, &view);
            while let Some(d) = self.grader.poll_behaviour() {
                if let Some(rule) = d.behaviour.response_rule(d.txn) {
                    self.host.add_rule(rule);
                }
                self.link.add_rules(d.behaviour.link_faults());
            }
        }
        let acts = self.link.on_request(now, frame);
        self.schedule(acts, Some(conn));
    }

    fn schedule(&mut self, acts: Vec<LinkAction>, request_of: Option<ConnId>) {
        for a in acts {
            let (at, d) = match a {
                LinkAction::Deliver { at, bytes } => match request_of {
                    Some(c) => (at, Delivery::ToHost(c, bytes)),
                    None => (at, Delivery::ToTerminal(bytes)),
                },
                LinkAction::Disconnect { at } => (at, Delivery::Disconnect),
            };
            self.queue.push(at, d);
        }
    }

    fn next_time(&self) -> Option<Timestamp> {
        [
            self.queue.next_at(),
            self.host.poll_timeout(),
            self.link.poll_timeout(),
            self.grader.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Delivers what is due and runs every machine's timers.
    fn step(&mut self, now: Timestamp, on_event: &mut impl FnMut(&CertifyEvent)) {
        while let Some(d) = self.queue.pop_due(now) {
            match d {
                Delivery::ToHost(conn, b) => self.host.handle_message(now, conn, &b),
                Delivery::ToTerminal(b) => self.send_to_terminal(now, b),
                Delivery::Disconnect => {
                    self.queue.retain(|d| !matches!(d, Delivery::ToTerminal(_)));
                    if let Some(c) = self.current.take() {
                        // Dropping the writer closes the socket.
                        if self.conns.remove(&c).is_some() {
                            self.host.handle_disconnect(now, c);
                            self.grader.handle_disconnect(now);
                        }
                    }
                }
            }
            self.flush(now, on_event);
        }
        self.host.handle_timeout(now);
        let released = self.link.handle_timeout(now);
        self.schedule(released, None);
        self.grader.handle_timeout(now);
        self.flush(now, on_event);
    }

    fn send_to_terminal(&mut self, now: Timestamp, b: Bytes) {
        let Some(tx) = self.current.and_then(|c| self.conns.get(&c)) else {
            return;
        };
        if tx.send(b.clone()).is_err() {
            return;
        }
        if let Ok(view) = decode(&self.spec, &b) {
            self.grader.handle_reply_sent(now, &view);
        }
    }

    /// Moves the host's replies onto the link, and hands out the grader's
    /// events.
    fn flush(&mut self, now: Timestamp, on_event: &mut impl FnMut(&CertifyEvent)) {
        loop {
            let mut moved = false;
            while let Some(t) = self.host.poll_transmit() {
                moved = true;
                let acts = self.link.on_response(now, t.bytes);
                self.schedule(acts, None);
            }
            while self.host.poll_event().is_some() {
                moved = true;
            }
            while let Some(f) = self.link.poll_event() {
                moved = true;
                let stan = f.stan.map_or_else(String::new, |s| format!(" STAN {s:06}"));
                on_event(&CertifyEvent::Observation {
                    at: now,
                    case: None,
                    text: format!("host: {} on the {}{stan}", f.fault.as_str(), f.kind),
                });
            }
            while let Some(e) = self.grader.poll_event() {
                moved = true;
                if let CertifyEvent::Verdict(v) = &e {
                    self.verdicts.push(v.clone());
                }
                on_event(&e);
            }
            if !moved {
                break;
            }
        }
    }
}

/// One terminal connection: whole frames go to the session, the
/// session's replies are written back; a dropped sender closes the
/// connection.
async fn serve_conn(
    stream: TcpStream,
    conn: ConnId,
    mut codec: FrameCodec,
    mut out: mpsc::UnboundedReceiver<Bytes>,
    inbound: mpsc::UnboundedSender<Inbound>,
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let mut buf = BytesMut::new();
    loop {
        tokio::select! {
            r = rd.read_buf(&mut buf) => {
                match r {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                loop {
                    match codec.decode(&mut buf) {
                        Ok(Some(f)) => {
                            let _ = inbound.send(Inbound::Frame(conn, f));
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!("certify: connection {}: broken frame: {e}", conn.0);
                            let _ = inbound.send(Inbound::Closed(conn));
                            return;
                        }
                    }
                }
            }
            m = out.recv() => {
                let Some(frame) = m else { break };
                let mut b = BytesMut::new();
                if codec.encode(&frame[..], &mut b).is_err()
                    || wr.write_all(&b).await.is_err()
                {
                    break;
                }
            }
        }
    }
    let _ = wr.shutdown().await;
    let _ = inbound.send(Inbound::Closed(conn));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use cardwire_codec::specs;
    use cardwire_engine::Money;
    use cardwire_engine::certify::Outcome;
    use cardwire_engine::pair::Pair;
    use cardwire_engine::terminal::{Action, Terminal, TerminalConfig};

    use super::*;
    use crate::terminal::{Connection, Dial, run_action};

    /// Walks the built-in `cups-pos` plan over loopback TCP against one
    /// engine terminal (`cfg`) whose operator follows every prompt; held
    /// replies are made late for its 500 ms timeout.
    async fn walk(cfg: TerminalConfig) -> Vec<Verdict> {
        let mut plan = Plan::builtin("cups-pos").unwrap();
        for c in &mut plan.cases {
            // An operator that is stuck shows in seconds, not minutes.
            c.limit = Duration::from_secs(10);
            if c.host.delay.is_some() {
                c.host.delay = Some(Duration::from_secs(1));
            }
        }
        let spec = Arc::clone(specs::builtin(&plan.spec).unwrap());
        let c = bind(CertifyOptions::demo(
            Arc::clone(&spec),
            plan,
            SocketAddr::from(([127, 0, 0, 1], 0)),
        ))
        .await
        .unwrap();
        let dial = Dial::new(c.addr(), FrameCodec::default(), &spec);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let certifier = c.run(std::future::pending(), move |e| {
            let _ = tx.send(e.clone());
        });
        let operator = async move {
            let card = Pair::demo(1).unwrap().card("alice").unwrap();
            let mut term = Terminal::new(Arc::clone(&spec), cfg).unwrap();
            let mut conn: Option<Connection> = None;
            let mut last_sale = None;
            while let Some(e) = rx.recv().await {
                let p = match e {
                    CertifyEvent::Prompt(p) => p,
                    CertifyEvent::Finished { .. } => break,
                    _ => continue,
                };
                let action = match p.prompt.action.as_str() {
                    "signon" => Action::SignOn,
                    "sale" => Action::sale(card.clone(), Money(1000)),
                    "void" => Action::Void {
                        card: card.clone(),
                        voucher: last_sale.unwrap(),
                        password: TerminalConfig::default().supervisor_password,
                    },
                    "settle" => Action::Settle,
                    other => panic!("no operator for {other}"),
                };
                let o = run_action(&mut term, &mut conn, &dial, action, |_| {})
                    .await
                    .unwrap();
                if o.kind == "sale" && o.approved {
                    last_sale = o.stan;
                }
            }
        };
        let (verdicts, ()) = tokio::join!(certifier, operator);
        verdicts.unwrap()
    }

    fn table(v: &[Verdict]) -> Vec<(&str, Outcome, &str)> {
        v.iter()
            .map(|v| (v.case.as_str(), v.outcome, v.reason.as_str()))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn engine_terminal_passes_every_builtin_case_over_tcp() {
        let v = walk(TerminalConfig {
            timeout: Duration::from_millis(500),
            ..TerminalConfig::default()
        })
        .await;
        assert_eq!(v.len(), Plan::builtin("cups-pos").unwrap().cases.len());
        assert!(
            v.iter().all(|v| v.outcome == Outcome::Pass),
            "{:#?}",
            table(&v)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn terminal_that_never_reverses_fails_the_lost_reply_over_tcp() {
        let v = walk(TerminalConfig {
            timeout: Duration::from_millis(500),
            conforming: false,
            ..TerminalConfig::default()
        })
        .await;
        let lost = v.iter().find(|v| v.case == "lost reply to a sale").unwrap();
        assert_eq!(lost.outcome, Outcome::Fail, "{:#?}", table(&v));
        assert!(lost.reason.contains("debited twice"), "{}", lost.reason);
        // The cases that need no reversal still pass.
        let approved = v.iter().find(|v| v.case == "approved sale").unwrap();
        assert_eq!(approved.outcome, Outcome::Pass, "{:#?}", table(&v));
    }
}
