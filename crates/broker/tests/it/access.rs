//! Authentication, tenant isolation, quotas, and malformed requests.

use crate::common;

use common::{TestBroker, as_tenant, bytes, get, header, put, raw_put, raw_wire, with_key};
use shardgate_proto::v1 as pb;
use tonic::{Code, Request};

#[tokio::test]
async fn missing_and_wrong_keys_are_unauthenticated() {
    let broker = TestBroker::start().await;
    let (_, key) = broker.tenant("acme", None).await;
    let client = broker.client().await;
    // Raw: the SDK does not send a keyed call without a key.
    let mut raw = broker.raw_storage().await;

    let err = raw_put(&mut raw, None, header("a", None), b"x")
        .await
        .expect_err("no key");
    assert_eq!(err.code(), Some(Code::Unauthenticated));
    assert!(err.message().contains("x-api-key"), "{}", err.message());

    let err = put(&client, Some("sgk_not-a-real-key"), header("a", None), b"x")
        .await
        .expect_err("wrong key");
    assert_eq!(err.code(), Some(Code::Unauthenticated));

    // A wrong key is refused even where no key is needed.
    let err = as_tenant(&client, Some("sgk_wrong"))
        .stat(&"0".repeat(64))
        .await
        .expect_err("wrong key on stat");
    assert_eq!(err.code(), Some(Code::Unauthenticated));

    // Admin RPCs: no key → UNAUTHENTICATED naming the header; tenant key →
    // PERMISSION_DENIED (raw: the SDK sends admin calls with the admin key
    // only).
    let mut raw_admin = raw_wire::admin(&broker.url()).await;
    let err = raw_admin
        .create_tenant(Request::new(pb::CreateTenantRequest {
            name: "x".into(),
            quota_bytes: None,
        }))
        .await
        .expect_err("no admin key");
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(err.message().contains("x-admin-key"), "{}", err.message());
    let err = raw_admin
        .create_tenant(with_key(
            pb::CreateTenantRequest {
                name: "x".into(),
                quota_bytes: None,
            },
            &key,
        ))
        .await
        .expect_err("tenant key");
    assert_eq!(err.code(), Code::PermissionDenied);

    // A rotated key stops working at once; the new one works.
    let admin = broker.admin().await;
    let tenants = admin.list_tenants(0, "").await.expect("list");
    let id = tenants.tenants[0].tenant_id.clone();
    let new_key = admin.rotate_tenant_key(&id).await.expect("rotate").api_key;
    let err = put(&client, Some(&key), header("a", None), b"x")
        .await
        .expect_err("old key");
    assert_eq!(err.code(), Some(Code::Unauthenticated));
    put(&client, Some(&new_key), header("a", None), b"x")
        .await
        .expect("new key");
    broker.stop().await;
}

#[tokio::test]
async fn tenants_cannot_see_each_others_private_blobs() {
    let broker = TestBroker::start().await;
    let (_, alice) = broker.tenant("alice", None).await;
    let (_, bob) = broker.tenant("bob", None).await;
    let client = broker.client().await;
    let data = bytes(1000, 1);
    let id = put(&client, Some(&alice), header("private", None), &data)
        .await
        .expect("put")
        .blob_id;

    for key in [Some(bob.as_str()), None] {
        let err = get(&client, key, &id, None).await.expect_err("get");
        assert_eq!(err.code(), Some(Code::NotFound), "{err:?}");
        assert_eq!(
            as_tenant(&client, key)
                .stat(&id)
                .await
                .expect_err("stat")
                .code(),
            Some(Code::NotFound)
        );
    }
    let err = as_tenant(&client, Some(&bob))
        .delete(&id)
        .await
        .expect_err("delete");
    assert_eq!(err.code(), Some(Code::NotFound));
    let list = as_tenant(&client, Some(&bob))
        .list("", 0, "")
        .await
        .expect("list");
    assert!(list.blobs.is_empty());

    // Made public: anyone can read it, only the owner can change it.
    let info = as_tenant(&client, Some(&alice))
        .update(&id, None, Some(pb::Visibility::Public))
        .await
        .expect("publish");
    assert_eq!(info.visibility, pb::Visibility::Public as i32);
    let (h, got) = get(&client, None, &id, None).await.expect("public get");
    assert!(got == data);
    assert!(!h.blob.expect("info").owned_by_caller);
    let err = as_tenant(&client, Some(&bob))
        .delete(&id)
        .await
        .expect_err("not the owner");
    assert_eq!(err.code(), Some(Code::PermissionDenied));
    broker.stop().await;
}

#[tokio::test]
async fn quota_is_enforced_before_and_during_upload() {
    let broker = TestBroker::start().await;
    let (_, key) = broker.tenant("small", Some(1000)).await;
    let client = broker.client().await;

    let err = put(
        &client,
        Some(&key),
        header("big", Some(2000)),
        &bytes(2000, 1),
    )
    .await
    .expect_err("declared over quota");
    assert_eq!(err.code(), Some(Code::ResourceExhausted), "{err:?}");
    assert!(err.message().contains("quota"), "{}", err.message());
    assert_eq!(broker.shard_files(), 0, "nothing written");

    let err = put(&client, Some(&key), header("big", None), &bytes(2000, 1))
        .await
        .expect_err("undeclared over quota");
    assert_eq!(err.code(), Some(Code::ResourceExhausted), "{err:?}");

    put(
        &client,
        Some(&key),
        header("fits", Some(600)),
        &bytes(600, 1),
    )
    .await
    .expect("fits");
    let err = put(
        &client,
        Some(&key),
        header("second", Some(600)),
        &bytes(600, 2),
    )
    .await
    .expect_err("second does not fit");
    assert_eq!(err.code(), Some(Code::ResourceExhausted));
    broker.stop().await;
}

#[tokio::test]
async fn malformed_requests_are_invalid_argument() {
    let broker = TestBroker::start().await;
    let (_, key) = broker.tenant("acme", None).await;
    let client = broker.client().await;
    // Raw: malformed streams the SDK never sends.
    let mut raw = broker.raw_storage().await;

    // First message is data, not a header.
    let msgs = vec![pb::PutRequest {
        frame: Some(pb::put_request::Frame::Data(vec![1, 2, 3].into())),
    }];
    let err = raw
        .put(with_key(tokio_stream::iter(msgs), &key))
        .await
        .expect_err("data first");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("header"), "{}", err.message());

    // More bytes than declared.
    let err = raw_put(&mut raw, Some(&key), header("a", Some(10)), &[0u8; 11])
        .await
        .expect_err("too many");
    assert_eq!(err.code(), Some(Code::InvalidArgument));
    // Fewer bytes than declared.
    let err = raw_put(&mut raw, Some(&key), header("a", Some(10)), &[0u8; 9])
        .await
        .expect_err("too few");
    assert_eq!(err.code(), Some(Code::InvalidArgument));
    // A frame over the 1 MiB limit.
    let mut msgs = common::put_messages(header("a", None), &[]);
    msgs.push(pb::PutRequest {
        frame: Some(pb::put_request::Frame::Data(
            vec![0u8; (1 << 20) + 1].into(),
        )),
    });
    let err = raw
        .put(with_key(tokio_stream::iter(msgs), &key))
        .await
        .expect_err("big frame");
    assert_eq!(err.code(), Code::InvalidArgument);

    // Unknown and malformed blob ids.
    let err = get(&client, Some(&key), &"ab".repeat(32), None)
        .await
        .expect_err("unknown");
    assert_eq!(err.code(), Some(Code::NotFound));
    let err = get(&client, Some(&key), &"AB".repeat(32), None)
        .await
        .expect_err("upper case");
    assert_eq!(err.code(), Some(Code::InvalidArgument));
    let err = as_tenant(&client, Some(&key))
        .stat("xyz")
        .await
        .expect_err("short id");
    assert_eq!(err.code(), Some(Code::InvalidArgument));
    broker.stop().await;
}

#[tokio::test]
async fn priced_blobs_are_refused_not_served_free() {
    let broker = TestBroker::start().await;
    let (_, key) = broker.tenant("acme", None).await;
    let client = broker.client().await;
    let h = pb::PutHeader {
        price: Some(pb::Price {
            flat_msat: 1000,
            per_mib_msat: 0,
        }),
        ..header("priced", None)
    };
    let id = put(&client, Some(&key), h, &bytes(100, 1))
        .await
        .expect("put")
        .blob_id;
    let err = get(&client, Some(&key), &id, None)
        .await
        .expect_err("priced");
    assert_eq!(err.code(), Some(Code::FailedPrecondition), "{err:?}");
    assert!(err.message().contains("payments"), "{}", err.message());
    broker.stop().await;
}

#[tokio::test]
async fn admin_pages_tenants_by_name_and_quota_changes_apply_at_once() {
    let broker = TestBroker::start().await;
    let mut ids = Vec::new();
    for name in ["carol", "alice", "bob"] {
        ids.push((name, broker.tenant(name, None).await));
    }
    let admin = broker.admin().await;
    let first = admin.list_tenants(2, "").await.expect("page 1");
    let second = admin
        .list_tenants(2, &first.next_page_token)
        .await
        .expect("page 2");
    let names: Vec<_> = first
        .tenants
        .iter()
        .chain(&second.tenants)
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
    assert!(second.next_page_token.is_empty());
    assert!(
        first
            .tenants
            .iter()
            .all(|t| t.tenant_id.len() == 64 && t.quota_bytes == 100_000_000_000)
    );

    let err = admin
        .create_tenant("bob", None)
        .await
        .expect_err("name taken");
    assert_eq!(err.code(), Some(Code::AlreadyExists));

    // Quota 0 blocks every upload at once; raising it lets them through.
    let (_, (bob_id, bob_key)) = ids.iter().find(|(n, _)| *n == "bob").expect("bob").clone();
    let t = admin.set_tenant_quota(&bob_id, 0).await.expect("set quota");
    assert_eq!(t.quota_bytes, 0);
    let client = broker.client().await;
    let err = put(&client, Some(&bob_key), header("x", Some(1)), b"x")
        .await
        .expect_err("quota 0");
    assert_eq!(err.code(), Some(Code::ResourceExhausted));
    admin.set_tenant_quota(&bob_id, 10).await.expect("raise");
    put(&client, Some(&bob_key), header("x", Some(1)), b"x")
        .await
        .expect("fits now");

    let err = admin
        .set_tenant_quota(&"f".repeat(64), 1)
        .await
        .expect_err("unknown tenant");
    assert_eq!(err.code(), Some(Code::NotFound));
    broker.stop().await;
}
