//! Paid downloads through the binary: a real `shardgate serve` whose
//! `[payments]` point at a simulated LND node (TLS + macaroon) running in
//! this test process, and a second, funded node the CLI pays from with its
//! `--lnd-*` flags.

use crate::common;

use common::{Served, data, fails_with, field, ok, stderr, write};
use shardgate_lnd_sim::{SimNetwork, SimNode, SimNodeConfig};

/// The payer's funds: 1,000,000 sat.
const WALLET_MSAT: u64 = 1_000_000_000;
/// 2 sat per download + 10 sat per MiB; the test blob is 1 MiB → 12 sat.
const FLAT_MSAT: &str = "2000";
const PER_MIB_MSAT: &str = "10000";
const PRICE_MSAT: u64 = 12_000;

/// Two LND nodes on one simulated network, served by `runtime`.
struct Lightning {
    runtime: tokio::runtime::Runtime,
    broker: Option<SimNode>,
    payer: Option<SimNode>,
    _dir: tempfile::TempDir,
}

impl Lightning {
    fn start() -> Lightning {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let (broker, payer) = runtime.block_on(async {
            let network = SimNetwork::new();
            let broker =
                SimNode::start(&network, SimNodeConfig::new("broker", dir.path().join("b")))
                    .await
                    .expect("broker node");
            let payer = SimNode::start(
                &network,
                SimNodeConfig::new("payer", dir.path().join("p")).with_balance_msat(WALLET_MSAT),
            )
            .await
            .expect("payer node");
            (broker, payer)
        });
        Lightning {
            runtime,
            broker: Some(broker),
            payer: Some(payer),
            _dir: dir,
        }
    }

    fn broker(&self) -> &SimNode {
        self.broker.as_ref().expect("running")
    }

    fn payer(&self) -> &SimNode {
        self.payer.as_ref().expect("running")
    }

    /// The broker config's `[payments]` table.
    fn payments_toml(&self) -> String {
        let b = self.broker();
        format!(
            "[payments]\nlnd_endpoint = \"{}\"\nlnd_tls_cert = {:?}\nlnd_macaroon = {:?}\n",
            b.grpc_socket(),
            b.tls_cert_path().display().to_string(),
            b.macaroon_path().display().to_string()
        )
    }

    /// `--lnd-endpoint … --lnd-tls-cert … --lnd-macaroon …` of the payer.
    fn payer_flags(&self) -> Vec<String> {
        node_flags(self.payer())
    }

    /// The same flags for the broker's node (`serve` takes the same names).
    fn broker_flags(&self) -> Vec<String> {
        node_flags(self.broker())
    }
}

/// `--lnd-endpoint … --lnd-tls-cert … --lnd-macaroon …` of `node`.
fn node_flags(p: &SimNode) -> Vec<String> {
    vec![
        "--lnd-endpoint".into(),
        p.grpc_socket(),
        "--lnd-tls-cert".into(),
        p.tls_cert_path().display().to_string(),
        "--lnd-macaroon".into(),
        p.macaroon_path().display().to_string(),
    ]
}

impl Drop for Lightning {
    fn drop(&mut self) {
        let (broker, payer) = (self.broker.take(), self.payer.take());
        self.runtime.block_on(async {
            for node in [broker, payer].into_iter().flatten() {
                let _ = node.shutdown().await;
            }
        });
    }
}

/// A broker paid through `lightning`'s broker node (named in `[payments]`),
/// a tenant, and a 1 MiB blob of that tenant priced at [`PRICE_MSAT`].
fn priced_blob(lightning: &Lightning) -> (Served, String, String, Vec<u8>) {
    with_priced_blob(Served::start_with(&lightning.payments_toml()))
}

/// As [`priced_blob`] on an already started broker.
fn with_priced_blob(served: Served) -> (Served, String, String, Vec<u8>) {
    let created = ok(served.cli(&["tenant", "create", "shop"]));
    let api_key = field(&created, "api_key");
    let original = data(1 << 20);
    let input = served.path("priced.bin");
    write(&input, &original);
    let put = ok(served.cli_as(
        &api_key,
        &[
            "put",
            input.to_str().expect("utf8"),
            "--price-flat-msat",
            FLAT_MSAT,
            "--price-per-mib-msat",
            PER_MIB_MSAT,
        ],
    ));
    let blob_id = field(&put, "blob_id");
    (served, api_key, blob_id, original)
}

fn args<'a>(base: &[&'a str], extra: &'a [String]) -> Vec<&'a str> {
    base.iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .collect()
}

#[test]
fn get_pays_the_challenge_from_the_payers_node_and_the_ledger_shows_the_split() {
    let lightning = Lightning::start();
    let (served, api_key, blob_id, original) = priced_blob(&lightning);
    let out = served.path("copy.ogg");
    let out = out.to_str().expect("utf8");

    // No LND flags: one line saying what it costs and how to pay.
    let line = fails_with(
        served.cli_as(&api_key, &["get", &blob_id, "-o", out]),
        "UNAUTHENTICATED",
    );
    assert!(line.contains("payment required"), "{line}");
    assert!(line.contains("12,000 msat (12 sat)"), "{line}");
    assert!(line.contains("--lnd-endpoint"), "{line}");
    assert!(line.contains("--l402 "), "{line}");
    assert!(!served.path("copy.ogg").exists());

    let flags = lightning.payer_flags();
    // Above the cap: refused before paying, with the flag to raise it.
    let line = fails_with(
        served.cli_as(
            &api_key,
            &args(
                &["get", &blob_id, "-o", out, "--max-price-msat", "11999"],
                &flags,
            ),
        ),
        "--max-price-msat 12000",
    );
    assert!(line.contains("12,000 msat (12 sat)"), "{line}");
    assert_eq!(
        lightning.payer().balance_msat(),
        WALLET_MSAT,
        "nothing paid"
    );

    // With the payer's node: pays, downloads, verifies.
    let got = served.cli_as(&api_key, &args(&["get", &blob_id, "-o", out], &flags));
    let text = ok(got);
    assert!(text.contains("blake3 verified"), "{text}");
    assert!(text.contains("paid 12,000 msat (12 sat)"), "{text}");
    assert_eq!(std::fs::read(out).expect("copy"), original);
    assert_eq!(lightning.payer().balance_msat(), WALLET_MSAT - PRICE_MSAT);

    // The ledger: one entry, the amount split between owner, providers
    // and broker, balanced by the Lightning account.
    let ledger = ok(served.cli(&["ledger"]));
    assert_eq!(
        ledger.lines().filter(|l| !l.starts_with(' ')).count(),
        1,
        "{ledger}"
    );
    assert!(ledger.contains("debit   lightning"), "{ledger}");
    for account in ["credit  owner", "credit  provider", "credit  broker"] {
        assert!(ledger.contains(account), "{account} in {ledger}");
    }
    let earnings = ok(served.cli(&["earnings"]));
    assert!(earnings.contains("lightning"), "{earnings}");
    assert!(earnings.contains("12,000 msat (12 sat)"), "{earnings}");
    // The owner's own view, with its API key only: its OWNER account.
    let mine = ok(std::process::Command::new(common::bin())
        .arg("earnings")
        .env("SHARDGATE_BROKER", &served.url)
        .env("SHARDGATE_API_KEY", &api_key)
        .env_remove("SHARDGATE_ADMIN_KEY")
        .output()
        .expect("run earnings"));
    let rows: Vec<&str> = mine.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(rows.len(), 2, "a header and the owner row: {mine}");
    assert!(rows[1].trim_start().starts_with("owner "), "{mine}");
}

#[test]
fn invoice_pay_then_get_with_the_credential_and_payment_status() {
    let lightning = Lightning::start();
    let (served, api_key, blob_id, original) = priced_blob(&lightning);

    let invoice = ok(served.cli_as(&api_key, &["invoice", &blob_id, "--uses", "2"]));
    assert!(
        field(&invoice, "amount").starts_with("24,000 msat (24 sat)"),
        "{invoice}"
    );
    let request = field(&invoice, "payment_request");
    let hash = field(&invoice, "payment_hash");
    let token = field(&invoice, "l402_token");
    let status = ok(served.cli(&["payment-status", &hash]));
    assert!(field(&status, "state").starts_with("OPEN"), "{status}");

    let flags = lightning.payer_flags();
    let paid = ok(served.cli(&args(&["pay", &request], &flags)));
    let preimage = field(&paid, "preimage");
    assert_eq!(preimage.len(), 64, "{paid}");
    assert!(field(&paid, "fee").starts_with("0 msat"), "{paid}");
    let status = ok(served.cli(&["payment-status", &hash]));
    assert!(field(&status, "state").starts_with("SETTLED"), "{status}");

    let credential = format!("{token}:{preimage}");
    for _ in 0..2 {
        let out = served.cli_as(&api_key, &["get", &blob_id, "--l402", &credential]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(out.stdout, original);
    }
    // Two uses bought, two spent: refused with a fresh challenge.
    let line = fails_with(
        served.cli_as(&api_key, &["get", &blob_id, "--l402", &credential]),
        "UNAUTHENTICATED",
    );
    assert!(
        line.starts_with("error: the credential was refused"),
        "{line}"
    );
}

#[test]
fn a_hold_invoice_is_settled_only_after_the_download() {
    let lightning = Lightning::start();
    // The broker's node comes from serve's flags, not from the file.
    let served = Served::start_with_flags("", &lightning.broker_flags());
    let (served, api_key, blob_id, original) = with_priced_blob(served);
    let out = served.path("film-copy.mkv");
    let out = out.to_str().expect("utf8");
    let flags = lightning.payer_flags();
    let got = ok(served.cli_as(
        &api_key,
        &args(&["get", &blob_id, "-o", out, "--hold"], &flags),
    ));
    assert!(
        got.contains("hold invoice, settled after delivery"),
        "{got}"
    );
    assert_eq!(std::fs::read(out).expect("copy"), original);
    assert_eq!(lightning.payer().balance_msat(), WALLET_MSAT - PRICE_MSAT);
}

/// Prepaid credit and money out through the binary: `credit buy` pays from
/// the payer's node and prints the credential; `get --credit` downloads
/// until the balance runs out (then the download's own challenge, naming
/// the balance); the owner withdraws with `withdraw --amount-msat` to an
/// invoice made on its node, and the operator pays a provider.
#[test]
fn credit_pays_downloads_and_the_owner_withdraws_to_its_node() {
    let lightning = Lightning::start();
    let (served, api_key, blob_id, original) = priced_blob(&lightning);
    let flags = lightning.payer_flags();

    let bought = ok(served.cli(&args(&["credit", "buy", "24000"], &flags)));
    let credential = field(&bought, "credential");
    assert!(credential.contains(':'), "{bought}");
    assert_eq!(lightning.payer().balance_msat(), WALLET_MSAT - 24_000);
    for _ in 0..2 {
        let out = served.cli_as(&api_key, &["get", &blob_id, "--credit", &credential]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(out.stdout, original);
    }
    assert_eq!(
        lightning.payer().balance_msat(),
        WALLET_MSAT - 24_000,
        "no payment per download"
    );
    let line = fails_with(
        served.cli_as(&api_key, &["get", &blob_id, "--credit", &credential]),
        "UNAUTHENTICATED",
    );
    assert!(line.contains("holds 0 msat"), "{line}");
    let balance = ok(served.cli(&["credit", "balance", "--credit", &credential]));
    assert!(
        field(&balance, "balance").starts_with("0 msat"),
        "{balance}"
    );

    // The owner earned 70 % of two 12 sat downloads: 16,800 msat.
    let owner = |args: &[&str]| {
        std::process::Command::new(common::bin())
            .args(args)
            .env("SHARDGATE_BROKER", &served.url)
            .env("SHARDGATE_API_KEY", &api_key)
            .env_remove("SHARDGATE_ADMIN_KEY")
            .output()
            .expect("run shardgate")
    };
    let before = lightning.payer().balance_msat();
    let withdrawn = ok(owner(&args(&["withdraw", "--amount-msat", "5000"], &flags)));
    assert!(
        field(&withdrawn, "state").starts_with("succeeded"),
        "{withdrawn}"
    );
    assert_eq!(lightning.payer().balance_msat(), before + 5_000);
    let earnings = ok(owner(&["earnings"]));
    assert!(earnings.contains("11,800 msat"), "{earnings}");
    // More than is left: refused, with the balance.
    let line = fails_with(
        owner(&args(&["withdraw", "--amount-msat", "11800"], &flags)),
        "FAILED_PRECONDITION",
    );
    assert!(line.contains("holds 11800 msat"), "{line}");
    // A tenant cannot name another account.
    let line = fails_with(
        owner(&args(
            &["withdraw", "--amount-msat", "1000", "--account", "broker"],
            &flags,
        )),
        "PERMISSION_DENIED",
    );
    assert!(line.contains("own OWNER account"), "{line}");
    // The ledger lists the payout's two steps.
    let ledger = ok(served.cli(&["ledger"]));
    assert!(ledger.contains("payout started"), "{ledger}");
    assert!(ledger.contains("payout succeeded"), "{ledger}");
    assert!(ledger.contains("credit purchase"), "{ledger}");
}
