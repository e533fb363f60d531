//! Share links through the real `shardgate` binary with payments on: the
//! owner creates them with the SDK (and the CLI), a stranger uses them over
//! plain HTTP (`reqwest`), as docs/sharing.md describes: the read token
//! opens a share and a wrong one looks exactly like an unknown id; a share's
//! price is what its invoice asks; limits, expiry, revocation and deletion
//! end in `410` with their own reason; CreateShare refuses what it must.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::Value;
use shardgate_client::{Client, CreatedShare, PutOptions, ShareOptions, pb};
use shardgate_tests::broker_process::client::as_tenant;
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::gateway::{Gateway, Reply, SHARE_TOKEN_HEADER};
use shardgate_tests::lightning::PaidBroker;
use shardgate_tests::raw_wire;
use tonic::Code;

use crate::gateway_http::{assert_challenge, assert_no_file_bytes};

const FLAT: u64 = 3_000;
/// The share's own price: what its invoices must ask, not the blob's.
const SHARE_PRICE: u64 = 7_500;
/// A well-formed share id (16 zero bytes) that no share has.
const UNKNOWN_ID: &str = "AAAAAAAAAAAAAAAAAAAAAA";

fn token(share: &CreatedShare) -> String {
    share.secret.read_token().to_text()
}

async fn info(gateway: &Gateway, id: &str, token: Option<&str>) -> Reply {
    let headers: Vec<(&str, &str)> = token.map(|t| (SHARE_TOKEN_HEADER, t)).into_iter().collect();
    gateway
        .send(Method::GET, &format!("/s/{id}/info"), &headers)
        .await
}

/// `410` with `error` = `kind`, and no byte of the file.
fn assert_gone(reply: &Reply, kind: &str, file: &[u8], what: &str) {
    assert_eq!(reply.status, 410, "{what}: {}", reply.describe());
    assert_eq!(reply.error_kind(), kind, "{what}");
    assert_no_file_bytes(reply, file, what);
}

async fn share(owner: &Client, blob: &str, options: ShareOptions) -> CreatedShare {
    owner
        .create_share(blob, options)
        .await
        .unwrap_or_else(|e| panic!("create share of {blob}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_info_opens_with_the_right_token_only() {
    let paid = PaidBroker::start(&[], "").await.expect("start");
    let data = Pattern::new(21, 150 * 1024).all();
    let blob = paid.upload("info.bin", &data, (FLAT, 0), false).await;
    let owner = as_tenant(&paid.client().await, Some(paid.owner_key()));
    let gateway = Gateway::new(&paid.broker.gateway_url());
    let options = ShareOptions {
        price_msat: Some(SHARE_PRICE),
        max_downloads: 3,
        ..ShareOptions::default()
    };
    let a = share(&owner, &blob, options).await;
    let b = share(&owner, &blob, ShareOptions::default()).await;
    let id = &a.share.share_id;

    let reply = info(&gateway, id, None).await;
    assert_eq!(reply.status, 401, "no token: {}", reply.describe());
    let unknown = info(&gateway, UNKNOWN_ID, Some(&token(&a))).await;
    assert_eq!(unknown.status, 404, "{}", unknown.describe());
    let wrong = info(&gateway, id, Some(&token(&b))).await;
    assert_eq!(
        wrong.status,
        404,
        "another share's token: {}",
        wrong.describe()
    );
    assert_eq!(
        wrong.body, unknown.body,
        "a wrong token reads as an unknown id"
    );

    let reply = info(&gateway, id, Some(&token(&a))).await;
    assert_eq!(reply.status, 200, "{}", reply.describe());
    let json = reply.json();
    assert_eq!(json["share_id"], id.as_str());
    assert_eq!(json["name"], "info.bin");
    assert_eq!(json["size"], Value::from(data.len()));
    assert_eq!(json["chunk_size"], Value::from(256 * 1024));
    assert_eq!(json["price_msat"], SHARE_PRICE, "the share's price");
    assert_eq!(json["max_downloads"], 3);
    assert_eq!(json["downloads_left"], 3);
    assert_eq!(json["end_to_end"], false);
    assert_eq!(json["wrapped_key"], Value::Null, "managed: no wrapped key");

    // End-to-end: the page gets the wrapped key and sealed name, not the name.
    let put = owner
        .put_bytes(data.clone(), PutOptions::new("secret.bin").end_to_end())
        .await
        .expect("e2e put");
    let options = ShareOptions {
        file_key: put.file_key.clone(),
        ..ShareOptions::default()
    };
    let e2e = share(&owner, &put.response.blob_id, options).await;
    let reply = info(&gateway, &e2e.share.share_id, Some(&token(&e2e))).await;
    assert_eq!(reply.status, 200, "{}", reply.describe());
    let json = reply.json();
    assert_eq!(json["end_to_end"], true);
    assert_eq!(
        json["name"],
        Value::Null,
        "the broker does not show the name"
    );
    let wrapped = URL_SAFE_NO_PAD
        .decode(json["wrapped_key"].as_str().expect("wrapped_key"))
        .expect("base64url");
    assert_eq!(wrapped.len(), 60, "nonce ‖ AES-GCM(file key) ‖ tag");
    assert!(json["sealed_name"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_end_in_410_when_used_up_expired_revoked_or_deleted() {
    let paid = PaidBroker::start(&[], "").await.expect("start");
    let data = Pattern::new(22, 120 * 1024 + 5).all();
    let blob = paid.upload("limits.bin", &data, (FLAT, 0), false).await;
    let owner = as_tenant(&paid.client().await, Some(paid.owner_key()));
    let gateway = Gateway::new(&paid.broker.gateway_url());

    // One download allowed; two credentials bought before it is taken.
    let once = share(
        &owner,
        &blob,
        ShareOptions {
            max_downloads: 1,
            price_msat: Some(SHARE_PRICE),
            ..ShareOptions::default()
        },
    )
    .await;
    let (id, tok) = (&once.share.share_id, token(&once));
    let mut credentials = Vec::new();
    for _ in 0..2 {
        let reply = gateway.post_share(id, &tok, None).await;
        let challenge = assert_challenge(&reply, &data, "share challenge");
        assert_eq!(
            reply.json()["amount_msat"],
            SHARE_PRICE,
            "the share's price"
        );
        let preimage = paid.lightning.pay(&challenge.invoice).await.expect("pay");
        credentials.push(challenge.authorization(Some(&hex::encode(preimage.0))));
    }
    let first = gateway.post_share(id, &tok, Some(&credentials[0])).await;
    assert_eq!(first.status, 200, "{}", first.describe());
    assert!(first.body == data, "served bytes differ");
    let second = gateway.post_share(id, &tok, Some(&credentials[1])).await;
    assert_gone(&second, "used_up", &data, "second paid download");
    assert_gone(
        &info(&gateway, id, Some(&tok)).await,
        "used_up",
        &data,
        "info",
    );

    // Expired after 1 s.
    let brief = share(
        &owner,
        &blob,
        ShareOptions {
            expires_in: Some(Duration::from_secs(1)),
            ..ShareOptions::default()
        },
    )
    .await;
    let (id, tok) = (&brief.share.share_id, token(&brief));
    assert_eq!(info(&gateway, id, Some(&tok)).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_gone(
        &info(&gateway, id, Some(&tok)).await,
        "expired",
        &data,
        "info",
    );
    let reply = gateway.post_share(id, &tok, None).await;
    assert_gone(&reply, "expired", &data, "content");

    // Revoked, then the blob deleted (a deleted blob's share is gone too).
    let revoked = share(&owner, &blob, ShareOptions::default()).await;
    let kept = share(&owner, &blob, ShareOptions::default()).await;
    owner
        .revoke_share(&revoked.share.share_id)
        .await
        .expect("revoke");
    let reply = gateway
        .post_share(&revoked.share.share_id, &token(&revoked), None)
        .await;
    assert_gone(&reply, "revoked", &data, "revoked content");
    let reply = gateway
        .post_share(&kept.share.share_id, &token(&kept), None)
        .await;
    assert_challenge(&reply, &data, "live share");
    // Deleting the blob deletes its shares in the same index transaction
    // (index.rs `delete_blob`), so that a later upload of the same content
    // — the same blob id — does not revive old links: the link is then an
    // unknown share, the same 404 as a guessed id, and creates no invoice.
    owner.delete(&blob).await.expect("delete the blob");
    let unknown = info(&gateway, UNKNOWN_ID, Some(&token(&kept))).await;
    let invoices = paid.lightning.broker_invoice_count();
    let reply = info(&gateway, &kept.share.share_id, Some(&token(&kept))).await;
    assert_eq!(reply.status, 404, "deleted blob: {}", reply.describe());
    assert_eq!(reply.body, unknown.body, "deleted blob's link");
    let reply = gateway
        .post_share(&kept.share.share_id, &token(&kept), None)
        .await;
    assert_eq!(
        reply.status,
        404,
        "deleted blob content: {}",
        reply.describe()
    );
    assert_no_file_bytes(&reply, &data, "deleted blob content");
    assert_eq!(paid.lightning.broker_invoice_count(), invoices);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_credential_does_not_buy_the_public_blob_past_the_share_limits() {
    let paid = PaidBroker::start(&[], "").await.expect("start");
    let data = Pattern::new(24, 60 * 1024).all();
    // Public at a high price; one cheap download through the link.
    let blob = paid.upload("dear.bin", &data, (50_000, 0), true).await;
    let owner = as_tenant(&paid.client().await, Some(paid.owner_key()));
    let gateway = Gateway::new(&paid.broker.gateway_url());
    let options = ShareOptions {
        max_downloads: 1,
        price_msat: Some(1_000),
        ..ShareOptions::default()
    };
    let cheap = share(&owner, &blob, options).await;
    let (id, tok) = (&cheap.share.share_id, token(&cheap));
    let mut credentials = Vec::new();
    for _ in 0..2 {
        let reply = gateway.post_share(id, &tok, None).await;
        let challenge = assert_challenge(&reply, &data, "cheap share");
        let preimage = paid.lightning.pay(&challenge.invoice).await.expect("pay");
        credentials.push(challenge.authorization(Some(&hex::encode(preimage.0))));
    }
    let first = gateway.post_share(id, &tok, Some(&credentials[0])).await;
    assert_eq!(first.status, 200, "{}", first.describe());
    // The link is used up; its second cheap credential must not open the
    // blob's own route (where the owner asks 50 sat) either.
    let public = gateway.post_blob(&blob, Some(&credentials[1]), &[]).await;
    assert_ne!(
        public.status, 200,
        "a 1 sat share credential bought the 50 sat blob"
    );
    assert_no_file_bytes(&public, &data, "public route");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_share_refuses_foreign_blobs_bad_tokens_and_mismatched_keys() {
    let paid = PaidBroker::start(&[], "").await.expect("start");
    let data = Pattern::new(23, 50 * 1024).all();
    let blob = paid.upload("mine.bin", &data, (FLAT, 0), false).await;
    let owner = as_tenant(&paid.client().await, Some(paid.owner_key()));
    let (_, other_key) = paid.tenant("stranger").await;
    let stranger = as_tenant(&paid.client().await, Some(&other_key));

    let err = stranger
        .create_share(&blob, ShareOptions::default())
        .await
        .expect_err("another tenant's blob");
    assert_eq!(err.code(), Some(Code::NotFound), "{err:?}");

    let mut raw = raw_wire::shares(&paid.broker.url()).await;
    for len in [0, 31, 33] {
        let request = pb::CreateShareRequest {
            blob_id: blob.clone(),
            read_token: vec![7; len],
            ..Default::default()
        };
        let err = raw
            .create_share(raw_wire::with_key(request, Some(paid.owner_key())))
            .await
            .expect_err("bad token length");
        assert_eq!(err.code(), Code::InvalidArgument, "{len} bytes: {err:?}");
    }

    let managed = ShareOptions {
        file_key: Some(shardgate_client::FileKey::generate()),
        ..ShareOptions::default()
    };
    let err = owner
        .create_share(&blob, managed)
        .await
        .expect_err("managed blob with a wrapped key");
    assert_eq!(err.code(), Some(Code::InvalidArgument), "{err:?}");

    let put = owner
        .put_bytes(data, PutOptions::new("e2e.bin").end_to_end())
        .await
        .expect("e2e put");
    let err = owner
        .create_share(&put.response.blob_id, ShareOptions::default())
        .await
        .expect_err("e2e blob without a wrapped key");
    assert_eq!(err.code(), Some(Code::InvalidArgument), "{err:?}");
    assert!(owner.list_shares(None).await.expect("list").is_empty());
}
