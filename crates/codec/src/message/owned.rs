//! The owned message an encode takes: MTI, TPDU, header and each field's
//! logical value.

use core::fmt;

use bytes::Bytes;

use crate::types::{Bitmap, FieldNo, Mti};

/// An owned message: MTI, optional TPDU and header, and the logical
/// value of each field (characters for text and numeric fields, raw
/// bytes for binary ones). Build it, then [`encode`](crate::encode) it
/// with a spec.
///
/// ```
/// use cardwire_codec::{Message, encode_to_vec, decode, specs};
/// let mut m = Message::new("0200".parse().unwrap());
/// m.set(3, "000000").set(4, "000000001234").set(11, "000001").set(41, "TERM0001");
/// let wire = encode_to_vec(specs::iso87ascii(), &m).unwrap();
/// assert_eq!(decode(specs::iso87ascii(), &wire).unwrap().to_message(), m);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// Message type indicator.
    pub mti: Mti,
    /// TPDU (5 bytes) for specs that have one.
    pub tpdu: Option<Bytes>,
    /// Message header for specs that have one.
    pub header: Option<Bytes>,
    /// Write at least this many bitmaps (1-3), even when the fields need
    /// fewer. Decoding records what was on the wire so re-encoding is
    /// byte-exact.
    pub min_bitmaps: u8,
    fields: Vec<(FieldNo, Bytes)>,
    /// The fields present, and the sum of their values' lengths: kept
    /// with `fields` so the encoder sizes a message without a pass.
    present: Bitmap,
    value_bytes: usize,
}

/// Field numbers that hold card data or secrets in every common dialect;
/// `Debug` of a [`Message`] (which has no spec) hides them.
const SENSITIVE_BY_NUMBER: [u8; 11] = [2, 14, 35, 36, 45, 52, 55, 62, 64, 96, 128];

impl Message {
    /// An empty message.
    pub fn new(mti: Mti) -> Self {
        Message {
            mti,
            tpdu: None,
            header: None,
            min_bitmaps: 1,
            fields: Vec::new(),
            present: Bitmap::new(),
            value_bytes: 0,
        }
    }

    /// Sets field `n` (ignored unless 1 <= n <= 192) to a logical value.
    pub fn set(&mut self, n: u8, value: impl Into<Bytes>) -> &mut Self {
        if let Some(no) = FieldNo::new(u16::from(n)) {
            self.set_no(no, value);
        }
        self
    }

    /// Sets field `no` to a logical value.
    pub fn set_no(&mut self, no: FieldNo, value: impl Into<Bytes>) -> &mut Self {
        let v = value.into();
        self.value_bytes += v.len();
        match self.fields.binary_search_by_key(&no, |(n, _)| *n) {
            Ok(i) => {
                let old = core::mem::replace(&mut self.fields[i].1, v);
                self.value_bytes -= old.len();
            }
            Err(i) => {
                self.fields.insert(i, (no, v));
                self.present.set(no);
            }
        }
        self
    }

    /// The sum of the values' lengths.
    pub(crate) fn value_bytes(&self) -> usize {
        self.value_bytes
    }

    /// Sets field `no`, which comes after every field set so far.
    pub(crate) fn push_field(&mut self, no: FieldNo, v: Bytes) {
        if self.fields.last().is_some_and(|(last, _)| *last >= no) {
            self.set_no(no, v);
            return;
        }
        self.value_bytes += v.len();
        self.present.set(no);
        self.fields.push((no, v));
    }

    /// Builder form of [`Message::set`].
    pub fn with(mut self, n: u8, value: impl Into<Bytes>) -> Self {
        self.set(n, value);
        self
    }

    /// The logical value of field `n`.
    pub fn get(&self, n: u8) -> Option<&Bytes> {
        let no = FieldNo::new(u16::from(n))?;
        self.fields
            .binary_search_by_key(&no, |(n, _)| *n)
            .ok()
            .map(|i| &self.fields[i].1)
    }

    /// Field `n` as text, when it is valid UTF-8.
    pub fn get_str(&self, n: u8) -> Option<&str> {
        self.get(n).and_then(|b| core::str::from_utf8(b).ok())
    }

    /// Removes field `n`, returning its value.
    pub fn remove(&mut self, n: u8) -> Option<Bytes> {
        let no = FieldNo::new(u16::from(n))?;
        let i = self.fields.binary_search_by_key(&no, |(n, _)| *n).ok()?;
        let v = self.fields.remove(i).1;
        self.present.clear(no);
        self.value_bytes -= v.len();
        Some(v)
    }

    /// Whether field `n` is set.
    pub fn has(&self, n: u8) -> bool {
        self.get(n).is_some()
    }

    /// The fields in ascending order.
    pub fn fields(&self) -> impl Iterator<Item = (FieldNo, &Bytes)> {
        self.fields.iter().map(|(n, v)| (*n, v))
    }

    /// Field 2: primary account number.
    pub fn set_pan(&mut self, pan: &str) -> &mut Self {
        self.set(2, Bytes::copy_from_slice(pan.as_bytes()))
    }

    /// Field 3: processing code (6 digits).
    pub fn set_processing_code(&mut self, code: &str) -> &mut Self {
        self.set(3, Bytes::copy_from_slice(code.as_bytes()))
    }

    /// Field 4: amount in minor units, written as 12 digits.
    pub fn set_amount(&mut self, minor: u64) -> &mut Self {
        self.set(4, format!("{minor:012}"))
    }

    /// Field 11: system trace audit number, written as 6 digits.
    pub fn set_stan(&mut self, stan: u32) -> &mut Self {
        self.set(11, format!("{:06}", stan % 1_000_000))
    }

    /// Field 37: retrieval reference number (12 characters).
    pub fn set_rrn(&mut self, rrn: &str) -> &mut Self {
        self.set(37, Bytes::copy_from_slice(rrn.as_bytes()))
    }

    /// Field 39: response code.
    pub fn set_response_code(&mut self, code: &str) -> &mut Self {
        self.set(39, Bytes::copy_from_slice(code.as_bytes()))
    }

    /// Field 41: card acceptor terminal identification (8 characters).
    pub fn set_terminal_id(&mut self, id: &str) -> &mut Self {
        self.set(41, Bytes::copy_from_slice(id.as_bytes()))
    }

    /// Field 42: card acceptor identification code (15 characters).
    pub fn set_merchant_id(&mut self, id: &str) -> &mut Self {
        self.set(42, Bytes::copy_from_slice(id.as_bytes()))
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Shown<'a>(u8, &'a Bytes);
        impl fmt::Debug for Shown<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if SENSITIVE_BY_NUMBER.contains(&self.0) {
                    write!(f, "<{} bytes hidden>", self.1.len())
                } else {
                    match core::str::from_utf8(self.1) {
                        Ok(s) => write!(f, "{s:?}"),
                        Err(_) => write!(f, "0x{}", hex::encode_upper(self.1)),
                    }
                }
            }
        }
        let mut m = f.debug_map();
        m.entry(&"mti", &self.mti.as_str());
        for (n, v) in &self.fields {
            m.entry(&n.get(), &Shown(n.get(), v));
        }
        m.finish()
    }
}
