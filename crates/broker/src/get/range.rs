//! Byte-range arithmetic over the stored byte stream of a blob (plaintext
//! in MANAGED mode; ciphertext chunks of `chunk_size + 16` in END_TO_END).

use shardgate_proto::v1 as pb;

use crate::error::BrokerError;

/// A range with both ends exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServedRange {
    pub offset: u64,
    pub length: u64,
}

impl ServedRange {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.offset + self.length
    }
}

/// The range to serve for `requested` over a stream of `size` bytes
/// (rules of `ByteRange` in common.proto).
pub fn served_range(
    size: u64,
    requested: Option<&pb::ByteRange>,
) -> Result<ServedRange, BrokerError> {
    let Some(r) = requested else {
        return Ok(ServedRange {
            offset: 0,
            length: size,
        });
    };
    if r.length == Some(0) {
        return Err(BrokerError::invalid(
            "range.length",
            "must not be 0 when set (leave it unset to read to the end)",
        ));
    }
    if size == 0 && r.offset == 0 {
        return Ok(ServedRange {
            offset: 0,
            length: 0,
        });
    }
    if r.offset >= size {
        return Err(BrokerError::OutOfRange(format!(
            "range.offset {} is at or past the end of the blob ({size} bytes)",
            r.offset
        )));
    }
    let rest = size - r.offset;
    Ok(ServedRange {
        offset: r.offset,
        length: r.length.map_or(rest, |l| l.min(rest)),
    })
}

/// The part of chunk `index` (stored length `chunk_len`, every chunk but the
/// last `stride` long) that `range` covers, relative to the chunk's start.
pub fn slice_in_chunk(
    range: ServedRange,
    stride: u64,
    index: u64,
    chunk_len: u64,
) -> (usize, usize) {
    let start = index * stride;
    let from = range.offset.max(start) - start;
    let to = range.end().min(start + chunk_len) - start;
    (from as usize, to.max(from) as usize)
}

/// Chunk indexes `range` touches: `first..last_exclusive`.
pub fn chunk_span(range: ServedRange, stride: u64) -> std::ops::Range<u64> {
    if range.length == 0 {
        return 0..0;
    }
    range.offset / stride..(range.end() - 1) / stride + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(offset: u64, length: Option<u64>) -> pb::ByteRange {
        pb::ByteRange { offset, length }
    }

    #[test]
    fn ranges_follow_the_proto_rules() {
        assert_eq!(
            served_range(10, None).unwrap(),
            ServedRange {
                offset: 0,
                length: 10
            }
        );
        assert_eq!(served_range(10, Some(&r(3, None))).unwrap().length, 7);
        assert_eq!(served_range(10, Some(&r(3, Some(100)))).unwrap().length, 7);
        assert_eq!(served_range(0, Some(&r(0, None))).unwrap().length, 0);
        let err = served_range(10, Some(&r(10, None))).expect_err("past end");
        assert!(matches!(err, BrokerError::OutOfRange(_)));
        let err = served_range(10, Some(&r(u64::MAX, Some(u64::MAX)))).expect_err("overflow");
        assert!(matches!(err, BrokerError::OutOfRange(_)));
        let err = served_range(10, Some(&r(0, Some(0)))).expect_err("zero length");
        assert!(matches!(err, BrokerError::InvalidArgument { .. }));
    }

    #[test]
    fn spans_and_slices_at_chunk_boundaries() {
        let stride = 100;
        let whole = ServedRange {
            offset: 0,
            length: 250,
        };
        assert_eq!(chunk_span(whole, stride), 0..3);
        assert_eq!(slice_in_chunk(whole, stride, 2, 50), (0, 50));
        let edge = ServedRange {
            offset: 99,
            length: 2,
        };
        assert_eq!(chunk_span(edge, stride), 0..2);
        assert_eq!(slice_in_chunk(edge, stride, 0, 100), (99, 100));
        assert_eq!(slice_in_chunk(edge, stride, 1, 100), (0, 1));
        let exact = ServedRange {
            offset: 100,
            length: 100,
        };
        assert_eq!(chunk_span(exact, stride), 1..2);
        assert_eq!(
            chunk_span(
                ServedRange {
                    offset: 0,
                    length: 0
                },
                stride
            ),
            0..0
        );
    }
}
