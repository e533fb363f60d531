//! Who may call what on the Payments service (payments.proto), through the
//! real `shardgate` binary: CreateInvoice follows blob visibility, checks
//! `uses`/`hold`/range, and its credential opens a Get once paid; GetPaymentStatus needs no key; GetEarnings
//! and ListLedgerEntries show a tenant only its own OWNER account and an
//! admin everything. Without `[payments]` the service refuses with
//! FAILED_PRECONDITION and priced blobs are never served.

use shardgate_client::pb;
use shardgate_tests::broker_process::client::as_tenant;
use shardgate_tests::broker_process::{BrokerProcess, ProviderSpec};
use shardgate_tests::lightning::{PaidBroker, fetch, get_request, upload_priced};
use shardgate_tests::raw_wire;
use tonic::Code;

fn invoice_request(
    blob: &str,
    range: Option<(u64, Option<u64>)>,
    hold: bool,
    uses: u32,
) -> pb::CreateInvoiceRequest {
    pb::CreateInvoiceRequest {
        blob_id: blob.into(),
        range: range.map(|(offset, length)| pb::ByteRange { offset, length }),
        hold,
        uses,
    }
}

fn owner_account(tenant: &str) -> pb::Account {
    pb::Account {
        kind: pb::AccountKind::Owner as i32,
        id: tenant.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_payments_config_the_service_refuses_and_priced_blobs_stay_locked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let providers = ProviderSpec::fs_set(dir.path(), 3);
    let broker = BrokerProcess::start(&providers, "").await.expect("broker");
    let (_, key) = broker.create_tenant("owner", None).await.expect("tenant");
    let storage = broker.client().await.expect("client");
    let blob = upload_priced(&storage, &key, "priced", &[7; 1000], (5_000, 0), true)
        .await
        .expect("upload");

    let got = fetch(
        &as_tenant(&storage, Some(&key)),
        get_request(&blob, None),
        None,
    )
    .await;
    assert_eq!(got.data_frames, 0);
    assert_eq!(
        got.refused().code(),
        Some(Code::FailedPrecondition),
        "{:?}",
        got.end
    );

    let payments = broker.client().await.expect("connect");
    let admin = broker.admin_client().await.expect("connect");
    let err = as_tenant(&payments, Some(&key))
        .create_invoice(invoice_request(&blob, None, false, 1))
        .await
        .expect_err("payments are off");
    assert_eq!(err.code(), Some(Code::FailedPrecondition), "{err:?}");
    assert!(
        err.message().contains("payments are not enabled"),
        "{err:?}"
    );
    let err = admin
        .earnings(pb::AccountKind::Unspecified)
        .await
        .expect_err("payments are off");
    assert_eq!(err.code(), Some(Code::FailedPrecondition), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_invoice_follows_visibility_and_checks_uses_hold_and_range() {
    let paid = PaidBroker::start(&[("max_invoice_uses", "5")], "")
        .await
        .expect("start");
    let (_, other_key) = paid.tenant("other").await;
    let public = paid.upload("public", &[1; 5000], (2_000, 0), true).await;
    let private = paid.upload("private", &[2; 5000], (2_000, 0), false).await;
    let limits = paid.limits().await;
    assert_eq!(limits.max_invoice_uses, 5, "GetLimits reports the config");
    let payments = paid.client().await;

    // Public: anyone, no key.
    let invoice = payments
        .create_invoice(invoice_request(&public, Some((100, Some(200))), false, 2))
        .await
        .expect("public invoice without key");
    assert_eq!(invoice.blob_id, public);
    assert_eq!(invoice.uses, 2);
    assert_eq!(invoice.amount_msat, 4_000, "flat 2000 x 2 uses");
    assert!(!invoice.hold);
    let range = invoice.range.expect("range");
    assert_eq!((range.offset, range.length), (100, 200));
    // The node has it, OPEN, for that amount.
    let hash = shardgate_payments::PaymentHash::from_hex(&invoice.payment_hash).expect("hash hex");
    let on_node = paid.lightning.invoice(&hash).await.expect("on the node");
    assert_eq!(on_node.state, shardgate_payments::InvoiceState::Open);
    assert_eq!(on_node.value_msat, 4_000);
    assert_eq!(on_node.payment_request, invoice.payment_request);
    // Its credential opens a Get once paid.
    let preimage = paid
        .lightning
        .pay(&invoice.payment_request)
        .await
        .expect("pay");
    let auth = shardgate_payments::l402::authorization(&invoice.l402_token, Some(&preimage));
    let got = paid
        .get_with(get_request(&public, Some((100, Some(200)))), &auth, None)
        .await;
    assert!(got.bytes() == [1; 200].as_slice());
    assert_eq!(got.header.expect("header").uses_remaining, 1);

    // Private: owner only.
    let err = as_tenant(&payments, None)
        .create_invoice(invoice_request(&private, None, false, 1))
        .await
        .expect_err("private without key");
    // payments.proto says UNAUTHENTICATED; the broker answers NOT_FOUND, as
    // for Get, so as not to reveal that the blob exists.
    assert!(
        matches!(err.code(), Some(Code::Unauthenticated | Code::NotFound)),
        "{err:?}"
    );
    let err = as_tenant(&payments, Some(&other_key))
        .create_invoice(invoice_request(&private, None, false, 1))
        .await
        .expect_err("private, other tenant");
    assert_eq!(err.code(), Some(Code::NotFound), "{err:?}");
    let err = as_tenant(&payments, Some("sgk_not-a-key"))
        .create_invoice(invoice_request(&private, None, false, 1))
        .await
        .expect_err("unknown key");
    assert_eq!(err.code(), Some(Code::Unauthenticated), "{err:?}");
    as_tenant(&payments, Some(paid.owner_key()))
        .create_invoice(invoice_request(&private, None, false, 1))
        .await
        .expect("owner may buy its private blob");

    // Bounds.
    for (request, code, what) in [
        (
            invoice_request(&public, None, false, 6),
            Code::InvalidArgument,
            "uses above max",
        ),
        (
            invoice_request(&public, None, true, 2),
            Code::InvalidArgument,
            "hold with 2 uses",
        ),
        (
            invoice_request(&public, Some((5000, None)), false, 1),
            Code::OutOfRange,
            "offset at end",
        ),
        (
            invoice_request("not-a-blob-id", None, false, 1),
            Code::InvalidArgument,
            "malformed id",
        ),
        (
            invoice_request(&"0".repeat(64), None, false, 1),
            Code::NotFound,
            "unknown blob",
        ),
    ] {
        let err = as_tenant(&payments, Some(paid.owner_key()))
            .create_invoice(request)
            .await
            .expect_err(what);
        assert_eq!(err.code(), Some(code), "{what}: {err:?}");
    }
    // uses 0 means 1; hold with 0 or 1 use is a hold invoice.
    let one = as_tenant(&payments, None)
        .create_invoice(invoice_request(&public, None, false, 0))
        .await
        .expect("uses 0");
    assert_eq!((one.uses, one.amount_msat), (1, 2_000));
    let hold = as_tenant(&payments, None)
        .create_invoice(invoice_request(&public, None, true, 0))
        .await
        .expect("hold");
    assert!(hold.hold);
    assert_eq!(hold.uses, 1);

    // GetPaymentStatus: no key; unknown hash NOT_FOUND; malformed INVALID_ARGUMENT.
    let status = payments
        .payment_status(&invoice.payment_hash)
        .await
        .expect("status without key");
    assert_eq!(status.state, pb::InvoiceState::Settled as i32);
    assert_eq!(
        (status.amount_msat, status.amount_paid_msat),
        (4_000, 4_000)
    );
    assert_eq!((status.uses, status.uses_remaining), (2, 1));
    let err = payments
        .payment_status(&"ab".repeat(32))
        .await
        .expect_err("unknown hash");
    assert_eq!(err.code(), Some(Code::NotFound), "{err:?}");
    let err = payments
        .payment_status("xyz")
        .await
        .expect_err("malformed hash");
    assert_eq!(err.code(), Some(Code::InvalidArgument), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn earnings_and_ledger_show_a_tenant_only_its_own_account() {
    let paid = PaidBroker::start(&[], "").await.expect("start");
    let (other_id, other_key) = paid.tenant("other").await;
    let owner_id = paid.owner.0.clone();
    let mine = paid.upload("mine", &[3; 4000], (10_000, 0), true).await;
    // The other tenant's blob, uploaded with its key.
    let theirs = paid
        .upload_as(&other_key, "theirs", &[4; 4000], (20_000, 0), true)
        .await;
    // One paid download of each.
    for blob in [&mine, &theirs] {
        let (_, auth) = paid.buy(get_request(blob, None), None).await;
        let got = paid.get_with(get_request(blob, None), &auth, None).await;
        assert_eq!(got.bytes().len(), 4000);
    }
    paid.wait_for_ledger_entries(2).await;
    let payments = paid.client().await;
    let admin = paid.broker.admin_client().await.expect("connect");

    // No key / unknown key (raw: the SDK does not send these calls
    // without a key).
    let mut raw = raw_wire::payments(&paid.broker.url()).await;
    for key in [None, Some("sgk_unknown")] {
        let request = raw_wire::with_key(pb::GetEarningsRequest::default(), key);
        let err = raw.get_earnings(request).await.expect_err("no valid key");
        assert_eq!(err.code(), Code::Unauthenticated, "{key:?}: {err:?}");
        let request = raw_wire::with_key(pb::ListLedgerEntriesRequest::default(), key);
        let err = raw
            .list_ledger_entries(request)
            .await
            .expect_err("no valid key");
        assert_eq!(err.code(), Code::Unauthenticated, "{key:?}: {err:?}");
    }

    // A tenant: its OWNER account only.
    for kind in [pb::AccountKind::Unspecified, pb::AccountKind::Owner] {
        let earnings = as_tenant(&payments, Some(paid.owner_key()))
            .earnings(kind)
            .await
            .expect("tenant earnings");
        assert_eq!(earnings.balances.len(), 1, "{kind:?}: {earnings:?}");
        let balance = &earnings.balances[0];
        assert_eq!(balance.account, Some(owner_account(&owner_id)));
        assert_eq!(balance.credited_msat, 7_000, "70 % of 10,000 msat");
        assert_eq!(balance.balance_msat, 7_000);
    }
    for kind in [
        pb::AccountKind::Provider,
        pb::AccountKind::Broker,
        pb::AccountKind::Lightning,
    ] {
        let err = as_tenant(&payments, Some(paid.owner_key()))
            .earnings(kind)
            .await
            .expect_err("tenant asks another kind");
        assert_eq!(
            err.code(),
            Some(Code::PermissionDenied),
            "{kind:?}: {err:?}"
        );
    }

    // Admin: every account; filtered by kind.
    let all = admin
        .earnings(pb::AccountKind::Unspecified)
        .await
        .expect("admin earnings");
    let kinds: Vec<i32> = all
        .balances
        .iter()
        .map(|b| b.account.as_ref().map_or(0, |a| a.kind))
        .collect();
    assert!(kinds.contains(&(pb::AccountKind::Owner as i32)), "{all:?}");
    assert!(
        kinds.contains(&(pb::AccountKind::Provider as i32)),
        "{all:?}"
    );
    assert!(kinds.contains(&(pb::AccountKind::Broker as i32)), "{all:?}");
    assert!(
        kinds.contains(&(pb::AccountKind::Lightning as i32)),
        "{all:?}"
    );
    assert!(kinds.is_sorted(), "ordered by kind: {kinds:?}");
    let lightning = all
        .balances
        .iter()
        .find(|b| {
            b.account
                .as_ref()
                .is_some_and(|a| a.kind == pb::AccountKind::Lightning as i32)
        })
        .expect("lightning account");
    assert_eq!(lightning.debited_msat, 30_000);
    assert_eq!(lightning.balance_msat, 30_000);
    let providers_only = admin
        .earnings(pb::AccountKind::Provider)
        .await
        .expect("admin provider earnings");
    assert!(!providers_only.balances.is_empty());
    assert!(providers_only.balances.iter().all(|b| {
        b.account
            .as_ref()
            .is_some_and(|a| a.kind == pb::AccountKind::Provider as i32)
    }));

    // Ledger: the tenant sees only entries posting to its account, with
    // all their postings.
    let mine_entries = as_tenant(&payments, Some(paid.owner_key()))
        .ledger(pb::ListLedgerEntriesRequest::default())
        .await
        .expect("tenant ledger");
    assert_eq!(mine_entries.entries.len(), 1, "{mine_entries:?}");
    let entry = &mine_entries.entries[0];
    assert_eq!(entry.blob_id, mine);
    assert!(entry.postings.len() >= 3, "all postings shown: {entry:?}");
    let err = as_tenant(&payments, Some(paid.owner_key()))
        .ledger(pb::ListLedgerEntriesRequest {
            account: Some(owner_account(&other_id)),
            ..Default::default()
        })
        .await
        .expect_err("another tenant's account");
    assert_eq!(err.code(), Some(Code::PermissionDenied), "{err:?}");
    let all_entries = admin
        .ledger(pb::ListLedgerEntriesRequest::default())
        .await
        .expect("admin ledger");
    assert_eq!(all_entries.entries.len(), 2, "{all_entries:?}");
    let theirs_only = admin
        .ledger(pb::ListLedgerEntriesRequest {
            account: Some(owner_account(&other_id)),
            ..Default::default()
        })
        .await
        .expect("admin filtered ledger");
    assert_eq!(theirs_only.entries.len(), 1);
    assert_eq!(theirs_only.entries[0].blob_id, theirs);

    // Bad filters.
    let later = prost_types::Timestamp {
        seconds: 2_000_000_000,
        nanos: 0,
    };
    let earlier = prost_types::Timestamp {
        seconds: 1_000_000_000,
        nanos: 0,
    };
    let err = admin
        .ledger(pb::ListLedgerEntriesRequest {
            since: Some(later),
            until: Some(earlier),
            ..Default::default()
        })
        .await
        .expect_err("since after until");
    assert_eq!(err.code(), Some(Code::InvalidArgument), "{err:?}");
    let err = admin
        .ledger(pb::ListLedgerEntriesRequest {
            page_token: "garbage!".into(),
            ..Default::default()
        })
        .await
        .expect_err("bad page token");
    assert_eq!(err.code(), Some(Code::InvalidArgument), "{err:?}");
}
