//! Storage.Get: look up, check the range, ask the payment gate, then stream
//! the range chunk by chunk with a read-ahead of a few chunks.

mod fetch;
pub(crate) mod locations;
pub(crate) mod range;
mod reader;
mod spawned_read;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use shardgate_core::{Manifest, ManifestChunk, StreamLayout, StreamRange};
use shardgate_index::{BlobRecord, ChunkRecord, TenantRecord};
use shardgate_proto::v1::{ByteRange, GetHeader, GetRequest, GetResponse, get_response::Frame};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tracing::Instrument;

use crate::convert::{blob_info, manifest_of};
use crate::error::BrokerError;
use crate::get::range::served_range;
use crate::get::reader::read_chunk;
use crate::get::spawned_read::SpawnedRead;
use crate::lookup::{chunk_records, find_blob};
use crate::memory_budget::{BudgetPermit, shard_object_bytes};
use crate::metrics;
use crate::payment::{DownloadEnd, DownloadRequest, Settlement};
use crate::state::Broker;
use crate::validate::parse_id;

/// The response stream of Get. Dropping it (the client went away, or the
/// server shuts down) aborts the task reading chunks, so no read outlives
/// its download.
pub(crate) struct GetStream {
    frames: ReceiverStream<Result<GetResponse, Status>>,
    reader: AbortHandle,
    /// Memory the transport holds for this stream (memory_budget.rs).
    _transport: BudgetPermit,
}

impl Stream for GetStream {
    type Item = Result<GetResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.frames).poll_next(cx)
    }
}

impl Drop for GetStream {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Messages buffered between the reader task and the transport: small, so
/// a slow client slows the reads instead of filling memory.
const SEND_BUFFER: usize = 4;

/// Validates, authorizes, and starts streaming.
#[tracing::instrument(name = "get", skip_all, fields(blob = %request.blob_id.get(..8).unwrap_or("")))]
pub(crate) async fn get(
    broker: Arc<Broker>,
    caller: Option<TenantRecord>,
    credential: Option<&str>,
    request: GetRequest,
    payer: crate::limits::Payer,
) -> Result<GetStream, BrokerError> {
    let blob_id = parse_id(&request.blob_id, "blob_id")?;
    let blob = find_blob(&broker, caller.as_ref(), &blob_id).await?;
    let owned = caller.as_ref().is_some_and(|t| t.id == blob.owner);
    let payment = DownloadRequest {
        hold_invoice: request.hold_invoice,
        uses: request.uses,
        direct: false,
        share: None,
        payer,
    };
    serve_blob(
        broker,
        blob,
        owned,
        request.range.as_ref(),
        payment,
        credential,
    )
    .await
}

/// Serves `requested` of a blob the caller may see (found by Get, or
/// opened through a share link or the HTTP gateway): checks the range, asks
/// the payment gate, then streams. Both transports come through here, so
/// they share one gate, one set of caveats and use counts, one ledger.
pub(crate) async fn serve_blob(
    broker: Arc<Broker>,
    blob: BlobRecord,
    owned: bool,
    requested: Option<&ByteRange>,
    payment: DownloadRequest,
    credential: Option<&str>,
) -> Result<GetStream, BrokerError> {
    let manifest = manifest_of(&blob)?;
    let range = served_range(StreamLayout::blob_len(&manifest), requested)?;
    let grant = broker
        .payments
        .authorize(&blob, range, payment, credential)
        .await?;
    let settlement = grant.settlement;

    let prepared = async {
        let chunks = range_chunks(&broker, &manifest, range).await?;
        let info = blob_info(&blob, &chunks.records, owned)?;
        Ok::<_, BrokerError>((chunks, info))
    }
    .await;
    let (
        RangeChunks {
            layout,
            first,
            entries,
            records,
        },
        info,
    ) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            settlement.finish(DownloadEnd::BrokerFailure);
            return Err(e);
        }
    };
    // Room for the first chunk before the first byte: a broker at its
    // memory budget refuses here with a clean status (and the credential
    // use goes back), not halfway through the body. With it, the
    // transport's share: the message tonic encodes and what h2 queues for
    // the client, a frame each, for as long as the stream lives.
    let transport = 2 * u64::from(broker.config.limits.max_data_frame_bytes);
    let first_cost = records.first().map_or(0, read_cost);
    let (first_read, transport) = match broker
        .memory
        .reserve(first_cost + transport, "a download")
        .await
    {
        Ok(mut permit) => {
            let transport = permit.split_off(transport);
            (records.first().map(|_| permit), transport)
        }
        Err(e) => {
            settlement.finish(DownloadEnd::BrokerFailure);
            return Err(e);
        }
    };
    let header = GetHeader {
        blob: Some(info),
        range: Some(shardgate_proto::v1::ServedRange {
            offset: range.offset,
            length: range.length,
        }),
        uses_remaining: grant.uses_remaining,
        hold: grant.hold,
    };
    let (tx, rx) = mpsc::channel(SEND_BUFFER);
    // The header is sent from here so that a full buffer cannot happen yet.
    // (Failing here drops the settlement: client gone.)
    tx.send(Ok(GetResponse {
        frame: Some(Frame::Header(header)),
    }))
    .await
    .map_err(|_| BrokerError::Cancelled)?;
    let reader = tokio::spawn(
        stream_range(
            broker, blob, layout, first, range, entries, records, first_read, tx, settlement,
        )
        .in_current_span(),
    );
    Ok(GetStream {
        frames: ReceiverStream::new(rx),
        reader: reader.abort_handle(),
        _transport: transport,
    })
}

/// Memory one chunk read may hold: every shard (hedging may fetch all
/// k+m) plus the rebuilt plaintext.
fn read_cost(record: &ChunkRecord) -> u64 {
    let shards = u64::from(record.k) + u64::from(record.m);
    shard_object_bytes(record.sealed_len, record.k) * shards + u64::from(record.sealed_len)
}

/// The chunks a range touches, with their index records.
pub(crate) struct RangeChunks {
    /// How the blob's stream maps onto its chunks.
    pub layout: StreamLayout,
    /// Index of the first chunk.
    pub first: u64,
    pub entries: Vec<ManifestChunk>,
    /// One record per entry, in entry order.
    pub records: Vec<ChunkRecord>,
}

pub(crate) async fn range_chunks(
    broker: &Broker,
    manifest: &Manifest,
    range: StreamRange,
) -> Result<RangeChunks, BrokerError> {
    let layout = StreamLayout::of(manifest);
    let span = layout.chunks_in(range);
    let entries = manifest.chunks()[span.start as usize..span.end as usize].to_vec();
    let ids: Vec<_> = entries.iter().map(|e| e.id).collect();
    let found = chunk_records(broker, &ids).await?;
    // One record per entry, in entry order, whether or not the index
    // repeats records for a chunk listed twice.
    let by_id: HashMap<_, _> = found.into_iter().map(|r| (r.chunk_id, r)).collect();
    let records = entries
        .iter()
        .map(|e| {
            by_id.get(&e.id).cloned().ok_or_else(|| {
                BrokerError::Internal(format!("index has no record of chunk {}", e.id.short()))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RangeChunks {
        layout,
        first: span.start,
        entries,
        records,
    })
}

/// Reads chunks `first..` with read-ahead and sends the covered bytes. Ends
/// as soon as the client is gone (a send fails): the in-flight reads are
/// dropped with the stream. Finishes `settlement` with how it ended (if
/// the task is aborted, dropping it says "client gone").
#[allow(clippy::too_many_arguments)]
async fn stream_range(
    broker: Arc<Broker>,
    blob: BlobRecord,
    layout: StreamLayout,
    first: u64,
    range: StreamRange,
    entries: Vec<ManifestChunk>,
    records: Vec<ChunkRecord>,
    mut first_read: Option<BudgetPermit>,
    tx: mpsc::Sender<Result<GetResponse, Status>>,
    mut settlement: Settlement,
) {
    let frame_len = broker.config.limits.max_data_frame_bytes as usize;
    let stalled_client = broker.config.limits.stalled_download();
    let read_ahead = broker.config.pipeline.read_ahead;
    let key_mode = layout.key_mode();
    let reads = futures::stream::iter(entries.into_iter().zip(records).enumerate())
        .map(|(i, (entry, record))| {
            let broker = broker.clone();
            let index = first + i as u64;
            let reserved = first_read.take();
            async move {
                // Past the first chunk, a download waits for room as long
                // as it takes: it holds only chunks it will send, so it
                // cannot block itself, and failing a half-sent body is
                // worse than a slower one (memory_budget.rs).
                let mut memory = match reserved {
                    Some(permit) => permit,
                    None => broker.memory.reserve_waiting(read_cost(&record)).await?,
                };
                // The read itself (shard I/O, then a CPU permit) on its own
                // task, so it never keeps a CPU permit while this download
                // waits for its client (spawned_read.rs).
                let read =
                    SpawnedRead::spawn(read_chunk(broker, key_mode, index, entry, record)).await?;
                // The shards are gone; the plaintext's buffer stays until
                // the transport has taken its last frame.
                memory.shrink_to(read.bytes.capacity() as u64);
                Ok::<_, BrokerError>((index, read, memory))
            }
        })
        .buffered(read_ahead);
    // Boxed, not pinned on the stack: a stalled client's read-ahead is
    // dropped before the task waits to tell it so.
    let mut reads = Box::pin(reads);
    let stalled = 'stream: {
        while let Some(result) = reads.next().await {
            let (index, read, memory) = match result {
                Ok(read) => read,
                Err(e) => {
                    tracing::warn!(blob = %blob.blob_id.short(), error = %e, "download failed");
                    settlement.finish(DownloadEnd::BrokerFailure);
                    let _ = tx.send(Err(e.into())).await;
                    return;
                }
            };
            settlement.count_shards(read.providers.iter().map(String::as_str));
            // Frames are slices of the opened chunk, not copies; the chunk
            // holds its memory reservation until the last frame is dropped.
            let bytes: Bytes = memory.attach(read.bytes);
            let (from, to) = layout.slice_in_chunk(range, index, bytes.len() as u64);
            // In bounds by construction of the span (the rebuilt chunk has its
            // manifest length); checked anyway, failing the stream, never
            // panicking or ending it OK with bytes missing.
            if from > to || to > bytes.len() {
                let e = BrokerError::Internal(format!("chunk {index} is shorter than its range"));
                settlement.finish(DownloadEnd::BrokerFailure);
                let _ = tx.send(Err(e.into())).await;
                return;
            }
            for start in (from..to).step_by(frame_len.max(1)) {
                let frame = bytes.slice(start..(start + frame_len).min(to));
                metrics::bytes_served(frame.len());
                let message = GetResponse {
                    frame: Some(Frame::Data(frame)),
                };
                // A client that takes nothing for `limits.stalled_download_secs`
                // (its HTTP/2 window and our buffer full) is cut off: it would
                // hold its chunks' share of the memory budget for as long as
                // it likes.
                match tokio::time::timeout(stalled_client, tx.send(Ok(message))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => {
                        settlement.finish(DownloadEnd::ClientGone);
                        return;
                    }
                    Err(_) => break 'stream true,
                }
            }
        }
        false
    };
    if stalled {
        settlement.finish(DownloadEnd::ClientGone);
        // The chunks read ahead go back to the budget now. The client must
        // not take what it already has for the whole body: a closed
        // channel would end the response with grpc-status OK (a short file
        // that looks complete). This waits, holding no chunk, until the
        // client reads up to the error or goes away.
        drop(reads);
        let _ = tx
            .send(Err(BrokerError::Aborted(format!(
                "the download was cut off: the client took no data for {} s; ask again",
                stalled_client.as_secs()
            ))
            .into()))
            .await;
        return;
    }
    // Every frame is with the transport.
    settlement.finish(DownloadEnd::Delivered);
}
