//! A download's bytes handed to a blocking thread that decrypts, checks
//! and writes them, so the async workers only receive.
//!
//! Decrypting and writing a file are CPU and blocking I/O; on the runtime's
//! workers they would stall the network side of every download on the
//! client. A bounded queue between the two keeps memory to `depth` pieces.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use crate::error::{ClientError, Result};

/// Feeds `pieces` to `write`, run on a blocking thread with the receiving
/// end of a queue of `depth` pieces, and returns what `write` returns.
/// A broken source is the error reported (the writer saw only a short
/// stream); if the writer stops first, the feeding stops and the writer's
/// error is reported.
pub(crate) async fn write_on_thread<T, W>(
    pieces: impl Stream<Item = Result<Bytes>>,
    depth: usize,
    write: W,
) -> Result<T>
where
    T: Send + 'static,
    W: FnOnce(mpsc::Receiver<Bytes>) -> Result<T> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Bytes>(depth);
    let writer = tokio::task::spawn_blocking(move || write(rx));
    let received = async {
        let mut pieces = std::pin::pin!(pieces);
        while let Some(piece) = pieces.next().await {
            if tx.send(piece?).await.is_err() {
                // The writer stopped; its result says why.
                break;
            }
        }
        Ok::<(), ClientError>(())
    }
    .await;
    drop(tx);
    let written = writer
        .await
        .map_err(|e| ClientError::protocol(format!("the file writer failed: {e}")))?;
    received?;
    written
}
