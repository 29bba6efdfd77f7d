//! Masking of card data for display, Debug and JSON (PCI DSS): PANs keep
//! the first 6 and last 4 digits, track data keeps only the masked PAN,
//! PIN blocks, keys, MACs and sensitive EMV tags are hidden.

use core::fmt;

use crate::message::{Field, MessageRef, Value};
use crate::spec::Sensitivity;
use crate::tlv;

/// A PAN with all but the first 6 and last 4 digits replaced by `*`
/// (all hidden when it is shorter than 12).
pub fn mask_pan(pan: &[u8]) -> String {
    let n = pan.len();
    pan.iter()
        .enumerate()
        .map(|(i, &c)| {
            if n >= 12 && (i < 6 || i >= n - 4) {
                c as char
            } else {
                '*'
            }
        })
        .collect()
}

fn stars(n: usize) -> String {
    "*".repeat(n)
}

/// Track data: the PAN part masked, everything after the separator hidden.
pub fn mask_track(chars: &[u8]) -> String {
    match chars
        .iter()
        .position(|&c| c == b'=' || c == b'D' || c == b'^')
    {
        Some(sep) => {
            let mut s = mask_pan(&chars[..sep]);
            s.push(chars[sep] as char);
            s.push_str(&stars(chars.len() - sep - 1));
            s
        }
        None => stars(chars.len()),
    }
}

/// Templates nested deeper than this are hidden whole.
const MAX_TLV_DEPTH: u32 = 8;

/// BER-TLV as uppercase hex, each sensitive tag's value replaced by `*`,
/// inside constructed objects (templates) too. Unparseable TLV is hidden
/// entirely: at the top, all of it; inside a template, that template's
/// value. So is a template nested more than 8 deep.
///
/// ```
/// use cardwire_codec::mask::mask_tlv;
/// // Template 70 holding the PAN (5A) and the ATC (9F36).
/// let data = [0x70, 0x08, 0x5A, 0x02, 0x41, 0x11, 0x9F, 0x36, 0x01, 0x07];
/// assert_eq!(mask_tlv(&data), "70085A02****9F360107");
/// ```
pub fn mask_tlv(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() * 2);
    mask_tlv_into(data, 0, &mut out);
    out
}

fn mask_tlv_into(data: &[u8], depth: u32, out: &mut String) {
    let start = out.len();
    let mut end = 0;
    for t in tlv::walk(data) {
        let Ok(t) = t else {
            out.truncate(start);
            out.push_str(&stars(data.len() * 2));
            return;
        };
        let value_start = t.value.as_ptr() as usize - data.as_ptr() as usize;
        out.push_str(&hex::encode_upper(&data[end..value_start]));
        if t.is_sensitive() {
            out.push_str(&stars(t.value.len() * 2));
        } else if t.is_constructed() {
            // A template may hold card data (a PAN, track 2) at any depth.
            if depth < MAX_TLV_DEPTH {
                mask_tlv_into(t.value, depth + 1, out);
            } else {
                out.push_str(&stars(t.value.len() * 2));
            }
        } else {
            out.push_str(&hex::encode_upper(t.value));
        }
        end = value_start + t.value.len();
    }
    out.push_str(&hex::encode_upper(&data[end..]));
}

/// The value of `field` as text, masked per its spec's sensitivity.
pub fn masked(field: &Field<'_>) -> String {
    masked_value(field.spec.sensitivity, &field.value)
}

/// A value as text, masked per `sensitivity`.
pub fn masked_value(sensitivity: Sensitivity, value: &Value<'_>) -> String {
    match sensitivity {
        Sensitivity::Public => value.to_string(),
        Sensitivity::Pan => mask_pan(&value.to_vec()),
        Sensitivity::Track => mask_track(&value.to_vec()),
        Sensitivity::Secret => stars(if value.is_binary() {
            value.len() * 2
        } else {
            value.len()
        }),
        Sensitivity::Tlv => {
            if value.is_binary() {
                mask_tlv(&value.to_vec())
            } else {
                stars(value.len())
            }
        }
    }
}

/// The field, its name and its masked value.
impl fmt::Debug for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Field({} {}: {})", self.no, self.spec.name, masked(self))
    }
}

/// Masked, one entry per field.
impl fmt::Debug for MessageRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageRef")
            .field("spec", &self.spec().name)
            .field("mti", &self.mti())
            .field("fields", &self.fields().collect::<Vec<_>>())
            .finish()
    }
}

/// One line per field, sensitive values masked.
impl fmt::Display for MessageRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "MTI {}", self.mti())?;
        for fld in self.fields() {
            writeln!(f, "{:>3} {}: {}", fld.no, fld.spec.name, masked(&fld))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pan_keeps_first_six_and_last_four() {
        assert_eq!(mask_pan(b"6222021234567890123"), "622202*********0123");
        assert_eq!(mask_pan(b"4111111111111111"), "411111******1111");
        assert_eq!(mask_pan(b"12345678"), "********");
    }

    #[test]
    fn track_hides_everything_after_the_separator() {
        assert_eq!(
            mask_track(b"4111111111111111=2512101"),
            "411111******1111=*******"
        );
        assert_eq!(
            mask_track(b"4111111111111111D2512"),
            "411111******1111D****"
        );
    }

    #[test]
    fn tlv_hides_pan_and_track_tags_only() {
        let data = [0x5A, 0x02, 0x41, 0x11, 0x95, 0x01, 0x80];
        assert_eq!(mask_tlv(&data), "5A02****950180");
    }
}
