//! Naming a message's transaction: sale, void, reversal, sign-on ...
//!
//! Each spec carries an ordered list of [`TxnRule`]s; the first rule whose
//! MTI pattern and field conditions match wins. Acquirers use private
//! processing codes, so the rules are data: a spec file can replace them.
//!
//! ```
//! use cardwire_codec::{Message, encode_to_vec, decode, specs, txn::TxnKind};
//! let m = Message::new("0200".parse().unwrap())
//!     .with(3, "200000").with(4, "000000001000").with(11, "000002")
//!     .with(25, "00").with(41, "12345678").with(42, "123456789012345")
//!     .with(49, "156").with(60, "23000001");
//! let mut m = m;
//! m.tpdu = Some(vec![0x60, 0, 3, 0, 0].into());
//! m.header = Some(vec![0x60, 0x31, 0, 0x31, 0x10, 0x03].into());
//! let wire = encode_to_vec(specs::cups(), &m).unwrap();
//! let msg = decode(specs::cups(), &wire).unwrap();
//! assert_eq!(msg.transaction(), TxnKind::Void);
//! ```

use crate::message::MessageRef;
pub use crate::spec::txn::{Condition, TxnKind, TxnRule};

fn mti_matches(pattern: &str, request: [u8; 4]) -> bool {
    pattern.len() == 4
        && pattern
            .bytes()
            .zip(request)
            .all(|(p, d)| p == b'x' || p == b'X' || p == d)
}

fn value_at<'a>(msg: &MessageRef<'a>, path: &str) -> Option<crate::Value<'a>> {
    match path.split_once('.') {
        None => msg.value(path.parse().ok()?),
        Some((f, sub)) => msg.field(f.parse().ok()?)?.subfield(sub.parse().ok()?),
    }
}

/// The transaction a message belongs to, by the spec's rules.
pub fn classify(msg: &MessageRef<'_>) -> TxnKind {
    let mut req = msg.mti().digits();
    if (req[2] - b'0') % 2 == 1 {
        req[2] -= 1;
    }
    req[3] = b'0' + ((req[3] - b'0') & !1);
    msg.spec()
        .transactions
        .iter()
        .find(|r| {
            mti_matches(&r.mti, req)
                && r.when.iter().all(|c| {
                    value_at(msg, &c.path).is_some_and(|v| {
                        c.any_of.iter().any(|p| {
                            p.len() <= v.len() && v.iter().zip(p.bytes()).all(|(a, b)| a == b)
                        })
                    })
                })
        })
        .map_or(TxnKind::Unknown, |r| r.kind)
}

impl MessageRef<'_> {
    /// The transaction this message belongs to (see [`classify`]).
    pub fn transaction(&self) -> TxnKind {
        classify(self)
    }
}
