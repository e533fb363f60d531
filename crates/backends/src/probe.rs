//! The join/health probe: write, read back and delete a small object under
//! `<prefix>/probe/`. It proves the endpoint answers, the bucket exists and
//! the credentials may write, read and delete — the three things a shard
//! store needs — and turns each failure into the config field to fix.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use opendal::ErrorKind;

use crate::error::{BackendError, BackendErrorKind};
use crate::operator::SHARD_CONTENT_TYPE;
use crate::store::ShardStore;

/// Probe payload size: small enough to be cheap, non-empty so a store that
/// silently drops bodies is caught.
const PROBE_LEN: usize = 64;

/// Run one probe round trip against `store` (`kind` picks field names).
pub(crate) async fn probe(store: &ShardStore, kind: &str) -> Result<(), BackendError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nonce = blake3::hash(format!("{nanos}-{n}-{}", std::process::id()).as_bytes());
    let nonce = &nonce.to_hex()[..16];
    let key = if store.prefix().is_empty() {
        format!("probe/{nonce}")
    } else {
        format!("{}/probe/{nonce}", store.prefix())
    };
    let payload: Vec<u8> = (0..PROBE_LEN)
        .map(|i| nonce.as_bytes()[i % nonce.len()])
        .collect();
    let op = store.operator();
    let fail = |step: &'static str, e: opendal::Error| explain(store.name(), kind, step, &key, &e);

    let mut w = op.write_with(&key, payload.clone());
    if store.capability().write_with_content_type {
        w = w.content_type(SHARD_CONTENT_TYPE);
    }
    w.await.map_err(|e| fail("write", e))?;
    let back = op.read(&key).await.map_err(|e| fail("read", e))?.to_vec();
    // Delete before judging the read, so a mismatch leaves no litter.
    let deleted = op.delete(&key).await;
    if back != payload {
        return Err(BackendError::new(
            BackendErrorKind::Corrupt,
            store.name(),
            "probe",
            format!(
                "read back {} bytes that differ from the {PROBE_LEN} written",
                back.len()
            ),
        )
        .with_key(key));
    }
    match deleted {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(fail("delete", e)),
        _ => Ok(()),
    }
}

/// Map a probe failure to the setting that is most likely wrong.
fn explain(provider: &str, kind: &str, step: &str, key: &str, e: &opendal::Error) -> BackendError {
    let base = BackendError::from_opendal(e, provider, "probe", Some(key));
    let (field, what) = match (e.kind(), base.kind()) {
        (ErrorKind::NotFound, _) => (container_field(kind), "the bucket/container does not exist"),
        // S3 answers NoSuchBucket, which opendal files under ConfigInvalid.
        _ if mentions(
            e,
            &["NoSuchBucket", "ContainerNotFound", "bucket does not exist"],
        ) =>
        {
            (container_field(kind), "the bucket/container does not exist")
        }
        (ErrorKind::PermissionDenied, _) => {
            (credential_field(kind), "the credentials were rejected")
        }
        (_, BackendErrorKind::Timeout) => ("endpoint", "the endpoint did not answer in time"),
        (_, BackendErrorKind::Unavailable) => {
            ("endpoint", "the endpoint is unreachable or failing")
        }
        _ if mentions(
            e,
            &[
                "SignatureDoesNotMatch",
                "InvalidAccessKeyId",
                "AccessDenied",
                "Unauthorized",
            ],
        ) =>
        {
            // Some S3-compatible servers answer a bad signature with bodies
            // opendal classifies as `Unexpected`.
            (credential_field(kind), "the credentials were rejected")
        }
        (ErrorKind::ConfigInvalid, _) => ("kind", "the provider rejected the configuration"),
        _ => ("endpoint", "the provider returned an unexpected error"),
    };
    BackendError::invalid_config(
        provider,
        field,
        format!("probe {step} failed: {what} ({})", e.message()),
    )
    .with_key(key)
}

/// Whether opendal's error text carries one of these service error codes.
fn mentions(e: &opendal::Error, needles: &[&str]) -> bool {
    let s = e.to_string();
    needles.iter().any(|needle| s.contains(needle))
}

fn container_field(kind: &str) -> &'static str {
    match kind {
        "azblob" => "container",
        "fs" => "root",
        _ => "bucket",
    }
}

fn credential_field(kind: &str) -> &'static str {
    match kind {
        "s3" => "secret_access_key",
        "b2" | "b2_native" => "application_key",
        "gcs" => "credential",
        "azblob" => "account_key",
        "fs" => "root",
        _ => "credentials",
    }
}
