//! The ledger's money rules under random sequences of everything that
//! moves money — paid downloads, credit purchases, downloads on credit,
//! withdrawals, failing withdrawals, broker restarts — on a real broker in
//! process with a simulated LND node (real gRPC). After every step:
//!
//! * every account is at or above zero (and the debits of all postings
//!   equal their credits: the liabilities sum to the Lightning asset);
//! * the ledger's LIGHTNING account equals the broker node's balance:
//!   money in minus money out is the change of the node's balance (the node
//!   starts empty).

use std::time::Duration;

use proptest::prelude::*;
use shardgate_broker::PaymentsConfig;
use shardgate_client::{Client, GetOptions, PaymentPolicy};
use shardgate_lnd_sim::{FaultConfig, PaymentFailure, SimNetwork, SimNode, SimNodeConfig};
use shardgate_payments::LightningNode;
use shardgate_proto::v1 as pb;

use crate::common::{TestBroker, as_tenant, bytes, header, lnd_client, put};

/// What a step does.
#[derive(Debug, Clone)]
enum Step {
    /// A Get challenge, paid, then the download.
    PaidDownload,
    /// Buy and pay prepaid credit worth this many downloads.
    BuyCredit(u8),
    /// A download on the newest credit (may be refused: not enough left).
    CreditDownload,
    /// Withdraw this percentage of the owner's balance.
    Withdraw(u8),
    /// A withdrawal whose payment fails on the node.
    FailedWithdraw,
    /// Stop the broker and start it again on the same index.
    Restart,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::PaidDownload),
        2 => (1u8..4).prop_map(Step::BuyCredit),
        3 => Just(Step::CreditDownload),
        2 => (1u8..100).prop_map(Step::Withdraw),
        1 => Just(Step::FailedWithdraw),
        1 => Just(Step::Restart),
    ]
}

struct World {
    /// Always `Some` between steps (taken while restarting).
    broker: Option<TestBroker>,
    payments: PaymentsConfig,
    broker_node: SimNode,
    payer_node: SimNode,
    payer: LightningNode,
    owner_key: String,
    blob: String,
    data: Vec<u8>,
    credits: Vec<String>,
    _dir: tempfile::TempDir,
}

impl World {
    async fn start() -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let network = SimNetwork::new();
        let broker_node =
            SimNode::start(&network, SimNodeConfig::new("broker", dir.path().join("b")))
                .await
                .expect("broker node");
        let payer_node = SimNode::start(
            &network,
            SimNodeConfig::new("payer", dir.path().join("p")).with_balance_msat(10_000_000_000),
        )
        .await
        .expect("payer node");
        let payments = PaymentsConfig {
            lnd_endpoint: broker_node.grpc_socket(),
            lnd_tls_cert: Some(broker_node.tls_cert_path().to_path_buf()),
            lnd_macaroon: Some(broker_node.macaroon_path().to_path_buf()),
            lnd_call_timeout_ms: 2_000,
            payout_min_fee_reserve_msat: 500,
            payout_wait_secs: 5,
            ..PaymentsConfig::default()
        };
        let config = payments.clone();
        let broker = TestBroker::start_with(move |c| c.payments = Some(config)).await;
        let (_, owner_key) = broker.tenant("owner", None).await;
        let data = bytes(30_000, 5);
        let mut h = header("money.bin", Some(data.len() as u64));
        h.price = Some(pb::Price {
            flat_msat: 7_001,
            per_mib_msat: 0,
        });
        h.visibility = pb::Visibility::Public as i32;
        let blob = put(&broker.client().await, Some(&owner_key), h, &data)
            .await
            .expect("put")
            .blob_id;
        let payer = lnd_client(&payer_node).await;
        World {
            broker: Some(broker),
            payments,
            broker_node,
            payer_node,
            payer,
            owner_key,
            blob,
            data,
            credits: Vec::new(),
            _dir: dir,
        }
    }

    fn broker(&self) -> &TestBroker {
        self.broker.as_ref().expect("a broker")
    }

    async fn pay(&self, invoice: &str) -> String {
        self.payer
            .pay_invoice(invoice, 10_000, Duration::from_secs(10))
            .await
            .expect("payer pays")
            .to_hex()
    }

    async fn download(
        &self,
        credential: Option<&str>,
    ) -> Result<Vec<u8>, shardgate_client::ClientError> {
        let client = self.broker().client().await;
        let mut payment = PaymentPolicy::none();
        if let Some(credential) = credential {
            payment = payment.credential(credential);
        }
        let options = GetOptions {
            payment,
            ..GetOptions::default()
        };
        client.get_bytes(&self.blob, &options).await
    }

    async fn owner(&self) -> Client {
        as_tenant(&self.broker().client().await, Some(&self.owner_key))
    }

    async fn owner_balance(&self) -> u64 {
        let earnings = self
            .owner()
            .await
            .earnings(pb::AccountKind::Owner)
            .await
            .expect("earnings");
        earnings.balances.first().map_or(0, |b| b.balance_msat)
    }

    async fn apply(&mut self, step: &Step) {
        match step {
            Step::PaidDownload => {
                let refused = self.download(None).await.expect_err("a challenge");
                let (invoice, token) = refused.challenge().expect("challenge");
                let (invoice, token) = (invoice.to_owned(), token.to_owned());
                let preimage = self.pay(&invoice).await;
                let got = self
                    .download(Some(&format!("{token}:{preimage}")))
                    .await
                    .expect("paid download");
                assert_eq!(got, self.data);
            }
            Step::BuyCredit(downloads) => {
                let client = self.broker().client().await;
                let sold = client
                    .buy_credit(u64::from(*downloads) * 7_001)
                    .await
                    .expect("BuyCredit");
                let preimage = self.pay(&sold.payment_request).await;
                let credential = format!("{}:{preimage}", sold.l402_token);
                // Funds the credit now (its one LND lookup).
                client.credit_balance(&credential).await.expect("balance");
                self.credits.push(credential);
            }
            Step::CreditDownload => {
                let Some(credential) = self.credits.last().cloned() else {
                    return;
                };
                let before = self
                    .broker()
                    .client()
                    .await
                    .credit_balance(&credential)
                    .await
                    .expect("balance")
                    .balance_msat;
                match self.download(Some(&credential)).await {
                    Ok(got) => {
                        assert!(before >= 7_001, "served on {before} msat of credit");
                        assert_eq!(got, self.data);
                    }
                    Err(e) => {
                        assert!(before < 7_001, "refused with {before} msat left: {e:?}");
                        assert_eq!(e.kind(), shardgate_client::ErrorKind::Unpaid, "{e:?}");
                    }
                }
            }
            Step::Withdraw(percent) => {
                let balance = self.owner_balance().await;
                let amount = balance * u64::from(*percent) / 100;
                if amount < 1_000 {
                    return;
                }
                let invoice = self
                    .payer
                    .add_invoice(amount, "withdrawal", Duration::from_secs(600))
                    .await
                    .expect("invoice")
                    .payment_request;
                match self.owner().await.withdraw(&invoice, None).await {
                    Ok(payout) => {
                        assert_eq!(payout.state(), pb::PayoutState::Succeeded, "{payout:?}")
                    }
                    Err(e) => {
                        // Only the fee reserve can make it too much.
                        assert_eq!(e.code(), Some(tonic::Code::FailedPrecondition), "{e:?}");
                        assert!(amount + 500 > balance, "{e:?}");
                    }
                }
            }
            Step::FailedWithdraw => {
                let invoice = self
                    .payer
                    .add_invoice(1_000, "failing withdrawal", Duration::from_secs(600))
                    .await
                    .expect("invoice")
                    .payment_request;
                self.broker_node.set_faults(FaultConfig {
                    payment_failure: Some(PaymentFailure::NoRoute),
                    ..FaultConfig::default()
                });
                let result = self.owner().await.withdraw(&invoice, None).await;
                self.broker_node.set_faults(FaultConfig::default());
                if let Ok(payout) = result {
                    assert_eq!(payout.state(), pb::PayoutState::Failed, "{payout:?}");
                }
            }
            Step::Restart => {
                let payments = self.payments.clone();
                let broker = self.broker.take().expect("a broker");
                self.broker = Some(
                    broker
                        .restart_with(move |c| c.payments = Some(payments))
                        .await,
                );
            }
        }
    }

    /// The invariants, waiting (bounded) for download entries that are
    /// booked when a stream ends.
    async fn check(&self) -> Result<(), String> {
        let admin = self.broker().admin().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let all = admin
                .earnings(pb::AccountKind::Unspecified)
                .await
                .map_err(|e| e.to_string())?;
            let mut lightning = 0u128;
            let mut liabilities = 0u128;
            for b in &all.balances {
                let kind = b.account.as_ref().map_or(0, |a| a.kind);
                if kind == pb::AccountKind::Lightning as i32 {
                    if b.debited_msat < b.credited_msat {
                        return Err(format!("lightning below zero: {b:?}"));
                    }
                    lightning = u128::from(b.debited_msat - b.credited_msat);
                } else {
                    if b.credited_msat < b.debited_msat {
                        return Err(format!("account below zero: {b:?}"));
                    }
                    liabilities += u128::from(b.credited_msat - b.debited_msat);
                }
            }
            if liabilities != lightning {
                return Err(format!(
                    "debits != credits: liabilities {liabilities}, lightning {lightning}"
                ));
            }
            let node = u128::from(self.broker_node.balance_msat());
            let held = all.balances.iter().any(|b| {
                b.account
                    .as_ref()
                    .is_some_and(|a| a.kind == pb::AccountKind::CreditHeld as i32)
                    && b.balance_msat > 0
            });
            if node == lightning && !held {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!(
                    "node holds {node} msat, the ledger's LIGHTNING account {lightning} (credit still held: {held})"
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 6,
        max_shrink_iters: 16,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn money_in_minus_money_out_is_the_node_balance_after_every_step(
        steps in proptest::collection::vec(step(), 4..12)
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let result: Result<(), String> = runtime.block_on(async {
            let mut world = World::start().await;
            for (i, step) in steps.iter().enumerate() {
                world.apply(step).await;
                world.check().await.map_err(|e| format!("after step {i} {step:?}: {e}"))?;
            }
            if let Some(broker) = world.broker.take() {
                broker.stop().await;
            }
            world.payer_node.shutdown().await.map_err(|e| e.to_string())?;
            world.broker_node.shutdown().await.map_err(|e| e.to_string())?;
            Ok(())
        });
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }
}
