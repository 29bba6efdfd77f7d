//! Messages: the borrowed view a decode gives ([`MessageRef`], [`Field`]),
//! the owned form an encode takes ([`Message`]), and field values
//! ([`Value`]).

use bytes::{Bytes, BytesMut};

use crate::spec::layout::{Data, FieldLayout, Size};
use crate::spec::{FieldSpec, Spec, SubfieldSpec, Subfields};
use crate::types::{Bitmap, FieldNo, Mti};

pub(crate) mod owned;
pub(crate) mod value;

pub use owned::Message;
pub use value::Value;

/// Where a decoded message's parts sit in its frame.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Layout {
    pub(crate) mti: Mti,
    pub(crate) mti_start: u32,
    /// The bitmap as on the wire (indicator bits included).
    pub(crate) bitmap: Bitmap,
    /// Bitmaps on the wire (1-3); may exceed what the fields need.
    pub(crate) bitmaps: u8,
    /// Where the first field starts (its length prefix, if any).
    pub(crate) fields_start: u32,
    /// The data fields read: every data field of the bitmap, unless the
    /// decode stopped early ([`crate::decode_with`]).
    pub(crate) present: Bitmap,
    /// Where each field's data starts (after its length prefix), by rank
    /// in `present`, for the first [`RANKS`] fields of a frame of up to
    /// 4 GiB. Later fields, and fields of longer frames, are found by
    /// walking on from the last start known.
    pub(crate) starts: [u32; RANKS],
}

/// How many field starts a [`Layout`] records: more than common messages
/// have (a UnionPay sale about 20, a 1987 authorization about 25).
pub(crate) const RANKS: usize = 32;

impl Layout {
    pub(crate) const EMPTY: Layout = Layout {
        mti: Mti::ZERO,
        mti_start: 0,
        bitmap: Bitmap::new(),
        bitmaps: 0,
        fields_start: 0,
        present: Bitmap::new(),
        starts: [0; RANKS],
    };
}

/// A decoded message that borrows its frame. Field values are views of
/// the frame's bytes.
///
/// ```
/// use cardwire_codec::{decode, specs};
/// let frame = b"0800822000000000000004000000000000001121120000000001301";
/// let msg = decode(specs::iso87ascii(), frame).unwrap();
/// assert_eq!(msg.mti().as_str(), "0800");
/// assert_eq!(msg.value(11).unwrap().to_string(), "000001");
/// assert_eq!(msg.value(70).unwrap().to_string(), "301");
/// ```
#[derive(Clone)]
pub struct MessageRef<'a> {
    spec: &'a Spec,
    buf: &'a [u8],
    layout: Layout,
}

/// One decoded field: its number, definition and value.
#[derive(Clone, Copy)]
pub struct Field<'a> {
    /// The field number.
    pub no: FieldNo,
    /// Its definition in the spec.
    pub spec: &'a FieldSpec,
    /// The wire bytes of its data (length prefix excluded).
    pub wire: &'a [u8],
    /// Its logical value.
    pub value: Value<'a>,
}

impl<'a> Field<'a> {
    /// Positional subfield `i` (1-based, as in `60.1`), if the spec splits
    /// this field and the value reaches it. The last subfield the spec
    /// names takes whatever the value has left, up to its length.
    pub fn subfield(&self, i: usize) -> Option<Value<'a>> {
        self.subfields().nth(i.checked_sub(1)?).map(|(_, v)| v)
    }

    /// Positional subfields present in the value, with their specs: each
    /// part the value holds whole, and a last part cut short when it is
    /// the spec's last.
    pub fn subfields(&self) -> impl Iterator<Item = (&'a SubfieldSpec, Value<'a>)> {
        let parts: &'a [SubfieldSpec] = match &self.spec.subfields {
            Subfields::Positional(p) => p,
            _ => &[],
        };
        let value = self.value;
        let last = parts.len().saturating_sub(1);
        parts
            .iter()
            .enumerate()
            .scan(0usize, move |start, (i, p)| {
                let left = value.len().saturating_sub(*start);
                let len = if i == last && left > 0 {
                    left.min(usize::from(p.len))
                } else {
                    usize::from(p.len)
                };
                let v = value.slice(*start, len);
                *start += len;
                Some(v.map(|v| (p, v)))
            })
            .map_while(|x| x)
    }

    /// The value as text to show, in the field's character set: for a
    /// text value that decodes in it (GBK for fields that declare it,
    /// else UTF-8) and has no control characters. `None` for binary
    /// values and for bytes that are not text, which are best shown as
    /// hex. The wire bytes are unchanged either way.
    ///
    /// ```
    /// use cardwire_codec::{Message, decode, encode_to_vec, specs};
    /// let mut m = Message::new("0210".parse().unwrap());
    /// m.tpdu = Some(vec![0x60, 0, 0, 0, 3].into());
    /// m.header = Some(vec![0x60, 0x31, 0, 0x31, 0x10, 0x03].into());
    /// // "CUP" and 交易成功 ("approved") in GBK.
    /// m.set(63, &b"CUP\xBD\xBB\xD2\xD7\xB3\xC9\xB9\xA6"[..]);
    /// let wire = encode_to_vec(specs::cups(), &m)?;
    /// let msg = decode(specs::cups(), &wire)?;
    /// assert_eq!(msg.field(63).unwrap().text().as_deref(), Some("CUP交易成功"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn text(&self) -> Option<String> {
        if self.value.is_binary() {
            return None;
        }
        let bytes = self.value.to_vec();
        let text = match self.spec.charset {
            crate::spec::Charset::Gbk => encoding_rs::GBK
                .decode_without_bom_handling_and_without_replacement(&bytes)?
                .into_owned(),
            _ => String::from_utf8(bytes).ok()?,
        };
        (!text.chars().any(char::is_control)).then_some(text)
    }

    /// Whether the field's value must be masked when shown.
    pub fn is_sensitive(&self) -> bool {
        self.spec.sensitivity.is_sensitive()
    }
}

impl<'a> MessageRef<'a> {
    pub(crate) fn from_parts(spec: &'a Spec, buf: &'a [u8], layout: Layout) -> Self {
        MessageRef { spec, buf, layout }
    }

    /// The spec it was decoded with.
    pub fn spec(&self) -> &'a Spec {
        self.spec
    }

    /// The whole frame.
    pub fn frame(&self) -> &'a [u8] {
        self.buf
    }

    /// The message type indicator.
    pub fn mti(&self) -> Mti {
        self.layout.mti
    }

    /// The bitmap (bits 1 and, with a tertiary bitmap, 65 included).
    pub fn bitmap(&self) -> Bitmap {
        self.layout.bitmap
    }

    /// How many bitmaps the present fields need (1-3).
    pub fn bitmaps_needed(&self) -> u8 {
        let [_, secondary, tertiary] = self.layout.bitmap.words();
        let indicator = if self.spec.tertiary_bitmap {
            1u64 << 63
        } else {
            0
        };
        if self.spec.tertiary_bitmap && tertiary != 0 {
            3
        } else if secondary & !indicator != 0 || tertiary != 0 {
            2
        } else {
            1
        }
    }

    /// How many bitmaps were on the wire.
    pub fn bitmaps_on_wire(&self) -> u8 {
        self.layout.bitmaps
    }

    /// The 5-byte TPDU, if the spec has one.
    pub fn tpdu(&self) -> Option<&'a [u8]> {
        if self.spec.header.tpdu {
            self.buf.get(..5)
        } else {
            None
        }
    }

    /// The message header after the TPDU, if the spec has one.
    pub fn header(&self) -> Option<&'a [u8]> {
        let h = &self.spec.header;
        if h.length == 0 {
            return None;
        }
        let start = if h.tpdu { 5 } else { 0 };
        self.buf.get(start..start + h.length)
    }

    /// Whether field `n` is present.
    pub fn has(&self, n: u8) -> bool {
        FieldNo::new(u16::from(n)).is_some_and(|n| self.layout.present.is_set(n))
    }

    /// Field `n`, if present.
    pub fn field(&self, n: u8) -> Option<Field<'a>> {
        self.field_no(FieldNo::new(u16::from(n))?)
    }

    /// Field `no`, if present.
    pub fn field_no(&self, no: FieldNo) -> Option<Field<'a>> {
        self.field_at(no, self.start_of(no)?)
    }

    /// The value of field `n`, if present.
    #[inline]
    pub fn value(&self, n: u8) -> Option<Value<'a>> {
        let no = FieldNo::new(u16::from(n))?;
        let start = self.start_of(no)?;
        let fl = self.spec.layout(no)?;
        let (chars, wire) = lengths_at(fl, self.buf, start)?;
        Some(value_of(
            fl,
            self.buf.get(start..start.checked_add(wire)?)?,
            chars,
        ))
    }

    /// All present data fields, in wire order.
    pub fn fields(&self) -> impl Iterator<Item = Field<'a>> + '_ {
        // Past the recorded starts, each field starts where the one
        // before it ends.
        let mut next = None;
        self.layout
            .present
            .iter()
            .enumerate()
            .map_while(move |(rank, no)| {
                let start = match (self.recorded(rank), next) {
                    (Some(s), _) => s,
                    (None, Some(end)) => end + self.spec.layout(no)?.prefix_width(),
                    (None, None) => self.walk_to(no)?,
                };
                let f = self.field_at(no, start)?;
                next = Some(start + f.wire.len());
                Some(f)
            })
    }

    /// The bytes from the MTI up to (not including) field `until`, or to
    /// the end when `until` is absent: the MAC input block of POS links
    /// (`mac_input(64)` is "MTI through field 63").
    pub fn mac_input(&self, until: u8) -> &'a [u8] {
        let from = self.layout.mti_start as usize;
        let end = FieldNo::new(u16::from(until))
            .and_then(|n| {
                let start = self.start_of(n)?;
                start.checked_sub(self.spec.layout(n)?.prefix_width())
            })
            .unwrap_or(self.buf.len());
        self.buf.get(from..end).unwrap_or(&[])
    }

    /// Copies the message into its owned, field-by-field form. The values
    /// are slices of one buffer (one allocation for all of them), which
    /// lives as long as any of them.
    pub fn to_message(&self) -> Message {
        let mut m = Message::new(self.mti());
        if let Some(t) = self.tpdu() {
            m.tpdu = Some(Bytes::copy_from_slice(t));
        }
        if let Some(h) = self.header() {
            m.header = Some(Bytes::copy_from_slice(h));
        }
        // Only a bitmap the fields do not need is worth remembering.
        if self.layout.bitmaps > self.bitmaps_needed() {
            m.min_bitmaps = self.layout.bitmaps;
        }
        // Every value's logical content into one buffer (at most two
        // characters a wire byte, for BCD), which the fields then share.
        let mut data = BytesMut::with_capacity(2 * self.buf.len());
        let mut ends = Vec::with_capacity(self.layout.present.count());
        for f in self.fields() {
            f.value.write_bytes(&mut data);
            ends.push((f.no, data.len()));
        }
        let data = data.freeze();
        let mut start = 0;
        for (no, end) in ends {
            m.push_field(no, data.slice(start..end));
            start = end;
        }
        m
    }

    /// The start recorded for the field of rank `rank`, if any.
    #[inline]
    fn recorded(&self, rank: usize) -> Option<usize> {
        let known = rank < self.layout.present.count() && u32::try_from(self.buf.len()).is_ok();
        self.layout
            .starts
            .get(rank)
            .filter(|_| known)
            .map(|&s| s as usize)
    }

    /// Where the data of field `no` starts, if it is present.
    #[inline]
    fn start_of(&self, no: FieldNo) -> Option<usize> {
        if !self.layout.present.is_set(no) {
            return None;
        }
        match self.recorded(self.layout.present.rank(no)) {
            Some(s) => Some(s),
            None => self.walk_to(no),
        }
    }

    /// [`Self::start_of`] for a field whose start was not recorded: walks
    /// on from the last recorded field (or the first field).
    fn walk_to(&self, no: FieldNo) -> Option<usize> {
        let mut pos = self.layout.fields_start as usize;
        for (rank, n) in self.layout.present.iter().enumerate() {
            let fl = self.spec.layout(n)?;
            let start = match self.recorded(rank) {
                Some(s) => s,
                None => pos + fl.prefix_width(),
            };
            if n == no {
                return Some(start);
            }
            pos = start + lengths_at(fl, self.buf, start)?.1;
        }
        None
    }

    /// Field `no`, present, whose data starts at `start`.
    #[inline]
    fn field_at(&self, no: FieldNo, start: usize) -> Option<Field<'a>> {
        let spec = self.spec.field(no)?;
        let fl = self.spec.layout(no)?;
        let (chars, wire) = lengths_at(fl, self.buf, start)?;
        let wire = self.buf.get(start..start.checked_add(wire)?)?;
        Some(Field {
            no,
            spec,
            wire,
            value: value_of(fl, wire, chars),
        })
    }
}

/// Logical units and wire bytes of a field whose data starts at `start`
/// in a frame the decoder read (its prefix, if any, just before).
#[inline]
fn lengths_at(fl: &FieldLayout, buf: &[u8], start: usize) -> Option<(usize, usize)> {
    match fl.size {
        Size::Fixed { chars, wire } => Some((chars, wire)),
        Size::Prefixed {
            encoding,
            digits,
            width,
            count,
            ..
        } => {
            let prefix = buf.get(start.checked_sub(width)?..start)?;
            Some(count.lengths(encoding.value(digits, prefix)?))
        }
    }
}

/// The value of a field laid out as `fl`, with wire bytes `wire` holding
/// `chars` logical units.
pub(crate) fn value_of<'a>(fl: &FieldLayout, wire: &'a [u8], chars: usize) -> Value<'a> {
    match fl.data {
        Data::Text { .. } => Value::Text(wire),
        Data::Ebcdic { .. } => Value::Ebcdic(wire),
        Data::Binary => Value::Binary(wire),
        Data::Hex => Value::Hex(wire),
        Data::Bcd { signed: true, .. } => {
            let digits = chars.saturating_sub(1);
            Value::Bcd {
                bytes: wire.get(1..).unwrap_or(&[]),
                start: fl.first_nibble(digits),
                len: digits,
                sign: wire.first().copied(),
            }
        }
        Data::Bcd { .. } => Value::Bcd {
            bytes: wire,
            start: fl.first_nibble(chars),
            len: chars,
            sign: None,
        },
    }
}
