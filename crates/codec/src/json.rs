//! The JSON form of a message (feature `serde`), shared by
//! `cardwire decode --json` and `cardwire encode`:
//!
//! ```json
//! {"spec": "cups", "mti": "0200", "tpdu": "6000030000", "header": "603100311003",
//!  "fields": {"2": "6225880000000001", "3": "000000", "55": "9F2608..."}}
//! ```
//!
//! Text and numeric fields are strings; binary fields are uppercase hex.
//! Text that is not UTF-8 (GBK names in field 43, say) is `{"hex": "..."}`
//! with the exact bytes, plus `"text"` when it reads as text in the
//! field's character set (for display; [`from_json`] reads `"hex"`).
//! Sensitive fields are masked unless the caller asks otherwise, and a
//! masked message cannot be encoded back (its digits are gone).

use serde_json::{Map, Value as Json, json};

use crate::message::{Message, MessageRef};
use crate::spec::Spec;
use crate::types::FieldNo;

/// A JSON message that does not fit the spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct JsonError {
    /// Where: `mti`, `tpdu`, `fields.4` ...
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

fn jerr(path: impl Into<String>, reason: impl Into<String>) -> JsonError {
    JsonError {
        path: path.into(),
        reason: reason.into(),
    }
}

/// The JSON form of a decoded message. With `unmask` false, sensitive
/// fields are masked.
pub fn to_json(msg: &MessageRef<'_>, unmask: bool) -> Json {
    let spec = msg.spec();
    let mut fields = Map::new();
    for f in msg.fields() {
        let v = if !unmask && f.is_sensitive() {
            Json::String(crate::mask::masked(&f))
        } else if f.value.is_binary() || f.value.is_utf8() {
            Json::String(f.value.to_string())
        } else {
            let mut v = Map::new();
            v.insert("hex".into(), hex::encode_upper(f.value.to_vec()).into());
            if let Some(text) = f.text() {
                v.insert("text".into(), text.into());
            }
            Json::Object(v)
        };
        fields.insert(f.no.to_string(), v);
    }
    let header = msg.header().map(|h| {
        if spec.header.text {
            match core::str::from_utf8(h) {
                Ok(s) => Json::String(s.into()),
                Err(_) => json!({ "hex": hex::encode_upper(h) }),
            }
        } else {
            Json::String(hex::encode_upper(h))
        }
    });
    let mut out = Map::new();
    out.insert("spec".into(), Json::String(spec.name.clone()));
    out.insert("mti".into(), Json::String(msg.mti().to_string()));
    out.insert(
        "tpdu".into(),
        msg.tpdu()
            .map(hex::encode_upper)
            .map_or(Json::Null, Json::String),
    );
    out.insert("header".into(), header.unwrap_or(Json::Null));
    let needed = msg.bitmaps_needed();
    if msg.bitmaps_on_wire() > needed {
        // Only when the sender sent more bitmaps than its fields need, so
        // that encoding reproduces the frame exactly.
        out.insert("bitmaps".into(), json!(msg.bitmaps_on_wire()));
    }
    out.insert("fields".into(), Json::Object(fields));
    Json::Object(out)
}

fn text_or_hex(path: &str, v: &Json, binary: bool) -> Result<Vec<u8>, JsonError> {
    match v {
        Json::String(s) if binary => {
            hex::decode(s.trim()).map_err(|e| jerr(path, format!("binary fields are hex: {e}")))
        }
        Json::String(s) => Ok(s.as_bytes().to_vec()),
        Json::Object(o) => match o.get("hex") {
            Some(Json::String(h)) => {
                hex::decode(h.trim()).map_err(|e| jerr(path, format!("bad hex: {e}")))
            }
            _ => Err(jerr(path, "an object value must be {\"hex\": \"...\"}")),
        },
        Json::Number(n) if !binary => Ok(n.to_string().into_bytes()),
        _ => Err(jerr(path, "expected a string")),
    }
}

/// Reads the JSON form back into a [`Message`] for `spec`.
///
/// # Errors
/// [`JsonError`] naming the path (`fields.4`) and the problem. Values are
/// checked against the spec by [`crate::encode`], not here.
pub fn from_json(spec: &Spec, v: &Json) -> Result<Message, JsonError> {
    let obj = v
        .as_object()
        .ok_or_else(|| jerr("$", "expected a JSON object"))?;
    let mti = obj
        .get("mti")
        .and_then(Json::as_str)
        .ok_or_else(|| jerr("mti", "missing"))?
        .parse()
        .map_err(|_| jerr("mti", "an MTI is four digits"))?;
    let mut m = Message::new(mti);
    match obj.get("tpdu") {
        None | Some(Json::Null) => {}
        Some(t) => m.tpdu = Some(text_or_hex("tpdu", t, true)?.into()),
    }
    match obj.get("header") {
        None | Some(Json::Null) => {}
        Some(h) => m.header = Some(text_or_hex("header", h, !spec.header.text)?.into()),
    }
    if let Some(b) = obj.get("bitmaps") {
        m.min_bitmaps = b
            .as_u64()
            .filter(|b| (1..=3).contains(b))
            .ok_or_else(|| jerr("bitmaps", "1, 2 or 3"))? as u8;
    }
    let fields = obj
        .get("fields")
        .and_then(Json::as_object)
        .ok_or_else(|| jerr("fields", "missing or not an object"))?;
    for (k, v) in fields {
        let path = format!("fields.{k}");
        let no = k
            .parse::<u16>()
            .ok()
            .and_then(FieldNo::new)
            .ok_or_else(|| jerr(&path, "not a field number"))?;
        let fs = spec.field(no).ok_or_else(|| {
            jerr(
                &path,
                format!("spec {} does not define this field", spec.name),
            )
        })?;
        let value = text_or_hex(&path, v, fs.kind == crate::spec::FieldKind::B)?;
        m.set_no(no, value);
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, encode_to_vec, specs};

    #[test]
    fn json_round_trips_unmasked_and_masks_by_default() {
        let spec = specs::iso87ascii();
        let m = Message::new("0200".parse().unwrap())
            .with(2, "4761739001010010")
            .with(3, "000000")
            .with(4, "000000001000")
            .with(52, vec![0x12u8, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0])
            .with(90, "010000000100000000000000000000000000000000");
        let wire = encode_to_vec(spec, &m).unwrap();
        let msg = decode(spec, &wire).unwrap();
        let clear = to_json(&msg, true);
        assert_eq!(clear["fields"]["52"], "123456789ABCDEF0");
        assert_eq!(clear["tpdu"], Json::Null);
        let back = from_json(spec, &clear).unwrap();
        assert_eq!(encode_to_vec(spec, &back).unwrap(), wire);
        let masked = to_json(&msg, false);
        assert_eq!(masked["fields"]["2"], "476173******0010");
        assert_eq!(masked["fields"]["52"], "****************");
        // Masked values cannot be encoded back: the error names the field.
        assert_eq!(from_json(spec, &masked).unwrap_err().path, "fields.52");
        let mut pan_only = masked.clone();
        pan_only["fields"].as_object_mut().unwrap().remove("52");
        let err = encode_to_vec(spec, &from_json(spec, &pan_only).unwrap()).unwrap_err();
        assert_eq!(err.field.map(|f| f.get()), Some(2));
        let bad = from_json(spec, &json!({"mti": "0200", "fields": {"300": "x"}})).unwrap_err();
        assert_eq!(bad.path, "fields.300");
    }
}
