//! Payments load (issue #5), everything over loopback against the LND
//! simulator (TLS + macaroon, the broker's real client):
//!
//! * AddInvoice through [`LightningNode`]: invoices created per second;
//! * LookupInvoice through [`LightningNode`]: p50/p99 of sequential calls
//!   (the LND round trip every paid download makes);
//! * L402 `authorization` parse + verify: credentials per second, one core;
//! * through the real `shardgate serve` binary with `[payments]`:
//!   Payments.CreateInvoice per second, and the time to first byte of a
//!   Get of a paid blob (L402 credential, paid invoice with enough uses)
//!   against a free blob of the same size, interleaved, p50/p99 — the
//!   latency the payment check adds (target: < 5 ms at p99);
//! * the same with prepaid credit (one credit bought beforehand, no
//!   Lightning call per download; target: ≤ 1 ms added at p99), and
//!   downloads per second on credit against one invoice per download
//!   (create, pay, download).
//!
//! ```text
//! cargo run --release -p shardgate-benches --bin payments_load
//! cargo run --release -p shardgate-benches --bin payments_load -- --n 2000 --concurrency 16
//! ```

use std::time::{Duration, Instant};

use shardgate_client::{Client, ClientError, GetOptions, PaymentPolicy, pb};
use shardgate_core::ContentId;
use shardgate_payments::l402::header::authorization;
use shardgate_payments::lnd::{LndConfig, MacaroonSource, TlsCertSource};
use shardgate_payments::{
    AccessRequest, L402Keys, LightningNode, PaidRange, Preimage, TokenClaims, parse_authorization,
};
use shardgate_tests::broker_process::{BrokerProcess, ProviderSpec};
use shardgate_tests::lightning::{Lightning, PaidBroker, upload_priced};

type Failure = Box<dyn std::error::Error>;

/// Size of both downloaded blobs: one chunk, so the first byte waits for
/// the gate and one chunk's shards, not for bulk transfer.
const BLOB_BYTES: usize = 64 * 1024;
/// Price of the paid blob, msat per download.
const PRICE_FLAT_MSAT: u64 = 1_000;
/// Credentials parsed and verified in the L402 measurement.
const VERIFY_ROUNDS: u32 = 200_000;
/// Calls made before measuring (connections, caches, the first ledger
/// entry of the paid invoice).
const WARM_UP: usize = 50;
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

struct Args {
    /// Samples per measurement.
    n: usize,
    /// Calls in flight for the rate measurements.
    concurrency: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        n: 2_000,
        concurrency: 16,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .filter(|&v: &usize| v > 0)
                .ok_or_else(|| format!("{name} needs a positive number"))
        };
        match arg.as_str() {
            "--n" => args.n = number("--n")?,
            "--concurrency" => args.concurrency = number("--concurrency")?,
            "--bench" => {} // passed by `cargo bench`
            other => {
                return Err(format!(
                    "unknown argument {other:?} (--n N, --concurrency C)"
                ));
            }
        }
    }
    Ok(args)
}

/// p50 and p99 of `samples` (sorted in place).
fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let at = |p: usize| samples[(samples.len() * p / 100).min(samples.len() - 1)];
    (at(50), at(99))
}

fn per_second(count: usize, took: Duration) -> f64 {
    count as f64 / took.as_secs_f64()
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("payments_load: {message}");
            std::process::exit(2);
        }
    };
    if let Err(err) = run(&args).await {
        eprintln!("payments_load failed: {err}");
        std::process::exit(1);
    }
}

async fn run(args: &Args) -> Result<(), Failure> {
    println!(
        "payments_load: {} samples per figure, {} calls in flight for rates, loopback, lnd-sim over TLS",
        args.n, args.concurrency
    );
    let lightning = Lightning::start().await?;
    let node = connect(&lightning).await?;
    node.get_info().await?;

    let (rate, sequential_p50) = add_invoice_rate(&node, args).await?;
    println!(
        "AddInvoice via LightningNode:           {rate:>9.0} invoices/s ({} in flight); one at a time p50 {sequential_p50:.2?}",
        args.concurrency
    );
    let (p50, p99) = lookup_latency(&node, args.n).await?;
    println!(
        "LookupInvoice via LightningNode:        p50 {p50:.2?}, p99 {p99:.2?} ({} sequential calls)",
        args.n
    );
    let verified = verify_rate();
    println!(
        "L402 parse + verify:                    {verified:>9.0} credentials/s (one core, {VERIFY_ROUNDS} rounds)"
    );

    // Enough uses on one invoice for every paid download below.
    let uses = (WARM_UP + args.n).to_string();
    // The abuse limits (`[limits]`) would cap what is measured here at
    // their defaults (100 invoices/s node-wide, 600 per minute and 500
    // requests/s per address): this one client measures the broker itself.
    let limits = "[limits]\nrequests_per_second_per_address = 0\nrequests_per_second_per_tenant = 0\n\
                  invoices_per_minute_per_address = 1000000\ninvoices_per_minute_per_tenant = 1000000\n\
                  node_invoices_per_second = 100000\n";
    let paid =
        PaidBroker::start_on(lightning, &[("max_invoice_uses", uses.as_str())], limits).await?;
    // Dropping `paid` stops the broker process and the nodes.
    broker_figures(&paid, args).await
}

/// A client of the broker's node, as the broker itself connects.
async fn connect(lightning: &Lightning) -> Result<LightningNode, Failure> {
    let node = lightning.broker_node();
    let config = LndConfig::new(
        node.grpc_socket(),
        TlsCertSource::File(node.tls_cert_path().to_path_buf()),
        MacaroonSource::File(node.macaroon_path().to_path_buf()),
    )
    .with_call_timeout(CALL_TIMEOUT);
    Ok(LightningNode::connect(&config).await?)
}

/// Invoices per second with `concurrency` calls in flight, and the p50 of
/// one-at-a-time calls.
async fn add_invoice_rate(node: &LightningNode, args: &Args) -> Result<(f64, Duration), Failure> {
    let expiry = Duration::from_secs(3600);
    let mut sequential = Vec::with_capacity(args.n.min(500));
    for _ in 0..args.n.min(500) {
        let started = Instant::now();
        node.add_invoice(1_000, "payments_load", expiry).await?;
        sequential.push(started.elapsed());
    }
    let (p50, _) = percentiles(&mut sequential);

    let per_task = args.n.div_ceil(args.concurrency);
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let node = node.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    node.add_invoice(1_000, "payments_load", expiry).await?;
                }
                Ok::<_, shardgate_payments::PaymentError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok((
        per_second(per_task * args.concurrency, started.elapsed()),
        p50,
    ))
}

async fn lookup_latency(node: &LightningNode, n: usize) -> Result<(Duration, Duration), Failure> {
    let invoice = node
        .add_invoice(1_000, "lookup", Duration::from_secs(3600))
        .await?;
    for _ in 0..WARM_UP {
        node.lookup_invoice(&invoice.payment_hash).await?;
    }
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        node.lookup_invoice(&invoice.payment_hash).await?;
        took.push(started.elapsed());
    }
    Ok(percentiles(&mut took))
}

/// What the broker does with each `authorization` value before asking
/// LND: parse, then verify signature, caveats and preimage.
fn verify_rate() -> f64 {
    let keys = L402Keys::from_root_key([7; 32]);
    let preimage = Preimage([9; 32]);
    // The credential the TTFB measurement below uses: the whole blob, many uses.
    let whole = PaidRange {
        offset: 0,
        length: BLOB_BYTES as u64,
    };
    let blob = ContentId::of(b"payments_load");
    let claims = TokenClaims {
        payment_hash: preimage.payment_hash(),
        blob,
        range: whole,
        expires_at_unix: u64::MAX,
        uses: u32::MAX,
        share: None,
    };
    let token = keys.mint(&claims).expect("a fixed valid claim mints");
    let value = authorization(&token, Some(&preimage));
    let now_unix = 1_900_000_000;
    let started = Instant::now();
    for _ in 0..VERIFY_ROUNDS {
        let credential = parse_authorization(std::hint::black_box(&value)).expect("parses");
        let request = AccessRequest {
            blob,
            range: whole,
            now_unix,
            share: None,
        };
        keys.verify(&credential, &request).expect("verifies");
    }
    per_second(VERIFY_ROUNDS as usize, started.elapsed())
}

async fn broker_figures(paid: &PaidBroker, args: &Args) -> Result<(), Failure> {
    // With `[payments]` every download is paid (even a zero price buys at
    // `min_invoice_msat`), so the free baseline is a second broker, same
    // binary and provider layout, without `[payments]`.
    let bytes: Vec<u8> = (0..BLOB_BYTES).map(|i| (i % 251) as u8).collect();
    let free_dir = tempfile::tempdir()?;
    let free_providers: Vec<ProviderSpec> = (0..3)
        .map(|i| ProviderSpec::fs(&format!("fs{i}"), free_dir.path().join(format!("fs{i}"))))
        .collect();
    let free_broker = BrokerProcess::start(&free_providers, "").await?;
    let (_, free_key) = free_broker.create_tenant("owner", None).await?;
    let free_storage = free_broker.client().await?;
    let free_blob = upload_priced(&free_storage, &free_key, "free", &bytes, (0, 0), true).await?;
    let paid_blob = paid
        .upload("paid", &bytes, (PRICE_FLAT_MSAT, 0), true)
        .await;

    let rate = create_invoice_rate(paid, &paid_blob, args).await?;
    println!(
        "Payments.CreateInvoice via the broker:  {rate:>9.0} invoices/s ({} in flight)",
        args.concurrency
    );

    // One invoice paid for every paid download (warm-up included).
    let invoice = paid
        .client()
        .await
        .create_invoice(pb::CreateInvoiceRequest {
            blob_id: paid_blob.clone(),
            uses: u32::try_from(WARM_UP + args.n)?,
            ..Default::default()
        })
        .await?;
    let preimage = paid.lightning.pay(&invoice.payment_request).await?;
    // `TOKEN:PREIMAGE`, presented by the SDK as `authorization: L402 …`.
    let credential = format!("{}:{}", invoice.l402_token, preimage.to_hex());

    // Prepaid credit for every credit download below (warm-up and the
    // rate measurement included), bought and funded before measuring.
    let storage = paid.client().await;
    let price = invoice.amount_msat / u64::try_from(WARM_UP + args.n)?;
    let credit_downloads = 2 * (WARM_UP + args.n);
    let sold = storage
        .buy_credit(price * u64::try_from(credit_downloads)?)
        .await?;
    let credit_preimage = paid.lightning.pay(&sold.payment_request).await?;
    let credit = format!("{}:{}", sold.l402_token, credit_preimage.to_hex());
    storage.credit_balance(&credit).await?;

    let (mut free, mut priced, mut prepaid) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..WARM_UP + args.n {
        let f = first_byte(&free_storage, &free_blob, None)
            .await
            .map_err(|e| format!("free Get #{i}: {e}"))?;
        let p = first_byte(&storage, &paid_blob, Some(&credential))
            .await
            .map_err(|e| format!("paid Get #{i}: {e}"))?;
        let c = first_byte(&storage, &paid_blob, Some(&credit))
            .await
            .map_err(|e| format!("credit Get #{i}: {e}"))?;
        if i >= WARM_UP {
            free.push(f);
            priced.push(p);
            prepaid.push(c);
        }
    }
    let (free50, free99) = percentiles(&mut free);
    let (paid50, paid99) = percentiles(&mut priced);
    let (credit50, credit99) = percentiles(&mut prepaid);
    println!(
        "Get first byte, free {} KiB blob:       p50 {free50:.2?}, p99 {free99:.2?} ({} downloads, broker without [payments])",
        BLOB_BYTES / 1024,
        args.n
    );
    println!(
        "Get first byte, paid (L402) blob:       p50 {paid50:.2?}, p99 {paid99:.2?} (interleaved with the free ones)"
    );
    println!(
        "added by the payment check:             p50 {:.2?}, p99 {:.2?} (target < 5 ms at p99)",
        paid50.saturating_sub(free50),
        paid99.saturating_sub(free99)
    );
    println!(
        "Get first byte, prepaid credit:         p50 {credit50:.2?}, p99 {credit99:.2?} (interleaved)"
    );
    println!(
        "added by prepaid credit:                p50 {:.2?}, p99 {:.2?} (target <= 1 ms at p99)",
        credit50.saturating_sub(free50),
        credit99.saturating_sub(free99)
    );

    let on_credit = download_rate(&storage, &paid_blob, args, |_| {
        let credit = credit.clone();
        async move { Ok(credit) }
    })
    .await?;
    let lightning = &paid.lightning;
    let per_invoice = download_rate(&storage, &paid_blob, args, |client| {
        let blob = paid_blob.clone();
        async move {
            let invoice = client
                .create_invoice(pb::CreateInvoiceRequest {
                    blob_id: blob,
                    uses: 1,
                    ..Default::default()
                })
                .await?;
            let preimage = lightning.pay(&invoice.payment_request).await?;
            Ok(format!("{}:{}", invoice.l402_token, preimage.to_hex()))
        }
    })
    .await?;
    println!(
        "downloads/s, prepaid credit:            {on_credit:>9.0} ({} in flight, {} KiB each)",
        args.concurrency,
        BLOB_BYTES / 1024
    );
    println!(
        "downloads/s, one invoice per download:  {per_invoice:>9.0} (create, pay over Lightning, download; credit serves {}x as many)",
        format_args!("{:.1}", on_credit / per_invoice.max(f64::MIN_POSITIVE))
    );
    Ok(())
}

/// Downloads of `blob` per second, `args.n` in all with `args.concurrency`
/// in flight; `credential` gives each download its `TOKEN:PREIMAGE`
/// (bought inside the measurement when that is what is measured).
async fn download_rate<F, Fut>(
    client: &Client,
    blob: &str,
    args: &Args,
    credential: F,
) -> Result<f64, Failure>
where
    F: Fn(Client) -> Fut,
    Fut: std::future::Future<Output = Result<String, Failure>>,
{
    let per_task = args.n.div_ceil(args.concurrency);
    let started = Instant::now();
    let runs = (0..args.concurrency).map(|_| async {
        for _ in 0..per_task {
            let credential = credential(client.clone()).await?;
            first_byte(client, blob, Some(&credential)).await?;
        }
        Ok::<_, Failure>(())
    });
    for result in futures::future::join_all(runs).await {
        result?;
    }
    Ok(per_second(per_task * args.concurrency, started.elapsed()))
}

async fn create_invoice_rate(paid: &PaidBroker, blob: &str, args: &Args) -> Result<f64, Failure> {
    let client = paid.client().await;
    let request = pb::CreateInvoiceRequest {
        blob_id: blob.to_owned(),
        uses: 1,
        ..Default::default()
    };
    for _ in 0..WARM_UP {
        client.create_invoice(request.clone()).await?;
    }
    let per_task = args.n.div_ceil(args.concurrency);
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let client = client.clone();
            let request = request.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    client.create_invoice(request.clone()).await?;
                }
                Ok::<_, ClientError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(per_second(per_task * args.concurrency, started.elapsed()))
}

/// Time from sending a Get (through the SDK, which never pays here: the
/// credential is bought beforehand) until its first data chunk; the rest
/// is read (and checked by the SDK: length and content hash) outside the
/// measurement.
async fn first_byte(
    client: &Client,
    blob: &str,
    credential: Option<&str>,
) -> Result<Duration, Failure> {
    let mut payment = PaymentPolicy::none();
    if let Some(credential) = credential {
        payment = payment.credential(credential);
    }
    let options = GetOptions {
        payment,
        ..GetOptions::default()
    };
    let started = Instant::now();
    let mut download = client.get(blob, &options).await?;
    let mut first = None;
    let mut received = 0;
    while let Some(piece) = download.next_chunk().await? {
        first.get_or_insert_with(|| started.elapsed());
        received += piece.len();
    }
    if received != BLOB_BYTES {
        return Err(format!("Get of {blob} delivered {received} of {BLOB_BYTES} bytes").into());
    }
    first.ok_or_else(|| "Get delivered no data frame".into())
}
