//! `shardgate dev`: a complete broker with nothing to install — redb index,
//! three local directories as providers, generated keys, a dev tenant —
//! then a scripted round trip that shows where the bytes went.

mod lightning;
mod money;
mod payments;
mod round_trip;
mod setup;
mod shards;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use shardgate_client::{Client, PaymentPolicy};

use self::lightning::DevLightning;
use self::round_trip::{check_range, download_path, generate, options, round_trip};
use self::setup::{DevKeys, PROVIDERS, RunningBroker, TENANT, broker_config, dev_tenant_key};
use crate::args::DevArgs;
use crate::human;
use crate::upload::upload;

/// Where the generated and downloaded files go, inside the dev directory.
const WORK: &str = "work";
const SAMPLE_NAME: &str = "sample.bin";
/// Largest generated sample (held in memory).
const MAX_SAMPLE: u64 = 1 << 30;

/// `shardgate dev`.
pub(crate) async fn run(args: DevArgs) -> anyhow::Result<()> {
    // The sample is kept in memory for the byte comparisons.
    if args.sample_size == 0 || args.sample_size > MAX_SAMPLE {
        bail!("--sample-size must be 1 byte ..= 1 GiB (use --file for bigger files)");
    }
    // The temporary directory lives as long as this function: removed on
    // exit unless the user chose a directory.
    let (temp, dir) = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            (None, std::path::absolute(dir)?)
        }
        None => {
            let temp = tempfile::Builder::new()
                .prefix("shardgate-dev-")
                .tempdir()?;
            let dir = temp.path().to_path_buf();
            (Some(temp), dir)
        }
    };
    let work = dir.join(WORK);
    std::fs::create_dir_all(&work)?;
    let keys = DevKeys::load_or_create(&dir)?;

    println!("shardgate dev: a complete broker on this machine, no external service");
    println!(
        "  directory   {}{}",
        dir.display(),
        if temp.is_some() {
            " (temporary; --dir DIR keeps it)"
        } else {
            ""
        }
    );
    println!("  index       redb in {}", dir.join("index").display());
    println!(
        "  providers   {} (local directories standing in for three clouds)",
        PROVIDERS.join(", ")
    );
    let lightning = DevLightning::start(&dir).await?;
    let (broker_node, wallet_node) = lightning.sockets();
    println!(
        "  lightning   two LND nodes (lnd-sim: LND's gRPC over TLS + macaroon): broker {broker_node}, wallet {wallet_node} with {} sat",
        human::sat(lightning::WALLET_MSAT)
    );
    let broker = match RunningBroker::start(broker_config(&dir, &keys, &lightning)).await {
        Ok(broker) => broker,
        Err(e) => {
            let _ = lightning.stop().await;
            return Err(e);
        }
    };
    println!(
        "  broker      {} (health: SERVING), payments through its LND node {broker_node}",
        broker.url
    );

    let outcome = script(&args, &dir, &work, &keys, &broker, &lightning).await;
    if let (Ok(api_key), true) = (&outcome, args.keep) {
        keep_serving(&broker, api_key, &keys, &lightning).await;
    }
    let stopped = broker.stop().await;
    let _ = lightning.stop().await;
    outcome?;
    stopped?;
    drop(temp);
    Ok(())
}

/// The numbered steps; returns the dev tenant's API key.
async fn script(
    args: &DevArgs,
    dir: &Path,
    work: &Path,
    keys: &DevKeys,
    broker: &RunningBroker,
    lightning: &DevLightning,
) -> anyhow::Result<String> {
    // One connection: the operator (admin key, every account) and the
    // dev tenant share it.
    let operator = Client::builder(broker.url.as_str())
        .admin_key(keys.admin_key.as_str())
        .connect()
        .await?;
    let api_key = dev_tenant_key(&operator).await?;
    let tenant = operator.with_api_key(&api_key)?;
    // Downloads pay from the wallet node whenever the broker asks.
    let payment = PaymentPolicy::pay_with(lightning.wallet.clone(), lightning::MAX_PRICE_MSAT);
    println!("  tenant      {TENANT} (API key issued; shown with --keep)");

    let sample = work.join(SAMPLE_NAME);
    let original = generate(&sample, args.sample_size)?;
    // Four steps, five with --file.
    let total = if args.file.is_some() { 6 } else { 5 };
    println!(
        "\n[1/{total}] upload and download {SAMPLE_NAME}: {} of generated data",
        human::size(args.sample_size)
    );
    let trip = round_trip(
        &tenant,
        &payment,
        &sample,
        SAMPLE_NAME,
        &download_path(work, SAMPLE_NAME),
    )
    .await?;
    let blob_id = trip.up.response.blob_id.clone();
    let chunk_size = u64::from(tenant.stat(&blob_id).await?.chunk_size_bytes);
    check_range(&tenant, &payment, &blob_id, &original, chunk_size).await?;

    println!("\n[2/{total}] dedup: chunks already stored are not written again");
    dedup(&tenant, dir, work, &sample, &original).await?;

    println!("\n[3/{total}] where the shards went (read from the provider directories)");
    let (manifest, placements) = shards::placements(&tenant, dir, &blob_id).await?;
    shards::print_report(dir, &manifest, &placements)?;
    let chunk_len = usize::try_from(chunk_size)?;
    if !shards::no_plaintext_in_shards(&original, chunk_len, &placements)? {
        bail!("a shard object contains plaintext of its chunk");
    }
    let (k, m) = (manifest.params().k(), manifest.params().m());
    println!(
        "  every chunk: {} shards on {} different providers; any {k} rebuild it, so any {m} provider(s) can vanish",
        k + m,
        k + m
    );
    println!(
        "  no shard object contains its chunk's plaintext (checked a 32-byte sample per chunk)"
    );

    let mut step = 4;
    if let Some(file) = &args.file {
        println!("\n[{step}/{total}] your file {}", file.display());
        own_file(&tenant, &payment, work, file).await?;
        step += 1;
    }

    println!("\n[{step}/{total}] a paid download over Lightning (L402)");
    let (priced, priced_bytes) =
        payments::paid_round_trip(&tenant, &operator, lightning, dir, work).await?;

    println!(
        "\n[{}/{total}] prepaid credit, and the owner's earnings withdrawn",
        step + 1
    );
    money::credit_and_withdrawal(&tenant, lightning, &priced, &priced_bytes).await?;

    println!(
        "\nround trip verified: {} up and back, byte-identical, BLAKE3 {}",
        human::size(trip.down.bytes),
        trip.content_hash
    );
    Ok(api_key)
}

/// Uploads the same file again (everything deduplicated), then a copy
/// whose last chunk changed (only that chunk is written).
async fn dedup(
    tenant: &Client,
    dir: &Path,
    work: &Path,
    sample: &Path,
    original: &[u8],
) -> anyhow::Result<()> {
    let before = shards::total_objects(dir)?;
    let again = upload(tenant, options(SAMPLE_NAME), sample).await?.response;
    let after = shards::total_objects(dir)?;
    println!(
        "  same file again   {} of {} chunks already stored, {} new shard objects{}",
        again.chunks_deduplicated,
        again.chunk_count,
        after - before,
        if again.already_existed {
            " (same blob id: you already own it)"
        } else {
            ""
        }
    );
    let edited_path = work.join("sample-edited.bin");
    let mut edited = original.to_vec();
    // Change the last byte: only the last chunk's content differs.
    if let Some(last) = edited.last_mut() {
        *last ^= 0xff;
    }
    std::fs::write(&edited_path, &edited)?;
    let before = after;
    let changed = upload(tenant, options("sample-edited.bin"), &edited_path)
        .await?
        .response;
    let after = shards::total_objects(dir)?;
    println!(
        "  last byte edited  {} of {} chunks already stored, {} new shard objects (blob {}…)",
        changed.chunks_deduplicated,
        changed.chunk_count,
        after - before,
        &changed.blob_id[..12]
    );
    Ok(())
}

/// `--file`: the user's own file through the same round trip.
async fn own_file(
    tenant: &Client,
    payment: &PaymentPolicy,
    work: &Path,
    file: &Path,
) -> anyhow::Result<()> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .context("--file has no file name")?;
    let back: PathBuf = download_path(work, &name);
    round_trip(tenant, payment, file, &name, &back).await?;
    Ok(())
}

/// `--keep`: connection details, then serve until ctrl-c / SIGTERM.
async fn keep_serving(
    broker: &RunningBroker,
    api_key: &str,
    keys: &DevKeys,
    lightning: &DevLightning,
) {
    println!("\nthe broker keeps running; from another terminal:");
    println!("  export SHARDGATE_BROKER={}", broker.url);
    println!("  export SHARDGATE_API_KEY={api_key}");
    println!("  export SHARDGATE_ADMIN_KEY={}", keys.admin_key);
    for line in lightning.wallet_exports() {
        println!("  {line}");
    }
    println!("  shardgate put ./some-file --price-per-mib-msat 10000");
    println!("  shardgate ls");
    println!("  shardgate get <blob id> -o copy      # pays from the dev wallet node");
    println!("  shardgate earnings");
    println!("  shardgate ledger");
    println!("  shardgate providers ls");
    println!("metrics: {}", broker.metrics_url);
    println!("share links open at {}/s/…", broker.gateway_url);
    println!("press ctrl-c to stop");
    crate::serve::shutdown_signal().await;
}
