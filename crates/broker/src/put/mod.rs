//! Storage.Put: header first, then data frames through the bounded
//! pipeline, then one index commit once every chunk is durable.

mod commit;
mod cutter;
pub(crate) mod pipeline;
pub(crate) mod seal;
mod sealer;
mod write;

use std::sync::Arc;

use shardgate_core::{ContentId, KeyMode};
use shardgate_index::TenantRecord;
use shardgate_proto::v1::{PutRequest, PutResponse, put_request::Frame};
use tonic::Streaming;

use crate::error::BrokerError;
use crate::metrics;
use crate::put::commit::commit;
use crate::put::cutter::PieceCutter;
use crate::put::pipeline::UploadPipeline;
use crate::put::seal::SealMode;
use crate::state::Broker;
use crate::validate::{UploadPlan, check_stream_size, upload_plan};
use crate::wire_status::stream_error;

/// Runs one upload for `tenant`. Dropping the future (client gone) drops the
/// pipeline, which aborts its tasks: nothing is committed.
#[tracing::instrument(name = "put", skip_all, fields(tenant = %tenant.id))]
pub(crate) async fn put(
    broker: Arc<Broker>,
    tenant: TenantRecord,
    mut stream: Streaming<PutRequest>,
) -> Result<PutResponse, BrokerError> {
    let header = match next_frame(&mut stream).await? {
        Some(Frame::Header(header)) => header,
        Some(Frame::Data(_)) => {
            return Err(BrokerError::invalid(
                "frame",
                "the first PutRequest must carry `header`, not `data`",
            ));
        }
        None => {
            return Err(BrokerError::invalid(
                "frame",
                "the stream ended before a PutRequest with `header` was sent",
            ));
        }
    };
    let plan = upload_plan(header, &broker.config)?;
    if let Some(declared) = plan.declared_size {
        // Before any data is read or written.
        broker.index.check_quota(&tenant.id, declared).await?;
    }
    check_providers(&broker, &plan)?;

    // Read before any dedup look-up or shard write (GC safety, see the
    // index README): a GC pass that starts later makes the commit fail
    // instead of pointing at shards it deleted.
    let started = std::time::Instant::now();
    let observed_gc_epoch = broker.index.gc_epoch().await?;
    let mode = match plan.key_mode {
        KeyMode::Managed => SealMode::Managed {
            secret: Arc::new(broker.keys.convergence(tenant.id.as_str())?),
            kek: Arc::new(broker.keys.kek().clone()),
        },
        KeyMode::EndToEnd => SealMode::EndToEnd,
    };
    let piece_len = match plan.key_mode {
        KeyMode::Managed => plan.chunk_size,
        KeyMode::EndToEnd => plan.layout().stride() as usize,
    };
    let mut cutter = match plan.key_mode {
        KeyMode::Managed => PieceCutter::plaintext(plan.chunk_size)?,
        KeyMode::EndToEnd => PieceCutter::ciphertext(piece_len),
    };
    let mut pipeline = UploadPipeline::admit(
        broker.clone(),
        mode,
        plan.params,
        plan.allow_reduced,
        piece_len,
    )
    .await?;
    let max_frame = broker.config.limits.max_data_frame_bytes as usize;
    let mut hasher = blake3::Hasher::new();
    let mut received: u64 = 0;
    let mut next_index: u64 = 0;

    while let Some(frame) = next_frame(&mut stream).await? {
        let data = match frame {
            Frame::Data(data) => data,
            Frame::Header(_) => {
                return Err(BrokerError::invalid("frame", "a second header was sent"));
            }
        };
        if data.is_empty() {
            continue;
        }
        if data.len() > max_frame {
            return Err(BrokerError::invalid(
                "data",
                format!(
                    "frame of {} bytes exceeds Limits.max_data_frame_bytes ({max_frame})",
                    data.len()
                ),
            ));
        }
        received += data.len() as u64;
        match plan.declared_size {
            Some(declared) if received > declared => {
                return Err(BrokerError::invalid(
                    "data",
                    format!("more bytes arrived than declared_size_bytes ({declared})"),
                ));
            }
            Some(_) => {}
            None => {
                check_stream_size(&plan, &broker.config, received, "data")?;
                // No declared size: the quota is checked as bytes arrive
                // (against usage at the start; commit checks atomically).
                if tenant.used_bytes.saturating_add(received) > tenant.quota_bytes {
                    return Err(BrokerError::QuotaExceeded {
                        used_bytes: tenant.used_bytes,
                        quota_bytes: tenant.quota_bytes,
                        requested_bytes: received,
                    });
                }
            }
        }
        hasher.update(&data);
        for piece in cutter.push(&data) {
            pipeline.submit(next_index, piece).await?;
            next_index += 1;
        }
    }
    if let Some(declared) = plan.declared_size
        && received != declared
    {
        return Err(BrokerError::invalid(
            "data",
            format!("{received} bytes arrived, declared_size_bytes was {declared}"),
        ));
    }
    if let Some(last) = cutter.finish() {
        pipeline.submit(next_index, last).await?;
    }
    let chunks = pipeline.finish().await?;
    check_upload_age(&broker, started)?;
    let response = commit(
        &broker,
        &tenant,
        &plan,
        chunks,
        received,
        ContentId::from_bytes(*hasher.finalize().as_bytes()),
        observed_gc_epoch,
    )
    .await?;
    metrics::upload_committed(received);
    Ok(response)
}

/// GC deletes unreferenced shard objects older than its orphan grace
/// period; an upload commits within half of it, so none of its shards can
/// be taken for an orphan (see `gc_orphans.rs`).
fn check_upload_age(broker: &Broker, started: std::time::Instant) -> Result<(), BrokerError> {
    let limit = broker.gc.orphan_grace() / 2;
    if started.elapsed() >= limit {
        return Err(BrokerError::Aborted(format!(
            "the upload took longer than {} s (half the broker's gc_orphan_grace_secs); nothing was committed: upload smaller blobs or ask the operator for a longer grace period",
            limit.as_secs()
        )));
    }
    Ok(())
}

/// Fewer than k+m writable providers: refuse before reading data.
fn check_providers(broker: &Broker, plan: &UploadPlan) -> Result<(), BrokerError> {
    let healthy = broker.registry.writable().len();
    let needed = plan.params.total();
    if healthy == 0 {
        return Err(BrokerError::Unavailable(
            "no healthy storage provider is available; nothing was written, retry later".to_owned(),
        ));
    }
    if healthy < needed && !plan.allow_reduced {
        return Err(BrokerError::FailedPrecondition(format!(
            "{healthy} healthy providers for k+m = {needed}; retry later, lower k+m, or set allow_reduced_redundancy"
        )));
    }
    Ok(())
}

/// The next message. A frame tonic could not decode is the client's bad
/// input (see `wire_status`); any other broken stream is the client going
/// away.
async fn next_frame(stream: &mut Streaming<PutRequest>) -> Result<Option<Frame>, BrokerError> {
    loop {
        match stream.message().await {
            Ok(Some(PutRequest { frame: Some(frame) })) => return Ok(Some(frame)),
            // A message with no oneof set carries nothing: skip it.
            Ok(Some(PutRequest { frame: None })) => continue,
            Ok(None) => return Ok(None),
            Err(status) => return Err(stream_error(&status)),
        }
    }
}
