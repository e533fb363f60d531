//! The scripted round trip: a real file goes up through the gRPC client,
//! comes back, and is compared byte for byte and by BLAKE3.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use shardgate_client::{Client, Downloaded, GetOptions, PaymentPolicy, PutOptions, Uploaded};

use crate::download::download;
use crate::human;
use crate::upload::{redundancy_line, upload};

/// Block size for comparing and hashing files.
const BLOCK: usize = 1 << 20;

/// Writes `size` bytes of pseudo-random data (BLAKE3 in XOF mode from a
/// fresh seed, so every run uploads new content) and keeps a copy.
pub(super) fn generate(path: &Path, size: u64) -> anyhow::Result<Vec<u8>> {
    let len = usize::try_from(size).context("--sample-size does not fit in memory")?;
    let seed: [u8; 32] = rand::random();
    let mut bytes = vec![0u8; len];
    blake3::Hasher::new()
        .update(&seed)
        .finalize_xof()
        .fill(&mut bytes);
    std::fs::write(path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(bytes)
}

/// Upload options for dev mode: private, managed keys, broker defaults.
pub(super) fn options(name: &str) -> PutOptions {
    PutOptions::new(name)
}

/// What one file's round trip showed.
pub(super) struct RoundTrip {
    pub up: Uploaded,
    pub down: Downloaded,
    pub content_hash: String,
}

/// Uploads `path`, downloads it to `back`, and checks both ways.
pub(super) async fn round_trip(
    tenant: &Client,
    payment: &PaymentPolicy,
    path: &Path,
    name: &str,
    back: &Path,
) -> anyhow::Result<RoundTrip> {
    let up = upload(tenant, options(name), path).await?;
    let r = &up.response;
    println!("  blob_id     {}", r.blob_id);
    let chunk_size = u64::from(tenant.stat(&r.blob_id).await?.chunk_size_bytes);
    println!(
        "  chunks      {} × {} (last may be shorter), each encrypted (AES-256-GCM) then erasure-coded",
        r.chunk_count,
        human::size(chunk_size)
    );
    if let Some(red) = &r.redundancy {
        println!("  redundancy  {}", redundancy_line(red));
    }
    println!(
        "  upload      {} in {} ({})",
        human::size(r.size_bytes),
        human::seconds(up.elapsed),
        human::rate(r.size_bytes, up.elapsed)
    );
    let paid = GetOptions {
        payment: payment.clone(),
        ..GetOptions::default()
    };
    let down = download(tenant, &r.blob_id, &paid, Some(back)).await?;
    println!(
        "  download    {} in {} ({}) → {}",
        human::size(down.bytes),
        human::seconds(down.elapsed),
        human::rate(down.bytes, down.elapsed),
        back.display()
    );
    if let Some(bought) = &down.purchase {
        println!(
            "  paid        {} from the wallet node (every download is paid; price 0 costs the minimum invoice)",
            human::msat(bought.amount_msat)
        );
    }
    let (a, b) = (path.to_path_buf(), back.to_path_buf());
    let equal = tokio::task::spawn_blocking(move || files_equal(&a, &b)).await??;
    if !equal {
        bail!("{} and {} differ", path.display(), back.display());
    }
    println!("  bytes       identical ({} bytes)", down.bytes);
    let (a, b) = (path.to_path_buf(), back.to_path_buf());
    let (hash_a, hash_b) = tokio::task::spawn_blocking(move || {
        Ok::<_, anyhow::Error>((hash_file(&a)?, hash_file(&b)?))
    })
    .await??;
    if hash_a != r.content_hash || hash_b != r.content_hash {
        bail!(
            "BLAKE3 mismatch: original {hash_a}, download {hash_b}, broker {}",
            r.content_hash
        );
    }
    println!("  blake3      {hash_a} (original = download = broker)");
    Ok(RoundTrip {
        content_hash: r.content_hash.clone(),
        up,
        down,
    })
}

/// A range across the boundary of the first two chunks, compared with the
/// original bytes.
pub(super) async fn check_range(
    tenant: &Client,
    payment: &PaymentPolicy,
    blob_id: &str,
    original: &[u8],
    chunk_size: u64,
) -> anyhow::Result<()> {
    let (offset, length) = if original.len() as u64 > chunk_size + 100 {
        (chunk_size - 100, 200)
    } else {
        (0, (original.len() as u64).min(200))
    };
    if length == 0 {
        return Ok(());
    }
    let mut got = Vec::new();
    let options = GetOptions {
        range: Some((offset, Some(length))),
        payment: payment.clone(),
        ..GetOptions::default()
    };
    let done = tenant
        .get(blob_id, &options)
        .await?
        .write_to(&mut got)
        .await?;
    let start = usize::try_from(offset)?;
    let want = &original[start..start + got.len()];
    if got.len() as u64 != length || got != want {
        bail!("range {offset}+{length} differs from the original bytes");
    }
    let paid = done
        .purchase
        .map(|p| format!(", paid {}", human::msat(p.amount_msat)))
        .unwrap_or_default();
    println!(
        "  range       bytes {offset}..{} (across the chunk 0/1 boundary): identical{paid}",
        offset + length
    );
    Ok(())
}

/// Byte-for-byte comparison, streaming.
fn files_equal(a: &Path, b: &Path) -> anyhow::Result<bool> {
    let open =
        |p: &Path| std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()));
    let (mut fa, mut fb) = (open(a)?, open(b)?);
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ba, mut bb) = (vec![0u8; BLOCK], vec![0u8; BLOCK]);
    loop {
        let n = read_full(&mut fa, &mut ba)?;
        let nb = read_full(&mut fb, &mut bb)?;
        if n != nb || ba[..n] != bb[..n] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> anyhow::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

fn hash_file(path: &Path) -> anyhow::Result<String> {
    let mut hasher = blake3::Hasher::new();
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut buf = vec![0u8; BLOCK];
    loop {
        let n = read_full(&mut file, &mut buf)?;
        if n == 0 {
            return Ok(hasher.finalize().to_hex().to_string());
        }
        hasher.update(&buf[..n]);
    }
}

/// `<dir>/<name>.download`.
pub(super) fn download_path(work: &Path, name: &str) -> PathBuf {
    work.join(format!("{name}.download"))
}
