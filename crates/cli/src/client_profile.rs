//! How `cardwire terminal` and `cardwire load` talk to a host that is not
//! cardwire's: a profile file (`--profile`) and the flags that override
//! it (keys, sign-on, MAC algorithm, TMK).
//!
//! A profile is TOML (or JSON) with a `[terminal]` table in the form of
//! the engine's `TerminalConfig`:
//!
//! ```toml
//! [terminal]
//! terminal_id = "TERM0001"
//! merchant_id = "MERCHANT0000001"
//! keys = "static"            # cups | static | none
//! signon = "keys"            # none | echo | keys
//! mac = "x9.19"              # ecb | x9.9 | x9.19
//!
//! [terminal.static_keys]
//! mak = "0123456789ABCDEFFEDCBA9876543210:08D7B4"   # HEX[:KCV]
//! pik = "89ABCDEF01234567FEDCBA9876543210"
//! under_tmk = false
//!
//! [terminal.templates.sale]   # as in a --templates file
//! mti = "0200"
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use cardwire_codec::Spec;
use cardwire_engine::keys::{KeyMode, SignOnMode};
use cardwire_engine::template::TemplateSet;
use cardwire_engine::terminal::TerminalConfig;
use cardwire_engine::wire::Dialect;
use cardwire_security::MacAlgorithm;
use clap::Args;

/// Keys, sign-on and profile flags, shared by `terminal` and `load`.
#[derive(Args, Clone, Debug)]
pub(crate) struct ProfileArgs {
    /// Profile file (TOML/JSON, a `[terminal]` table): keys, sign-on, MAC
    /// algorithm, ids. Flags given override it.
    #[arg(long)]
    pub profile: Option<PathBuf>,
    /// Where working keys come from: cups (downloaded at sign-on, under the
    /// TMK), static (--mak/--pik/--tdk), none (no MAC, no PIN block).
    #[arg(long, value_parser = parse_key_mode)]
    pub keys: Option<KeyMode>,
    /// What goes out before the first transaction: none, echo (0800 with
    /// network code 301) or keys (the sign-on, 001/003). Default: keys
    /// with --keys cups, none otherwise.
    #[arg(long, value_parser = parse_sign_on)]
    pub signon: Option<SignOnMode>,
    /// Static MAC key: HEX or HEX:KCV (the check value is verified).
    #[arg(long, value_name = "HEX[:KCV]")]
    pub mak: Option<String>,
    /// Static PIN key: HEX or HEX:KCV.
    #[arg(long, value_name = "HEX[:KCV]")]
    pub pik: Option<String>,
    /// Static track data key: HEX or HEX:KCV.
    #[arg(long, value_name = "HEX[:KCV]")]
    pub tdk: Option<String>,
    /// The static keys are given encrypted under the TMK.
    #[arg(long)]
    pub keys_under_tmk: bool,
    /// MAC algorithm: ecb (UnionPay), x9.9, x9.19.
    #[arg(long, value_parser = parse_mac)]
    pub mac: Option<MacAlgorithm>,
    /// Terminal master key, hex (default: the demo TMK).
    #[arg(long)]
    pub tmk: Option<String>,
    /// Message templates (TOML, one table per transaction: mti and fields
    /// with placeholders); start from `cardwire terminal --show-templates`.
    #[arg(long)]
    pub templates: Option<PathBuf>,
}

fn parse_key_mode(s: &str) -> Result<KeyMode, String> {
    s.parse()
}

fn parse_sign_on(s: &str) -> Result<SignOnMode, String> {
    s.parse()
}

fn parse_mac(s: &str) -> Result<MacAlgorithm, String> {
    s.parse().map_err(|_| format!("{s:?}: ecb, x9.9 or x9.19"))
}

/// Reads a profile: its `[terminal]` table, or the whole file.
///
/// # Errors
///
/// A file that cannot be read or is not a terminal configuration, with
/// the reason (unknown keys are named).
pub(crate) fn read_profile(path: &Path) -> Result<TerminalConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    // A profile may hold keys: errors give the reason and the place,
    // never the line (the TOML parser would quote it).
    let value: serde_json::Value = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}: not JSON (line {}, column {})",
                path.display(),
                e.line(),
                e.column()
            )
        })?
    } else {
        let t: toml::Value = toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}: not TOML: {}{}",
                path.display(),
                e.message(),
                e.span()
                    .map(|s| format!(" (at byte {})", s.start))
                    .unwrap_or_default()
            )
        })?;
        serde_json::to_value(t)?
    };
    let part = value.get("terminal").cloned().unwrap_or(value);
    serde_json::from_value(part).with_context(|| format!("{}: [terminal]", path.display()))
}

impl ProfileArgs {
    /// The terminal configuration: the profile (or the defaults), then
    /// the flags given.
    ///
    /// # Errors
    ///
    /// A profile that does not read.
    pub(crate) fn config(&self) -> Result<TerminalConfig> {
        let mut cfg = match &self.profile {
            Some(p) => read_profile(p)?,
            None => TerminalConfig::default(),
        };
        if let Some(k) = self.keys {
            cfg.keys = k;
        }
        if self.signon.is_some() {
            cfg.signon = self.signon;
        }
        if let Some(k) = &self.mak {
            cfg.static_keys.mak = Some(k.clone());
        }
        if let Some(k) = &self.pik {
            cfg.static_keys.pik = Some(k.clone());
        }
        if let Some(k) = &self.tdk {
            cfg.static_keys.tdk = Some(k.clone());
        }
        if self.keys_under_tmk {
            cfg.static_keys.under_tmk = true;
        }
        if let Some(m) = self.mac {
            cfg.mac = m;
        }
        if let Some(t) = &self.tmk {
            cfg.tmk = t.clone();
        }
        if let Some(p) = &self.templates {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            cfg.templates =
                Some(TemplateSet::parse(&text).with_context(|| format!("{}", p.display()))?);
        }
        // Keys given without a mode mean static keys.
        if self.keys.is_none() && cfg.keys == KeyMode::Cups && self.mak.is_some() {
            cfg.keys = KeyMode::Static;
        }
        Ok(cfg)
    }
}

/// Prints the templates `terminal` would use on `spec`: the dialect's
/// own, with `user`'s on top.
///
/// # Errors
///
/// A spec the terminal does not speak, or templates it cannot encode.
pub(crate) fn show_templates(spec: &Spec, user: Option<&TemplateSet>) -> Result<()> {
    let dialect = Dialect::for_spec(spec)?;
    let mut set = TemplateSet::default_for(dialect);
    if let Some(u) = user {
        u.check(spec, dialect).context("templates")?;
        set.overlay(u);
    }
    let mut out = format!(
        "# Message templates of `cardwire terminal --spec {}`: one table per transaction.\n\
         # A placeholder without a value leaves its field out; {{name|default}} gives one.\n\
         # PIN block (52, 26, 53) and MAC (64/128) are added by the terminal.\n\n",
        spec.name
    );
    out.push_str(&set.to_toml());
    crate::emit(&out);
    Ok(())
}
