//! Accounts through the real `shardgate serve` binary over three real
//! peers: a quota is enforced before any data is written, wrong and
//! missing API keys are refused, and one tenant can neither stat, list,
//! read nor delete another tenant's private blob.

use shardgate_proto::v1 as pb;
use shardgate_tests::broker_process::client::{
    as_tenant, get_checked, header, list_all, put_pattern,
};
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::broker_process::{BrokerProcess, PeerProviders};
use shardgate_tests::{raw_wire, tools_available};
use tonic::Code;

const CHUNK: u32 = 256 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_keys_and_privacy_hold_over_the_wire() {
    assert!(tools_available(), "run scripts/install-test-peers.sh");
    let peers = PeerProviders::start("shardgate-e2e-access")
        .await
        .expect("peers");
    let broker = BrokerProcess::start(&peers.specs, "")
        .await
        .expect("broker");
    let client = broker.client().await.expect("client");

    // Quota: 100 KiB, a 1 MiB upload is refused before data is written.
    let (_, small) = broker
        .create_tenant("small", Some(100 * 1024))
        .await
        .expect("tenant");
    let big = Pattern::new(1, 1 << 20);
    let err = put_pattern(
        &client,
        Some(&small),
        header("too-big", big.len(), Some(CHUNK)),
        big,
    )
    .await
    .expect_err("over quota");
    assert_eq!(err.code(), Some(Code::ResourceExhausted), "{err}");
    assert!(list_all(&client, &small).await.expect("list").is_empty());
    assert_eq!(
        peers.total_shards().await.expect("list"),
        0,
        "no shard was written for a refused upload"
    );
    // Within the quota the same tenant can upload.
    let fits = Pattern::new(2, 50 * 1024);
    put_pattern(
        &client,
        Some(&small),
        header("fits", fits.len(), Some(CHUNK)),
        fits,
    )
    .await
    .expect("within quota");

    // Keys: missing and wrong keys are UNAUTHENTICATED, nothing is stored
    // (raw calls: the SDK refuses to send a keyed call without a key).
    let tiny = Pattern::new(3, 10);
    let mut raw = raw_wire::storage(&broker.url()).await;
    for key in [None, Some("sgk_not-a-key"), Some("")] {
        let messages = vec![
            pb::PutRequest {
                frame: Some(pb::put_request::Frame::Header(pb::PutHeader {
                    name: "anon".into(),
                    declared_size_bytes: Some(10),
                    ..Default::default()
                })),
            },
            pb::PutRequest {
                frame: Some(pb::put_request::Frame::Data(tiny.all().into())),
            },
        ];
        let err = raw_wire::put_messages(&mut raw, key, messages)
            .await
            .expect_err("no valid key");
        assert_eq!(
            err.code(),
            Some(Code::Unauthenticated),
            "put with {key:?}: {err}"
        );
        let err = raw
            .list(raw_wire::with_key(pb::ListBlobsRequest::default(), key))
            .await
            .expect_err("list without a valid key");
        assert_eq!(
            err.code(),
            Code::Unauthenticated,
            "list with {key:?}: {err}"
        );
    }

    // Privacy: bob cannot see, read or delete alice's private blob.
    let (_, alice) = broker.create_tenant("alice", None).await.expect("alice");
    let (_, bob) = broker.create_tenant("bob", None).await.expect("bob");
    let secret = Pattern::new(4, 300 * 1024);
    let put = put_pattern(
        &client,
        Some(&alice),
        header("private", secret.len(), Some(CHUNK)),
        secret,
    )
    .await
    .expect("alice uploads");
    let id = put.blob_id.clone();
    let stat = as_tenant(&client, Some(&bob))
        .stat(&id)
        .await
        .expect_err("bob stats");
    assert_eq!(stat.code(), Some(Code::NotFound), "{stat}");
    let stat = client.stat(&id).await.expect_err("anonymous stat");
    assert!(
        matches!(stat.code(), Some(Code::NotFound | Code::Unauthenticated)),
        "{stat}"
    );
    assert!(list_all(&client, &bob).await.expect("bob lists").is_empty());
    let get = get_checked(&client, Some(&bob), &id, None, secret)
        .await
        .expect_err("bob reads");
    assert_eq!(get.code(), Some(Code::NotFound), "{get}");
    let get = get_checked(&client, None, &id, None, secret)
        .await
        .expect_err("anonymous read");
    assert!(
        matches!(get.code(), Some(Code::NotFound | Code::Unauthenticated)),
        "{get}"
    );
    let delete = as_tenant(&client, Some(&bob))
        .delete(&id)
        .await
        .expect_err("bob deletes");
    assert_eq!(delete.code(), Some(Code::NotFound), "{delete}");

    // Alice still has it, intact.
    let listed = list_all(&client, &alice).await.expect("alice lists");
    assert_eq!(
        listed
            .iter()
            .map(|b| b.blob_id.as_str())
            .collect::<Vec<_>>(),
        [id.as_str()]
    );
    let got = get_checked(&client, Some(&alice), &id, None, secret)
        .await
        .expect("alice reads");
    assert_eq!((got.len, got.first_mismatch), (secret.len(), None));
    assert!(broker.is_serving().await);
}
