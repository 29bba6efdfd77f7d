//! What each request carries: a message template per transaction kind.
//!
//! ```toml
//! [sale]
//! mti = "0200"
//!
//! [sale.fields]
//! 2 = "{pan}"
//! 3 = "000000"
//! 4 = "{amount}"
//! 7 = "{now:MMDDhhmmss}"
//! 11 = "{stan}"
//! 41 = "{terminal}"
//! 60 = "{batch}"
//! ```
//!
//! A value is text with placeholders. A placeholder that has no value for
//! this request (`{track2}` for a card without track 2, `{rrn}` for a
//! sale) leaves the whole field out, unless it gives a default after `|`
//! (`{net_code|000}`). Placeholders:
//!
//! | placeholder | value |
//! |---|---|
//! | `{stan}` | STAN, 6 digits |
//! | `{amount}` | amount in minor units, 12 digits |
//! | `{currency}` | currency of the amount, 3 digits (only with an amount) |
//! | `{pan}` `{expiry}` `{track2}` | the card |
//! | `{entry_mode}` | POS entry mode (22) |
//! | `{terminal}` `{merchant}` | 41, 42 |
//! | `{batch}` | batch, 6 digits |
//! | `{rrn}` `{auth_code}` | the original's (voids, completions, refunds) |
//! | `{reason}` | a reversal's reason (98, A0) |
//! | `{processing_code}` `{condition_code}` | a reversal's, from the original |
//! | `{txn_type}` | UnionPay transaction type (60.1) |
//! | `{net_code}` | network management code (60.3, 70) |
//! | `{additional}` | settlement totals, batch-upload data (48) |
//! | `{original.stan}` `{original.batch}` `{original.date}` | the original (voids, reversals ...) |
//! | `{original.mti}` `{original.transmitted}` | the original's MTI and MMDDhhmmss (1987 field 90) |
//! | `{now:FORMAT}` | the time: `YYYY` `YY` `MM` `DD` `hh` `mm` `ss` |
//!
//! The PIN block (52, with 26 and 53) and the MAC (64, 128) are the
//! terminal's to add; a template cannot set them. Kinds a file leaves out
//! keep the dialect's own message. A template is checked against the spec
//! when the terminal starts: every field is encoded with sample values,
//! and one the spec cannot carry is refused, naming the field.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use cardwire_codec::{Message, Mti, Spec, TxnKind, encode};
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::wire::{Dialect, Request};

/// Errors loading templates. They name the transaction and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// Not TOML, or not a set of templates.
    #[error("not a template file: {0}")]
    Syntax(String),
    /// A transaction name that is not one.
    #[error("[{0}]: not a transaction (sale, void, balance, refund, reversal, sign-on, echo, ...)")]
    UnknownKind(String),
    /// A bad MTI.
    #[error("[{kind}] mti {mti:?}: expected 4 digits")]
    Mti {
        /// The transaction.
        kind: String,
        /// What was given.
        mti: String,
    },
    /// A field the template cannot set, or a value with a bad placeholder.
    #[error("[{kind}] field {field}: {what}")]
    Field {
        /// The transaction.
        kind: String,
        /// The field number as written.
        field: String,
        /// What is wrong.
        what: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Slot {
        name: String,
        default: Option<String>,
    },
}

const NAMES: [&str; 22] = [
    "stan",
    "amount",
    "currency",
    "pan",
    "expiry",
    "track2",
    "entry_mode",
    "terminal",
    "merchant",
    "batch",
    "rrn",
    "auth_code",
    "reason",
    "processing_code",
    "condition_code",
    "txn_type",
    "net_code",
    "additional",
    "original.stan",
    "original.batch",
    "original.date",
    "original.mti",
];

fn parse_value(v: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut rest = v;
    while let Some(open) = rest.find('{') {
        if let Some(t) = rest.get(..open).filter(|t| !t.is_empty()) {
            out.push(Piece::Text(t.to_owned()));
        }
        let after = rest.get(open + 1..).unwrap_or("");
        let close = after
            .find('}')
            .ok_or_else(|| format!("{{ without }} in {v:?}"))?;
        let inner = after.get(..close).unwrap_or("");
        let (name, default) = match inner.split_once('|') {
            Some((n, d)) => (n.trim(), Some(d.to_owned())),
            None => (inner.trim(), None),
        };
        let known = NAMES.contains(&name)
            || name == "original.transmitted"
            || name
                .strip_prefix("now:")
                .is_some_and(|f| Timestamp::SIM_START.format(f).is_some());
        if !known {
            return Err(format!(
                "unknown placeholder {{{name}}} (stan, amount, pan, now:MMDDhhmmss, original.stan, ...)"
            ));
        }
        out.push(Piece::Slot {
            name: name.to_owned(),
            default,
        });
        rest = after.get(close + 1..).unwrap_or("");
    }
    if rest.contains('}') {
        return Err(format!("}} without {{ in {v:?}"));
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest.to_owned()));
    }
    Ok(out)
}

/// One transaction's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageTemplate {
    mti: Mti,
    fields: Vec<(u8, String, Vec<Piece>)>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    mti: String,
    #[serde(default)]
    fields: BTreeMap<String, String>,
}

/// A set of templates, one per transaction kind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TemplateSet {
    by_kind: BTreeMap<&'static str, (TxnKind, MessageTemplate)>,
}

impl Serialize for TemplateSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw().serialize(s)
    }
}

impl<'de> Deserialize<'de> for TemplateSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = BTreeMap::<String, RawTemplate>::deserialize(d)?;
        Self::from_raw(raw).map_err(serde::de::Error::custom)
    }
}

/// Fields a template cannot set.
fn reserved(n: u8) -> Option<&'static str> {
    match n {
        1 => Some("the secondary bitmap is the encoder's"),
        52 => Some("the PIN block is added by the terminal when a PIN is entered"),
        64 | 128 => Some("the MAC is added by the terminal"),
        _ => None,
    }
}

impl TemplateSet {
    fn from_raw(raw: BTreeMap<String, RawTemplate>) -> Result<Self, TemplateError> {
        let mut by_kind = BTreeMap::new();
        for (name, t) in raw {
            let kind = TxnKind::parse(&name)
                .filter(|k| *k != TxnKind::Unknown)
                .ok_or_else(|| TemplateError::UnknownKind(name.clone()))?;
            let mti: Mti = t
                .mti
                .parse()
                .ok()
                .filter(|_| t.mti.len() == 4 && t.mti.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| TemplateError::Mti {
                    kind: name.clone(),
                    mti: t.mti.clone(),
                })?;
            let mut fields = Vec::new();
            for (f, v) in t.fields {
                let bad = |what: String| TemplateError::Field {
                    kind: name.clone(),
                    field: f.clone(),
                    what,
                };
                let n: u8 = f
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| (2..=128).contains(n))
                    .ok_or_else(|| bad("not a field number (2-128)".into()))?;
                if let Some(why) = reserved(n) {
                    return Err(bad(why.into()));
                }
                fields.push((n, v.clone(), parse_value(&v).map_err(bad)?));
            }
            fields.sort_by_key(|(n, _, _)| *n);
            by_kind.insert(kind.as_str(), (kind, MessageTemplate { mti, fields }));
        }
        Ok(TemplateSet { by_kind })
    }

    fn raw(&self) -> BTreeMap<String, RawTemplate> {
        self.by_kind
            .iter()
            .map(|(k, (_, t))| {
                (
                    (*k).to_owned(),
                    RawTemplate {
                        mti: t.mti.as_str().to_owned(),
                        fields: t
                            .fields
                            .iter()
                            .map(|(n, v, _)| (n.to_string(), v.clone()))
                            .collect(),
                    },
                )
            })
            .collect()
    }

    /// Reads a template file (TOML).
    ///
    /// # Errors
    ///
    /// [`TemplateError`] naming the transaction and field.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let raw: BTreeMap<String, RawTemplate> = toml::from_str(text).map_err(|e| {
            TemplateError::Syntax(
                e.message().to_owned()
                    + &e.span()
                        .map(|s| format!(" (at byte {})", s.start))
                        .unwrap_or_default(),
            )
        })?;
        Self::from_raw(raw)
    }

    /// The set as TOML, fields in number order.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        for (kind, (_, t)) in &self.by_kind {
            out.push_str(&format!(
                "[{kind}]\nmti = \"{}\"\n\n[{kind}.fields]\n",
                t.mti
            ));
            for (n, v, _) in &t.fields {
                out.push_str(&format!("{n} = {}\n", toml_string(v)));
            }
            out.push('\n');
        }
        out
    }

    /// Puts `other`'s templates over this set's, kind by kind.
    pub fn overlay(&mut self, other: &TemplateSet) {
        for (k, v) in &other.by_kind {
            self.by_kind.insert(k, v.clone());
        }
    }

    /// The transactions this set has a template for.
    pub fn kinds(&self) -> impl Iterator<Item = TxnKind> + '_ {
        self.by_kind.values().map(|(k, _)| *k)
    }

    /// Checks every template against `spec`: each field is encoded with
    /// sample values.
    ///
    /// # Errors
    ///
    /// [`TemplateError::Field`] for the first field the spec cannot carry.
    pub fn check(&self, spec: &Spec, dialect: Dialect) -> Result<(), TemplateError> {
        let sample = sample_request();
        for (name, (kind, t)) in &self.by_kind {
            for (n, v, pieces) in &t.fields {
                let bad = |what: String| TemplateError::Field {
                    kind: (*name).to_owned(),
                    field: n.to_string(),
                    what,
                };
                let Some(value) =
                    render_value(pieces, &sample, *kind, dialect, Timestamp::SIM_START)
                else {
                    continue;
                };
                let mut m = Message::new(t.mti);
                m.set(*n, value);
                if spec.header.tpdu {
                    m.tpdu = Some(Bytes::from_static(&crate::wire::UNIONPAY_TPDU));
                }
                if spec.header.length > 0 {
                    m.header = Some(Bytes::from(vec![0x30; spec.header.length]));
                }
                let mut out = BytesMut::new();
                if let Err(e) = encode(spec, &m, &mut out) {
                    let text = e.to_string();
                    let text = text
                        .strip_prefix(&format!("field {n}: "))
                        .unwrap_or(&text)
                        .to_owned();
                    return Err(bad(format!(
                        "{text} (value {v:?} with sample data; spec {})",
                        spec.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// The message for `req` if this set has a template for its kind.
    pub fn render(&self, req: &Request, dialect: Dialect, now: Timestamp) -> Option<Message> {
        let kind = req.kind.unwrap_or(TxnKind::Unknown);
        let (_, t) = self.by_kind.get(kind.as_str())?;
        let mut m = Message::new(t.mti);
        for (n, _, pieces) in &t.fields {
            if let Some(v) = render_value(pieces, req, kind, dialect, now) {
                m.set(*n, v);
            }
        }
        if let Some(pb) = &req.pin_block {
            m.set(52, pb.to_vec());
            if !m.has(26) {
                m.set(26, "12");
            }
            if !m.has(53) {
                m.set(53, "2600000000000000");
            }
        }
        if dialect == Dialect::UnionPay {
            m.tpdu = Some(Bytes::from_static(&crate::wire::UNIONPAY_TPDU));
            m.header = Some(Bytes::from_static(&crate::wire::UNIONPAY_HEADER));
        }
        Some(m)
    }

    /// The dialect's own messages as templates: what the terminal sends
    /// when no template file is given.
    pub fn default_for(dialect: Dialect) -> Self {
        use TxnKind::*;
        let mut raw = BTreeMap::new();
        let kinds = [
            SignOn,
            Echo,
            BalanceInquiry,
            Sale,
            Void,
            Refund,
            PreAuth,
            PreAuthVoid,
            PreAuthCompletion,
            PreAuthCompletionVoid,
            Settlement,
            BatchUpload,
            Reversal,
        ];
        for kind in kinds {
            let Ok((mti, proc_code, cond, _)) = dialect.request_shape(kind).or_else(|e| {
                if kind == Reversal {
                    Ok(("0400", None, None, ""))
                } else {
                    Err(e)
                }
            }) else {
                continue;
            };
            let mut f: BTreeMap<u8, String> = BTreeMap::new();
            let mut put = |n: u8, v: &str| {
                f.insert(n, v.to_owned());
            };
            put(11, "{stan}");
            put(41, "{terminal}");
            put(42, "{merchant}");
            let financial = !matches!(kind, SignOn | Echo | Settlement | BatchUpload);
            if financial {
                put(2, "{pan}");
                put(14, "{expiry}");
                put(22, "{entry_mode}");
                put(35, "{track2}");
            }
            if kind != SignOn && kind != Echo {
                put(4, "{amount}");
                put(48, "{additional}");
                put(49, "{currency}");
            }
            if kind == Reversal {
                put(3, "{processing_code}");
                put(25, "{condition_code}");
                put(39, "{reason|98}");
            } else {
                if let Some(p) = proc_code {
                    put(3, &format!("{{processing_code|{p}}}"));
                }
                if let Some(c) = cond {
                    put(25, &format!("{{condition_code|{c}}}"));
                }
                if financial {
                    put(37, "{rrn}");
                    put(38, "{auth_code}");
                }
            }
            match dialect {
                Dialect::UnionPay => {
                    put(60, "{txn_type}{batch}{net_code|000}");
                    put(61, "{original.batch}{original.stan}{original.date}");
                }
                Dialect::Iso87 => {
                    put(7, "{now:MMDDhhmmss}");
                    put(60, "{batch}");
                    put(70, "{net_code}");
                    put(
                        90,
                        "{original.mti}{original.stan}{original.transmitted}0000000000000000000000",
                    );
                }
            }
            raw.insert(
                kind.as_str().to_owned(),
                RawTemplate {
                    mti: mti.to_owned(),
                    fields: f.into_iter().map(|(n, v)| (n.to_string(), v)).collect(),
                },
            );
        }
        // Built from constants that parse: an error here is a bug the
        // tests catch, and the empty set falls back to the built-in code.
        Self::from_raw(raw).unwrap_or_default()
    }
}

fn toml_string(v: &str) -> String {
    let mut s = String::from("\"");
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if c.is_control() => s.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

fn render_value(
    pieces: &[Piece],
    req: &Request,
    kind: TxnKind,
    dialect: Dialect,
    now: Timestamp,
) -> Option<String> {
    let mut out = String::new();
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Slot { name, default } => {
                let v = lookup(name, req, kind, dialect, now).or_else(|| default.clone())?;
                out.push_str(&v);
            }
        }
    }
    Some(out)
}

/// The value of one placeholder for `req`, `None` when it has none.
fn lookup(
    name: &str,
    req: &Request,
    kind: TxnKind,
    dialect: Dialect,
    now: Timestamp,
) -> Option<String> {
    if let Some(f) = name.strip_prefix("now:") {
        return now.format(f);
    }
    let o = req.original.as_ref();
    Some(match name {
        "stan" => format!("{:06}", req.stan % 1_000_000),
        "amount" => format!("{:012}", req.amount?),
        "currency" => {
            req.amount?;
            format!("{:03}", req.currency.unwrap_or(156))
        }
        "pan" => req.pan.clone()?,
        "expiry" => req.expiry.clone()?,
        "track2" => req.track2.clone()?,
        "entry_mode" => req.entry_mode.clone()?,
        "terminal" => req.terminal_id.clone(),
        "merchant" => req.merchant_id.clone(),
        "batch" => format!("{:06}", req.batch.unwrap_or(0)),
        "rrn" => req.rrn.clone()?,
        "auth_code" => req.auth_code.clone()?,
        "reason" => req.reason.clone()?,
        "processing_code" => req.processing_code.clone()?,
        "condition_code" => req.condition_code.clone()?,
        "txn_type" => req.txn_type.clone().unwrap_or_else(|| {
            dialect
                .request_shape(kind)
                .map(|s| s.3.to_owned())
                .unwrap_or_else(|_| "00".into())
        }),
        "net_code" => req
            .net_code
            .clone()
            .or_else(|| dialect.net_code(kind).map(str::to_owned))?,
        "additional" => req.additional.clone()?,
        "original.stan" => format!("{:06}", o?.stan.unwrap_or(0)),
        "original.batch" => format!("{:06}", o?.batch.unwrap_or(0)),
        "original.date" => o?.date.clone().unwrap_or_else(|| "0000".into()),
        "original.mti" => {
            o?;
            crate::wire::original_mti(kind, req.txn_type.as_deref()).to_owned()
        }
        "original.transmitted" => crate::wire::transmitted(o?.date.as_deref()),
        _ => return None,
    })
}

/// A request with every value set, for checking templates.
fn sample_request() -> Request {
    Request {
        kind: Some(TxnKind::Sale),
        stan: 1,
        terminal_id: "12345678".into(),
        merchant_id: "123456789012345".into(),
        batch: Some(1),
        pan: Some("4761739001010010".into()),
        expiry: Some("3012".into()),
        track2: Some("4761739001010010=30122011143804400000".into()),
        amount: Some(100),
        currency: Some(156),
        processing_code: Some("000000".into()),
        condition_code: Some("00".into()),
        txn_type: Some("22".into()),
        entry_mode: Some("021".into()),
        rrn: Some("000000000001".into()),
        auth_code: Some("000001".into()),
        reason: Some("98".into()),
        original: Some(crate::wire::OriginalRef {
            batch: Some(1),
            stan: Some(1),
            date: Some("1121090000".into()),
        }),
        net_code: Some("001".into()),
        additional: Some("0".into()),
        ..Request::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::OriginalRef;
    use cardwire_codec::specs;

    fn req(kind: TxnKind) -> Request {
        Request {
            kind: Some(kind),
            stan: 42,
            terminal_id: "12345678".into(),
            merchant_id: "123456789012345".into(),
            batch: Some(7),
            ..Request::default()
        }
    }

    fn render_one(template: &str, r: &Request) -> Option<String> {
        let set = TemplateSet::parse(&format!(
            "[sale]\nmti = \"0200\"\n[sale.fields]\n{template}"
        ))
        .unwrap();
        let m = set.render(r, Dialect::Iso87, Timestamp::SIM_START)?;
        m.get_str(48).map(str::to_owned)
    }

    #[test]
    fn placeholders_are_filled_from_the_request() {
        let mut r = req(TxnKind::Sale);
        r.amount = Some(1234);
        r.pan = Some("4761739001010010".into());
        r.original = Some(OriginalRef {
            batch: Some(3),
            stan: Some(9),
            date: Some("1121".into()),
        });
        let cases = [
            ("{stan}", "000042"),
            ("{amount}", "000000001234"),
            ("{currency}", "156"),
            (
                "{batch}/{terminal}/{merchant}",
                "000007/12345678/123456789012345",
            ),
            ("{pan}", "4761739001010010"),
            ("{now:MMDDhhmmss}", "1121090000"),
            ("{now:YYYY-MM-DD}", "2026-11-21"),
            (
                "{original.stan}{original.batch}{original.date}",
                "0000090000031121",
            ),
            ("{original.mti}", "0200"),
            ("x{rrn|none}y", "xnoney"),
        ];
        for (t, want) in cases {
            let got = render_one(&format!("48 = \"{t}\""), &r);
            assert_eq!(got.as_deref(), Some(want), "{t}");
        }
    }

    #[test]
    fn a_placeholder_without_a_value_leaves_the_field_out() {
        let r = req(TxnKind::Sale);
        assert_eq!(render_one("48 = \"T{track2}\"", &r), None);
        assert_eq!(render_one("48 = \"{original.stan}\"", &r), None);
        assert_eq!(render_one("48 = \"{amount}\"", &r), None);
    }

    #[test]
    fn bad_templates_are_refused_naming_the_field() {
        let spec = specs::iso87ascii();
        let cases = [
            (
                "[sale]\nmti = \"0200\"\n[sale.fields]\n41 = \"{pan}\"\n",
                "field 41",
            ),
            (
                "[sale]\nmti = \"0200\"\n[sale.fields]\n4 = \"12.00\"\n",
                "field 4",
            ),
            (
                "[sale]\nmti = \"0200\"\n[sale.fields]\n11 = \"{stann}\"\n",
                "unknown placeholder {stann}",
            ),
            (
                "[sale]\nmti = \"0200\"\n[sale.fields]\n7 = \"{now:QQ}\"\n",
                "field 7",
            ),
            (
                "[sale]\nmti = \"0200\"\n[sale.fields]\n64 = \"00\"\n",
                "MAC",
            ),
            (
                "[sale]\nmti = \"0200\"\n[sale.fields]\n52 = \"00\"\n",
                "PIN block",
            ),
            (
                "[sale]\nmti = \"0200\"\n[sale.fields]\n200 = \"1\"\n",
                "field 200",
            ),
            (
                "[sale]\nmti = \"0200\"\n[sale.fields]\n3 = \"{stan\"\n",
                "without }",
            ),
            ("[sale]\nmti = \"02X0\"\n", "mti"),
            ("[purchase]\nmti = \"0200\"\n", "[purchase]"),
            ("[sale]\nmti = \"0200\"\ncolour = 1\n", "unknown field"),
            ("not toml [", "not a template file"),
        ];
        for (text, want) in cases {
            let err = TemplateSet::parse(text).and_then(|s| s.check(spec, Dialect::Iso87));
            let e = err.expect_err(text).to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        // A field the spec does not define.
        let cups = specs::cups();
        let set =
            TemplateSet::parse("[sale]\nmti = \"0200\"\n[sale.fields]\n100 = \"1\"\n").unwrap();
        let e = set.check(cups, Dialect::UnionPay).unwrap_err().to_string();
        assert!(e.contains("field 100"), "{e}");
    }

    #[test]
    fn the_default_templates_print_parse_and_pass_their_spec() {
        for (spec, dialect) in [
            (specs::cups(), Dialect::UnionPay),
            (specs::iso87ascii(), Dialect::Iso87),
            (specs::iso87binary(), Dialect::Iso87),
        ] {
            let set = TemplateSet::default_for(dialect);
            assert!(set.kinds().count() >= 10, "{}", spec.name);
            let back = TemplateSet::parse(&set.to_toml()).unwrap();
            assert_eq!(back, set);
            set.check(spec, dialect).unwrap();
        }
    }

    /// The default set sends exactly what the built-in messages send.
    #[test]
    fn the_default_templates_give_the_built_in_messages() {
        let mut sale = req(TxnKind::Sale);
        sale.amount = Some(1234);
        sale.currency = Some(156);
        sale.pan = Some("6222021234567890123".into());
        sale.expiry = Some("3012".into());
        sale.track2 = Some("6222021234567890123=30121010000000000".into());
        sale.entry_mode = Some("021".into());
        sale.pin_block = Some([1, 2, 3, 4, 5, 6, 7, 8]);
        let mut void = sale.clone();
        void.kind = Some(TxnKind::Void);
        void.pin_block = None;
        void.rrn = Some("000000000042".into());
        void.auth_code = Some("123456".into());
        void.original = Some(OriginalRef {
            batch: Some(7),
            stan: Some(41),
            date: Some("1121".into()),
        });
        let mut refund = sale.clone();
        refund.kind = Some(TxnKind::Refund);
        refund.pin_block = None;
        refund.rrn = Some("000000000042".into());
        refund.original = Some(OriginalRef {
            batch: None,
            stan: None,
            date: Some("1120".into()),
        });
        let mut rev = req(TxnKind::Reversal);
        rev.amount = Some(1234);
        rev.currency = Some(156);
        rev.processing_code = Some("000000".into());
        rev.condition_code = Some("00".into());
        rev.txn_type = Some("22".into());
        rev.entry_mode = Some("021".into());
        rev.reason = Some("98".into());
        rev.original = Some(OriginalRef {
            batch: Some(7),
            stan: Some(42),
            date: Some("1121090000".into()),
        });
        let mut balance = sale.clone();
        balance.kind = Some(TxnKind::BalanceInquiry);
        balance.amount = None;
        let mut settle = req(TxnKind::Settlement);
        settle.additional = Some("000000001234001000000000000000".into());
        let mut upload_end = req(TxnKind::BatchUpload);
        upload_end.net_code = Some("202".into());
        upload_end.additional = Some("0001".into());
        let mut upload = req(TxnKind::BatchUpload);
        upload.amount = Some(1234);
        upload.currency = Some(156);
        upload.original = void.original.clone();
        let mut preauth = sale.clone();
        preauth.kind = Some(TxnKind::PreAuth);
        let mut completion = void.clone();
        completion.kind = Some(TxnKind::PreAuthCompletion);
        completion.rrn = None;
        let requests = [
            req(TxnKind::SignOn),
            req(TxnKind::Echo),
            sale,
            void,
            refund,
            rev,
            balance,
            settle,
            upload_end,
            upload,
            preauth,
            completion,
        ];
        for (spec, dialect) in [
            (specs::cups(), Dialect::UnionPay),
            (specs::iso87ascii(), Dialect::Iso87),
            (specs::iso87binary(), Dialect::Iso87),
        ] {
            let set = TemplateSet::default_for(dialect);
            for r in &requests {
                let now = Timestamp::SIM_START;
                let Ok(built_in) = r.to_message(dialect, now) else {
                    continue;
                };
                let templated = set.render(r, dialect, now).expect("a template");
                let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
                encode(spec, &built_in, &mut a).unwrap();
                encode(spec, &templated, &mut b).unwrap();
                assert_eq!(
                    hex::encode(&a),
                    hex::encode(&b),
                    "{} {:?}",
                    spec.name,
                    r.kind
                );
            }
        }
    }
}
