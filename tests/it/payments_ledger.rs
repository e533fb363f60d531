//! The ledger after paid downloads, through the real `shardgate` binary:
//! one balanced entry per settled payment (entry id = payment hash), the
//! LIGHTNING account debited exactly what the payer's wallet lost, and each
//! entry split 70/20/10 (the default) to the msat — the owner's share
//! rounded down, each provider's share in proportion to the shards it
//! served (counted here from the blob's chunks and the shard objects each
//! `fs` provider holds: a healthy 2+1 read serves the two data shards of
//! every chunk in the range), the broker getting the remainder.

use std::collections::BTreeMap;

use shardgate_proto::v1 as pb;
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::lightning::{PaidBroker, get_request};

const CHUNK: u64 = 256 * 1024;
/// Odd prices, so every split has remainders.
const FLAT: u64 = 10_007;
const PER_MIB: u64 = 1_001;
const K: u32 = 2;

/// One paid download: blob, its owner's tenant id, range, the chunks it
/// touches, the bytes it must deliver.
type Download<'a> = (
    &'a str,
    &'a str,
    Option<(u64, Option<u64>)>,
    Vec<&'a String>,
    &'a [u8],
);

/// Expected credits of one entry: (kind, id) → msat.
type Credits = BTreeMap<(i32, String), u64>;

/// payments.proto's split with the default 7000/2000/1000 basis points.
fn expected_split(amount: u64, owner: &str, served: &BTreeMap<String, u64>) -> Credits {
    let a = u128::from(amount);
    let total: u64 = served.values().sum();
    let mut credits = Credits::new();
    let owner_part = (a * 7_000 / 10_000) as u64;
    credits.insert(
        (pb::AccountKind::Owner as i32, owner.to_owned()),
        owner_part,
    );
    let mut given = owner_part;
    for (provider, shards) in served {
        let part = (a * 2_000 * u128::from(*shards) / (10_000 * u128::from(total))) as u64;
        if part > 0 {
            credits.insert((pb::AccountKind::Provider as i32, provider.clone()), part);
        }
        given += part;
    }
    credits.insert(
        (pb::AccountKind::Broker as i32, String::new()),
        amount - given,
    );
    credits
}

/// Provider of each data shard: chunk id → names of the providers holding
/// shard indexes 0..K.
async fn data_shard_holders(paid: &PaidBroker) -> BTreeMap<String, Vec<String>> {
    let mut holders: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (provider, keys) in paid.shard_keys().await {
        for key in keys {
            let name = key.rsplit('/').next().expect("key has a name");
            let (chunk, index) = name.rsplit_once('.').expect("<chunk>.<index>");
            if index.parse::<u32>().expect("shard index") < K {
                holders
                    .entry(chunk.to_owned())
                    .or_default()
                    .push(provider.clone());
            }
        }
    }
    holders
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balances_equal_the_payments_and_each_share_follows_the_shards_served() {
    let paid = PaidBroker::start(&[], "").await.expect("start");
    let (other_id, other_key) = paid.tenant("other").await;
    let owner_id = paid.owner.0.clone();
    let x_data = Pattern::new(1, 3 * CHUNK).all();
    let x = paid.upload("x", &x_data, (FLAT, PER_MIB), true).await;
    let y_data = Pattern::new(2, 100_000).all();
    let y = paid
        .upload_as(&other_key, "y", &y_data, (3_333, 77), true)
        .await;
    let holders = data_shard_holders(&paid).await;
    let x_chunks = paid.chunk_ids(&x).await;
    let y_chunks = paid.chunk_ids(&y).await;

    // Downloads: (blob, owner, range, chunks it touches, expected bytes).
    let (xs, ys) = (x.as_str(), y.as_str());
    let (me, them) = (owner_id.as_str(), other_id.as_str());
    let whole_x: Vec<&String> = x_chunks.iter().collect();
    let whole_y: Vec<&String> = y_chunks.iter().collect();
    let c = CHUNK as usize;
    let downloads: Vec<Download> = vec![
        (xs, me, None, whole_x.clone(), x_data.as_slice()),
        (xs, me, None, whole_x.clone(), x_data.as_slice()),
        (xs, me, None, whole_x, x_data.as_slice()),
        (
            xs,
            me,
            Some((300_000, Some(1_000))),
            vec![&x_chunks[1]],
            &x_data[300_000..301_000],
        ),
        (
            xs,
            me,
            Some((CHUNK - 10, Some(20))),
            vec![&x_chunks[0], &x_chunks[1]],
            &x_data[c - 10..c + 10],
        ),
        (ys, them, None, whole_y.clone(), y_data.as_slice()),
        (ys, them, None, whole_y, y_data.as_slice()),
    ];
    let balance_before = paid.lightning.payer_balance_msat();
    let mut expected: BTreeMap<String, (String, u64, Credits)> = BTreeMap::new();
    for (blob, owner, range, chunks, want) in &downloads {
        let (challenge, auth) = paid.buy(get_request(blob, *range), None).await;
        let got = paid.get_with(get_request(blob, *range), &auth, None).await;
        assert!(got.bytes() == *want, "download of {blob} {range:?}");
        let amount = paid
            .lightning
            .invoice(&challenge.payment_hash)
            .await
            .expect("invoice")
            .amt_paid_msat;
        let mut served = BTreeMap::new();
        for chunk in chunks {
            for provider in &holders[chunk.as_str()] {
                *served.entry(provider.clone()).or_insert(0u64) += 1;
            }
        }
        assert_eq!(
            served.values().sum::<u64>(),
            u64::from(K) * chunks.len() as u64
        );
        expected.insert(
            challenge.payment_hash.to_hex(),
            (
                blob.to_string(),
                amount,
                expected_split(amount, owner, &served),
            ),
        );
    }
    let total_paid: u64 = expected.values().map(|(_, a, _)| a).sum();
    assert_eq!(
        balance_before - paid.lightning.payer_balance_msat(),
        total_paid
    );

    // Every entry, exactly as expected (paged 3 at a time).
    paid.wait_for_ledger_entries(downloads.len()).await;
    let payments = paid.broker.admin_client().await.expect("connect");
    let mut entries = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = payments
            .ledger(pb::ListLedgerEntriesRequest {
                page_size: 3,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .expect("ledger page");
        assert!(page.entries.len() <= 3, "page size honoured");
        entries.extend(page.entries);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(
        entries.len(),
        downloads.len(),
        "one entry per paid download"
    );
    let mut totals = Credits::new();
    for entry in &entries {
        let (blob, amount, credits) = expected
            .get(&entry.entry_id)
            .unwrap_or_else(|| panic!("entry {} is no payment of ours", entry.entry_id));
        assert_eq!(&entry.blob_id, blob);
        let mut debits = Vec::new();
        let mut got = Credits::new();
        for posting in &entry.postings {
            let account = posting.account.clone().expect("account");
            assert!(posting.amount_msat > 0, "no zero postings: {entry:?}");
            if posting.direction == pb::PostingDirection::Debit as i32 {
                debits.push((account.kind, posting.amount_msat));
            } else {
                assert_eq!(posting.direction, pb::PostingDirection::Credit as i32);
                *got.entry((account.kind, account.id)).or_default() += posting.amount_msat;
            }
        }
        assert_eq!(
            debits,
            vec![(pb::AccountKind::Lightning as i32, *amount)],
            "{entry:?}"
        );
        assert_eq!(&got, credits, "split of entry {}", entry.entry_id);
        for (account, msat) in got {
            *totals.entry(account).or_default() += msat;
        }
    }
    let settled: Vec<_> = entries
        .iter()
        .map(|e| e.settled_at.map(|t| (t.seconds, t.nanos)))
        .collect();
    assert!(settled.is_sorted(), "oldest first");

    // Balances: the sums of the entries; LIGHTNING holds what was paid.
    let earnings = payments
        .earnings(pb::AccountKind::Unspecified)
        .await
        .expect("earnings");
    for balance in &earnings.balances {
        let account = balance.account.clone().expect("account");
        if account.kind == pb::AccountKind::Lightning as i32 {
            assert_eq!(
                (
                    balance.debited_msat,
                    balance.credited_msat,
                    balance.balance_msat
                ),
                (total_paid, 0, total_paid)
            );
        } else {
            let want = totals
                .get(&(account.kind, account.id.clone()))
                .copied()
                .unwrap_or(0);
            assert_eq!(
                (
                    balance.credited_msat,
                    balance.debited_msat,
                    balance.balance_msat
                ),
                (want, 0, want),
                "{account:?}"
            );
        }
    }
    assert_eq!(
        earnings.balances.len(),
        totals.len() + 1,
        "one balance per credited account plus LIGHTNING: {earnings:?}"
    );
}
