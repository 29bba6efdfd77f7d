//! Many bitmaps: 1,000 messages with 1,000 different sets of fields,
//! decoded in turn, as a switch or a debugging tool sees traffic. One
//! frame decoded again and again lets the branch predictor learn its one
//! bitmap and keeps the frame in L1; this set does neither.
//!
//! The hex-bitmap format only (`Format::HexBitmap`): iso_8583_rs builds
//! every frame with its own `Builder`, and i8583's `Packer` and cardwire's
//! encoder must build the very same bytes, so all three decode one set.
//!
//! Each message is a 0200 or a 0210 with field 2 (a PAN of 16 or 19
//! digits, drawn for every message) and a subset of the 0200's other
//! fields ([`TEXT_FIELDS`], field 52), a 0210's 38 and 39, the
//! secondary-bitmap fields 100, 102 and 103, and a MAC (64, or 128 when
//! the secondary bitmap is there). The subsets come from a fixed seed:
//! the same 1,000 messages in every run.

use std::collections::HashSet;

use cardwire_codec::{Spec, decode};

use super::{BINARY_FIELDS, TEXT_FIELDS};

/// Messages in the set.
pub(crate) const COUNT: usize = 1000;

/// The generator's seed.
const SEED: u64 = 0x0200_0210_8583_1987;

/// Fields only a 0210 carries: approval code and response code.
const RESPONSE_FIELDS: [(u8, &str); 2] = [(38, "004217"), (39, "00")];

/// Fields in the secondary bitmap: receiving institution, accounts 1 and 2.
const SECONDARY_FIELDS: [(u8, &str); 3] = [
    (100, "00000123456"),
    (102, "6222020200112233"),
    (103, "9558801001114999"),
];

/// Field 128, the MAC of a message with a secondary bitmap.
const MAC_128: [u8; 8] = [0x81, 0x72, 0x63, 0x54, 0x45, 0x36, 0x27, 0x18];

/// Track 2 after the PAN (separator, expiry, service code, discretionary data).
const TRACK2_TAIL: &str = "=25122011758928889";

/// xorshift64: a few lines instead of a dependency, and the same numbers
/// on every machine.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// `n` decimal digits, the first not 0.
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|i| {
                let d = if i == 0 {
                    1 + self.next() % 9
                } else {
                    self.next() % 10
                };
                char::from(b'0' + d as u8)
            })
            .collect()
    }
}

/// The bit of field `no` (1..=128) in a bitmap as it is on the wire:
/// field 1 is the top bit.
fn bit(no: u8) -> u128 {
    1u128 << (128 - u32::from(no))
}

/// One message of the set: its MTI and its fields in field-number order.
pub(crate) struct Sample {
    mti: &'static str,
    fields: Vec<(u8, Vec<u8>)>,
}

impl Sample {
    /// A message with fields drawn from `rng`; `stan` is its field 11.
    fn draw(rng: &mut XorShift, stan: usize) -> Sample {
        let response = rng.chance(50);
        let secondary = rng.chance(25);
        let pan_len = if rng.chance(20) { 19 } else { 16 };
        let pan = rng.digits(pan_len);
        let mut fields: Vec<(u8, Vec<u8>)> = Vec::new();
        for (no, v) in TEXT_FIELDS {
            let v = match no {
                2 => pan.clone(),
                11 => format!("{:06}", stan % 1_000_000),
                35 => format!("{pan}{TRACK2_TAIL}"),
                _ => v.to_string(),
            };
            if no == 2 || rng.chance(75) {
                fields.push((no, v.into_bytes()));
            }
        }
        if response {
            for (no, v) in RESPONSE_FIELDS {
                if no == 39 || rng.chance(50) {
                    fields.push((no, v.as_bytes().to_vec()));
                }
            }
        }
        let mut any_secondary = false;
        if secondary {
            for (no, v) in SECONDARY_FIELDS {
                // 102 when the draw picked none of the three.
                if rng.chance(50) || (no == 102 && !any_secondary) {
                    fields.push((no, v.as_bytes().to_vec()));
                    any_secondary = true;
                }
            }
        }
        for (no, v) in BINARY_FIELDS {
            let with = match no {
                52 => rng.chance(33),
                // The MAC: field 64, or field 128 after a secondary bitmap.
                _ => rng.chance(50),
            };
            if with {
                let (no, v) = if no == 64 && any_secondary {
                    (128, MAC_128)
                } else {
                    (no, v)
                };
                fields.push((no, v.to_vec()));
            }
        }
        fields.sort_by_key(|&(no, _)| no);
        Sample {
            mti: if response { "0210" } else { "0200" },
            fields,
        }
    }

    /// Field 2.
    pub(crate) fn pan(&self) -> &[u8] {
        self.fields
            .iter()
            .find(|&&(no, _)| no == 2)
            .map_or(&[], |(_, v)| v)
    }

    /// The bitmap the message must have on the wire (field 1 set when
    /// a field above 64 is present).
    pub(crate) fn bitmap(&self) -> u128 {
        let fields = self.fields.iter().fold(0, |acc, &(no, _)| acc | bit(no));
        if fields as u64 == 0 {
            fields
        } else {
            fields | bit(1)
        }
    }

    /// Built by iso_8583_rs's `Builder`.
    fn iso_8583_rs_encode(&self, spec: &iso_8583_rs::CompiledSpec) -> Vec<u8> {
        let mut b =
            iso_8583_rs::Builder::new(spec, self.mti.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        for (no, v) in &self.fields {
            b.set(usize::from(*no), v)
                .unwrap_or_else(|e| panic!("iso_8583_rs field {no}: {e}"));
        }
        let mut out = Vec::new();
        b.pack_into(&mut out);
        out
    }

    /// Built by i8583's `Packer` with its `v1987::SPEC`.
    fn i8583_encode(&self) -> Vec<u8> {
        let mut p = i8583::Packer::new(&i8583::v1987::SPEC);
        let mut set = |no: usize, v: &[u8]| {
            p.set_field(no, v.to_vec().into())
                .unwrap_or_else(|e| panic!("i8583 field {no}: {e}"));
        };
        set(0, self.mti.as_bytes());
        for (no, v) in &self.fields {
            set(usize::from(*no), v);
        }
        p.pack(Vec::with_capacity(512))
            .unwrap_or_else(|e| panic!("i8583: {e}"))
    }

    /// Built by cardwire's encoder.
    fn cardwire_encode(&self, spec: &Spec) -> Vec<u8> {
        let mti = self.mti.parse().unwrap_or_else(|_| unreachable!());
        let mut m = cardwire_codec::Message::new(mti);
        for (no, v) in &self.fields {
            m.set(*no, v.clone());
        }
        cardwire_codec::encode_to_vec(spec, &m).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// The 1,000 messages, each with another bitmap.
fn samples() -> Vec<Sample> {
    let mut rng = XorShift(SEED);
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(COUNT);
    while out.len() < COUNT {
        let s = Sample::draw(&mut rng, out.len() + 1);
        if seen.insert(s.bitmap()) {
            out.push(s);
        }
    }
    out
}

/// The set: its messages and their frames, back to back in one buffer
/// as they would sit in a switch's read buffer.
pub(crate) struct Traffic {
    samples: Vec<Sample>,
    wire: Vec<u8>,
    /// Where each frame ends in `wire`.
    ends: Vec<usize>,
}

impl Traffic {
    /// The frames iso_8583_rs builds (with `spec`, its YAML form). Panics
    /// unless i8583's encoder and cardwire's (with `cardwire`, the
    /// hex-bitmap spec file) build the same bytes for every message.
    pub(crate) fn new(spec: &iso_8583_rs::CompiledSpec, cardwire: &Spec) -> Traffic {
        let samples = samples();
        let mut wire = Vec::new();
        let mut ends = Vec::with_capacity(samples.len());
        for (i, s) in samples.iter().enumerate() {
            let frame = s.iso_8583_rs_encode(spec);
            let i8583 = s.i8583_encode();
            assert!(
                i8583 == frame,
                "message {i}: i8583 builds {}, iso_8583_rs {}",
                String::from_utf8_lossy(&i8583),
                String::from_utf8_lossy(&frame)
            );
            let ours = s.cardwire_encode(cardwire);
            assert!(
                ours == frame,
                "message {i}: cardwire builds {}, iso_8583_rs {}",
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&frame)
            );
            wire.extend_from_slice(&frame);
            ends.push(wire.len());
        }
        Traffic {
            samples,
            wire,
            ends,
        }
    }

    /// The frames, in order.
    pub(crate) fn frames(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.ends.iter().scan(0, |start, &end| {
            let frame = self.wire.get(*start..end);
            *start = end;
            frame
        })
    }

    /// The messages, in the frames' order.
    pub(crate) fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// All frames' bytes together.
    pub(crate) fn bytes(&self) -> usize {
        self.wire.len()
    }

    /// Checks the whole set: [`COUNT`] frames with distinct bitmaps that
    /// are the bitmaps the messages were given; cardwire decodes every
    /// frame to the fields it was given; cardwire, iso_8583_rs (with
    /// `spec`) and i8583 read each message's PAN from its frame.
    pub(crate) fn check(
        &self,
        spec: &iso_8583_rs::CompiledSpec,
        cardwire: &Spec,
    ) -> Result<(), String> {
        let distinct = distinct_bitmaps(self.frames())?;
        if distinct != COUNT {
            return Err(format!("{distinct} frames, not {COUNT}"));
        }
        for (i, (frame, s)) in self.frames().zip(&self.samples).enumerate() {
            if wire_bitmap(frame) != Some(s.bitmap()) {
                return Err(format!("frame {i} does not have its message's bitmap"));
            }
            if cardwire_fields(cardwire, frame) != Some(s.bitmap() & !bit(1)) {
                return Err(format!("cardwire does not decode frame {i} to its fields"));
            }
        }
        let pans = || self.samples().iter().map(Sample::pan);
        reads_pans("cardwire", self.frames(), pans(), |w| {
            super::cardwire(cardwire, w, <[u8]>::to_vec)
        })?;
        reads_pans("iso_8583_rs", self.frames(), pans(), |w| {
            super::iso_8583_rs(spec, w, <[u8]>::to_vec)
        })?;
        reads_pans("i8583", self.frames(), pans(), |w| {
            super::i8583(w, <[u8]>::to_vec)
        })
    }
}

/// The bitmap of a hex-bitmap frame, read from its text: the primary
/// bitmap, and the secondary one when the first bit says so.
pub(crate) fn wire_bitmap(frame: &[u8]) -> Option<u128> {
    let hex = |range: std::ops::Range<usize>| {
        let text = std::str::from_utf8(frame.get(range)?).ok()?;
        u64::from_str_radix(text, 16).ok()
    };
    let primary = hex(4..20)?;
    let secondary = if primary >> 63 == 1 { hex(20..36)? } else { 0 };
    Some((u128::from(primary) << 64) | u128::from(secondary))
}

/// The fields cardwire decodes from `frame`, as a bitmap without field 1.
pub(crate) fn cardwire_fields(spec: &Spec, frame: &[u8]) -> Option<u128> {
    let m = decode(spec, frame).ok()?;
    Some(
        m.fields()
            .map(|f| f.no.get())
            .filter(|&no| (2..=128).contains(&no))
            .fold(0, |acc, no| acc | bit(no)),
    )
}

/// How many frames there are, or an error naming the first frame whose
/// bitmap repeats an earlier one's (or cannot be read).
pub(crate) fn distinct_bitmaps<'a>(
    frames: impl IntoIterator<Item = &'a [u8]>,
) -> Result<usize, String> {
    let mut seen = HashSet::new();
    let mut n = 0;
    for (i, frame) in frames.into_iter().enumerate() {
        let bitmap = wire_bitmap(frame).ok_or_else(|| format!("frame {i} has no hex bitmap"))?;
        if !seen.insert(bitmap) {
            return Err(format!("frame {i} repeats the bitmap {bitmap:032X}"));
        }
        n += 1;
    }
    Ok(n)
}

/// Ok when `read` (a decoder) reads PAN `i` from frame `i`, for every
/// frame, and there are as many frames as PANs.
pub(crate) fn reads_pans<'a, 'p>(
    who: &str,
    frames: impl IntoIterator<Item = &'a [u8]>,
    pans: impl IntoIterator<Item = &'p [u8]>,
    mut read: impl FnMut(&[u8]) -> Option<Vec<u8>>,
) -> Result<(), String> {
    let mut frames = frames.into_iter();
    let mut pans = pans.into_iter();
    let mut i = 0;
    loop {
        match (frames.next(), pans.next()) {
            (None, None) => return Ok(()),
            (Some(frame), Some(pan)) => {
                // Card data stays out of the message: only where it differs.
                match read(frame) {
                    None => return Err(format!("{who} cannot read field 2 of frame {i}")),
                    Some(read) if read != pan => {
                        return Err(format!("{who} reads another PAN from frame {i}"));
                    }
                    Some(_) => {}
                }
            }
            _ => return Err(format!("{who}: as many frames as PANs expected")),
        }
        i += 1;
    }
}
