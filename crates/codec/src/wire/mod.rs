//! The wire format: one walk that decodes a frame, one writer that
//! encodes a message, both driven by the layouts a [`Spec`](crate::Spec)
//! works out for its fields.

pub(crate) mod decode;
pub(crate) mod encode;
mod read;

use crate::spec::{FieldSpec, Sensitivity};

/// ", found 'A' (0x41)" for a byte shown in an error; empty when hidden.
pub(crate) fn found_suffix(found: Option<u8>) -> String {
    match found {
        Some(b) if b.is_ascii_graphic() => format!(", found {:?} (0x{b:02X})", b as char),
        Some(b) => format!(", found 0x{b:02X}"),
        None => String::new(),
    }
}

/// A byte of field `fs` as an error may show it: not at all when the
/// field holds card data or secrets.
pub(crate) fn shown(fs: &FieldSpec, b: u8) -> Option<u8> {
    (fs.sensitivity == Sensitivity::Public).then_some(b)
}
