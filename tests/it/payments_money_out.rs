//! Money out through the real `shardgate` binary: an owner earns from paid
//! downloads and withdraws to its own wallet node; a failing payout is
//! reversed and can be retried; a broker killed with a payout in flight
//! finishes it from the node's answer after the restart. After each step
//! the ledger's LIGHTNING account equals what the broker's node holds
//! (money in minus money out), and no account is below zero.

use std::time::Duration;

use shardgate_client::{Client, ErrorKind, pb};
use shardgate_lnd_sim::{FaultConfig, PaymentFailure};
use shardgate_payments::{PaymentHash, Preimage};
use shardgate_tests::broker_process::client::as_tenant;
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::lightning::{PaidBroker, get_request};
use tonic::Code;

const WAIT: Duration = Duration::from_secs(20);

/// Earnings of the owner after `downloads` paid downloads of a 100 kB blob
/// priced 50,000 msat flat: the owner's 70 % of each.
async fn owner_with_earnings(paid: &PaidBroker, downloads: usize) -> u64 {
    let data = Pattern::new(9, 100_000).all();
    let blob = paid.upload("earns", &data, (50_000, 0), true).await;
    for _ in 0..downloads {
        let (_, authorization) = paid.buy(get_request(&blob, None), None).await;
        let fetched = paid
            .get_with(get_request(&blob, None), &authorization, None)
            .await;
        assert_eq!(fetched.bytes(), data.as_slice());
    }
    paid.wait_for_ledger_entries(downloads).await;
    owner_balance(paid).await
}

fn owner_client(paid: &PaidBroker, client: &Client) -> Client {
    as_tenant(client, Some(paid.owner_key()))
}

async fn owner_balance(paid: &PaidBroker) -> u64 {
    let client = owner_client(paid, &paid.client().await);
    let earnings = client
        .earnings(pb::AccountKind::Owner)
        .await
        .expect("earnings");
    earnings.balances.first().map_or(0, |b| b.balance_msat)
}

/// Every balance as the admin sees it; asserts the ledger's money rules:
/// LIGHTNING equals the broker node's balance, nothing below zero (the
/// API reports balances unsigned, so "below zero" shows as credited <
/// debited on a liability).
async fn check_books(paid: &PaidBroker) {
    let admin = paid.broker.admin_client().await.expect("admin");
    let all = admin
        .earnings(pb::AccountKind::Unspecified)
        .await
        .expect("earnings");
    let mut lightning = 0;
    for b in &all.balances {
        let kind = b.account.as_ref().map_or(0, |a| a.kind);
        if kind == pb::AccountKind::Lightning as i32 {
            assert!(
                b.debited_msat >= b.credited_msat,
                "lightning below zero: {b:?}"
            );
            lightning = b.balance_msat;
        } else {
            assert!(
                b.credited_msat >= b.debited_msat,
                "account below zero: {b:?}"
            );
        }
    }
    assert_eq!(
        lightning,
        paid.lightning.broker_node().balance_msat(),
        "the ledger's LIGHTNING account must equal what the node holds"
    );
}

async fn wallet_invoice(paid: &PaidBroker, amount_msat: u64) -> String {
    paid.lightning
        .payer()
        .add_invoice(amount_msat, "withdrawal", Duration::from_secs(600))
        .await
        .expect("wallet invoice")
        .payment_request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_withdraws_its_earnings_to_its_wallet_exactly_once() {
    let paid = PaidBroker::start(&[("payout_min_fee_reserve_msat", "2000")], "")
        .await
        .expect("start");
    let earned = owner_with_earnings(&paid, 3).await;
    assert_eq!(earned, 3 * 35_000);
    check_books(&paid).await;
    // Routes cost 1 sat + 0.1 %: 1,060 msat for 60,000, inside the reserve.
    paid.lightning.broker_node().set_routing_fee(1_000, 1_000);

    let client = owner_client(&paid, &paid.client().await);
    let wallet_before = paid.lightning.payer_balance_msat();
    let invoice = wallet_invoice(&paid, 60_000).await;
    let payout = client.withdraw(&invoice, None).await.expect("withdraw");
    assert_eq!(payout.state(), pb::PayoutState::Succeeded, "{payout:?}");
    assert_eq!(payout.amount_msat, 60_000);
    assert_eq!(payout.attempt, 1);
    let preimage =
        Preimage::from_slice(&hex::decode(&payout.preimage).expect("hex")).expect("32 bytes");
    assert_eq!(preimage.payment_hash().to_hex(), payout.payment_hash);
    assert_eq!(paid.lightning.payer_balance_msat(), wallet_before + 60_000);
    assert_eq!(
        payout.fee_msat, 1_060,
        "the route's fee, booked to the owner"
    );
    assert_eq!(
        owner_balance(&paid).await,
        earned - 60_000 - payout.fee_msat
    );
    check_books(&paid).await;

    // The same invoice again: the payout as it stands, nothing paid twice.
    let again = client
        .withdraw(&invoice, None)
        .await
        .expect("withdraw again");
    assert_eq!(again.state(), pb::PayoutState::Succeeded);
    assert_eq!(again.attempt, 1);
    assert_eq!(paid.lightning.payer_balance_msat(), wallet_before + 60_000);
    assert_eq!(
        owner_balance(&paid).await,
        earned - 60_000 - payout.fee_msat
    );
    let looked_up = client
        .payout(&payout.payment_hash)
        .await
        .expect("GetPayout");
    assert_eq!(looked_up.state(), pb::PayoutState::Succeeded);

    // More than the balance (with the fee reserve): refused, nothing moves.
    let left = owner_balance(&paid).await;
    let too_much = wallet_invoice(&paid, left).await;
    let refused = client
        .withdraw(&too_much, None)
        .await
        .expect_err("overdraft");
    assert_eq!(
        refused.code(),
        Some(Code::FailedPrecondition),
        "{refused:?}"
    );
    assert!(refused.message().contains("holds"), "{refused:?}");
    assert_eq!(owner_balance(&paid).await, left);
    assert_eq!(paid.lightning.payer_balance_msat(), wallet_before + 60_000);

    // Not an invoice; another tenant's account.
    let bad = client
        .withdraw("lnbcrt1notaninvoice", None)
        .await
        .expect_err("bad");
    assert_eq!(bad.code(), Some(Code::InvalidArgument), "{bad:?}");
    let provider = pb::Account {
        kind: pb::AccountKind::Provider as i32,
        id: "fs0".into(),
    };
    let denied = client
        .withdraw(&wallet_invoice(&paid, 1_000).await, Some(provider.clone()))
        .await
        .expect_err("not yours");
    assert_eq!(denied.code(), Some(Code::PermissionDenied), "{denied:?}");

    // The admin pays a provider its share: the one that earned most (the
    // providers holding the blob's data shards earned; placement decides
    // which).
    let admin = paid.broker.admin_client().await.expect("admin");
    let earner = admin
        .earnings(pb::AccountKind::Provider)
        .await
        .expect("earnings")
        .balances
        .into_iter()
        .max_by_key(|b| b.balance_msat)
        .expect("a provider earned");
    let earned_by_provider = earner.balance_msat;
    assert!(earned_by_provider > 4_000, "{earner:?}");
    let out = admin
        .withdraw(
            &wallet_invoice(&paid, earned_by_provider - 2_000).await,
            earner.account.clone(),
        )
        .await
        .expect("provider withdrawal");
    assert_eq!(out.state(), pb::PayoutState::Succeeded, "{out:?}");
    let left = admin
        .earnings(pb::AccountKind::Provider)
        .await
        .expect("earnings")
        .balances
        .into_iter()
        .find(|b| b.account == earner.account)
        .map_or(0, |b| b.balance_msat);
    assert_eq!(left, 2_000 - out.fee_msat);
    check_books(&paid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_payout_is_reversed_and_the_same_invoice_can_be_retried() {
    let paid = PaidBroker::start(&[("payout_min_fee_reserve_msat", "1000")], "")
        .await
        .expect("start");
    let earned = owner_with_earnings(&paid, 2).await;
    let client = owner_client(&paid, &paid.client().await);
    let invoice = wallet_invoice(&paid, 30_000).await;
    let wallet_before = paid.lightning.payer_balance_msat();

    paid.lightning.broker_node().set_faults(FaultConfig {
        payment_failure: Some(PaymentFailure::NoRoute),
        ..FaultConfig::default()
    });
    let failed = client.withdraw(&invoice, None).await.expect("withdraw");
    assert_eq!(failed.state(), pb::PayoutState::Failed, "{failed:?}");
    assert!(failed.failure_reason.contains("NO_ROUTE"), "{failed:?}");
    assert_eq!(owner_balance(&paid).await, earned, "everything back");
    assert_eq!(paid.lightning.payer_balance_msat(), wallet_before);
    check_books(&paid).await;

    // The ledger shows both movements of the failed attempt.
    let admin = paid.broker.admin_client().await.expect("admin");
    let entries = admin
        .ledger(pb::ListLedgerEntriesRequest::default())
        .await
        .expect("ledger")
        .entries;
    let kinds: Vec<_> = entries.iter().map(|e| e.kind()).collect();
    assert!(
        kinds.contains(&pb::LedgerEntryKind::PayoutStarted),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&pb::LedgerEntryKind::PayoutFailed),
        "{kinds:?}"
    );

    paid.lightning
        .broker_node()
        .set_faults(FaultConfig::default());
    let retried = client.withdraw(&invoice, None).await.expect("retry");
    assert_eq!(retried.state(), pb::PayoutState::Succeeded, "{retried:?}");
    assert_eq!(retried.attempt, 2);
    assert_eq!(paid.lightning.payer_balance_msat(), wallet_before + 30_000);
    assert_eq!(
        owner_balance(&paid).await,
        earned - 30_000 - retried.fee_msat
    );
    check_books(&paid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_killed_mid_payout_finishes_it_once_after_restart() {
    // The wallet's hold invoice keeps the payout in flight until the test
    // settles it; Withdraw answers IN_FLIGHT after 1 s.
    let mut paid = PaidBroker::start(
        &[
            ("payout_min_fee_reserve_msat", "1000"),
            ("payout_wait_secs", "1"),
            ("payout_reconcile_secs", "1"),
        ],
        "",
    )
    .await
    .expect("start");
    let earned = owner_with_earnings(&paid, 2).await;
    let client = owner_client(&paid, &paid.client().await);
    let wallet = paid.lightning.payer();
    let preimage = Preimage::random();
    let hash: PaymentHash = preimage.payment_hash();
    let invoice = wallet
        .add_hold_invoice(&hash, 40_000, "held withdrawal", Duration::from_secs(600))
        .await
        .expect("hold invoice")
        .payment_request;
    let wallet_before = paid.lightning.payer_balance_msat();

    let in_flight = client.withdraw(&invoice, None).await.expect("withdraw");
    assert_eq!(
        in_flight.state(),
        pb::PayoutState::InFlight,
        "{in_flight:?}"
    );
    assert_eq!(
        owner_balance(&paid).await,
        earned - 40_000 - in_flight.fee_reserve_msat
    );

    paid.broker.kill();
    wallet
        .settle_invoice(&preimage)
        .await
        .expect("wallet settles");
    paid.broker.restart().await.expect("restart");

    let client = owner_client(&paid, &paid.client().await);
    let done = client
        .wait_payout(&hash.to_hex(), WAIT)
        .await
        .expect("payout finishes");
    assert_eq!(done.state(), pb::PayoutState::Succeeded, "{done:?}");
    assert_eq!(done.attempt, 1);
    assert_eq!(paid.lightning.payer_balance_msat(), wallet_before + 40_000);
    assert_eq!(owner_balance(&paid).await, earned - 40_000 - done.fee_msat);
    // Withdrawing again with that invoice pays nothing more.
    let again = client.withdraw(&invoice, None).await.expect("again");
    assert_eq!(again.state(), pb::PayoutState::Succeeded);
    assert_eq!(paid.lightning.payer_balance_msat(), wallet_before + 40_000);
    check_books(&paid).await;
    let refused = client
        .withdraw("", None)
        .await
        .expect_err("an empty invoice");
    assert_eq!(refused.kind(), ErrorKind::InvalidArgument, "{refused:?}");
}

/// A provider's share is paid to its Lightning Address automatically: a
/// small LNURL-pay service on loopback (the wallet node's) hands out the
/// invoices. While the service answers ERROR or hands out an invoice for
/// the wrong amount, nothing is paid and the order records the failure;
/// once it answers right, the balance (less the fee reserve) arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_is_paid_automatically_to_its_lightning_address() {
    use shardgate_lnd_sim::{LnurlFault, LnurlServer};

    let paid = PaidBroker::start(
        &[
            ("payout_min_fee_reserve_msat", "1000"),
            ("auto_payout_interval_secs", "1"),
            ("auto_payout_max_backoff_secs", "1"),
        ],
        "",
    )
    .await
    .expect("start");
    owner_with_earnings(&paid, 4).await;
    let admin = paid.broker.admin_client().await.expect("admin");
    let provider_balance = |name: &'static str| {
        let admin = admin.clone();
        async move {
            admin
                .earnings(pb::AccountKind::Provider)
                .await
                .expect("earnings")
                .balances
                .iter()
                .find(|b| b.account.as_ref().is_some_and(|a| a.id == name))
                .map_or(0, |b| b.balance_msat)
        }
    };
    // The provider that earned the most in those downloads.
    let mut best = ("fs0", 0);
    for name in ["fs0", "fs1", "fs2"] {
        let balance = provider_balance(name).await;
        if balance > best.1 {
            best = (name, balance);
        }
    }
    let (provider, earned) = best;
    assert!(earned > 5_000, "a provider earned {earned} msat");

    let service = LnurlServer::start(paid.lightning.payer_node(), "provider")
        .await
        .expect("LNURL service");
    service.set_fault(LnurlFault::Error("wallet under maintenance".into()));
    let account = pb::Account {
        kind: pb::AccountKind::Provider as i32,
        id: provider.into(),
    };
    let order = admin
        .set_payout_address(&service.address(), 5_000, Some(account.clone()))
        .await
        .expect("SetPayoutAddress");
    assert_eq!(order.lightning_address, service.address());
    let wallet_before = paid.lightning.payer_balance_msat();

    // Failing: recorded on the order, nothing paid.
    let failing = wait_order(&admin, &account, |o| o.failures >= 1).await;
    assert!(
        failing.last_error.contains("wallet under maintenance"),
        "{failing:?}"
    );
    service.set_fault(LnurlFault::WrongAmount);
    let mismatch = wait_order(&admin, &account, |o| o.last_error.contains("instead of")).await;
    assert!(mismatch.failures >= 2, "{mismatch:?}");
    assert_eq!(paid.lightning.payer_balance_msat(), wallet_before);
    assert_eq!(provider_balance(provider).await, earned);

    // Answering right: paid once, the order's failures reset.
    service.set_fault(LnurlFault::None);
    let ok = wait_order(&admin, &account, |o| o.failures == 0).await;
    assert!(ok.last_error.is_empty(), "{ok:?}");
    let left = provider_balance(provider).await;
    let received = paid.lightning.payer_balance_msat() - wallet_before;
    assert!(
        received > 0 && left < 5_000,
        "received {received}, left {left}"
    );
    assert_eq!(
        left,
        earned - received,
        "no routing fee on the simulated network"
    );
    // Below the threshold now: no further payout however long we wait.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        paid.lightning.payer_balance_msat() - wallet_before,
        received
    );
    check_books(&paid).await;
    service.shutdown().await;
}

/// Polls the provider's payout order until `done` holds (bounded).
async fn wait_order(
    admin: &Client,
    account: &pb::Account,
    done: impl Fn(&pb::PayoutAddress) -> bool,
) -> pb::PayoutAddress {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let order = admin
            .payout_address(Some(account.clone()))
            .await
            .expect("GetPayoutAddress");
        if done(&order) {
            return order;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "order stays {order:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
