//! The host's rules, one test per rule, named after it. Requests are built
//! by hand (with a real MAC and PIN block under keys from a real sign-on),
//! so each test hits exactly one rule.

use std::sync::Arc;

use cardwire_codec::{TxnKind, decode, specs};
use cardwire_engine::config::{CardStatus, DEMO_TMK, HostConfig, Money, PinLockPolicy};
use cardwire_engine::host::{ConnId, Host};
use cardwire_engine::wire::{Dialect, OriginalRef, Reply, Request, seal};
use cardwire_engine::{HostEvent, Timestamp};
use cardwire_security::{
    DesKey, FixedBytes, MacAlgorithm, Pan, Pin, PinBlockFormat, WorkingKeys, encrypt_pin,
};

const ALICE: &str = "6222021234567890123";
const BOB: &str = "6228480402564890018";
const TID: &str = "12345678";
const MID: &str = "123456789012345";

struct Desk {
    host: Host,
    keys: WorkingKeys,
    now: Timestamp,
    stan: u32,
}

impl Desk {
    fn new(cfg: HostConfig) -> Self {
        let spec = Arc::clone(specs::builtin("cups").expect("cups"));
        let mut host = Host::new(spec, cfg).expect("host");
        let now = Timestamp::SIM_START;
        let signon = Request {
            kind: Some(TxnKind::SignOn),
            stan: 1,
            terminal_id: TID.into(),
            merchant_id: MID.into(),
            batch: Some(1),
            ..Request::default()
        };
        let mut m = signon.to_message(Dialect::UnionPay, now).expect("message");
        let wire = seal(specs::cups(), &mut m, None).expect("seal");
        host.handle_message(now, ConnId(1), &wire);
        let reply = host.poll_transmit().expect("sign-on reply");
        let view = decode(specs::cups(), &reply.bytes).expect("decodes");
        let r = Reply::parse(Dialect::UnionPay, &view);
        let tmk = DesKey::from_hex(DEMO_TMK).expect("tmk");
        let keys = WorkingKeys::unwrap(&tmk, &r.keys.expect("keys")).expect("unwrap");
        Desk {
            host,
            keys,
            now,
            stan: 1,
        }
    }

    fn demo() -> Self {
        Self::new(HostConfig::demo())
    }

    fn base(&mut self, kind: TxnKind) -> Request {
        self.stan += 1;
        Request {
            kind: Some(kind),
            stan: self.stan,
            terminal_id: TID.into(),
            merchant_id: MID.into(),
            batch: Some(1),
            currency: Some(156),
            ..Request::default()
        }
    }

    fn pin_block(&self, pan: &str, pin: &str) -> [u8; 8] {
        let b = encrypt_pin(
            &self.keys.pik,
            PinBlockFormat::Iso0,
            &Pin::new(pin).expect("pin"),
            Some(&Pan::new(pan).expect("pan")),
            &mut FixedBytes::new(&[]),
        )
        .expect("pin block");
        *b.as_bytes()
    }

    fn sale_req(&mut self, pan: &str, pin: &str, amount: u64) -> Request {
        let mut r = self.base(TxnKind::Sale);
        r.pan = Some(pan.into());
        r.amount = Some(amount);
        r.entry_mode = Some("021".into());
        r.pin_block = Some(self.pin_block(pan, pin));
        r
    }

    fn send_raw(&mut self, req: &Request, mac: bool) -> Reply {
        let mut m = req
            .to_message(Dialect::UnionPay, self.now)
            .expect("message");
        let key = self.keys.mak.clone();
        let wire = seal(
            specs::cups(),
            &mut m,
            mac.then_some((MacAlgorithm::UnionPayEcb, &key)),
        )
        .expect("seal");
        self.host.handle_message(self.now, ConnId(1), &wire);
        let reply = self.host.poll_transmit().expect("a reply");
        let view = decode(specs::cups(), &reply.bytes).expect("reply decodes");
        Reply::parse(Dialect::UnionPay, &view)
    }

    fn send(&mut self, req: &Request) -> Reply {
        self.send_raw(req, true)
    }

    fn sale(&mut self, pan: &str, amount: u64) -> (Request, Reply) {
        let r = self.sale_req(pan, if pan == BOB { "888888" } else { "123456" }, amount);
        let reply = self.send(&r);
        (r, reply)
    }

    fn reversal_of(&mut self, orig: &Request) -> Request {
        Request {
            kind: Some(TxnKind::Reversal),
            stan: orig.stan,
            amount: orig.amount,
            reason: Some("98".into()),
            processing_code: Some("000000".into()),
            condition_code: Some("00".into()),
            txn_type: Some("22".into()),
            ..orig.clone()
        }
        .without_card()
    }

    fn void_of(&mut self, orig: &Request, reply: &Reply) -> Request {
        let mut v = self.base(TxnKind::Void);
        v.pan = orig.pan.clone();
        v.amount = orig.amount;
        v.rrn = reply.rrn.clone();
        v.auth_code = reply.auth_code.clone();
        v.original = Some(OriginalRef {
            batch: Some(1),
            stan: Some(orig.stan),
            date: Some("1121".into()),
        });
        v
    }

    fn balance(&self, card: &str) -> i64 {
        self.host.card_balance(card).expect("card")
    }

    fn sms(&mut self) -> usize {
        let mut n = 0;
        while let Some(e) = self.host.poll_event() {
            if matches!(e, HostEvent::Notification(_)) {
                n += 1;
            }
        }
        n
    }
}

trait WithoutCard {
    fn without_card(self) -> Self;
}

impl WithoutCard for Request {
    fn without_card(mut self) -> Self {
        self.pin_block = None;
        self.pan = None;
        self
    }
}

#[test]
fn approved_sale_debits_the_card_and_credits_the_merchant() {
    let mut d = Desk::demo();
    let (_, r) = d.sale(ALICE, 1234);
    assert_eq!(r.code, "00");
    assert_eq!(d.balance("alice"), 500_000 - 1234);
    assert_eq!(d.host.balance("merchant:123456789012345"), Some(1234));
    assert_eq!(d.sms(), 1);
}

#[test]
fn duplicate_request_gets_94_and_no_second_posting() {
    let mut d = Desk::demo();
    let (req, r) = d.sale(ALICE, 1000);
    assert_eq!(r.code, "00");
    let again = d.send(&req);
    assert_eq!(again.code, "94");
    assert_eq!(d.balance("alice"), 499_000);
}

#[test]
fn reversal_of_unknown_original_gets_25() {
    let mut d = Desk::demo();
    let mut ghost = d.sale_req(ALICE, "123456", 500);
    ghost.stan = 4242;
    let rev = d.reversal_of(&ghost);
    assert_eq!(d.send(&rev).code, "25");
}

#[test]
fn reversal_of_declined_original_gets_12() {
    let mut d = Desk::demo();
    let (req, r) = d.sale(ALICE, 990_105);
    assert_eq!(r.code, "05");
    let rev = d.reversal_of(&req);
    assert_eq!(d.send(&rev).code, "12");
    assert_eq!(d.balance("alice"), 500_000);
}

#[test]
fn duplicate_reversal_credits_once() {
    let mut d = Desk::demo();
    let (req, _) = d.sale(ALICE, 2500);
    let rev = d.reversal_of(&req);
    d.sms();
    assert_eq!(d.send(&rev).code, "00");
    assert_eq!(d.send(&rev).code, "00");
    assert_eq!(d.balance("alice"), 500_000);
    assert_eq!(d.sms(), 1, "one credit SMS");
}

#[test]
fn reversal_with_a_different_amount_gets_64() {
    let mut d = Desk::demo();
    let (req, _) = d.sale(ALICE, 2500);
    let mut rev = d.reversal_of(&req);
    rev.amount = Some(2400);
    assert_eq!(d.send(&rev).code, "64");
    assert_eq!(d.balance("alice"), 497_500);
}

#[test]
fn void_of_a_reversed_sale_gets_22() {
    let mut d = Desk::demo();
    let (req, reply) = d.sale(ALICE, 700);
    let rev = d.reversal_of(&req);
    assert_eq!(d.send(&rev).code, "00");
    let void = d.void_of(&req, &reply);
    assert_eq!(d.send(&void).code, "22");
    assert_eq!(d.balance("alice"), 500_000);
}

#[test]
fn void_of_a_voided_sale_gets_22() {
    let mut d = Desk::demo();
    let (req, reply) = d.sale(ALICE, 700);
    let void = d.void_of(&req, &reply);
    assert_eq!(d.send(&void).code, "00");
    let again = d.void_of(&req, &reply);
    assert_eq!(d.send(&again).code, "22");
    assert_eq!(d.balance("alice"), 500_000);
}

#[test]
fn reversal_of_a_void_debits_again_and_reopens_the_sale() {
    let mut d = Desk::demo();
    let (req, reply) = d.sale(ALICE, 700);
    let void = d.void_of(&req, &reply);
    assert_eq!(d.send(&void).code, "00");
    let mut rev = d.reversal_of(&void);
    rev.processing_code = Some("200000".into());
    rev.txn_type = Some("23".into());
    assert_eq!(d.send(&rev).code, "00");
    assert_eq!(d.balance("alice"), 499_300);
    let again = d.void_of(&req, &reply);
    assert_eq!(d.send(&again).code, "00", "the sale is open again");
}

#[test]
fn void_from_another_terminal_gets_58() {
    let mut cfg = HostConfig::demo();
    let mut other = cfg.terminals[0].clone();
    other.id = "87654321".into();
    cfg.terminals.push(other);
    // The other terminal never signs on: take MACs out of the picture.
    cfg.require_mac = false;
    let mut d = Desk::new(cfg);
    let (req, reply) = d.sale(ALICE, 700);
    let mut void = d.void_of(&req, &reply);
    void.terminal_id = "87654321".into();
    assert_eq!(d.send_raw(&void, false).code, "58");
}

#[test]
fn void_with_another_card_gets_14() {
    let mut d = Desk::demo();
    let (req, reply) = d.sale(ALICE, 700);
    let mut void = d.void_of(&req, &reply);
    void.pan = Some(BOB.into());
    assert_eq!(d.send(&void).code, "14");
}

#[test]
fn void_with_another_amount_gets_64() {
    let mut d = Desk::demo();
    let (req, reply) = d.sale(ALICE, 700);
    let mut void = d.void_of(&req, &reply);
    void.amount = Some(600);
    assert_eq!(d.send(&void).code, "64");
}

#[test]
fn next_day_void_gets_12() {
    let mut d = Desk::demo();
    let (req, reply) = d.sale(ALICE, 700);
    d.now = d.now.plus(core::time::Duration::from_secs(86_400));
    let void = d.void_of(&req, &reply);
    assert_eq!(d.send(&void).code, "12");
}

#[test]
fn third_wrong_pin_gives_38_with_a_hard_lock_until_unlocked() {
    let mut cfg = HostConfig::demo();
    cfg.pin_lock = PinLockPolicy::Hard;
    let mut d = Desk::new(cfg);
    for want in ["55", "55", "38"] {
        let r = d.sale_req(ALICE, "999999", 100);
        assert_eq!(d.send(&r).code, want);
    }
    let r = d.sale_req(ALICE, "123456", 100);
    assert_eq!(d.send(&r).code, "38", "the right PIN does not unlock");
    d.now = d.now.plus(core::time::Duration::from_secs(86_400));
    let r = d.sale_req(ALICE, "123456", 100);
    assert_eq!(d.send(&r).code, "38", "nor does the next day");
}

#[test]
fn insufficient_funds_gets_51() {
    let mut d = Desk::demo();
    let (_, r) = d.sale(BOB, 6_000);
    assert_eq!(r.code, "51");
    assert_eq!(d.balance("bob"), 5_000);
}

#[test]
fn over_the_per_transaction_limit_gets_61() {
    let mut cfg = HostConfig::demo();
    cfg.cards[1].balance = Money(10_000_000);
    let mut d = Desk::new(cfg);
    let (_, r) = d.sale(BOB, 200_001);
    assert_eq!(r.code, "61");
}

#[test]
fn over_the_daily_limit_gets_61() {
    let mut cfg = HostConfig::demo();
    cfg.cards[0].daily_limit = Some(Money(100_000));
    let mut d = Desk::new(cfg);
    assert_eq!(d.sale(ALICE, 60_000).1.code, "00");
    assert_eq!(d.sale(ALICE, 60_000).1.code, "61");
}

#[test]
fn expired_card_gets_54() {
    let mut cfg = HostConfig::demo();
    cfg.cards[0].expiry = "2610".into();
    let mut d = Desk::new(cfg);
    assert_eq!(d.sale(ALICE, 100).1.code, "54");
}

#[test]
fn lost_and_stolen_cards_get_41_and_43() {
    let mut cfg = HostConfig::demo();
    cfg.cards[0].status = CardStatus::Stolen;
    let mut d = Desk::new(cfg);
    assert_eq!(d.sale(ALICE, 100).1.code, "43");
    let r = d.sale_req("6217001234567890011", "000000", 100);
    assert_eq!(d.send(&r).code, "41");
}

#[test]
fn unknown_card_gets_14() {
    let mut d = Desk::demo();
    let r = d.sale_req("6200000000000000001", "123456", 100);
    assert_eq!(d.send(&r).code, "14");
}

#[test]
fn bad_request_mac_gets_a0_and_posts_nothing() {
    let mut d = Desk::demo();
    let r = d.sale_req(ALICE, "123456", 100);
    let mut m = r.to_message(Dialect::UnionPay, d.now).expect("message");
    let wrong = DesKey::from_hex("0123456789ABCDEF").expect("key");
    let wire = seal(
        specs::cups(),
        &mut m,
        Some((MacAlgorithm::UnionPayEcb, &wrong)),
    )
    .expect("seal");
    d.host.handle_message(d.now, ConnId(1), &wire);
    let reply = d.host.poll_transmit().expect("reply");
    let view = decode(specs::cups(), &reply.bytes).expect("decodes");
    assert_eq!(Reply::parse(Dialect::UnionPay, &view).code, "A0");
    assert_eq!(d.balance("alice"), 500_000);
}

#[test]
fn batch_mismatch_gets_77() {
    let mut d = Desk::demo();
    let mut r = d.sale_req(ALICE, "123456", 100);
    r.batch = Some(7);
    assert_eq!(d.send(&r).code, "77");
}

#[test]
fn unknown_terminal_gets_97() {
    let mut d = Desk::demo();
    let mut r = d.sale_req(ALICE, "123456", 100);
    r.terminal_id = "00000000".into();
    assert_eq!(d.send_raw(&r, false).code, "97");
}

#[test]
fn amount_rule_9901_nn_forces_code_nn() {
    let mut d = Desk::demo();
    for (amount, code) in [(990_101, "01"), (990_196, "96"), (990_151, "51")] {
        assert_eq!(d.sale(ALICE, amount).1.code, code);
    }
    assert_eq!(d.balance("alice"), 500_000);
}

#[test]
fn garbage_is_rejected_with_a_reason_and_the_host_keeps_serving() {
    let mut d = Desk::demo();
    d.host
        .handle_message(d.now, ConnId(9), &[0x60, 0, 3, 0, 0, 1, 2, 3]);
    assert!(d.host.poll_transmit().is_none());
    let mut saw = false;
    while let Some(e) = d.host.poll_event() {
        if let HostEvent::Unreadable { reason, .. } = e {
            saw = true;
            assert!(reason.contains("at byte 0"), "{reason}");
        }
    }
    assert!(saw);
    assert_eq!(d.sale(ALICE, 100).1.code, "00");
}

#[test]
fn restarted_host_replays_the_ledger_and_refuses_the_duplicate() {
    let mut d = Desk::demo();
    let (req, _) = d.sale(ALICE, 4_200);
    let ledger = d.host.ledger().clone();
    let spec = Arc::clone(specs::builtin("cups").expect("cups"));
    let again = Host::with_ledger(spec, HostConfig::demo(), ledger).expect("restart");
    assert_eq!(again.card_balance("alice"), Some(495_800));
    d.host = again;
    // Keys are not persisted: the terminal must sign on again (A0 until it does).
    assert_eq!(d.send(&req).code, "A0");
}

#[test]
fn refund_credits_at_most_the_original_amount() {
    let mut d = Desk::demo();
    let (req, reply) = d.sale(ALICE, 10_000);
    let mut refund = d.base(TxnKind::Refund);
    refund.pan = req.pan.clone();
    refund.rrn = reply.rrn.clone();
    refund.amount = Some(6_000);
    assert_eq!(d.send(&refund).code, "00");
    let mut more = d.base(TxnKind::Refund);
    more.pan = req.pan.clone();
    more.rrn = reply.rrn.clone();
    more.amount = Some(5_000);
    assert_eq!(d.send(&more).code, "64");
    assert_eq!(d.balance("alice"), 496_000);
}

#[test]
fn pre_auth_holds_and_completion_debits_within_the_hold() {
    let mut d = Desk::demo();
    let mut pa = d.sale_req(ALICE, "123456", 100_000);
    pa.kind = Some(TxnKind::PreAuth);
    let pr = d.send(&pa);
    assert_eq!(pr.code, "00");
    assert_eq!(d.balance("alice"), 500_000, "a hold is not a posting");
    // The hold reduces what a sale can take.
    assert_eq!(d.sale(ALICE, 450_000).1.code, "51");
    let mut c = d.base(TxnKind::PreAuthCompletion);
    c.pan = pa.pan.clone();
    c.amount = Some(80_000);
    c.auth_code = pr.auth_code.clone();
    c.original = Some(OriginalRef {
        batch: Some(1),
        stan: Some(pa.stan),
        date: Some("1121".into()),
    });
    assert_eq!(d.send(&c).code, "00");
    assert_eq!(d.balance("alice"), 420_000);
    assert_eq!(d.sale(ALICE, 400_000).1.code, "00", "the hold is released");
}

#[test]
fn switching_events_off_changes_no_decision_or_balance() {
    let mut d = Desk::demo();
    d.host.set_traffic_events(false);
    d.host.set_booking_events(false);
    while d.host.poll_event().is_some() {} // the sign-on's
    let (_, r) = d.sale(ALICE, 1_500);
    assert_eq!(r.code, "00");
    assert_eq!(d.balance("alice"), 498_500);
    assert!(d.host.poll_event().is_none(), "no events when switched off");
    assert_eq!(d.host.entries(), 1, "the booking is there all the same");
}

/// A host restarted on `ledger`, fresh from the demo configuration with
/// `cfg` applied.
fn restart(ledger: cardwire_engine::ledger::MemoryLedger, cfg: &HostConfig) -> Host {
    let spec = Arc::clone(specs::builtin("cups").expect("cups"));
    Host::with_ledger(spec, cfg.clone(), ledger).expect("restart")
}

/// The same entries without the snapshot.
fn without_snapshot(
    ledger: &cardwire_engine::ledger::MemoryLedger,
) -> cardwire_engine::ledger::MemoryLedger {
    use cardwire_engine::ledger::Ledger;
    let mut bare = cardwire_engine::ledger::MemoryLedger::new();
    for e in ledger.as_slice() {
        bare.append(e).expect("in order");
    }
    bare
}

/// Signs the desk's terminal on again (keys are not kept across a
/// restart) and returns it.
fn signed_on(host: Host, cfg: &HostConfig, now: Timestamp, stan: u32) -> Desk {
    let mut d = Desk::new(cfg.clone());
    d.host = host;
    d.now = now;
    d.stan = stan;
    // Desk::new signed on to a host of its own: sign on to this one.
    let signon = Request {
        kind: Some(TxnKind::SignOn),
        stan: d.stan + 1,
        terminal_id: TID.into(),
        merchant_id: MID.into(),
        batch: Some(1),
        ..Request::default()
    };
    d.stan += 1;
    let r = d.send_raw(&signon, false);
    let tmk = DesKey::from_hex(DEMO_TMK).expect("tmk");
    d.keys = WorkingKeys::unwrap(&tmk, &r.keys.expect("keys")).expect("unwrap");
    d
}

#[test]
fn restart_from_a_snapshot_decides_as_a_replay_of_the_whole_ledger() {
    let cfg = HostConfig {
        snapshot_every: 3,
        ..HostConfig::demo()
    };
    let mut d = Desk::new(cfg.clone());
    let (a, a_reply) = d.sale(ALICE, 10_000);
    let (b, b_reply) = d.sale(ALICE, 2_000);
    let void_b = d.void_of(&b, &b_reply);
    assert_eq!(d.send(&void_b).code, "00");
    let (c, _) = d.sale(BOB, 1_000);
    let rev_c = d.reversal_of(&c);
    assert_eq!(d.send(&rev_c).code, "00");
    let mut refund = d.base(TxnKind::Refund);
    refund.pan = a.pan.clone();
    refund.rrn = a_reply.rrn.clone();
    refund.amount = Some(3_000);
    assert_eq!(d.send(&refund).code, "00");
    let (_e, _) = d.sale(ALICE, 500); // after the last snapshot (entry 6)
    let ledger = d.host.ledger().clone();
    use cardwire_engine::ledger::Ledger;
    assert_eq!(ledger.snapshot().expect("memory").map(|s| s.0), Some(6));

    let (now, stan) = (d.now, d.stan);
    let mut from_snapshot = signed_on(restart(ledger.clone(), &cfg), &cfg, now, stan);
    let mut replayed = signed_on(restart(without_snapshot(&ledger), &cfg), &cfg, now, stan);
    assert_eq!(from_snapshot.host.accounts(), replayed.host.accounts());
    assert_eq!(from_snapshot.host.entries(), 7);
    assert_eq!(from_snapshot.host.approved_entries(), 7);
    // The same requests get the same answers from both.
    let mut refund_rest = refund.clone();
    refund_rest.amount = Some(7_000);
    let mut refund_more = refund.clone();
    refund_more.amount = Some(1);
    let void_a = from_snapshot.void_of(&a, &a_reply);
    let followups = [
        ("duplicate", a.clone()),
        ("void of a voided sale", void_b.clone()),
        ("reversal again", rev_c.clone()),
        ("refund of the rest", refund_rest),
        ("refund beyond the original", refund_more),
        ("void of a refunded sale", void_a),
    ];
    for (what, req) in followups {
        for d in [&mut from_snapshot, &mut replayed] {
            d.stan += 1;
        }
        let mut req = req;
        if what.starts_with("refund") {
            req.stan = from_snapshot.stan;
        }
        let x = from_snapshot.send(&req);
        let y = replayed.send(&req);
        assert_eq!(x.code, y.code, "{what}");
    }
    assert_eq!(from_snapshot.host.accounts(), replayed.host.accounts());
}

#[test]
fn pin_tries_of_the_day_survive_a_restart_through_the_snapshot() {
    let cfg = HostConfig {
        snapshot_every: 2,
        ..HostConfig::demo()
    };
    let mut d = Desk::new(cfg.clone());
    for _ in 0..2 {
        let r = d.sale_req(ALICE, "000000", 100);
        assert_eq!(d.send(&r).code, "55");
    }
    let (now, stan) = (d.now, d.stan);
    let mut d = signed_on(restart(d.host.ledger().clone(), &cfg), &cfg, now, stan);
    let r = d.sale_req(ALICE, "000000", 100);
    assert_eq!(d.send(&r).code, "75", "the third wrong PIN of the day");
}

#[test]
fn entries_older_than_the_window_leave_memory_but_an_open_pre_auth_stays() {
    let cfg = HostConfig {
        keep_days: 0,
        ..HostConfig::demo()
    };
    let mut d = Desk::new(cfg);
    let (a, a_reply) = d.sale(ALICE, 10_000);
    let mut pa = d.sale_req(ALICE, "123456", 50_000);
    pa.kind = Some(TxnKind::PreAuth);
    let pr = d.send(&pa);
    assert_eq!(pr.code, "00");
    assert_eq!(d.host.entries_in_memory(), 2);
    // The next business day.
    d.now = d.now.plus(std::time::Duration::from_secs(86_400));
    let (_, r) = d.sale(ALICE, 1_000);
    assert_eq!(r.code, "00");
    assert_eq!(
        d.host.entries_in_memory(),
        2,
        "the pre-auth and today's sale"
    );
    assert_eq!(d.host.entries(), 3);
    let mut refund = d.base(TxnKind::Refund);
    refund.pan = a.pan.clone();
    refund.rrn = a_reply.rrn.clone();
    refund.amount = Some(1_000);
    assert_eq!(
        d.send(&refund).code,
        "25",
        "yesterday's sale is out of the window"
    );
    let mut c = d.base(TxnKind::PreAuthCompletion);
    c.pan = pa.pan.clone();
    c.amount = Some(40_000);
    c.auth_code = pr.auth_code.clone();
    c.rrn = pr.rrn.clone();
    assert_eq!(d.send(&c).code, "00", "the hold is still there to complete");
    assert_eq!(d.balance("alice"), 500_000 - 10_000 - 1_000 - 40_000);
    // The batch's totals still count yesterday's sale.
    let mut s = d.base(TxnKind::Settlement);
    s.additional = Some(cardwire_engine::host::totals_field((51_000, 3, 0, 0)));
    let r = d.send(&s);
    assert_eq!(r.code, "00");
    assert!(
        r.additional.as_deref().is_some_and(|a| a.ends_with('1')),
        "balanced: {:?}",
        r.additional
    );
}

#[test]
fn a_long_replay_leaves_a_snapshot_for_the_next_start() {
    use cardwire_engine::ledger::Ledger;
    let cfg = HostConfig {
        snapshot_every: 0,
        ..HostConfig::demo()
    };
    let mut d = Desk::new(cfg.clone());
    for _ in 0..3 {
        assert_eq!(d.sale(ALICE, 100).1.code, "00");
    }
    assert!(d.host.ledger().snapshot().expect("memory").is_none());
    let every_two = HostConfig {
        snapshot_every: 2,
        ..cfg
    };
    let again = restart(d.host.ledger().clone(), &every_two);
    assert_eq!(again.start_report(), (None, 3));
    assert_eq!(
        again.ledger().snapshot().expect("memory").map(|s| s.0),
        Some(3)
    );
    let third = restart(again.ledger().clone(), &every_two);
    assert_eq!(third.start_report(), (Some(3), 0));
    assert_eq!(third.card_balance("alice"), Some(499_700));
}
