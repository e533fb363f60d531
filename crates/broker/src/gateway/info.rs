//! What the page shows before anyone pays: name (or the sealed name of an
//! end-to-end share), size, layout for decryption, price, limits.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use shardgate_core::{KeyMode, StreamLayout};
use shardgate_index::{BlobRecord, ShareRecord};

use crate::convert::manifest_of;
use crate::error::BrokerError;
use crate::payment::is_free;
use crate::state::Broker;

/// The price of one whole download of `blob` as an invoice would ask it
/// (the broker's minimum invoice applies), msat; 0 for a free blob.
pub(super) fn download_price_msat(broker: &Broker, blob: &BlobRecord) -> Result<u64, BrokerError> {
    let stream_len = StreamLayout::blob_len(&manifest_of(blob)?);
    match &broker.cashier {
        Some(cashier) => {
            Ok(cashier
                .price_of(blob)?
                .invoice_amount_msat(stream_len, 1, &cashier.pricing)?)
        }
        None if is_free(blob) => Ok(0),
        // Priced, and this broker takes no payments: the download will be
        // refused; show the price the owner set.
        None => Ok(blob.price.flat_msat),
    }
}

/// The fields every page needs, for `blob` at the price that applies.
pub(super) fn blob_json(broker: &Broker, blob: &BlobRecord) -> Result<Value, BrokerError> {
    let manifest = manifest_of(blob)?;
    let layout = StreamLayout::of(&manifest);
    let end_to_end = blob.key_mode == KeyMode::EndToEnd;
    Ok(json!({
        "blob_id": blob.blob_id.to_hex(),
        "end_to_end": end_to_end,
        // An end-to-end blob's name at the broker is whatever the uploader
        // chose to send; a share seals the real one.
        "name": if end_to_end { Value::Null } else { Value::from(blob.name.clone()) },
        "content_type": blob.content_type,
        "size": blob.size,
        "stream_length": StreamLayout::blob_len(&manifest),
        "chunk_size": manifest.chunk_size(),
        "chunk_count": manifest.chunks().len(),
        "chunk_stride": layout.stride(),
        "price_msat": download_price_msat(broker, blob)?,
        "payments": broker.cashier.is_some(),
    }))
}

/// A share's page data: the blob's fields plus the share's own.
pub(super) fn share_json(
    broker: &Broker,
    share: &ShareRecord,
    blob: &BlobRecord,
) -> Result<Value, BrokerError> {
    let mut value = blob_json(broker, blob)?;
    let b64 = |bytes: &Option<Vec<u8>>| {
        bytes
            .as_ref()
            .map_or(Value::Null, |b| Value::from(URL_SAFE_NO_PAD.encode(b)))
    };
    let left =
        (share.max_downloads > 0).then(|| share.max_downloads.saturating_sub(share.downloads));
    if let Value::Object(map) = &mut value {
        map.insert("share_id".into(), share.share_id.to_string().into());
        map.insert("wrapped_key".into(), b64(&share.wrapped_key));
        map.insert("sealed_name".into(), b64(&share.sealed_name));
        map.insert("expires_at_unix_ms".into(), json!(share.expires_at_unix_ms));
        map.insert("max_downloads".into(), share.max_downloads.into());
        map.insert("downloads".into(), share.downloads.into());
        map.insert("downloads_left".into(), json!(left));
    }
    Ok(value)
}
