//! `cardwire mac`, `cardwire pinblock` and `cardwire keys`: the security
//! layer (crate `cardwire-security`) from the command line.
//!
//! Log hygiene (DOMAIN.md section 4): a key given on the command line is
//! never printed, only its length and check value; clear working keys,
//! PIN blocks and PINs are printed only when the command exists to show
//! them (`pinblock`, `pinblock --decrypt`, `keys --unmask`). Error messages
//! never carry a secret: the security crate's errors do not, and this module
//! adds only which input was wrong.

use anyhow::{Context, Result, anyhow, bail};
use cardwire_codec::decode;
use cardwire_security::{
    ClearPinBlock, DesKey, EncryptedPinBlock, Field62Layout, MacAlgorithm, OsRandom, Pan, Pin,
    PinBlockFormat, SecurityError, WorkingKeys, compute_mac, verify_mac,
};
use clap::{Args, ValueEnum};

/// `--algo` values, named as the acquirer documents call them.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Algo {
    /// UnionPay POS "ECB" MAC (8 ASCII hex characters in field 64).
    #[value(name = "ecb")]
    Ecb,
    /// ANSI X9.9 DES CBC-MAC.
    #[value(name = "x9.9")]
    X99,
    /// ANSI X9.19 retail MAC (8- or 16-byte key).
    #[value(name = "x9.19")]
    X919,
}

impl From<Algo> for MacAlgorithm {
    fn from(a: Algo) -> Self {
        match a {
            Algo::Ecb => MacAlgorithm::UnionPayEcb,
            Algo::X99 => MacAlgorithm::X99,
            Algo::X919 => MacAlgorithm::X919,
        }
    }
}

/// `--format` values: ISO 9564-1 PIN block formats.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    /// Format 0 (ANSI X9.8): PIN, F fill, XOR PAN.
    #[value(name = "0")]
    Iso0,
    /// Format 1: PIN, random fill, no PAN.
    #[value(name = "1")]
    Iso1,
    /// Format 3: PIN, random A-F fill, XOR PAN.
    #[value(name = "3")]
    Iso3,
}

impl From<Format> for PinBlockFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Iso0 => PinBlockFormat::Iso0,
            Format::Iso1 => PinBlockFormat::Iso1,
            Format::Iso3 => PinBlockFormat::Iso3,
        }
    }
}

#[derive(Args)]
pub(crate) struct MacArgs {
    /// Built-in spec name or spec file (TOML/JSON) to decode the frame with.
    #[arg(long)]
    spec: String,
    /// MAC key (MAK) in clear: 16, 32 or 48 hex digits. Never printed; only its KCV is shown.
    #[arg(long, value_name = "HEX")]
    key: String,
    /// MAC algorithm agreed with the acquirer.
    #[arg(long)]
    algo: Algo,
    /// Compare with the MAC in the frame (field 64, or 128): exit 0 on a match, 1 on a mismatch.
    #[arg(long)]
    verify: bool,
    /// Frame hex (with or without the 2-byte length prefix), or `-` (the default) for stdin.
    #[arg(value_name = "FRAME_HEX")]
    frame: Option<String>,
}

#[derive(Args)]
pub(crate) struct PinblockArgs {
    /// ISO 9564 PIN block format.
    #[arg(long)]
    format: Format,
    /// Card number (formats 0 and 3 mix it into the block; format 1 ignores it).
    #[arg(long)]
    pan: Option<String>,
    /// The PIN to build the block from (4 to 12 digits).
    #[arg(long, required_unless_present = "decrypt", conflicts_with = "decrypt")]
    pin: Option<String>,
    /// PIN key (PIK) in clear, 16/32/48 hex digits: also encrypt the block (or decrypt with --decrypt).
    #[arg(long, value_name = "HEX")]
    key: Option<String>,
    /// Decrypt BLOCK_HEX (field 52) under --key and print the PIN it carries.
    #[arg(long, requires_all = ["key", "block"])]
    decrypt: bool,
    /// Encrypted PIN block (field 52) to decrypt, 16 hex digits.
    #[arg(value_name = "BLOCK_HEX", requires = "decrypt")]
    block: Option<String>,
}

#[derive(Args)]
pub(crate) struct KeysArgs {
    /// Terminal master key (TMK) in clear, 16/32/48 hex digits. Never printed; only its KCV is shown.
    #[arg(long, value_name = "HEX")]
    tmk: String,
    /// Also print the clear working keys.
    #[arg(long)]
    unmask: bool,
    /// Field 62 of the sign-on reply: 24, 40 or 60 bytes of hex (a 2-byte BCD length prefix is removed).
    #[arg(value_name = "FIELD62_HEX")]
    field62: String,
}

fn key_arg(what: &str, hex: &str) -> Result<DesKey> {
    DesKey::from_hex(hex.trim()).with_context(|| what.to_string())
}

fn key_line(key: &DesKey) -> String {
    format!("{} bytes, KCV {}", key.len(), key.kcv())
}

/// `cardwire mac`. `Ok(false)` is a `--verify` mismatch (exit 1).
pub(crate) fn cmd_mac(a: MacArgs) -> Result<bool> {
    let spec = crate::load_spec(&a.spec)?;
    let key = key_arg("--key (MAK)", &a.key)?;
    let algo = MacAlgorithm::from(a.algo);
    let text = match a.frame.as_deref() {
        None | Some("-") => crate::read_stdin()?,
        Some(h) => h.to_string(),
    };
    let bytes = crate::input::parse_hex(&text)?;
    let mut errors = Vec::new();
    let mut found = None;
    for (frame, stripped) in crate::decode_cmd::candidates(&bytes) {
        match decode(&spec, frame) {
            Ok(msg) => {
                found = Some((msg, stripped));
                break;
            }
            Err(e) => {
                let at = e.field.map_or_else(String::new, |f| {
                    format!("{} ", crate::field_label(&spec, f.get()))
                });
                let note = stripped.map_or(String::new(), |s| format!(" (after removing a {s})"));
                errors.push(format!("{at}at byte {}: {}{note}", e.offset, e.kind));
            }
        }
    }
    let Some((msg, stripped)) = found else {
        bail!(
            "cannot decode the frame ({} bytes) with spec {}:\n  {}",
            bytes.len(),
            spec.name,
            errors.join("\n  ")
        );
    };

    // A message with field 128 carries its MAC there (MTI through 127);
    // otherwise field 64 does (MTI through 63).
    let mac_field: u8 = if msg.has(128) { 128 } else { 64 };
    let mab = msg.mac_input(mac_field);
    let mac = compute_mac(algo, &key, mab).context("computing the MAC")?;

    let mut out = String::new();
    w!(out, "spec       {}", spec.name);
    if let Some(s) = stripped {
        w!(
            out,
            "frame      {} bytes (removed a {s})",
            frame_len(&bytes, s)
        );
    } else {
        w!(out, "frame      {} bytes", bytes.len());
    }
    w!(out, "MTI        {}", msg.mti());
    let range = if msg.has(mac_field) {
        format!("MTI through field {}", mac_field - 1)
    } else {
        format!("MTI to the end: field {mac_field} is absent")
    };
    w!(out, "MAB        {} bytes ({range})", mab.len());
    w!(out, "key        {}", key_line(&key));
    w!(out, "algorithm  {algo}");
    w!(out, "MAC        {}", show_mac(algo, &mac));

    if !a.verify {
        crate::emit(&out);
        return Ok(true);
    }
    let Some(field) = msg.field(mac_field) else {
        crate::emit(&out);
        bail!("--verify: the frame has no field {mac_field} (MAC) to compare with");
    };
    let received = field.value.to_vec();
    w!(out, "field {mac_field:<4} {}", show_mac(algo, &received));
    let ok = match verify_mac(algo, &key, mab, &received) {
        Ok(()) => true,
        Err(SecurityError::MacMismatch { .. }) => false,
        Err(e) => {
            crate::emit(&out);
            return Err(anyhow!(e)).with_context(|| format!("field {mac_field}"));
        }
    };
    if ok {
        w!(out, "MAC OK");
    } else {
        w!(out, "MAC MISMATCH (host would answer A0)");
    }
    crate::emit(&out);
    Ok(ok)
}

fn frame_len(bytes: &[u8], stripped: &str) -> usize {
    if stripped.starts_with("2-byte") {
        bytes.len() - 2
    } else {
        bytes.len() - 4
    }
}

/// A MAC as field 64 carries it: the UnionPay ECB MAC is 8 ASCII hex
/// characters (shown as text, then the bytes), the others 8 raw bytes.
fn show_mac(algo: MacAlgorithm, mac: &[u8]) -> String {
    let hex = hex::encode_upper(mac);
    match algo {
        MacAlgorithm::UnionPayEcb if mac.iter().all(u8::is_ascii_hexdigit) => {
            format!("{}  (field bytes {hex})", String::from_utf8_lossy(mac))
        }
        _ => hex,
    }
}

/// `cardwire pinblock`.
pub(crate) fn cmd_pinblock(a: PinblockArgs) -> Result<()> {
    let format = PinBlockFormat::from(a.format);
    let pan = a
        .pan
        .as_deref()
        .map(|p| Pan::new(p.trim()).context("--pan"))
        .transpose()?;
    if format.uses_pan() && pan.is_none() {
        bail!(
            "--pan is required for PIN block format {}",
            format.control()
        );
    }
    let key = a
        .key
        .as_deref()
        .map(|k| key_arg("--key (PIK)", k))
        .transpose()?;
    let mut out = String::new();
    w!(out, "format       {format}");
    if let Some(p) = &pan {
        let note = if format.uses_pan() {
            ""
        } else {
            " (not used by format 1)"
        };
        w!(out, "PAN          {p}{note}");
    }

    if a.decrypt {
        let (Some(key), Some(block)) = (key, a.block.as_deref()) else {
            bail!("--decrypt needs --key and BLOCK_HEX");
        };
        let bytes = crate::input::parse_hex(block).context("BLOCK_HEX")?;
        let block = EncryptedPinBlock::from_slice(&bytes).context("BLOCK_HEX")?;
        let pin = block
            .decrypt(&key)
            .extract_pin(format, pan.as_ref())
            .with_context(|| {
                format!(
                    "the block decrypted under the key with KCV {} is not a valid {format} block",
                    key.kcv()
                )
            })?;
        w!(out, "key          {}", key_line(&key));
        w!(
            out,
            "check        OK: control nibble, PIN length, digits and fill are valid for {format}"
        );
        w!(out, "PIN          {}", pin.expose_secret());
        crate::emit(&out);
        return Ok(());
    }

    let Some(pin) = a.pin.as_deref() else {
        bail!("--pin is required (or --decrypt)");
    };
    let pin = Pin::new(pin.trim()).context("--pin")?;
    let clear = ClearPinBlock::build(format, &pin, pan.as_ref(), &mut OsRandom)
        .context("building the PIN block")?;
    w!(
        out,
        "clear block  {}",
        hex::encode_upper(clear.expose_secret())
    );
    if let Some(key) = &key {
        w!(out, "key          {}", key_line(key));
        w!(
            out,
            "encrypted    {}",
            hex::encode_upper(clear.encrypt(key).as_bytes())
        );
    }
    crate::emit(&out);
    Ok(())
}

/// `cardwire keys`.
pub(crate) fn cmd_keys(a: KeysArgs) -> Result<()> {
    let tmk = key_arg("--tmk", &a.tmk)?;
    let mut data = crate::input::parse_hex(&a.field62).context("FIELD62_HEX")?;
    let mut note = "";
    if Field62Layout::from_len(data.len()).is_none()
        && data.len() >= 2
        && Field62Layout::from_len(data.len() - 2).is_some()
        && bcd_len(data[0], data[1]) == Some(data.len() - 2)
    {
        data.drain(..2);
        note = " (removed a 2-byte BCD length prefix)";
    }
    let layout = Field62Layout::from_len(data.len()).ok_or_else(|| {
        anyhow!(
            "field 62 key data is {} bytes; expected 24, 40 or 60",
            data.len()
        )
    })?;
    let keys = WorkingKeys::unwrap(&tmk, &data).map_err(|e| match e {
        SecurityError::CheckValueMismatch { key } => anyhow!(
            "{key} check value mismatch: field 62 does not unwrap under the TMK with KCV {} \
             (wrong TMK, corrupted field or wrong layout)",
            tmk.kcv()
        ),
        e => anyhow!(e).context("field 62"),
    })?;
    let mut out = String::new();
    w!(out, "TMK     {}", key_line(&tmk));
    w!(
        out,
        "layout  {layout} field 62{note}; every check value matches"
    );
    let list = [
        ("PIK", Some(&keys.pik)),
        ("MAK", Some(&keys.mak)),
        ("TDK", keys.tdk.as_ref()),
    ];
    for (name, key) in list {
        let Some(key) = key else { continue };
        let mut line = format!("{name}     {:>2} bytes  KCV {}", key.len(), key.kcv());
        if a.unmask {
            line.push_str(&format!("  key {}", hex::encode_upper(key.expose_secret())));
        }
        w!(out, "{line}");
    }
    crate::emit(&out);
    Ok(())
}

/// Two BCD bytes as a length (`00 40` is 40).
fn bcd_len(hi: u8, lo: u8) -> Option<usize> {
    let digits = [hi >> 4, hi & 0xf, lo >> 4, lo & 0xf];
    digits
        .iter()
        .try_fold(0usize, |n, &d| (d < 10).then_some(n * 10 + usize::from(d)))
}
