//! 200 paid downloads at once through the real `shardgate` binary: 200
//! challenges issued concurrently over four blobs, 200 invoices paid
//! concurrently, then every credential presented twice at the same moment
//! (400 concurrent Gets). Each paid use serves exactly once with the exact
//! bytes, the twin is refused UNAUTHENTICATED with no data, and the ledger
//! holds 200 entries summing to what the payer paid. Then ten 3-use
//! credentials are each presented six times at once: exactly three
//! downloads each. Bounded: the whole run must finish within 50 s.

use std::time::Duration;

use futures::future::join_all;
use shardgate_client::{Client, pb};
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::lightning::{Challenge, PaidBroker, fetch, get_request};
use tonic::Code;

const BUYERS: usize = 200;
const BLOBS: usize = 4;
/// Multi-use credentials and their uses.
const MULTI: usize = 10;
const MULTI_USES: u32 = 3;
const BOUND: Duration = Duration::from_secs(50);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_paid_downloads_are_each_served_once() {
    let paid = PaidBroker::start(&[], "").await.expect("start");
    let mut blobs = Vec::new();
    for i in 0..BLOBS {
        let data = Pattern::new(i as u32, 20_000 + i as u64 * 1_000).all();
        let id = paid
            .upload(&format!("c{i}"), &data, (1_000 + i as u64, 0), true)
            .await;
        blobs.push((id, data));
    }
    let client = paid.client().await;

    tokio::time::timeout(BOUND, async {
        // 200 challenges at once.
        let challenges: Vec<Challenge> = join_all((0..BUYERS).map(|i| {
            let client = client.clone();
            let blob = blobs[i % BLOBS].0.clone();
            async move {
                let got = fetch(&client, get_request(&blob, None), None).await;
                assert_eq!(got.data_frames, 0, "served before payment");
                let status = got.refused();
                assert_eq!(status.code(), Some(Code::Unauthenticated), "{status:?}");
                Challenge::from_error(status).expect("challenge")
            }
        }))
        .await;
        let mut hashes: Vec<_> = challenges.iter().map(|c| c.payment_hash).collect();
        hashes.sort();
        hashes.dedup();
        assert_eq!(hashes.len(), BUYERS, "every challenge is its own invoice");

        // 200 payments at once.
        let balance = paid.lightning.payer_balance_msat();
        let preimages = join_all(challenges.iter().map(|c| paid.lightning.pay(&c.invoice))).await;
        let auths: Vec<String> = challenges
            .iter()
            .zip(preimages)
            .map(|(c, p)| c.authorization(Some(&p.expect("payment succeeds"))))
            .collect();
        let spent = balance - paid.lightning.payer_balance_msat();
        let expected_spent: u64 = (0..BUYERS).map(|i| 1_000 + (i % BLOBS) as u64).sum();
        assert_eq!(spent, expected_spent);

        // Each credential twice, all 400 Gets at once.
        let served = present_all(&client, &blobs, &auths, 2).await;
        let wrong: Vec<_> = served
            .iter()
            .enumerate()
            .filter(|(_, n)| **n != 1)
            .collect();
        assert!(
            wrong.is_empty(),
            "(buyer, times served) not exactly once: {wrong:?}"
        );

        // The ledger: 200 entries, LIGHTNING debited what was paid.
        let entries = paid.wait_for_ledger_entries(BUYERS).await;
        assert_eq!(entries.len(), BUYERS);
        let earnings = paid
            .broker
            .admin_client()
            .await
            .expect("connect")
            .earnings(pb::AccountKind::Lightning)
            .await
            .expect("earnings");
        assert_eq!(earnings.balances.len(), 1);
        assert_eq!(earnings.balances[0].debited_msat, expected_spent);

        // Multi-use credentials: 10 of 3 uses, each presented 6 times at
        // once — exactly 3 downloads each.
        let mut multi = Vec::new();
        for i in 0..MULTI {
            let mut request = get_request(&blobs[i % BLOBS].0, None);
            request.uses = MULTI_USES;
            multi.push(paid.buy(request, None).await.1);
        }
        let served = present_all(&client, &blobs, &multi, 2 * MULTI_USES as usize).await;
        assert!(
            served.iter().all(|n| *n == MULTI_USES),
            "times served per 3-use credential: {served:?}"
        );
    })
    .await
    .expect("200 concurrent paid downloads finish in bounded time");
}

/// Presents credential `i` (for blob `i % BLOBS`) `times` times, all Gets at
/// once; returns how often each one was served. Every success must carry
/// the exact bytes, every refusal be UNAUTHENTICATED with no data.
async fn present_all(
    client: &Client,
    blobs: &[(String, Vec<u8>)],
    auths: &[String],
    times: usize,
) -> Vec<u32> {
    let gets = (0..auths.len() * times).map(|n| {
        let i = n % auths.len();
        let client = client.clone();
        let (blob, _) = &blobs[i % BLOBS];
        let request = get_request(blob, None);
        let credential = auths[i]
            .strip_prefix("L402 ")
            .expect("an L402 authorization")
            .to_owned();
        async move { (i, fetch(&client, request, Some(&credential)).await) }
    });
    let mut served = vec![0u32; auths.len()];
    for (i, got) in join_all(gets).await {
        match &got.end {
            Ok(()) => {
                assert!(
                    got.data == blobs[i % BLOBS].1,
                    "credential {i}: exact bytes"
                );
                served[i] += 1;
            }
            Err(status) => {
                assert_eq!(got.data_frames, 0, "credential {i}: refused after data");
                assert_eq!(
                    status.code(),
                    Some(Code::Unauthenticated),
                    "credential {i}: {status:?}"
                );
            }
        }
    }
    served
}
