//! `cardwire decode`: a frame in, its fields out, strictly or leniently,
//! with the spec found by trying the built-ins when none is given.

use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use cardwire_codec::spec::{Length, Sensitivity, Subfields};
use cardwire_codec::{
    DecodeMode, Decoded, Field, MessageRef, Spec, decode_with, json, mask, specs, tlv,
};
use clap::Args;
use serde_json::json;

use crate::{emit, field_label, input, load_spec, read_stdin, samples};

#[derive(Args)]
pub(crate) struct DecodeArgs {
    /// Built-in spec name or spec file (TOML/JSON); by default each built-in is tried,
    /// strictly, then leniently.
    #[arg(long)]
    spec: Option<String>,
    /// Read past what bends the spec (lowercase hex, over-long fields, bytes outside a
    /// field's characters, other BCD pads, an empty secondary bitmap, trailing bytes),
    /// each shown as a warning.
    #[arg(long)]
    lenient: bool,
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

/// The frame, and whether an outer length prefix was removed.
pub(crate) fn candidates(bytes: &[u8]) -> Vec<(&[u8], Option<&'static str>)> {
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

/// One decode of the frame (or of it without a length prefix) with one
/// spec in one mode.
struct Attempt<'a> {
    spec: &'a Spec,
    stripped: Option<&'static str>,
    mode: DecodeMode,
    decoded: Decoded<'a>,
}

impl Attempt<'_> {
    fn ok(&self) -> bool {
        self.decoded.error.is_none() && self.decoded.message.is_some()
    }

    /// How far a failed decode got: fields read, then the error's offset.
    fn progress(&self) -> (usize, usize) {
        let fields = self
            .decoded
            .message
            .as_ref()
            .map_or(0, |m| m.fields().count());
        let at = self.decoded.error.as_ref().map_or(0, |e| e.offset);
        (fields, at)
    }

    fn mode_name(&self) -> &'static str {
        match self.mode {
            DecodeMode::Lenient => "lenient",
            _ => "strict",
        }
    }
}

pub(crate) fn cmd_decode(a: DecodeArgs) -> Result<()> {
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
    let given = a.spec.as_deref().or(sample_spec);
    let specs_to_try: Vec<Arc<Spec>> = match given {
        Some(s) => vec![load_spec(s)?],
        None => ["cups", "iso87binary", "iso87ascii", "iso93ascii"]
            .iter()
            .filter_map(|n| specs::builtin(n).cloned())
            .collect(),
    };
    // A named spec is read in the mode asked for; without one, every
    // built-in strictly, then every built-in leniently.
    let modes: &[DecodeMode] = match (given.is_some(), a.lenient) {
        (true, false) => &[DecodeMode::Strict],
        (true, true) => &[DecodeMode::Lenient],
        (false, _) => &[DecodeMode::Strict, DecodeMode::Lenient],
    };
    let mut attempts = Vec::new();
    for &mode in modes {
        for spec in &specs_to_try {
            for (frame, stripped) in candidates(&bytes) {
                attempts.push(Attempt {
                    spec,
                    stripped,
                    mode,
                    decoded: decode_with(spec, frame, mode),
                });
            }
        }
    }
    let strict_ok = attempts
        .iter()
        .position(|t| t.ok() && t.mode == DecodeMode::Strict);
    let lenient_best = attempts
        .iter()
        .enumerate()
        .filter(|(_, t)| t.ok() && t.mode == DecodeMode::Lenient)
        .min_by_key(|(_, t)| t.decoded.warnings.len())
        .map(|(i, _)| i);
    let (chosen, why) = match (strict_ok, lenient_best) {
        (Some(i), _) => {
            let why = if given.is_some() {
                "decodes strictly".to_string()
            } else {
                "the first built-in that decodes the frame strictly".to_string()
            };
            (i, why)
        }
        (None, Some(i)) => {
            let n = attempts[i].decoded.warnings.len();
            let why = if given.is_some() {
                format!("decodes leniently with {n} warning(s)")
            } else {
                format!(
                    "no built-in decodes the frame strictly; this one decodes it leniently with the fewest warnings ({n})"
                )
            };
            (i, why)
        }
        (None, None) => {
            // Nothing decodes: show how far the one that got furthest got.
            let best = attempts
                .iter()
                .enumerate()
                .filter(|(_, t)| t.decoded.message.is_some())
                .max_by_key(|(_, t)| t.progress())
                .map_or(0, |(i, _)| i);
            let why = if given.is_some() {
                "does not decode; the fields before the error are shown"
            } else {
                "no built-in decodes the frame; this one got furthest before its error"
            };
            (best, why.to_string())
        }
    };
    let Some(attempt) = attempts.get(chosen) else {
        return Err(anyhow!("cannot decode an empty frame"));
    };
    let mut out = String::new();
    if a.json {
        let mut j = match &attempt.decoded.message {
            Some(m) => json::to_json(m, a.unmask),
            None => json!({ "spec": attempt.spec.name, "fields": {} }),
        };
        if let Some(obj) = j.as_object_mut() {
            obj.insert("mode".into(), attempt.mode_name().into());
            if given.is_none() {
                obj.insert("why".into(), why.clone().into());
            }
            if let Some(s) = attempt.stripped {
                obj.insert("removed".into(), s.into());
            }
            if !attempt.decoded.warnings.is_empty() {
                let list: Vec<_> = attempt
                    .decoded
                    .warnings
                    .iter()
                    .map(|w| located_json(attempt.spec, w.field, w.offset, &w.kind))
                    .collect();
                obj.insert("warnings".into(), list.into());
            }
            if let Some(e) = &attempt.decoded.error {
                obj.insert(
                    "error".into(),
                    located_json(attempt.spec, e.field, e.offset, &e.kind),
                );
            }
        }
        w!(out, "{}", serde_json::to_string_pretty(&j)?);
    } else {
        if let Some(s) = attempt.stripped {
            w!(out, "(removed a {s})");
        }
        w!(
            out,
            "spec    {}  ({}: {why})",
            attempt.spec.name,
            attempt.mode_name()
        );
        if let Some(m) = &attempt.decoded.message {
            print_human(&mut out, m, a.unmask);
        }
        for warning in &attempt.decoded.warnings {
            w!(
                out,
                "warning: {}",
                located(attempt.spec, warning.field, warning.offset, &warning.kind)
            );
        }
    }
    emit(&out);
    match &attempt.decoded.error {
        None => Ok(()),
        Some(e) => {
            let mut text = format!(
                "{} ({}): {}",
                attempt.spec.name,
                attempt.mode_name(),
                located(attempt.spec, e.field, e.offset, &e.kind)
            );
            if attempt.decoded.message.is_none() || given.is_none() {
                let others: Vec<String> = attempts
                    .iter()
                    .filter(|t| !std::ptr::eq(*t, attempt))
                    .filter_map(|t| {
                        let e = t.decoded.error.as_ref()?;
                        let note = t
                            .stripped
                            .map_or(String::new(), |s| format!(" (after removing a {s})"));
                        Some(format!(
                            "{} ({}){note}: {}",
                            t.spec.name,
                            t.mode_name(),
                            located(t.spec, e.field, e.offset, &e.kind)
                        ))
                    })
                    .collect();
                if !others.is_empty() {
                    text.push_str("\n  ");
                    text.push_str(&others.join("\n  "));
                }
            }
            Err(anyhow!(
                "cannot decode the frame ({} bytes): {text}",
                bytes.len()
            ))
        }
    }
}

/// "field 2 (Primary account number) at byte 20: reason".
fn located(
    spec: &Spec,
    field: Option<cardwire_codec::FieldNo>,
    offset: usize,
    why: &dyn std::fmt::Display,
) -> String {
    match field {
        Some(f) => format!("{} at byte {offset}: {why}", field_label(spec, f.get())),
        None => format!("at byte {offset}: {why}"),
    }
}

/// An error or a warning as JSON: where, why, and the sentence.
fn located_json(
    spec: &Spec,
    field: Option<cardwire_codec::FieldNo>,
    offset: usize,
    why: &dyn std::fmt::Display,
) -> serde_json::Value {
    json!({
        "field": field.map(|f| f.get()),
        "offset": offset,
        "reason": why.to_string(),
        "message": located(spec, field, offset, why),
    })
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

/// A field's value as shown: masked when sensitive; text in the field's
/// character set when it reads as text; hex when a text field holds
/// bytes that are not text.
fn shown(f: &Field<'_>, unmask: bool) -> String {
    if !unmask && f.spec.sensitivity != Sensitivity::Public {
        return mask::masked(f);
    }
    if f.value.is_binary() {
        return f.value.to_string();
    }
    match f.text() {
        Some(text) => text,
        None => format!("hex {}", hex::encode_upper(f.value.to_vec())),
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

//----
fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}
