//! `cardwire`: decode, encode and explain ISO 8583 messages.

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use cardwire_codec::{CodeTable, Spec, encode_to_vec, json, spec_file, specs};
use clap::{Args, Parser, Subcommand};

/// `writeln!` into a `String`, which cannot fail.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}

/// Writes to stdout; a closed pipe (`| head`) ends output quietly.
fn emit(s: &str) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes()).and_then(|()| o.flush());
}

mod certify_cmd;
mod client_profile;
mod decode_cmd;
mod input;
mod net_cmd;
mod samples;
mod scenario_cmd;
mod security_cmd;

#[derive(Parser)]
#[command(
    name = "cardwire",
    version,
    about = "ISO 8583 toolkit: decode, encode and explain card-payment messages"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// Log lines on stderr as text or as JSON objects (for log shippers);
    /// `RUST_LOG` filters them (default `info`, e.g. `RUST_LOG=warn`).
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
}

/// How log lines are written.
#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// `2026-12-06T09:00:00.123456Z  WARN conn{id=3 peer=..}: message`
    Text,
    /// One JSON object per line: time, level, message, spans.
    Json,
}

/// Installs the log subscriber: stderr, filtered by `RUST_LOG` (`info`
/// when unset or unreadable).
fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => fmt.try_init(),
        LogFormat::Json => fmt.json().try_init(),
    };
}

#[derive(Subcommand)]
enum Cmd {
    /// Decode a frame: hex (any spacing, 0x, colons, Wireshark dump), raw file or a shipped sample.
    Decode(decode_cmd::DecodeArgs),
    /// Encode the JSON form of a message (as `decode --json --unmask` prints it) read from stdin.
    Encode(EncodeArgs),
    /// List the built-in specs, or print one as a spec file to start your own dialect from.
    Specs {
        /// Print this spec as a complete TOML spec file.
        #[arg(long, value_name = "NAME")]
        dump: Option<String>,
    },
    /// Explain response codes of a dialect.
    Codes {
        /// Spec name or file (its response-code table is used).
        #[arg(long, default_value = "cups")]
        spec: String,
        /// One code to explain; all when omitted.
        code: Option<String>,
    },
    /// List the sample frames shipped with cardwire.
    Samples,
    /// Compute (or with --verify check) the MAC of a frame: field 64 over MTI..field 63.
    Mac(security_cmd::MacArgs),
    /// Build an ISO 9564 PIN block (and encrypt it), or decrypt one with --decrypt.
    Pinblock(security_cmd::PinblockArgs),
    /// Unwrap the working keys of a sign-on reply's field 62 under the TMK and check them.
    Keys(security_cmd::KeysArgs),
    /// Run field scenarios (contact bank, PIN error, void, lost response, double debit ...) on the simulator.
    Scenario(scenario_cmd::ScenarioArgs),
    /// Run the acquirer/issuer host on TCP (many terminals, SQLite ledger, journal, admin socket).
    Host(net_cmd::HostArgs),
    /// Change a running host's rules and issuer state, or a proxy's faults (admin socket).
    HostCtl(net_cmd::HostCtlArgs),
    /// A POS terminal on a real connection: sale, void, refund, balance, signon, settle, reverse.
    Terminal(net_cmd::TerminalArgs),
    /// Many terminals against a host at a target rate: throughput, latency, double-debit audit.
    Load(net_cmd::LoadArgs),
    /// Forward terminal <-> host, journal the messages, inject faults from a plan.
    Proxy(net_cmd::ProxyArgs),
    /// Query a message journal (--file) or a host's SQLite ledger (--db).
    Journal(net_cmd::JournalArgs),
    /// A host that grades the terminal that connects against a test plan: PASS, FAIL, NOT RUN.
    Certify(certify_cmd::CertifyArgs),
}

#[derive(Args)]
struct EncodeArgs {
    /// Built-in spec name or spec file; defaults to the JSON's "spec".
    #[arg(long)]
    spec: Option<String>,
    /// Prepend the 2-byte binary length prefix (UnionPay POS framing).
    #[arg(long)]
    length_prefix: bool,
}

fn load_spec(name: &str) -> Result<Arc<Spec>> {
    if let Some(s) = specs::builtin(name) {
        return Ok(s.clone());
    }
    let path = std::path::Path::new(name);
    if !path.exists() {
        bail!(
            "no built-in spec {name:?} and no such file (built-in: {})",
            specs::NAMES.join(", ")
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading spec file {name}"))?;
    Ok(Arc::new(
        spec_file::load_spec(&text).with_context(|| format!("spec file {name}"))?,
    ))
}

fn read_stdin() -> Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("reading stdin")?;
    Ok(s)
}

fn field_label(spec: &Spec, n: u8) -> String {
    cardwire_codec::FieldNo::new(u16::from(n))
        .and_then(|no| spec.field(no))
        .map_or_else(
            || format!("field {n}"),
            |f| format!("field {n} ({})", f.name),
        )
}

fn cmd_encode(a: EncodeArgs) -> Result<()> {
    let text = read_stdin()?;
    let v: serde_json::Value = serde_json::from_str(&text).context("stdin is not JSON")?;
    let name = match (&a.spec, v.get("spec").and_then(|s| s.as_str())) {
        (Some(s), _) => s.clone(),
        (None, Some(s)) => s.to_string(),
        (None, None) => bail!("no --spec given and the JSON has no \"spec\""),
    };
    let spec = load_spec(&name)?;
    let msg = json::from_json(&spec, &v)?;
    let wire = encode_to_vec(&spec, &msg).map_err(|e| {
        let label = e.field.map_or_else(String::new, |f| {
            format!("{}: ", field_label(&spec, f.get()))
        });
        anyhow::anyhow!("{label}{}", e.kind)
    })?;
    let mut out = String::new();
    if a.length_prefix {
        let len = u16::try_from(wire.len()).context("frame longer than 65535 bytes")?;
        out.push_str(&hex::encode_upper(len.to_be_bytes()));
    }
    w!(out, "{}", hex::encode_upper(&wire));
    emit(&out);
    Ok(())
}

fn cmd_specs(dump: Option<String>) -> Result<()> {
    if let Some(name) = dump {
        let spec = load_spec(&name)?;
        emit(&spec_file::to_toml(&spec)?);
        return Ok(());
    }
    let mut out = String::new();
    for name in specs::NAMES {
        if let Some(s) = specs::builtin(name) {
            w!(
                out,
                "{:<12} {} ({} fields)",
                name,
                s.description,
                s.fields().count()
            );
        }
    }
    emit(&out);
    Ok(())
}

fn print_unknown(c: &str, table: CodeTable) {
    emit(&format!(
        "{c}: not in the {} table; terminals show the generic text:\n",
        table.as_str()
    ));
}

fn cmd_codes(spec: &str, code: Option<String>) -> Result<()> {
    let table: CodeTable = match CodeTable::parse(spec) {
        Some(t) => t,
        None => load_spec(spec)?.codes,
    };
    let mut out = String::new();
    let mut print = |c: cardwire_codec::CodeInfo| {
        w!(
            out,
            "{:<4} {:<14} {:<45} {}",
            c.code,
            c.category.as_str(),
            c.meaning,
            c.display
        );
    };
    match code {
        Some(c) => {
            let info = table.lookup(&c);
            if !info.known {
                print_unknown(&c, table);
            }
            print(info);
        }
        None => table.all().for_each(print),
    }
    emit(&out);
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result = match cli.cmd {
        Cmd::Decode(a) => decode_cmd::cmd_decode(a),
        Cmd::Encode(a) => cmd_encode(a),
        Cmd::Specs { dump } => cmd_specs(dump),
        Cmd::Codes { spec, code } => cmd_codes(&spec, code),
        Cmd::Samples => {
            let mut out = String::new();
            for (name, spec, desc, _) in samples::SAMPLES {
                w!(out, "{name:<20} {spec:<11} {desc}");
            }
            emit(&out);
            Ok(())
        }
        Cmd::Mac(a) => match security_cmd::cmd_mac(a) {
            Ok(false) => return ExitCode::from(1),
            r => r.map(|_| ()),
        },
        Cmd::Pinblock(a) => security_cmd::cmd_pinblock(a),
        Cmd::Keys(a) => security_cmd::cmd_keys(a),
        Cmd::Scenario(a) => match scenario_cmd::cmd_scenario(a) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
        Cmd::Host(a) => net_cmd::cmd_host(a),
        Cmd::HostCtl(a) => net_cmd::cmd_host_ctl(a),
        Cmd::Terminal(a) => match net_cmd::cmd_terminal(a) {
            Ok(false) => return ExitCode::from(1),
            r => r.map(|_| ()),
        },
        Cmd::Load(a) => net_cmd::cmd_load(a),
        Cmd::Proxy(a) => net_cmd::cmd_proxy(a),
        Cmd::Journal(a) => net_cmd::cmd_journal(a),
        Cmd::Certify(a) => match certify_cmd::cmd_certify(a) {
            Ok(false) => return ExitCode::from(1),
            r => r.map(|_| ()),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
