//! `cardwire`: decode, encode and explain ISO 8583 messages.

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use cardwire_codec::spec::{Length, Sensitivity, Subfields};
use cardwire_codec::{
    CodeTable, Field, MessageRef, Spec, decode, encode_to_vec, json, mask, spec_file, specs, tlv,
};
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
}

#[derive(Subcommand)]
enum Cmd {
    /// Decode a frame: hex (any spacing, 0x, colons, Wireshark dump), raw file or a shipped sample.
    Decode(DecodeArgs),
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
}

#[derive(Args)]
struct DecodeArgs {
    /// Built-in spec name or spec file (TOML/JSON); by default each built-in is tried.
    #[arg(long)]
    spec: Option<String>,
    /// Print the JSON form.
    #[arg(long)]
    json: bool,
    /// Show card data, PIN blocks, keys and MACs in clear.
    #[arg(long)]
    unmask: bool,
    /// Read raw bytes from this file.
    #[arg(long, conflicts_with_all = ["hex", "sample"])]
    file: Option<std::path::PathBuf>,
    /// Decode a shipped sample (see `cardwire samples`).
    #[arg(long, conflicts_with = "hex")]
    sample: Option<String>,
    /// Hex text, or `-` (the default) for stdin.
    hex: Option<String>,
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

/// The frame, and whether an outer 2-byte length prefix was removed.
fn candidates(bytes: &[u8]) -> Vec<(&[u8], Option<&'static str>)> {
    let mut out = vec![(bytes, None)];
    if bytes.len() >= 2 && usize::from(u16::from_be_bytes([bytes[0], bytes[1]])) == bytes.len() - 2
    {
        out.push((&bytes[2..], Some("2-byte binary length prefix")));
    }
    if bytes.len() >= 4
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && std::str::from_utf8(&bytes[..4])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
            == Some(bytes.len() - 4)
    {
        out.push((&bytes[4..], Some("4-digit ASCII length prefix")));
    }
    out
}

fn field_label(spec: &Spec, n: u8) -> String {
    cardwire_codec::FieldNo::new(u16::from(n))
        .and_then(|no| spec.field(no))
        .map_or_else(
            || format!("field {n}"),
            |f| format!("field {n} ({})", f.name),
        )
}

fn cmd_decode(a: DecodeArgs) -> Result<()> {
    let (bytes, sample_spec) = if let Some(path) = &a.file {
        (
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            None,
        )
    } else if let Some(name) = &a.sample {
        let (spec, _, hex) = samples::sample(name)
            .with_context(|| format!("no sample {name:?}; `cardwire samples` lists them"))?;
        (input::parse_hex(hex)?, Some(spec))
    } else {
        let text = match a.hex.as_deref() {
            None | Some("-") => read_stdin()?,
            Some(h) => h.to_string(),
        };
        (input::parse_hex(&text)?, None)
    };
    let specs_to_try: Vec<Arc<Spec>> = match (a.spec.as_deref(), sample_spec) {
        (Some(s), _) | (None, Some(s)) => vec![load_spec(s)?],
        (None, None) => ["cups", "iso87binary", "iso87ascii", "iso93ascii"]
            .iter()
            .filter_map(|n| specs::builtin(n).cloned())
            .collect(),
    };
    let mut errors = Vec::new();
    for spec in &specs_to_try {
        for (frame, stripped) in candidates(&bytes) {
            match decode(spec, frame) {
                Ok(msg) => {
                    let mut out = String::new();
                    if a.json {
                        w!(
                            out,
                            "{}",
                            serde_json::to_string_pretty(&json::to_json(&msg, a.unmask))?
                        );
                    } else {
                        if let Some(s) = stripped {
                            w!(out, "(removed a {s})");
                        }
                        print_human(&mut out, &msg, a.unmask);
                    }
                    emit(&out);
                    return Ok(());
                }
                Err(e) => {
                    let where_ = e.field.map(|f| field_label(spec, f.get()));
                    let text = match where_ {
                        Some(w) => format!("{w} at byte {}: {}", e.offset, e.kind),
                        None => format!("at byte {}: {}", e.offset, e.kind),
                    };
                    let note =
                        stripped.map_or(String::new(), |s| format!(" (after removing a {s})"));
                    errors.push(format!("{}{note}: {text}", spec.name));
                }
            }
        }
    }
    bail!(
        "cannot decode the frame ({} bytes):\n  {}",
        bytes.len(),
        errors.join("\n  ")
    )
}

fn describe_mti(msg: &MessageRef<'_>) -> String {
    let m = msg.mti();
    format!(
        "{:?} {:?}, {:?} from {:?}",
        m.version(),
        m.class(),
        m.function(),
        m.origin()
    )
}

fn shown(f: &Field<'_>, unmask: bool) -> String {
    if unmask || f.spec.sensitivity == Sensitivity::Public {
        f.value.to_string()
    } else {
        mask::masked(f)
    }
}

fn print_tlv(out: &mut String, data: &[u8], depth: usize, unmask: bool) {
    for t in tlv::walk(data) {
        let pad = "      ".to_string() + &"  ".repeat(depth);
        match t {
            Ok(t) => {
                let name = t.name().unwrap_or("");
                if t.is_constructed() {
                    w!(out, "{pad}{:X} {name} ({} bytes)", t.tag, t.value.len());
                    print_tlv(out, t.value, depth + 1, unmask);
                } else {
                    let v = if t.is_sensitive() && !unmask {
                        "*".repeat(t.value.len() * 2)
                    } else {
                        hex::encode_upper(t.value)
                    };
                    w!(out, "{pad}{:X} {name} ({}): {v}", t.tag, t.value.len());
                }
            }
            Err(e) => w!(out, "{pad}! {e}"),
        }
    }
}

fn print_human(out: &mut String, msg: &MessageRef<'_>, unmask: bool) {
    let spec = msg.spec();
    w!(out, "spec    {}", spec.name);
    if let Some(t) = msg.tpdu() {
        w!(
            out,
            "TPDU    {}  (id {:02X}, destination {}, source {})",
            hex::encode_upper(t),
            t[0],
            hex::encode_upper(&t[1..3]),
            hex::encode_upper(&t[3..5])
        );
    }
    if let Some(h) = msg.header() {
        if spec.header.text {
            w!(out, "header  {}", String::from_utf8_lossy(h));
        } else {
            w!(out, "header  {}", hex::encode_upper(h));
        }
    }
    w!(
        out,
        "MTI     {}  ({}; {})",
        msg.mti(),
        describe_mti(msg),
        msg.transaction().as_str()
    );
    let bitmap: Vec<String> = msg.bitmap().iter().map(|n| n.to_string()).collect();
    w!(out, "bitmap  {}", bitmap.join(" "));
    for f in msg.fields() {
        let len = match f.spec.length {
            Length::Fixed(_) => format!("{:>4}", f.value.len()),
            Length::Variable { digits, .. } => {
                format!("{}{:>4}", "L".repeat(digits as usize), f.value.len())
            }
        };
        let mut line = format!(
            "{:>4}  {:<44} {:>8}  {}",
            f.no.get(),
            truncate(&f.spec.name, 44),
            len,
            shown(&f, unmask)
        );
        if f.no.get() == 39 {
            let info = spec.codes.lookup(&f.value.to_string());
            line.push_str(&format!(
                "  {} | {} [{}]",
                info.meaning,
                info.display,
                info.category.as_str()
            ));
        }
        if f.no.get() == 4 {
            if let Some(a) = msg.amount() {
                line.push_str(&format!("  ({a})"));
            }
        }
        w!(out, "{line}");
        match &f.spec.subfields {
            Subfields::Tlv => {
                if let Some(data) = f.value.as_binary() {
                    print_tlv(out, data, 0, unmask);
                } else if f.value.is_binary() {
                    print_tlv(out, &f.value.to_vec(), 0, unmask);
                }
            }
            Subfields::Positional(_) if unmask || !f.is_sensitive() => {
                for (p, v) in f.subfields() {
                    w!(out, "      {:<6} {:<38} {v}", p.id, p.name);
                }
            }
            _ => {}
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
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
    let result = match cli.cmd {
        Cmd::Decode(a) => cmd_decode(a),
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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
