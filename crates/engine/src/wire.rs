//! The dialect layer: what a message means to the engine, and back.
//!
//! Terminal and host logic speak [`Request`] and [`Reply`], small structs in
//! payments terms (STAN, batch, original transaction, reason code). This
//! module maps them to and from codec [`Message`]s for each supported
//! dialect, in both directions side by side, so the terminal's encoder and
//! the host's decoder cannot drift apart.
//!
//! | meaning | UnionPay POS (`cups`) | ISO 8583:1987 (`iso87ascii`, `iso87binary`) |
//! |---|---|---|
//! | transaction type | 60.1 | MTI + processing code |
//! | batch number | 60.2 | 60 (6 digits, private use) |
//! | network management code | 60.3 | 70 |
//! | original batch / trace / date | 61.1 / 61.2 / 61.3 | 90 (original MTI, STAN, date-time) + 60 |
//! | working keys (sign-on reply) | 62, binary | 62, hex text |
//! | settlement totals | 48 | 48 |
//! | MAC | 64 (128 with a secondary bitmap) | 64 / 128 |

use core::fmt;

use bytes::{Bytes, BytesMut};
use cardwire_codec::spec::DataEncoding;
use cardwire_codec::{
    CodeTable, DecodeError, EncodeError, FieldNo, Message, MessageRef, Mti, Spec, TxnKind, decode,
    encode, mask::mask_pan,
};
use cardwire_security::{DesKey, MacAlgorithm, SecurityError, compute_mac, verify_mac};

use crate::clock::Timestamp;

/// MTI, processing code, POS condition code (25), UnionPay transaction
/// type (60.1).
pub type RequestShape = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    &'static str,
);

/// Which message conventions the engine speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dialect {
    /// UnionPay POS terminal dialect (TPDU + header, field 60/61/62).
    UnionPay,
    /// ISO 8583:1987 with common private-field conventions.
    Iso87,
}

/// Errors of the dialect layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The spec's dialect has no engine mapping (ISO 8583:1993 specs).
    #[error(
        "spec {spec:?} uses response codes {codes:?}, which the engine does not speak (use a 1987 or UnionPay spec)"
    )]
    UnsupportedSpec {
        /// Spec name.
        spec: String,
        /// Its response-code table.
        codes: &'static str,
    },
    /// This dialect has no message for the transaction.
    #[error("{kind} is not defined in the {dialect:?} dialect")]
    UnsupportedTransaction {
        /// The transaction.
        kind: &'static str,
        /// The dialect.
        dialect: Dialect,
    },
    /// Encoding failed (a value does not fit the spec).
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// Decoding failed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// MAC computation failed.
    #[error(transparent)]
    Security(#[from] SecurityError),
}

impl Dialect {
    /// The dialect of a spec: its response-code table decides.
    ///
    /// # Errors
    ///
    /// [`WireError::UnsupportedSpec`] for ISO 8583:1993 specs.
    pub fn for_spec(spec: &Spec) -> Result<Self, WireError> {
        match spec.codes {
            CodeTable::Cups => Ok(Dialect::UnionPay),
            CodeTable::Iso87 => Ok(Dialect::Iso87),
            other => Err(WireError::UnsupportedSpec {
                spec: spec.name.clone(),
                codes: other.as_str(),
            }),
        }
    }

    /// MTI, processing code, POS condition code (25) and UnionPay
    /// transaction type (60.1) of a request.
    ///
    /// # Errors
    ///
    /// [`WireError::UnsupportedTransaction`] for kinds without a message.
    pub fn request_shape(self, kind: TxnKind) -> Result<RequestShape, WireError> {
        use TxnKind::*;
        let shape = match (self, kind) {
            (_, SignOn) => ("0800", None, None, "00"),
            (Dialect::UnionPay, SignOff) => ("0820", None, None, "00"),
            (Dialect::Iso87, SignOff) => ("0800", None, None, "00"),
            (Dialect::UnionPay, Echo) => ("0820", None, None, "00"),
            (Dialect::Iso87, Echo) => ("0800", None, None, "00"),
            (_, BalanceInquiry) => ("0200", Some("310000"), Some("00"), "01"),
            (_, Sale) => ("0200", Some("000000"), Some("00"), "22"),
            (Dialect::UnionPay, Void) => ("0200", Some("200000"), Some("00"), "23"),
            (Dialect::Iso87, Void) => ("0200", Some("020000"), Some("00"), "23"),
            (Dialect::UnionPay, Refund) => ("0220", Some("200000"), Some("00"), "25"),
            (Dialect::Iso87, Refund) => ("0200", Some("200000"), Some("00"), "25"),
            (Dialect::UnionPay, PreAuth) => ("0100", Some("030000"), Some("06"), "10"),
            (Dialect::Iso87, PreAuth) => ("0100", Some("000000"), Some("06"), "10"),
            (Dialect::UnionPay, PreAuthVoid) => ("0100", Some("200000"), Some("06"), "11"),
            (Dialect::UnionPay, PreAuthCompletion) => ("0200", Some("000000"), Some("06"), "20"),
            (Dialect::Iso87, PreAuthCompletion) => ("0220", Some("000000"), Some("06"), "20"),
            (Dialect::UnionPay, PreAuthCompletionVoid) => {
                ("0200", Some("200000"), Some("06"), "21")
            }
            (_, Settlement) => ("0500", None, None, "00"),
            (_, BatchUpload) => ("0320", None, None, "00"),
            _ => {
                return Err(WireError::UnsupportedTransaction {
                    kind: kind.as_str(),
                    dialect: self,
                });
            }
        };
        Ok(shape)
    }

    /// Network management code of a network request (60.3 or 70).
    pub fn net_code(self, kind: TxnKind) -> Option<&'static str> {
        match (self, kind) {
            (Dialect::UnionPay, TxnKind::SignOn) => Some("003"),
            (Dialect::Iso87, TxnKind::SignOn) => Some("001"),
            (_, TxnKind::SignOff) => Some("002"),
            (_, TxnKind::Echo) => Some("301"),
            (Dialect::UnionPay, TxnKind::Settlement | TxnKind::BatchUpload) => Some("201"),
            _ => None,
        }
    }
}

/// The original transaction a void, refund, completion or reversal refers
/// to (61 in UnionPay, 90 + 60 in 1987).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginalRef {
    /// Original batch number.
    pub batch: Option<u32>,
    /// Original STAN (the voucher number).
    pub stan: Option<u32>,
    /// Original date, `MMDD`.
    pub date: Option<String>,
}

/// A request, in payments terms.
///
/// `Debug` masks the PAN and hides the PIN block.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// What it asks for.
    pub kind: Option<TxnKind>,
    /// Its MTI as received (0400 or 0401 ...), set by [`Request::parse`].
    pub mti: Option<Mti>,
    /// System trace audit number (11).
    pub stan: u32,
    /// Card acceptor terminal id (41).
    pub terminal_id: String,
    /// Card acceptor id, the merchant (42).
    pub merchant_id: String,
    /// Batch number.
    pub batch: Option<u32>,
    /// Primary account number (2). Sensitive.
    pub pan: Option<String>,
    /// Card expiry `YYMM` (14).
    pub expiry: Option<String>,
    /// Track 2 equivalent data (35). Sensitive.
    pub track2: Option<String>,
    /// Amount in minor units (4).
    pub amount: Option<u64>,
    /// ISO 4217 numeric currency (49).
    pub currency: Option<u16>,
    /// Processing code (3), when the message has one.
    pub processing_code: Option<String>,
    /// POS condition code (25).
    pub condition_code: Option<String>,
    /// UnionPay transaction type (60.1).
    pub txn_type: Option<String>,
    /// POS entry mode (22): `021` stripe with PIN, `051` chip, `071`
    /// contactless ...
    pub entry_mode: Option<String>,
    /// Encrypted PIN block (52). Sensitive.
    pub pin_block: Option<[u8; 8]>,
    /// Retrieval reference number (37): the original's for voids and
    /// refunds.
    pub rrn: Option<String>,
    /// Authorization code (38): the original's for voids and completions.
    pub auth_code: Option<String>,
    /// Reason (39) in reversals: `98` no reply, `A0` bad MAC, `06` other.
    pub reason: Option<String>,
    /// The original transaction.
    pub original: Option<OriginalRef>,
    /// Network management code (60.3 / 70).
    pub net_code: Option<String>,
    /// Settlement totals or batch-upload data (48).
    pub additional: Option<String>,
    /// Whether a MAC field was present.
    pub has_mac: bool,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("kind", &self.kind.map(TxnKind::as_str))
            .field("stan", &self.stan)
            .field("terminal_id", &self.terminal_id)
            .field("merchant_id", &self.merchant_id)
            .field("batch", &self.batch)
            .field("pan", &self.pan.as_deref().map(|p| mask_pan(p.as_bytes())))
            .field("amount", &self.amount)
            .field("rrn", &self.rrn)
            .field("reason", &self.reason)
            .field("original", &self.original)
            .field("pin_block", &self.pin_block.map(|_| "<hidden>"))
            .finish_non_exhaustive()
    }
}

/// A reply, in payments terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    /// Response code (39).
    pub code: String,
    /// Retrieval reference number (37).
    pub rrn: Option<String>,
    /// Authorization code (38).
    pub auth_code: Option<String>,
    /// Host date `MMDD` (13).
    pub date: Option<String>,
    /// Batch number the host expects (60.2 / 60).
    pub batch: Option<u32>,
    /// Working keys (62), wrapped under the TMK.
    pub keys: Option<Vec<u8>>,
    /// Available balance in minor units (54), for balance inquiries.
    pub balance: Option<i64>,
    /// Settlement result or other additional data (48).
    pub additional: Option<String>,
}

fn text(m: &MessageRef<'_>, n: u8) -> Option<String> {
    m.value(n).map(|v| v.to_string())
}

fn number<T: TryFrom<u64>>(m: &MessageRef<'_>, n: u8) -> Option<T> {
    m.value(n)?.to_u64().and_then(|v| T::try_from(v).ok())
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl Request {
    /// Reads a request off a decoded message.
    pub fn parse(dialect: Dialect, m: &MessageRef<'_>) -> Self {
        let mut r = Request {
            kind: Some(m.transaction()),
            mti: Some(m.mti()),
            stan: number(m, 11).unwrap_or(0),
            terminal_id: text(m, 41).unwrap_or_default(),
            merchant_id: text(m, 42).unwrap_or_default(),
            pan: text(m, 2),
            expiry: text(m, 14),
            amount: number(m, 4),
            currency: number(m, 49),
            processing_code: text(m, 3),
            condition_code: text(m, 25),
            entry_mode: text(m, 22),
            pin_block: m
                .value(52)
                .and_then(|v| <[u8; 8]>::try_from(v.to_vec()).ok()),
            rrn: text(m, 37),
            auth_code: text(m, 38),
            reason: text(m, 39),
            additional: text(m, 48),
            has_mac: m.has(64) || m.has(128),
            ..Request::default()
        };
        match dialect {
            Dialect::UnionPay => {
                if let Some(f60) = text(m, 60) {
                    r.txn_type = f60.get(0..2).map(str::to_owned);
                    r.batch = f60.get(2..8).and_then(digits);
                    r.net_code = f60.get(8..11).map(str::to_owned);
                }
                if let Some(f61) = text(m, 61) {
                    r.original = Some(OriginalRef {
                        batch: f61.get(0..6).and_then(digits),
                        stan: f61.get(6..12).and_then(digits),
                        date: f61.get(12..16).map(str::to_owned),
                    });
                }
            }
            Dialect::Iso87 => {
                r.batch = text(m, 60)
                    .as_deref()
                    .and_then(|s| s.get(0..6))
                    .and_then(digits);
                r.net_code = text(m, 70);
                if let Some(f90) = text(m, 90) {
                    r.original = Some(OriginalRef {
                        batch: None,
                        stan: f90.get(4..10).and_then(digits),
                        date: f90.get(10..14).map(str::to_owned),
                    });
                }
            }
        }
        r
    }

    /// The message for this request (without MAC; see [`seal`]).
    ///
    /// # Errors
    ///
    /// [`WireError::UnsupportedTransaction`] when the dialect has no
    /// message for `kind`.
    pub fn to_message(&self, dialect: Dialect, now: Timestamp) -> Result<Message, WireError> {
        let kind = self.kind.unwrap_or(TxnKind::Unknown);
        let mut m;
        if kind == TxnKind::Reversal {
            // Same STAN and 3/25/60 as the original (the caller fills them).
            m = Message::new(self.mti.unwrap_or_else(|| mti("0400")));
            m.set(39, self.reason.clone().unwrap_or_else(|| "98".into()));
        } else {
            let (mti_s, proc_code, cond, _) = dialect.request_shape(kind)?;
            m = Message::new(mti(mti_s));
            if let Some(p) = proc_code {
                m.set(3, p);
            }
            if let Some(c) = cond {
                m.set(25, c);
            }
            if let Some(c) = &self.rrn {
                m.set(37, c.clone());
            }
            if let Some(c) = &self.auth_code {
                m.set(38, c.clone());
            }
        }
        if let Some(p) = &self.processing_code {
            m.set(3, p.clone());
        }
        if let Some(c) = &self.condition_code {
            m.set(25, c.clone());
        }
        if let Some(pan) = &self.pan {
            m.set(2, pan.clone());
        }
        if let Some(a) = self.amount {
            m.set_amount(a);
            m.set(49, format!("{:03}", self.currency.unwrap_or(156)));
        }
        m.set_stan(self.stan);
        if let Some(e) = &self.expiry {
            m.set(14, e.clone());
        }
        if let Some(t) = &self.track2 {
            m.set(35, t.clone());
        }
        if let Some(e) = &self.entry_mode {
            m.set(22, e.clone());
        }
        if let Some(pb) = &self.pin_block {
            m.set(52, pb.to_vec());
            m.set(26, "12");
            m.set(53, "2600000000000000");
        }
        m.set_terminal_id(&self.terminal_id);
        m.set_merchant_id(&self.merchant_id);
        if let Some(a) = &self.additional {
            m.set(48, a.clone());
        }
        let batch = self.batch.unwrap_or(0);
        match dialect {
            Dialect::UnionPay => {
                let txn_type = self.txn_type.clone().unwrap_or_else(|| {
                    dialect
                        .request_shape(kind)
                        .map(|s| s.3.to_owned())
                        .unwrap_or_else(|_| "00".into())
                });
                let net = self
                    .net_code
                    .clone()
                    .or_else(|| dialect.net_code(kind).map(str::to_owned))
                    .unwrap_or_else(|| "000".into());
                m.set(60, format!("{txn_type}{batch:06}{net}"));
                if let Some(o) = &self.original {
                    m.set(
                        61,
                        format!(
                            "{:06}{:06}{}",
                            o.batch.unwrap_or(0),
                            o.stan.unwrap_or(0),
                            o.date.clone().unwrap_or_else(|| "0000".into())
                        ),
                    );
                }
                m.tpdu = Some(Bytes::from_static(&UNIONPAY_TPDU));
                m.header = Some(Bytes::from_static(&UNIONPAY_HEADER));
            }
            Dialect::Iso87 => {
                m.set(7, now.mmddhhmmss());
                m.set(60, format!("{batch:06}"));
                if let Some(n) = self
                    .net_code
                    .clone()
                    .or_else(|| dialect.net_code(kind).map(str::to_owned))
                {
                    m.set(70, n);
                }
                if let Some(o) = &self.original {
                    let orig_mti = original_mti(kind, self.txn_type.as_deref());
                    let when = transmitted(o.date.as_deref());
                    m.set(
                        90,
                        format!(
                            "{orig_mti}{:06}{when}{:011}{:011}",
                            o.stan.unwrap_or(0),
                            0,
                            0
                        ),
                    );
                }
            }
        }
        Ok(m)
    }
}

/// The TPDU of a UnionPay request: to NII 0003 from 0000.
pub const UNIONPAY_TPDU: [u8; 5] = [0x60, 0x00, 0x03, 0x00, 0x00];
/// The 6-byte header of a UnionPay request (app 60, version 31 ...).
pub const UNIONPAY_HEADER: [u8; 6] = [0x60, 0x31, 0x00, 0x31, 0x10, 0x03];

/// 90.1: the MTI of the transaction referred to. A reversal refers to the
/// request it reverses (its kind is in 60.1 terms), a completion to its
/// pre-auth.
pub(crate) fn original_mti(kind: TxnKind, txn_type: Option<&str>) -> &'static str {
    match (kind, txn_type) {
        (TxnKind::Reversal, Some("10" | "11")) => "0100",
        (TxnKind::Reversal, Some("20")) => "0220",
        (TxnKind::PreAuthCompletion, _) => "0100",
        _ => "0200",
    }
}

/// 90.3, `MMDDhhmmss`: a date alone gets a zero time.
pub(crate) fn transmitted(date: Option<&str>) -> String {
    match date {
        Some(d) if d.len() == 10 && d.bytes().all(|b| b.is_ascii_digit()) => d.to_owned(),
        Some(d) if d.len() == 4 && d.bytes().all(|b| b.is_ascii_digit()) => format!("{d}000000"),
        _ => "0000000000".to_owned(),
    }
}

/// Fields a reply never echoes: card-present data, PIN and MAC.
const NOT_ECHOED: [u8; 12] = [14, 22, 26, 35, 36, 45, 48, 52, 53, 55, 64, 128];

impl Reply {
    /// Builds the reply to `req`: echoes the request's fields (except card
    /// data, PIN and MAC), sets the response MTI, swaps the TPDU addresses
    /// and echoes the header, then adds this reply's fields.
    pub fn to_message(&self, dialect: Dialect, req: &MessageRef<'_>, now: Timestamp) -> Message {
        let mut m = req.to_message();
        m.mti = req.mti().response();
        m.min_bitmaps = 1;
        for n in NOT_ECHOED {
            m.remove(n);
        }
        if let Some(&[id, d1, d2, s1, s2]) = req.tpdu() {
            m.tpdu = Some(Bytes::copy_from_slice(&[id, s1, s2, d1, d2]));
        }
        m.set(12, now.hhmmss());
        m.set(13, now.mmdd());
        m.set_response_code(&self.code);
        if let Some(r) = &self.rrn {
            m.set_rrn(r);
        }
        match &self.auth_code {
            Some(a) => {
                m.set(38, a.clone());
            }
            None => {
                m.remove(38);
            }
        }
        if let Some(b) = self.balance {
            let sign = if b < 0 { 'D' } else { 'C' };
            let cur = req
                .value(49)
                .map(|v| v.to_string())
                .unwrap_or_else(|| "156".into());
            m.set(54, format!("1002{cur}{sign}{:012}", b.unsigned_abs()));
        }
        if let Some(a) = &self.additional {
            m.set(48, a.clone());
        }
        match dialect {
            Dialect::UnionPay => {
                if let Some(k) = &self.keys {
                    m.set(62, k.clone());
                }
                if let Some(b) = self.batch {
                    let f60 = req.value(60).map(|v| v.to_string()).unwrap_or_default();
                    let head = f60.get(0..2).unwrap_or("00");
                    let tail = f60.get(8..).unwrap_or("");
                    m.set(60, format!("{head}{b:06}{tail}"));
                }
            }
            Dialect::Iso87 => {
                if let Some(k) = &self.keys {
                    m.set(62, hex::encode_upper(k));
                }
                if let Some(b) = self.batch {
                    m.set(60, format!("{b:06}"));
                }
            }
        }
        m
    }

    /// Reads a reply off a decoded message.
    pub fn parse(dialect: Dialect, m: &MessageRef<'_>) -> Self {
        let balance = text(m, 54).and_then(|s| {
            let sign = s.get(7..8)?;
            let v: i64 = s.get(8..20)?.parse().ok()?;
            Some(if sign == "D" { -v } else { v })
        });
        let (batch, keys) = match dialect {
            Dialect::UnionPay => (
                text(m, 60)
                    .as_deref()
                    .and_then(|s| s.get(2..8))
                    .and_then(digits),
                m.value(62).map(|v| v.to_vec()),
            ),
            Dialect::Iso87 => (
                text(m, 60)
                    .as_deref()
                    .and_then(|s| s.get(0..6))
                    .and_then(digits),
                text(m, 62).and_then(|h| hex::decode(h).ok()),
            ),
        };
        Reply {
            code: text(m, 39).unwrap_or_default(),
            rrn: text(m, 37),
            auth_code: text(m, 38),
            date: text(m, 13),
            batch,
            keys,
            balance,
            additional: text(m, 48),
        }
    }
}

/// An MTI from one of this module's constants.
fn mti(s: &'static str) -> Mti {
    s.parse().expect("MTI constants are four digits")
}

/// Which field carries the MAC: 128 when any field above 64 is present.
pub fn mac_field(m: &Message) -> u8 {
    if m.fields().any(|(n, _)| n.get() > 64 && n.get() != 128) {
        128
    } else {
        64
    }
}

/// Encodes `m`, with a MAC under `mak` in field 64 (or 128) when a key is
/// given: the MAC field is written as zeros, the MAB (MTI up to the MAC
/// field) is taken from the encoded bytes, and the MAC is patched in.
///
/// # Errors
///
/// Encoding or MAC errors.
pub fn seal(
    spec: &Spec,
    m: &mut Message,
    mac: Option<(MacAlgorithm, &DesKey)>,
) -> Result<Bytes, WireError> {
    let mut out = BytesMut::with_capacity(256);
    let Some((algo, key)) = mac else {
        m.remove(64);
        m.remove(128);
        encode(spec, m, &mut out)?;
        return Ok(out.freeze());
    };
    let field = mac_field(m);
    m.remove(if field == 64 { 128 } else { 64 });
    m.set(field, vec![0u8; 8]);
    encode(spec, m, &mut out)?;
    // The MAC field is fixed and the highest present, so it ends the
    // frame; the MAB runs from the MTI (after TPDU and header) up to it.
    let width = FieldNo::new(u16::from(field))
        .and_then(|n| spec.field(n))
        .and_then(|fs| match fs.encoding {
            DataEncoding::Binary => Some(8),
            DataEncoding::Hex => Some(16),
            _ => None,
        });
    let start = if spec.header.tpdu { 5 } else { 0 } + spec.header.length;
    let mac = match width.and_then(|w| out.len().checked_sub(w).map(|end| (w, end))) {
        Some((w, end)) if end >= start => {
            let mac = compute_mac(algo, key, out.get(start..end).unwrap_or(&[]))?;
            if let Some(tail) = out.get_mut(end..) {
                if w == 8 {
                    tail.copy_from_slice(&mac);
                } else {
                    tail.copy_from_slice(hex::encode_upper(mac).as_bytes());
                }
            }
            mac
        }
        _ => {
            // Unusual MAC field layout: take the MAB from a decode, then
            // encode again with the MAC in place.
            let mac = {
                let view = decode(spec, &out)?;
                compute_mac(algo, key, view.mac_input(field))?
            };
            m.set(field, mac.to_vec());
            out.clear();
            encode(spec, m, &mut out)?;
            mac
        }
    };
    m.set(field, mac.to_vec());
    Ok(out.freeze())
}

/// Checks the MAC of a decoded message.
///
/// # Errors
///
/// [`SecurityError::MacMismatch`] (inside [`WireError::Security`]) when it
/// differs, [`SecurityError::MacLength`] when there is no 8-byte MAC.
pub fn check_mac(m: &MessageRef<'_>, algo: MacAlgorithm, key: &DesKey) -> Result<(), WireError> {
    let field = if m.has(128) { 128 } else { 64 };
    // Binary fields may travel as raw bytes or as hex text: compare values.
    let received = m.value(field).map(|v| v.to_vec()).unwrap_or_default();
    verify_mac(algo, key, m.mac_input(field), &received)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cardwire_codec::specs;

    fn sale() -> Request {
        Request {
            kind: Some(TxnKind::Sale),
            stan: 42,
            terminal_id: "12345678".into(),
            merchant_id: "123456789012345".into(),
            batch: Some(1),
            pan: Some("6222021234567890123".into()),
            amount: Some(1234),
            currency: Some(156),
            entry_mode: Some("021".into()),
            pin_block: Some([1, 2, 3, 4, 5, 6, 7, 8]),
            ..Request::default()
        }
    }

    #[test]
    fn unionpay_request_round_trips_through_the_wire() {
        let spec = specs::cups();
        let key = DesKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
        let mut m = sale()
            .to_message(Dialect::UnionPay, Timestamp::SIM_START)
            .unwrap();
        let wire = seal(spec, &mut m, Some((MacAlgorithm::UnionPayEcb, &key))).unwrap();
        let view = decode(spec, &wire).unwrap();
        assert_eq!(view.transaction(), TxnKind::Sale);
        check_mac(&view, MacAlgorithm::UnionPayEcb, &key).unwrap();
        let back = Request::parse(Dialect::UnionPay, &view);
        assert_eq!(back.stan, 42);
        assert_eq!(back.batch, Some(1));
        assert_eq!(back.amount, Some(1234));
        assert_eq!(back.pin_block, Some([1, 2, 3, 4, 5, 6, 7, 8]));
        assert_eq!(back.txn_type.as_deref(), Some("22"));
    }

    #[test]
    fn a_flipped_byte_fails_the_mac() {
        let spec = specs::cups();
        let key = DesKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
        let mut m = sale()
            .to_message(Dialect::UnionPay, Timestamp::SIM_START)
            .unwrap();
        let wire = seal(spec, &mut m, Some((MacAlgorithm::X919, &key))).unwrap();
        let mut bad = wire.to_vec();
        let n = bad.len();
        bad[n - 1] ^= 1;
        let view = decode(spec, &bad).unwrap();
        assert!(check_mac(&view, MacAlgorithm::X919, &key).is_err());
    }

    #[test]
    fn reply_swaps_tpdu_addresses_and_echoes_the_header() {
        let spec = specs::cups();
        let mut m = sale()
            .to_message(Dialect::UnionPay, Timestamp::SIM_START)
            .unwrap();
        let wire = seal(spec, &mut m, None).unwrap();
        let req = decode(spec, &wire).unwrap();
        let reply = Reply {
            code: "00".into(),
            rrn: Some("112109000001".into()),
            auth_code: Some("A1B2C3".into()),
            ..Reply::default()
        };
        let mut out = reply.to_message(Dialect::UnionPay, &req, Timestamp::SIM_START);
        let bytes = seal(spec, &mut out, None).unwrap();
        let view = decode(spec, &bytes).unwrap();
        assert_eq!(view.mti().as_str(), "0210");
        assert_eq!(view.tpdu(), Some(&[0x60, 0x00, 0x00, 0x00, 0x03][..]));
        assert_eq!(view.header(), req.header());
        assert!(!view.has(52), "PIN block is never echoed");
        let back = Reply::parse(Dialect::UnionPay, &view);
        assert_eq!(back.code, "00");
        assert_eq!(back.rrn.as_deref(), Some("112109000001"));
    }

    #[test]
    fn iso87_reversal_carries_original_data_in_field_90() {
        let spec = specs::iso87ascii();
        let mut r = sale();
        r.kind = Some(TxnKind::Reversal);
        r.processing_code = Some("000000".into());
        r.reason = Some("98".into());
        r.original = Some(OriginalRef {
            batch: Some(1),
            stan: Some(42),
            date: Some("1121".into()),
        });
        r.pin_block = None;
        let mut m = r.to_message(Dialect::Iso87, Timestamp::SIM_START).unwrap();
        let wire = seal(spec, &mut m, None).unwrap();
        let view = decode(spec, &wire).unwrap();
        assert_eq!(view.transaction(), TxnKind::Reversal);
        assert!(
            view.value(90)
                .unwrap()
                .to_string()
                .starts_with("0200000042")
        );
        let back = Request::parse(Dialect::Iso87, &view);
        assert_eq!(back.original.unwrap().stan, Some(42));
        assert_eq!(back.reason.as_deref(), Some("98"));
        // The reversal of a pre-authorization names the 0100 it reverses.
        r.txn_type = Some("10".into());
        let mut m = r.to_message(Dialect::Iso87, Timestamp::SIM_START).unwrap();
        let wire = seal(spec, &mut m, None).unwrap();
        let view = decode(spec, &wire).unwrap();
        assert!(
            view.value(90)
                .unwrap()
                .to_string()
                .starts_with("0100000042")
        );
    }

    #[test]
    fn debug_never_shows_the_pan_or_pin_block() {
        let s = format!("{:?}", sale());
        assert!(!s.contains("6222021234567890123"), "{s}");
        assert!(s.contains("622202*********0123"), "{s}");
        assert!(!s.contains("[1, 2, 3"), "{s}");
    }
}
