//! `shardgate get`: streams Storage.Get to a file or stdout, checks the
//! length and, for a whole blob, the BLAKE3 content hash.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use shardgate_proto::v1 as pb;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::arg_values::parse_range;
use crate::args::GetArgs;
use crate::connect::Tenant;
use crate::failure;
use crate::human;
use crate::payer::Payer;
use crate::progress::Transfer;
use crate::purchase::{self, Payment, Purchase};

/// What a download delivered.
pub(crate) struct Downloaded {
    pub header: pb::GetHeader,
    pub bytes: u64,
    pub elapsed: Duration,
    /// True when the whole blob was fetched and its BLAKE3 matched.
    pub hash_verified: bool,
    /// What was paid for it, if anything was paid.
    pub purchase: Option<Purchase>,
}

/// `shardgate get`.
pub(crate) async fn command(args: GetArgs) -> anyhow::Result<()> {
    let range = args.range.as_deref().map(parse_range).transpose()?;
    // The payer's flags are checked (and its files read) before any call.
    let payer = Payer::from_args(&args.payer).await?;
    let mut tenant = Tenant::connect(&args.conn).await?;
    let to_file = args
        .output
        .as_ref()
        .filter(|p| p.as_path() != Path::new("-"));
    // Like curl: binary bytes on a terminal are never what was meant.
    if args.output.is_none() && std::io::stdout().is_terminal() {
        bail!("not writing blob bytes to a terminal: pass -o FILE (or -o - to insist)");
    }
    let payment = Payment {
        credential: args.l402.clone(),
        payer,
        hold: args.hold,
        uses: args.uses.unwrap_or(0),
        announce: true,
    };
    let done = download(
        &mut tenant,
        &args.blob_id,
        range,
        &payment,
        to_file.map(PathBuf::as_path),
    )
    .await?;
    let mut lines = vec![summary(&done, to_file.map(PathBuf::as_path))];
    if let Some(bought) = &done.purchase {
        lines.push(paid_line(bought, done.header.uses_remaining));
    }
    for line in lines {
        // With the data on stdout, the summary must not mix into it.
        if to_file.is_some() {
            println!("{line}");
        } else {
            eprintln!("{line}");
        }
    }
    Ok(())
}

/// What the download cost, and the credential when uses are left.
fn paid_line(bought: &Purchase, uses_remaining: u32) -> String {
    let kind = if bought.hold {
        "hold invoice, settled after delivery"
    } else {
        "invoice settled"
    };
    let mut line = format!(
        "paid {}: {kind}, payment hash {}",
        human::msat(bought.amount_msat),
        bought.payment_hash
    );
    if uses_remaining > 0
        && let Some(credential) = bought.credential()
    {
        line.push_str(&format!(
            "; {uses_remaining} more download(s) with --l402 {credential}"
        ));
    }
    line
}

fn summary(done: &Downloaded, to: Option<&Path>) -> String {
    let range = done.header.range.unwrap_or_default();
    let target = to.map_or_else(|| "stdout".to_owned(), |p| p.display().to_string());
    let check = if done.hash_verified {
        "blake3 verified"
    } else {
        "partial range: length verified"
    };
    format!(
        "wrote {} (bytes {}..{}) to {target} in {} ({}), {check}",
        human::size(done.bytes),
        range.offset,
        range.offset + range.length,
        human::seconds(done.elapsed),
        human::rate(done.bytes, done.elapsed),
    )
}

/// Downloads into `output` (a `.part` file renamed on success) or stdout.
pub(crate) async fn download(
    tenant: &mut Tenant,
    blob_id: &str,
    range: Option<pb::ByteRange>,
    payment: &Payment,
    output: Option<&Path>,
) -> anyhow::Result<Downloaded> {
    match output {
        None => {
            let mut stdout = tokio::io::stdout();
            let done = fetch(tenant, blob_id, range, payment, &mut stdout).await?;
            stdout.flush().await?;
            Ok(done)
        }
        Some(path) => {
            let mut part = path.as_os_str().to_owned();
            part.push(".part");
            let part = PathBuf::from(part);
            let mut file = tokio::fs::File::create(&part)
                .await
                .with_context(|| format!("cannot create {}", part.display()))?;
            let result = async {
                let done = fetch(tenant, blob_id, range, payment, &mut file).await?;
                file.sync_all().await?;
                Ok::<_, anyhow::Error>(done)
            }
            .await;
            match result {
                Ok(done) => {
                    tokio::fs::rename(&part, path)
                        .await
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    Ok(done)
                }
                Err(e) => {
                    // An incomplete download must not look like a file.
                    let _ = tokio::fs::remove_file(&part).await;
                    Err(e)
                }
            }
        }
    }
}

/// Streams a Get into `out`, paying first if `payment` allows; checks the
/// length, and the BLAKE3 of a whole blob.
pub(crate) async fn fetch(
    tenant: &mut Tenant,
    blob_id: &str,
    range: Option<pb::ByteRange>,
    payment: &Payment,
    out: &mut (impl AsyncWrite + Unpin),
) -> anyhow::Result<Downloaded> {
    let request = pb::GetRequest {
        blob_id: blob_id.to_owned(),
        range,
        ..Default::default()
    };
    let started = Instant::now();
    let mut opened = purchase::open(tenant, request, payment).await?;
    let header = opened.header.clone();
    let served = header.range.unwrap_or_default();
    let blob = header.blob.clone().unwrap_or_default();
    let whole = served.offset == 0 && served.length == blob.size_bytes;
    let progress = Transfer::start("download", Some(served.length));
    let mut hasher = blake3::Hasher::new();
    let mut bytes = 0u64;
    while let Some(message) = opened.stream.message().await.map_err(failure::status)? {
        let Some(pb::get_response::Frame::Data(data)) = message.frame else {
            bail!("the broker sent a second header mid-download");
        };
        if whole {
            hasher.update(&data);
        }
        out.write_all(&data)
            .await
            .context("writing the output failed")?;
        bytes += data.len() as u64;
        progress.advance(data.len() as u64);
    }
    progress.finish();
    if bytes != served.length {
        bail!(
            "the download ended after {bytes} of {} bytes; retry with --range {}-",
            served.length,
            served.offset + bytes
        );
    }
    if whole && hasher.finalize().to_hex().as_str() != blob.content_hash {
        bail!(
            "downloaded bytes do not match the blob's content hash {}",
            blob.content_hash
        );
    }
    opened.finish().await?;
    Ok(Downloaded {
        header,
        bytes,
        elapsed: started.elapsed(),
        hash_verified: whole,
        purchase: opened.purchase,
    })
}
