//! `shardgate put`: streams a file to Storage.Put and reports what the
//! broker made of it.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use shardgate_proto::v1 as pb;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::args::PutArgs;
use crate::connect::Tenant;
use crate::failure;
use crate::human;
use crate::progress::Transfer;

/// Frames queued between the file reader and the gRPC stream: enough to
/// keep the connection busy, small enough to bound memory (frames are at
/// most 1 MiB by default).
const QUEUED_FRAMES: usize = 4;

/// What an upload did, for the caller's report.
pub(crate) struct Uploaded {
    pub response: pb::PutResponse,
    pub elapsed: Duration,
}

/// `shardgate put`.
pub(crate) async fn command(args: PutArgs) -> anyhow::Result<()> {
    let mut tenant = Tenant::connect(&args.conn).await?;
    let header = header_from(&args)?;
    let done = upload(&mut tenant, header, &args.file).await?;
    if args.quiet {
        println!("{}", done.response.blob_id);
    } else {
        print_report(&done);
    }
    Ok(())
}

/// The upload header from the command line.
fn header_from(args: &PutArgs) -> anyhow::Result<pb::PutHeader> {
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
    let chunk_size_bytes = args
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
    Ok(pb::PutHeader {
        name,
        content_type: args.content_type.clone().unwrap_or_default(),
        key_mode: pb::KeyMode::Managed as i32,
        chunk_size_bytes,
        redundancy,
        price,
        visibility: if args.public {
            pb::Visibility::Public
        } else {
            pb::Visibility::Private
        } as i32,
        declared_size_bytes: None,
        metadata,
        end_to_end: None,
    })
}

/// Uploads `path` (`-` = stdin) with `header`; checks the broker's content
/// hash against the bytes sent.
pub(crate) async fn upload(
    tenant: &mut Tenant,
    mut header: pb::PutHeader,
    path: &Path,
) -> anyhow::Result<Uploaded> {
    let frame = tenant
        .storage
        .get_limits(tenant.request(pb::GetLimitsRequest {}))
        .await
        .map_err(failure::status)?
        .into_inner()
        .max_data_frame_bytes as usize;
    let (reader, size): (Box<dyn AsyncRead + Unpin + Send>, Option<u64>) = if path == Path::new("-")
    {
        (Box::new(tokio::io::stdin()), None)
    } else {
        let file = tokio::fs::File::open(path)
            .await
            .with_context(|| format!("cannot open {}", path.display()))?;
        let meta = file.metadata().await?;
        (Box::new(file), meta.is_file().then_some(meta.len()))
    };
    // A declared size lets the broker check the quota before any data and
    // refuse a stream that ends early (a file truncated while we read it).
    header.declared_size_bytes = size;
    let started = Instant::now();
    let progress = Transfer::start("upload", size);
    let (tx, rx) = mpsc::channel(QUEUED_FRAMES);
    tx.send(pb::PutRequest {
        frame: Some(pb::put_request::Frame::Header(header)),
    })
    .await
    .context("upload stream closed")?;
    let send = send_frames(reader, frame.max(1), tx, &progress);
    let request = tenant.keyed(ReceiverStream::new(rx))?;
    let call = tenant.storage.put(request);
    tokio::pin!(send, call);
    // If reading fails, returning drops the call, which resets the stream:
    // the broker sees a hang-up and commits nothing. A clean end of stream
    // would commit what was sent so far.
    let (response, hash) = tokio::select! {
        sent = &mut send => {
            let hash = sent?;
            (call.await.map_err(failure::status)?, Some(hash))
        }
        answered = &mut call => (answered.map_err(failure::status)?, None),
    };
    progress.finish();
    let response = response.into_inner();
    if let Some(hash) = hash
        && hash.to_hex().as_str() != response.content_hash
    {
        bail!(
            "the broker's content hash {} differs from the BLAKE3 of the bytes sent {}",
            response.content_hash,
            hash.to_hex()
        );
    }
    Ok(Uploaded {
        response,
        elapsed: started.elapsed(),
    })
}

/// Reads `reader` into frames of `frame` bytes and queues them; returns the
/// BLAKE3 of everything sent. Dropping `tx` at the end half-closes the
/// upload stream.
async fn send_frames(
    mut reader: Box<dyn AsyncRead + Unpin + Send>,
    frame: usize,
    tx: mpsc::Sender<pb::PutRequest>,
    progress: &Transfer,
) -> anyhow::Result<blake3::Hash> {
    let mut hasher = blake3::Hasher::new();
    loop {
        let mut buf = vec![0u8; frame];
        let mut filled = 0;
        while filled < frame {
            let n = reader
                .read(&mut buf[filled..])
                .await
                .context("reading the input failed; nothing was committed")?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            return Ok(hasher.finalize());
        }
        buf.truncate(filled);
        hasher.update(&buf);
        let frame_request = pb::PutRequest {
            frame: Some(pb::put_request::Frame::Data(buf.into())),
        };
        if tx.send(frame_request).await.is_err() {
            // The call ended first; its status says why.
            std::future::pending::<()>().await;
        }
        progress.advance(filled as u64);
        if filled < frame {
            return Ok(hasher.finalize());
        }
    }
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
