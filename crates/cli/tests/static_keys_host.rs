//! `cardwire terminal --keys static` against a host written here (not
//! cardwire's): the host knows the working keys, checks every request's
//! MAC (X9.19) and PIN block, and MACs its replies. A terminal with the
//! right keys is approved; one whose MAK differs gets the host's MAC error
//! and does not trust what comes back.

#![allow(missing_docs, clippy::unwrap_used)]

mod net_support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use cardwire_codec::{decode, specs};
use cardwire_engine::Timestamp;
use cardwire_engine::wire::{Dialect, Reply, check_mac, seal};
use cardwire_security::{
    DesKey, EncryptedPinBlock, MacAlgorithm, Pan, Pin, PinBlockFormat, verify_pin,
};
use net_support::{cardwire, scratch, text};

const MAK: &str = "0123456789ABCDEFFEDCBA9876543210";
const PIK: &str = "89ABCDEF01234567FEDCBA9876543210";
const PAN: &str = "4761739001010010";

/// What the host saw: (MTI, MAC good, PIN good or absent).
type Seen = Arc<Mutex<Vec<(String, bool, bool)>>>;

fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf).ok()?;
    Some(buf)
}

fn serve(s: &mut TcpStream, seen: &Seen) {
    let spec = specs::iso87ascii();
    let mak = DesKey::from_hex(MAK).unwrap();
    let pik = DesKey::from_hex(PIK).unwrap();
    while let Some(frame) = read_frame(s) {
        let req = decode(spec, &frame).unwrap();
        let mac_ok = check_mac(&req, MacAlgorithm::X919, &mak).is_ok();
        let pin_ok = match req.value(52) {
            None => true,
            Some(v) => {
                let block = EncryptedPinBlock::from_slice(&v.to_vec()).unwrap();
                verify_pin(
                    &pik,
                    PinBlockFormat::Iso0,
                    &block,
                    Some(&Pan::new(PAN).unwrap()),
                    &Pin::new("1234").unwrap(),
                )
                .unwrap_or(false)
            }
        };
        seen.lock()
            .unwrap()
            .push((req.mti().as_str().to_owned(), mac_ok, pin_ok));
        let code = match (mac_ok, pin_ok) {
            (false, _) => "A0",
            (true, false) => "55",
            (true, true) => "00",
        };
        let reply = Reply {
            code: code.into(),
            rrn: Some("000000000777".into()),
            auth_code: Some("654321".into()),
            ..Reply::default()
        };
        let mut m = reply.to_message(Dialect::Iso87, &req, Timestamp::SIM_START);
        let out = seal(spec, &mut m, Some((MacAlgorithm::X919, &mak))).unwrap();
        let mut framed = u16::try_from(out.len()).unwrap().to_be_bytes().to_vec();
        framed.extend_from_slice(&out);
        if s.write_all(&framed).is_err() {
            return;
        }
    }
}

fn start_host() -> (String, Seen) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let seen: Seen = Arc::default();
    let s2 = Arc::clone(&seen);
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            let s3 = Arc::clone(&s2);
            std::thread::spawn(move || serve(&mut c, &s3));
        }
    });
    (addr, seen)
}

fn kcv(hex: &str) -> String {
    DesKey::from_hex(hex).unwrap().kcv().to_string()
}

#[test]
fn static_keys_mac_and_encrypt_the_pin_for_a_foreign_host() {
    let dir = scratch("static-keys-host");
    let (addr, seen) = start_host();
    let cards = dir.join("cards.toml");
    std::fs::write(
        &cards,
        format!(
            "[[cards]]\nlabel = \"host-card\"\npan = \"{PAN}\"\nexpiry = \"3012\"\npin = \"1234\"\n"
        ),
    )
    .unwrap();
    // The keys go in a profile; the MAC algorithm as a flag.
    let profile = dir.join("profile.toml");
    std::fs::write(
        &profile,
        format!(
            "[terminal]\nterminal_id = \"TERM0001\"\nkeys = \"static\"\n\n[terminal.static_keys]\nmak = \"{MAK}:{}\"\npik = \"{PIK}:{}\"\n",
            kcv(MAK),
            kcv(PIK)
        ),
    )
    .unwrap();
    let common = [
        "terminal",
        "--connect",
        &addr,
        "--spec",
        "iso87ascii",
        "--mac",
        "x9.19",
        "--timeout",
        "5s",
        "--profile",
        profile.to_str().unwrap(),
        "--cards",
        cards.to_str().unwrap(),
        "--state",
    ];
    let run = |state: &str, extra: &[&str]| {
        let mut args = common.to_vec();
        args.push(state);
        args.extend_from_slice(extra);
        cardwire(&dir, &args)
    };
    let o = run(
        "good.json",
        &["sale", "--card", "host-card", "--amount", "12.34"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("APPROVED"), "{}", text(&o));
    let o = run(
        "good.json",
        &["void", "--card", "host-card", "--voucher", "1"],
    );
    assert!(o.status.success(), "{}", text(&o));
    {
        let s = seen.lock().unwrap();
        assert_eq!(s.len(), 2, "no sign-on with static keys: {s:?}");
        assert!(s.iter().all(|(_, mac, pin)| *mac && *pin), "{s:?}");
        assert_eq!(s[0].0, "0200");
    }
    // Keys never show in what the terminal prints.
    assert!(!text(&o).contains(MAK), "{}", text(&o));

    // Another MAK (with its own, matching check value): the host answers
    // A0, its reply's MAC does not verify under this terminal's key, and
    // the terminal keeps a reversal (reason A0) rather than trust it.
    let other = "FEDCBA98765432100123456789ABCDEF";
    let mak_flag = format!("{other}:{}", kcv(other));
    let o = run(
        "bad.json",
        &[
            "--mak",
            &mak_flag,
            "sale",
            "--card",
            "host-card",
            "--amount",
            "1.00",
        ],
    );
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("MAC ERROR"), "{}", text(&o));
    let last = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last, ("0200".to_owned(), false, true));
    let state = std::fs::read_to_string(dir.join("bad.json")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["pending_reversal"]["reason"], "A0", "{state:#}");

    // A check value that does not match stops the terminal before it
    // sends anything, naming the key and never showing it.
    let before = seen.lock().unwrap().len();
    let wrong = format!("{MAK}:000000");
    let o = run(
        "bad2.json",
        &[
            "--mak",
            &wrong,
            "sale",
            "--card",
            "host-card",
            "--amount",
            "1.00",
        ],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("MAK: check value mismatch"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains(MAK), "{}", text(&o));
    assert_eq!(seen.lock().unwrap().len(), before);
}
