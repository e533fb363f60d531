//! `shardgate put`: uploads a file (or stdin) through the SDK and reports
//! what the broker made of it. With `--e2e` the file is encrypted here
//! under a fresh file key that the broker never sees.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, bail};
use shardgate_client::{Client, PutOptions, Uploaded, file_key_hex, pb};

use crate::args::PutArgs;
use crate::clients;
use crate::human;
use crate::key_file::NewKeyFile;
use crate::progress::Transfer;

/// `shardgate put`.
pub(crate) async fn command(args: PutArgs) -> anyhow::Result<()> {
    let mut options = options_from(&args)?;
    options.end_to_end = args.e2e;
    // Created before the upload: an existing file is refused before any
    // byte is sent, and the key never exists only in memory.
    let key_file = args
        .key_file
        .as_deref()
        .map(NewKeyFile::create)
        .transpose()?;
    let uploaded = async {
        let client = clients::keyed_tenant(&args.conn).await?;
        upload(&client, options, &args.file).await
    }
    .await;
    let done = match uploaded {
        Ok(done) => done,
        Err(e) => {
            if let Some(file) = key_file {
                file.discard();
            }
            return Err(e);
        }
    };
    let key = match (&done.file_key, key_file) {
        (Some(key), Some(file)) => match file.write(key) {
            Ok(path) => Some(FileKeyOut::Written(path)),
            Err(e) => {
                // The blob is committed: a key that reached no file must
                // still reach the user, or the blob is lost.
                println!("blob_id      {}", done.response.blob_id);
                println!("file_key     {}", file_key_hex(key));
                return Err(
                    e.context("the blob was uploaded; its file key is printed above instead")
                );
            }
        },
        (Some(key), None) => Some(FileKeyOut::Printed(file_key_hex(key))),
        (None, _) => None,
    };
    if args.quiet {
        println!("{}", done.response.blob_id);
        if let Some(FileKeyOut::Printed(hex)) = &key {
            println!("{hex}");
        }
        return Ok(());
    }
    print_report(&done);
    match &key {
        Some(FileKeyOut::Printed(hex)) => {
            println!("file_key     {hex}");
            eprintln!(
                "WARNING: this file key is the only copy. The broker never had it; without it the blob cannot be read by anyone, you included. Store it now (shardgate get {} --key HEX, or --key-file).",
                done.response.blob_id
            );
        }
        Some(FileKeyOut::Written(path)) => {
            println!("file_key     written to {} (mode 0600)", path.display());
        }
        None => {}
    }
    Ok(())
}

/// Where the file key of an end-to-end upload went.
enum FileKeyOut {
    Printed(String),
    Written(std::path::PathBuf),
}

/// The upload options from the command line.
fn options_from(args: &PutArgs) -> anyhow::Result<PutOptions> {
    let name = match &args.name {
        Some(name) => name.clone(),
        None if args.file == Path::new("-") => "stdin".to_owned(),
        None => args
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .context("the file has no name: pass --name")?,
    };
    let price =
        (args.price_flat_msat.is_some() || args.price_per_mib_msat.is_some()).then(|| pb::Price {
            flat_msat: args.price_flat_msat.unwrap_or(0),
            per_mib_msat: args.price_per_mib_msat.unwrap_or(0),
        });
    let redundancy = (args.k.is_some() || args.m.is_some() || args.allow_reduced).then(|| {
        pb::RedundancyPolicy {
            k: args.k.unwrap_or(0),
            m: args.m.unwrap_or(0),
            allow_reduced_redundancy: args.allow_reduced,
        }
    });
    let chunk_size = args
        .chunk_size
        .map(|s| u32::try_from(s).context("--chunk-size is larger than 4 GiB"))
        .transpose()?;
    let mut metadata = HashMap::new();
    for entry in &args.metadata {
        let Some((k, v)) = entry.split_once('=') else {
            bail!("--meta {entry:?} must be KEY=VALUE");
        };
        metadata.insert(k.to_owned(), v.to_owned());
    }
    Ok(PutOptions {
        content_type: args.content_type.clone().unwrap_or_default(),
        chunk_size,
        redundancy,
        price,
        public: args.public,
        metadata,
        ..PutOptions::new(name)
    })
}

/// Uploads `path` (`-` = stdin) with a progress bar on a terminal. The
/// SDK declares a regular file's size (the broker checks the quota first
/// and refuses a stream that ends early) and checks the broker's content
/// hash against the bytes sent.
pub(crate) async fn upload(
    client: &Client,
    mut options: PutOptions,
    path: &Path,
) -> anyhow::Result<Uploaded> {
    let stdin = path == Path::new("-");
    let size = if stdin {
        None
    } else {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot open {}", path.display()))?;
        meta.is_file().then_some(meta.len())
    };
    let progress = Transfer::start("upload", size);
    options.progress = Some(progress.callback());
    let done = if stdin {
        client.put(tokio::io::stdin(), None, options).await?
    } else {
        client.put_file(path, options).await?
    };
    progress.finish();
    Ok(done)
}

/// The human report of `shardgate put`.
fn print_report(done: &Uploaded) {
    let r = &done.response;
    println!("blob_id      {}", r.blob_id);
    println!("size         {}", human::size_exact(r.size_bytes));
    println!(
        "chunks       {} ({} already stored, not written again)",
        r.chunk_count, r.chunks_deduplicated
    );
    if let Some(red) = &r.redundancy {
        println!("redundancy   {}", redundancy_line(red));
    }
    println!("blake3       {}", r.content_hash);
    if r.already_existed {
        println!("note         you already had this blob; its details were updated");
    }
    println!(
        "took         {} ({})",
        human::seconds(done.elapsed),
        human::rate(r.size_bytes, done.elapsed)
    );
}

/// `k=2 m=1 over 3 providers, survives 1 provider failure`.
pub(crate) fn redundancy_line(r: &pb::RedundancyReport) -> String {
    let mut line = format!(
        "k={} m={} over {} distinct providers per chunk, survives {} provider failure(s)",
        r.k, r.m, r.min_distinct_providers, r.tolerated_provider_failures
    );
    if r.reduced {
        line.push_str(&format!(" — REDUCED: {}", r.reduced_reason));
    }
    line
}
