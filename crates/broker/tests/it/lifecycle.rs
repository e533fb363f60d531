//! Delete and garbage collection, a lost provider, and a client that hangs
//! up mid-upload.

use crate::common;

use std::time::Duration;

use common::{CHUNK, TestBroker, as_tenant, bytes, get, header, put, put_messages, with_key};
use shardgate_client::{Client, PutOptions};
use shardgate_proto::v1 as pb;
use tokio::io::AsyncWriteExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

#[tokio::test]
async fn delete_then_gc_removes_only_unreferenced_shards() {
    let broker = TestBroker::start().await;
    let (_, key) = broker.tenant("acme", None).await;
    let client = broker.client().await;
    let admin = broker.admin().await;

    // `longer` shares its first two chunks with `short` (fixed-size chunks,
    // convergent keys), and adds a third.
    let short = bytes(2 * CHUNK, 1);
    let mut longer = short.clone();
    longer.extend(bytes(CHUNK / 2, 2));
    let a = put(&client, Some(&key), header("short", None), &short)
        .await
        .expect("put a");
    let b = put(&client, Some(&key), header("longer", None), &longer)
        .await
        .expect("put b");
    assert_eq!(b.chunks_deduplicated, 2);
    assert_eq!(broker.shard_files(), 3 * 3);

    let released = as_tenant(&client, Some(&key))
        .delete(&a.blob_id)
        .await
        .expect("delete");
    assert_eq!(released, short.len() as u64);
    let err = get(&client, Some(&key), &a.blob_id, None)
        .await
        .expect_err("deleted");
    assert_eq!(err.code(), Some(Code::NotFound));
    let err = as_tenant(&client, Some(&key))
        .delete(&a.blob_id)
        .await
        .expect_err("twice");
    assert_eq!(err.code(), Some(Code::NotFound));

    // Every chunk of `short` is still used by `longer`: GC frees nothing.
    let report = admin.run_gc(false).await.expect("gc");
    assert_eq!(report.chunks_released, 0);
    assert_eq!(broker.shard_files(), 9);

    as_tenant(&client, Some(&key))
        .delete(&b.blob_id)
        .await
        .expect("delete b");
    let dry = admin.run_gc(true).await.expect("dry run");
    assert!(dry.dry_run);
    assert_eq!(
        (
            dry.chunks_released,
            dry.orphan_shards_found,
            dry.orphan_shards_deleted
        ),
        (3, 9, 0)
    );
    assert_eq!(broker.shard_files(), 9, "a dry run deletes nothing");
    let report = admin.run_gc(false).await.expect("gc");
    assert_eq!(report.chunks_released, 3);
    assert_eq!(report.orphan_shards_deleted, 9);
    assert!(
        report.bytes_freed > (longer.len() as u64) * 3 / 2,
        "{report:?}"
    );
    assert_eq!(broker.shard_files(), 0, "every shard deleted");

    // Quota usage is back to zero.
    let tenants = admin.list_tenants(0, "").await.expect("list");
    assert_eq!(tenants.tenants[0].used_bytes, 0);
    assert_eq!(tenants.tenants[0].blob_count, 0);
    broker.stop().await;
}

#[tokio::test]
async fn a_lost_provider_costs_no_data_with_two_plus_one() {
    let broker = TestBroker::start().await;
    let (_, key) = broker.tenant("acme", None).await;
    let client = broker.client().await;
    let data = bytes(3 * CHUNK + 11, 5);
    let id = put(&client, Some(&key), header("f", None), &data)
        .await
        .expect("put")
        .blob_id;

    // Provider p0 loses everything (its directory is gone).
    let root = &broker.provider_roots[0];
    let gone = root.with_extension("gone");
    std::fs::rename(root, &gone).expect("rename");
    whole_and_a_range_are_exact(&client, &key, &id, &data).await;

    // A second provider lost too: fewer than k shards → DATA_LOSS.
    let root1 = &broker.provider_roots[1];
    std::fs::rename(root1, root1.with_extension("gone")).expect("rename");
    let err = get(&client, Some(&key), &id, None)
        .await
        .expect_err("two lost");
    assert_eq!(err.code(), Some(Code::DataLoss), "{err:?}");
    assert!(
        err.message().contains("fewer than k=2"),
        "{}",
        err.message()
    );
    broker.stop().await;
}

/// Gets trust no shard body they did not check: the first reading hashes
/// no body and checks each chunk whole (its chunk id), and a chunk that
/// fails is read again with every shard hashed, so a flipped byte costs a
/// re-read, never wrong bytes. Shard 0 of every chunk (a data shard, so
/// always in the first reading) gets one flipped body byte; its header
/// stays valid, so only the chunk check can catch it.
#[tokio::test]
async fn a_flipped_byte_in_a_data_shard_is_read_around_never_served() {
    let broker = TestBroker::start().await;
    let (_, key) = broker.tenant("acme", None).await;
    let client = broker.client().await;
    let data = bytes(3 * CHUNK + 11, 9);
    let id = put(&client, Some(&key), header("f", None), &data)
        .await
        .expect("put")
        .blob_id;

    let flipped = flip_shards(&broker, ".0");
    assert_eq!(flipped, 4, "one shard 0 per chunk");
    // Parity stands in for the flipped shards.
    whole_and_a_range_are_exact(&client, &key, &id, &data).await;

    // Shard 1 flipped too: two of three bad, beyond what 2+1 can repair.
    assert_eq!(flip_shards(&broker, ".1"), 4);
    let err = get(&client, Some(&key), &id, None)
        .await
        .expect_err("two bad shards per chunk");
    assert_eq!(err.code(), Some(Code::DataLoss), "{err:?}");
    assert!(
        err.message().contains("fewer than k=2 intact shards"),
        "{}",
        err.message()
    );
    broker.stop().await;
}

/// A chunk's key is no secret from a provider that bought the chunk (a
/// direct download reveals the keys of its range), and AES-GCM is not
/// key-committing: with the key, other bytes can be sealed that pass the
/// tag. Every shard of chunk 0 is replaced by shards of such a forgery —
/// valid headers naming the chunk, body hashes that match — so only the
/// chunk id can tell. The broker must refuse the chunk, never serve the
/// forged plaintext.
#[tokio::test]
async fn shards_resealed_under_the_chunk_key_are_refused_not_served() {
    use shardgate_core::aead::{MANAGED_AAD, open, seal};
    use shardgate_core::{
        ContentId, ConvergenceScope, ErasureParams, MasterKey, encode_shard_object,
        shard_object_key,
    };

    let broker = TestBroker::start().await;
    let (tenant, key) = broker.tenant("acme", None).await;
    let client = broker.client().await;
    let data = bytes(2 * CHUNK, 4);
    let id = put(&client, Some(&key), header("f", None), &data)
        .await
        .expect("put")
        .blob_id;

    // Chunk 0's key, as a direct download of it would hand it out.
    let master: [u8; 32] = hex::decode(common::MASTER_KEY)
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let chunk_key = MasterKey::from_bytes(master)
        .convergence_secret(ConvergenceScope::Tenant(&tenant))
        .expect("secret")
        .chunk_key(blake3::hash(&data[..CHUNK]).as_bytes());
    let sealed = seal(&chunk_key, MANAGED_AAD, &data[..CHUNK]).expect("seal");
    let chunk_id = ContentId::of(&sealed);

    let mut forged_plain = data[..CHUNK].to_vec();
    forged_plain[..16].copy_from_slice(b"forged plaintext");
    let forged = seal(&chunk_key, MANAGED_AAD, &forged_plain).expect("seal");
    assert_eq!(
        open(&chunk_key, MANAGED_AAD, &forged).expect("the forgery passes the tag"),
        forged_plain
    );
    let params = ErasureParams::new(2, 1).expect("2+1");
    let len = u32::try_from(forged.len()).expect("len");
    let mut replaced = 0;
    for (index, body) in params.encode(&forged).expect("encode").iter().enumerate() {
        let index = u8::try_from(index).expect("index");
        let object = encode_shard_object(chunk_id, index, 2, 1, len, body);
        let name = shard_object_key("", &chunk_id, index);
        for root in &broker.provider_roots {
            let path = root.join(&name);
            if path.exists() {
                std::fs::write(&path, &object).expect("write shard");
                replaced += 1;
            }
        }
    }
    assert_eq!(replaced, 3, "every shard of chunk 0 found under its name");

    for range in [
        None,
        Some(pb::ByteRange {
            offset: 0,
            length: Some(16),
        }),
    ] {
        let err = get(&client, Some(&key), &id, range)
            .await
            .expect_err("a forged chunk is not served");
        assert_eq!(err.code(), Some(Code::DataLoss), "{err:?}");
    }
    // Chunk 1 is untouched and still served.
    let (_, tail) = get(
        &client,
        Some(&key),
        &id,
        Some(pb::ByteRange {
            offset: CHUNK as u64,
            length: None,
        }),
    )
    .await
    .expect("chunk 1 readable");
    assert!(tail == data[CHUNK..]);
    broker.stop().await;
}

/// The whole blob and a range across the chunk 0/1 boundary read back
/// exactly (`data` is the blob, at least two chunks long).
async fn whole_and_a_range_are_exact(client: &Client, key: &str, id: &str, data: &[u8]) {
    let (_, got) = get(client, Some(key), id, None)
        .await
        .expect("whole blob readable");
    assert!(got == data, "exact bytes");
    let (_, part) = get(
        client,
        Some(key),
        id,
        Some(pb::ByteRange {
            offset: CHUNK as u64 - 3,
            length: Some(10),
        }),
    )
    .await
    .expect("range readable");
    assert!(part == data[CHUNK - 3..CHUNK + 7]);
}

/// Flips one body byte (after the header) of every shard file whose name
/// ends in `suffix`, on every provider; returns how many.
fn flip_shards(broker: &TestBroker, suffix: &str) -> usize {
    fn walk(dir: &std::path::Path, suffix: &str, flipped: &mut usize) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, suffix, flipped);
            } else if path.to_string_lossy().ends_with(suffix) {
                let mut object = std::fs::read(&path).expect("read shard");
                object[shardgate_core::SHARD_HEADER_LEN + 10] ^= 0x40;
                std::fs::write(&path, object).expect("write shard");
                *flipped += 1;
            }
        }
    }
    let mut flipped = 0;
    for root in &broker.provider_roots {
        walk(&root.join("shards"), suffix, &mut flipped);
    }
    flipped
}

/// Forwards one TCP connection to `target` until the returned task is
/// aborted, which closes both sockets: a client vanishing from the network.
async fn cut_proxy(
    target: std::net::SocketAddr,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let Ok((mut inbound, _)) = listener.accept().await else {
            return;
        };
        let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
            return;
        };
        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
    });
    (addr, task)
}

#[tokio::test]
async fn a_client_hanging_up_mid_upload_commits_nothing() {
    let broker = TestBroker::start().await;
    let (_, key) = broker.tenant("acme", None).await;
    let (proxy, cut) = cut_proxy(broker.addr).await;
    let uploading = Client::builder(format!("http://{proxy}"))
        .api_key(key)
        .connect()
        .await
        .expect("connect");

    // Header and 1 MiB of data (4 chunks) go out through the SDK, reading
    // from a pipe this test feeds; the input (and the stream) stays open.
    let (mut writer, reader) = tokio::io::duplex(2 << 20);
    writer
        .write_all(&bytes(4 * CHUNK, 7))
        .await
        .expect("feed the upload");
    let call = tokio::spawn(async move {
        uploading
            .put(reader, None, PutOptions::new("partial"))
            .await
    });
    // Wait (bounded) until the broker has written shards: the upload is
    // well under way.
    let mut written = false;
    for _ in 0..400 {
        if broker.shard_files() >= 3 {
            written = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(written, "the upload never started writing shards");
    // The client vanishes: its connection is cut, the stream never ends.
    cut.abort();
    let result = call.await.expect("join");
    assert!(result.is_err(), "the client saw its call fail");

    let admin = broker.admin().await;
    // The broker sees the reset at once; poll a while: the blob must never
    // appear and no quota may be used.
    for _ in 0..20 {
        let tenants = admin.list_tenants(0, "").await.expect("list");
        let acme = tenants
            .tenants
            .iter()
            .find(|t| t.name == "acme")
            .expect("acme");
        assert_eq!(acme.used_bytes, 0, "no quota used");
        assert_eq!(acme.blob_count, 0, "nothing committed");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    drop(writer);
    // The broker still works, and shuts down cleanly (no upload left hanging).
    let (_, key2) = broker.tenant("other", None).await;
    let client = broker.client().await;
    put(&client, Some(&key2), header("ok", None), &bytes(10, 1))
        .await
        .expect("later upload");
    broker.stop().await;
}

#[tokio::test]
async fn a_failing_provider_s_shards_go_to_a_spare() {
    use shardgate_backends::{ProviderConfig, ProviderKind, ProviderLimits};
    let broker = TestBroker::start_with(|c| {
        let root = c.data_dir.parent().expect("parent").join("p3");
        c.providers.push(ProviderConfig {
            name: "p3".into(),
            weight: 1.0,
            prefix: String::new(),
            kind: ProviderKind::Fs { root },
            limits: ProviderLimits::default(),
        });
    })
    .await;
    let (_, key) = broker.tenant("acme", None).await;
    let client = broker.client().await;
    // p0 breaks after joining: its root becomes a plain file, so every
    // write to it fails.
    let p0 = &broker.provider_roots[0];
    std::fs::rename(p0, p0.with_extension("old")).expect("rename");
    std::fs::write(p0, b"not a directory").expect("file");

    let mut ids = Vec::new();
    for i in 0..6u8 {
        let data = bytes(1000 + usize::from(i), i);
        let r = put(&client, Some(&key), header("f", None), &data)
            .await
            .unwrap_or_else(|e| panic!("upload {i} despite a failing provider: {e:?}"));
        let red = r.redundancy.expect("report");
        assert!(!red.reduced, "a spare kept full redundancy: {red:?}");
        ids.push((r.blob_id, data));
    }
    for (id, data) in ids {
        let (_, got) = get(&client, Some(&key), &id, None).await.expect("get");
        assert!(got == data);
    }
    // p0 was tried (and failed), so the spare path really ran.
    let health = broker
        .admin()
        .await
        .provider_health(vec!["p0".into()])
        .await
        .expect("health");
    let p0 = &health.providers[0];
    assert!(
        p0.consecutive_failures > 0 || p0.state == pb::ProviderState::Down as i32,
        "{p0:?}"
    );
    broker.stop().await;
}

#[tokio::test]
async fn an_upload_in_flight_at_shutdown_still_commits() {
    let mut broker = TestBroker::start().await;
    let (_, key) = broker.tenant("acme", None).await;
    // Raw: the test times each frame around the shutdown, which the SDK
    // (reading ahead in 1 MiB blocks) would not.
    let mut client = broker.raw_storage().await;
    let data = bytes(3 * CHUNK + 5, 11);
    let mut msgs = put_messages(header("late", Some(data.len() as u64)), &data).into_iter();
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tx.send(msgs.next().expect("header")).await.expect("queue");
    let call =
        tokio::spawn(async move { client.put(with_key(ReceiverStream::new(rx), &key)).await });
    for _ in 0..400 {
        if broker.shard_files() > 0 {
            break;
        }
        // Feed data until the broker is writing shards.
        if let Some(msg) = msgs.next() {
            tx.send(msg).await.expect("queue");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    broker.signal_shutdown();
    for msg in msgs {
        tx.send(msg).await.expect("queue");
    }
    drop(tx);
    let r = call
        .await
        .expect("join")
        .expect("the in-flight upload commits")
        .into_inner();
    assert_eq!(r.size_bytes, data.len() as u64);

    let broker = broker.restart().await;
    let admin = broker.admin().await;
    let tenants = admin.list_tenants(0, "").await.expect("list");
    let acme = tenants
        .tenants
        .iter()
        .find(|t| t.name == "acme")
        .expect("acme");
    assert_eq!(acme.blob_count, 1);
    assert_eq!(acme.used_bytes, data.len() as u64);
    broker.stop().await;
}

#[tokio::test]
async fn a_provider_unreachable_at_start_joins_when_it_answers() {
    // p2's root is a plain file when the broker starts: its probe fails.
    let dir = tempfile::tempdir().expect("tempdir");
    let p2 = dir.path().join("p2");
    std::fs::write(&p2, b"not yet a directory").expect("file");
    let broker = TestBroker::start_in(dir, |c| c.provider_rejoin_interval_ms = 20, None).await;
    let client = broker.client().await;
    let limits = client.limits().await.expect("limits");
    assert_eq!(limits.healthy_providers, 2);

    std::fs::remove_file(&p2).expect("fix p2");
    let mut joined = false;
    for _ in 0..250 {
        let limits = client.limits().await.expect("limits");
        if limits.healthy_providers == 3 {
            joined = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(joined, "p2 never joined");
    let (_, key) = broker.tenant("acme", None).await;
    put(&client, Some(&key), header("f", None), &bytes(100, 1))
        .await
        .expect("2+1 upload");
    broker.stop().await;
}
