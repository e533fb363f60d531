//! `shardgate get`: a download through the SDK to a file or stdout. The
//! SDK checks the length, a whole blob's BLAKE3 content hash, and (with a
//! file key) every end-to-end chunk before its plaintext is written.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use shardgate_client::{Client, Downloaded, GetOptions, Purchase, parse_file_key};

use crate::arg_values::parse_range;
use crate::args::GetArgs;
use crate::clients;
use crate::human;
use crate::key_file;
use crate::paying;
use crate::progress::Transfer;

/// `shardgate get`.
pub(crate) async fn command(args: GetArgs) -> anyhow::Result<()> {
    if crate::share_get::is_link(&args.blob_id) {
        return crate::share_get::command(args).await;
    }
    let range = args.range.as_deref().map(parse_range).transpose()?;
    let file_key = match (&args.key, &args.key_file) {
        (Some(hex), _) => Some(parse_file_key(hex).context("--key")?),
        (None, Some(path)) => Some(key_file::read(path)?),
        (None, None) => None,
    };
    // The payer's flags are checked (and its files read) before any call.
    let payer = paying::payer(&args.payer).await?;
    let client = clients::tenant(&args.conn).await?;
    let to_file = args
        .output
        .as_ref()
        .filter(|p| p.as_path() != Path::new("-"));
    // Like curl: binary bytes on a terminal are never what was meant.
    if args.output.is_none() && std::io::stdout().is_terminal() {
        bail!("not writing blob bytes to a terminal: pass -o FILE (or -o - to insist)");
    }
    let max_price_msat = args.payer.max_price_msat;
    let end_to_end = file_key.is_some();
    let options = GetOptions {
        range: range.map(|r| (r.offset, r.length)),
        payment: paying::policy(
            args.l402.as_deref().or(args.credit.as_deref()),
            payer,
            max_price_msat,
        )
        .hold(args.hold)
        .uses(args.uses.unwrap_or(0)),
        file_key,
        progress: None,
    };
    let done = download(
        &client,
        &args.blob_id,
        &options,
        args.direct,
        to_file.map(PathBuf::as_path),
    )
    .await
    .map_err(|e| paying::explain(e, max_price_msat))?;
    let mut lines = vec![summary(&done, to_file.map(PathBuf::as_path), end_to_end)];
    if let Some(bought) = &done.purchase {
        lines.push(paid_line(bought, done.uses_remaining));
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

/// Downloads into `output` (written as `.part`, renamed once every check
/// passed, removed otherwise) or stdout, with a progress bar on a terminal;
/// `direct`: from the providers' presigned URLs instead of through the
/// broker.
pub(crate) async fn download(
    client: &Client,
    blob_id: &str,
    options: &GetOptions,
    direct: bool,
    output: Option<&Path>,
) -> shardgate_client::Result<Downloaded> {
    // The output file first: a disk without room for the download says
    // so before anything is paid.
    let target = match output {
        Some(path) => Some(client.prepare_file(blob_id, path, options).await?),
        None => None,
    };
    let mut download = if direct {
        client.get_direct(blob_id, options).await?
    } else {
        client.get(blob_id, options).await?
    };
    // Sized once open: only then is the served length known.
    let progress = Transfer::start("download", Some(download.range().1));
    download.set_progress(Some(progress.callback()));
    let done = match target {
        None => download.write_to(&mut tokio::io::stdout()).await?,
        Some(target) => download.save_to(target).await?,
    };
    progress.finish();
    Ok(done)
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

fn summary(done: &Downloaded, to: Option<&Path>, end_to_end: bool) -> String {
    let target = to.map_or_else(|| "stdout".to_owned(), |p| p.display().to_string());
    let check = match (done.hash_verified, end_to_end) {
        (true, false) => "blake3 verified",
        (true, true) => "blake3 verified, every chunk decrypted and authenticated",
        (false, true) => "partial range: every chunk decrypted and authenticated",
        (false, false) => "partial range: length verified",
    };
    format!(
        "wrote {} (bytes {}..{}) to {target} in {} ({}), {check}",
        human::size(done.bytes),
        done.offset,
        done.offset + done.bytes,
        human::seconds(done.elapsed),
        human::rate(done.bytes, done.elapsed),
    )
}
