//! Arbitrary bytes as a session at the terminal: actions, link faults,
//! clock jumps and garbage frames, with the invariants checked after every
//! step. The `engine` fuzz target and a property test both drive it.

use core::time::Duration;
use std::collections::HashSet;

use crate::config::Money;
use crate::fault::{Fault, FaultRule};
use crate::host::ConnId;
use crate::invariants::{self, InvariantReport};
use crate::pair::{Pair, PairEvent};
use crate::terminal::{Action, EntryMode, TerminalEvent};

/// Runs the session `data` describes (4 bytes a step, at most 24 steps)
/// on a demo pair and checks, after every step, that money is conserved
/// and nothing is posted twice; at the end (faults cleared, one more
/// online transaction) that every approval the terminal never saw is
/// reversed or was given up on after its retries.
///
/// # Errors
///
/// A description of the first invariant that failed.
pub fn exercise(data: &[u8]) -> Result<InvariantReport, String> {
    let mut pair =
        Pair::demo(u64::from(data.first().copied().unwrap_or(0))).map_err(|e| e.to_string())?;
    let mut vouchers: Vec<u32> = Vec::new();
    let mut rrns: Vec<String> = Vec::new();
    for op in data.get(1..).unwrap_or(&[]).chunks(4).take(24) {
        let [a, b, c, d] = [0, 1, 2, 3].map(|i| op.get(i).copied().unwrap_or(0));
        if let Some(&f) = Fault::ALL.get(usize::from(c % 16)) {
            let mut rule = FaultRule::always(f).times(1);
            if d & 1 == 1 {
                rule = rule.delay(Duration::from_secs(u64::from(d)));
            }
            pair.add_faults([rule]);
        }
        let card_id = ["alice", "bob", "lost"][usize::from(b % 3)];
        let mut card = pair.card(card_id).map_err(|e| e.to_string())?;
        if b & 0x80 != 0 {
            card.pin = Some("000001".into());
        }
        if b & 0x40 != 0 {
            card.entry = EntryMode::Contactless;
            card.pin = None;
        }
        let amount = Money(i64::from(u16::from_be_bytes([b, d])) + 1);
        let voucher = vouchers
            .get(usize::from(d) % vouchers.len().max(1))
            .copied()
            .unwrap_or(1);
        let password = if d == 0xFF { "000000" } else { "123456" }.to_owned();
        let action = match a % 12 {
            0..=3 => Action::Sale { card, amount },
            4 => Action::Void {
                card,
                voucher,
                password,
            },
            5 => Action::Balance { card },
            6 => Action::PreAuth { card, amount },
            7 => Action::Completion {
                card,
                voucher,
                amount,
            },
            8 => Action::Refund {
                card,
                amount,
                rrn: rrns.last().cloned().unwrap_or_default(),
                date: None,
                password,
            },
            9 => Action::Settle,
            10 => {
                // Garbage straight at both ends.
                pair.host.handle_message(pair.now, ConnId(77), op);
                pair.terminal.handle_message(pair.now, op);
                continue;
            }
            _ => {
                pair.advance(Duration::from_secs(u64::from(d) * 60));
                continue;
            }
        };
        let out = pair.run(action).map_err(|e| e.to_string())?;
        if out.approved {
            vouchers.extend(out.stan);
            rrns.extend(out.rrn);
        }
        let inv = invariants::check(&pair.host, &[&pair.terminal]);
        if !inv.holds() {
            return Err(format!("after step {op:02x?}: {inv:?}"));
        }
    }
    pair.link.clear_rules();
    pair.advance(Duration::from_secs(600));
    let card = pair.card("alice").map_err(|e| e.to_string())?;
    pair.run(Action::Balance { card })
        .map_err(|e| e.to_string())?;
    let inv = invariants::check(&pair.host, &[&pair.terminal]);
    if !inv.holds() {
        return Err(format!("at the end: {inv:?}"));
    }
    let given_up: HashSet<u32> = pair
        .log
        .iter()
        .filter_map(|e| match e {
            PairEvent::Terminal(TerminalEvent::ReversalGivenUp {
                stan,
                dropped: true,
                ..
            }) => Some(*stan),
            _ => None,
        })
        .collect();
    if let Some(u) = inv.double_debits().find(|u| !given_up.contains(&u.stan)) {
        return Err(format!("approval never seen and never reversed: {u:?}"));
    }
    Ok(inv)
}
