//! Payouts to a Lightning Address: address parsing (LUD-16), and the whole
//! LNURL-pay flow (LUD-06) against the simulator's `LnurlServer` — params,
//! invoice, decode on the paying node, verify, pay — and every refusal on
//! the way, each before any money moves.

use crate::common;

use common::{PAYER_BALANCE_MSAT, TestNet, WAIT};
use sha2::{Digest, Sha256};
use shardgate_lnd_sim::{LnurlFault, LnurlServer, LnurlServerConfig, SimNode, SimNodeConfig};
use shardgate_payments::{
    LightningAddress, LnurlClientConfig, LnurlFailure, LnurlPayClient, PaymentError,
    PaymentErrorKind, verify_invoice,
};

/// 21 sat.
const PAYOUT_MSAT: u64 = 21_000;

fn failure_of(err: &PaymentError) -> LnurlFailure {
    match err {
        PaymentError::Lnurl { failure, .. } => *failure,
        other => panic!("not an LNURL error: {other}"),
    }
}

fn client() -> LnurlPayClient {
    LnurlPayClient::new(&LnurlClientConfig::default()).expect("client builds")
}

/// The test net plus an account holder's node with a Lightning Address.
struct Payout {
    net: TestNet,
    holder: SimNode,
    server: LnurlServer,
    _dir: tempfile::TempDir,
}

impl Payout {
    async fn start(config: LnurlServerConfig) -> Payout {
        let net = TestNet::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let holder = SimNode::start(&net.network, SimNodeConfig::new("holder", dir.path()))
            .await
            .expect("holder node starts");
        let server = LnurlServer::start_with(&holder, config)
            .await
            .expect("lnurl server starts");
        Payout {
            net,
            holder,
            server,
            _dir: dir,
        }
    }

    fn address(&self) -> LightningAddress {
        LightningAddress::parse(&self.server.address()).expect("server's address parses")
    }

    async fn shutdown(self) {
        self.server.shutdown().await;
        self.holder.shutdown().await.expect("holder stops");
        self.net.shutdown().await;
    }
}

#[test]
fn addresses_parse_by_lud16_rules() {
    let valid = [
        (
            "alice@example.com",
            "https://example.com/.well-known/lnurlp/alice",
        ),
        (
            "a.b-c_d+1@pay.example.org",
            "https://pay.example.org/.well-known/lnurlp/a.b-c_d+1",
        ),
        (
            "bob@Example.COM",
            "https://example.com/.well-known/lnurlp/bob",
        ),
        (
            "bob@example.com:8443",
            "https://example.com:8443/.well-known/lnurlp/bob",
        ),
        // Plain HTTP only for a loopback host with a port (tests, dev mode).
        (
            "bob@127.0.0.1:8080",
            "http://127.0.0.1:8080/.well-known/lnurlp/bob",
        ),
        (
            "bob@localhost:3000",
            "http://localhost:3000/.well-known/lnurlp/bob",
        ),
        ("bob@[::1]:3000", "http://[::1]:3000/.well-known/lnurlp/bob"),
        ("bob@127.0.0.1", "https://127.0.0.1/.well-known/lnurlp/bob"),
        (
            "bob@10.0.0.1:8080",
            "https://10.0.0.1:8080/.well-known/lnurlp/bob",
        ),
        (
            "bob@localhost.example.com:80",
            "https://localhost.example.com:80/.well-known/lnurlp/bob",
        ),
    ];
    for (text, url) in valid {
        let address = LightningAddress::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(address.url().as_str(), url, "{text}");
    }
    let address = LightningAddress::parse("carol@example.com").expect("valid");
    assert_eq!((address.user(), address.domain()), ("carol", "example.com"));
    assert_eq!(address.to_string(), "carol@example.com");

    let invalid = [
        ("Alice@example.com", "lowercase"),
        ("alice", "user@domain"),
        ("@example.com", "user name"),
        ("alice@", "domain"),
        ("al ice@example.com", "' '"),
        ("ali/ce@example.com", "'/'"),
        ("alice@exa mple.com", "' '"),
        ("alice@example.com/steal", "'/'"),
        ("alice@example.com?x=1", "'?'"),
        ("alice@evil.com#@example.com", "'@'"),
        ("alice@intranet", "full domain name"),
    ];
    for (text, hint) in invalid {
        let err = LightningAddress::parse(text).expect_err(text);
        assert_eq!(failure_of(&err), LnurlFailure::InvalidAddress, "{text}");
        assert_eq!(err.kind(), PaymentErrorKind::InvalidArgument);
        let message = err.to_string();
        assert!(message.contains(hint), "{text}: {message}");
        assert!(message.starts_with("Lightning Address "), "{message}");
    }
}

#[tokio::test]
async fn payout_to_a_lightning_address_reaches_the_holder() {
    let payout = Payout::start(LnurlServerConfig::new("alice")).await;
    let net = &payout.net;
    // The paying node charges a routing fee: the holder still gets exactly
    // the amount, the payer pays amount + fee.
    net.payer_node.set_routing_fee(500, 0);
    let address = payout.address();
    let lnurl = client();

    let params = lnurl.pay_params(&address).await.expect("params");
    assert_eq!(params.min_sendable_msat, 1_000);
    assert_eq!(params.metadata, payout.server.metadata());
    assert_eq!(
        params.description().as_deref(),
        Some("Payout to alice on holder")
    );
    let pr = lnurl.invoice(&params, PAYOUT_MSAT).await.expect("invoice");
    let decoded = net
        .payer
        .decode_payment_request(&pr)
        .await
        .expect("DecodePayReq");
    assert_eq!(decoded.destination, payout.holder.pubkey());
    assert_eq!(decoded.amount_msat, PAYOUT_MSAT);
    let metadata_hash: [u8; 32] = Sha256::digest(payout.server.metadata().as_bytes()).into();
    assert_eq!(decoded.description_hash, Some(metadata_hash));
    assert!(decoded.expires_at_unix() > decoded.timestamp_unix);
    verify_invoice(&params, PAYOUT_MSAT, &decoded).expect("honest invoice passes");

    let preimage = net
        .payer
        .pay_invoice(&pr, 500, WAIT)
        .await
        .expect("payout paid");
    assert_eq!(preimage.payment_hash(), decoded.payment_hash);
    assert_eq!(payout.holder.balance_msat(), PAYOUT_MSAT);
    assert_eq!(
        payout.net.payer_node.balance_msat(),
        PAYER_BALANCE_MSAT - PAYOUT_MSAT - 500
    );
    payout.shutdown().await;
}

#[tokio::test]
async fn invoices_for_the_wrong_amount_or_metadata_are_refused_unpaid() {
    let payout = Payout::start(LnurlServerConfig::new("mallory")).await;
    let lnurl = client();
    let params = lnurl.pay_params(&payout.address()).await.expect("params");

    for fault in [LnurlFault::WrongAmount, LnurlFault::WrongDescriptionHash] {
        payout.server.set_fault(fault.clone());
        let pr = lnurl.invoice(&params, PAYOUT_MSAT).await.expect("invoice");
        let decoded = payout
            .net
            .payer
            .decode_payment_request(&pr)
            .await
            .expect("DecodePayReq");
        let err = verify_invoice(&params, PAYOUT_MSAT, &decoded).expect_err("refused");
        assert_eq!(failure_of(&err), LnurlFailure::InvoiceMismatch, "{fault:?}");
        assert_eq!(err.kind(), PaymentErrorKind::Rejected);
        let message = err.to_string();
        assert!(message.contains("it was not paid"), "{message}");
        let detail = match fault {
            LnurlFault::WrongAmount => "asks 22000 msat instead of 21000 msat",
            _ => "description hash",
        };
        assert!(message.contains(detail), "{message}");
    }
    assert_eq!(payout.holder.balance_msat(), 0);
    assert_eq!(payout.net.payer_node.balance_msat(), PAYER_BALANCE_MSAT);
    payout.shutdown().await;
}

#[tokio::test]
async fn amounts_outside_the_range_are_refused_before_asking() {
    let config = LnurlServerConfig::new("frank").with_max_sendable_msat(50_000);
    let payout = Payout::start(config).await;
    let lnurl = client();
    let params = lnurl.pay_params(&payout.address()).await.expect("params");
    assert_eq!(params.max_sendable_msat, 50_000);

    for amount in [999, 50_001] {
        let err = lnurl
            .invoice(&params, amount)
            .await
            .expect_err("out of range");
        assert_eq!(failure_of(&err), LnurlFailure::AmountOutOfRange);
        assert_eq!(err.kind(), PaymentErrorKind::InvalidArgument);
        assert!(err.to_string().contains("1000..=50000 msat"), "{err}");
    }
    assert_eq!(payout.server.callback_requests(), 0, "nothing was asked");
    lnurl
        .invoice(&params, 50_000)
        .await
        .expect("the maximum is fine");
    assert_eq!(payout.server.callback_requests(), 1);
    payout.shutdown().await;
}

#[tokio::test]
async fn service_refusals_and_outages_say_what_happened() {
    let payout = Payout::start(LnurlServerConfig::new("grace")).await;
    let lnurl = client();
    let params = lnurl.pay_params(&payout.address()).await.expect("params");

    payout
        .server
        .set_fault(LnurlFault::Error("account suspended".into()));
    for result in [
        lnurl.pay_params(&payout.address()).await.map(|_| ()),
        lnurl.invoice(&params, PAYOUT_MSAT).await.map(|_| ()),
    ] {
        let err = result.expect_err("refused");
        assert_eq!(failure_of(&err), LnurlFailure::Refused);
        let message = err.to_string();
        assert!(message.contains("account suspended"), "{message}");
        assert!(message.contains(&payout.server.address()), "{message}");
    }

    // A user the service does not know: its 404 carries an ERROR reason.
    let domain = payout.address().domain().to_string();
    let stranger = LightningAddress::parse(&format!("nobody@{domain}")).expect("valid");
    let err = lnurl.pay_params(&stranger).await.expect_err("unknown");
    assert_eq!(failure_of(&err), LnurlFailure::Refused);
    assert!(err.to_string().contains("unknown user"), "{err}");

    // Gone: unreachable, worth retrying later.
    let address = payout.address();
    let Payout {
        net,
        holder,
        server,
        _dir,
    } = payout;
    server.shutdown().await;
    let err = lnurl.pay_params(&address).await.expect_err("gone");
    assert_eq!(failure_of(&err), LnurlFailure::Unreachable);
    assert!(err.is_temporary());
    assert!(err.to_string().contains("try again later"), "{err}");
    holder.shutdown().await.expect("holder stops");
    net.shutdown().await;
}
