//! Property: with a conforming terminal, any sequence of sales and link
//! faults never leaves a net debit for a sale the terminal showed as
//! failed, and never applies a posting twice.

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
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn conforming_terminal_never_leaves_a_net_debit_for_a_failed_sale(
        seed in any::<u64>(),
        steps in proptest::collection::vec((1u64..20_000, fault(), 0u64..120), 1..12),
    ) {
        let mut pair = Pair::demo(seed).unwrap();
        let mut shown_approved = 0i64;
        for (amount, fault, pause) in steps {
            if let Some(f) = fault {
                let mut rule = FaultRule::always(f).times(1);
                if matches!(f, Fault::DelayResponse) {
                    rule = rule.delay(Duration::from_secs(75));
                }
                pair.add_faults([rule]);
            }
            let out = pair.run(Action::sale(pair.card("alice").unwrap(), Money(amount as i64))).unwrap();
            if out.approved {
                shown_approved += amount as i64;
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
        for e in pair.host.journal() {
            if e.kind == TxnKind::Sale.as_str() && e.approved() && !pair.host.is_reversed(e.seq) {
                prop_assert!(pair.terminal.journal().iter().any(|r| r.voucher == e.stan && r.rrn == e.rrn));
            }
        }
        prop_assert!(pair.now >= Timestamp::SIM_START);
    }
}
