//! The data of transaction rules: which transaction a message belongs to,
//! by MTI and field values (matched in [`crate::txn`]), and the built-in
//! rule tables.

/// A transaction type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TxnKind {
    /// Sign-on (key download, batch check).
    SignOn,
    /// Sign-off.
    SignOff,
    /// Echo test.
    Echo,
    /// Key exchange.
    KeyExchange,
    /// Other network management.
    NetworkManagement,
    /// Balance inquiry.
    BalanceInquiry,
    /// Sale (purchase).
    Sale,
    /// Void of a sale.
    Void,
    /// Refund.
    Refund,
    /// Pre-authorization.
    PreAuth,
    /// Void of a pre-authorization.
    PreAuthVoid,
    /// Pre-authorization completion.
    PreAuthCompletion,
    /// Void of a completion.
    PreAuthCompletionVoid,
    /// Reversal (of any reversible transaction).
    Reversal,
    /// Settlement / reconciliation.
    Settlement,
    /// Batch upload.
    BatchUpload,
    /// No rule matched.
    Unknown,
}

const ALL: [(TxnKind, &str); 17] = [
    (TxnKind::SignOn, "sign-on"),
    (TxnKind::SignOff, "sign-off"),
    (TxnKind::Echo, "echo"),
    (TxnKind::KeyExchange, "key-exchange"),
    (TxnKind::NetworkManagement, "network-management"),
    (TxnKind::BalanceInquiry, "balance"),
    (TxnKind::Sale, "sale"),
    (TxnKind::Void, "void"),
    (TxnKind::Refund, "refund"),
    (TxnKind::PreAuth, "pre-auth"),
    (TxnKind::PreAuthVoid, "pre-auth-void"),
    (TxnKind::PreAuthCompletion, "completion"),
    (TxnKind::PreAuthCompletionVoid, "completion-void"),
    (TxnKind::Reversal, "reversal"),
    (TxnKind::Settlement, "settlement"),
    (TxnKind::BatchUpload, "batch-upload"),
    (TxnKind::Unknown, "unknown"),
];

impl TxnKind {
    /// kebab-case name (`sale`, `pre-auth-void` ...).
    pub fn as_str(self) -> &'static str {
        ALL.iter()
            .find(|(k, _)| *k == self)
            .map_or("unknown", |(_, s)| s)
    }

    /// Parses a kebab-case name.
    pub fn parse(s: &str) -> Option<Self> {
        ALL.iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(s))
            .map(|(k, _)| *k)
    }

    /// Whether the terminal must store a reversal before sending it.
    pub fn is_reversible(self) -> bool {
        matches!(
            self,
            TxnKind::Sale
                | TxnKind::Void
                | TxnKind::PreAuth
                | TxnKind::PreAuthVoid
                | TxnKind::PreAuthCompletion
                | TxnKind::PreAuthCompletionVoid
        )
    }
}

/// A condition on a field or subfield: its value starts with one of
/// `any_of`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// `3`, or a subfield `60.1`.
    pub path: String,
    /// Accepted value prefixes.
    pub any_of: Vec<String>,
}

/// One classification rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnRule {
    /// The transaction this rule names.
    pub kind: TxnKind,
    /// MTI pattern of the request, `x` matching any digit (`04x0`);
    /// responses are matched through their request MTI.
    pub mti: String,
    /// All must hold.
    pub when: Vec<Condition>,
}

fn rule(kind: TxnKind, mti: &str, when: &[(&str, &[&str])]) -> TxnRule {
    TxnRule {
        kind,
        mti: mti.into(),
        when: when
            .iter()
            .map(|(p, a)| Condition {
                path: (*p).into(),
                any_of: a.iter().map(|s| (*s).into()).collect(),
            })
            .collect(),
    }
}

/// The UnionPay POS table (DOMAIN.md section 3).
pub(crate) fn cups_rules() -> Vec<TxnRule> {
    use TxnKind::*;
    vec![
        rule(SignOn, "0800", &[("60.3", &["001", "003", "004"])]),
        rule(SignOff, "0820", &[("60.3", &["002"])]),
        rule(Echo, "0820", &[("60.3", &["301"])]),
        rule(NetworkManagement, "08x0", &[]),
        rule(BalanceInquiry, "0200", &[("3", &["31"]), ("60.1", &["01"])]),
        rule(Sale, "0200", &[("3", &["00"]), ("60.1", &["22"])]),
        rule(Void, "0200", &[("3", &["20"]), ("60.1", &["23"])]),
        rule(
            PreAuthCompletion,
            "0200",
            &[("3", &["00"]), ("60.1", &["20"])],
        ),
        rule(
            PreAuthCompletionVoid,
            "0200",
            &[("3", &["20"]), ("60.1", &["21"])],
        ),
        rule(Refund, "0220", &[("3", &["20"]), ("60.1", &["25"])]),
        rule(PreAuth, "0100", &[("3", &["03"]), ("60.1", &["10"])]),
        rule(PreAuthVoid, "0100", &[("3", &["20"]), ("60.1", &["11"])]),
        rule(Reversal, "04x0", &[]),
        rule(Settlement, "05x0", &[]),
        rule(BatchUpload, "0320", &[]),
        // Without field 60: fall back on the processing code.
        rule(BalanceInquiry, "0200", &[("3", &["31"])]),
        rule(Sale, "0200", &[("3", &["00"])]),
        rule(Void, "0200", &[("3", &["20"])]),
        rule(Refund, "0220", &[("3", &["20"])]),
        rule(PreAuth, "0100", &[("3", &["03"])]),
    ]
}

/// ISO 8583:1987 conventions (network management code in field 70).
pub(crate) fn iso87_rules() -> Vec<TxnRule> {
    use TxnKind::*;
    vec![
        rule(SignOn, "08x0", &[("70", &["001"])]),
        rule(SignOff, "08x0", &[("70", &["002"])]),
        rule(Echo, "08x0", &[("70", &["301"])]),
        rule(KeyExchange, "08x0", &[("70", &["101", "161", "162"])]),
        rule(NetworkManagement, "08x0", &[]),
        rule(BalanceInquiry, "0x00", &[("3", &["30", "31"])]),
        rule(PreAuth, "0100", &[("3", &["00", "03"])]),
        rule(Sale, "0200", &[("3", &["00"])]),
        rule(Void, "0200", &[("3", &["02", "22"])]),
        rule(Refund, "0200", &[("3", &["20"])]),
        rule(PreAuthCompletion, "0220", &[("3", &["00"])]),
        rule(Refund, "0220", &[("3", &["20"])]),
        rule(Reversal, "04x0", &[]),
        rule(Settlement, "05x0", &[]),
        rule(BatchUpload, "0320", &[]),
    ]
}

/// ISO 8583:1993 conventions (function code in field 24).
pub(crate) fn iso93_rules() -> Vec<TxnRule> {
    use TxnKind::*;
    vec![
        rule(SignOn, "18x4", &[("24", &["801"])]),
        rule(SignOff, "18x4", &[("24", &["802"])]),
        rule(Echo, "18x4", &[("24", &["831"])]),
        rule(KeyExchange, "18x4", &[("24", &["811"])]),
        rule(NetworkManagement, "18xx", &[]),
        rule(BalanceInquiry, "1x00", &[("3", &["30", "31"])]),
        rule(PreAuth, "1100", &[("3", &["00", "03"])]),
        rule(Sale, "1200", &[("3", &["00"])]),
        rule(Refund, "1200", &[("3", &["20"])]),
        rule(PreAuthCompletion, "1220", &[("3", &["00"])]),
        rule(Reversal, "14xx", &[]),
        rule(Settlement, "15xx", &[]),
        rule(BatchUpload, "1320", &[]),
    ]
}
