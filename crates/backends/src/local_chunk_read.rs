//! A chunk's data shards read from `fs` providers straight into one chunk
//! buffer, side by side, so the chunk needs no rebuild copy.
//!
//! The general read ([`ShardFetcher`](crate::ShardFetcher)) takes each
//! shard object as it comes from its provider and the rebuild copies the
//! bodies into a chunk buffer: a pass over every byte served, 0.08 CPU-s
//! and about 50 ms per GiB of a download through a dev broker
//! (docs/performance.md, "Session 15"). When all `k` data shards are on
//! `fs` providers that are up, one blocking task reads each body into its
//! place instead.
//!
//! Only a read where everything fits is used: any shard missing, on
//! another kind of provider or on a file system whose `O_DIRECT` reads
//! must be aligned (a block device: the body, at byte 80, cannot be read
//! into place, and the fetcher reads the shards in parallel), unreadable, of another size or with a header
//! for another chunk or layout gives `None`, and the caller reads through
//! the fetcher, which hedges, records each failure in its provider's
//! health and says what went wrong. Health and metrics here record the
//! successful reads, as the fetcher would.

use std::collections::BTreeSet;
use std::time::Instant;

use shardgate_core::{ContentId, ErasureParams, SHARD_HEADER_LEN, ShardHeader};

use crate::aligned::PooledBuf;
use crate::error::BackendError;
use crate::local_disk::{PlacedRead, PlacedReader};
use crate::placement::PlacedShard;
use crate::registry::ProviderRegistry;
use crate::store::ShardStore;

/// The data shards of one chunk, read in place.
pub struct PlacedChunk {
    /// The `k` data-shard bodies side by side (`k × shard_len` bytes, the
    /// last one's padding included): what
    /// `shardgate_core::sealed_from_data_bodies_in` takes.
    pub data: PooledBuf,
    /// The provider of each data shard, in shard order (who gets paid).
    pub providers: Vec<String>,
}

/// One data shard to read: where it is, and its reader.
struct Planned {
    provider: String,
    store: ShardStore,
    reader: PlacedReader,
}

impl ProviderRegistry {
    /// The data shards of `chunk` (sealed length `sealed_len`, coded as
    /// `params`) read from `shards`' `fs` providers into one buffer, or
    /// `None` where that cannot be done whole (see the module docs).
    pub async fn read_placed_data_shards(
        &self,
        chunk: ContentId,
        shards: &[PlacedShard],
        params: ErasureParams,
        sealed_len: usize,
    ) -> Option<PlacedChunk> {
        let plan = self.plan_placed(&chunk, shards, params)?;
        let (k, shard_len) = (params.k(), params.shard_len(sealed_len));
        let started = Instant::now();
        let readers: Vec<PlacedReader> = plan.iter().map(|p| p.reader.clone()).collect();
        let (data, reads) = tokio::task::spawn_blocking(move || {
            let mut data = PooledBuf::take(k * shard_len);
            let reads: Vec<_> = data
                .as_mut()
                .chunks_exact_mut(shard_len)
                .zip(&readers)
                .map(|(body, reader)| reader.read_into(body))
                .collect();
            (data, reads)
        })
        .await
        .ok()?;
        for (index, read) in reads.into_iter().enumerate() {
            let Ok(PlacedRead::Read(header)) = read else {
                return None;
            };
            let header = ShardHeader::decode(&header).ok()?;
            let fits = header.chunk_id == chunk
                && usize::from(header.index) == index
                && usize::from(header.k) == k
                && usize::from(header.m) == params.m()
                && header.chunk_len as usize == sealed_len
                && header.shard_len as usize == shard_len;
            if !fits {
                return None;
            }
        }
        let took = started.elapsed();
        for planned in &plan {
            planned.store.metrics.request("get", "ok", took);
            planned
                .store
                .metrics
                .bytes("read", SHARD_HEADER_LEN + shard_len);
            self.observe(&planned.provider, &Ok::<(), BackendError>(()));
        }
        Some(PlacedChunk {
            data,
            providers: plan.into_iter().map(|p| p.provider).collect(),
        })
    }

    /// A reader for each data shard, in shard order, if every one is on an
    /// `fs` provider that is up.
    fn plan_placed(
        &self,
        chunk: &ContentId,
        shards: &[PlacedShard],
        params: ErasureParams,
    ) -> Option<Vec<Planned>> {
        let down: BTreeSet<String> = self
            .list()
            .into_iter()
            .filter(|p| !p.up)
            .map(|p| p.name)
            .collect();
        (0..params.k())
            .map(|index| {
                let index = u8::try_from(index).ok()?;
                let placed = shards.iter().find(|s| s.index == index)?;
                if down.contains(&placed.provider) {
                    return None;
                }
                let store = self.store(&placed.provider).ok()?;
                let disk = store.local.as_ref().filter(|d| d.reads_in_place())?;
                let reader = disk.placed_reader(&store.shard_key(chunk, index)).ok()?;
                Some(Planned {
                    provider: placed.provider.clone(),
                    store,
                    reader,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use shardgate_core::encode_sealed_chunk;

    use super::*;
    use crate::config::{ProviderConfig, ProviderKind, ProviderLimits};
    use crate::health::HealthPolicy;

    const SEALED_LEN: usize = (1 << 20) + 17;

    /// Three `fs` providers (on a tmpfs where there is one, which takes
    /// `O_DIRECT` reads at any offset) and a memory one, and a chunk whose
    /// three shards are on the `fs` ones.
    async fn providers() -> (ProviderRegistry, Vec<tempfile::TempDir>, Vec<u8>, ContentId) {
        let reg = ProviderRegistry::new(HealthPolicy::default());
        let dirs: Vec<_> = (0..3)
            .map(|_| {
                tempfile::tempdir_in("/dev/shm")
                    .or_else(|_| tempfile::tempdir())
                    .expect("tempdir")
            })
            .collect();
        for (i, dir) in dirs.iter().enumerate() {
            reg.join(ProviderConfig {
                name: format!("fs{i}"),
                weight: 1.0,
                prefix: "sg".into(),
                kind: ProviderKind::Fs {
                    root: dir.path().to_path_buf(),
                },
                limits: ProviderLimits::default(),
            })
            .await
            .expect("join");
        }
        reg.join(ProviderConfig::memory("mem")).await.expect("join");
        let sealed: Vec<u8> = (0..SEALED_LEN).map(|i| (i * 7 % 253) as u8).collect();
        let encoded = encode_sealed_chunk(&sealed, params()).expect("encode");
        for (i, object) in encoded.shards.iter().enumerate() {
            reg.put_shard(&format!("fs{i}"), object.clone().into())
                .await
                .expect("put");
        }
        (reg, dirs, sealed, encoded.chunk_id)
    }

    fn params() -> ErasureParams {
        ErasureParams::new(2, 1).expect("2+1")
    }

    fn on(providers: &[&str]) -> Vec<PlacedShard> {
        providers
            .iter()
            .enumerate()
            .map(|(i, p)| PlacedShard {
                index: u8::try_from(i).expect("index"),
                provider: (*p).to_owned(),
            })
            .collect()
    }

    #[tokio::test]
    async fn data_shards_on_fs_providers_land_side_by_side() {
        let (reg, _dirs, sealed, chunk) = providers().await;
        let read = reg
            .read_placed_data_shards(chunk, &on(&["fs0", "fs1", "fs2"]), params(), SEALED_LEN)
            .await
            .expect("read in place");
        assert_eq!(read.providers, ["fs0", "fs1"]);
        assert_eq!(read.data.len(), 2 * params().shard_len(SEALED_LEN));
        assert_eq!(read.data.as_ref()[..SEALED_LEN], sealed[..]);
        // A file system whose O_DIRECT reads must be aligned served the
        // first read by an aligned read and a copy; after that the
        // fetcher's parallel reads serve it.
        let in_place = reg
            .store("fs0")
            .expect("store")
            .local
            .as_ref()
            .expect("fs")
            .reads_in_place();
        let again = reg
            .read_placed_data_shards(chunk, &on(&["fs0", "fs1", "fs2"]), params(), SEALED_LEN)
            .await;
        assert_eq!(again.is_some(), in_place);
    }

    #[tokio::test]
    async fn anything_the_fetcher_must_judge_is_left_to_it() {
        let (reg, dirs, _, chunk) = providers().await;
        // A data shard said to be on a provider that is not `fs`.
        let elsewhere = on(&["fs0", "mem", "fs2"]);
        assert!(
            reg.read_placed_data_shards(chunk, &elsewhere, params(), SEALED_LEN)
                .await
                .is_none()
        );
        // A layout that does not match the shards' headers.
        let all = on(&["fs0", "fs1", "fs2"]);
        assert!(
            reg.read_placed_data_shards(chunk, &all, params(), SEALED_LEN - 2)
                .await
                .is_none()
        );
        // Shard 1's file replaced by shard 2's (the same size, the wrong index).
        let store = reg.store("fs1").expect("store");
        let key1 = store.shard_key(&chunk, 1);
        let key2 = store.shard_key(&chunk, 2);
        std::fs::copy(dirs[2].path().join(&key2), dirs[1].path().join(&key1)).expect("copy");
        assert!(
            reg.read_placed_data_shards(chunk, &all, params(), SEALED_LEN)
                .await
                .is_none()
        );
        // A data shard that is not there.
        std::fs::remove_file(dirs[1].path().join(&key1)).expect("remove");
        assert!(
            reg.read_placed_data_shards(chunk, &all, params(), SEALED_LEN)
                .await
                .is_none()
        );
    }
}
