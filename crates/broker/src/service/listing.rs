//! Paging rules shared by List RPCs (common.proto): page_size 0 = 100,
//! above 1000 = 1000; tokens are opaque and bound to the request fields
//! they were issued for.

use crate::error::BrokerError;

/// Page size when the request says 0.
pub(crate) const DEFAULT_PAGE_SIZE: usize = 100;
/// Largest page size honoured.
pub(crate) const MAX_PAGE_SIZE: usize = 1000;

pub(crate) fn page_size(requested: u32) -> usize {
    match requested as usize {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    }
}

/// Wraps the index's token with a tag of the fields it belongs to, so a
/// token reused with another filter is refused instead of misread.
pub(crate) fn encode_token(inner: &str, filter: &str) -> String {
    format!("{}.{}", tag(filter), hex::encode(inner))
}

/// `None` for the first page.
pub(crate) fn decode_token(token: &str, filter: &str) -> Result<Option<String>, BrokerError> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || BrokerError::invalid("page_token", "not a token returned by this listing");
    let (t, inner) = token.split_once('.').ok_or_else(bad)?;
    if t != tag(filter) {
        return Err(BrokerError::invalid(
            "page_token",
            "was issued for a different name_prefix; restart the listing",
        ));
    }
    let bytes = hex::decode(inner).map_err(|_| bad())?;
    String::from_utf8(bytes).map(Some).map_err(|_| bad())
}

/// The index refuses a page token it did not issue as `Invalid`.
pub(crate) fn page_error(err: shardgate_index::IndexError) -> BrokerError {
    match err {
        shardgate_index::IndexError::Invalid { .. } => {
            BrokerError::invalid("page_token", "not a token this listing returned")
        }
        other => other.into(),
    }
}

fn tag(filter: &str) -> String {
    hex::encode(&blake3::hash(filter.as_bytes()).as_bytes()[..6])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_are_bound_to_their_filter() {
        let t = encode_token("abc", "photos/");
        assert_eq!(decode_token(&t, "photos/").unwrap().as_deref(), Some("abc"));
        assert!(decode_token(&t, "docs/").is_err());
        assert!(decode_token("garbage", "").is_err());
        assert_eq!(decode_token("", "x").unwrap(), None);
        assert_eq!(page_size(0), 100);
        assert_eq!(page_size(5000), 1000);
    }
}
