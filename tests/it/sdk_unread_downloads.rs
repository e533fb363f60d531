//! One `Client` is one HTTP/2 connection: every call shares its
//! connection-level flow-control window. A `Download` the caller has
//! opened but not read yet keeps what the broker sent it (up to the stream
//! window, 4 MiB) in that shared window. With a connection window of two
//! stream windows, two unread downloads held all of it and any other call
//! on the client waited for them forever. Downloads opened and left unread
//! for a while (a partner app opening several, then reading one after the
//! other) must not stall the client's other calls. And a download left
//! unread past the broker's patience (a minute) is cut off with an error
//! the client sees when it reads on, never ended as if complete.

use std::time::Duration;

use shardgate_client::{Client, ErrorKind, GetOptions, PaymentPolicy, PutOptions};
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::broker_process::{BrokerProcess, ProviderSpec};
use tonic::Code;

/// Unread downloads held open at once.
const UNREAD: usize = 4;
/// Far more than any HTTP/2 window: a download nobody reads stays open.
const SIZE: u64 = 24 << 20;
/// What a stat may take before the test calls it a stall (a stall is
/// forever; an idle broker answers in milliseconds).
const PATIENCE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_downloads_do_not_stall_the_clients_other_calls() {
    let held = held_blob("").await;
    let (client, blob) = (&held.client, &held.blob);
    let get_options = no_payment();

    let mut unread = Vec::new();
    for _ in 0..UNREAD {
        unread.push(client.get(blob, &get_options).await.expect("open"));
    }
    // Let the broker fill whatever windows the unread streams offer.
    tokio::time::sleep(Duration::from_millis(500)).await;

    for _ in 0..3 {
        let info = tokio::time::timeout(PATIENCE, client.stat(blob))
            .await
            .expect("a stat stalled behind unread downloads")
            .expect("stat");
        assert_eq!(info.size_bytes, SIZE);
    }
    drop(unread);
}

/// The broker cuts off a download whose client takes nothing for
/// `limits.stalled_download_secs` (60 by default, 2 here), to free its
/// chunks. The client,
/// reading on later, gets what was already sent and then ABORTED — not
/// the end of a short body with grpc-status OK, which a client that does
/// not compare sizes would keep as the whole file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_left_unread_past_the_stall_limit_ends_in_an_error_not_a_short_file() {
    let held = held_blob("[limits]\nstalled_download_secs = 2\n").await;
    let (client, blob) = (&held.client, &held.blob);
    let mut download = client.get(blob, &no_payment()).await.expect("open");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut received = 0u64;
    let err = loop {
        match tokio::time::timeout(PATIENCE, download.next_chunk())
            .await
            .expect("the cut-off download stalled")
        {
            Ok(Some(piece)) => received += piece.len() as u64,
            Ok(None) => {
                panic!("the download ended after {received} of {SIZE} bytes without an error")
            }
            Err(e) => break e,
        }
    };
    assert!(received < SIZE, "{received}");
    assert_eq!(err.code(), Some(Code::Aborted), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Aborted, "{err:?}");
    assert!(err.message().contains("cut off"), "{err}");
    assert!(
        err.message().contains("2 s"),
        "names the configured limit: {err}"
    );
    // The broker serves the same client again.
    let info = client.stat(blob).await.expect("stat");
    assert_eq!(info.size_bytes, SIZE);
}

/// Unread downloads must not hold up anyone else's. Each download reads
/// its next chunks ahead while it sends; a read that was queued for one of
/// the broker's CPU permits (one per core) when its download stopped
/// moving, because its client reads nothing, was handed the permit and
/// never used it: nothing polled it until that client read again. A few
/// such downloads took every permit, and every other download (and
/// upload) on the broker waited for them, until the stall cut-off freed
/// them a minute later. Here the cut-off is ten minutes away, so only
/// reads that run on their own can finish in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_downloads_do_not_hold_up_other_downloads() {
    let Held {
        broker,
        client,
        key,
        blob,
        _dir,
    } = held_blob("[limits]\nstalled_download_secs = 600\n[pipeline]\nread_ahead = 8\n").await;
    let mut unread = Vec::new();
    for _ in 0..UNREAD {
        unread.push(client.get(&blob, &no_payment()).await.expect("open"));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Another client's download, and one on the same client, read whole.
    let other = broker
        .client()
        .await
        .expect("connect")
        .with_api_key(&key)
        .expect("key");
    for (who, reader) in [("another client", &other), ("the same client", &client)] {
        let bytes = tokio::time::timeout(PATIENCE, reader.get_bytes(&blob, &no_payment()))
            .await
            .unwrap_or_else(|_| panic!("{who}'s download stalled behind unread ones"))
            .expect("download");
        assert_eq!(bytes.len() as u64, SIZE, "{who}");
    }
    // The held ones read to the end as well.
    for (i, mut download) in unread.into_iter().enumerate() {
        let mut got = 0u64;
        while let Some(piece) = tokio::time::timeout(PATIENCE, download.next_chunk())
            .await
            .unwrap_or_else(|_| panic!("held download {i} stalled"))
            .expect("held download")
        {
            got += piece.len() as u64;
        }
        assert_eq!(got, SIZE, "held download {i}");
    }
}

/// A broker on three `fs` providers, a client with a tenant's key, and a
/// blob of `SIZE` bytes in 1 MiB chunks (the temp dir must outlive the
/// broker).
async fn held_blob(config: &str) -> Held {
    let dir = tempfile::tempdir().expect("tempdir");
    let providers = ProviderSpec::fs_set(dir.path(), 3);
    let broker = BrokerProcess::start(&providers, config)
        .await
        .expect("start");
    let (_, key) = broker.create_tenant("t", None).await.expect("tenant");
    let client: Client = broker
        .client()
        .await
        .expect("connect")
        .with_api_key(&key)
        .expect("key");
    let data = Pattern::new(5, SIZE).all();
    let mut options = PutOptions::new("big");
    options.chunk_size = Some(1 << 20);
    let blob = client
        .put_bytes(data, options)
        .await
        .expect("upload")
        .response
        .blob_id;
    Held {
        broker,
        client,
        key,
        blob,
        _dir: dir,
    }
}

/// A broker with a tenant's blob, and a client of that tenant.
struct Held {
    broker: BrokerProcess,
    client: Client,
    key: String,
    blob: String,
    /// The providers' directories: removed after the broker stops.
    _dir: tempfile::TempDir,
}

fn no_payment() -> GetOptions {
    GetOptions {
        payment: PaymentPolicy::none(),
        ..GetOptions::default()
    }
}
