//! Many concurrent transfers against one broker, and what they do to its
//! memory (issue 15): the real `shardgate serve` binary over three `fs`
//! providers on loopback, with `pipeline.memory_budget_bytes` set.
//!
//! ```text
//! cargo run --release -p shardgate-benches --bin memory_load
//! cargo run --release -p shardgate-benches --bin memory_load -- \
//!     --downloads 64 --download-size 1GiB --uploads 16 --upload-size 256MiB \
//!     --budget 512MiB --settle-secs 60
//! ```
//!
//! One blob of `--download-size` is uploaded first. After a pause (so the
//! broker's allocator trim has run) its resident set is the *pre-load*
//! level. Then `--downloads` concurrent downloads of that blob and
//! `--uploads` concurrent uploads of fresh patterns run at once, each on
//! its own connection, as a well-behaved client would: a refusal with
//! RESOURCE_EXHAUSTED (the broker's documented backpressure) is counted
//! and retried after a second; anything else is a failure. Every
//! downloaded byte is compared with the pattern while it arrives; after
//! the load every uploaded blob is read back and compared too.
//!
//! Printed: bytes and MB/s, refusals, the broker's peak RSS (sampled every
//! 100 ms, and VmHWM), its RSS `--settle-secs` after the load, and three
//! verdicts: every byte exact with only backpressure errors; peak RSS ≤
//! budget + 128 MiB; RSS after settling within 20 % of the pre-load level.
//! Exits non-zero if one is missed.

use shardgate_benches::load_bin::parse_size;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shardgate_client::{ClientError, ErrorKind};
use shardgate_tests::broker_process::client::{get_checked, header, put_pattern};
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::broker_process::{BrokerProcess, ProviderSpec};

type Failure = Box<dyn std::error::Error + Send + Sync>;

const MIB: u64 = 1 << 20;
/// Allowed above the budget: the broker itself, HTTP/2 buffers, the index.
const SLACK_MIB: u64 = 128;
/// A refused transfer is retried at most this many times.
const MAX_ATTEMPTS: u32 = 120;

struct Args {
    downloads: usize,
    download_size: u64,
    uploads: usize,
    upload_size: u64,
    budget: u64,
    settle: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        downloads: 64,
        download_size: 1 << 30,
        uploads: 16,
        upload_size: 256 * MIB,
        budget: 512 * MIB,
        settle: Duration::from_secs(60),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--downloads" => args.downloads = parse_count(&value()?)?,
            "--download-size" => args.download_size = parse_size(&value()?)?,
            "--uploads" => args.uploads = parse_count(&value()?)?,
            "--upload-size" => args.upload_size = parse_size(&value()?)?,
            "--budget" => args.budget = parse_size(&value()?)?,
            "--settle-secs" => {
                args.settle = Duration::from_secs(parse_count(&value()?)? as u64);
            }
            "--bench" => {} // passed by `cargo bench`
            other => {
                return Err(format!(
                    "unknown argument {other:?} (--downloads N, --download-size S, --uploads N, \
                     --upload-size S, --budget S, --settle-secs N; S as N[KiB|MiB|GiB])"
                ));
            }
        }
    }
    Ok(args)
}

fn parse_count(text: &str) -> Result<usize, String> {
    text.parse().map_err(|_| format!("bad count {text:?}"))
}

/// Counts shared by the transfer tasks.
#[derive(Default)]
struct Tally {
    bytes: AtomicU64,
    refusals: AtomicU64,
}

/// Runs `attempt` until it succeeds, retrying after the broker's
/// backpressure (RESOURCE_EXHAUSTED with a retry hint: the SDK's
/// `Throttled`), after the hint; any other error ends it.
async fn with_backpressure<T, F, Fut>(tally: &Tally, mut attempt: F) -> Result<T, Failure>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    for _ in 0..MAX_ATTEMPTS {
        match attempt().await {
            Ok(done) => return Ok(done),
            Err(e) if e.kind() == ErrorKind::Throttled => {
                tally.refusals.fetch_add(1, Ordering::Relaxed);
                let wait = e.retry_after().unwrap_or(Duration::from_secs(1));
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(format!("{:?}: {e}", e.kind()).into()),
        }
    }
    Err(format!("still refused after {MAX_ATTEMPTS} attempts").into())
}

async fn download(
    broker: Arc<BrokerProcess>,
    key: Arc<str>,
    blob: Arc<str>,
    pattern: Pattern,
    tally: Arc<Tally>,
) -> Result<(), Failure> {
    let client = broker.client().await?;
    let got = with_backpressure(&tally, || {
        get_checked(&client, Some(&key), &blob, None, pattern)
    })
    .await?;
    if got.len != pattern.len() || got.first_mismatch.is_some() {
        return Err(format!(
            "download differs: {} of {} bytes, first mismatch {:?}",
            got.len,
            pattern.len(),
            got.first_mismatch
        )
        .into());
    }
    tally.bytes.fetch_add(got.len, Ordering::Relaxed);
    Ok(())
}

async fn upload(
    broker: Arc<BrokerProcess>,
    key: Arc<str>,
    i: usize,
    pattern: Pattern,
    tally: Arc<Tally>,
) -> Result<(u32, String), Failure> {
    let client = broker.client().await?;
    let name = format!("up{i}");
    let put = with_backpressure(&tally, || {
        put_pattern(
            &client,
            Some(&key),
            header(&name, pattern.len(), None),
            pattern,
        )
    })
    .await?;
    tally.bytes.fetch_add(pattern.len(), Ordering::Relaxed);
    Ok((seed_of(i), put.blob_id))
}

fn mib(kib: Option<u64>) -> u64 {
    kib.unwrap_or(0) / 1024
}

async fn run(args: Args) -> Result<bool, Failure> {
    let dir = tempfile::tempdir()?;
    let providers: Vec<ProviderSpec> = (0..3)
        .map(|i| ProviderSpec::fs(&format!("fs{i}"), dir.path().join(format!("fs{i}"))))
        .collect();
    let extra = format!("[pipeline]\nmemory_budget_bytes = {}\n", args.budget);
    let broker = Arc::new(BrokerProcess::start(&providers, &extra).await?);
    let (_, key) = broker.create_tenant("load", Some(1 << 40)).await?;
    let key: Arc<str> = key.into();
    println!(
        "memory_load: {} downloads of {} MiB and {} uploads of {} MiB at once; budget {} MiB; \
         3 fs providers, 4 MiB chunks, 2+1",
        args.downloads,
        args.download_size / MIB,
        args.uploads,
        args.upload_size / MIB,
        args.budget / MIB
    );

    let served = Pattern::new(1, args.download_size);
    let client = broker.client().await?;
    let blob: Arc<str> = put_pattern(
        &client,
        Some(&key),
        header("served", args.download_size, None),
        served,
    )
    .await?
    .blob_id
    .into();
    // Past one allocator trim tick of the broker (10 s).
    tokio::time::sleep(Duration::from_secs(12)).await;
    let idle_rss = mib(broker.rss_kib());
    println!(
        "broker RSS before the load: {idle_rss} MiB ({})",
        resident_by_kind(broker.pid())
    );

    let tally = Arc::new(Tally::default());
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let broker = broker.clone();
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(mib(broker.rss_kib()), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let started = Instant::now();
    let mut downloads = tokio::task::JoinSet::new();
    for _ in 0..args.downloads {
        downloads.spawn(download(
            broker.clone(),
            key.clone(),
            blob.clone(),
            served,
            tally.clone(),
        ));
    }
    let mut uploads = tokio::task::JoinSet::new();
    for i in 0..args.uploads {
        let pattern = Pattern::new(seed_of(i), args.upload_size);
        uploads.spawn(upload(
            broker.clone(),
            key.clone(),
            i,
            pattern,
            tally.clone(),
        ));
    }
    let mut failures = Vec::new();
    while let Some(done) = downloads.join_next().await {
        if let Err(e) = done.map_err(Failure::from).and_then(|r| r) {
            failures.push(format!("download: {e}"));
        }
    }
    let mut uploaded = Vec::new();
    while let Some(done) = uploads.join_next().await {
        match done.map_err(Failure::from).and_then(|r| r) {
            Ok(blob) => uploaded.push(blob),
            Err(e) => failures.push(format!("upload: {e}")),
        }
    }
    let took = started.elapsed();
    sampler.abort();
    let peak_sampled = peak.load(Ordering::Relaxed);
    let hwm = mib(broker.peak_rss_kib());
    let moved = tally.bytes.load(Ordering::Relaxed);
    println!(
        "load: {:.1} GiB in {:.1} s = {:.0} MB/s; {} refusals (RESOURCE_EXHAUSTED, retried); {} failures",
        moved as f64 / (1u64 << 30) as f64,
        took.as_secs_f64(),
        moved as f64 / 1e6 / took.as_secs_f64(),
        tally.refusals.load(Ordering::Relaxed),
        failures.len()
    );
    for failure in failures.iter().take(5) {
        println!("  failed: {failure}");
    }
    println!("broker RSS peak: {peak_sampled} MiB sampled, {hwm} MiB VmHWM");

    tokio::time::sleep(args.settle).await;
    let settled = mib(broker.rss_kib());
    println!(
        "broker RSS {} s after the load: {settled} MiB ({})",
        args.settle.as_secs(),
        resident_by_kind(broker.pid())
    );

    // Read back every upload now (after the settle measurement).
    let mut exact_uploads = 0;
    for (seed, blob) in &uploaded {
        let client = broker.client().await?;
        let pattern = Pattern::new(*seed, args.upload_size);
        let got = get_checked(&client, Some(&key), blob, None, pattern).await?;
        if got.len == args.upload_size && got.first_mismatch.is_none() {
            exact_uploads += 1;
        } else {
            failures.push(format!("upload {blob} reads back differently"));
        }
    }
    println!(
        "uploads read back exact: {exact_uploads} of {}",
        args.uploads
    );

    let limit = args.budget / MIB + SLACK_MIB;
    let exact = failures.is_empty() && exact_uploads == args.uploads;
    let bounded = hwm.max(peak_sampled) <= limit;
    let back = settled as f64 <= idle_rss as f64 * 1.2;
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "every byte exact, only backpressure errors: {}",
        verdict(exact)
    );
    println!(
        "peak RSS {} MiB <= budget + {SLACK_MIB} MiB = {limit} MiB: {}",
        hwm.max(peak_sampled),
        verdict(bounded)
    );
    println!(
        "RSS after {} s {settled} MiB within 20 % of the pre-load {idle_rss} MiB: {}",
        args.settle.as_secs(),
        verdict(back)
    );
    Ok(exact && bounded && back)
}

/// Where a process's resident set is, from `/proc/PID/smaps`: the brk
/// heap, anonymous mappings (malloc's thread arenas, stacks, mapped
/// buffers) and files — what tells a leak from an allocator keeping
/// freed memory.
fn resident_by_kind(pid: u32) -> String {
    let Ok(smaps) = std::fs::read_to_string(format!("/proc/{pid}/smaps")) else {
        return "smaps unreadable".into();
    };
    let (mut heap, mut anon, mut files, mut largest, mut holding) = (0u64, 0u64, 0u64, 0u64, 0);
    let mut kind = Kind::File;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else { continue };
        if !first.ends_with(':') {
            // A mapping's header: address range, perms, offset, device,
            // inode, then its path (none for anonymous memory).
            kind = match fields.nth(4) {
                None => Kind::Anon,
                Some("[heap]") => Kind::Heap,
                Some(path) if path.starts_with('[') => Kind::Anon,
                Some(_) => Kind::File,
            };
        } else if first == "Rss:" {
            let kib: u64 = fields.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            match kind {
                Kind::Heap => heap += kib,
                Kind::File => files += kib,
                Kind::Anon => {
                    anon += kib;
                    largest = largest.max(kib);
                    holding += usize::from(kib > 0);
                }
            }
        }
    }
    format!(
        "heap {} MiB, anonymous {} MiB in {holding} mappings (largest {} MiB), files {} MiB",
        heap / 1024,
        anon / 1024,
        largest / 1024,
        files / 1024
    )
}

enum Kind {
    Heap,
    Anon,
    File,
}

/// The pattern seed of upload `i`.
fn seed_of(i: usize) -> u32 {
    100 + i as u32
}

fn main() {
    shardgate_benches::load_bin::run("memory_load", parse_args(), run);
}
