//! [`ProviderRegistry::write_chunk`]: the `k + m` shard objects of one chunk
//! onto their providers, with spares.
//!
//! All shards are written in parallel to the placement's providers. A shard
//! whose provider fails goes to the next provider in the chunk's rendezvous
//! ranking ([`placement::preference`] over the providers writable *now*)
//! that is not in the placement; each spare is tried once, so one failing
//! provider does not fail the upload while a spare exists. Every write goes
//! through [`ProviderRegistry::put_shard`], so each failure also counts
//! against its provider's health and a provider that keeps failing drops
//! out of later placements.
//!
//! Any failure moves the shard to a spare, a conflict included: the spare
//! holds no object at that key, and the conflicting shard is left alone.
//! When some shard fits on no spare, the last error is returned and the
//! caller must not commit (the shards already written are orphans for GC).

use std::collections::{BTreeSet, VecDeque};

use bytes::Bytes;
use futures::future::join_all;
use shardgate_core::ContentId;

use crate::error::BackendError;
use crate::placement::{self, PlacedShard};
use crate::registry::ProviderRegistry;

impl ProviderRegistry {
    /// Writes `objects[i]` (shard `i` of `chunk`) to `providers[i]` (a
    /// placement's `shard_providers`), falling back to spares, and returns
    /// where each shard landed, in index order. `Err` is the last write
    /// error, once a shard has failed on every spare.
    pub async fn write_chunk(
        &self,
        chunk: &ContentId,
        providers: &[String],
        objects: &[Bytes],
    ) -> Result<Vec<PlacedShard>, BackendError> {
        let writes = providers
            .iter()
            .zip(objects)
            .map(|(provider, object)| self.put_shard(provider, object.clone()));
        let mut landed = Vec::with_capacity(objects.len());
        let mut failed = Vec::new();
        let mut last_error = None;
        for (i, result) in join_all(writes).await.into_iter().enumerate() {
            match result {
                Ok(_) => landed.push(placed(i, &providers[i])),
                Err(e) => {
                    tracing::warn!(chunk = %chunk.short(), error = %e, "shard write failed; trying a spare provider");
                    failed.push(i);
                    last_error = Some(e);
                }
            }
        }
        // Set exactly when some shard failed.
        let Some(mut last_error) = last_error else {
            return Ok(landed);
        };
        let used: BTreeSet<&str> = providers.iter().map(String::as_str).collect();
        let writable = self.writable();
        let mut spares: VecDeque<&str> = placement::preference(chunk, &writable)
            .into_iter()
            .filter(|p| !used.contains(p))
            .collect();
        for i in failed {
            loop {
                let Some(spare) = spares.pop_front() else {
                    return Err(last_error);
                };
                match self.put_shard(spare, objects[i].clone()).await {
                    Ok(_) => {
                        landed.push(placed(i, spare));
                        break;
                    }
                    Err(e) => last_error = e,
                }
            }
        }
        landed.sort();
        Ok(landed)
    }
}

fn placed(index: usize, provider: &str) -> PlacedShard {
    PlacedShard {
        // index < k + m <= 48
        index: index as u8,
        provider: provider.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use opendal::Operator;
    use shardgate_core::{ContentId, ErasureParams, encode_sealed_chunk};

    use crate::error::BackendErrorKind;
    use crate::fault_layer::{FaultLayer, FaultSwitch};
    use crate::health::HealthPolicy;
    use crate::placement::PlacementPolicy;
    use crate::registry::ProviderRegistry;
    use crate::store::ShardStore;

    /// `n` memory providers `m0..`, each with its own outage switch.
    async fn registry(n: usize) -> (ProviderRegistry, Vec<FaultSwitch>) {
        let reg = ProviderRegistry::new(HealthPolicy::default());
        let mut switches = Vec::new();
        for i in 0..n {
            let switch = FaultSwitch::default();
            let op = Operator::new(opendal::services::Memory::default())
                .expect("memory")
                .layer(FaultLayer(switch.clone()));
            let name = format!("m{i}");
            reg.join_store("memory", 1.0, ShardStore::new(&name, "", op))
                .await
                .expect("join");
            switches.push(switch);
        }
        (reg, switches)
    }

    fn chunk_objects() -> (ContentId, Vec<Bytes>) {
        let sealed = b"a sealed chunk of some length".to_vec();
        let params = ErasureParams::new(2, 1).expect("2+1");
        let encoded = encode_sealed_chunk(&sealed, params).expect("encode");
        (
            ContentId::of(&sealed),
            encoded.shards.into_iter().map(Bytes::from).collect(),
        )
    }

    const K2M1: PlacementPolicy = PlacementPolicy {
        k: 2,
        m: 1,
        allow_reduced: false,
    };

    #[tokio::test]
    async fn a_failing_provider_hands_its_shard_to_a_spare() {
        let (reg, switches) = registry(4).await;
        let (id, objects) = chunk_objects();
        let placement = reg.place(&id, K2M1).expect("place");
        let bad = &placement.shard_providers[1];
        let bad_index: usize = bad[1..].parse().expect("m<i>");
        switches[bad_index].set(true);

        let landed = reg
            .write_chunk(&id, &placement.shard_providers, &objects)
            .await
            .expect("a spare took the shard");
        let indexes: Vec<u8> = landed.iter().map(|p| p.index).collect();
        assert_eq!(indexes, [0, 1, 2]);
        assert_ne!(
            &landed[1].provider, bad,
            "shard 1 moved off the failing provider"
        );
        assert!(!placement.shard_providers.contains(&landed[1].provider));
        for p in &landed {
            let shard = reg
                .get_shard(&p.provider, &id, p.index)
                .await
                .expect("read back");
            assert_eq!(shard.object(), &objects[usize::from(p.index)]);
        }
        let status = reg
            .list()
            .into_iter()
            .find(|s| &s.name == bad)
            .expect("listed");
        assert_eq!(status.consecutive_failures, 1, "the failure was recorded");
    }

    #[tokio::test]
    async fn no_spare_left_returns_the_last_error() {
        let (reg, switches) = registry(3).await;
        let (id, objects) = chunk_objects();
        let placement = reg.place(&id, K2M1).expect("place");
        switches[0].set(true);
        let err = reg
            .write_chunk(&id, &placement.shard_providers, &objects)
            .await
            .expect_err("three providers, no spare");
        assert_eq!(err.provider(), "m0");
        assert_eq!(err.kind(), &BackendErrorKind::Unavailable);
    }
}
