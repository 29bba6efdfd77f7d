//! `cardwire decode` (and `encode`), run as the built binary.

#![allow(missing_docs, clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

use cardwire_codec::{decode, specs};

/// The `cups-sale` sample (crates/cli/src/samples.rs).
const CUPS_SALE: &str = "60000300006031003110030200702406C020C09A1119622202123456789012300000000000000123450001232912051000010012376222021234567890123D29122011234500000031303031363931393839383331303034383132303030313135363A6C9F0E12B4D7C8260000000000000001339F2608A1B2C3D4E5F607089F2701809F100707011703A000009F3704F1E2D3C49F36020047950500000000009A032611219C01009F02060000000123455F2A02015682027C009F1A0201569F03060000000000009F3303E0F1C89F34034203009F3501229F1E0831323334353637388408A0000003330101029F090200209F4104000001230014220000010005003736323841354334";

/// The `iso87-0200` sample (crates/cli/src/samples.rs).
const ISO87_0200: &str = "303230303732334334363931323845303941303131363437363137333930303130313031313930303030303030303030303030313235303030333231313031353330303030313233313031353330303332313235313235343131303531303031303044303030303031353030363132333435363334343736313733393030313031303131393D32353132323031313735383932383838393330383031303030303132335445524D303030314D45524348414E543030303030303141434D452053544F524520313233204D41494E205354205348414E4748414920202020205348434E31353631413242334334443545364637303831323630303030303030303030303030303034303946323630384131423243334434453546363037303839463237303138303946333630323030314330313032303330343035303630373038";

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cardwire"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(data) = stdin {
        child.stdin.take().unwrap().write_all(data).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn decode_sample_masks_the_pan() {
    let o = run(&["decode", "--sample", "cups-sale"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(!out.contains("6222021234567890123"), "{out}");
    assert!(out.contains("622202"), "{out}");
    assert!(out.contains("0123"), "{out}");
}

#[test]
fn decode_json_unmask_then_encode_reproduces_the_frame() {
    let o = run(
        &["decode", "--sample", "cups-sale", "--json", "--unmask"],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let e = run(&["encode"], Some(&o.stdout));
    assert!(e.status.success(), "{}", stderr(&e));
    assert_eq!(stdout(&e).trim(), CUPS_SALE);

    let o = run(
        &[
            "decode",
            "--spec",
            "iso87ascii",
            "--json",
            "--unmask",
            ISO87_0200,
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let e = run(&["encode"], Some(&o.stdout));
    assert!(e.status.success(), "{}", stderr(&e));
    assert_eq!(stdout(&e).trim(), ISO87_0200);
}

#[test]
fn non_digit_in_field_4_names_field_and_byte() {
    let mut frame = hex::decode(ISO87_0200).unwrap();
    let spec = specs::builtin("iso87ascii").unwrap();
    let offset = {
        let msg = decode(spec, &frame).unwrap();
        let f4 = msg.field(4).unwrap();
        f4.wire.as_ptr() as usize - frame.as_ptr() as usize
    };
    frame[offset + 3] = b'X';
    let bad = hex::encode_upper(&frame);
    let o = run(&["decode", "--spec", "iso87ascii", &bad], None);
    assert_ne!(o.status.code(), Some(0));
    let err = stderr(&o);
    assert!(err.contains("field 4"), "{err}");
    assert!(err.contains("byte"), "{err}");
    // Without --spec, no built-in decodes it strictly; iso87ascii does
    // leniently, with field 4's stray character as its one warning.
    let o = run(&["decode", &bad], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("spec    iso87ascii  (lenient:"), "{out}");
    assert!(out.contains("fewest warnings (1)"), "{out}");
    assert!(
        out.contains("warning: field 4 (Amount, transaction) at byte"),
        "{out}"
    );
}

#[test]
fn a_strict_failure_shows_the_fields_before_it_then_the_error_and_exits_2() {
    let mut frame = hex::decode(ISO87_0200).unwrap();
    let spec = specs::builtin("iso87ascii").unwrap();
    let offset = {
        let msg = decode(spec, &frame).unwrap();
        let f = msg.field(11).unwrap();
        f.wire.as_ptr() as usize - frame.as_ptr() as usize
    };
    frame[offset] = b'X';
    let bad = hex::encode_upper(&frame);
    let o = run(&["decode", "--spec", "iso87ascii", &bad], None);
    assert_eq!(o.status.code(), Some(2));
    let out = stdout(&o);
    assert!(out.contains("   7  Transmission date"), "{out}");
    assert!(!out.contains("  11  System trace"), "{out}");
    let err = stderr(&o);
    assert!(
        err.contains(&format!("field 11 (System trace audit number (STAN)) at byte {offset}: expected a digit, found 'X'")),
        "{err}"
    );
    let o = run(&["decode", "--spec", "iso87ascii", "--json", &bad], None);
    assert_eq!(o.status.code(), Some(2));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["error"]["field"], 11);
    assert_eq!(j["error"]["offset"], offset);
    assert_eq!(j["mode"], "strict");
    assert_eq!(j["fields"]["7"], "0321101530");
    assert!(j["fields"].get("11").is_none(), "{j}");
}

/// A UnionPay sale with field 60 of 19 digits and a UnionPay ECB MAC
/// (B3A092AE under key 0723C80DB5F4CD3D), with its length prefix.
const CUPS_SALE_60_19: &str = "007F600003000060321032007202003020048000C08015000000000000001234000002030099303030303030303139353237313831383232313738373531353600192600000100060000000000435F01123238343431323334353637383930313233345F03063136303033365F04063230303832365C0230314233413039324145";

#[test]
fn a_cups_sale_with_a_long_field_60_decodes_strictly_and_its_mac_verifies() {
    let o = run(&["decode", CUPS_SALE_60_19], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("spec    cups  (strict:"), "{out}");
    assert!(out.contains("LLL  19  2600000100060000000"), "{out}");
    assert!(
        out.contains("60.7   account type                           000"),
        "{out}"
    );
    assert!(
        out.contains("60.8   further data                           00"),
        "{out}"
    );
    let o = run(
        &[
            "mac",
            "--spec",
            "cups",
            "--key",
            "0723C80DB5F4CD3D",
            "--algo",
            "ecb",
            "--verify",
            CUPS_SALE_60_19,
        ],
        None,
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("B3A092AE"), "{}", stdout(&o));
}

/// A 1987 ASCII 0200 as py8583 writes it: its bitmap in lowercase hex.
fn py8583_0200() -> String {
    let text = [
        "0200723c00000080000016",
        "4761739001010119",
        "000000",
        "000000001000",
        "1206041530",
        "000123",
        "041530",
        "1206",
        "2512",
        "TERM0001",
    ]
    .concat();
    hex::encode_upper(text)
}

#[test]
fn a_lowercase_hex_bitmap_needs_lenient_and_is_one_warning() {
    let frame = py8583_0200();
    let o = run(&["decode", "--spec", "iso87ascii", &frame], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("bitmap is not 16 uppercase hex digits"),
        "{}",
        stderr(&o)
    );
    let o = run(
        &["decode", "--spec", "iso87ascii", "--lenient", &frame],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("warning: at byte 4: lowercase hex digits"),
        "{out}"
    );
    assert!(
        out.contains("  41  Card acceptor terminal identification"),
        "{out}"
    );
    let o = run(&["decode", "--json", &frame], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["spec"], "iso87ascii");
    assert_eq!(j["mode"], "lenient");
    assert_eq!(j["warnings"][0]["offset"], 4);
    assert_eq!(j["fields"]["11"], "000123");
}

#[test]
fn binary_bytes_in_an_ans_field_are_a_warning_and_shown_as_hex() {
    // iso87binary 0800: 7, 11, 63 (with bytes 01 02 FF 00), 70 = 301.
    let frame = "0800822000000000000204000000000000001206041530000123000841420102FF0058590301";
    let o = run(&["decode", "--spec", "iso87binary", frame], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("field 63 (Reserved (private)) at byte 30"),
        "{}",
        stderr(&o)
    );
    let o = run(
        &["decode", "--spec", "iso87binary", "--lenient", frame],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("LLL   8  hex 41420102FF005859"), "{out}");
    assert!(
        out.contains("  70  Network management information code"),
        "{out}"
    );
    assert!(
        out.contains("warning: field 63 (Reserved (private)) at byte 30: 3 byte(s) outside"),
        "{out}"
    );
}

#[test]
fn gbk_text_is_shown_in_chinese_and_kept_as_bytes_in_json() {
    // A cups 0210 whose field 63 is "CUP" then 交易成功 in GBK.
    let frame = "60000000036031003110030210000000000200000230300011435550BDBBD2D7B3C9B9A6";
    let o = run(&["decode", frame], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("CUP交易成功"), "{}", stdout(&o));
    let o = run(&["decode", "--json", "--unmask", frame], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["fields"]["63"]["hex"], "435550BDBBD2D7B3C9B9A6");
    assert_eq!(j["fields"]["63"]["text"], "CUP交易成功");
    let e = run(&["encode"], Some(&o.stdout));
    assert!(e.status.success(), "{}", stderr(&e));
    assert_eq!(stdout(&e).trim(), frame);
}

#[test]
fn decode_length_prefixed_frame() {
    let framed = format!("{:04X}{CUPS_SALE}", CUPS_SALE.len() / 2);
    let o = run(&["decode", "--spec", "cups", &framed], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("removed a 2-byte binary length prefix"),
        "{out}"
    );
    assert!(out.contains("MTI     0200"), "{out}");
    // From stdin, without --spec, spaced out.
    let spaced: String = framed
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    let o = run(&["decode"], Some(spaced.as_bytes()));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("spec    cups"), "{}", stdout(&o));
}
