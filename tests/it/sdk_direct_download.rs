//! Direct downloads through the SDK (`Client::get_direct*`) against the
//! real `shardgate serve` binary over three moto S3 providers (2+1):
//! 1. a 200 MiB blob downloads byte-exact while one moto process is killed
//!    (by PID) halfway through, and the broker spends under 10 % of the CPU
//!    time on it that the same download through `Storage.Get` costs it;
//! 2. ranges across chunk boundaries, a provider that hangs (its shards are
//!    hedged around within seconds), an end-to-end blob read with its key,
//!    a tampered shard object (replaced by another shard: exact bytes), and
//!    too many tampered shards (an Integrity error, no output file);
//! 3. blobs on `fs` providers are refused with FAILED_PRECONDITION;
//! 4. a priced blob is paid through the SDK's payment loop (the same as for
//!    Get), the credential is used once, hold invoices are refused (and
//!    still pay for Get).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shardgate_backends::ShardStore;
use shardgate_client::{
    Client, Download, Downloaded, ErrorKind, GetOptions, LndPayer, PaymentPolicy, PutOptions,
    progress,
};
use shardgate_core::SHARD_HEADER_LEN;
use shardgate_tests::broker_process::client::{header, put_pattern};
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::broker_process::{BrokerProcess, PeerProviders, ProviderSpec, ProviderTarget};
use shardgate_tests::fault_proxy::{FaultMode, FaultProxy};
use shardgate_tests::lightning::{Lightning, upload_priced};
use shardgate_tests::{Peer, tools_available};

const CHUNK: u64 = 256 * 1024;
const BIG: u64 = 200 << 20;
const BUCKET: &str = "shardgate-direct";

/// Three moto processes, one S3 provider on each.
async fn three_motos() -> (Vec<Peer>, Vec<ProviderSpec>) {
    assert!(tools_available(), "run scripts/install-test-peers.sh");
    let motos = PeerProviders::start_motos(BUCKET).await.expect("motos");
    (motos.peers, motos.specs)
}

/// Points provider `spec` (and so the URLs the broker presigns for it) at
/// a fault proxy in front of its moto.
async fn behind_proxy(spec: &mut ProviderSpec, peer: &Peer) -> FaultProxy {
    let proxy = FaultProxy::in_front_of(peer).await.expect("proxy");
    spec.target = ProviderTarget::S3 {
        endpoint: proxy.endpoint(),
        bucket: BUCKET.into(),
    };
    proxy
}

async fn sdk(broker: &BrokerProcess, key: &str) -> Client {
    Client::builder(broker.url())
        .api_key(key)
        .connect()
        .await
        .expect("connect")
}

fn options(range: Option<(u64, Option<u64>)>) -> GetOptions {
    GetOptions {
        range,
        ..GetOptions::default()
    }
}

/// BLAKE3 of a file, read in 1 MiB pieces.
fn file_blake3(path: &std::path::Path) -> String {
    use std::io::Read;
    let mut file = std::fs::File::open(path).expect("open download");
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = file.read(&mut buf).expect("read download");
        if n == 0 {
            return hasher.finalize().to_hex().to_string();
        }
        hasher.update(&buf[..n]);
    }
}

/// A direct download into memory.
async fn direct_bytes(
    client: &Client,
    blob_id: &str,
    options: &GetOptions,
) -> shardgate_client::Result<Vec<u8>> {
    let (out, _) = read_all(client.get_direct(blob_id, options).await?).await?;
    Ok(out)
}

/// Every byte of `download`, and its report.
async fn read_all(mut download: Download) -> shardgate_client::Result<(Vec<u8>, Downloaded)> {
    let mut out = Vec::new();
    while let Some(piece) = download.next_chunk().await? {
        out.extend_from_slice(&piece);
    }
    let done = download.finish().await?;
    assert_eq!(done.bytes, out.len() as u64);
    Ok((out, done))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_200_mib_survives_a_killed_provider_and_leaves_the_broker_idle() {
    let (peers, specs) = three_motos().await;
    let broker = BrokerProcess::start(&specs, "").await.expect("broker");
    let (_, key) = broker.create_tenant("alice", None).await.expect("tenant");
    let raw = broker.client().await.expect("client");
    let big = Pattern::new(7, BIG);
    let put = put_pattern(&raw, Some(&key), header("big", BIG, None), big)
        .await
        .unwrap_or_else(|e| panic!("put 200 MiB: {e}\n{}", broker.log_tail()));
    let client = sdk(&broker, &key).await;
    let dir = tempfile::tempdir().expect("tempdir");

    // Through the broker: Storage.Get.
    let via_get = dir.path().join("via-get");
    let before = broker.cpu_seconds().expect("broker cpu");
    let got = client
        .get_to_file(&put.blob_id, &via_get, &options(None))
        .await
        .expect("get 200 MiB");
    let get_cpu = broker.cpu_seconds().expect("broker cpu") - before;
    assert!(got.hash_verified);
    assert_eq!(file_blake3(&via_get), big.blake3_hex());
    std::fs::remove_file(&via_get).expect("remove");

    // Directly from the providers; moto-1 is killed at 100 MiB.
    let mut peers: Vec<Option<Peer>> = peers.into_iter().map(Some).collect();
    let victim = Arc::new(Mutex::new(peers[1].take()));
    let delivered = Arc::new(AtomicU64::new(0));
    let killed_at = Arc::new(AtomicU64::new(0));
    let killer = Arc::new(Mutex::new(None));
    let fired = Arc::new(AtomicBool::new(false));
    let opts = GetOptions {
        progress: Some(progress({
            let (victim, delivered, killed_at, killer, fired) = (
                victim.clone(),
                delivered.clone(),
                killed_at.clone(),
                killer.clone(),
                fired.clone(),
            );
            move |n| {
                let total = delivered.fetch_add(n, Ordering::SeqCst) + n;
                if total >= BIG / 2 && !fired.swap(true, Ordering::SeqCst) {
                    killed_at.store(total, Ordering::SeqCst);
                    // Peer::stop kills by PID and waits for the reaping:
                    // off the writer thread, so the download goes on.
                    let (victim, delivered) = (victim.clone(), delivered.clone());
                    *killer.lock().expect("lock") = Some(std::thread::spawn(move || {
                        if let Some(mut peer) = victim.lock().expect("lock").take() {
                            peer.stop();
                        }
                        // Delivered by the time moto-1 was gone.
                        delivered.load(Ordering::SeqCst)
                    }));
                }
            }
        })),
        ..GetOptions::default()
    };
    let via_direct = dir.path().join("via-direct");
    let before = broker.cpu_seconds().expect("broker cpu");
    let done = client
        .get_direct_to_file(&put.blob_id, &via_direct, &opts)
        .await
        .unwrap_or_else(|e| panic!("direct 200 MiB: {e}\n{}", broker.log_tail()));
    let direct_cpu = broker.cpu_seconds().expect("broker cpu") - before;
    let killer = killer.lock().expect("lock").take().expect("the kill fired");
    let delivered_when_dead = killer.join().expect("kill thread");
    assert!(victim.lock().expect("lock").is_none(), "moto-1 was stopped");
    assert!(
        delivered_when_dead < BIG * 3 / 4,
        "moto-1 died only after {delivered_when_dead} bytes: too late to matter"
    );
    let killed_at = killed_at.load(Ordering::SeqCst);
    assert!(
        killed_at < BIG * 3 / 4,
        "the kill landed mid-transfer, at {killed_at}"
    );
    assert_eq!((done.bytes, done.hash_verified), (BIG, true));
    assert_eq!(file_blake3(&via_direct), big.blake3_hex());
    eprintln!(
        "broker CPU for 200 MiB: Storage.Get {get_cpu:.3} s ({:.1} s wall), direct {direct_cpu:.3} s ({:.1} s wall, moto-1 killed at {} MiB) = {:.1} %",
        got.elapsed.as_secs_f64(),
        done.elapsed.as_secs_f64(),
        killed_at >> 20,
        100.0 * direct_cpu / get_cpu
    );
    assert!(
        direct_cpu < get_cpu / 10.0,
        "direct download cost the broker {direct_cpu:.3} s CPU, Get {get_cpu:.3} s"
    );
    assert!(broker.is_serving().await);
}

/// The store behind `spec`, to reach shard objects without the broker.
fn store(spec: &ProviderSpec) -> ShardStore {
    ShardStore::from_config(&spec.config()).expect("store")
}

/// Flips one body byte of shard `index` of chunk `chunk_id` wherever it is.
async fn tamper(specs: &[ProviderSpec], chunk_id: &shardgate_core::ContentId, index: u8) {
    for spec in specs {
        let store = store(spec);
        let key = store.shard_key(chunk_id, index);
        let Ok(object) = store.operator().read(&key).await else {
            continue;
        };
        let mut object = object.to_vec();
        object[SHARD_HEADER_LEN + 10] ^= 0x40;
        store
            .operator()
            .write(&key, object)
            .await
            .expect("write the tampered shard back");
        return;
    }
    panic!(
        "no provider holds shard {index} of chunk {}",
        chunk_id.short()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_ranges_hedging_end_to_end_and_tampered_shards() {
    let (peers, mut specs) = three_motos().await;
    let mut proxies = Vec::new();
    for (spec, peer) in specs.iter_mut().zip(&peers) {
        proxies.push(behind_proxy(spec, peer).await);
    }
    let broker = BrokerProcess::start(&specs, "").await.expect("broker");
    let (_, key) = broker.create_tenant("alice", None).await.expect("tenant");
    let raw = broker.client().await.expect("client");
    let client = sdk(&broker, &key).await;
    let c = CHUNK;

    // Ranges at and across the chunk boundaries of a managed blob.
    let size = 3 * c + 5;
    let pattern = Pattern::new(11, size);
    let put = put_pattern(
        &raw,
        Some(&key),
        header("ranges", size, Some(c as u32)),
        pattern,
    )
    .await
    .expect("put");
    let id = put.blob_id.clone();
    for (offset, length) in [
        (0, None),
        (c - 1, Some(2)),
        (c - 10, Some(c + 20)),
        (2 * c - 1, Some(1)),
        (3 * c, None),
        (size - 1, None),
        (c + 7, Some(10 * c)),
    ] {
        let got = direct_bytes(&client, &id, &options(Some((offset, length))))
            .await
            .unwrap_or_else(|e| panic!("range {offset}+{length:?}: {e}"));
        let want = pattern.bytes(offset, length.unwrap_or(size));
        assert!(got == want, "range {offset}+{length:?}");
    }

    // A provider holding data shards stops answering (one holding only
    // parity shards would never be asked): its shards are hedged around
    // after 2 s instead of waiting out the read timeout (20 s).
    let mut holder = None;
    for (i, spec) in specs.iter().enumerate() {
        let objects = spec.shard_objects().await.expect("list");
        if objects
            .iter()
            .any(|o| o.ends_with(".0") || o.ends_with(".1"))
        {
            holder = Some(i);
            break;
        }
    }
    let holder = holder.expect("some provider holds data shards");
    let proxy = &proxies[holder];
    proxy.set_mode(FaultMode::Hang);
    let started = Instant::now();
    let got = direct_bytes(&client, &id, &options(None))
        .await
        .expect("direct with a hanging provider");
    let hedged = started.elapsed();
    proxy.set_mode(FaultMode::PassThrough);
    assert!(got == pattern.all(), "exact bytes past a hanging provider");
    let hung = proxy.stats().requests_hung;
    assert!(hung > 0, "the hang fired");
    assert!(
        hedged < Duration::from_secs(10),
        "hedging took {hedged:?} for {hung} hung requests"
    );
    eprintln!("4 chunks with moto-{holder} hanging: {hedged:?}, {hung} requests hung");

    // End-to-end: the broker never sees the key; the SDK opens the chunks.
    let plain = Pattern::new(12, 2 * c + 7).all();
    let up = client
        .put_bytes(
            plain.clone(),
            PutOptions {
                chunk_size: Some(c as u32),
                ..PutOptions::new("e2e").end_to_end()
            },
        )
        .await
        .expect("e2e put");
    let e2e_id = up.response.blob_id.clone();
    let with_key = |range| GetOptions {
        file_key: up.file_key.clone(),
        ..options(range)
    };
    let got = direct_bytes(&client, &e2e_id, &with_key(None))
        .await
        .expect("e2e direct");
    assert!(got == plain, "whole end-to-end blob");
    let got = direct_bytes(&client, &e2e_id, &with_key(Some((c - 3, Some(10)))))
        .await
        .expect("e2e direct range");
    assert!(got == plain[c as usize - 3..c as usize + 7], "e2e range");
    let err = direct_bytes(&client, &e2e_id, &options(None))
        .await
        .expect_err("no key");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");

    // One bad shard of chunk 1: the parity shard takes its place.
    let manifest = client.manifest(&id).await.expect("manifest");
    let chunk_1 = manifest.chunks()[1].id;
    tamper(&specs, &chunk_1, 0).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("one-bad");
    let done = client
        .get_direct_to_file(&id, &out, &options(None))
        .await
        .expect("one bad shard is recovered");
    assert!(done.hash_verified);
    assert!(
        std::fs::read(&out).expect("read") == pattern.all(),
        "exact bytes"
    );

    // Two of three bad: k=2 good shards do not exist any more.
    tamper(&specs, &chunk_1, 1).await;
    let out = dir.path().join("two-bad");
    let err = client
        .get_direct_to_file(&id, &out, &options(None))
        .await
        .expect_err("two bad shards of three");
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");
    assert!(!out.exists(), "no output file after a failed download");
    assert!(
        !dir.path().join("two-bad.part").exists(),
        "no partial file either"
    );
    // The chunks before the bad one are still served, by range.
    let got = direct_bytes(&client, &id, &options(Some((0, Some(c)))))
        .await
        .expect("chunk 0");
    assert!(got == pattern.bytes(0, c));
    assert!(broker.is_serving().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_download_from_fs_providers_is_refused_before_payment() {
    let dirs = tempfile::tempdir().expect("tempdir");
    let specs = ProviderSpec::fs_set(dirs.path(), 3);
    let broker = BrokerProcess::start(&specs, "").await.expect("broker");
    let (_, key) = broker.create_tenant("alice", None).await.expect("tenant");
    let client = sdk(&broker, &key).await;
    let up = client
        .put_bytes(vec![7u8; 1000], PutOptions::new("local"))
        .await
        .expect("put");
    let err = client
        .get_direct(&up.response.blob_id, &options(None))
        .await
        .expect_err("fs cannot presign");
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");
    assert!(err.message().contains("Storage.Get"), "{err}");
    // Get still serves it.
    let got = client
        .get_bytes(&up.response.blob_id, &options(None))
        .await
        .expect("get");
    assert_eq!(got, vec![7u8; 1000]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_priced_blob_is_paid_once_then_read_directly() {
    let (_peers, specs) = three_motos().await;
    let lightning = Lightning::start().await.expect("lightning");
    let broker = BrokerProcess::start(&specs, &lightning.payments_toml(&[]))
        .await
        .expect("broker");
    let (_, owner) = broker.create_tenant("owner", None).await.expect("tenant");
    let data = Pattern::new(21, 2 * CHUNK + 99).all();
    let raw = broker.client().await.expect("client");
    let id = upload_priced(&raw, &owner, "priced", &data, (1_000, 3_000), true)
        .await
        .expect("put");
    // A buyer without a key: the blob is public, the range is paid.
    let buyer = Client::connect(broker.url()).await.expect("connect");
    let payer = LndPayer::over(lightning.payer().clone(), 1_000);
    let paying = GetOptions {
        payment: PaymentPolicy::pay_with(payer, 100_000),
        ..options(Some((CHUNK - 5, Some(CHUNK))))
    };

    // Hold invoices cannot pay for a direct download: refused before paying.
    let hold = GetOptions {
        payment: paying.payment.clone().hold(true),
        ..paying.clone()
    };
    let balance = lightning.payer_balance_msat();
    let err = buyer
        .get_direct(&id, &hold)
        .await
        .expect_err("hold is for Get");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert_eq!(lightning.payer_balance_msat(), balance, "nothing paid");

    // Unpaid without a payer: the challenge, as for Get.
    let err = buyer
        .get_direct(&id, &options(None))
        .await
        .expect_err("priced");
    assert_eq!(err.kind(), ErrorKind::Unpaid, "{err}");
    assert!(err.challenge().is_some());

    let download = buyer.get_direct(&id, &paying).await.expect("paid direct");
    let (got, done) = read_all(download).await.expect("read");
    assert!(got == data[CHUNK as usize - 5..2 * CHUNK as usize - 5]);
    let purchase = done.purchase.expect("paid");
    assert!(purchase.amount_msat > 0 && !purchase.hold);
    assert_eq!(done.uses_remaining, 0);
    assert!(lightning.payer_balance_msat() < balance, "the payer paid");

    // The credential was used once, by GetShardLocations.
    let again = GetOptions {
        payment: PaymentPolicy::none().credential(purchase.credential().expect("preimage")),
        ..paying.clone()
    };
    let err = buyer.get_direct(&id, &again).await.expect_err("used up");
    assert!(
        matches!(err.kind(), ErrorKind::Unpaid | ErrorKind::Unauthenticated),
        "{err}"
    );

    // The same payment loop still pays hold invoices for Get.
    let download = buyer.get(&id, &hold).await.expect("hold get");
    let (got, done) = read_all(download).await.expect("settled");
    assert!(got == data[CHUNK as usize - 5..2 * CHUNK as usize - 5]);
    let purchase = done.purchase.expect("paid");
    assert!(purchase.hold && purchase.preimage.is_some());
}

/// `shardgate get --direct` (the CLI on the SDK) reads a blob on three
/// moto providers from presigned URLs into a file, exact; on `fs`
/// providers the same flag fails with the broker's reason and no file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_downloads_directly_with_get_direct() {
    let (_peers, specs) = three_motos().await;
    let broker = BrokerProcess::start(&specs, "").await.expect("broker");
    let (_, key) = broker.create_tenant("cli", None).await.expect("tenant");
    let raw = broker.client().await.expect("client");
    let pattern = Pattern::new(31, 3 * CHUNK + 17);
    let put = put_pattern(
        &raw,
        Some(&key),
        header("cli-direct", pattern.len(), Some(CHUNK as u32)),
        pattern,
    )
    .await
    .expect("put");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("direct.bin");
    let binary = shardgate_tests::broker_process::shardgate_binary().expect("binary");
    let run = tokio::process::Command::new(&binary)
        .args(["get", &put.blob_id, "--direct", "-o"])
        .arg(&out)
        .args(["--broker", &broker.url(), "--api-key", &key])
        .output()
        .await
        .expect("run shardgate get --direct");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(file_blake3(&out), pattern.blake3_hex());
    let said = String::from_utf8_lossy(&run.stdout);
    assert!(said.contains("blake3 verified"), "{said}");

    // fs providers cannot presign: the broker's reason, exit 1, no file.
    let fs_dir = tempfile::tempdir().expect("tempdir");
    let fs_specs = ProviderSpec::fs_set(fs_dir.path(), 3);
    let fs_broker = BrokerProcess::start(&fs_specs, "").await.expect("broker");
    let (_, fs_key) = fs_broker.create_tenant("cli", None).await.expect("tenant");
    let fs_client = fs_broker.client().await.expect("client");
    let put = put_pattern(
        &fs_client,
        Some(&fs_key),
        header("cli-fs", pattern.len(), Some(CHUNK as u32)),
        pattern,
    )
    .await
    .expect("put");
    let out = dir.path().join("refused.bin");
    let run = tokio::process::Command::new(&binary)
        .args(["get", &put.blob_id, "--direct", "-o"])
        .arg(&out)
        .args(["--broker", &fs_broker.url(), "--api-key", &fs_key])
        .output()
        .await
        .expect("run shardgate get --direct");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("FAILED_PRECONDITION"), "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.lines().count() == 1,
        "{stderr}"
    );
    assert!(!out.exists());
}
