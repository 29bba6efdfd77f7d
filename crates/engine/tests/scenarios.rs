//! Every built-in scenario runs on the in-memory pair and passes; each
//! field case is also a named test so a failure says which case broke.

use cardwire_codec::CodeTable;
use cardwire_engine::reply_codes::Reason;
use cardwire_engine::scenario::{BUILTIN, Report, Scenario, builtin};

fn run(name: &str) -> Report {
    let text = builtin(name).unwrap_or_else(|| panic!("no built-in {name}"));
    let report = Scenario::from_toml(text)
        .expect("built-in parses")
        .run()
        .expect("built-in runs");
    assert!(report.passed, "{}", report.to_text());
    report
}

#[test]
fn contact_bank_shows_refer_to_issuer_and_posts_nothing() {
    run("contact-bank");
}

#[test]
fn third_wrong_pin_of_the_day_gives_75_and_a_correct_pin_resets_the_count() {
    run("pin-error");
}

#[test]
fn void_needs_the_supervisor_password_and_credits_the_card() {
    run("void");
}

#[test]
fn lost_response_is_reversed_before_next_sale() {
    let r = run("lost-response-reversed");
    assert_eq!(r.invariants.double_debits().count(), 0);
}

#[test]
fn non_conforming_terminal_leaves_a_double_debit_in_the_report() {
    let r = run("double-debit");
    assert_eq!(r.invariants.double_debits().count(), 1);
    assert!(r.to_text().contains("DOUBLE DEBIT"), "{}", r.to_text());
}

#[test]
fn lost_reply_reversal_and_reswipe_send_three_sms_for_one_purchase() {
    run("frequent-sms");
}

#[test]
fn late_reply_is_ignored_and_reversed() {
    run("late-response");
}

#[test]
fn approval_with_bad_mac_is_reversed_with_reason_a0() {
    run("bad-mac");
}

#[test]
fn duplicate_request_gets_94_and_posts_once() {
    run("duplicate-request");
}

#[test]
fn next_day_void_is_refused_with_12_and_refund_works() {
    run("next-day-void");
}

#[test]
fn issuer_states_give_91_92_98() {
    run("issuer-down");
}

#[test]
fn settlement_balances_then_uploads_an_unbalanced_batch() {
    run("settlement");
}

#[test]
fn exhausted_reversal_retries_drop_the_record_and_leave_the_debit() {
    let r = run("reversal-given-up");
    assert_eq!(r.invariants.double_debits().count(), 1);
}

#[test]
fn link_down_aborts_the_next_sale_and_keeps_the_reversal() {
    run("link-down");
}

#[test]
fn every_builtin_scenario_passes_and_is_deterministic() {
    for (name, text) in BUILTIN {
        let a = Scenario::from_toml(text).unwrap().run().unwrap();
        let b = Scenario::from_toml(text).unwrap().run().unwrap();
        assert!(a.passed, "{name}:\n{}", a.to_text());
        assert_eq!(a.to_text(), b.to_text(), "{name} differs between runs");
    }
}

#[test]
fn a_wrong_expectation_fails_the_verdict() {
    let text = builtin("contact-bank")
        .unwrap()
        .replace("\"4912.00\"", "\"4000.00\"");
    let r = Scenario::from_toml(&text).unwrap().run().unwrap();
    assert!(!r.passed);
    assert!(
        r.to_text()
            .contains("FAILED    balance of alice: expected 4000.00, got 4912.00")
    );
}

#[test]
fn unknown_keys_in_a_scenario_file_are_reported() {
    let err =
        Scenario::from_toml("name = \"x\"\n[[step]]\ndo = \"sale\"\namount_ = 1\n").unwrap_err();
    assert!(err.to_string().contains("amount_"), "{err}");
}

#[test]
fn every_field_case_also_holds_on_the_1987_dialects() {
    for spec in ["iso87ascii", "iso87binary"] {
        for (name, text) in BUILTIN {
            let mut s = Scenario::from_toml(text).expect("parses");
            s.spec = spec.into();
            // Display texts are UnionPay's Chinese ones, and a code the
            // host chooses is the 1987 table's code for the same reason
            // (98 -> 68); everything else (codes a rule forces, balances,
            // SMS, reversals, invariants) must hold as is.
            for step in &mut s.steps {
                if let Some(x) = step.expect.as_mut() {
                    x.display = None;
                    if let Some(c) = x.code.as_mut() {
                        if let Some(r) = Reason::from_code(CodeTable::Cups, c) {
                            *c = r.code(CodeTable::Iso87).to_owned();
                        }
                    }
                }
            }
            let r = s.run().expect("runs");
            assert!(r.passed, "{name} on {spec}:\n{}", r.to_text());
        }
    }
}
