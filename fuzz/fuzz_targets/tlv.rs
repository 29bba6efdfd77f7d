//! The BER-TLV walker (field 55) against an independent reading of the
//! same bytes: it never panics; it yields the same objects (offset, tag,
//! value) and fails at the same offset; the objects tile the input with
//! only 0x00 padding between them; constructed objects walk the same way
//! inside; re-serialising the objects with minimal lengths walks back to
//! the same objects, and gives the input itself when the input had
//! minimal lengths and no padding. Masking (`mask_tlv`) keeps the length
//! of the hex form and does not depend on the values of sensitive tags,
//! at any depth.
#![no_main]

use cardwire_codec::mask::mask_tlv;
use cardwire_codec::tlv::{is_sensitive_tag, walk};
use libfuzzer_sys::fuzz_target;

/// One object as the reference reads it.
#[derive(Debug, PartialEq, Eq)]
struct Obj {
    offset: usize,
    tag_len: usize,
    len_bytes: usize,
    value_len: usize,
}

/// Reference walk: the objects, then the offset of the object that does
/// not parse, if one does not.
fn reference(data: &[u8]) -> (Vec<Obj>, Option<usize>) {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        while data.get(pos) == Some(&0) {
            pos += 1;
        }
        if pos >= data.len() {
            return (out, None);
        }
        let offset = pos;
        // Tag: one byte, or with low bits 11111 more bytes while bit 8 is set; at most 4.
        let mut tag_len = 1;
        if data[pos] & 0x1F == 0x1F {
            loop {
                let Some(&b) = data.get(pos + tag_len) else {
                    return (out, Some(offset));
                };
                tag_len += 1;
                if b & 0x80 == 0 {
                    break;
                }
                if tag_len == 4 {
                    return (out, Some(offset));
                }
            }
        }
        // Length: short form, or 0x81..=0x83 and that many bytes.
        let Some(&first) = data.get(pos + tag_len) else {
            return (out, Some(offset));
        };
        let (value_len, len_bytes) = match first {
            0..=0x7F => (usize::from(first), 1),
            0x81..=0x83 => {
                let n = usize::from(first & 0x7F);
                let Some(bytes) = data.get(pos + tag_len + 1..pos + tag_len + 1 + n) else {
                    return (out, Some(offset));
                };
                (
                    bytes.iter().fold(0usize, |a, &b| a * 256 + usize::from(b)),
                    1 + n,
                )
            }
            _ => return (out, Some(offset)),
        };
        let end = pos + tag_len + len_bytes + value_len;
        if end > data.len() {
            return (out, Some(offset));
        }
        out.push(Obj {
            offset,
            tag_len,
            len_bytes,
            value_len,
        });
        pos = end;
    }
}

fn minimal_length(len: usize, out: &mut Vec<u8>) {
    let be = (len as u32).to_be_bytes();
    match len {
        0..=0x7F => out.push(len as u8),
        0x80..=0xFF => out.extend_from_slice(&[0x81, be[3]]),
        0x100..=0xFFFF => out.extend_from_slice(&[0x82, be[2], be[3]]),
        _ => out.extend_from_slice(&[0x83, be[1], be[2], be[3]]),
    }
}

/// Checks one level (and the levels inside it); records where the values
/// of sensitive tags sit, relative to `base`.
fn check(data: &[u8], base: usize, depth: u32, sensitive: &mut Vec<(usize, usize)>) {
    let (expected, fails_at) = reference(data);
    let mut objects = Vec::new();
    let mut failed_at = None;
    let mut iter = walk(data);
    for item in iter.by_ref() {
        match item {
            Ok(t) => objects.push(t),
            Err(e) => {
                let offset = match e {
                    cardwire_codec::tlv::TlvError::Truncated { offset, .. }
                    | cardwire_codec::tlv::TlvError::BadLength { offset, .. }
                    | cardwire_codec::tlv::TlvError::TagTooLong { offset } => offset,
                    _ => panic!("unknown TLV error {e:?}"),
                };
                failed_at = Some(offset);
                break;
            }
        }
    }
    assert!(iter.next().is_none(), "the walk goes on after an error");
    assert_eq!(failed_at, fails_at, "error offset");
    assert_eq!(objects.len(), expected.len(), "object count");
    for (t, r) in objects.iter().zip(&expected) {
        assert_eq!(t.offset, r.offset);
        assert_eq!(t.tag_bytes, &data[r.offset..r.offset + r.tag_len]);
        assert_eq!(
            t.tag,
            t.tag_bytes.iter().fold(0u32, |a, &b| a << 8 | u32::from(b))
        );
        let value_start = r.offset + r.tag_len + r.len_bytes;
        assert_eq!(t.value.len(), r.value_len);
        assert!(
            core::ptr::eq(t.value.as_ptr(), data[value_start..].as_ptr()),
            "value is not where the length says"
        );
        if is_sensitive_tag(t.tag) {
            sensitive.push((base + value_start, t.value.len()));
        }
        if t.is_constructed() {
            if depth < 16 {
                check(t.value, base + value_start, depth + 1, sensitive);
            }
        } else {
            assert!(t.children().next().is_none(), "a primitive has children");
        }
    }

    // Re-serialise with minimal lengths and walk again.
    if failed_at.is_none() {
        let mut out = Vec::with_capacity(data.len());
        let mut canonical = true;
        let mut end = 0;
        for (t, r) in objects.iter().zip(&expected) {
            canonical &= t.offset == end;
            out.extend_from_slice(t.tag_bytes);
            let before = out.len();
            minimal_length(t.value.len(), &mut out);
            canonical &= out.len() - before == r.len_bytes;
            out.extend_from_slice(t.value);
            end = r.offset + r.tag_len + r.len_bytes + r.value_len;
        }
        canonical &= end == data.len();
        let again: Vec<_> = walk(&out)
            .map(|t| t.map(|t| (t.tag_bytes, t.value)))
            .collect::<Result<_, _>>()
            .expect("re-serialised TLV walks");
        let first: Vec<_> = objects.iter().map(|t| (t.tag_bytes, t.value)).collect();
        assert_eq!(again, first, "re-serialised objects differ");
        if canonical {
            assert_eq!(out, data, "minimal-length input re-serialises differently");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut sensitive = Vec::new();
    check(data, 0, 0, &mut sensitive);

    let shown = mask_tlv(data);
    assert_eq!(shown.len(), data.len() * 2, "masked form length");
    if !sensitive.is_empty() {
        let mut other = data.to_vec();
        for &(start, len) in &sensitive {
            for b in &mut other[start..start + len] {
                *b ^= 0xA5;
            }
        }
        assert_eq!(
            mask_tlv(&other),
            shown,
            "masked field 55 shows a sensitive tag's value"
        );
    }
});
