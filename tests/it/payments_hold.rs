//! Hold invoices ("pay only if delivered", storage.proto) through the real
//! `shardgate` binary, with the invoice state checked on the simulated
//! node: a credential is refused until the payment is ACCEPTED, a complete
//! download settles the invoice (the payer's payment succeeds), a download
//! the broker cannot finish (shards lost mid-blob: DATA_LOSS) cancels it
//! and the payer keeps the funds, and a caller that cuts the download off
//! is settled (the broker cannot tell a lost connection from a client that
//! stopped reading after the data); a settlement the node missed while down
//! is retried until it lands.

use std::time::Duration;

use shardgate_client::{Download, GetOptions, PaymentPolicy, pb};
use shardgate_payments::{InvoiceState, PaymentError, PaymentHash, Preimage};
use shardgate_tests::broker_process::client::as_tenant;
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::lightning::{PaidBroker, get_request};
use tokio::task::JoinHandle;
use tonic::Code;

const FLAT: u64 = 4_000;
const CHUNK: u64 = 256 * 1024;
const WAIT: Duration = Duration::from_secs(15);

fn hold_request(blob: &str) -> pb::GetRequest {
    let mut request = get_request(blob, None);
    request.hold_invoice = true;
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_invoice_is_settled_after_the_full_download() {
    let paid = PaidBroker::start(&[], "").await.expect("start");
    let data = Pattern::new(3, CHUNK * 2 + 100).all();
    let blob = paid.upload("hold", &data, (FLAT, 0), true).await;
    let challenge = paid.challenge(hold_request(&blob), None).await;
    let hash = challenge.payment_hash;
    let auth = challenge.authorization(None);

    // Not paid yet: FAILED_PRECONDITION, nothing served.
    let early = paid.get_with(get_request(&blob, None), &auth, None).await;
    assert_eq!(early.data_frames, 0);
    assert_eq!(
        early.refused().code(),
        Some(Code::FailedPrecondition),
        "{:?}",
        early.end
    );
    let status = paid.lightning.invoice(&hash).await.expect("invoice");
    assert_eq!(
        (status.state, status.value_msat),
        (InvoiceState::Open, FLAT)
    );

    // Paid: ACCEPTED, funds locked, not yet moved.
    let balance = paid.lightning.payer_balance_msat();
    let payment = paid.lightning.pay_until_accepted(&challenge).await;
    let accepted = paid.payment_status(&hash).await.expect("status");
    assert_eq!(accepted.state, pb::InvoiceState::Accepted as i32);
    assert!(accepted.hold);
    assert!(accepted.hold_time_left.is_some(), "{accepted:?}");

    // The download: exact bytes, header says hold; then SETTLED.
    let got = paid.get_with(get_request(&blob, None), &auth, None).await;
    assert!(got.bytes() == data.as_slice());
    let header = got.header.expect("header");
    assert!(header.hold);
    assert_eq!(header.uses_remaining, 0);
    paid.lightning
        .wait_for_state(&hash, InvoiceState::Settled, WAIT)
        .await
        .expect("settled after delivery");
    let preimage: Preimage = tokio::time::timeout(WAIT, payment)
        .await
        .expect("payment finishes")
        .expect("task")
        .expect("the payer's payment succeeded");
    assert_eq!(preimage.payment_hash(), hash);
    assert_eq!(balance - paid.lightning.payer_balance_msat(), FLAT);

    // Single use: refused now, with either form of the credential.
    for auth in [auth.clone(), challenge.authorization(Some(&preimage))] {
        let again = paid.get_with(get_request(&blob, None), &auth, None).await;
        assert_eq!(again.data_frames, 0);
        assert_eq!(
            again.refused().code(),
            Some(Code::Unauthenticated),
            "{:?}",
            again.end
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_invoice_is_canceled_when_the_broker_cannot_deliver_and_settled_when_the_caller_hangs_up()
 {
    let paid = PaidBroker::start(&[], "").await.expect("start");

    // --- Broker-side failure: the third chunk lost on two of three providers.
    let data = Pattern::new(4, CHUNK * 3).all();
    let blob = paid.upload("lossy", &data, (FLAT, 0), true).await;
    let chunks = paid.chunk_ids(&blob).await;
    assert_eq!(chunks.len(), 3);
    let third_chunk = &chunks[2];
    let mut removed = 0;
    for provider in ["fs0", "fs1"] {
        let dir = paid
            .provider_root(provider)
            .join("shards")
            .join(&third_chunk[..2]);
        for entry in std::fs::read_dir(&dir).expect("shard dir").flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(third_chunk.as_str())
            {
                std::fs::remove_file(entry.path()).expect("remove shard");
                removed += 1;
            }
        }
    }
    assert_eq!(removed, 2, "one shard of the chunk on each of fs0 and fs1");

    let challenge = paid.challenge(hold_request(&blob), None).await;
    let hash = challenge.payment_hash;
    let balance = paid.lightning.payer_balance_msat();
    let payment = paid.lightning.pay_until_accepted(&challenge).await;
    let got = paid
        .get_with(
            get_request(&blob, None),
            &challenge.authorization(None),
            None,
        )
        .await;
    let status = got.refused();
    assert_eq!(status.code(), Some(Code::DataLoss), "{status:?}");
    assert!(got.data.len() < data.len(), "the stream did not end OK");
    assert!(
        got.data == data[..got.data.len()],
        "what came is a correct prefix"
    );
    paid.lightning
        .assert_refunded(&hash, payment, balance, "after a broker-side failure")
        .await;

    // --- Caller hangs up after the first data frame: settled.
    let big = Pattern::new(5, CHUNK * 12).all();
    let blob = paid.upload("cut", &big, (FLAT, 0), true).await;
    let (mut download, payment, hash) = open_paid_hold_download(&paid, &blob).await;
    {
        let first = download.next_chunk().await.expect("a data frame");
        assert!(first.is_some_and(|piece| !piece.is_empty()));
        // Dropping the download and the client resets the call.
        drop(download);
    }
    assert_settled(&paid, &hash, payment, "after the caller hung up").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settlement_missed_while_the_node_is_down_is_retried_until_it_lands() {
    let paid = PaidBroker::start(&[], "").await.expect("start");
    // 6 MiB: more than HTTP/2 lets the broker send before the client reads
    // (the SDK's 4 MiB stream window), so the last frame leaves after the
    // node is down.
    let data = Pattern::new(6, CHUNK * 24).all();
    let blob = paid.upload("retry", &data, (FLAT, 0), true).await;
    // The gate has checked the node; it goes down while the data flows, so
    // the settlement after the last frame cannot reach it.
    let (mut download, payment, hash) = open_paid_hold_download(&paid, &blob).await;
    paid.lightning
        .broker_node()
        .set_down(true)
        .await
        .expect("down");
    let mut received = Vec::new();
    while let Some(piece) = download.next_chunk().await.expect("the download completes") {
        received.extend_from_slice(&piece);
    }
    assert!(received == data, "exact bytes while the node is down");
    tokio::time::sleep(Duration::from_secs(1)).await;
    paid.lightning
        .broker_node()
        .set_down(false)
        .await
        .expect("up");

    // The broker keeps trying: SETTLED, the payer's payment succeeds, the
    // ledger records it.
    assert_settled(&paid, &hash, payment, "once the node is back").await;
    let entries = paid.wait_for_ledger_entries(1).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].entry_id, hash.to_hex());
}

/// Buys a hold credential for `blob`, pays it until ACCEPTED and opens the
/// download through the SDK with the credential (empty preimage): the
/// download after its header, the payment task, the hash.
async fn open_paid_hold_download(
    paid: &PaidBroker,
    blob: &str,
) -> (
    Download,
    JoinHandle<Result<Preimage, PaymentError>>,
    PaymentHash,
) {
    let challenge = paid.challenge(hold_request(blob), None).await;
    let payment = paid.lightning.pay_until_accepted(&challenge).await;
    let client = paid.client().await;
    let credential = format!("{}:", challenge.token);
    let options = GetOptions {
        payment: PaymentPolicy::none().credential(credential),
        ..GetOptions::default()
    };
    let download = client.get(blob, &options).await.expect("download opens");
    (download, payment, challenge.payment_hash)
}

/// The node SETTLES the invoice (within 30 s: settlement may be retrying
/// with backoff) and the payer's payment succeeds.
async fn assert_settled(
    paid: &PaidBroker,
    hash: &PaymentHash,
    payment: JoinHandle<Result<Preimage, PaymentError>>,
    when: &str,
) {
    paid.lightning
        .wait_for_state(hash, InvoiceState::Settled, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("not settled {when}: {e}"));
    let preimage = tokio::time::timeout(WAIT, payment)
        .await
        .expect("payment finishes")
        .expect("task")
        .unwrap_or_else(|e| panic!("the payer's payment failed {when}: {e}"));
    assert_eq!(preimage.payment_hash(), *hash);
}

/// storage.proto, Delete: "Credentials already sold for the blob stop
/// working (Get returns NOT_FOUND) and are not refunded automatically;
/// ACCEPTED hold invoices for it are canceled, so their payers keep their
/// funds."
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_blob_stops_its_credentials_and_cancels_its_accepted_hold_invoices() {
    let paid = PaidBroker::start(&[], "").await.expect("start");
    let data = Pattern::new(7, 10_000).all();
    let blob = paid.upload("deleted", &data, (FLAT, 0), true).await;
    let (_, auth) = paid.buy(get_request(&blob, None), None).await;
    let challenge = paid.challenge(hold_request(&blob), None).await;
    let balance = paid.lightning.payer_balance_msat();
    let payment = paid.lightning.pay_until_accepted(&challenge).await;

    let client = paid.client().await;
    as_tenant(&client, Some(paid.owner_key()))
        .delete(&blob)
        .await
        .expect("delete");

    for (auth, what) in [
        (auth, "paid credential"),
        (challenge.authorization(None), "hold credential"),
    ] {
        let got = paid.get_with(get_request(&blob, None), &auth, None).await;
        assert_eq!(got.data_frames, 0, "{what}: data of a deleted blob");
        assert_eq!(
            got.refused().code(),
            Some(Code::NotFound),
            "{what}: {:?}",
            got.end
        );
    }
    paid.lightning
        .assert_refunded(
            &challenge.payment_hash,
            payment,
            balance,
            "the ACCEPTED hold invoice of a deleted blob is canceled",
        )
        .await;
}
