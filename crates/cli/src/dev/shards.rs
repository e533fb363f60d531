//! Where the shards went: reads the providers' directories directly (not
//! the broker's index), so the report shows what each "cloud" really holds.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use shardgate_client::Client;
use shardgate_core::Manifest;
use shardgate_core::shard_object_key;

use super::setup::{PROVIDERS, provider_root};
use crate::human;

/// Objects and bytes one provider holds.
pub(super) struct ProviderUsage {
    pub name: &'static str,
    pub objects: u64,
    pub bytes: u64,
}

/// Every shard object under each provider's root.
pub(super) fn usage(dir: &Path) -> anyhow::Result<Vec<ProviderUsage>> {
    PROVIDERS
        .iter()
        .map(|name| {
            let mut usage = ProviderUsage {
                name,
                objects: 0,
                bytes: 0,
            };
            walk(&provider_root(dir, name).join("shards"), &mut |_, len| {
                usage.objects += 1;
                usage.bytes += len;
            })?;
            Ok(usage)
        })
        .collect()
}

/// Total shard objects on all providers.
pub(super) fn total_objects(dir: &Path) -> anyhow::Result<u64> {
    Ok(usage(dir)?.iter().map(|u| u.objects).sum())
}

fn walk(path: &Path, visit: &mut impl FnMut(&Path, u64)) -> anyhow::Result<()> {
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        // A provider that got no shard yet has no `shards/` directory.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", path.display())),
    };
    for entry in entries {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            walk(&entry.path(), visit)?;
        } else {
            visit(&entry.path(), meta.len());
        }
    }
    Ok(())
}

/// One chunk and the provider of each of its shards.
pub(super) struct ChunkPlacement {
    pub chunk_id: String,
    /// `(shard index, provider, object path)`, by shard index.
    pub shards: Vec<(u8, &'static str, PathBuf)>,
}

/// The blob's chunks (from its manifest, checked against the blob id) and,
/// for each, which provider directory holds each shard object.
pub(super) async fn placements(
    tenant: &Client,
    dir: &Path,
    blob_id: &str,
) -> anyhow::Result<(Manifest, Vec<ChunkPlacement>)> {
    // The SDK checks the manifest hashes to the blob id.
    let manifest = tenant.manifest(blob_id).await?;
    let shard_count = manifest.params().total();
    let mut out = Vec::new();
    for chunk in manifest.chunks() {
        let mut shards = Vec::new();
        for index in 0..shard_count {
            let index = u8::try_from(index).context("shard index above 255")?;
            let key = shard_object_key("", &chunk.id, index);
            for name in PROVIDERS {
                let path = provider_root(dir, name).join(&key);
                if path.is_file() {
                    shards.push((index, name, path));
                }
            }
        }
        out.push(ChunkPlacement {
            chunk_id: chunk.id.to_hex(),
            shards,
        });
    }
    Ok((manifest, out))
}

/// Prints the per-provider table and the per-chunk placement; fails if a
/// chunk is missing shards or has two on one provider.
pub(super) fn print_report(
    dir: &Path,
    manifest: &Manifest,
    chunks: &[ChunkPlacement],
) -> anyhow::Result<()> {
    println!(
        "  {:<9} {:>8} {:>12}   directory",
        "provider", "objects", "bytes"
    );
    for u in usage(dir)? {
        println!(
            "  {:<9} {:>8} {:>12}   {}",
            u.name,
            u.objects,
            human::size(u.bytes),
            provider_root(dir, u.name).display()
        );
    }
    print_chunks(manifest, chunks)
}

/// One line per chunk: which provider holds each shard; fails if a chunk
/// is missing shards or has two on one provider.
pub(super) fn print_chunks(manifest: &Manifest, chunks: &[ChunkPlacement]) -> anyhow::Result<()> {
    let k = manifest.params().k();
    let m = manifest.params().m();
    for (i, chunk) in chunks.iter().enumerate() {
        let spots: Vec<String> = chunk
            .shards
            .iter()
            .map(|(index, name, _)| {
                let role = if usize::from(*index) < k {
                    "data"
                } else {
                    "parity"
                };
                format!("{role}{index}→{name}")
            })
            .collect();
        let distinct: BTreeSet<&str> = chunk.shards.iter().map(|(_, n, _)| *n).collect();
        println!(
            "  chunk {i:<3} {}…  {}  ({} distinct providers)",
            &chunk.chunk_id[..12],
            spots.join("  "),
            distinct.len()
        );
        if chunk.shards.len() != k + m || distinct.len() != k + m {
            bail!(
                "chunk {i} has {} shard objects on {} providers, expected {} on {}",
                chunk.shards.len(),
                distinct.len(),
                k + m,
                k + m
            );
        }
    }
    Ok(())
}

/// True if no shard object of chunk `i` contains the first bytes of that
/// chunk's plaintext: the providers hold ciphertext, not the file.
pub(super) fn no_plaintext_in_shards(
    original: &[u8],
    chunk_size: usize,
    chunks: &[ChunkPlacement],
) -> anyhow::Result<bool> {
    /// Long enough that random data cannot match by chance.
    const SAMPLE: usize = 32;
    for (i, chunk) in chunks.iter().enumerate() {
        let start = i * chunk_size;
        let end = (start + SAMPLE).min(original.len());
        let sample = &original[start.min(end)..end];
        if sample.len() < SAMPLE {
            continue;
        }
        for (_, _, path) in &chunk.shards {
            let object =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            if object.windows(SAMPLE).any(|w| w == sample) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}
