//! Published and peer-generated vectors (data only, sources named in each
//! JSON entry): every field's value must decode as the source says, and
//! re-encoding must give back the same bytes.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use std::sync::Arc;

use cardwire_codec::spec::{BitmapEncoding, DataEncoding, FieldKind, LengthUnit, Sensitivity};
use cardwire_codec::{FieldNo, Spec, decode, encode_to_vec, specs};
use serde_json::Value as Json;

fn load(file: &str) -> Vec<Json> {
    let path = format!("{}/tests/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    match serde_json::from_str(&text).unwrap() {
        Json::Array(v) => v,
        _ => panic!("{path}: not an array"),
    }
}

fn no(n: u16) -> FieldNo {
    FieldNo::new(n).unwrap()
}

/// pyiso8583's `default` spec: ASCII numerics and prefixes, binary
/// bitmap, raw binary fields whose prefixes count bytes. Built here as a
/// user would build a dialect, from a built-in.
fn pyiso8583_default() -> Spec {
    let mut s = specs::iso87ascii().clone();
    s.name = "pyiso8583-default".into();
    s.bitmap = BitmapEncoding::Binary;
    let binary: Vec<FieldNo> = s
        .fields()
        .filter(|(_, f)| f.kind == FieldKind::B)
        .map(|(n, _)| n)
        .collect();
    for n in binary {
        let mut f = s.field_mut(n).unwrap();
        f.encoding = DataEncoding::Binary;
        f.unit = LengthUnit::Bytes;
    }
    s.validate().unwrap();
    s
}

/// The spec a vector names, with the per-vector deviations its source
/// documents (`field_encodings`).
fn spec_for(v: &Json) -> (Arc<Spec>, Vec<u16>) {
    let mut spec = match v["spec"].as_str().unwrap() {
        "pyiso8583-default" => pyiso8583_default(),
        name => specs::builtin(name).unwrap().as_ref().clone(),
    };
    let mut skip_value = Vec::new();
    if let Some(enc) = v.get("field_encodings").and_then(Json::as_object) {
        for (k, e) in enc {
            let n: u16 = k.parse().unwrap();
            let e = e.as_str().unwrap();
            if e.starts_with("hex") {
                let mut f = spec.field_mut(no(n)).unwrap();
                f.kind = FieldKind::B;
                f.encoding = DataEncoding::Binary;
                f.sensitivity = Sensitivity::Public;
            } else if e == "gbk" {
                // The source shows GBK text decoded to Unicode; we keep
                // the bytes, so only the round trip is compared.
                skip_value.push(n);
            }
        }
    }
    (Arc::new(spec), skip_value)
}

fn check_file(file: &str) -> usize {
    let mut n = 0;
    for v in load(file) {
        let src = v["source"].as_str().unwrap();
        let bytes = hex::decode(v["hex"].as_str().unwrap()).unwrap();
        let (spec, skip) = spec_for(&v);
        let msg = decode(&spec, &bytes).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(msg.mti().as_str(), v["mti"].as_str().unwrap(), "{src}");
        let want_tpdu = v["tpdu"].as_str().map(str::to_owned);
        assert_eq!(msg.tpdu().map(hex::encode_upper), want_tpdu, "{src}: tpdu");
        let want_header = v["header"].as_str().map(str::to_owned);
        assert_eq!(
            msg.header().map(hex::encode_upper),
            want_header,
            "{src}: header"
        );
        let fields = v["fields"].as_object().unwrap();
        let present: Vec<String> = msg.fields().map(|f| f.no.to_string()).collect();
        let mut expected: Vec<String> = fields.keys().cloned().collect();
        expected.sort_by_key(|k| k.parse::<u16>().unwrap());
        assert_eq!(present, expected, "{src}: field set");
        for (k, want) in fields {
            let n: u16 = k.parse().unwrap();
            if skip.contains(&n) {
                continue;
            }
            let got = msg.value(n as u8).unwrap().to_string();
            assert_eq!(got, want.as_str().unwrap(), "{src}: field {k}");
        }
        let again =
            encode_to_vec(&spec, &msg.to_message()).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(
            hex::encode_upper(&again),
            hex::encode_upper(&bytes),
            "{src}: re-encode"
        );
        n += 1;
    }
    n
}

#[test]
fn pyiso8583_vectors_decode_field_by_field_and_reencode_identically() {
    assert!(check_file("pyiso8583.json") >= 10);
}

#[test]
fn moov_vectors_decode_field_by_field_and_reencode_identically() {
    assert!(check_file("moov.json") >= 5);
}

#[test]
fn unionpay_pos_frames_decode_field_by_field_and_reencode_identically() {
    assert!(check_file("unionpay.json") >= 8);
    assert!(check_file("unionpay_extra.json") >= 9);
}

#[test]
fn unionpay_sale_exposes_subfields_tlv_and_transaction_type() {
    let v = load("unionpay.json")
        .into_iter()
        .find(|v| v["mti"] == "0200")
        .unwrap();
    let bytes = hex::decode(v["hex"].as_str().unwrap()).unwrap();
    let (spec, _) = spec_for(&v);
    let msg = decode(&spec, &bytes).unwrap();
    let f60 = msg.field(60).unwrap();
    assert_eq!(f60.subfield(1).unwrap().to_string(), "22");
    assert_eq!(msg.transaction(), cardwire_codec::TxnKind::Sale);
    let f55 = msg.value(55).unwrap();
    let tlv = f55.as_binary().unwrap();
    let tags: Vec<u32> = cardwire_codec::tlv::walk(tlv)
        .map(|t| t.unwrap().tag)
        .collect();
    assert!(tags.contains(&0x9F26), "{tags:X?}");
    // The MAC input runs from the MTI to the start of field 64.
    let mab = msg.mac_input(64);
    assert_eq!(&mab[..2], &[0x02, 0x00]);
    assert_eq!(mab.len(), bytes.len() - 11 - 8);
    // Display masks the PAN.
    let shown = msg.to_string();
    assert!(shown.contains("622424******0069"), "{shown}");
    assert!(!shown.contains("6224242300000069"));
}
