//! GC and uploads racing for real (not scripted). A model provider holds
//! the set of chunks whose shards exist; uploads write missing chunks into
//! it, GC deletes condemned chunks from it. The invariant checked, under
//! the model's lock: every chunk of every committed, not yet deleted blob
//! is present — right after each commit, and at each GC delete.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use shardgate_core::ContentId;

use super::fixtures::{cid, new_blob, tenant, tid};
use crate::{CommitOutcome, Index, IndexError};

const UPLOADERS: usize = 6;
const UPLOADS_EACH: usize = 40;
/// Upper bound on GC passes; GC otherwise runs until the uploads end.
const MAX_GC_PASSES: usize = 20_000;
/// Few shared chunks, so uploads, deletes and GC keep hitting the same ones.
const SHARED_SEEDS: usize = 5;

#[derive(Default)]
struct Model {
    /// Chunks whose shards exist on the provider.
    present: BTreeSet<ContentId>,
    /// Chunk → number of committed, not deleted blobs using it.
    referenced: BTreeMap<ContentId, usize>,
    violations: Vec<String>,
}

type Shared = Arc<Mutex<Model>>;

/// Two shared chunks and one of its own (so every upload is a new blob).
fn seeds_for(uploader: usize, i: usize) -> [String; 3] {
    let a = (uploader * 7 + i * 3) % SHARED_SEEDS;
    let b = (uploader + i * 2 + 1) % SHARED_SEEDS;
    [
        format!("r{a}"),
        format!("r{b}"),
        format!("own-{uploader}-{i}"),
    ]
}

/// One upload with retries on `Conflict`; returns the chunk ids if committed.
async fn upload(
    index: &Arc<dyn Index>,
    model: &Shared,
    uploader: usize,
    i: usize,
) -> Option<(ContentId, Vec<ContentId>)> {
    let seeds = seeds_for(uploader, i);
    let seeds: Vec<&str> = seeds.iter().map(String::as_str).collect();
    let ids: Vec<ContentId> = seeds.iter().map(|s| cid(s)).collect();
    for _attempt in 0..50 {
        let epoch = index.gc_epoch().await.unwrap();
        let live = index.live_chunks(&ids).await.unwrap();
        let mut new = new_blob(&tid("t"), &format!("u{uploader}-{i}"), &seeds, epoch);
        for (id, found) in ids.iter().zip(live) {
            match found {
                // Dedup: use the stored record, write nothing.
                Some(record) => {
                    new.chunks.retain(|c| c.chunk_id != *id);
                    new.chunks.push(record);
                }
                None => {
                    model.lock().unwrap().present.insert(*id);
                }
            }
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;
        match index.commit_blob(new.clone()).await {
            Ok(outcome) => {
                assert_eq!(outcome, CommitOutcome::Created);
                let mut m = model.lock().unwrap();
                for id in &ids {
                    if !m.present.contains(id) {
                        let v =
                            format!("committed blob u{uploader}-{i} lacks chunk {}", id.short());
                        m.violations.push(v);
                    }
                    *m.referenced.entry(*id).or_default() += 1;
                }
                return Some((new.blob.blob_id, ids));
            }
            Err(IndexError::Conflict { .. }) => continue,
            Err(e) => panic!("upload u{uploader}-{i}: {e}"),
        }
    }
    None
}

async fn gc(index: Arc<dyn Index>, model: Shared, done: Arc<AtomicBool>) {
    for _ in 0..MAX_GC_PASSES {
        if done.load(Ordering::Relaxed) {
            break;
        }
        let condemned = index.gc_condemn(100).await.unwrap();
        let mut ids = Vec::new();
        for chunk in condemned {
            tokio::task::yield_now().await;
            let mut m = model.lock().unwrap();
            let id = chunk.chunk_id;
            if m.referenced.get(&id).copied().unwrap_or(0) > 0 {
                m.violations.push(format!(
                    "GC deleted chunk {} of a committed blob",
                    id.short()
                ));
            }
            m.present.remove(&id);
            ids.push(id);
        }
        tokio::task::yield_now().await;
        index.gc_finish(&ids).await.unwrap();
    }
}

/// GC passes running while many uploads commit: every committed blob
/// still has all its chunks live (checked against a model).
pub async fn gc_racing_uploads_loses_no_data(index: Arc<dyn Index>) {
    index.create_tenant(tenant("t", u64::MAX)).await.unwrap();
    let model: Shared = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let gc_task = tokio::spawn(gc(
        Arc::clone(&index),
        Arc::clone(&model),
        Arc::clone(&done),
    ));
    let mut uploaders = Vec::new();
    for uploader in 0..UPLOADERS {
        let (index, model) = (Arc::clone(&index), Arc::clone(&model));
        uploaders.push(tokio::spawn(async move {
            let (mut committed, mut deleted) = (0, 0);
            for i in 0..UPLOADS_EACH {
                let Some((blob_id, ids)) = upload(&index, &model, uploader, i).await else {
                    continue;
                };
                committed += 1;
                // Delete every other blob again, feeding the GC.
                if i % 2 == 0 {
                    {
                        let mut m = model.lock().unwrap();
                        for id in &ids {
                            *m.referenced.entry(*id).or_default() -= 1;
                        }
                    }
                    assert!(index.delete_blob(&tid("t"), &blob_id).await.unwrap());
                    deleted += 1;
                }
            }
            (committed, deleted)
        }));
    }
    let (mut committed, mut deleted) = (0, 0);
    for task in uploaders {
        let (c, d) = task.await.expect("uploader");
        (committed, deleted) = (committed + c, deleted + d);
    }
    done.store(true, Ordering::Relaxed);
    gc_task.await.expect("gc");

    let violations = std::mem::take(&mut model.lock().unwrap().violations);
    assert!(violations.is_empty(), "data lost: {violations:?}");
    assert!(
        committed > UPLOADERS * UPLOADS_EACH / 2,
        "most uploads commit ({committed})"
    );
    let (blobs, _) = index.list_blobs(&tid("t"), "", None, 1000).await.unwrap();
    assert_eq!(blobs.len(), committed - deleted);
}
