//! The range a request asks for, checked against the blob's stream (the
//! rules of `ByteRange` in common.proto). The arithmetic over chunks is
//! `shardgate_core::StreamLayout`.

use shardgate_core::StreamRange;
use shardgate_proto::v1 as pb;

use crate::error::BrokerError;

/// The range to serve for `requested` over a stream of `size` bytes
/// (rules of `ByteRange` in common.proto).
pub(crate) fn served_range(
    size: u64,
    requested: Option<&pb::ByteRange>,
) -> Result<StreamRange, BrokerError> {
    let Some(r) = requested else {
        return Ok(StreamRange {
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
        return Ok(StreamRange {
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
    Ok(StreamRange {
        offset: r.offset,
        length: r.length.map_or(rest, |l| l.min(rest)),
    })
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
            StreamRange {
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
}
