//! `cardwire mac`, `cardwire pinblock` and `cardwire keys`, run as a user
//! would: the built binary, its stdout, stderr and exit code.

#![allow(missing_docs, clippy::unwrap_used)]

use std::process::{Command, Output};

use cardwire_codec::{decode, encode_to_vec, specs};
use cardwire_security::{
    DesKey, Field62Layout, FixedBytes, MacAlgorithm, WorkingKeys, compute_mac,
};

/// The `cups-sale` sample (crates/cli/src/samples.rs): TPDU, header, 0200 with field 64.
const CUPS_SALE: &str = "60000300006031003110030200702406C020C09A1119622202123456789012300000000000000123450001232912051000010012376222021234567890123D29122011234500000031303031363931393839383331303034383132303030313135363A6C9F0E12B4D7C8260000000000000001339F2608A1B2C3D4E5F607089F2701809F100707011703A000009F3704F1E2D3C49F36020047950500000000009A032611219C01009F02060000000123455F2A02015682027C009F1A0201569F03060000000000009F3303E0F1C89F34034203009F3501229F1E0831323334353637388408A0000003330101029F090200209F4104000001230014220000010005003736323841354334";

const MAK16: &str = "C24A8FB57AA20123A1B2C3D4E5F60718";
const MAK8: &str = "C24A8FB57AA20123";

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cardwire"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn all_output(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

fn assert_no_secret(o: &Output, secret: &str) {
    let text = all_output(o);
    assert!(
        !text.to_uppercase().contains(&secret.to_uppercase()),
        "secret appears in output:\n{text}"
    );
}

/// The MAC the library computes over the sample's MAB (MTI through field 63).
fn library_mac(algo: MacAlgorithm, key_hex: &str) -> ([u8; 8], usize) {
    let spec = specs::builtin("cups").unwrap();
    let frame = hex::decode(CUPS_SALE).unwrap();
    let msg = decode(spec, &frame).unwrap();
    let mab = msg.mac_input(64);
    let key = DesKey::from_hex(key_hex).unwrap();
    (compute_mac(algo, &key, mab).unwrap(), mab.len())
}

/// The sample re-encoded with `mac` in field 64, as hex.
fn sale_with_mac(mac: &[u8]) -> String {
    let spec = specs::builtin("cups").unwrap();
    let frame = hex::decode(CUPS_SALE).unwrap();
    let mut msg = decode(spec, &frame).unwrap().to_message();
    msg.set(64, mac.to_vec());
    hex::encode_upper(encode_to_vec(spec, &msg).unwrap())
}

#[test]
fn mac_ecb_matches_library() {
    let (mac, mab_len) = library_mac(MacAlgorithm::UnionPayEcb, MAK16);
    let o = run(&[
        "mac", "--spec", "cups", "--key", MAK16, "--algo", "ecb", CUPS_SALE,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    // ECB MAC: 8 ASCII hex characters, shown as text and as bytes.
    assert!(out.contains(std::str::from_utf8(&mac).unwrap()), "{out}");
    assert!(out.contains(&hex::encode_upper(mac)), "{out}");
    assert!(
        out.contains(&format!("MAB        {mab_len} bytes")),
        "{out}"
    );
    assert!(
        out.contains(&DesKey::from_hex(MAK16).unwrap().kcv().to_string()),
        "{out}"
    );
    assert_no_secret(&o, MAK16);
}

#[test]
fn mac_x9_9_and_x9_19_match_library() {
    for (algo, name, key) in [
        (MacAlgorithm::X99, "x9.9", MAK8),
        (MacAlgorithm::X919, "x9.19", MAK16),
    ] {
        let (mac, _) = library_mac(algo, key);
        let o = run(&[
            "mac", "--spec", "cups", "--key", key, "--algo", name, CUPS_SALE,
        ]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert!(
            stdout(&o).contains(&format!("MAC        {}", hex::encode_upper(mac))),
            "{name}: {}",
            stdout(&o)
        );
        assert_no_secret(&o, key);
    }
}

#[test]
fn mac_accepts_length_prefixed_frame() {
    let (mac, _) = library_mac(MacAlgorithm::X919, MAK16);
    let framed = format!("{:04X}{CUPS_SALE}", CUPS_SALE.len() / 2);
    let o = run(&[
        "mac", "--spec", "cups", "--key", MAK16, "--algo", "x9.19", &framed,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(&hex::encode_upper(mac)));
    assert!(stdout(&o).contains("removed a 2-byte"));
}

#[test]
fn mac_verify_ok_exits_0() {
    for (algo, name) in [
        (MacAlgorithm::UnionPayEcb, "ecb"),
        (MacAlgorithm::X919, "x9.19"),
    ] {
        let (mac, _) = library_mac(algo, MAK16);
        let frame = sale_with_mac(&mac);
        let o = run(&[
            "mac", "--spec", "cups", "--key", MAK16, "--algo", name, "--verify", &frame,
        ]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", all_output(&o));
        assert!(stdout(&o).contains("MAC OK"));
        assert!(!stdout(&o).contains("MISMATCH"));
        assert_no_secret(&o, MAK16);
    }
}

#[test]
fn mac_verify_mismatch_exits_1() {
    let (mut mac, _) = library_mac(MacAlgorithm::X919, MAK16);
    mac[7] ^= 1;
    let frame = sale_with_mac(&mac);
    let o = run(&[
        "mac", "--spec", "cups", "--key", MAK16, "--algo", "x9.19", "--verify", &frame,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", all_output(&o));
    assert!(stdout(&o).contains("MAC MISMATCH (host would answer A0)"));
    assert_no_secret(&o, MAK16);
    // The sample's own field 64 was made with another key.
    let o = run(&[
        "mac", "--spec", "cups", "--key", MAK16, "--algo", "ecb", "--verify", CUPS_SALE,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", all_output(&o));
}

#[test]
fn mac_errors_exit_2() {
    // --verify without field 64.
    let spec = specs::builtin("cups").unwrap();
    let frame = hex::decode(CUPS_SALE).unwrap();
    let mut msg = decode(spec, &frame).unwrap().to_message();
    msg.remove(64);
    let no64 = hex::encode_upper(encode_to_vec(spec, &msg).unwrap());
    let o = run(&[
        "mac", "--spec", "cups", "--key", MAK16, "--algo", "ecb", "--verify", &no64,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("field 64"), "{}", stderr(&o));
    // Without --verify the same frame is fine.
    let o = run(&[
        "mac", "--spec", "cups", "--key", MAK16, "--algo", "ecb", &no64,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // A bad key is an error that does not echo the key.
    let bad = "C24A8FB57AA2012Z";
    let o = run(&[
        "mac", "--spec", "cups", "--key", bad, "--algo", "ecb", CUPS_SALE,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_no_secret(&o, bad);
    // X9.19 takes no triple-length key.
    let k24 = "0123456789ABCDEFFEDCBA987654321089ABCDEF01234567";
    let o = run(&[
        "mac", "--spec", "cups", "--key", k24, "--algo", "x9.19", CUPS_SALE,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_no_secret(&o, k24);
    // A frame that does not decode.
    let o = run(&[
        "mac",
        "--spec",
        "cups",
        "--key",
        MAK16,
        "--algo",
        "ecb",
        "6000030000",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

const PIK: &str = "0123456789ABCDEFFEDCBA9876543210";

#[test]
fn pinblock_format0_published_vector() {
    let o = run(&[
        "pinblock",
        "--format",
        "0",
        "--pan",
        "43219876543210987",
        "--pin",
        "1234",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("0412AC89ABCDEF67"), "{}", stdout(&o));
    // The PAN is shown masked.
    assert!(!stdout(&o).contains("43219876543210987"));
}

#[test]
fn pinblock_encrypt_then_decrypt_round_trip() {
    for format in ["0", "1", "3"] {
        let o = run(&[
            "pinblock",
            "--format",
            format,
            "--pan",
            "6225880112345678",
            "--pin",
            "482915",
            "--key",
            PIK,
        ]);
        assert!(o.status.success(), "format {format}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(out.contains(&DesKey::from_hex(PIK).unwrap().kcv().to_string()));
        assert_no_secret(&o, PIK);
        let enc = out
            .lines()
            .find_map(|l| l.strip_prefix("encrypted"))
            .unwrap()
            .trim()
            .to_string();
        assert_eq!(enc.len(), 16);
        let o = run(&[
            "pinblock",
            "--decrypt",
            "--format",
            format,
            "--pan",
            "6225880112345678",
            "--key",
            PIK,
            &enc,
        ]);
        assert!(o.status.success(), "format {format}: {}", stderr(&o));
        assert!(stdout(&o).contains("PIN          482915"), "{}", stdout(&o));
        assert!(stdout(&o).contains("OK"));
        assert_no_secret(&o, PIK);
    }
}

#[test]
fn pinblock_decrypt_errors_exit_2_with_reason() {
    let block = {
        let pik = DesKey::from_hex(PIK).unwrap();
        let pan = cardwire_security::Pan::new("43219876543210987").unwrap();
        let pin = cardwire_security::Pin::new("1234").unwrap();
        let b = cardwire_security::encrypt_pin(
            &pik,
            cardwire_security::PinBlockFormat::Iso0,
            &pin,
            Some(&pan),
            &mut FixedBytes::new(&[]),
        )
        .unwrap();
        hex::encode_upper(b.as_bytes())
    };
    // Another account number.
    let o = run(&[
        "pinblock",
        "--decrypt",
        "--format",
        "0",
        "--pan",
        "5555876543211987",
        "--key",
        PIK,
        &block,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("does not match the PAN"),
        "{}",
        stderr(&o)
    );
    assert!(!all_output(&o).contains("1234"));
    // Format 3 expected, format 0 found.
    let o = run(&[
        "pinblock",
        "--decrypt",
        "--format",
        "3",
        "--pan",
        "43219876543210987",
        "--key",
        PIK,
        &block,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("control nibble"), "{}", stderr(&o));
    assert_no_secret(&o, PIK);
    // Format 0 without a PAN.
    let o = run(&["pinblock", "--format", "0", "--pin", "1234"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--pan"));
}

const TMK: &str = "70F2A84CCBC2AE8625CBB0F2C22AB923";

fn working_keys(layout: Field62Layout) -> WorkingKeys {
    let seed: Vec<u8> = (0u8..=255).collect();
    WorkingKeys::generate(layout, &mut FixedBytes::new(&seed)).unwrap()
}

#[test]
fn keys_unwraps_every_layout_with_matching_kcvs() {
    let tmk = DesKey::from_hex(TMK).unwrap();
    for layout in [
        Field62Layout::Bytes24,
        Field62Layout::Bytes40,
        Field62Layout::Bytes60,
    ] {
        let keys = working_keys(layout);
        let f62 = hex::encode_upper(keys.wrap(&tmk, layout).unwrap());
        let o = run(&["keys", "--tmk", TMK, &f62]);
        assert!(o.status.success(), "{layout}: {}", stderr(&o));
        let out = stdout(&o);
        let mut named = vec![("PIK", &keys.pik), ("MAK", &keys.mak)];
        if let Some(tdk) = &keys.tdk {
            named.push(("TDK", tdk));
        }
        for (name, key) in &named {
            let line = out.lines().find(|l| l.starts_with(name)).unwrap();
            assert!(
                line.contains(&key.kcv().to_string()),
                "{layout} {name}: {line}"
            );
            assert!(line.contains(&format!("{} bytes", key.len())), "{line}");
            // Masked by default.
            assert_no_secret(&o, &hex::encode_upper(key.expose_secret()));
        }
        assert_eq!(out.contains("TDK"), keys.tdk.is_some(), "{out}");
        assert_no_secret(&o, TMK);

        let o = run(&["keys", "--tmk", TMK, "--unmask", &f62]);
        assert!(o.status.success());
        for (_, key) in &named {
            assert!(stdout(&o).contains(&hex::encode_upper(key.expose_secret())));
        }
        assert_no_secret(&o, TMK);
    }
}

#[test]
fn keys_accepts_bcd_length_prefix() {
    let tmk = DesKey::from_hex(TMK).unwrap();
    let keys = working_keys(Field62Layout::Bytes40);
    let f62 = format!(
        "0040{}",
        hex::encode_upper(keys.wrap(&tmk, Field62Layout::Bytes40).unwrap())
    );
    let o = run(&["keys", "--tmk", TMK, &f62]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(&keys.mak.kcv().to_string()));
}

#[test]
fn keys_wrong_tmk_exits_2_naming_the_key() {
    let tmk = DesKey::from_hex(TMK).unwrap();
    let keys = working_keys(Field62Layout::Bytes60);
    let mut f62 = keys.wrap(&tmk, Field62Layout::Bytes60).unwrap();
    let wrong = "0123456789ABCDEFFEDCBA9876543210";
    let o = run(&["keys", "--tmk", wrong, &hex::encode_upper(&f62)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("PIK check value mismatch"),
        "{}",
        stderr(&o)
    );
    assert_no_secret(&o, wrong);
    // Corrupt only the MAK's check value: the error names the MAK.
    f62[36] ^= 0xFF;
    let o = run(&["keys", "--tmk", TMK, &hex::encode_upper(&f62)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("MAK check value mismatch"),
        "{}",
        stderr(&o)
    );
    assert_no_secret(&o, TMK);
    // A length no layout has.
    let o = run(&["keys", "--tmk", TMK, "00112233"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("24, 40 or 60"));
}
