//! [`PayParams`]: a wallet service's LNURL-pay answer (LUD-06 `payRequest`)
//! for one Lightning Address, checked before anything relies on it.

use reqwest::Url;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::address::{LightningAddress, plain_http_allowed};
use super::answer;
use crate::error::{LnurlFailure, PaymentError};

/// The `tag` of an LNURL-pay answer.
const PAY_REQUEST_TAG: &str = "payRequest";

/// What the wallet service behind a Lightning Address accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayParams {
    /// The address these parameters are for.
    pub address: LightningAddress,
    /// Where to ask for an invoice (`?amount=<msat>` is added).
    pub callback: Url,
    /// Smallest amount the service accepts, msat.
    pub min_sendable_msat: u64,
    /// Largest amount the service accepts, msat.
    pub max_sendable_msat: u64,
    /// The metadata string exactly as sent: its SHA-256 must be the
    /// invoice's description hash.
    pub metadata: String,
    /// Longest comment the service takes with a payment (LUD-12); None when
    /// it takes none.
    pub comment_allowed: Option<u32>,
}

impl PayParams {
    /// SHA-256 of the metadata: what every invoice for these parameters
    /// must carry as its description hash (LUD-06).
    pub fn metadata_hash(&self) -> [u8; 32] {
        Sha256::digest(self.metadata.as_bytes()).into()
    }

    /// The metadata's `text/plain` entry: what the payee wants shown.
    pub fn description(&self) -> Option<String> {
        metadata_entries(&self.metadata)
            .ok()?
            .into_iter()
            .find(|(kind, _)| kind == "text/plain")
            .map(|(_, text)| text)
    }
}

/// The `payRequest` fields, as LUD-06 names them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PayRequestJson {
    tag: String,
    callback: String,
    min_sendable: u64,
    max_sendable: u64,
    metadata: String,
    #[serde(default)]
    comment_allowed: Option<u32>,
}

/// Checks a `.well-known/lnurlp/<user>` answer body.
pub(crate) fn parse(address: &LightningAddress, body: &[u8]) -> Result<PayParams, PaymentError> {
    let bad = |detail: String| PaymentError::Lnurl {
        address: address.to_string(),
        failure: LnurlFailure::BadResponse,
        detail: format!(
            "the wallet service at {} gave unusable payment parameters: {detail}; \
             the address cannot receive payouts until its provider fixes this",
            address.domain()
        ),
    };
    let value = answer::read(address, body)?;
    let json: PayRequestJson = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
    if json.tag != PAY_REQUEST_TAG {
        return Err(bad(format!(
            "tag is {:?}, not {PAY_REQUEST_TAG:?}",
            json.tag
        )));
    }
    if json.min_sendable == 0 || json.min_sendable > json.max_sendable {
        return Err(bad(format!(
            "minSendable {} and maxSendable {} do not form a range of at least 1 msat",
            json.min_sendable, json.max_sendable
        )));
    }
    let entries = metadata_entries(&json.metadata).map_err(bad)?;
    if !entries.iter().any(|(kind, _)| kind == "text/plain") {
        return Err(bad("metadata has no text/plain entry".into()));
    }
    let callback = Url::parse(&json.callback)
        .map_err(|e| bad(format!("callback {:?} is not a URL: {e}", json.callback)))?;
    let secure = callback.scheme() == "https"
        || (callback.scheme() == "http" && plain_http_allowed(&callback));
    if !secure {
        return Err(bad(format!("callback {callback} is not an https:// URL")));
    }
    Ok(PayParams {
        address: address.clone(),
        callback,
        min_sendable_msat: json.min_sendable,
        max_sendable_msat: json.max_sendable,
        metadata: json.metadata,
        comment_allowed: json.comment_allowed.filter(|n| *n > 0),
    })
}

/// The metadata's `[type, content]` string pairs; entries of other shapes
/// (e.g. LUD-20's) are skipped, but the whole must be a JSON array.
fn metadata_entries(metadata: &str) -> Result<Vec<(String, String)>, String> {
    let value: serde_json::Value =
        serde_json::from_str(metadata).map_err(|e| format!("metadata is not JSON: {e}"))?;
    let entries = value
        .as_array()
        .ok_or_else(|| "metadata is not a JSON array".to_string())?;
    Ok(entries
        .iter()
        .filter_map(|entry| match entry.as_array()?.as_slice() {
            [kind, content, ..] => Some((kind.as_str()?.into(), content.as_str()?.into())),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address() -> LightningAddress {
        LightningAddress::parse("alice@example.com").expect("valid")
    }

    fn body(callback: &str, min: u64, max: u64, tag: &str) -> Vec<u8> {
        serde_json::json!({
            "tag": tag,
            "callback": callback,
            "minSendable": min,
            "maxSendable": max,
            "metadata": "[[\"text/plain\",\"Pay alice\"],[\"text/identifier\",\"alice@example.com\"]]",
            "commentAllowed": 0,
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_valid_answer_gives_params() {
        let params = parse(
            &address(),
            &body("https://example.com/cb?id=1", 1_000, 5_000, "payRequest"),
        )
        .expect("valid");
        assert_eq!(params.callback.as_str(), "https://example.com/cb?id=1");
        assert_eq!(
            (params.min_sendable_msat, params.max_sendable_msat),
            (1_000, 5_000)
        );
        assert_eq!(params.description().as_deref(), Some("Pay alice"));
        assert_eq!(params.comment_allowed, None, "0 means no comments");
        assert_eq!(
            params.metadata_hash(),
            <[u8; 32]>::from(Sha256::digest(params.metadata.as_bytes()))
        );
    }

    #[test]
    fn unusable_answers_are_bad_responses() {
        let cases = [
            body("https://example.com/cb", 1_000, 5_000, "withdrawRequest"),
            body("https://example.com/cb", 5_000, 1_000, "payRequest"),
            body("https://example.com/cb", 0, 1_000, "payRequest"),
            body("http://example.com/cb", 1_000, 5_000, "payRequest"),
            body("not a url", 1_000, 5_000, "payRequest"),
            b"{\"tag\":\"payRequest\"}".to_vec(),
            b"[1, 2".to_vec(),
        ];
        for case in cases {
            let err = parse(&address(), &case).expect_err("refused");
            assert!(
                matches!(
                    err,
                    PaymentError::Lnurl {
                        failure: LnurlFailure::BadResponse,
                        ..
                    }
                ),
                "{err}"
            );
        }
    }

    #[test]
    fn loopback_callback_may_be_plain_http() {
        let params = parse(
            &address(),
            &body("http://127.0.0.1:4000/cb", 1_000, 5_000, "payRequest"),
        )
        .expect("loopback with a port");
        assert_eq!(params.callback.scheme(), "http");
    }
}
