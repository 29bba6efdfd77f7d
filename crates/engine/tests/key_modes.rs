//! A terminal pointed at a host that is not cardwire's: working keys
//! configured or absent, sign-on optional, and the reversal discipline
//! unchanged. The host here is this file: it reads the terminal's frames
//! and answers them by hand.

use std::sync::Arc;

use bytes::Bytes;
use cardwire_codec::{Spec, TxnKind, decode, specs};
use cardwire_engine::keys::{KeyMode, SignOnMode, StaticKeys};
use cardwire_engine::terminal::{Card, Outcome, TerminalEvent};
use cardwire_engine::wire::{Dialect, Reply, check_mac, seal};
use cardwire_engine::{Action, Money, Terminal, TerminalConfig, Timestamp};
use cardwire_security::{
    DesKey, EncryptedPinBlock, MacAlgorithm, Pan, Pin, PinBlockFormat, verify_pin,
};

const MAK: &str = "0123456789ABCDEFFEDCBA9876543210";
const PIK: &str = "89ABCDEF01234567FEDCBA9876543210";

fn card() -> Card {
    Card {
        id: Some("test".into()),
        pan: "6222021234567890123".into(),
        expiry: Some("3012".into()),
        pin: Some("123456".into()),
        entry: Default::default(),
        track2: None,
    }
}

fn kcv(hex: &str) -> String {
    DesKey::from_hex(hex).expect("key").kcv().to_string()
}

fn static_cfg() -> TerminalConfig {
    TerminalConfig {
        keys: KeyMode::Static,
        mac: MacAlgorithm::X919,
        static_keys: StaticKeys {
            mak: Some(format!("{MAK}:{}", kcv(MAK))),
            pik: Some(format!("{PIK}:{}", kcv(PIK))),
            ..StaticKeys::default()
        },
        ..TerminalConfig::default()
    }
}

/// Answers `frame` with `code`, MACed under `mak` when given.
fn answer(spec: &Spec, frame: &[u8], code: &str, mak: Option<&DesKey>) -> Bytes {
    let dialect = Dialect::for_spec(spec).expect("dialect");
    let req = decode(spec, frame).expect("request decodes");
    let reply = Reply {
        code: code.into(),
        rrn: Some("000000000001".into()),
        auth_code: Some("A00001".into()),
        ..Reply::default()
    };
    let mut m = reply.to_message(dialect, &req, Timestamp::SIM_START);
    seal(spec, &mut m, mak.map(|k| (MacAlgorithm::X919, k))).expect("reply encodes")
}

fn stan_of(spec: &Spec, frame: &[u8]) -> u64 {
    decode(spec, frame)
        .expect("decodes")
        .value(11)
        .and_then(|v| v.to_u64())
        .expect("STAN")
}

fn completed(t: &mut Terminal) -> Option<Outcome> {
    let mut out = None;
    while let Some(ev) = t.poll_event() {
        if let TerminalEvent::Completed(o) = ev {
            out = Some(o);
        }
    }
    out
}

#[test]
fn static_keys_mac_the_sale_and_encrypt_the_pin_without_a_sign_on() {
    for name in ["cups", "iso87ascii", "iso87binary"] {
        let spec = Arc::clone(specs::builtin(name).expect("spec"));
        let mut t = Terminal::new(Arc::clone(&spec), static_cfg()).expect("terminal");
        let now = Timestamp::SIM_START;
        t.start(now, Action::sale(card(), Money(1234)))
            .expect("starts");
        let frame = t.poll_transmit().expect("a request");
        let req = decode(&spec, &frame).expect("decodes");
        assert_eq!(req.transaction(), TxnKind::Sale, "{name}: no sign-on first");
        let mak = DesKey::from_hex(MAK).expect("key");
        check_mac(&req, MacAlgorithm::X919, &mak).expect("MAC under the static MAK");
        let block = req.value(52).expect("PIN block").to_vec();
        let block = <[u8; 8]>::try_from(block).expect("8 bytes");
        let pik = DesKey::from_hex(PIK).expect("key");
        let pan = Pan::new("6222021234567890123").expect("pan");
        assert!(
            verify_pin(
                &pik,
                PinBlockFormat::Iso0,
                &EncryptedPinBlock::from_bytes(block),
                Some(&pan),
                &Pin::new("123456").expect("pin")
            )
            .expect("well-formed"),
            "{name}: the PIN block is under the static PIK"
        );
        // An approval MACed under the same key is accepted.
        t.handle_message(now, &answer(&spec, &frame, "00", Some(&mak)));
        let o = completed(&mut t).expect("done");
        assert!(o.approved, "{name}: {o:?}");
    }
}

#[test]
fn static_keys_refuse_an_approval_without_a_good_mac() {
    let spec = Arc::clone(specs::builtin("iso87ascii").expect("spec"));
    let mut t = Terminal::new(Arc::clone(&spec), static_cfg()).expect("terminal");
    let now = Timestamp::SIM_START;
    t.start(now, Action::sale(card(), Money(100)))
        .expect("starts");
    let frame = t.poll_transmit().expect("a request");
    let wrong = DesKey::from_hex(PIK).expect("key");
    t.handle_message(now, &answer(&spec, &frame, "00", Some(&wrong)));
    let o = completed(&mut t).expect("done");
    assert!(!o.approved);
    let p = t.pending_reversal().expect("the approval is reversed");
    assert_eq!(p.reason, "A0");
}

#[test]
fn a_wrong_check_value_stops_the_terminal_before_it_sends() {
    let mut cfg = static_cfg();
    cfg.static_keys.mak = Some(format!("{MAK}:000000"));
    let e =
        Terminal::new(Arc::clone(specs::builtin("cups").expect("spec")), cfg).expect_err("refused");
    let text = e.to_string();
    assert!(text.contains("MAK: check value mismatch"), "{text}");
    assert!(!text.contains(MAK), "the key never shows: {text}");
}

#[test]
fn no_keys_means_no_mac_and_no_pin_block() {
    for name in ["cups", "iso87ascii"] {
        let spec = Arc::clone(specs::builtin(name).expect("spec"));
        let cfg = TerminalConfig {
            keys: KeyMode::None,
            ..TerminalConfig::default()
        };
        let mut t = Terminal::new(Arc::clone(&spec), cfg).expect("terminal");
        let now = Timestamp::SIM_START;
        t.start(now, Action::sale(card(), Money(100)))
            .expect("starts");
        let frame = t.poll_transmit().expect("a request");
        let req = decode(&spec, &frame).expect("decodes");
        assert_eq!(req.transaction(), TxnKind::Sale);
        assert!(!req.has(64) && !req.has(128), "{name}: no MAC");
        assert!(!req.has(52), "{name}: no PIN block");
        assert_eq!(req.value(22).map(|v| v.to_string()).as_deref(), Some("022"));
        // An approval without a MAC is an approval.
        t.handle_message(now, &answer(&spec, &frame, "00", None));
        assert!(completed(&mut t).expect("done").approved, "{name}");
    }
}

#[test]
fn an_echo_sign_on_goes_first_and_gives_no_keys() {
    let spec = Arc::clone(specs::builtin("iso87ascii").expect("spec"));
    let cfg = TerminalConfig {
        keys: KeyMode::None,
        signon: Some(SignOnMode::Echo),
        ..TerminalConfig::default()
    };
    let mut t = Terminal::new(Arc::clone(&spec), cfg).expect("terminal");
    let now = Timestamp::SIM_START;
    t.start(now, Action::sale(card(), Money(100)))
        .expect("starts");
    let frame = t.poll_transmit().expect("the echo");
    let req = decode(&spec, &frame).expect("decodes");
    assert_eq!(req.mti().as_str(), "0800");
    assert_eq!(req.value(70).map(|v| v.to_string()).as_deref(), Some("301"));
    t.handle_message(now, &answer(&spec, &frame, "00", None));
    let frame = t.poll_transmit().expect("the sale");
    assert_eq!(
        decode(&spec, &frame).expect("decodes").transaction(),
        TxnKind::Sale
    );
    assert!(t.is_signed_on());
}

#[test]
fn cups_keys_from_a_host_that_gives_none_say_what_to_do() {
    let spec = Arc::clone(specs::builtin("iso87ascii").expect("spec"));
    let mut t = Terminal::new(Arc::clone(&spec), TerminalConfig::default()).expect("terminal");
    let now = Timestamp::SIM_START;
    t.start(now, Action::sale(card(), Money(100)))
        .expect("starts");
    let frame = t.poll_transmit().expect("the sign-on");
    t.handle_message(now, &answer(&spec, &frame, "00", None));
    let o = completed(&mut t).expect("done");
    assert_eq!(o.display, "KEY ERROR");
    assert!(
        o.local_error
            .as_deref()
            .is_some_and(|e| e.contains("--keys static or --keys none")),
        "{o:?}"
    );
}

#[test]
fn cups_keys_without_the_key_sign_on_are_a_configuration_error() {
    let cfg = TerminalConfig {
        signon: Some(SignOnMode::None),
        ..TerminalConfig::default()
    };
    assert!(Terminal::new(Arc::clone(specs::builtin("cups").expect("spec")), cfg).is_err());
}

#[test]
fn without_keys_a_lost_reply_is_reversed_before_the_next_sale_in_the_dialects_form() {
    for (name, mti) in [("iso87ascii", "0400"), ("cups", "0400")] {
        let spec = Arc::clone(specs::builtin(name).expect("spec"));
        let cfg = TerminalConfig {
            keys: KeyMode::None,
            ..TerminalConfig::default()
        };
        let mut t = Terminal::new(Arc::clone(&spec), cfg).expect("terminal");
        let now = Timestamp::SIM_START;
        t.start(now, Action::sale(card(), Money(777)))
            .expect("starts");
        let lost = t.poll_transmit().expect("the sale");
        let lost_stan = stan_of(&spec, &lost);
        let later = t.poll_timeout().expect("a deadline");
        t.handle_timeout(later);
        let o = completed(&mut t).expect("done");
        assert!(o.timed_out, "{name}");
        assert_eq!(t.pending_reversal().map(|p| p.reason.as_str()), Some("98"));

        t.start(later, Action::sale(card(), Money(100)))
            .expect("starts");
        let frame = t.poll_transmit().expect("the reversal first");
        let rev = decode(&spec, &frame).expect("decodes");
        assert_eq!(rev.mti().as_str(), mti, "{name}");
        assert_eq!(stan_of(&spec, &frame), lost_stan, "{name}: same STAN");
        assert_eq!(rev.value(4).and_then(|v| v.to_u64()), Some(777));
        if name == "iso87ascii" {
            let f90 = rev.value(90).expect("original data").to_string();
            assert!(f90.starts_with(&format!("0200{lost_stan:06}")), "{f90}");
        } else {
            assert!(rev.has(61) || rev.has(60), "UnionPay form");
        }
        t.handle_message(later, &answer(&spec, &frame, "00", None));
        let mut evs = Vec::new();
        while let Some(e) = t.poll_event() {
            evs.push(e);
        }
        assert!(
            evs.iter().any(
                |e| matches!(e, TerminalEvent::ReversalCleared { stan, by, .. }
                if u64::from(*stan) == lost_stan && by == "00")
            ),
            "{name}: cleared {evs:?}"
        );
        let frame = t.poll_transmit().expect("then the sale");
        assert_eq!(
            decode(&spec, &frame).expect("decodes").transaction(),
            TxnKind::Sale
        );
    }
}
