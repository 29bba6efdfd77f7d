//! User dialects from TOML or JSON files (feature `serde`).
//!
//! A file either describes a dialect completely or starts from a built-in
//! (`base = "cups"`) and changes what differs. Every field key has the
//! same power the built-ins use. The loaded spec is validated: a
//! contradiction is an error naming the field.
//!
//! ```
//! use cardwire_codec::spec_file::load_spec;
//! let spec = load_spec(r#"
//!     name = "myacq"
//!     base = "cups"
//!     [fields.63]
//!     type = "b"
//!     encoding = "binary"
//! "#).unwrap();
//! assert_eq!(spec.name, "myacq");
//! let bad = load_spec(r#"
//!     name = "broken"
//!     [fields.4]
//!     name = "Amount"
//!     type = "n"
//!     length = "LL"
//!     max = 120
//! "#).unwrap_err();
//! assert!(bad.to_string().contains("field 4"), "{bad}");
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::codes::CodeTable;
use crate::spec::txn::{Condition, TxnKind, TxnRule};
use crate::spec::{
    Align, BitmapEncoding, Charset, DataEncoding, FieldKind, FieldSpec, HeaderSpec, Length,
    LengthUnit, MtiEncoding, Pad, PrefixEncoding, Sensitivity, Spec, SpecError, SubfieldSpec,
    Subfields,
};
use crate::types::FieldNo;

/// The file form of a spec.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SpecFile {
    /// Name of the dialect.
    pub name: String,
    /// A built-in spec to start from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// One line about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `ascii`, `bcd` or `ebcdic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mti: Option<String>,
    /// `binary` or `hex`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitmap: Option<String>,
    /// Whether bit 65 announces a tertiary bitmap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tertiary_bitmap: Option<bool>,
    /// TPDU and header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderDef>,
    /// `iso87`, `iso93` or `cups`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_codes: Option<String>,
    /// Field definitions by number.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldDef>,
    /// Fields of the base to drop.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_fields: Vec<u16>,
    /// Transaction rules, replacing the base's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactions: Option<Vec<TxnRuleDef>>,
}

/// The header part of a spec file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HeaderDef {
    /// A 5-byte TPDU comes first.
    #[serde(default)]
    pub tpdu: bool,
    /// Header bytes after the TPDU.
    #[serde(default)]
    pub length: usize,
    /// The header is text rather than binary.
    #[serde(default)]
    pub text: bool,
}

/// One field in a spec file. With a `base`, only the keys given change.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// Human name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `n`, `a`, `an`, `as`, `ns`, `ans`, `b`, `z`, `x+n`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `fixed`, `LL`, `LLL`, `LLLL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<String>,
    /// Fixed or maximum length in logical units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u16>,
    /// Prefix encoding: `ascii`, `bcd`, `binary`, `ebcdic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// What the prefix counts: `chars`, `digits`, `bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Data encoding: `ascii`, `bcd`, `binary`, `ebcdic`, `hex`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// BCD alignment: `left` or `right`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub align: Option<String>,
    /// BCD pad nibble: `0`, `F` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad: Option<String>,
    /// Masking: `none`, `pan`, `track`, `secret`, `tlv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitive: Option<String>,
    /// BER-TLV content (EMV).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tlv: Option<bool>,
    /// Character set of text beyond ASCII, for display: `ascii` or `gbk`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charset: Option<String>,
    /// Positional subfields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subfields: Option<Vec<SubfieldDef>>,
}

/// A positional subfield in a spec file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SubfieldDef {
    /// Human name.
    pub name: String,
    /// Logical length.
    pub len: u16,
}

/// A transaction rule in a spec file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TxnRuleDef {
    /// `sale`, `void`, `refund`, `reversal` ... (see [`TxnKind::as_str`]).
    pub kind: String,
    /// MTI pattern with `x` wildcards (`04x0`).
    pub mti: String,
    /// Field path (`3`, `60.1`) to accepted prefixes.
    #[serde(default)]
    pub when: BTreeMap<String, Vec<String>>,
}

/// A spec file that cannot be read or contradicts itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecFileError {
    /// Not valid TOML.
    #[error("spec file is not valid TOML: {0}")]
    Toml(String),
    /// Not valid JSON.
    #[error("spec file is not valid JSON: {0}")]
    Json(String),
    /// Valid syntax, wrong content.
    #[error(transparent)]
    Spec(#[from] SpecError),
}

fn field_err(spec: &str, n: u16, name: &str, reason: String) -> SpecError {
    SpecError::Field {
        spec: spec.into(),
        field: n,
        name: name.into(),
        reason,
    }
}

fn spec_err(spec: &str, reason: String) -> SpecError {
    SpecError::Spec {
        spec: spec.into(),
        reason,
    }
}

/// Parses a spec from TOML or JSON text (JSON when it starts with `{`).
///
/// # Errors
/// [`SpecFileError`] on syntax errors, unknown keys or values, and any
/// inconsistency [`Spec::validate`] finds.
pub fn load_spec(text: &str) -> Result<Spec, SpecFileError> {
    let file: SpecFile = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| SpecFileError::Json(e.to_string()))?
    } else {
        toml::from_str(text).map_err(|e| SpecFileError::Toml(e.to_string()))?
    };
    Ok(file.to_spec()?)
}

macro_rules! choice {
    ($v:expr, $what:expr, { $($s:literal => $e:expr),+ $(,)? }) => {
        match $v.to_ascii_lowercase().as_str() {
            $($s => Ok($e),)+
            other => Err(format!("unknown {} {other:?} (expected one of: {})", $what, [$($s),+].join(", "))),
        }
    };
}

impl SpecFile {
    /// Builds and validates the spec.
    ///
    /// # Errors
    /// [`SpecError`] naming the field or setting at fault.
    pub fn to_spec(&self) -> Result<Spec, SpecError> {
        let name = self.name.as_str();
        let mut spec = match &self.base {
            Some(b) => {
                let base = crate::specs::builtin(b).ok_or_else(|| {
                    spec_err(
                        name,
                        format!(
                            "unknown base spec {b:?} (built-in: {})",
                            crate::specs::NAMES.join(", ")
                        ),
                    )
                })?;
                let mut s = base.as_ref().clone();
                s.name = name.into();
                s
            }
            None => Spec::new(name),
        };
        if let Some(d) = &self.description {
            spec.description = d.clone();
        }
        if let Some(m) = &self.mti {
            spec.mti = choice!(m, "MTI encoding", {"ascii" => MtiEncoding::Ascii, "bcd" => MtiEncoding::Bcd, "ebcdic" => MtiEncoding::Ebcdic})
                .map_err(|e| spec_err(name, e))?;
        }
        if let Some(b) = &self.bitmap {
            spec.bitmap = choice!(b, "bitmap encoding", {"binary" => BitmapEncoding::Binary, "hex" => BitmapEncoding::Hex})
                .map_err(|e| spec_err(name, e))?;
        }
        if let Some(t) = self.tertiary_bitmap {
            spec.tertiary_bitmap = t;
        }
        if let Some(h) = &self.header {
            spec.header = HeaderSpec {
                tpdu: h.tpdu,
                length: h.length,
                text: h.text,
            };
        }
        if let Some(c) = &self.response_codes {
            spec.codes = CodeTable::parse(c).ok_or_else(|| {
                spec_err(
                    name,
                    format!("unknown response code table {c:?} (iso87, iso93, cups)"),
                )
            })?;
        }
        for &n in &self.remove_fields {
            let no = FieldNo::new(n).ok_or_else(|| {
                spec_err(name, format!("remove_fields: {n} is not a field number"))
            })?;
            spec.remove_field(no);
        }
        for (key, def) in &self.fields {
            let n: u16 = key
                .parse()
                .ok()
                .filter(|n| (2..=192).contains(n))
                .ok_or_else(|| {
                    spec_err(
                        name,
                        format!("fields.{key}: field numbers run from 2 to 192"),
                    )
                })?;
            let no = FieldNo::new(n)
                .ok_or_else(|| spec_err(name, format!("fields.{key}: not a field number")))?;
            let fs = def.apply(name, n, spec.field(no).cloned())?;
            spec.set_field(no, fs);
        }
        if let Some(rules) = &self.transactions {
            spec.transactions = rules
                .iter()
                .map(|r| {
                    let kind = TxnKind::parse(&r.kind).ok_or_else(|| {
                        spec_err(name, format!("transactions: unknown kind {:?}", r.kind))
                    })?;
                    if r.mti.len() != 4
                        || !r
                            .mti
                            .bytes()
                            .all(|c| c.is_ascii_digit() || c == b'x' || c == b'X')
                    {
                        return Err(spec_err(
                            name,
                            format!("transactions: MTI pattern {:?} is not 4 digits or x", r.mti),
                        ));
                    }
                    Ok(TxnRule {
                        kind,
                        mti: r.mti.clone(),
                        when: r
                            .when
                            .iter()
                            .map(|(path, any_of)| Condition {
                                path: path.clone(),
                                any_of: any_of.clone(),
                            })
                            .collect(),
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        spec.validate()?;
        Ok(spec)
    }

    /// The complete file form of a spec (every field spelled out).
    pub fn from_spec(spec: &Spec) -> SpecFile {
        let s = |x: &str| Some(x.to_string());
        SpecFile {
            name: spec.name.clone(),
            base: None,
            description: Some(spec.description.clone()),
            mti: s(match spec.mti {
                MtiEncoding::Ascii => "ascii",
                MtiEncoding::Bcd => "bcd",
                MtiEncoding::Ebcdic => "ebcdic",
            }),
            bitmap: s(match spec.bitmap {
                BitmapEncoding::Binary => "binary",
                BitmapEncoding::Hex => "hex",
            }),
            tertiary_bitmap: Some(spec.tertiary_bitmap),
            header: Some(HeaderDef {
                tpdu: spec.header.tpdu,
                length: spec.header.length,
                text: spec.header.text,
            }),
            response_codes: s(spec.codes.as_str()),
            fields: spec
                .fields()
                .map(|(n, f)| (n.to_string(), FieldDef::from_field(f)))
                .collect(),
            remove_fields: Vec::new(),
            transactions: Some(
                spec.transactions
                    .iter()
                    .map(|r| TxnRuleDef {
                        kind: r.kind.as_str().into(),
                        mti: r.mti.clone(),
                        when: r
                            .when
                            .iter()
                            .map(|c| (c.path.clone(), c.any_of.clone()))
                            .collect(),
                    })
                    .collect(),
            ),
        }
    }
}

impl FieldDef {
    fn apply(&self, spec: &str, n: u16, base: Option<FieldSpec>) -> Result<FieldSpec, SpecError> {
        let fname = self
            .name
            .clone()
            .or_else(|| base.as_ref().map(|b| b.name.clone()))
            .unwrap_or_else(|| format!("Field {n}"));
        let e = |reason: String| field_err(spec, n, &fname, reason);
        let kind = match (&self.kind, &base) {
            (Some(k), _) => FieldKind::parse(k).ok_or_else(|| {
                e(format!(
                    "unknown type {k:?} (n, a, an, as, ns, ans, b, z, x+n)"
                ))
            })?,
            (None, Some(b)) => b.kind,
            (None, None) => return Err(e("a new field needs a type".into())),
        };
        let max = match (self.max, &base) {
            (Some(m), _) => m,
            (None, Some(b)) => b.length.max(),
            (None, None) => {
                return Err(e(
                    "a new field needs max (its fixed or maximum length)".into()
                ));
            }
        };
        let length = match (&self.length, &base) {
            (Some(l), _) => choice!(l, "length", {
                "fixed" => Length::Fixed(max),
                "ll" => Length::Variable { digits: 2, max },
                "lll" => Length::Variable { digits: 3, max },
                "llll" => Length::Variable { digits: 4, max },
            })
            .map_err(e)?,
            (None, Some(b)) => match b.length {
                Length::Fixed(_) => Length::Fixed(max),
                Length::Variable { digits, .. } => Length::Variable { digits, max },
            },
            (None, None) => {
                return Err(e("a new field needs length (fixed, LL, LLL or LLLL)".into()));
            }
        };
        let mut f = base.unwrap_or_else(|| FieldSpec::new(fname.clone(), kind, length));
        f.name = fname.clone();
        if f.kind != kind {
            // A new type: re-derive the encoding unless the file sets one.
            f.encoding = if kind == FieldKind::B {
                DataEncoding::Binary
            } else if f.encoding == DataEncoding::Binary
                || f.encoding == DataEncoding::Hex
                || (f.encoding == DataEncoding::Bcd && !kind.is_numeric())
            {
                DataEncoding::Ascii
            } else {
                f.encoding
            };
            if kind == FieldKind::B && matches!(f.subfields, Subfields::Positional(_)) {
                f.subfields = Subfields::None;
            }
        }
        f.kind = kind;
        f.length = length;
        if let Some(p) = &self.prefix {
            f.prefix = choice!(p, "prefix", {"ascii" => PrefixEncoding::Ascii, "bcd" => PrefixEncoding::Bcd, "binary" => PrefixEncoding::Binary, "ebcdic" => PrefixEncoding::Ebcdic}).map_err(e)?;
        }
        if let Some(u) = &self.unit {
            f.unit = choice!(u, "unit", {"chars" => LengthUnit::Chars, "digits" => LengthUnit::Digits, "bytes" => LengthUnit::Bytes}).map_err(e)?;
        }
        if let Some(x) = &self.encoding {
            f.encoding = choice!(x, "encoding", {"ascii" => DataEncoding::Ascii, "bcd" => DataEncoding::Bcd, "binary" => DataEncoding::Binary, "ebcdic" => DataEncoding::Ebcdic, "hex" => DataEncoding::Hex}).map_err(e)?;
        }
        if let Some(a) = &self.align {
            f.align =
                choice!(a, "align", {"left" => Align::Left, "right" => Align::Right}).map_err(e)?;
        }
        if let Some(p) = &self.pad {
            f.pad =
                choice!(p, "pad", {"0" => Some(Pad::Zero), "f" => Some(Pad::F), "none" => None})
                    .map_err(e)?;
        }
        if let Some(s) = &self.sensitive {
            f.sensitivity = choice!(s, "sensitivity", {"none" => Sensitivity::Public, "pan" => Sensitivity::Pan, "track" => Sensitivity::Track, "secret" => Sensitivity::Secret, "tlv" => Sensitivity::Tlv}).map_err(e)?;
        }
        if let Some(t) = self.tlv {
            f.subfields = if t { Subfields::Tlv } else { Subfields::None };
        }
        if let Some(c) = &self.charset {
            f.charset = Charset::parse(c)
                .ok_or_else(|| e(format!("charset {c:?}: expected ascii or gbk")))?;
        }
        if let Some(parts) = &self.subfields {
            f.subfields = Subfields::Positional(
                parts
                    .iter()
                    .enumerate()
                    .map(|(i, p)| SubfieldSpec {
                        id: format!("{n}.{}", i + 1),
                        name: p.name.clone(),
                        len: p.len,
                    })
                    .collect(),
            );
        }
        Ok(f)
    }

    fn from_field(f: &FieldSpec) -> FieldDef {
        let s = |x: &str| Some(x.to_string());
        FieldDef {
            name: Some(f.name.clone()),
            kind: s(f.kind.as_str()),
            length: s(f.length.kind_str()),
            max: Some(f.length.max()),
            prefix: s(match f.prefix {
                PrefixEncoding::Ascii => "ascii",
                PrefixEncoding::Bcd => "bcd",
                PrefixEncoding::Binary => "binary",
                PrefixEncoding::Ebcdic => "ebcdic",
            }),
            unit: s(match f.unit {
                LengthUnit::Chars => "chars",
                LengthUnit::Digits => "digits",
                LengthUnit::Bytes => "bytes",
            }),
            encoding: s(match f.encoding {
                DataEncoding::Ascii => "ascii",
                DataEncoding::Bcd => "bcd",
                DataEncoding::Binary => "binary",
                DataEncoding::Ebcdic => "ebcdic",
                DataEncoding::Hex => "hex",
            }),
            align: s(match f.align {
                Align::Left => "left",
                Align::Right => "right",
            }),
            pad: s(match f.pad {
                Some(Pad::Zero) => "0",
                Some(Pad::F) => "F",
                None => "none",
            }),
            sensitive: match f.sensitivity {
                Sensitivity::Public => None,
                Sensitivity::Pan => s("pan"),
                Sensitivity::Track => s("track"),
                Sensitivity::Secret => s("secret"),
                Sensitivity::Tlv => s("tlv"),
            },
            tlv: matches!(f.subfields, Subfields::Tlv).then_some(true),
            charset: (f.charset != Charset::Ascii).then(|| f.charset.as_str().to_string()),
            subfields: match &f.subfields {
                Subfields::Positional(p) => Some(
                    p.iter()
                        .map(|p| SubfieldDef {
                            name: p.name.clone(),
                            len: p.len,
                        })
                        .collect(),
                ),
                _ => None,
            },
        }
    }
}

/// The spec as a complete TOML document (for `cardwire specs --dump`).
///
/// # Errors
/// When TOML serialisation fails (it should not for a valid spec).
pub fn to_toml(spec: &Spec) -> Result<String, SpecFileError> {
    toml::to_string(&SpecFile::from_spec(spec)).map_err(|e| SpecFileError::Toml(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_survives_a_dump_and_reload_unchanged() {
        for name in crate::specs::NAMES {
            let spec = crate::specs::builtin(name).unwrap();
            let text = to_toml(spec).unwrap();
            let back = load_spec(&text).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
            assert_eq!(&back, spec.as_ref(), "{name}");
            let json = serde_json::to_string(&SpecFile::from_spec(spec)).unwrap();
            assert_eq!(&load_spec(&json).unwrap(), spec.as_ref(), "{name} json");
        }
    }

    #[test]
    fn inconsistent_specs_are_rejected_naming_the_field() {
        let odd = load_spec(
            "name = \"x\"\nmti = \"bcd\"\n[fields.3]\nname = \"Processing code\"\ntype = \"n\"\nlength = \"fixed\"\nmax = 5\nencoding = \"bcd\"\npad = \"none\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            odd.contains("field 3 (Processing code)") && odd.contains("odd"),
            "{odd}"
        );
        let cap = load_spec(
            "name = \"x\"\n[fields.2]\nname = \"PAN\"\ntype = \"n\"\nlength = \"LL\"\nmax = 100\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            cap.contains("field 2 (PAN)") && cap.contains("holds at most 99"),
            "{cap}"
        );
        let unknown =
            load_spec("name = \"x\"\n[fields.2]\ntype = \"q\"\nlength = \"LL\"\nmax = 19\n")
                .unwrap_err()
                .to_string();
        assert!(unknown.contains("unknown type"), "{unknown}");
        let typo = load_spec("name = \"x\"\nbitmapp = \"hex\"\n")
            .unwrap_err()
            .to_string();
        assert!(typo.contains("bitmapp"), "{typo}");
    }
}
