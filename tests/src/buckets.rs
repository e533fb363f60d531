//! Bucket (and container) creation on the peers: the one thing opendal
//! cannot do for a test.

use std::time::{Duration, SystemTime};

use crate::PeerError;
use crate::azure_shared_key::{self, SharedKey};
use crate::http_client;
use crate::peer::Peer;
use crate::peers::{GCS_PROJECT, S3_REGION};
use crate::sigv4::{self, SigningKey};

/// Time a bucket creation may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(15);

/// Creates a bucket in the default region ([`S3_REGION`]) on moto or s3s-fs.
/// The request is SigV4-signed with the peer's credentials.
pub async fn create_s3_bucket(peer: &Peer, bucket: &str) -> Result<(), PeerError> {
    create_s3_bucket_in_region(peer, bucket, S3_REGION).await
}

/// Creates a bucket with a `LocationConstraint` (e.g. the B2-style
/// `us-west-004`), signing the request for that region.
pub async fn create_s3_bucket_in_region(
    peer: &Peer,
    bucket: &str,
    region: &str,
) -> Result<(), PeerError> {
    check_bucket_name(bucket)?;
    // us-east-1 is the one region S3 wants *without* a location constraint.
    let body = if region == S3_REGION {
        String::new()
    } else {
        format!(
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
        )
    };
    let path = format!("/{bucket}");
    let host = peer.addr().to_string();
    let key = SigningKey {
        access_key: peer.access_key(),
        secret_key: peer.secret_key(),
        region,
    };
    let headers = sigv4::sign(
        &key,
        "PUT",
        &host,
        &path,
        "",
        body.as_bytes(),
        SystemTime::now(),
    );
    let response = http_client::send(
        peer.addr(),
        "PUT",
        &path,
        &headers,
        body.as_bytes(),
        ADMIN_TIMEOUT,
    )
    .await?;
    expect_success(response, format!("create S3 bucket {bucket}"), peer)
}

/// Creates a bucket through the GCS JSON API of the emulator.
pub async fn create_gcs_bucket(peer: &Peer, bucket: &str) -> Result<(), PeerError> {
    check_bucket_name(bucket)?;
    // The name is checked above, so it needs no JSON escaping.
    let body = format!("{{\"name\":\"{bucket}\"}}");
    let path = format!("/storage/v1/b?project={GCS_PROJECT}");
    let headers = [("Content-Type", "application/json".to_owned())];
    let response = http_client::send(
        peer.addr(),
        "POST",
        &path,
        &headers,
        body.as_bytes(),
        ADMIN_TIMEOUT,
    )
    .await?;
    expect_success(response, format!("create GCS bucket {bucket}"), peer)
}

/// Creates a container on azurite (`PUT /<account>/<name>?restype=container`,
/// shared-key signed with the peer's account and key).
pub async fn create_azure_container(peer: &Peer, container: &str) -> Result<(), PeerError> {
    check_bucket_name(container)?;
    let path = format!("/{}/{container}", peer.access_key());
    let key = SharedKey {
        account: peer.access_key(),
        key: peer.secret_key(),
    };
    let headers = azure_shared_key::sign(
        &key,
        "PUT",
        &path,
        &[("restype", "container")],
        SystemTime::now(),
    )?;
    let response = http_client::send(
        peer.addr(),
        "PUT",
        &format!("{path}?restype=container"),
        &headers,
        &[],
        ADMIN_TIMEOUT,
    )
    .await?;
    expect_success(
        response,
        format!("create Azure container {container}"),
        peer,
    )
}

fn expect_success(
    response: http_client::Response,
    operation: String,
    peer: &Peer,
) -> Result<(), PeerError> {
    if (200..300).contains(&response.status) {
        Ok(())
    } else {
        Err(PeerError::Rejected {
            operation,
            endpoint: peer.endpoint(),
            status: response.status,
            body: response.body_text(),
        })
    }
}

/// The intersection of S3 and GCS naming rules, kept strict so names never
/// need escaping in paths or JSON.
fn check_bucket_name(bucket: &str) -> Result<(), PeerError> {
    let valid_chars = bucket
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let valid_ends = bucket
        .bytes()
        .next()
        .zip(bucket.bytes().last())
        .is_some_and(|(first, last)| first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric());
    if (3..=63).contains(&bucket.len()) && valid_chars && valid_ends {
        Ok(())
    } else {
        Err(PeerError::InvalidBucketName(bucket.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::check_bucket_name;

    #[test]
    fn bucket_names_are_checked() {
        for good in ["abc", "shard-bucket-1", "a.b.c", &"x".repeat(63)] {
            assert!(check_bucket_name(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            "Upper",
            "-lead",
            "trail-",
            "sp ace",
            "quo\"te",
            &"x".repeat(64),
            "",
        ] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
    }
}
