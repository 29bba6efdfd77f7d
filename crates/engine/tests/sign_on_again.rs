//! A host that lost the terminal's working keys (a restart) answers with
//! its dialect's code for "not signed on"; the terminal must sign on again
//! before its next transaction, on every dialect the host speaks.

use std::sync::Arc;

use cardwire_codec::specs;
use cardwire_engine::config::HostConfig;
use cardwire_engine::fault::FaultPlan;
use cardwire_engine::pair::Pair;
use cardwire_engine::reply_codes::Reason;
use cardwire_engine::{Action, Host, Money, TerminalConfig};

#[test]
fn a_restarted_host_makes_the_terminal_sign_on_again_on_every_dialect() {
    for name in ["cups", "iso87ascii", "iso87binary"] {
        let spec = Arc::clone(specs::builtin(name).expect("spec"));
        let mut pair = Pair::new(
            Arc::clone(&spec),
            HostConfig::demo(),
            TerminalConfig::default(),
            FaultPlan::default(),
        )
        .expect("pair");
        let sale = |p: &Pair, minor| Action::sale(p.card("alice").expect("card"), Money(minor));
        let out = pair.run(sale(&pair, 100)).expect("runs");
        assert_eq!(out.code.as_deref(), Some("00"), "{name}");

        // The host restarts on its ledger: balances kept, keys gone.
        let ledger = pair.host.ledger().clone();
        pair.host =
            Host::with_ledger(Arc::clone(&spec), HostConfig::demo(), ledger).expect("restart");
        let out = pair.run(sale(&pair, 200)).expect("runs");
        let not_signed_on = Reason::NotSignedOn.code(spec.codes);
        assert_eq!(out.code.as_deref(), Some(not_signed_on), "{name}");

        // The next sale signs on first and goes through.
        let out = pair.run(sale(&pair, 300)).expect("runs");
        assert_eq!(out.code.as_deref(), Some("00"), "{name}: {out:?}");
    }
}
