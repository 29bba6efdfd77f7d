//! A decoded message that owns its frame as one shared [`Bytes`].

use std::sync::Arc;

use bytes::Bytes;

use crate::message::{Layout, MessageRef};
use crate::spec::Spec;
use crate::wire::decode::{DecodeError, decode_layout};

/// A decoded message owning its frame. Field values are cheap slices of
/// the one frame buffer ([`Bytes::slice`]), never copies.
#[derive(Clone)]
pub struct OwnedMessage {
    spec: Arc<Spec>,
    buf: Bytes,
    layout: Layout,
}

impl OwnedMessage {
    /// Decodes `buf` with `spec`, keeping both.
    ///
    /// # Errors
    /// As [`crate::decode`].
    pub fn decode(spec: Arc<Spec>, buf: Bytes) -> Result<Self, DecodeError> {
        let layout = decode_layout(&spec, &buf)?;
        Ok(OwnedMessage { spec, buf, layout })
    }

    /// A borrowed view, with every accessor of [`MessageRef`].
    pub fn view(&self) -> MessageRef<'_> {
        MessageRef::from_parts(&self.spec, &self.buf, self.layout.clone())
    }

    /// The frame.
    pub fn frame(&self) -> &Bytes {
        &self.buf
    }

    /// The spec.
    pub fn spec(&self) -> &Arc<Spec> {
        &self.spec
    }

    /// The wire bytes of field `n`'s data as a slice of the shared frame.
    pub fn field_bytes(&self, n: u8) -> Option<Bytes> {
        let view = self.view();
        let f = view.field(n)?;
        Some(self.buf.slice_ref(f.wire))
    }
}

impl core::fmt::Debug for OwnedMessage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.view().fmt(f)
    }
}
