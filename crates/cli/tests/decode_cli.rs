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
    // Trying every built-in spec fails too, and still names field 4.
    let o = run(&["decode", &bad], None);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("field 4"), "{}", stderr(&o));
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
