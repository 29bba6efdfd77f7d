//! The network commands: `host`, `host-ctl`, `terminal`, `load`, `proxy`
//! and `journal`, thin front ends over `cardwire-net`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use cardwire_codec::{DecodeMode, Spec, TxnKind};
use cardwire_engine::Money;
use cardwire_engine::config::{HostConfig, IssuerState};
use cardwire_engine::fault::FaultPlan;
use cardwire_engine::reply_codes::Reason;
use cardwire_engine::terminal::{
    Action, Card, EntryMode, GiveUpPolicy, Outcome, Terminal, TerminalEvent, TerminalState,
};
use cardwire_net::control::AdminToken;
use cardwire_net::framing::{FrameCodec, parse_prefix};
use cardwire_net::host::{HostOptions, LedgerChoice, add_load_terminals};
use cardwire_net::journal::{Filter, Rotation};
use cardwire_net::load::{LoadCounters, LoadOptions, LoadReport, Mix};
use cardwire_net::proxy::{ProxyOptions, Upstream};
use cardwire_net::sqlite::Durability;
use cardwire_net::terminal::{
    Connection, Dial, Progress, create_state_dir, default_state_path, load_state, run_action,
    save_state,
};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::client_profile::ProfileArgs;
use crate::load_spec;

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    runtime_with(0)
}

/// A runtime with `threads` workers (0: one per core, 1: a single thread).
fn runtime_with(threads: usize) -> Result<tokio::runtime::Runtime> {
    let mut b = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if threads > 1 {
            b.worker_threads(threads);
        }
        b
    };
    b.enable_all().build().context("starting the async runtime")
}

/// Ctrl-C (SIGINT) or, on Unix, SIGTERM (how service managers and `kill`
/// stop a process): both stop gracefully. Created before the listening
/// line is printed, so a signal sent as soon as it appears is caught.
pub(crate) struct StopSignal {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl StopSignal {
    pub(crate) fn new() -> Result<Self> {
        Ok(StopSignal {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("listening for SIGTERM")?,
        })
    }

    /// Waits for the signal; returns its name.
    pub(crate) async fn recv(&mut self) -> Result<&'static str> {
        #[cfg(unix)]
        {
            tokio::select! {
                r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C").map(|()| "SIGINT"),
                _ = self.term.recv() => Ok("SIGTERM"),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c()
                .await
                .context("waiting for Ctrl-C")
                .map(|()| "Ctrl-C")
        }
    }
}

fn parse_token(s: &str) -> Result<AdminToken, String> {
    AdminToken::new(s).ok_or_else(|| "the admin token must not be empty".to_owned())
}

pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime_like(s)
}

/// `250ms`, `5s`, `2m`, `1h`, or plain seconds.
fn humantime_like(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or((s, "s"), |i| (&s[..i], s[i..].trim()));
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a duration like 250ms, 10s, 2m"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" | "" => v,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (ms, s, m, h)")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("{s:?}: not a duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// An address, or `off`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MaybeAddr(Option<SocketAddr>);

fn parse_addr_or_off(s: &str) -> Result<MaybeAddr, String> {
    if s == "off" || s == "none" {
        return Ok(MaybeAddr(None));
    }
    s.parse()
        .map(|a| MaybeAddr(Some(a)))
        .map_err(|_| format!("{s:?}: expected HOST:PORT (e.g. 127.0.0.1:8584) or off"))
}

/// Reads a TOML or JSON file, taking the `[key]` table when the file has
/// one (a scenario file), the whole file otherwise.
/// A TOML or JSON file (by extension) as a JSON value.
fn read_value(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
    } else {
        let t: toml::Value =
            toml::from_str(&text).with_context(|| format!("{} is not TOML", path.display()))?;
        Ok(serde_json::to_value(t)?)
    }
}

fn read_section<T: serde::de::DeserializeOwned>(path: &Path, key: &str) -> Result<T> {
    let value = read_value(path)?;
    let part = value.get(key).cloned().unwrap_or(value);
    serde_json::from_value(part).with_context(|| format!("{}: [{key}]", path.display()))
}

/// The `[faults]` table of a config (or scenario) file, if it has one.
fn config_faults(path: &Path) -> Result<Option<FaultPlan>> {
    read_value(path)?
        .get("faults")
        .map(|f| {
            serde_json::from_value(f.clone())
                .with_context(|| format!("{}: [faults]", path.display()))
        })
        .transpose()
}

fn spec_arg(spec: &str) -> Result<Arc<Spec>> {
    load_spec(spec)
}

// ----- host ---------------------------------------------------------------

/// Options of `cardwire host`.
/// What one client connection may use, for the host and the proxy's
/// terminal side: over a limit, the connection is logged and closed (the
/// proxy closes its upstream connection with it).
#[derive(Args)]
struct ConnectionLimits {
    /// Connection limit (over it: logged and closed).
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// Close a connection silent this long.
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    idle_timeout: Duration,
    /// Close a connection whose frame, once begun, is not complete within this.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    frame_timeout: Duration,
    /// Largest frame accepted, bytes.
    #[arg(long, default_value_t = cardwire_net::framing::DEFAULT_MAX_FRAME)]
    max_frame: usize,
}

#[derive(Args)]
pub(crate) struct HostArgs {
    /// Built-in spec name or spec file.
    #[arg(long, default_value = "cups")]
    spec: String,
    /// Where terminals connect.
    #[arg(long, default_value = "127.0.0.1:8583")]
    listen: SocketAddr,
    /// Host configuration (TOML/JSON: cards, terminals, rules; a scenario
    /// file's `[host]` table works too). Default: the demo set.
    #[arg(long)]
    config: Option<PathBuf>,
    /// SQLite ledger file, or `:memory:`. Default: `cardwire-ledger.db`
    /// next to the config file (or in the current directory).
    #[arg(long)]
    db: Option<String>,
    /// SQLite synchronous mode: `full` (survives power loss) or `normal`
    /// (survives a crash of the process).
    #[arg(long, default_value = "full", value_parser = parse_durability)]
    sync: Durability,
    /// Message journal (JSON lines), or `off`. Default:
    /// `cardwire-journal.jsonl` next to the ledger file; off with `:memory:`.
    #[arg(long)]
    journal: Option<String>,
    #[command(flatten)]
    journal_rotation: JournalRotationArgs,
    /// Decode requests leniently: read past deviations that leave a frame
    /// readable (lowercase hex, an overlong field, bytes after the last
    /// field ...), decide the request as read, journal each warning.
    #[arg(long)]
    lenient: bool,
    /// Admin socket (line-based JSON, see `cardwire host-ctl`), or `off`.
    #[arg(long, default_value = "127.0.0.1:8584", value_parser = parse_addr_or_off)]
    admin: MaybeAddr,
    /// Secret every admin request must carry (`host-ctl --admin-token`);
    /// required to bind the admin socket to anything but loopback.
    #[arg(long, value_parser = parse_token)]
    admin_token: Option<AdminToken>,
    /// Also register N load terminals 10000001.. and the `load` card (for `cardwire load`).
    #[arg(long, default_value_t = 0)]
    terminals: u32,
    #[command(flatten)]
    limits: ConnectionLimits,
    /// Length prefix: binary2, binary2-inclusive, bcd2, ascii4.
    #[arg(long, default_value = "binary2", value_parser = parse_prefix)]
    prefix: cardwire_codec::frame::FramePrefix,
    /// Log every connection on stderr.
    #[arg(long, short)]
    verbose: bool,
    /// Fault plan for the link to every terminal (TOML/JSON; a scenario
    /// file's `[faults]` works): the host then listens behind an in-process
    /// proxy that drops, delays, duplicates and corrupts as the plan says.
    /// Without this flag, a `[faults]` table in `--config` is used.
    #[arg(long)]
    faults: Option<PathBuf>,
    /// Admin socket of that proxy (`cardwire host-ctl --admin ADDR faults|set-faults FILE`).
    #[arg(long, default_value = "127.0.0.1:8586")]
    faults_admin: SocketAddr,
    /// Business days of entries kept in memory besides today's (refunds,
    /// completions and late reversals of earlier days; older entries stay
    /// in the ledger). Default: the config's `keep_days`, else 30.
    #[arg(long)]
    keep_days: Option<u32>,
    /// Snapshot the host's state into the ledger every N entries (0:
    /// only at shutdown), so a restart replays only what came after.
    /// Default: the config's `snapshot_every`, else 100000.
    #[arg(long)]
    snapshot_every: Option<u64>,
    /// Worker threads (0: one per core, 1: a single thread).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

/// How the message journal rotates (`host`, `proxy`).
#[derive(Args, Debug, Clone)]
struct JournalRotationArgs {
    /// Rotate the message journal once it holds this much (bytes, or with
    /// K, M, G: KiB, MiB, GiB): PATH becomes PATH.1, PATH.1 PATH.2 ...
    #[arg(long, default_value = "256M", value_parser = parse_size)]
    journal_max_size: u64,
    /// Rotated journal files kept (PATH.1 .. PATH.N); older ones are deleted.
    #[arg(long, default_value_t = 4)]
    journal_keep: u32,
}

impl JournalRotationArgs {
    fn rotation(&self) -> Rotation {
        Rotation {
            max_size: self.journal_max_size,
            keep: self.journal_keep,
        }
    }
}

fn decode_mode(lenient: bool) -> DecodeMode {
    if lenient {
        DecodeMode::Lenient
    } else {
        DecodeMode::Strict
    }
}

/// `1048576`, `64K`, `256M`, `1G` (binary units).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, shift) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 10),
        Some((i, 'm' | 'M')) => (&t[..i], 20),
        Some((i, 'g' | 'G')) => (&t[..i], 30),
        _ => (t, 0),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: a size is a number of bytes, or with K, M or G"))?;
    n.checked_mul(1u64 << shift)
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("{s:?}: a size must be above zero and fit in 64 bits"))
}

fn parse_durability(s: &str) -> Result<Durability, String> {
    Durability::parse(s).ok_or_else(|| format!("{s:?}: full or normal"))
}

pub(crate) fn cmd_host(a: HostArgs) -> Result<()> {
    let spec = spec_arg(&a.spec)?;
    let mut config = match &a.config {
        Some(p) => read_section::<HostConfig>(p, "host")?,
        None => HostConfig::demo(),
    };
    add_load_terminals(&mut config, a.terminals);
    if let Some(d) = a.keep_days {
        config.keep_days = d;
    }
    if let Some(n) = a.snapshot_every {
        config.snapshot_every = n;
    }
    let base_dir = a
        .config
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let ledger = match a.db.as_deref() {
        Some(":memory:") => LedgerChoice::Memory,
        Some(p) => LedgerChoice::Sqlite {
            path: PathBuf::from(p),
            durability: a.sync,
        },
        None => LedgerChoice::Sqlite {
            path: base_dir.join("cardwire-ledger.db"),
            durability: a.sync,
        },
    };
    let journal = match (a.journal.as_deref(), &ledger) {
        (Some("off"), _) => None,
        (Some(p), _) => Some(PathBuf::from(p)),
        (None, LedgerChoice::Sqlite { path, .. }) => {
            Some(cardwire_net::journal::default_path_near(path))
        }
        (None, LedgerChoice::Memory) => None,
    };
    let opts = HostOptions {
        config,
        listen: Some(a.listen),
        admin: a.admin.0,
        admin_token: a.admin_token.clone(),
        ledger: ledger.clone(),
        journal: journal.clone(),
        journal_rotation: a.journal_rotation.rotation(),
        decode_mode: decode_mode(a.lenient),
        prefix: a.prefix,
        max_frame: a.limits.max_frame,
        max_connections: a.limits.max_connections,
        idle_timeout: a.limits.idle_timeout,
        frame_timeout: a.limits.frame_timeout,
        log_connections: a.verbose,
        ..HostOptions::demo(Arc::clone(&spec))
    };
    // A fault plan puts an in-process proxy on the listening address and
    // the engine behind it, reached through in-process connections only:
    // no port leads to the engine around the plan.
    let plan: Option<FaultPlan> = match (&a.faults, &a.config) {
        (Some(p), _) => Some(read_section(p, "faults")?),
        (None, Some(c)) => config_faults(c)?,
        (None, None) => None,
    };
    let mut opts = opts;
    if plan.is_some() {
        opts.listen = None;
    }
    let rt = runtime_with(a.threads)?;
    rt.block_on(async move {
        let mut host = cardwire_net::host::start(opts).await?;
        let proxy = match plan {
            Some(plan) => {
                let rules = plan.rules.len();
                let p = cardwire_net::proxy::start(ProxyOptions {
                    spec: Arc::clone(&spec),
                    listen: a.listen,
                    upstream: Upstream::InProcess(host.connector()),
                    plan,
                    admin: Some(a.faults_admin),
                    admin_token: a.admin_token.clone(),
                    journal: None,
                    journal_rotation: Rotation::default(),
                    decode_mode: decode_mode(a.lenient),
                    codec: FrameCodec::new(a.prefix, a.limits.max_frame),
                    verbose: a.verbose,
                    max_connections: a.limits.max_connections,
                    idle_timeout: a.limits.idle_timeout,
                    frame_timeout: a.limits.frame_timeout,
                })
                .await?;
                eprintln!(
                    "cardwire host: faults on ({rules} rules) between {} and the engine; change them with `cardwire host-ctl --admin {} set-faults FILE`",
                    p.addr,
                    p.admin_addr.map_or_else(|| "off".into(), |x| x.to_string()),
                );
                Some(p)
            }
            None => None,
        };
        let mut stop = StopSignal::new()?;
        let public = match (&proxy, host.addr) {
            (Some(p), _) => p.addr,
            (None, Some(a)) => a,
            (None, None) => bail!("the host has no listening address"),
        };
        let ledger_text = match &ledger {
            LedgerChoice::Memory => "in memory".to_string(),
            LedgerChoice::Sqlite { path, .. } => format!("SQLite {}", path.display()),
        };
        eprintln!(
            "cardwire host: listening on {} (spec {}, ledger {ledger_text}, journal {}, admin {}); Ctrl-C stops",
            public,
            spec.name,
            journal
                .as_ref()
                .map_or_else(|| "off".into(), |p| p.display().to_string()),
            host.admin_addr
                .map_or_else(|| "off".into(), |a| a.to_string()),
        );
        tokio::select! {
            r = stop.recv() => {
                let name = r?;
                eprintln!("cardwire host: {name}: stopping (answering what is in flight)");
                if let Some(p) = proxy {
                    p.shutdown().await;
                }
                host.shutdown().await?;
            }
            r = host.wait() => r?,
        }
        eprintln!("cardwire host: stopped");
        Ok(())
    })
}

// ----- host-ctl -----------------------------------------------------------

/// Options of `cardwire host-ctl`.
#[derive(Args)]
pub(crate) struct HostCtlArgs {
    /// The admin socket of a host (or of a proxy started with --admin).
    #[arg(long, default_value = "127.0.0.1:8584")]
    admin: SocketAddr,
    /// The admin socket's token (`host --admin-token`), sent with the request.
    #[arg(long, value_parser = parse_token)]
    admin_token: Option<AdminToken>,
    #[command(subcommand)]
    cmd: CtlCmd,
}

#[derive(Subcommand)]
enum CtlCmd {
    /// Counters, issuer state, money check.
    Status,
    /// Set the issuer state: up, down (91), unreachable (92), slow (98 after a delay).
    Issuer {
        /// up | down | unreachable | slow
        state: String,
    },
    /// List the response rules.
    Rules,
    /// Add a response rule in front, as JSON, e.g. '{"amount":"66.60","respond":"05"}'.
    AddRule {
        /// The rule.
        rule: String,
    },
    /// Replace the response rules with those of a file (TOML `[[rules]]` or a JSON array).
    SetRules {
        /// The file.
        file: PathBuf,
    },
    /// Remove every response rule.
    ClearRules,
    /// Balance of a card id, account id or `merchant:<id>`.
    Balance {
        /// The account.
        account: String,
    },
    /// Every balance.
    Accounts,
    /// A proxy's fault plan.
    Faults,
    /// Replace a proxy's fault plan with a file (TOML/JSON, `[faults]` or the whole file).
    SetFaults {
        /// The file.
        file: PathBuf,
    },
    /// Send a raw JSON request.
    Raw {
        /// The request.
        json: String,
    },
}

pub(crate) fn cmd_host_ctl(a: HostCtlArgs) -> Result<()> {
    let req = match a.cmd {
        CtlCmd::Status => json!({"cmd": "status"}),
        CtlCmd::Issuer { state } => {
            let s: IssuerState = serde_json::from_value(json!(state))
                .with_context(|| format!("{state:?}: up, down, unreachable, slow"))?;
            json!({"cmd": "issuer", "state": s})
        }
        CtlCmd::Rules => json!({"cmd": "rules"}),
        CtlCmd::AddRule { rule } => {
            let r: Value = serde_json::from_str(&rule).context("the rule is not JSON")?;
            json!({"cmd": "add-rule", "rule": r})
        }
        CtlCmd::SetRules { file } => {
            // A list of rules, or a config/scenario file's `rules`.
            let rules: Value = read_section(&file, "rules")?;
            json!({"cmd": "set-rules", "rules": rules})
        }
        CtlCmd::ClearRules => json!({"cmd": "set-rules", "rules": []}),
        CtlCmd::Balance { account } => json!({"cmd": "balance", "account": account}),
        CtlCmd::Accounts => json!({"cmd": "accounts"}),
        CtlCmd::Faults => json!({"cmd": "faults"}),
        CtlCmd::SetFaults { file } => {
            let plan: FaultPlan = read_section(&file, "faults")?;
            json!({"cmd": "set-faults", "plan": plan})
        }
        CtlCmd::Raw { json } => serde_json::from_str(&json).context("not JSON")?,
    };
    let rt = runtime()?;
    let reply = rt.block_on(cardwire_net::control::request_with_token(
        a.admin,
        &req,
        a.admin_token.as_ref(),
    ))?;
    crate::emit(&format!("{}\n", serde_json::to_string_pretty(&reply)?));
    if reply.get("ok") != Some(&Value::Bool(true)) {
        bail!(
            "{}",
            reply
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("request failed")
        );
    }
    Ok(())
}

// ----- terminal -----------------------------------------------------------

/// Options of `cardwire terminal`.
#[derive(Args)]
pub(crate) struct TerminalArgs {
    /// The host (or a proxy).
    #[arg(long, default_value = "127.0.0.1:8583")]
    connect: SocketAddr,
    /// Built-in spec name or spec file.
    #[arg(long, default_value = "cups")]
    spec: String,
    /// Terminal id (41) [default: the profile's, else 12345678].
    #[arg(long)]
    terminal_id: Option<String>,
    /// Merchant id (42) [default: the profile's, else 123456789012345].
    #[arg(long)]
    merchant_id: Option<String>,
    #[command(flatten)]
    profile: ProfileArgs,
    /// Card file (TOML `[[cards]]`: label, pan, expiry, track2, pin,
    /// entry).
    #[arg(long)]
    cards: Option<PathBuf>,
    /// State file (STAN, batch, pending reversal, journal). Default: one
    /// file per terminal id and host address in `$XDG_STATE_HOME/cardwire/`
    /// (else `~/.local/state/cardwire/`); the path is printed on stderr.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Response timeout.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    reversal: ReversalArgs,
    /// Length prefix.
    #[arg(long, default_value = "binary2", value_parser = parse_prefix)]
    prefix: cardwire_codec::frame::FramePrefix,
    /// Print every terminal event and the outcome as JSON lines.
    #[arg(long)]
    json: bool,
    /// Print the message templates in use (the spec's defaults, with
    /// --templates or a profile's on top) as a file to start from; no
    /// connection.
    #[arg(long)]
    show_templates: bool,
    #[command(subcommand)]
    action: Option<TermAction>,
}

/// How a terminal (`terminal`, and every terminal of `load`) treats its
/// reversals.
#[derive(Args, Clone, Copy)]
struct ReversalArgs {
    /// Never send a reversal (the non-conforming terminal of the
    /// double-debit case).
    #[arg(long)]
    non_conforming: bool,
    /// After the last reversal attempt: drop the record ("reversal
    /// failed") or keep it and refuse new transactions.
    #[arg(long, default_value = "drop", value_parser = parse_give_up)]
    give_up: GiveUpPolicy,
}

#[derive(Args, Clone)]
struct CardArgs {
    /// A card of --cards by its label, a demo card (alice, bob, lost) or a PAN.
    #[arg(long)]
    card: String,
    /// The PIN the cardholder types (default: the demo card's PIN; none for a PAN).
    #[arg(long)]
    pin: Option<String>,
    /// How the card is read: swipe, chip, contactless, manual [default:
    /// the card file's, else swipe].
    #[arg(long)]
    entry: Option<String>,
}

#[derive(Subcommand)]
enum TermAction {
    /// Sign on (download working keys).
    Signon,
    /// A sale.
    Sale {
        /// Amount, e.g. 12.34, or `any` (1.00: what a test plan's prompt
        /// asks for when the amount does not matter).
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        card: CardArgs,
    },
    /// Void a sale of this batch by its voucher number (STAN).
    Void {
        /// The sale's voucher number, or `last`: the last approved sale of
        /// the batch not yet voided (from the terminal's state).
        #[arg(long, value_parser = parse_voucher)]
        voucher: Voucher,
        /// Supervisor password.
        #[arg(long, default_value = "123456")]
        password: String,
        #[command(flatten)]
        card: CardArgs,
    },
    /// Refund by the original's RRN.
    Refund {
        /// Amount to give back.
        #[arg(long)]
        amount: String,
        /// The original's RRN.
        #[arg(long)]
        rrn: String,
        /// The original's date MMDD.
        #[arg(long)]
        date: Option<String>,
        /// Supervisor password.
        #[arg(long, default_value = "123456")]
        password: String,
        #[command(flatten)]
        card: CardArgs,
    },
    /// Balance inquiry.
    Balance {
        #[command(flatten)]
        card: CardArgs,
    },
    /// Settle the batch.
    Settle,
    /// Send the pending reversal now.
    Reverse,
    /// Show the saved state (pending reversal, journal); no connection.
    Status,
}

fn parse_give_up(s: &str) -> Result<GiveUpPolicy, String> {
    serde_json::from_value(json!(s)).map_err(|_| format!("{s:?}: drop or keep"))
}

fn card_of(c: &CardArgs, file: &[Card]) -> Result<Card> {
    let demo = HostConfig::demo();
    let entry: Option<EntryMode> = c
        .entry
        .as_ref()
        .map(|e| {
            serde_json::from_value(json!(e))
                .with_context(|| format!("{e:?}: swipe, chip, contactless, manual"))
        })
        .transpose()?;
    if let Some(card) = file
        .iter()
        .find(|f| f.id.as_deref() == Some(c.card.as_str()))
    {
        let mut card = card.clone();
        if c.pin.is_some() {
            card.pin = c.pin.clone();
        }
        if let Some(e) = entry {
            card.entry = e;
        }
        return Ok(card);
    }
    let entry = entry.unwrap_or_default();
    if let Some(d) = demo.cards.iter().find(|d| d.id == c.card) {
        return Ok(Card {
            id: Some(d.id.clone()),
            pan: d.pan.clone(),
            expiry: Some(d.expiry.clone()),
            pin: c.pin.clone().or_else(|| Some(d.pin.clone())),
            entry,
            track2: None,
        });
    }
    if c.card.len() < 12 || !c.card.bytes().all(|b| b.is_ascii_digit()) {
        bail!(
            "--card: a label of --cards, a demo card (alice, bob, lost) or a PAN of 12-19 digits"
        );
    }
    Ok(Card {
        id: None,
        pan: c.card.clone(),
        expiry: None,
        pin: c.pin.clone(),
        entry,
        track2: None,
    })
}

/// A card file, checked.
pub(crate) fn read_cards(path: &Path) -> Result<Vec<Card>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    cardwire_engine::cards::parse_cards(&text).with_context(|| format!("{}", path.display()))
}

fn money(s: &str) -> Result<Money> {
    let s = if s == "any" { "1.00" } else { s };
    Money::parse(s).map_err(|e| anyhow::anyhow!("amount {s:?}: {e}"))
}

/// `terminal void --voucher`: a STAN, or the last sale of the batch.
#[derive(Clone, Copy, Debug)]
enum Voucher {
    Last,
    Stan(u32),
}

fn parse_voucher(s: &str) -> Result<Voucher, String> {
    if s == "last" {
        return Ok(Voucher::Last);
    }
    s.parse()
        .map(Voucher::Stan)
        .map_err(|_| format!("{s:?} is neither a voucher number (STAN) nor `last`"))
}

/// The voucher `v` names: `last` is the newest approved sale of the batch
/// in `saved` that no later transaction voided.
fn voucher_of(v: Voucher, saved: Option<&TerminalState>) -> Result<u32> {
    match v {
        Voucher::Stan(n) => Ok(n),
        Voucher::Last => saved
            .and_then(|s| {
                s.journal
                    .iter()
                    .rev()
                    .find(|r| r.kind == TxnKind::Sale.as_str() && !r.voided)
            })
            .map(|r| r.voucher)
            .ok_or_else(|| anyhow::anyhow!("--voucher last: no sale to void in this batch")),
    }
}

/// Returns whether the action was approved.
pub(crate) fn cmd_terminal(a: TerminalArgs) -> Result<bool> {
    let spec = spec_arg(&a.spec)?;
    let mut cfg = a.profile.config()?;
    if a.show_templates {
        crate::client_profile::show_templates(&spec, cfg.templates.as_ref())?;
        return Ok(true);
    }
    let Some(term_action) = &a.action else {
        bail!(
            "what should the terminal do? signon, sale, void, refund, balance, settle, reverse or status (or --show-templates)"
        );
    };
    if let Some(t) = &a.terminal_id {
        cfg.terminal_id = t.clone();
    }
    if let Some(m) = &a.merchant_id {
        cfg.merchant_id = m.clone();
    }
    cfg.timeout = a.timeout;
    cfg.conforming = !a.reversal.non_conforming;
    cfg.give_up = a.reversal.give_up;
    let state_path = match &a.state {
        Some(p) => p.clone(),
        None => {
            let p = default_state_path(&cfg.terminal_id, a.connect)
                .context("no state directory: set XDG_STATE_HOME or HOME, or give --state FILE")?;
            create_state_dir(&p)?;
            // The former default location: point at it rather than start
            // afresh without a word (it may hold a pending reversal).
            let legacy = PathBuf::from(format!("cardwire-terminal-{}.json", cfg.terminal_id));
            if legacy.exists() && !p.exists() {
                eprintln!(
                    "cardwire terminal: note: {} is a state file of an earlier version; pass --state {} to use it",
                    legacy.display(),
                    legacy.display()
                );
            }
            p
        }
    };
    eprintln!("cardwire terminal: state {}", state_path.display());
    let saved = load_state(&state_path)?;
    let cards = match &a.cards {
        Some(p) => read_cards(p)?,
        None => Vec::new(),
    };
    let action = match term_action {
        TermAction::Status => {
            let s = saved.unwrap_or_default();
            crate::emit(&format!("{}\n", serde_json::to_string_pretty(&s)?));
            return Ok(true);
        }
        TermAction::Signon => Action::SignOn,
        TermAction::Sale { amount, card } => Action::Sale {
            card: card_of(card, &cards)?,
            amount: money(amount)?,
        },
        TermAction::Void {
            voucher,
            password,
            card,
        } => Action::Void {
            card: card_of(card, &cards)?,
            voucher: voucher_of(*voucher, saved.as_ref())?,
            password: password.clone(),
        },
        TermAction::Refund {
            amount,
            rrn,
            date,
            password,
            card,
        } => Action::Refund {
            card: card_of(card, &cards)?,
            amount: money(amount)?,
            rrn: rrn.clone(),
            date: date.clone(),
            password: password.clone(),
        },
        TermAction::Balance { card } => Action::Balance {
            card: card_of(card, &cards)?,
        },
        TermAction::Settle => Action::Settle,
        TermAction::Reverse => Action::Reverse,
    };
    let mut term = match saved {
        Some(s) => Terminal::restore(Arc::clone(&spec), cfg, s),
        None => Terminal::new(Arc::clone(&spec), cfg),
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(p) = term.pending_reversal() {
        if !a.json {
            eprintln!(
                "pending reversal of {} STAN {:06} (reason {}) goes first",
                p.kind, p.stan, p.reason
            );
        }
    }
    let dial = Dial::new(
        a.connect,
        FrameCodec::new(a.prefix, cardwire_net::framing::DEFAULT_MAX_FRAME),
        &spec,
    );
    let rt = runtime()?;
    let json_out = a.json;
    let mut save_err: Option<anyhow::Error> = None;
    let outcome: Outcome = rt.block_on(async {
        let mut conn: Option<Connection> = None;
        run_action(&mut term, &mut conn, &dial, action, |p| match p {
            Progress::Event(ev, t) => {
                // Saved after every event: a kill at any point leaves the
                // reversal record on disk.
                if let Err(e) = save_state(&state_path, t.state()) {
                    save_err.get_or_insert(e.into());
                }
                if json_out {
                    if let Ok(s) = serde_json::to_string(ev) {
                        println!("{s}");
                    }
                } else {
                    print_event(ev);
                }
            }
            Progress::Disconnected(why) => {
                if !json_out {
                    eprintln!("link: {why}");
                }
            }
            Progress::Latency(_) => {}
        })
        .await
    })?;
    save_state(&state_path, term.state())?;
    if let Some(e) = save_err {
        return Err(e.context("saving the terminal state"));
    }
    if !json_out {
        print_outcome(&outcome);
    }
    Ok(outcome.approved)
}

fn print_event(ev: &TerminalEvent) {
    match ev {
        TerminalEvent::Sent {
            kind, mti, stan, ..
        } => {
            eprintln!("  -> {mti} {kind:<12} STAN {stan:06}");
        }
        TerminalEvent::Received {
            kind, stan, code, ..
        } => eprintln!("  <- {kind:<17} STAN {stan:06}  code {code}"),
        TerminalEvent::ReversalStored { stan, reason, .. } => {
            eprintln!("     reversal record stored (STAN {stan:06}, reason {reason})");
        }
        TerminalEvent::ReversalReason { stan, reason, .. } => {
            eprintln!("     reversal reason now {reason} (STAN {stan:06})");
        }
        TerminalEvent::ReversalCleared { stan, by, .. } => {
            eprintln!("     reversal record cleared (STAN {stan:06}, {by})");
        }
        TerminalEvent::ReversalGivenUp { stan, dropped, .. } => eprintln!(
            "     reversal of STAN {stan:06} given up{}",
            if *dropped { ", record dropped" } else { "" }
        ),
        TerminalEvent::UnexpectedReply { reason, .. } => eprintln!("     ignored reply: {reason}"),
        TerminalEvent::Display { .. } | TerminalEvent::Completed(_) => {}
        _ => {}
    }
}

fn print_outcome(o: &Outcome) {
    let mut out = String::new();
    w!(out, "screen   {}", o.display);
    w!(
        out,
        "result   {} {}",
        o.kind,
        if o.approved {
            "APPROVED"
        } else if o.timed_out {
            "NO REPLY"
        } else {
            "NOT APPROVED"
        }
    );
    if let Some(c) = &o.code {
        w!(out, "code     {c}");
    }
    if let Some(s) = o.stan {
        w!(out, "voucher  {s:06}");
    }
    if let Some(a) = o.amount {
        w!(
            out,
            "amount   {}",
            Money(i64::try_from(a).unwrap_or(i64::MAX))
        );
    }
    if let Some(r) = &o.rrn {
        w!(out, "RRN      {r}");
    }
    if let Some(a) = &o.auth_code {
        w!(out, "auth     {a}");
    }
    if let Some(b) = o.balance {
        w!(out, "balance  {}", Money(b));
    }
    if let Some(e) = &o.local_error {
        w!(out, "note     {e}");
    }
    crate::emit(&out);
}

// ----- load ---------------------------------------------------------------

/// Options of `cardwire load`.
#[derive(Args)]
pub(crate) struct LoadArgs {
    /// The host.
    #[arg(long, default_value = "127.0.0.1:8583")]
    connect: SocketAddr,
    /// Built-in spec name or spec file.
    #[arg(long, default_value = "cups")]
    spec: String,
    /// Virtual terminals 10000001.. (start the host with at least as many `--terminals`).
    #[arg(long, default_value_t = 100)]
    terminals: u32,
    /// Target actions per second over all terminals (0: as fast as the host answers).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// How long.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Transaction mix.
    #[arg(long, default_value = "sale=90,void=5,balance=5", value_parser = Mix::parse)]
    mix: Mix,
    /// Sale amount.
    #[arg(long, default_value = "1.00")]
    amount: String,
    /// Fault plan (TOML/JSON): an in-process proxy applies it between the terminals and the host.
    #[arg(long)]
    faults: Option<PathBuf>,
    /// The host's admin socket, for the double-debit audit, or `off`
    /// [default: 127.0.0.1:8584 if it answers; a host without one (not
    /// cardwire's) gets a report of what the terminals saw].
    #[arg(long, value_parser = parse_addr_or_off)]
    admin: Option<MaybeAddr>,
    /// The admin socket's token (`host --admin-token`).
    #[arg(long, value_parser = parse_token)]
    admin_token: Option<AdminToken>,
    /// The terminals' response timeout.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    reversal: ReversalArgs,
    #[command(flatten)]
    profile: ProfileArgs,
    /// Card file (TOML `[[cards]]`: label, pan, expiry, track2, pin,
    /// entry).
    #[arg(long)]
    cards: Option<PathBuf>,
    /// Length prefix.
    #[arg(long, default_value = "binary2", value_parser = parse_prefix)]
    prefix: cardwire_codec::frame::FramePrefix,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Worker threads (0: one per core, 1: a single thread).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

pub(crate) fn cmd_load(a: LoadArgs) -> Result<()> {
    let spec = spec_arg(&a.spec)?;
    let profile = a.profile.config()?;
    // A bad key or mode stops here, not in every terminal.
    Terminal::new(Arc::clone(&spec), profile.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let plan: Option<FaultPlan> = match &a.faults {
        Some(p) => Some(read_section(p, "faults")?),
        None => None,
    };
    let codec = FrameCodec::new(a.prefix, cardwire_net::framing::DEFAULT_MAX_FRAME);
    let rt = runtime_with(a.threads)?;
    let admin = match a.admin {
        Some(m) => m.0,
        None => {
            // Not asked for: use the default admin socket only if
            // something answers there.
            let default = SocketAddr::from(([127, 0, 0, 1], 8584));
            let probe = rt.block_on(async {
                tokio::time::timeout(
                    Duration::from_secs(1),
                    cardwire_net::control::request_with_token(
                        default,
                        &json!({"cmd": "status"}),
                        a.admin_token.as_ref(),
                    ),
                )
                .await
            });
            match probe {
                Ok(Ok(_)) => Some(default),
                _ => {
                    if !a.quiet {
                        eprintln!(
                            "cardwire load: no admin socket at {default}: no host-side audit, the report counts what the terminals saw (--admin ADDR for a cardwire host's)"
                        );
                    }
                    None
                }
            }
        }
    };
    let report: LoadReport = rt.block_on(async {
        let proxy = match plan {
            Some(plan) => Some(
                cardwire_net::proxy::start(ProxyOptions {
                    spec: Arc::clone(&spec),
                    listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                    upstream: a.connect.into(),
                    plan,
                    admin: None,
                    admin_token: None,
                    journal: None,
                    journal_rotation: Rotation::default(),
                    decode_mode: DecodeMode::Strict,
                    codec,
                    verbose: false,
                    max_connections: usize::try_from(a.terminals)
                        .unwrap_or(usize::MAX)
                        .saturating_add(16),
                    idle_timeout: Duration::from_secs(300),
                    frame_timeout: Duration::from_secs(10),
                })
                .await?,
            ),
            None => None,
        };
        let opts = LoadOptions {
            spec: Arc::clone(&spec),
            addr: proxy.as_ref().map_or(a.connect, |p| p.addr),
            codec,
            terminals: a.terminals,
            rate: (a.rate > 0.0).then_some(a.rate),
            duration: a.duration,
            mix: a.mix,
            amount: money(&a.amount)?,
            timeout: a.timeout,
            conforming: !a.reversal.non_conforming,
            give_up: a.reversal.give_up,
            admin,
            admin_token: a.admin_token.clone(),
            profile,
            cards: match &a.cards {
                Some(p) => read_cards(p)?,
                None => Vec::new(),
            },
        };
        let counters = Arc::new(LoadCounters::default());
        let bar = (!a.quiet).then(|| progress_bar(a.duration));
        let rate = (a.rate > 0.0).then_some(a.rate);
        let watch = {
            // Say so while it happens when the schedule slips.
            let c = Arc::clone(&counters);
            let bar = bar.clone();
            tokio::spawn(async move {
                let Some(rate) = rate else { return };
                loop {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let late = c.late.load(Ordering::Relaxed);
                    let done = c.done.load(Ordering::Relaxed).max(1);
                    if late * 20 > done && late >= 5 {
                        let text = format!(
                            "cardwire load: WARN the host is not keeping up with {rate:.0}/s: {late} starts late so far"
                        );
                        match &bar {
                            Some(b) => b.println(text),
                            None => eprintln!("{text}"),
                        }
                        return;
                    }
                }
            })
        };
        let ticker = bar.clone().map(|bar| {
            let c = Arc::clone(&counters);
            let start = std::time::Instant::now();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    let el = start.elapsed();
                    let done = c.done.load(Ordering::Relaxed);
                    bar.set_position(el.as_millis().try_into().unwrap_or(u64::MAX));
                    bar.set_message(format!(
                        "{done} txns, {:.0}/s, {} approved, {} no reply",
                        done as f64 / el.as_secs_f64().max(1e-3),
                        c.approved.load(Ordering::Relaxed),
                        c.failed.load(Ordering::Relaxed)
                    ));
                }
            })
        });
        let mut report = cardwire_net::load::run(opts, counters).await;
        if let (Ok(r), Some(p)) = (report.as_mut(), proxy.as_ref()) {
            r.faults_struck = Some(p.faults_struck());
        }
        if let Some(t) = ticker {
            t.abort();
        }
        watch.abort();
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        if let Some(p) = proxy {
            p.shutdown().await;
        }
        anyhow::Ok(report?)
    })?;
    if a.json {
        crate::emit(&format!("{}\n", serde_json::to_string_pretty(&report)?));
    } else {
        crate::emit(&render_report(&report, spec.codes));
    }
    if let Some(e) = &report.audit_error {
        bail!("the audit could not run: {e}");
    }
    Ok(())
}

fn progress_bar(d: Duration) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(d.as_millis().try_into().unwrap_or(u64::MAX));
    if let Ok(style) = indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn render_report(r: &LoadReport, table: cardwire_codec::CodeTable) -> String {
    let mut out = String::new();
    w!(
        out,
        "terminals      {}{}",
        r.terminals,
        r.target_rate
            .map_or_else(String::new, |t| format!("  (target {t:.0} txn/s)"))
    );
    w!(out, "elapsed        {:.2} s", r.elapsed_s);
    w!(
        out,
        "transactions   {}  ({:.0}/s, whatever their outcome)",
        r.actions,
        r.actions_per_s
    );
    w!(
        out,
        "throughput     {:.0}/s  ({} approved or declined)",
        r.decided_per_s,
        r.decided
    );
    if !r.rejected.is_empty() {
        let codes: Vec<String> = r
            .rejected
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        w!(
            out,
            "rejected       {}  (refused before any decision; not in the throughput)",
            codes.join(", ")
        );
    }
    w!(
        out,
        "exchanges      {}  ({:.0}/s, sign-ons and reversals included)",
        r.exchanges,
        r.exchanges_per_s
    );
    if let Some(t) = r.target_rate {
        w!(
            out,
            "rate           {:.1}/s started of {t:.0}/s{}",
            r.started_per_s,
            if r.fell_behind {
                "  WARN: the host (or this machine) did not keep up"
            } else {
                ""
            }
        );
    }
    if r.late_starts > 0 {
        w!(
            out,
            "late starts    {} (the host or this machine fell behind the rate)",
            r.late_starts
        );
    }
    let l = &r.latency;
    w!(
        out,
        "latency ms     p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  mean {:.3}",
        l.p50_ms,
        l.p90_ms,
        l.p99_ms,
        l.p999_ms,
        l.max_ms,
        l.mean_ms
    );
    for (kind, l) in &r.latency_by_kind {
        w!(
            out,
            "  {kind:<12} p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}  ({} replies)",
            l.p50_ms,
            l.p90_ms,
            l.p99_ms,
            l.max_ms,
            l.count
        );
    }
    let codes: Vec<String> = r.codes.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    w!(out, "codes          {}", codes.join(", "));
    let c = &r.client;
    w!(
        out,
        "outcomes       {} approved, {} declined, {} no reply",
        c.approved,
        c.declined,
        c.no_reply
    );
    w!(
        out,
        "unknown        {} sales/voids the terminals could not learn the outcome of; {} never reversed{}",
        c.unknown_outcomes,
        c.unreversed,
        if c.unreversed > 0 {
            " (possible double debits)"
        } else {
            ""
        }
    );
    let unknown = Reason::UnknownTerminal.code(table);
    if r.codes.contains_key(unknown) {
        w!(
            out,
            "note           {unknown} = terminal not registered: start the host with --terminals {} (or more)",
            r.terminals
        );
    }
    if let Some(f) = r.faults_struck {
        w!(out, "faults struck  {f}");
    }
    w!(
        out,
        "reversals      {} sent, {} acknowledged, {} still pending",
        r.reversals_sent,
        r.reversals_cleared,
        r.reversals_pending
    );
    match &r.audit {
        Some(a) => {
            w!(
                out,
                "audit          host holds {} debits, terminals saw {} approved sales",
                a.host_debits,
                a.terminal_approvals
            );
            w!(out, "double debits  {}", a.double_debits);
            w!(out, "lost approvals {}", a.lost_approvals);
        }
        None => match &r.audit_error {
            Some(e) => w!(out, "audit          could not run: {e}"),
            None => w!(
                out,
                "audit          none: no admin socket, so no host-side audit; the counts above are what the terminals saw"
            ),
        },
    }
    out
}

// ----- proxy --------------------------------------------------------------

/// Options of `cardwire proxy`.
#[derive(Args)]
pub(crate) struct ProxyArgs {
    /// Where terminals connect.
    #[arg(long, default_value = "127.0.0.1:8585")]
    listen: SocketAddr,
    /// The host.
    #[arg(long, default_value = "127.0.0.1:8583")]
    upstream: SocketAddr,
    /// Built-in spec name or spec file.
    #[arg(long, default_value = "cups")]
    spec: String,
    /// Fault plan (TOML/JSON; `[faults]` of a scenario file works too).
    #[arg(long)]
    faults: Option<PathBuf>,
    /// Admin socket (`host-ctl --admin ADDR faults|set-faults|status`), or off.
    #[arg(long, default_value = "off", value_parser = parse_addr_or_off)]
    admin: MaybeAddr,
    /// Secret every admin request must carry (`host-ctl --admin-token`);
    /// required to bind the admin socket to anything but loopback.
    #[arg(long, value_parser = parse_token)]
    admin_token: Option<AdminToken>,
    /// Message journal (JSON lines); `in` is terminal to host.
    #[arg(long)]
    journal: Option<PathBuf>,
    #[command(flatten)]
    journal_rotation: JournalRotationArgs,
    /// Decode requests leniently: read past deviations that leave a frame
    /// readable (lowercase hex, an overlong field, bytes after the last
    /// field ...), decide the request as read, journal each warning.
    #[arg(long)]
    lenient: bool,
    /// Length prefix.
    #[arg(long, default_value = "binary2", value_parser = parse_prefix)]
    prefix: cardwire_codec::frame::FramePrefix,
    /// Log faults and connections on stderr.
    #[arg(long, short)]
    verbose: bool,
    #[command(flatten)]
    limits: ConnectionLimits,
}

pub(crate) fn cmd_proxy(a: ProxyArgs) -> Result<()> {
    let spec = spec_arg(&a.spec)?;
    let plan: FaultPlan = match &a.faults {
        Some(p) => read_section(p, "faults")?,
        None => FaultPlan::default(),
    };
    let rt = runtime()?;
    rt.block_on(async move {
        let nrules = plan.rules.len();
        let p = cardwire_net::proxy::start(ProxyOptions {
            spec,
            listen: a.listen,
            upstream: a.upstream.into(),
            plan,
            admin: a.admin.0,
            admin_token: a.admin_token,
            journal: a.journal,
            journal_rotation: a.journal_rotation.rotation(),
            decode_mode: decode_mode(a.lenient),
            codec: FrameCodec::new(a.prefix, a.limits.max_frame),
            verbose: a.verbose,
            max_connections: a.limits.max_connections,
            idle_timeout: a.limits.idle_timeout,
            frame_timeout: a.limits.frame_timeout,
        })
        .await?;
        let mut stop = StopSignal::new()?;
        eprintln!(
            "cardwire proxy: {} -> {} with {nrules} fault rule(s), admin {}; Ctrl-C stops",
            p.addr,
            a.upstream,
            p.admin_addr.map_or_else(|| "off".into(), |a| a.to_string())
        );
        let name = stop.recv().await?;
        eprintln!("cardwire proxy: {name}: stopping");
        p.shutdown().await;
        anyhow::Ok(())
    })
}

// ----- journal ------------------------------------------------------------

/// Options of `cardwire journal`.
#[derive(Args)]
pub(crate) struct JournalArgs {
    /// A message journal (JSON lines) written by `host` or `proxy`.
    #[arg(long, conflicts_with = "db")]
    file: Option<PathBuf>,
    /// A SQLite ledger written by `host`: its decided transactions.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Only this terminal.
    #[arg(long)]
    terminal: Option<String>,
    /// Only this STAN.
    #[arg(long)]
    stan: Option<u32>,
    /// Only this response code.
    #[arg(long)]
    code: Option<String>,
    /// Only this transaction (sale, void, reversal ...).
    #[arg(long)]
    kind: Option<String>,
    /// Only this connection (journal file).
    #[arg(long)]
    conn: Option<u64>,
    /// Only the last N.
    #[arg(long)]
    last: Option<usize>,
    /// JSON lines out.
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_journal(a: JournalArgs) -> Result<()> {
    let filter = Filter {
        terminal: a.terminal,
        stan: a.stan,
        code: a.code,
        kind: a.kind,
        conn: a.conn,
        last: a.last,
    };
    let rows = match &a.db {
        Some(db) => cardwire_net::journal::query_db(db, &filter)?,
        None => {
            let f = a
                .file
                .clone()
                .unwrap_or_else(|| PathBuf::from("cardwire-journal.jsonl"));
            cardwire_net::journal::query_file(&f, &filter)?
        }
    };
    let mut out = String::new();
    for r in &rows {
        if a.json {
            w!(out, "{r}");
        } else if a.db.is_some() {
            w!(out, "{}", entry_line(r));
        } else {
            w!(out, "{}", message_line(r));
        }
    }
    crate::emit(&out);
    Ok(())
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn message_line(v: &Value) -> String {
    if let Some(ev) = v.get("event").and_then(Value::as_str) {
        let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        let money = |k: &str| {
            let m = v.get(k).and_then(Value::as_i64).unwrap_or(0);
            Money(m).to_string()
        };
        let detail = match ev {
            "journal" => format!(
                "booked #{} {} {} STAN {:06} {} code {}{}",
                n("seq"),
                s(v, "kind"),
                s(v, "terminal"),
                n("stan"),
                money("amount"),
                s(v, "code"),
                if v.get("postings")
                    .and_then(Value::as_array)
                    .is_some_and(|p| !p.is_empty())
                {
                    ", money moved"
                } else {
                    ""
                }
            ),
            "notification" => format!("sms {}", s(v, "text")),
            "settled" => format!(
                "settlement {} batch {} {}",
                s(v, "terminal"),
                n("batch"),
                if v.get("balanced") == Some(&Value::Bool(true)) {
                    "balanced"
                } else {
                    "unbalanced"
                }
            ),
            "dropped" => format!(
                "dropped by a rule: {} STAN {:06}",
                s(v, "terminal"),
                n("stan")
            ),
            "fault" => format!(
                "{} on {} STAN {:06}",
                s(v, "fault"),
                s(v, "kind"),
                n("stan")
            ),
            _ => v
                .get("reason")
                .or_else(|| v.get("peer"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        };
        return format!(
            "{}  conn {:<4} {ev} {detail}",
            s(v, "time"),
            v.get("conn").and_then(Value::as_u64).unwrap_or(0)
        );
    }
    let stan = v
        .get("stan")
        .and_then(Value::as_u64)
        .map_or_else(|| "      ".into(), |n| format!("{n:06}"));
    let mut line = format!(
        "{}  conn {:<4} {:<3} {} {:<12} {:<8} {stan}",
        s(v, "time"),
        v.get("conn").and_then(Value::as_u64).unwrap_or(0),
        s(v, "dir"),
        s(v, "mti"),
        s(v, "kind"),
        s(v, "terminal"),
    );
    if let Some(c) = v.get("code").and_then(Value::as_str) {
        line.push_str(&format!("  {c} {}", s(v, "meaning")));
    }
    if let Some(l) = v.get("latency_ms").and_then(Value::as_f64) {
        line.push_str(&format!("  {l:.2} ms"));
    }
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        line.push_str(&format!("  undecodable: {e}"));
    }
    line
}

fn entry_line(v: &Value) -> String {
    let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    let amount = Money(i64::try_from(n("amount")).unwrap_or(i64::MAX));
    format!(
        "#{:<6} {}  {:<10} {:<8} STAN {:06}  {:>12}  {}  RRN {}  auth {}  card {} {}",
        n("seq"),
        cardwire_engine::Timestamp(n("at")),
        s(v, "kind"),
        s(v, "terminal"),
        n("stan"),
        amount.to_string(),
        s(v, "code"),
        s(v, "rrn"),
        v.get("auth_code").and_then(Value::as_str).unwrap_or("-"),
        v.get("card").and_then(Value::as_str).unwrap_or("-"),
        v.get("pan_masked").and_then(Value::as_str).unwrap_or(""),
    )
}
