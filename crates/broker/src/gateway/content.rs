//! A download as an HTTP response: the same stream `Storage.Get` sends,
//! with the headers browsers, `curl` and download managers expect.

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use shardgate_core::{KeyMode, StreamLayout, StreamRange};
use shardgate_index::BlobRecord;
use shardgate_proto::v1::{ByteRange, GetResponse, get_response::Frame};

use super::reply::{GatewayError, GatewayResult};
use crate::convert::manifest_of;
use crate::error::BrokerError;
use crate::get::range::served_range;
use crate::get::serve_blob;
use crate::limits::{Payer, WithPermit};
use crate::payment::DownloadRequest;
use crate::state::Broker;

/// The `Authorization` value, if the request sent one.
pub(super) fn credential(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Who asks: the client's address, for the invoice limits (checked where
/// an invoice would be made, so a request with a valid credential is never
/// counted); the share, if it came through one, so what it buys works
/// only there (and it is the link the per-link limit counts).
pub(super) struct Asker {
    pub client: IpAddr,
    pub share: Option<[u8; 16]>,
}

/// Serves `blob` (its price already the one that applies) to a request:
/// the challenge if it has no usable credential, else the bytes.
pub(super) async fn content_response(
    broker: Arc<Broker>,
    blob: BlobRecord,
    headers: &HeaderMap,
    asker: Asker,
) -> GatewayResult {
    let manifest = manifest_of(&blob)?;
    let stream_len = StreamLayout::blob_len(&manifest);
    let requested = match requested_range(headers, stream_len) {
        Ok(requested) => requested,
        // 416 says how long the content is (RFC 9110, 15.5.17), so a
        // client can ask again within it.
        Err(e) => {
            let mut response = e.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{stream_len}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(response);
        }
    };
    // The same rules as Get's `range` field; computed here too for the
    // length and Content-Range headers.
    let range = served_range(stream_len, requested.as_ref())?;
    let credential = credential(headers);
    // The same per-address transfer limit as Storage.Get, taken before the
    // payment gate (a refused download spends no credential) and held by
    // the body until it ends.
    let permit = broker.transfers.admit(Some(asker.client), None)?;
    let payment = DownloadRequest {
        hold_invoice: false,
        uses: 1,
        direct: false,
        share: asker.share,
        payer: Payer::gateway(asker.client),
    };
    let stream = serve_blob(
        broker,
        blob.clone(),
        false,
        requested.as_ref(),
        payment,
        credential.as_deref(),
    )
    .await?;
    // Data frames become the body; an error mid-stream aborts the
    // connection, so the client sees a short body against Content-Length,
    // never an "OK" file with bytes missing.
    let body = Body::from_stream(
        WithPermit::new(stream, permit).filter_map(|item| async move {
            match item {
                Ok(GetResponse {
                    frame: Some(Frame::Data(bytes)),
                }) => Some(Ok(bytes)),
                Ok(_) => None,
                Err(status) => Some(Err(std::io::Error::other(status.message().to_owned()))),
            }
        }),
    );
    let mut response = Response::new(body);
    let partial = requested.is_some();
    *response.status_mut() = if partial {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(range.length));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", blob.blob_id.to_hex())) {
        h.insert(header::ETAG, etag);
    }
    if partial && let Ok(v) = HeaderValue::from_str(&content_range(range, stream_len)) {
        h.insert(header::CONTENT_RANGE, v);
    }
    let (content_type, disposition) = match blob.key_mode {
        // Ciphertext: the page decrypts and names the file itself.
        KeyMode::EndToEnd => (
            "application/octet-stream".to_owned(),
            "attachment".to_owned(),
        ),
        KeyMode::Managed => (
            if blob.content_type.is_empty() {
                "application/octet-stream".to_owned()
            } else {
                blob.content_type.clone()
            },
            attachment(&blob.name),
        ),
    };
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

fn content_range(range: StreamRange, total: u64) -> String {
    if range.length == 0 {
        return format!("bytes */{total}");
    }
    format!(
        "bytes {}-{}/{total}",
        range.offset,
        range.offset + range.length - 1
    )
}

/// `Range: bytes=a-b`, `bytes=a-` or `bytes=-n` as Get's range. Several
/// ranges, or another unit, are answered with the whole content (RFC 9110
/// lets a server ignore Range); a range that cannot be satisfied is 416.
fn requested_range(headers: &HeaderMap, len: u64) -> Result<Option<ByteRange>, GatewayError> {
    let Some(value) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    let unsatisfiable = || {
        GatewayError(BrokerError::OutOfRange(format!(
            "Range {:?} is outside the content ({len} bytes)",
            String::from_utf8_lossy(value.as_bytes())
        )))
    };
    let Some(spec) = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let parse = |s: &str| s.trim().parse::<u64>().ok();
    let range = match (first.trim().is_empty(), last.trim().is_empty()) {
        // bytes=-n: the last n bytes.
        (true, false) => {
            let Some(n) = parse(last) else {
                return Ok(None);
            };
            if n == 0 {
                return Err(unsatisfiable());
            }
            let n = n.min(len);
            ByteRange {
                offset: len - n,
                length: Some(n),
            }
        }
        (false, true) => ByteRange {
            offset: parse(first).ok_or_else(unsatisfiable)?,
            length: None,
        },
        (false, false) => {
            let (Some(a), Some(b)) = (parse(first), parse(last)) else {
                return Ok(None);
            };
            if b < a {
                return Ok(None);
            }
            ByteRange {
                offset: a,
                length: Some(b - a + 1),
            }
        }
        (true, true) => return Ok(None),
    };
    if range.offset >= len {
        return Err(unsatisfiable());
    }
    Ok(Some(range))
}

/// `attachment; filename="…"; filename*=UTF-8''…`: an ASCII fallback for
/// old clients, the exact name (RFC 5987) for the rest.
fn attachment(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    let ascii: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let ascii = if ascii.trim().is_empty() {
        "download".to_owned()
    } else {
        ascii
    };
    let mut encoded = String::new();
    for b in base.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(value: &str, len: u64) -> Result<Option<ByteRange>, GatewayError> {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_str(value).unwrap());
        requested_range(&h, len)
    }

    #[test]
    fn byte_ranges_follow_rfc_9110() {
        let r = range("bytes=0-9", 100).ok().flatten().unwrap();
        assert_eq!((r.offset, r.length), (0, Some(10)));
        let r = range("bytes=90-", 100).ok().flatten().unwrap();
        assert_eq!((r.offset, r.length), (90, None));
        let r = range("bytes=-10", 100).ok().flatten().unwrap();
        assert_eq!((r.offset, r.length), (90, Some(10)));
        let r = range("bytes=-1000", 100).ok().flatten().unwrap();
        assert_eq!((r.offset, r.length), (0, Some(100)));
        let r = range("bytes=50-5000", 100).ok().flatten().unwrap();
        assert_eq!((r.offset, r.length), (50, Some(4951)));
        // Ignored: other units, several ranges, nonsense.
        for v in [
            "items=0-1",
            "bytes=0-1,5-6",
            "bytes=x-y",
            "bytes=5-1",
            "bytes=-",
        ] {
            assert!(range(v, 100).ok().unwrap().is_none(), "{v}");
        }
        // Unsatisfiable: 416.
        for v in ["bytes=100-", "bytes=100-200", "bytes=-0"] {
            let err = range(v, 100).expect_err(v);
            assert!(matches!(err.0, BrokerError::OutOfRange(_)), "{v}");
        }
    }

    #[test]
    fn attachment_names_are_safe_and_exact() {
        assert_eq!(
            attachment("report.pdf"),
            "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
        );
        let d = attachment("dir/Grüße \"x\".txt");
        assert!(
            d.starts_with("attachment; filename=\"Gr__e _x_.txt\""),
            "{d}"
        );
        assert!(
            d.ends_with("filename*=UTF-8''Gr%C3%BC%C3%9Fe%20%22x%22.txt"),
            "{d}"
        );
        assert!(attachment("").contains("filename=\"download\""));
    }
}
