//! `Storage.Get`'s response as bytes on the wire, for the two places that
//! write or read it without tonic's copies: the broker's Get route and the
//! SDK's download reader. Both sides agree on it here.
//!
//! A gRPC message is a 5-byte prefix (compressed flag, big-endian length)
//! and the protobuf encoding. A `GetResponse { data }` encodes as the
//! field's tag, a varint length, then the data bytes: the framing is a few
//! bytes, and the data can travel as a slice of the buffer it is in rather
//! than a copy (tonic copies every message whole on both sides: into an
//! encode buffer on the broker, into a decode buffer on the client).

use bytes::{BufMut, Bytes, BytesMut};

/// The method's path.
pub const GET_PATH: &str = "/shardgate.v1.Storage/Get";
/// gRPC's message prefix: compressed flag, big-endian length.
pub const PREFIX_LEN: usize = 5;
/// `GetResponse.data`: field 2, length-delimited.
pub const DATA_TAG: u8 = (2 << 3) | 2;
/// A varint is at most 10 bytes.
const MAX_VARINT_LEN: usize = 10;
/// Bytes [`message_start`] needs at most to tell what a message is.
pub const START_LEN: usize = PREFIX_LEN + 1 + MAX_VARINT_LEN;

/// The bytes that precede `len` data bytes: the gRPC prefix of a
/// `GetResponse { data }` message, then the field's tag and length.
pub fn data_framing(len: usize) -> Bytes {
    let message_len = 1 + prost::encoding::encoded_len_varint(len as u64) + len;
    let mut framing = BytesMut::with_capacity(START_LEN);
    framing.put_u8(0);
    // Data frames are at most `limits.max_data_frame_bytes` (≤ 4 MiB).
    framing.put_u32(u32::try_from(message_len).unwrap_or(u32::MAX));
    framing.put_u8(DATA_TAG);
    prost::encoding::encode_varint(len as u64, &mut framing);
    framing.freeze()
}

/// A whole message (the header) as one gRPC frame: prefix, then prost's
/// encoding.
pub fn message_frame(message: &crate::v1::GetResponse) -> Bytes {
    use prost::Message as _;
    let len = message.encoded_len();
    let mut frame = BytesMut::with_capacity(PREFIX_LEN + len);
    frame.put_u8(0);
    frame.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
    // Cannot fail: the buffer has room for the encoded length.
    let _ = message.encode(&mut frame);
    frame.freeze()
}

/// What the first bytes of a gRPC message of a Get response say it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageStart {
    /// More bytes are needed to tell (at most [`START_LEN`]).
    Incomplete,
    /// The compressed flag is set (nobody asked for compression).
    Compressed,
    /// A `GetResponse` holding only `data`: `data_len` bytes of it follow
    /// the first `framing_len` bytes (prefix, tag, length).
    Data {
        /// Bytes before the data, prefix included.
        framing_len: usize,
        /// Data bytes.
        data_len: usize,
    },
    /// Any other message (the header, or data encoded with other fields):
    /// `len` bytes after the prefix, to be decoded whole.
    Whole {
        /// Message bytes after the prefix.
        len: usize,
    },
}

/// Reads the start of a message from `bytes`, which begin at its prefix
/// and hold as much of it as has arrived.
pub fn message_start(bytes: &[u8]) -> MessageStart {
    let Some(prefix) = bytes.get(..PREFIX_LEN) else {
        return MessageStart::Incomplete;
    };
    if prefix[0] != 0 {
        return MessageStart::Compressed;
    }
    let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    let message = &bytes[PREFIX_LEN..bytes.len().min(PREFIX_LEN + len)];
    let complete = message.len() == len;
    let Some((&tag, rest)) = message.split_first() else {
        return if complete {
            MessageStart::Whole { len }
        } else {
            MessageStart::Incomplete
        };
    };
    if tag != DATA_TAG {
        return MessageStart::Whole { len };
    }
    let mut value = 0u64;
    for (i, &byte) in rest.iter().take(MAX_VARINT_LEN).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let framing = 1 + i + 1;
            // Only when the data field fills the message exactly; anything
            // else (more fields, a bad length) goes to prost whole.
            return match usize::try_from(value) {
                Ok(data_len) if framing.checked_add(data_len) == Some(len) => MessageStart::Data {
                    framing_len: PREFIX_LEN + framing,
                    data_len,
                },
                _ => MessageStart::Whole { len },
            };
        }
    }
    if complete || rest.len() >= MAX_VARINT_LEN {
        MessageStart::Whole { len }
    } else {
        MessageStart::Incomplete
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::v1 as pb;

    fn framed(message: &pb::GetResponse) -> Vec<u8> {
        message_frame(message).to_vec()
    }

    fn data(len: usize) -> pb::GetResponse {
        pb::GetResponse {
            frame: Some(pb::get_response::Frame::Data(Bytes::from(vec![7u8; len]))),
        }
    }

    #[test]
    fn a_data_frame_is_framed_exactly_as_prost_encodes_it() {
        for len in [0usize, 1, 127, 128, 16_383, 16_384, 1 << 20] {
            let mut ours = data_framing(len).to_vec();
            ours.extend_from_slice(&vec![7u8; len]);
            assert_eq!(ours, framed(&data(len)), "len {len}");
        }
    }

    #[test]
    fn data_messages_are_recognised_from_their_first_bytes_only() {
        for len in [0usize, 1, 127, 128, 16_384, 1 << 20] {
            let bytes = framed(&data(len));
            let framing_len = data_framing(len).len();
            let want = MessageStart::Data {
                framing_len,
                data_len: len,
            };
            assert_eq!(message_start(&bytes), want, "len {len}");
            assert_eq!(message_start(&bytes[..framing_len]), want, "len {len}");
            for cut in 0..framing_len {
                assert_eq!(
                    message_start(&bytes[..cut]),
                    MessageStart::Incomplete,
                    "len {len}, first {cut} bytes"
                );
            }
        }
    }

    #[test]
    fn other_messages_are_decoded_whole() {
        let header = framed(&pb::GetResponse {
            frame: Some(pb::get_response::Frame::Header(pb::GetHeader {
                uses_remaining: 3,
                ..Default::default()
            })),
        });
        let len = header.len() - PREFIX_LEN;
        assert_eq!(message_start(&header), MessageStart::Whole { len });
        assert_eq!(
            message_start(&header[..PREFIX_LEN + 1]),
            MessageStart::Whole { len }
        );
        // Data followed by another field: not the data frame the broker
        // writes, so prost reads it.
        let mut extra = data(4).encode_to_vec();
        extra.extend_from_slice(&[0x78, 0x01]); // field 15
        let mut bytes = vec![0u8];
        bytes.extend_from_slice(&u32::try_from(extra.len()).unwrap().to_be_bytes());
        bytes.extend_from_slice(&extra);
        assert_eq!(
            message_start(&bytes),
            MessageStart::Whole { len: extra.len() }
        );
        // An empty message, and a complete one whose varint never ends.
        assert_eq!(
            message_start(&[0, 0, 0, 0, 0]),
            MessageStart::Whole { len: 0 }
        );
        assert_eq!(
            message_start(&[0, 0, 0, 0, 3, DATA_TAG, 0x80, 0x80]),
            MessageStart::Whole { len: 3 }
        );
        assert_eq!(message_start(&[1, 0, 0, 0, 1, 0]), MessageStart::Compressed);
    }
}
