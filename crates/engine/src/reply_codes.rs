//! Why the host answers what it answers, and the code each dialect uses
//! for it.
//!
//! The host decides in [`Reason`]s; the code on the wire (field 39) comes
//! from the spec's own response-code table, so an ISO 8583:1987 host never
//! sends a UnionPay-private code (`97`, `A0`) its own table calls unknown.
//! Codes a user gives (response rules, the `9901.NN` amount rule) go out
//! as given. The table is documented in `docs/reply-codes.md`.
//!
//! ```
//! use cardwire_codec::CodeTable;
//! use cardwire_engine::reply_codes::Reason;
//!
//! assert_eq!(Reason::BadMac.code(CodeTable::Cups), "A0");
//! assert_eq!(Reason::BadMac.code(CodeTable::Iso87), "63");
//! assert_eq!(Reason::BadMac.code(CodeTable::Iso93), "916");
//! assert_eq!(Reason::from_code(CodeTable::Cups, "97"), Some(Reason::UnknownTerminal));
//! ```

use cardwire_codec::CodeTable;

/// A decision of the host that carries a response code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// Approved (also: network management accepted, reversal accepted).
    Approved,
    /// Field 41 names no terminal the host knows.
    UnknownTerminal,
    /// Field 42 is not the terminal's merchant.
    WrongMerchant,
    /// The request's MAC does not verify (or is missing where required).
    BadMac,
    /// The terminal has no working keys: it must sign on first.
    NotSignedOn,
    /// A PIN block came but no PIN key to read it, or it does not decrypt.
    PinKeyError,
    /// The batch number is not the one the host expects.
    BatchMismatch,
    /// Same terminal, STAN and day as a request already decided.
    Duplicate,
    /// The issuer is down.
    IssuerDown,
    /// The issuer cannot be reached.
    IssuerUnreachable,
    /// The issuer did not answer in time.
    IssuerTimeout,
    /// The transaction is not supported.
    NotSupported,
    /// The host failed (ledger, key generation).
    SystemError,
    /// The frame could not be decoded.
    FormatError,
    /// Unknown card number, or not the original's card.
    InvalidCard,
    /// The card is reported lost.
    LostCard,
    /// The card is reported stolen.
    StolenCard,
    /// The card is blocked.
    CardBlocked,
    /// The card has expired (or the expiry does not match).
    ExpiredCard,
    /// Wrong PIN, or no PIN where one is required.
    IncorrectPin,
    /// PIN tries exhausted for the day.
    PinTriesExceeded,
    /// PIN tries exhausted, card locked.
    PinTriesExceededLocked,
    /// Zero or out-of-range amount.
    InvalidAmount,
    /// Over the card's per-transaction or daily limit.
    ExceedsLimit,
    /// Not enough money.
    InsufficientFunds,
    /// The original was declined, is of the wrong kind, or is from an
    /// earlier day.
    InvalidTransaction,
    /// The original was already voided, completed or reversed.
    OriginalClosed,
    /// The original belongs to another terminal.
    WrongTerminal,
    /// The amount differs from the original's.
    AmountMismatch,
    /// No original found.
    OriginalNotFound,
}

/// `(reason, cups, iso87, iso93)`: one row per reason.
const TABLE: &[(Reason, &str, &str, &str)] = &[
    (Reason::Approved, "00", "00", "000"),
    (Reason::UnknownTerminal, "97", "58", "120"),
    (Reason::WrongMerchant, "03", "03", "109"),
    (Reason::BadMac, "A0", "63", "916"),
    (Reason::NotSignedOn, "A0", "63", "918"),
    (Reason::PinKeyError, "99", "63", "128"),
    (Reason::BatchMismatch, "77", "95", "915"),
    (Reason::Duplicate, "94", "94", "913"),
    (Reason::IssuerDown, "91", "91", "907"),
    (Reason::IssuerUnreachable, "92", "92", "908"),
    (Reason::IssuerTimeout, "98", "68", "911"),
    (Reason::NotSupported, "40", "40", "115"),
    (Reason::SystemError, "96", "96", "909"),
    (Reason::FormatError, "30", "30", "904"),
    (Reason::InvalidCard, "14", "14", "111"),
    (Reason::LostCard, "41", "41", "208"),
    (Reason::StolenCard, "43", "43", "209"),
    (Reason::CardBlocked, "57", "57", "119"),
    (Reason::ExpiredCard, "54", "54", "101"),
    (Reason::IncorrectPin, "55", "55", "117"),
    (Reason::PinTriesExceeded, "75", "75", "106"),
    (Reason::PinTriesExceededLocked, "38", "38", "206"),
    (Reason::InvalidAmount, "13", "13", "110"),
    (Reason::ExceedsLimit, "61", "61", "121"),
    (Reason::InsufficientFunds, "51", "51", "116"),
    (Reason::InvalidTransaction, "12", "12", "902"),
    (Reason::OriginalClosed, "22", "22", "902"),
    (Reason::WrongTerminal, "58", "58", "120"),
    (Reason::AmountMismatch, "64", "64", "110"),
    (Reason::OriginalNotFound, "25", "25", "914"),
];

impl Reason {
    /// Every reason, in the order of `docs/reply-codes.md`.
    pub fn all() -> impl Iterator<Item = Reason> {
        TABLE.iter().map(|r| r.0)
    }

    /// The code for this reason in `table`.
    pub fn code(self, table: CodeTable) -> &'static str {
        let row =
            TABLE
                .iter()
                .find(|r| r.0 == self)
                .unwrap_or(&(Reason::SystemError, "96", "96", "909"));
        match table {
            CodeTable::Cups => row.1,
            CodeTable::Iso93 => row.3,
            // Iso87, and any table added later, speaks 1987 codes.
            _ => row.2,
        }
    }

    /// Whether the host refused the request before any decision on the
    /// card or the money (unknown terminal, MAC, keys, batch, duplicate,
    /// format, unsupported, host failure): a load run counts these apart
    /// from approvals and declines.
    pub fn is_rejection(self) -> bool {
        matches!(
            self,
            Reason::UnknownTerminal
                | Reason::WrongMerchant
                | Reason::BadMac
                | Reason::NotSignedOn
                | Reason::PinKeyError
                | Reason::BatchMismatch
                | Reason::Duplicate
                | Reason::NotSupported
                | Reason::SystemError
                | Reason::FormatError
        )
    }

    /// Whether the terminal must sign on again before its next request:
    /// its keys or its batch are out of step with the host. UnionPay codes
    /// say so by their category (`A0`, `77`, `99`); the 1987 table has no
    /// such category, so its codes for these reasons (`63`, `95`) count.
    pub fn asks_for_sign_on(self) -> bool {
        matches!(
            self,
            Reason::BadMac | Reason::NotSignedOn | Reason::PinKeyError | Reason::BatchMismatch
        )
    }

    /// The first reason whose code in `table` is `code` (several reasons
    /// share a code; this gives the one listed first).
    pub fn from_code(table: CodeTable, code: &str) -> Option<Reason> {
        Reason::all().find(|r| r.code(table) == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_a_known_code_in_every_table() {
        for table in [CodeTable::Cups, CodeTable::Iso87, CodeTable::Iso93] {
            for r in Reason::all() {
                let c = r.code(table);
                assert!(
                    table.lookup(c).known,
                    "{r:?} -> {c} is not in the {} table",
                    table.as_str()
                );
            }
        }
    }

    #[test]
    fn the_table_names_every_reason_once() {
        let mut seen = std::collections::HashSet::new();
        for (r, ..) in TABLE {
            assert!(seen.insert(*r), "{r:?} twice");
        }
        assert_eq!(seen.len(), 30);
    }
}
