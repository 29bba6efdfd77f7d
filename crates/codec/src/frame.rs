//! Framing without I/O: splitting a byte stream into messages by their
//! length prefix. A partial frame is "need more bytes", never an error;
//! only a broken prefix or an oversized frame is.
//!
//! ```
//! use cardwire_codec::frame::{split_frame, FramePrefix, FrameStatus};
//! let stream = [0x00, 0x03, b'a', b'b', b'c', 0x00];
//! match split_frame(&stream, FramePrefix::Binary2, 8192).unwrap() {
//!     FrameStatus::Complete { frame, consumed } => {
//!         assert_eq!(frame, b"abc");
//!         assert_eq!(consumed, 5);
//!     }
//!     FrameStatus::Partial { .. } => unreachable!(),
//! }
//! assert!(matches!(split_frame(&stream[..4], FramePrefix::Binary2, 8192), Ok(FrameStatus::Partial { needed: 1 })));
//! ```

/// How a frame's length is written before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FramePrefix {
    /// 2 bytes, big-endian binary, counting the bytes after it (UnionPay POS).
    Binary2,
    /// 2 bytes, big-endian binary, counting itself too.
    Binary2Inclusive,
    /// 2 bytes of BCD (up to 9999).
    Bcd2,
    /// 4 ASCII digits.
    Ascii4,
}

impl FramePrefix {
    /// Bytes of prefix.
    pub fn width(self) -> usize {
        match self {
            FramePrefix::Ascii4 => 4,
            _ => 2,
        }
    }

    /// Parses `binary2`, `binary2-inclusive`, `bcd2`, `ascii4`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "binary2" | "2b" => FramePrefix::Binary2,
            "binary2-inclusive" => FramePrefix::Binary2Inclusive,
            "bcd2" => FramePrefix::Bcd2,
            "ascii4" | "4a" => FramePrefix::Ascii4,
            _ => return None,
        })
    }

    /// The largest frame the prefix can announce.
    pub fn capacity(self) -> usize {
        match self {
            FramePrefix::Binary2 => 65535,
            FramePrefix::Binary2Inclusive => 65533,
            FramePrefix::Bcd2 | FramePrefix::Ascii4 => 9999,
        }
    }

    /// Writes the prefix for a frame of `len` bytes.
    ///
    /// # Errors
    /// [`FrameError::TooLarge`] when the prefix cannot express `len`.
    pub fn encode(self, len: usize) -> Result<[u8; 4], FrameError> {
        if len > self.capacity() {
            return Err(FrameError::TooLarge {
                len,
                max: self.capacity(),
            });
        }
        let mut out = [0u8; 4];
        match self {
            FramePrefix::Binary2 => out[..2].copy_from_slice(&(len as u16).to_be_bytes()),
            FramePrefix::Binary2Inclusive => {
                out[..2].copy_from_slice(&((len + 2) as u16).to_be_bytes())
            }
            FramePrefix::Bcd2 => {
                let d = |x: usize| (x % 10) as u8;
                out[0] = d(len / 1000) << 4 | d(len / 100);
                out[1] = d(len / 10) << 4 | d(len);
            }
            FramePrefix::Ascii4 => {
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = b'0' + (len / 10usize.pow(3 - i as u32) % 10) as u8;
                }
            }
        }
        Ok(out)
    }
}

/// A broken frame: the connection cannot be resynchronised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The prefix announces more than the allowed maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// Maximum.
        max: usize,
    },
    /// The prefix is not a number in its encoding.
    #[error("length prefix is not valid {0}")]
    BadPrefix(&'static str),
}

/// The result of looking for a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameStatus<'a> {
    /// A whole frame (prefix excluded) and how many bytes it used in all.
    Complete {
        /// The frame.
        frame: &'a [u8],
        /// Prefix plus frame.
        consumed: usize,
    },
    /// More bytes are needed; `needed` is how many at least.
    Partial {
        /// Bytes still missing.
        needed: usize,
    },
}

/// Reads the announced frame length (prefix excluded), if the prefix is
/// complete.
///
/// # Errors
/// As [`split_frame`].
pub fn frame_len(buf: &[u8], prefix: FramePrefix, max: usize) -> Result<Option<usize>, FrameError> {
    let Some(p) = buf.get(..prefix.width()) else {
        return Ok(None);
    };
    let len = match prefix {
        FramePrefix::Binary2 => usize::from(u16::from_be_bytes([p[0], p[1]])),
        FramePrefix::Binary2Inclusive => usize::from(u16::from_be_bytes([p[0], p[1]]))
            .checked_sub(2)
            .ok_or(FrameError::BadPrefix("inclusive binary length under 2"))?,
        FramePrefix::Bcd2 => {
            let mut v = 0usize;
            for &b in p {
                if b >> 4 > 9 || b & 15 > 9 {
                    return Err(FrameError::BadPrefix("BCD"));
                }
                v = v * 100 + usize::from(b >> 4) * 10 + usize::from(b & 15);
            }
            v
        }
        FramePrefix::Ascii4 => {
            let mut v = 0usize;
            for &b in p {
                if !b.is_ascii_digit() {
                    return Err(FrameError::BadPrefix("ASCII digits"));
                }
                v = v * 10 + usize::from(b - b'0');
            }
            v
        }
    };
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok(Some(len))
}

/// Finds the first frame in `buf`.
///
/// # Errors
/// [`FrameError`] when the prefix is malformed or announces more than
/// `max` bytes; the stream cannot be trusted after that.
pub fn split_frame(
    buf: &[u8],
    prefix: FramePrefix,
    max: usize,
) -> Result<FrameStatus<'_>, FrameError> {
    let w = prefix.width();
    let Some(len) = frame_len(buf, prefix, max)? else {
        return Ok(FrameStatus::Partial {
            needed: w - buf.len(),
        });
    };
    match buf.get(w..w + len) {
        Some(frame) => Ok(FrameStatus::Complete {
            frame,
            consumed: w + len,
        }),
        None => Ok(FrameStatus::Partial {
            needed: w + len - buf.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prefix_round_trips_and_every_cut_is_partial() {
        for p in [
            FramePrefix::Binary2,
            FramePrefix::Binary2Inclusive,
            FramePrefix::Bcd2,
            FramePrefix::Ascii4,
        ] {
            let body = b"0800 hello";
            let mut wire = p.encode(body.len()).unwrap()[..p.width()].to_vec();
            wire.extend_from_slice(body);
            for cut in 0..wire.len() {
                // Before the prefix is whole, only the prefix is known to be missing.
                let want = if cut < p.width() {
                    p.width() - cut
                } else {
                    wire.len() - cut
                };
                assert_eq!(
                    split_frame(&wire[..cut], p, 100),
                    Ok(FrameStatus::Partial { needed: want }),
                    "{p:?} cut {cut}"
                );
            }
            assert_eq!(
                split_frame(&wire, p, 100),
                Ok(FrameStatus::Complete {
                    frame: body,
                    consumed: wire.len()
                })
            );
            assert!(matches!(
                split_frame(&wire, p, 5),
                Err(FrameError::TooLarge { len: 10, max: 5 })
            ));
        }
    }

    #[test]
    fn broken_prefixes_are_errors() {
        assert_eq!(
            split_frame(b"00x1", FramePrefix::Ascii4, 100),
            Err(FrameError::BadPrefix("ASCII digits"))
        );
        assert_eq!(
            split_frame(&[0x0A, 0], FramePrefix::Bcd2, 100),
            Err(FrameError::BadPrefix("BCD"))
        );
        assert!(split_frame(&[0, 1], FramePrefix::Binary2Inclusive, 100).is_err());
        assert!(FramePrefix::Bcd2.encode(10_000).is_err());
    }
}
