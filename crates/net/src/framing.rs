//! Length-prefixed framing as a `tokio_util::codec` [`Decoder`] and
//! [`Encoder`].
//!
//! ```text
//!  | prefix (2 or 4 bytes) | frame ............................ |
//!    Binary2            00 2A          length of the frame, big-endian
//!    Binary2Inclusive   00 2C          the same, counting the prefix too
//!    Bcd2               00 42          BCD digits (up to 9999)
//!    Ascii4             30 30 34 32    ASCII digits "0042"
//! ```
//!
//! The length arithmetic is the codec crate's sans-IO
//! `cardwire_codec::frame::split_frame`; this module only
//! moves bytes: a partial frame is `Ok(None)` ("wait for more"), a broken
//! prefix or a frame over `max_frame_len` is an error after which the
//! connection cannot be resynchronised and is closed.
//!
//! # Example
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use cardwire_codec::frame::FramePrefix;
//! use cardwire_net::framing::FrameCodec;
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let mut codec = FrameCodec::new(FramePrefix::Binary2, 8192);
//! let mut wire = BytesMut::new();
//! codec.encode(Bytes::from_static(b"0800"), &mut wire).unwrap();
//! assert_eq!(&wire[..], b"\x00\x040800");
//! let mut head = wire.split_to(3);
//! assert_eq!(codec.decode(&mut head).unwrap(), None); // partial: wait
//! head.unsplit(wire);
//! assert_eq!(codec.decode(&mut head).unwrap().as_deref(), Some(&b"0800"[..]));
//! ```

use bytes::{Buf, Bytes, BytesMut};
use cardwire_codec::frame::{FrameError, FramePrefix, FrameStatus, split_frame};
use tokio_util::codec::{Decoder, Encoder};

/// The largest frame accepted by default (bytes, prefix excluded): well
/// above any POS message (a full 1987 message with every field at its
/// maximum is about 36 KB in ASCII, a UnionPay sale about 300 bytes).
pub const DEFAULT_MAX_FRAME: usize = 8192;

/// Errors of the framing layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The stream is broken: bad prefix or oversized frame.
    #[error("broken frame: {0}")]
    Frame(#[from] FrameError),
    /// The peer closed the connection in the middle of a frame.
    #[error("connection closed mid-frame ({buffered} bytes of an incomplete frame)")]
    Truncated {
        /// Bytes buffered when the stream ended.
        buffered: usize,
    },
}

/// A length-prefixed frame codec for one [`FramePrefix`].
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    prefix: FramePrefix,
    max_frame_len: usize,
}

impl FrameCodec {
    /// A codec accepting frames of at most `max_frame_len` bytes (capped
    /// at what the prefix can announce).
    pub fn new(prefix: FramePrefix, max_frame_len: usize) -> Self {
        FrameCodec {
            prefix,
            max_frame_len: max_frame_len.min(prefix.capacity()),
        }
    }

    /// The prefix.
    pub fn prefix(&self) -> FramePrefix {
        self.prefix
    }

    /// The frame size limit.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }
}

impl Default for FrameCodec {
    /// UnionPay POS framing: 2-byte binary length, 8 KiB limit.
    fn default() -> Self {
        FrameCodec::new(FramePrefix::Binary2, DEFAULT_MAX_FRAME)
    }
}

impl Decoder for FrameCodec {
    type Item = Bytes;
    type Error = FramingError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FramingError> {
        let (start, consumed) = match split_frame(src, self.prefix, self.max_frame_len)? {
            FrameStatus::Complete { frame, consumed } => (consumed - frame.len(), consumed),
            FrameStatus::Partial { needed } => {
                // Make room once for the whole frame instead of growing
                // by small steps; `needed` is bounded by `max_frame_len`.
                src.reserve(needed);
                return Ok(None);
            }
        };
        let mut frame = src.split_to(consumed);
        frame.advance(start);
        Ok(Some(frame.freeze()))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FramingError> {
        match self.decode(src)? {
            Some(f) => Ok(Some(f)),
            None if src.is_empty() => Ok(None),
            None => Err(FramingError::Truncated {
                buffered: src.len(),
            }),
        }
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = FramingError;

    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), FramingError> {
        self.encode(&item[..], dst)
    }
}

impl Encoder<&[u8]> for FrameCodec {
    type Error = FramingError;

    fn encode(&mut self, item: &[u8], dst: &mut BytesMut) -> Result<(), FramingError> {
        if item.len() > self.max_frame_len {
            return Err(FrameError::TooLarge {
                len: item.len(),
                max: self.max_frame_len,
            }
            .into());
        }
        let p = self.prefix.encode(item.len())?;
        let w = self.prefix.width();
        dst.reserve(w + item.len());
        dst.extend_from_slice(p.get(..w).unwrap_or_default());
        dst.extend_from_slice(item);
        Ok(())
    }
}

/// Parses a prefix name for the command line: `binary2` (default,
/// UnionPay), `binary2-inclusive`, `bcd2`, `ascii4`.
///
/// # Errors
///
/// A message listing the names.
pub fn parse_prefix(s: &str) -> Result<FramePrefix, String> {
    FramePrefix::parse(s).ok_or_else(|| {
        format!("unknown length prefix {s:?}: binary2, binary2-inclusive, bcd2, ascii4")
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ALL: [FramePrefix; 4] = [
        FramePrefix::Binary2,
        FramePrefix::Binary2Inclusive,
        FramePrefix::Bcd2,
        FramePrefix::Ascii4,
    ];

    fn wire(p: FramePrefix, frames: &[&[u8]]) -> BytesMut {
        let mut c = FrameCodec::new(p, 100);
        let mut out = BytesMut::new();
        for f in frames {
            c.encode(*f, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn every_split_point_gives_the_same_frames() {
        for p in ALL {
            let stream = wire(p, &[b"0800 sign-on", b"", b"0200 sale"]);
            for cut in 0..=stream.len() {
                let mut c = FrameCodec::new(p, 100);
                let mut buf = BytesMut::from(&stream[..cut]);
                let mut got = Vec::new();
                while let Some(f) = c.decode(&mut buf).unwrap() {
                    got.push(f);
                }
                buf.extend_from_slice(&stream[cut..]);
                while let Some(f) = c.decode(&mut buf).unwrap() {
                    got.push(f);
                }
                assert_eq!(
                    got,
                    vec![
                        Bytes::from_static(b"0800 sign-on"),
                        Bytes::new(),
                        Bytes::from_static(b"0200 sale")
                    ],
                    "{p:?} cut at {cut}"
                );
                assert!(buf.is_empty());
            }
        }
    }

    #[test]
    fn eof_mid_frame_is_truncated_and_clean_eof_is_none() {
        for p in ALL {
            let stream = wire(p, &[b"0200 sale"]);
            let mut c = FrameCodec::new(p, 100);
            let mut cut = BytesMut::from(&stream[..stream.len() - 1]);
            assert!(matches!(
                c.decode_eof(&mut cut),
                Err(FramingError::Truncated { .. })
            ));
            assert_eq!(c.decode_eof(&mut BytesMut::new()).unwrap(), None);
        }
    }

    #[test]
    fn length_bomb_is_refused_before_buffering() {
        let mut c = FrameCodec::new(FramePrefix::Binary2, 1024);
        let mut buf = BytesMut::from(&[0xFF, 0xFF, 1, 2, 3][..]);
        assert!(matches!(
            c.decode(&mut buf),
            Err(FramingError::Frame(FrameError::TooLarge {
                len: 65535,
                max: 1024
            }))
        ));
        let mut c = FrameCodec::new(FramePrefix::Ascii4, 1024);
        assert!(matches!(
            c.decode(&mut BytesMut::from(&b"12x4"[..])),
            Err(FramingError::Frame(FrameError::BadPrefix(_)))
        ));
    }

    #[test]
    fn oversized_frames_are_not_encoded() {
        let mut c = FrameCodec::new(FramePrefix::Bcd2, 4);
        assert!(c.encode(&b"12345"[..], &mut BytesMut::new()).is_err());
        assert_eq!(
            FrameCodec::new(FramePrefix::Bcd2, 1 << 20).max_frame_len(),
            9999
        );
    }
}
