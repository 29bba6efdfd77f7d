//! Property: with a conforming terminal, any sequence of sales, voids and
//! link faults never leaves a net debit for a sale the terminal showed as
//! failed (nor a credit for a void it showed as failed), and never applies
//! a posting twice.

use cardwire_codec::TxnKind;
use cardwire_engine::fault::{Fault, FaultRule};
use cardwire_engine::invariants;
use cardwire_engine::pair::Pair;
use cardwire_engine::terminal::Action;
use cardwire_engine::{Money, Timestamp};
use core::time::Duration;
use proptest::prelude::*;

fn fault() -> impl Strategy<Value = Option<Fault>> {
    prop_oneof![
        3 => Just(None),
        1 => proptest::sample::select(Fault::ALL.to_vec()).prop_map(Some),
    ]
}

proptest! {
    // PROPTEST_CASES=5000 for a long run; 96 in CI.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(96),
        ..ProptestConfig::default()
    })]

    #[test]
    fn conforming_terminal_never_leaves_a_net_debit_for_a_failed_sale(
        seed in any::<u64>(),
        steps in proptest::collection::vec((1u64..20_000, fault(), 0u64..120, proptest::bool::weighted(0.25)), 1..14),
    ) {
        let mut pair = Pair::demo(seed).unwrap();
        let mut shown_approved = 0i64;
        let mut vouchers: Vec<(u32, i64)> = Vec::new();
        for (amount, fault, pause, void) in steps {
            if let Some(f) = fault {
                let mut rule = FaultRule::always(f).times(1);
                if matches!(f, Fault::DelayResponse) {
                    rule = rule.delay(Duration::from_secs(75));
                }
                pair.add_faults([rule]);
            }
            let card = pair.card("alice").unwrap();
            if void && !vouchers.is_empty() {
                let (voucher, amount) = vouchers.remove(0);
                let out = pair
                    .run(Action::Void { card, voucher, password: "123456".into() })
                    .unwrap();
                if out.approved {
                    shown_approved -= amount;
                } else {
                    vouchers.push((voucher, amount));
                }
            } else {
                let out = pair.run(Action::sale(card, Money(amount as i64))).unwrap();
                if out.approved {
                    shown_approved += amount as i64;
                    vouchers.push((out.stan.unwrap(), amount as i64));
                }
            }
            pair.advance(Duration::from_secs(pause));
            let inv = invariants::check(&pair.host, &[&pair.terminal]);
            prop_assert!(inv.holds(), "{inv:?}");
        }
        // Let every late reply land, then one more online transaction
        // carries any pending reversal.
        pair.link.clear_rules();
        pair.advance(Duration::from_secs(600));
        pair.run(Action::Balance { card: pair.card("alice").unwrap() }).unwrap();
        prop_assert!(pair.terminal.pending_reversal().is_none());
        let inv = invariants::check(&pair.host, &[&pair.terminal]);
        prop_assert!(inv.holds(), "{inv:?}");
        prop_assert!(inv.unacknowledged.is_empty(), "{inv:?}");
        prop_assert_eq!(pair.host.card_balance("alice"), Some(500_000 - shown_approved));
        // Every approved sale still standing is one the terminal recorded.
        for e in pair.host.ledger().as_slice() {
            let standing = !pair.host.is_reversed(e.seq);
            if (e.kind == TxnKind::Sale.as_str() || e.kind == TxnKind::Void.as_str()) && e.approved() && standing {
                prop_assert!(pair.terminal.journal().iter().any(|r| r.voucher == e.stan && r.rrn == e.rrn));
            }
        }
        prop_assert!(pair.now >= Timestamp::SIM_START);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128),
        ..ProptestConfig::default()
    })]

    /// Sales, voids, refunds, pre-auths, settlements, garbage frames,
    /// faults and clock jumps in any order keep the ledger invariants
    /// (the same driver as the `engine` fuzz target).
    #[test]
    fn arbitrary_sessions_keep_the_ledger_invariants(data in proptest::collection::vec(any::<u8>(), 0..100)) {
        if let Err(e) = cardwire_engine::exercise::exercise(&data) {
            prop_assert!(false, "{e}");
        }
    }
}
