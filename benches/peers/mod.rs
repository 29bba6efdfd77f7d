//! The other Rust ISO 8583 crates, each asked for the same work as cardwire:
//! decode one 1987 ASCII 0200 and read field 2 (the PAN).
//!
//! Every peer builds the message with its own encoder in its own wire
//! format; cardwire decodes the same bytes with a spec file that describes
//! that format (`peers/*.toml`). Shared by `benches/peers.rs` and
//! `tests/peers.rs` (included with `#[path]`, so the peers stay
//! dev-dependencies of the benches crate only).
//!
//! | crate | wire format it speaks | decode API measured |
//! |---|---|---|
//! | i8583 0.1.0 | hex bitmap, raw binary 52/64 (`v1987::SPEC`) | `Unpacker::unpack`, slice of field 2 |
//! | iso_8583_rs 0.2.2 | hex bitmap, raw binary 52/64 (its `spec1987.yml` entries) | `Message::parse` (validates content), `get(2)` |
//! | iso8583-codec-rs 0.1.0 | hex bitmap, raw binary 52/64 (its 1987 JSON spec form) | `iso8583::parse_bytes` to JSON, field 2 |
//! | iso8583-core 0.1.0 | binary bitmap, raw binary 52 (built in); without field 64, see [`binary_fields`] | `ISO8583Message::from_bytes`, `get_field` |
//! | iso8583_rs 0.1.10 | binary bitmap (the only kind it has), YAML spec | `Spec::parse`, `bmp_child_value(2)` |
//!
//! [`many`] is a set of 1,000 messages with 1,000 different bitmaps in
//! the hex-bitmap format, for cardwire, iso_8583_rs and i8583.
//!
//! Not measured: `iso8583` 0.1.1 does not compile on stable Rust (it needs
//! the removed nightly feature `type_ascription`); `iso8583_parser` 0.2.6
//! takes a hex string and pulls in the eframe GUI stack as a non-optional
//! dependency, which this crate will not build for a benchmark.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use cardwire_codec::spec_file::load_spec;
use cardwire_codec::{Spec, decode};

#[allow(
    dead_code,
    reason = "peers_loop counts instructions on single frames and has no use for the set"
)]
pub(crate) mod many;

/// The PAN every peer must read back.
pub(crate) const PAN: &str = "4761739001010119";

/// The 0200's text fields, as every peer is given them.
const TEXT_FIELDS: [(u8, &str); 18] = [
    (2, PAN),
    (3, "000000"),
    (4, "000000012500"),
    (7, "0321101530"),
    (11, "000123"),
    (12, "101530"),
    (13, "0321"),
    (14, "2512"),
    (18, "5411"),
    (22, "051"),
    (25, "00"),
    (32, "123456"),
    (35, "4761739001010119=25122011758928889"),
    (37, "308010000123"),
    (41, "TERM0001"),
    (42, "MERCHANT0000001"),
    (43, "ACME STORE 123 MAIN ST SHANGHAI     SHCN"),
    (49, "156"),
];

/// Field 52 (PIN block) and 64 (MAC): 8 raw bytes each.
const BINARY_FIELDS: [(u8, [u8; 8]); 2] = [
    (52, [0x1A, 0x2B, 0x3C, 0x4D, 0x5E, 0x6F, 0x70, 0x81]),
    (64, [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08]),
];

/// The binary fields of the message, without the MAC (field 64) when
/// `with_mac` is false: iso8583-core looks field definitions up by
/// position in a table that lacks fields 56-63, so from field 56 on it
/// uses the definition of the field 8 further (64 becomes field 72's
/// 4-digit date); it cannot build or read a message with field 64.
fn binary_fields(with_mac: bool) -> impl Iterator<Item = (u8, [u8; 8])> {
    BINARY_FIELDS
        .into_iter()
        .filter(move |&(no, _)| with_mac || no != 64)
}

/// The two wire formats the peers speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// 1987 ASCII, 16 hex characters of bitmap, binary fields raw.
    HexBitmap,
    /// 1987 ASCII, 8 bytes of binary bitmap, binary fields raw.
    BinaryBitmap,
}

impl Format {
    /// Short name for benchmark ids.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::HexBitmap => "0200_hex_bitmap",
            Format::BinaryBitmap => "0200_binary_bitmap",
        }
    }

    /// The cardwire spec for this format.
    pub(crate) fn cardwire_spec(self) -> Spec {
        let text = match self {
            Format::HexBitmap => include_str!("cardwire-hex-bitmap.toml"),
            Format::BinaryBitmap => include_str!("cardwire-binary-bitmap.toml"),
        };
        load_spec(text).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// cardwire: decode, then field 2's bytes (a view of the frame).
#[inline]
pub(crate) fn cardwire<R>(spec: &Spec, wire: &[u8], f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    match decode(spec, wire) {
        Ok(m) => Some(f(m.value(2)?.as_text()?)),
        Err(_) => None,
    }
}

/// cardwire's encoder for the same message (used to check that every
/// peer's encoder produced exactly the bytes cardwire produces).
pub(crate) fn cardwire_encode(spec: &Spec, with_mac: bool) -> Vec<u8> {
    let mut m = cardwire_codec::Message::new("0200".parse().unwrap_or_else(|_| unreachable!()));
    for (no, v) in TEXT_FIELDS {
        m.set(no, v);
    }
    for (no, v) in binary_fields(with_mac) {
        m.set(no, v.to_vec());
    }
    cardwire_codec::encode_to_vec(spec, &m).unwrap_or_else(|e| panic!("{e}"))
}

// --- i8583 -------------------------------------------------------------

/// i8583: built with its `Packer` and its `v1987::SPEC`.
pub(crate) fn i8583_encode() -> Vec<u8> {
    let mut p = i8583::Packer::new(&i8583::v1987::SPEC);
    let mut set = |no: usize, v: &[u8]| {
        p.set_field(no, v.to_vec().into())
            .unwrap_or_else(|e| panic!("i8583 field {no}: {e}"));
    };
    set(0, b"0200");
    for (no, v) in TEXT_FIELDS {
        set(usize::from(no), v.as_bytes());
    }
    for (no, v) in binary_fields(true) {
        set(usize::from(no), &v);
    }
    p.pack(Vec::with_capacity(512))
        .unwrap_or_else(|e| panic!("i8583: {e}"))
}

/// i8583: `Unpacker::unpack` (slices, no content checks), then field 2.
#[inline]
pub(crate) fn i8583<R>(wire: &[u8], f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    let mut u = i8583::Unpacker::new(wire);
    match u.unpack(&i8583::v1987::SPEC) {
        Ok(fields) => Some(f((*fields.get(2)?)?)),
        Err(_) => None,
    }
}

// --- iso_8583_rs (0.2) --------------------------------------------------

/// iso_8583_rs: the compiled spec, from its YAML form.
pub(crate) fn iso_8583_rs_spec() -> iso_8583_rs::CompiledSpec {
    let path = peers_dir().join("iso_8583_rs.yml");
    iso_8583_rs::CompiledSpec::from_file(&path.to_string_lossy())
        .unwrap_or_else(|e| panic!("iso_8583_rs spec: {e}"))
}

/// iso_8583_rs: built with its `Builder`.
pub(crate) fn iso_8583_rs_encode(spec: &iso_8583_rs::CompiledSpec) -> Vec<u8> {
    let mut b = iso_8583_rs::Builder::new(spec, b"0200").unwrap_or_else(|e| panic!("{e}"));
    for (no, v) in TEXT_FIELDS {
        b.set(usize::from(no), v.as_bytes())
            .unwrap_or_else(|e| panic!("iso_8583_rs field {no}: {e}"));
    }
    for (no, v) in &BINARY_FIELDS {
        b.set(usize::from(*no), v)
            .unwrap_or_else(|e| panic!("iso_8583_rs field {no}: {e}"));
    }
    let mut out = Vec::new();
    b.pack_into(&mut out);
    out
}

/// iso_8583_rs: `Message::parse` (structure and content checks), then
/// field 2.
#[inline]
pub(crate) fn iso_8583_rs<R>(
    spec: &iso_8583_rs::CompiledSpec,
    wire: &[u8],
    f: impl FnOnce(&[u8]) -> R,
) -> Option<R> {
    match iso_8583_rs::Message::parse(spec, wire) {
        Ok(m) => Some(f(m.get(2)?)),
        Err(_) => None,
    }
}

// --- iso8583-codec-rs ---------------------------------------------------

/// iso8583-codec-rs: its JSON spec form.
pub(crate) fn codec_rs_spec() -> iso8583_codec_rs::LoadedSpec {
    iso8583_codec_rs::load_spec(include_str!("iso8583_codec_rs.json"))
        .unwrap_or_else(|e| panic!("iso8583-codec-rs spec: {e}"))
}

/// iso8583-codec-rs: built with `publish_bytes` from its JSON form.
pub(crate) fn codec_rs_encode(spec: &iso8583_codec_rs::LoadedSpec) -> Vec<u8> {
    let mut fields = serde_json::Map::new();
    let mut add = |no: u8, v: String| {
        let name = &spec
            .get_field(u32::from(no))
            .unwrap_or_else(|| panic!("iso8583-codec-rs spec lacks field {no}"))
            .name;
        fields.insert(format!("de{no:03}_{name}"), serde_json::Value::String(v));
    };
    for (no, v) in TEXT_FIELDS {
        add(no, v.to_string());
    }
    for (no, v) in binary_fields(true) {
        add(no, hex::encode_upper(v));
    }
    let msg = serde_json::json!({ "mti": "0200", "fields": fields });
    iso8583_codec_rs::iso8583::publish_bytes(&msg, spec)
        .unwrap_or_else(|e| panic!("iso8583-codec-rs: {e}"))
}

/// iso8583-codec-rs: `parse_bytes` (to a JSON object), then field 2.
#[inline]
pub(crate) fn codec_rs<R>(
    spec: &iso8583_codec_rs::LoadedSpec,
    wire: &[u8],
    f: impl FnOnce(&[u8]) -> R,
) -> Option<R> {
    let v = iso8583_codec_rs::iso8583::parse_bytes(wire, spec).ok()?;
    let pan = v
        .get("fields")?
        .get("de002_primary_account_number")?
        .as_str()?;
    Some(f(pan.as_bytes()))
}

// --- iso8583-core -------------------------------------------------------

/// iso8583-core: built with `ISO8583Message::set_field` and `to_bytes`,
/// without field 64 (see [`binary_fields`]).
pub(crate) fn core_encode() -> Vec<u8> {
    use iso8583_core::field::FieldValue;
    use iso8583_core::{Field, ISO8583Message, MessageType};
    let mti = MessageType::from_bytes(b"0200").unwrap_or_else(|e| panic!("{e}"));
    let mut m = ISO8583Message::new(mti);
    let field = |no: u8| Field::from_number(no).unwrap_or_else(|e| panic!("{e}"));
    for (no, v) in TEXT_FIELDS {
        m.set_field(field(no), FieldValue::from_string(v))
            .unwrap_or_else(|e| panic!("iso8583-core field {no}: {e}"));
    }
    for (no, v) in binary_fields(false) {
        m.set_field(field(no), FieldValue::from_binary(v.to_vec()))
            .unwrap_or_else(|e| panic!("iso8583-core field {no}: {e}"));
    }
    m.to_bytes()
}

/// iso8583-core: `ISO8583Message::from_bytes`, then field 2.
#[inline]
pub(crate) fn core<R>(wire: &[u8], f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    use iso8583_core::{Field, ISO8583Message};
    let m = ISO8583Message::from_bytes(wire).ok()?;
    Some(f(m
        .get_field(Field::PrimaryAccountNumber)?
        .as_string()?
        .as_bytes()))
}

// --- iso8583_rs (0.1) ---------------------------------------------------

/// The environment variable iso8583_rs reads its spec file name from.
const SPEC_FILE: &str = "SPEC_FILE";

/// iso8583_rs loads its one spec, once per process, from the file named
/// by `SPEC_FILE`, and setting an environment variable in-process needs
/// `unsafe` (edition 2024), which the workspace forbids. So a process
/// that lacks the variable runs itself again with it set: this is that
/// command (`args` replace the command line arguments), or `None` when
/// this process already has the variable and can use [`iso8583_rs_spec`].
pub(crate) fn rerun_with_iso8583_rs_spec(args: &[String]) -> Option<Command> {
    let path = peers_dir().join("iso8583_rs.yaml");
    if std::env::var_os(SPEC_FILE).is_some_and(|v| v == path.as_os_str()) {
        return None;
    }
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    let mut cmd = Command::new(exe);
    cmd.args(args).env(SPEC_FILE, &path);
    Some(cmd)
}

/// For a program's `main`: when this process lacks iso8583_rs's spec
/// file, runs the program again with it (arguments `args`) and exits with
/// its status; otherwise returns.
#[allow(
    dead_code,
    reason = "the programs' mains use it; tests/peers.rs checks the output instead"
)]
pub(crate) fn run_again_with_iso8583_rs_spec_if_needed(args: &[String]) {
    if let Some(mut rerun) = rerun_with_iso8583_rs_spec(args) {
        let status = rerun
            .status()
            .unwrap_or_else(|e| panic!("cannot run again: {e}"));
        std::process::exit(status.code().unwrap_or(1));
    }
}

/// iso8583_rs: its process-wide spec (see [`rerun_with_iso8583_rs_spec`]).
pub(crate) fn iso8583_rs_spec() -> &'static iso8583_rs::iso8583::iso_spec::Spec {
    iso8583_rs::iso8583::iso_spec::spec("Iso87AsciiBinaryBitmap")
}

/// iso8583_rs: built with `new_msg`, `set_on` and `assemble`.
pub(crate) fn iso8583_rs_encode() -> Vec<u8> {
    use iso8583_rs::iso8583::iso_spec::new_msg;
    let spec = iso8583_rs_spec();
    let seg = spec
        .get_message_from_header("0200")
        .unwrap_or_else(|e| panic!("iso8583_rs: {}", e.msg));
    let mut m = new_msg(spec, seg);
    m.set("message_type", "0200")
        .unwrap_or_else(|e| panic!("iso8583_rs: {}", e.msg));
    // Its binary fields are set as hex text.
    let mut values: BTreeMap<u8, String> = TEXT_FIELDS
        .iter()
        .map(|&(no, v)| (no, v.to_string()))
        .collect();
    for (no, v) in binary_fields(true) {
        values.insert(no, hex::encode(v));
    }
    for (no, v) in values {
        m.set_on(u32::from(no), &v)
            .unwrap_or_else(|e| panic!("iso8583_rs field {no}: {}", e.msg));
    }
    m.assemble()
        .unwrap_or_else(|e| panic!("iso8583_rs: {}", e.msg))
}

/// iso8583_rs: `Spec::parse` (it takes `&mut Vec<u8>`), then
/// `bmp_child_value(2)`.
#[inline]
pub(crate) fn iso8583_rs<R>(wire: &mut Vec<u8>, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    let m = iso8583_rs_spec().parse(wire).ok()?;
    let pan = m.bmp_child_value(2).ok()?;
    Some(f(pan.as_bytes()))
}

/// `benches/peers`, where the spec files are.
fn peers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers")
}
