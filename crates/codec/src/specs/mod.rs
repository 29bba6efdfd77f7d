//! The built-in dialects.
//!
//! | name | MTI | bitmap | numerics | binary | prefixes |
//! |---|---|---|---|---|---|
//! | `iso87ascii` | ASCII | 16 hex chars | ASCII | hex text | ASCII |
//! | `iso87binary` | BCD | 8 bytes | BCD | raw | BCD |
//! | `iso93ascii` | ASCII | 16 hex chars, tertiary | ASCII | hex text | ASCII |
//! | `cups` | BCD | 8 bytes | BCD | raw | BCD |
//!
//! `cups` is the UnionPay POS terminal dialect:
//!
//! ```text
//! | TPDU 5B: 60 DDDD SSSS | HEADER 6B | MTI 2B BCD | BITMAP 8B | fields |
//! ```

use std::sync::{Arc, OnceLock};

use crate::codes::CodeTable;
use crate::spec::txn;
use crate::spec::{
    Align, BitmapEncoding, Charset, DataEncoding, FieldKind, FieldSpec, HeaderSpec, Length,
    LengthUnit, MtiEncoding, Pad, PrefixEncoding, Sensitivity, Spec, SubfieldSpec, Subfields,
};
use crate::types::FieldNo;

mod tables;
use tables::Row;

/// Names of the built-in specs.
pub const NAMES: [&str; 4] = ["iso87ascii", "iso87binary", "iso93ascii", "cups"];

/// A built-in spec by name.
pub fn builtin(name: &str) -> Option<&'static Arc<Spec>> {
    static ALL: [OnceLock<Arc<Spec>>; 4] = [const { OnceLock::new() }; 4];
    let i = NAMES.iter().position(|n| n.eq_ignore_ascii_case(name))?;
    let cell = ALL.get(i)?;
    Some(cell.get_or_init(|| {
        Arc::new(match i {
            0 => build_iso87ascii(),
            1 => build_iso87binary(),
            2 => build_iso93ascii(),
            _ => build_cups(),
        })
    }))
}

fn get(name: &str) -> &'static Spec {
    match builtin(name) {
        Some(s) => s,
        None => unreachable!("built-in spec {name} exists"),
    }
}

/// ISO 8583:1987, everything ASCII, hex-text bitmap; binary fields as hex
/// text (52 and 64 are 16 characters), `x+n` as sign plus digits.
pub fn iso87ascii() -> &'static Spec {
    get("iso87ascii")
}

/// ISO 8583:1987 with BCD numerics, binary bitmap and BCD length prefixes.
pub fn iso87binary() -> &'static Spec {
    get("iso87binary")
}

/// ISO 8583:1993, ASCII, with the tertiary bitmap (fields 129-192).
pub fn iso93ascii() -> &'static Spec {
    get("iso93ascii")
}

/// The UnionPay POS terminal dialect (TPDU + 6-byte header, BCD).
pub fn cups() -> &'static Spec {
    get("cups")
}

fn kind(t: &str) -> FieldKind {
    FieldKind::parse(t).unwrap_or(FieldKind::Ans)
}

fn length(l: &str, max: u16) -> Length {
    match l {
        "LL" => Length::Variable { digits: 2, max },
        "LLL" => Length::Variable { digits: 3, max },
        "LLLL" => Length::Variable { digits: 4, max },
        _ => Length::Fixed(max),
    }
}

/// The masking rule ISO fields get in every built-in dialect.
fn sensitivity(n: u8) -> Sensitivity {
    match n {
        2 | 34 => Sensitivity::Pan,
        35 | 36 | 45 => Sensitivity::Track,
        14 | 52 | 64 | 96 | 128 => Sensitivity::Secret,
        55 => Sensitivity::Tlv,
        _ => Sensitivity::Public,
    }
}

fn no(n: u8) -> FieldNo {
    FieldNo::new(u16::from(n)).unwrap_or_else(|| unreachable!())
}

/// Builds a spec from a table, choosing each field's wire form with `f`.
fn from_table(name: &str, description: &str, rows: &[Row], f: impl Fn(&mut FieldSpec, u8)) -> Spec {
    let mut s = Spec::new(name);
    s.description = description.into();
    for &(n, fname, t, l, max) in rows {
        let mut fs = FieldSpec::new(fname, kind(t), length(l, max));
        fs.sensitivity = sensitivity(n);
        if n == 55 {
            fs.subfields = Subfields::Tlv;
        }
        f(&mut fs, n);
        s.set_field(no(n), fs);
    }
    s
}

fn ascii_profile(fs: &mut FieldSpec, hex_unit: LengthUnit) {
    fs.prefix = PrefixEncoding::Ascii;
    if fs.kind == FieldKind::B {
        fs.encoding = DataEncoding::Hex;
        fs.unit = hex_unit;
    } else {
        fs.encoding = DataEncoding::Ascii;
        fs.unit = LengthUnit::Chars;
    }
}

fn build_iso87ascii() -> Spec {
    let mut s = from_table(
        "iso87ascii",
        "ISO 8583:1987, ASCII throughout, hex bitmap, binary fields as hex text",
        tables::ISO87,
        // pyiso8583's default_ascii counts hex characters in variable binary prefixes.
        |fs, _| ascii_profile(fs, LengthUnit::Chars),
    );
    s.transactions = txn::iso87_rules();
    s
}

fn build_iso93ascii() -> Spec {
    let mut s = from_table(
        "iso93ascii",
        "ISO 8583:1993, ASCII throughout, hex bitmaps with tertiary bitmap, 3-digit action codes",
        tables::ISO93,
        // jPOS's ISO93APackager counts bytes in variable binary prefixes.
        |fs, _| ascii_profile(fs, LengthUnit::Bytes),
    );
    for n in 129..=192u8 {
        let mut fs = FieldSpec::new(
            "Reserved for private use",
            FieldKind::Ans,
            length("LLL", 999),
        );
        ascii_profile(&mut fs, LengthUnit::Bytes);
        s.set_field(no(n), fs);
    }
    s.tertiary_bitmap = true;
    s.codes = CodeTable::Iso93;
    s.transactions = txn::iso93_rules();
    s
}

/// BCD numerics, raw binary, BCD prefixes counting digits for numerics and
/// bytes otherwise; fixed numerics right-aligned, variable ones left-aligned,
/// pad nibble 0.
fn bcd_profile(fs: &mut FieldSpec) {
    fs.prefix = PrefixEncoding::Bcd;
    fs.pad = Some(Pad::Zero);
    if matches!(fs.kind, FieldKind::N | FieldKind::Z | FieldKind::XN) {
        fs.encoding = DataEncoding::Bcd;
        fs.unit = LengthUnit::Digits;
        fs.align = match fs.length {
            Length::Fixed(_) => Align::Right,
            Length::Variable { .. } => Align::Left,
        };
    } else if fs.kind == FieldKind::B {
        fs.encoding = DataEncoding::Binary;
        fs.unit = LengthUnit::Bytes;
    } else {
        fs.encoding = DataEncoding::Ascii;
        fs.unit = LengthUnit::Bytes;
    }
}

fn build_iso87binary() -> Spec {
    let mut s = from_table(
        "iso87binary",
        "ISO 8583:1987, BCD numerics, binary bitmap, BCD length prefixes",
        tables::ISO87,
        |fs, _| bcd_profile(fs),
    );
    s.mti = MtiEncoding::Bcd;
    s.bitmap = BitmapEncoding::Binary;
    s.transactions = txn::iso87_rules();
    s
}

fn parts(prefix: &str, list: &[(&str, u16)]) -> Subfields {
    Subfields::Positional(
        list.iter()
            .enumerate()
            .map(|(i, (name, len))| SubfieldSpec {
                id: format!("{prefix}.{}", i + 1),
                name: (*name).into(),
                len: *len,
            })
            .collect(),
    )
}

fn build_cups() -> Spec {
    let mut s = from_table(
        "cups",
        "UnionPay POS terminal dialect: TPDU + 6-byte header, BCD MTI and numerics, binary bitmap",
        tables::CUPS,
        |fs, n| {
            bcd_profile(fs);
            match n {
                // Entry mode and field 60 are left-aligned even when fixed.
                22 => fs.align = Align::Left,
                49 => fs.kind = FieldKind::An,
                62 => fs.sensitivity = Sensitivity::Secret,
                // Merchant name, and the issuer's and acquirer's texts.
                43 | 56 | 63 => fs.charset = Charset::Gbk,
                _ => {}
            }
        },
    );
    if let Some(mut f) = s.field_mut(no(60)) {
        f.subfields = parts(
            "60",
            &[
                ("transaction type", 2),
                ("batch number", 6),
                ("network management code", 3),
                ("terminal read capability", 1),
                ("IC card condition code", 1),
                ("partial approval flag", 1),
                ("account type", 3),
                // Acquirers that extended the field send more digits.
                ("further data", 47),
            ],
        );
    }
    if let Some(mut f) = s.field_mut(no(61)) {
        f.subfields = parts(
            "61",
            &[
                ("original batch number", 6),
                ("original trace number", 6),
                ("original transaction date", 4),
                ("original authorisation mode", 2),
                ("original authorising institution", 11),
            ],
        );
    }
    if let Some(mut f) = s.field_mut(no(44)) {
        f.subfields = parts(
            "44",
            &[
                ("issuer identification", 11),
                ("acquirer identification", 11),
            ],
        );
    }
    s.mti = MtiEncoding::Bcd;
    s.bitmap = BitmapEncoding::Binary;
    s.header = HeaderSpec {
        tpdu: true,
        length: 6,
        text: false,
    };
    s.codes = CodeTable::Cups;
    s.transactions = txn::cups_rules();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_spec_is_consistent() {
        for name in NAMES {
            let s = builtin(name).unwrap();
            s.validate().unwrap();
            assert!(s.fields().count() >= 30, "{name}");
        }
        for rows in [tables::ISO87, tables::ISO93, tables::CUPS] {
            for r in rows {
                assert!(
                    FieldKind::parse(r.2).is_some(),
                    "type {} of field {}",
                    r.2,
                    r.0
                );
            }
        }
    }

    #[test]
    fn builtins_carry_the_documented_wire_forms() {
        let a = iso87ascii();
        assert_eq!(a.field(no(52)).unwrap().wire_len(8), 16);
        let f28 = a.field(no(28)).unwrap();
        assert_eq!(f28.wire_len(f28.logical_chars(8)), 9);
        assert_eq!(iso87binary().field(no(28)).unwrap().wire_len(9), 5);
        let c = cups();
        assert_eq!(c.header_len(), 11);
        assert_eq!(c.field(no(22)).unwrap().align, Align::Left);
        assert_eq!(c.field(no(23)).unwrap().align, Align::Right);
        assert_eq!(iso93ascii().field(no(39)).unwrap().length, Length::Fixed(3));
        assert!(iso93ascii().field(no(65)).is_none());
    }
}
