//! End-to-end load through the real `shardgate serve` binary over loopback
//! gRPC: uploads then downloads N bytes (one blob, default 4 MiB chunks,
//! 2+1) and prints MB/s each way and the broker's peak RSS (VmHWM of the
//! broker process), once over three `fs` providers and once over three moto
//! servers; beside it the same bytes written and read straight to one moto
//! server with rust-s3, and the ratio broker/direct.
//!
//! ```text
//! cargo run --release -p shardgate-benches --bin broker_load -- --size 1GiB
//! cargo run --release -p shardgate-benches --bin broker_load -- --size 4GiB --rss-check
//! ```
//!
//! `--rss-check` uploads only, over `fs` providers, and exits non-zero if
//! the broker's peak RSS reached 256 MiB. Downloads are compared byte for
//! byte with what was sent (in both the broker and the direct runs).

use shardgate_benches::load_bin::parse_size;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use s3::creds::Credentials;
use s3::{Bucket, Region};
use shardgate_tests::broker_process::client::{get_checked, header, put_pattern};
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::broker_process::{BrokerProcess, ProviderSpec};
use shardgate_tests::peers::{
    MOTO_ACCESS_KEY, MOTO_SECRET_KEY, S3_REGION, create_s3_bucket, start_moto,
};
use tokio::io::{AsyncRead, ReadBuf};
use tokio_stream::StreamExt;

const RSS_TARGET_MIB: u64 = 256;
const BUCKET: &str = "shardgate-load";

type Failure = Box<dyn std::error::Error>;

struct Args {
    size: u64,
    rss_check: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        size: 1 << 30,
        rss_check: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--size" => args.size = parse_size(&it.next().ok_or("--size needs a value")?)?,
            "--rss-check" => args.rss_check = true,
            "--bench" => {} // passed by `cargo bench`
            other => {
                return Err(format!(
                    "unknown argument {other:?} (--size N[KiB|MiB|GiB], --rss-check)"
                ));
            }
        }
    }
    Ok(args)
}

/// What one run measured.
struct Figures {
    up_mb_s: f64,
    down_mb_s: Option<f64>,
    /// Broker VmHWM right after the upload (before any download).
    upload_rss_mib: Option<u64>,
    /// Broker VmHWM at the end of the run.
    peak_rss_mib: Option<u64>,
    /// Broker CPU seconds per GiB moved, upload and download.
    cpu_s_per_gib: (Option<f64>, Option<f64>),
}

fn mb_s(bytes: u64, since: Instant) -> f64 {
    bytes as f64 / 1e6 / since.elapsed().as_secs_f64()
}

/// One blob through a broker on `providers`: upload, then (unless
/// `upload_only`) download and compare.
async fn through_broker(
    providers: &[ProviderSpec],
    size: u64,
    upload_only: bool,
) -> Result<Figures, Failure> {
    let broker = BrokerProcess::start(providers, "").await?;
    let (_, key) = broker.create_tenant("load", None).await?;
    let client = broker.client().await?;
    let pattern = Pattern::new(42, size);
    let gib = size as f64 / (1u64 << 30) as f64;
    // CPU seconds the broker spent since `before`, per GiB.
    let cpu_since =
        |before: Option<f64>| -> Option<f64> { Some((broker.cpu_seconds()? - before?) / gib) };
    let before = broker.cpu_seconds();
    let started = Instant::now();
    let put = put_pattern(&client, Some(&key), header("load", size, None), pattern).await?;
    let up_mb_s = mb_s(size, started);
    let upload_rss_mib = broker.peak_rss_kib().map(|k| k / 1024);
    let up_cpu = cpu_since(before);
    let mut down_mb_s = None;
    let mut down_cpu = None;
    if !upload_only {
        let before = broker.cpu_seconds();
        let started = Instant::now();
        let got = get_checked(&client, Some(&key), &put.blob_id, None, pattern).await?;
        down_mb_s = Some(mb_s(size, started));
        down_cpu = cpu_since(before);
        if got.len != size || got.first_mismatch.is_some() {
            return Err(format!(
                "download differs: {} bytes, first mismatch {:?}",
                got.len, got.first_mismatch
            )
            .into());
        }
    }
    Ok(Figures {
        up_mb_s,
        down_mb_s,
        upload_rss_mib,
        peak_rss_mib: broker.peak_rss_kib().map(|k| k / 1024),
        cpu_s_per_gib: (up_cpu, down_cpu),
    })
}

/// The pattern as an `AsyncRead` for rust-s3's multipart upload.
struct PatternReader {
    pattern: Pattern,
    offset: u64,
}

impl AsyncRead for PatternReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = (buf.remaining() as u64)
            .min(self.pattern.len() - self.offset)
            .min(1 << 20) as usize;
        let mut piece = vec![0; n];
        self.pattern.fill(self.offset, &mut piece);
        buf.put_slice(&piece);
        self.offset += n as u64;
        Poll::Ready(Ok(()))
    }
}

/// The same bytes straight to one moto server (rust-s3), and back.
async fn direct(size: u64) -> Result<Figures, Failure> {
    let peer = start_moto().await?;
    create_s3_bucket(&peer, BUCKET).await?;
    let region = Region::Custom {
        region: S3_REGION.into(),
        endpoint: peer.endpoint(),
    };
    let credentials = Credentials::new(
        Some(MOTO_ACCESS_KEY),
        Some(MOTO_SECRET_KEY),
        None,
        None,
        None,
    )?;
    let bucket = Bucket::new(BUCKET, region, credentials)?.with_path_style();
    let pattern = Pattern::new(42, size);
    let started = Instant::now();
    bucket
        .put_object_stream(&mut PatternReader { pattern, offset: 0 }, "/load")
        .await?;
    let up_mb_s = mb_s(size, started);
    let started = Instant::now();
    let mut stream = bucket.get_object_stream("/load").await?;
    let mut offset = 0u64;
    let mut expected = Vec::new();
    while let Some(piece) = stream.bytes().next().await {
        let piece = piece?;
        expected.resize(piece.len(), 0);
        pattern.fill(offset, &mut expected);
        if piece[..] != expected[..] {
            return Err(format!("direct read differs near byte {offset}").into());
        }
        offset += piece.len() as u64;
    }
    if offset != size {
        return Err(format!("direct read returned {offset} of {size} bytes").into());
    }
    Ok(Figures {
        up_mb_s,
        down_mb_s: Some(mb_s(size, started)),
        upload_rss_mib: None,
        peak_rss_mib: None,
        cpu_s_per_gib: (None, None),
    })
}

fn fs_providers(dir: &std::path::Path) -> Vec<ProviderSpec> {
    (0..3)
        .map(|i| ProviderSpec::fs(&format!("fs{i}"), dir.join(format!("fs{i}"))))
        .collect()
}

fn print_row(what: &str, f: &Figures) {
    let down = f.down_mb_s.map_or("-".to_owned(), |d| format!("{d:.1}"));
    let mib = |r: Option<u64>| r.map_or("-".to_owned(), |r| r.to_string());
    let (up_rss, rss) = (mib(f.upload_rss_mib), mib(f.peak_rss_mib));
    let cpu = |c: Option<f64>| c.map_or("-".to_owned(), |c| format!("{c:.2}"));
    let (up_cpu, down_cpu) = (cpu(f.cpu_s_per_gib.0), cpu(f.cpu_s_per_gib.1));
    println!(
        "{what:<28} {:>10.1} {down:>10} {up_rss:>14} {rss:>14} {up_cpu:>10} {down_cpu:>10}",
        f.up_mb_s
    );
}

async fn run(args: Args) -> Result<bool, Failure> {
    println!(
        "broker_load: {} bytes ({:.2} GiB), chunk 4 MiB, 2+1",
        args.size,
        args.size as f64 / (1u64 << 30) as f64
    );
    println!(
        "{:<28} {:>10} {:>10} {:>14} {:>14} {:>10} {:>10}",
        "run", "up MB/s", "down MB/s", "RSS@up MiB", "RSS peak MiB", "CPU s/GiB", "(down)"
    );
    println!(
        "(CPU s/GiB: the broker process's user + system CPU time per GiB moved, upload and download)"
    );
    let dir = tempfile::tempdir()?;
    if args.rss_check {
        let f = through_broker(&fs_providers(dir.path()), args.size, true).await?;
        print_row("broker, 3 fs (upload only)", &f);
        let peak = f.peak_rss_mib.ok_or("could not read VmHWM")?;
        println!(
            "peak RSS {peak} MiB, target < {RSS_TARGET_MIB} MiB: {}",
            if peak < RSS_TARGET_MIB {
                "met"
            } else {
                "MISSED"
            }
        );
        return Ok(peak < RSS_TARGET_MIB);
    }
    let fs = through_broker(&fs_providers(dir.path()), args.size, false).await?;
    print_row("broker, 3 fs providers", &fs);
    drop(dir);
    let mut motos = Vec::new();
    let mut specs = Vec::new();
    for i in 0..3 {
        let peer = start_moto().await?;
        create_s3_bucket(&peer, BUCKET).await?;
        specs.push(ProviderSpec::s3(&format!("moto{i}"), &peer, BUCKET));
        motos.push(peer);
    }
    let moto = through_broker(&specs, args.size, false).await?;
    print_row("broker, 3 moto providers", &moto);
    drop(motos);
    let direct = direct(args.size).await?;
    print_row("direct rust-s3, 1 moto", &direct);
    let down_ratio = match (moto.down_mb_s, direct.down_mb_s) {
        (Some(b), Some(d)) => format!("{:.2}", b / d),
        _ => "-".to_owned(),
    };
    println!(
        "ratio broker(moto)/direct: up {:.2}, down {down_ratio}",
        moto.up_mb_s / direct.up_mb_s
    );
    Ok(true)
}

/// This load generator shares the machine's cores with the broker it
/// measures, so its own CPU time lowers the broker's figures. glibc hands
/// its 1 MiB frame buffers back to the kernel and faults fresh pages in for
/// the next ones (two thirds of all page faults of a run, measured with
/// `perf record -e page-faults`); a fixed mmap threshold and a high trim
/// threshold keep those pages in the heap for reuse. Only this process is
/// affected: the broker runs with its defaults.
fn keep_freed_memory_for_reuse() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called before any other thread exists; mallopt only sets
    // allocator parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

fn main() {
    keep_freed_memory_for_reuse();
    shardgate_benches::load_bin::run("broker_load", parse_args(), run);
}
