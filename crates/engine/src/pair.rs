//! A terminal and a host joined by an in-memory link with a simulated
//! clock (quinn's `Pair` idea): no sockets, no threads, no real time.
//!
//! The pair is a discrete-event simulation. Every frame crossing the link
//! goes through a [`FaultyLink`], which says when (and whether) it
//! arrives; the pair then moves the clock straight to the next thing that
//! happens: a delivery, a host timer (delayed reply) or a terminal timer
//! (response timeout). A 60-second timeout costs microseconds, and the
//! same seed always gives the same run.

use core::time::Duration;
use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use cardwire_codec::{Spec, specs};
use serde::Serialize;

use crate::clock::Timestamp;
use crate::config::{CardConfig, HostConfig};
use crate::fault::{FaultEvent, FaultPlan, FaultRule, FaultyLink, LinkAction};
use crate::host::{ConnId, Host, HostError, HostEvent};
use crate::schedule::Schedule;
use crate::terminal::{
    Action, Card, EntryMode, Outcome, Terminal, TerminalConfig, TerminalError, TerminalEvent,
};

/// Everything that happened, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "kebab-case")]
pub enum PairEvent {
    /// From the terminal.
    Terminal(TerminalEvent),
    /// From the host.
    Host(HostEvent),
    /// From the link.
    Fault(FaultEvent),
    /// The link went down (a fault) and came back for the next action.
    Disconnected {
        /// When.
        at: Timestamp,
    },
}

/// Errors driving a pair.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PairError {
    /// Host configuration.
    #[error(transparent)]
    Host(#[from] HostError),
    /// Terminal configuration or busy.
    #[error(transparent)]
    Terminal(#[from] TerminalError),
    /// An action did not finish within the simulated time limit.
    #[error("action did not complete within {0:?} of simulated time")]
    Stuck(Duration),
    /// A card id not in the host configuration.
    #[error("no card {0:?} in the host configuration")]
    UnknownCard(String),
}

#[derive(Debug)]
enum Delivery {
    ToHost(Bytes),
    ToTerminal(Bytes),
    Disconnect,
}

/// The in-memory pair. Fields are public so tests can poke at both ends.
pub struct Pair {
    /// The host.
    pub host: Host,
    /// The terminal.
    pub terminal: Terminal,
    /// The simulated clock.
    pub now: Timestamp,
    /// The link and its fault plan.
    pub link: FaultyLink,
    /// Everything that happened.
    pub log: Vec<PairEvent>,
    /// `false` while the link is down (requests are lost, the terminal is
    /// told at once).
    pub link_up: bool,
    cards: HashMap<String, CardConfig>,
    conn: ConnId,
    queue: Schedule<Delivery>,
}

impl core::fmt::Debug for Pair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pair")
            .field("now", &self.now)
            .field("host", &self.host)
            .field("terminal", &self.terminal)
            .finish_non_exhaustive()
    }
}

/// Longest an action may take in simulated time before [`PairError::Stuck`].
const ACTION_LIMIT: Duration = Duration::from_secs(3600);

impl Pair {
    /// A pair on `spec`.
    ///
    /// # Errors
    ///
    /// Host or terminal configuration errors.
    pub fn new(
        spec: Arc<Spec>,
        host: HostConfig,
        terminal: TerminalConfig,
        faults: FaultPlan,
    ) -> Result<Self, PairError> {
        let cards = host
            .cards
            .iter()
            .map(|c| (c.id.clone(), c.clone()))
            .collect();
        Ok(Pair {
            host: Host::new(Arc::clone(&spec), host)?,
            terminal: Terminal::new(Arc::clone(&spec), terminal)?,
            now: Timestamp::SIM_START,
            link: FaultyLink::new(spec, faults, Duration::from_millis(5)),
            log: Vec::new(),
            link_up: true,
            cards,
            conn: ConnId(1),
            queue: Schedule::new(),
        })
    }

    /// The demo host and terminal on the UnionPay dialect, no faults.
    ///
    /// # Errors
    ///
    /// Never for the demo set; the type is shared with [`Pair::new`].
    pub fn demo(seed: u64) -> Result<Self, PairError> {
        let mut cfg = HostConfig::demo();
        cfg.seed = seed;
        Pair::new(
            Arc::clone(specs::builtin("cups").ok_or(PairError::UnknownCard("spec".into()))?),
            cfg,
            TerminalConfig::default(),
            FaultPlan {
                seed,
                rules: Vec::new(),
            },
        )
    }

    /// The card `id` of the host configuration, as presented at the
    /// terminal (swiped, with its right PIN).
    ///
    /// # Errors
    ///
    /// [`PairError::UnknownCard`].
    pub fn card(&self, id: &str) -> Result<Card, PairError> {
        let c = self
            .cards
            .get(id)
            .ok_or_else(|| PairError::UnknownCard(id.into()))?;
        Ok(Card {
            id: Some(c.id.clone()),
            pan: c.pan.clone(),
            expiry: Some(c.expiry.clone()),
            pin: Some(c.pin.clone()),
            entry: EntryMode::Swipe,
            track2: None,
        })
    }

    /// Adds fault rules to the link.
    pub fn add_faults(&mut self, rules: impl IntoIterator<Item = FaultRule>) {
        self.link.add_rules(rules);
    }

    /// Starts an action and runs the simulation until it completes.
    ///
    /// # Errors
    ///
    /// [`PairError::Terminal`] when busy, [`PairError::Stuck`] when it does
    /// not complete within an hour of simulated time.
    pub fn run(&mut self, action: Action) -> Result<Outcome, PairError> {
        let mut seen = self.log.len();
        self.terminal.start(self.now, action)?;
        let deadline = self.now.plus(ACTION_LIMIT);
        loop {
            self.flush();
            // Only what was logged since the last look.
            let done = self.log[seen..].iter().find_map(|e| match e {
                PairEvent::Terminal(TerminalEvent::Completed(o)) => Some(o.clone()),
                _ => None,
            });
            seen = self.log.len();
            if let Some(o) = done {
                return Ok(o);
            }
            match self.next_time() {
                Some(t) if t <= deadline => self.step_to(t),
                _ => return Err(PairError::Stuck(ACTION_LIMIT)),
            }
        }
    }

    /// Lets `d` of simulated time pass, delivering whatever is due.
    pub fn advance(&mut self, d: Duration) {
        let until = self.now.plus(d);
        loop {
            self.flush();
            match self.next_time() {
                Some(t) if t <= until => self.step_to(t),
                _ => break,
            }
        }
        self.now = until;
        self.flush();
    }

    /// Takes the link down (or up again).
    pub fn set_link(&mut self, up: bool) {
        self.link_up = up;
        if !up {
            self.disconnect();
        }
    }

    fn disconnect(&mut self) {
        self.queue.clear();
        self.host.handle_disconnect(self.now, self.conn);
        self.terminal.handle_disconnect(self.now);
        self.conn = ConnId(self.conn.0 + 1);
        self.log.push(PairEvent::Disconnected { at: self.now });
    }

    fn schedule(&mut self, at: Timestamp, d: Delivery) {
        self.queue.push(at, d);
    }

    fn next_time(&self) -> Option<Timestamp> {
        [
            self.queue.next_at(),
            self.host.poll_timeout(),
            self.terminal.poll_timeout(),
            self.link.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn step_to(&mut self, t: Timestamp) {
        self.now = self.now.max(t);
        let now = self.now;
        // Deliveries due, in order.
        while let Some(d) = self.queue.pop_due(now) {
            match d {
                Delivery::ToHost(b) => self.host.handle_message(now, self.conn, &b),
                Delivery::ToTerminal(b) => self.terminal.handle_message(now, &b),
                Delivery::Disconnect => self.disconnect(),
            }
            self.flush();
        }
        self.host.handle_timeout(now);
        let released = self.link.handle_timeout(now);
        self.apply_link(released, true);
        self.terminal.handle_timeout(now);
        self.flush();
    }

    fn apply_link(&mut self, actions: Vec<LinkAction>, to_terminal: bool) {
        for a in actions {
            match a {
                LinkAction::Deliver { at, bytes } => {
                    let d = if to_terminal {
                        Delivery::ToTerminal(bytes)
                    } else {
                        Delivery::ToHost(bytes)
                    };
                    self.schedule(at, d);
                }
                LinkAction::Disconnect { at } => self.schedule(at, Delivery::Disconnect),
            }
        }
    }

    /// Moves frames from both ends onto the link and collects events.
    fn flush(&mut self) {
        loop {
            let mut moved = false;
            while let Some(b) = self.terminal.poll_transmit() {
                moved = true;
                if self.link_up {
                    let acts = self.link.on_request(self.now, b);
                    self.apply_link(acts, false);
                } else {
                    self.terminal.handle_disconnect(self.now);
                }
            }
            while let Some(t) = self.host.poll_transmit() {
                moved = true;
                if t.conn == self.conn && self.link_up {
                    let acts = self.link.on_response(self.now, t.bytes);
                    self.apply_link(acts, true);
                }
            }
            while let Some(e) = self.link.poll_event() {
                moved = true;
                self.log.push(PairEvent::Fault(e));
            }
            while let Some(e) = self.host.poll_event() {
                moved = true;
                self.log.push(PairEvent::Host(e));
            }
            while let Some(e) = self.terminal.poll_event() {
                moved = true;
                self.log.push(PairEvent::Terminal(e));
            }
            if !moved {
                break;
            }
        }
    }
}
