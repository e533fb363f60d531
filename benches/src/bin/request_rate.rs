//! Small-request rate of one broker replica: the real `shardgate serve`
//! binary on a PostgreSQL index (a scratch schema, dropped at the end) and
//! three `fs` providers, N concurrent SDK clients (one connection each)
//! doing, one phase after the other for a bounded time each, Puts of
//! fresh small blobs, Stats and Gets of the blobs put. Prints per phase
//! requests/s, p50/p99/max latency, the broker's CPU milliseconds per
//! request, the CPU milliseconds of the PostgreSQL backends serving the
//! broker (its connections' server processes, found by port), PostgreSQL's
//! WAL bytes and committed transactions per request (read server-wide, so
//! other clients of the server inflate them) and the machine's load
//! average, so a figure from a shared box can be told apart from one from
//! an idle box.
//!
//! ```text
//! SHARDGATE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo run --release -p shardgate-benches --bin request_rate -- \
//!   [--clients 16] [--secs 15] [--kib 4] [--index postgres|redb]
//! ```
//!
//! Every Get is compared byte for byte with what was put; any error ends
//! the run with a non-zero exit (no error is expected at these sizes).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::tokio_postgres::{self, NoTls};
use shardgate_client::{Client, GetOptions, PutOptions};
use shardgate_tests::broker_process::pattern::Pattern;
use shardgate_tests::broker_process::{BrokerProcess, ProviderSpec, process_cpu_seconds};

type Failure = Box<dyn std::error::Error + Send + Sync>;

const URL_VAR: &str = "SHARDGATE_TEST_POSTGRES_URL";

struct Args {
    clients: usize,
    secs: u64,
    size: u64,
    postgres: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        clients: 16,
        secs: 15,
        size: 4096,
        postgres: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--clients" => args.clients = value()?.parse().map_err(|_| "bad --clients")?,
            "--secs" => args.secs = value()?.parse().map_err(|_| "bad --secs")?,
            "--kib" => {
                args.size = value()?.parse::<u64>().map_err(|_| "bad --kib")? * 1024;
            }
            "--index" => {
                args.postgres = match value()?.as_str() {
                    "postgres" => true,
                    "redb" => false,
                    other => return Err(format!("--index postgres|redb, got {other:?}")),
                }
            }
            "--bench" => {} // passed by `cargo bench`
            other => {
                return Err(format!(
                    "unknown argument {other:?} (--clients N, --secs S, --kib N, \
                     --index postgres|redb)"
                ));
            }
        }
    }
    if args.clients == 0 || args.secs == 0 || args.size == 0 {
        return Err("--clients, --secs and --kib must be at least 1".into());
    }
    Ok(args)
}

/// The one-minute load average, as `uptime` shows it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// A scratch PostgreSQL schema for the broker's index.
struct Scratch {
    url: String,
    schema: String,
}

impl Scratch {
    fn index_toml(&self) -> String {
        // The default pool size of a replica (16 connections).
        format!(
            "[index]\nkind = \"postgres\"\nurl = {:?}\nschema = {:?}\n",
            self.url, self.schema
        )
    }

    /// WAL bytes written and transactions committed so far, server-wide
    /// (other databases' and other clients' work counts too), and the CPU
    /// time of each server backend serving `broker`.
    async fn counters(&self, broker: &BrokerProcess) -> Result<PgCounters, Failure> {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls).await?;
        tokio::spawn(connection);
        // Backends publish their statistics at most once a second.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let row = client
            .query_one(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8, \
                        (SELECT sum(xact_commit)::float8 FROM pg_stat_database)",
                &[],
            )
            .await?;
        // The broker's connections to the server, by its local ports; the
        // server side of each is a backend process on this machine.
        let ports: Vec<i32> = local_ports_to(broker.pid(), self.port())
            .into_iter()
            .collect();
        let backends = client
            .query(
                "SELECT pid FROM pg_stat_activity WHERE client_port = ANY($1)",
                &[&ports],
            )
            .await?
            .iter()
            .filter_map(|r| {
                let pid: i32 = r.get(0);
                let pid = u32::try_from(pid).ok()?;
                Some((pid, process_cpu_seconds(pid)?))
            })
            .collect();
        Ok(PgCounters {
            wal_bytes: row.get(0),
            commits: row.get(1),
            backends,
        })
    }

    /// The server's port from the URL (default 5432).
    fn port(&self) -> u16 {
        self.url
            .parse::<tokio_postgres::Config>()
            .ok()
            .and_then(|c| c.get_ports().first().copied())
            .unwrap_or(5432)
    }

    async fn drop_schema(&self) -> Result<(), Failure> {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls).await?;
        tokio::spawn(connection);
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                self.schema
            ))
            .await?;
        Ok(())
    }
}

/// PostgreSQL counters at one moment.
struct PgCounters {
    wal_bytes: f64,
    commits: f64,
    /// (backend pid, CPU seconds so far) of the backends serving the broker.
    backends: HashMap<u32, f64>,
}

/// What PostgreSQL did between two [`PgCounters`].
struct PgDelta {
    /// WAL bytes written (server-wide).
    wal_bytes: f64,
    /// Transactions committed (server-wide).
    commits: f64,
    /// CPU seconds of the backends serving the broker.
    cpu_seconds: f64,
}

impl PgCounters {
    /// From `self` to `later`; a backend that appeared meanwhile counts
    /// from zero.
    fn until(&self, later: &PgCounters) -> PgDelta {
        PgDelta {
            wal_bytes: later.wal_bytes - self.wal_bytes,
            commits: later.commits - self.commits,
            cpu_seconds: later
                .backends
                .iter()
                .map(|(pid, after)| after - self.backends.get(pid).copied().unwrap_or(0.0))
                .sum(),
        }
    }
}

/// Local ports of `pid`'s TCP connections to remote port `to` (its sockets
/// in `/proc/<pid>/fd` matched with `/proc/net/tcp{,6}` by inode).
fn local_ports_to(pid: u32, to: u16) -> HashSet<i32> {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let port_of = |addr: &str| {
        addr.rsplit(':')
            .next()
            .and_then(|p| u16::from_str_radix(p, 16).ok())
    };
    let mut ports = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() > 9
                && inodes.contains(f[9])
                && port_of(f[2]) == Some(to)
                && let Some(local) = port_of(f[1])
            {
                ports.insert(i32::from(local));
            }
        }
    }
    ports
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Put,
    Stat,
    Get,
}

/// What one phase measured.
struct Phase {
    requests: usize,
    took: Duration,
    latencies: Vec<Duration>,
    cpu_seconds: Option<f64>,
    load_before: String,
    /// PostgreSQL's share of the phase.
    pg: Option<PgDelta>,
}

impl Phase {
    fn print(&self, op: Op) {
        if self.latencies.is_empty() {
            println!("{op:?}: no request finished");
            return;
        }
        let mut l = self.latencies.clone();
        l.sort_unstable();
        let at = |q: f64| l[((l.len() as f64 * q) as usize).min(l.len() - 1)];
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let cpu = self.cpu_seconds.map_or("-".to_owned(), |c| {
            format!("{:.2}", c * 1e3 / self.requests as f64)
        });
        let per = |of: fn(&PgDelta) -> f64| {
            self.pg.as_ref().map_or("-".to_owned(), |d| {
                format!("{:.2}", of(d) / self.requests as f64)
            })
        };
        println!(
            "{:<5} {:>9} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>11} {:>8} {:>10} {:>8} {:>6} {:>6}",
            format!("{op:?}"),
            self.requests,
            self.requests as f64 / self.took.as_secs_f64(),
            ms(at(0.50)),
            ms(at(0.99)),
            ms(*l.last().unwrap_or(&Duration::ZERO)),
            cpu,
            per(|d| d.cpu_seconds * 1e3),
            per(|d| d.wal_bytes),
            per(|d| d.commits),
            self.load_before,
            load_average(),
        );
    }
}

/// The blob of client `c`'s `i`-th Put: its seed, so a Get can check it.
fn seed(c: usize, i: usize) -> u32 {
    (c as u32) << 20 | i as u32
}

/// Runs `op` from `clients` for `secs`; `blobs[c]` holds client c's
/// (blob id, seed) pairs (filled by Put, read by Stat and Get).
async fn phase(
    op: Op,
    clients: &[Client],
    blobs: &mut [Vec<(String, u32)>],
    args: &Args,
    broker: &BrokerProcess,
    scratch: Option<&Scratch>,
) -> Result<Phase, Failure> {
    let pg_before = match scratch {
        Some(s) => Some(s.counters(broker).await?),
        None => None,
    };
    let load_before = load_average();
    let cpu_before = broker.cpu_seconds();
    let deadline = Instant::now() + Duration::from_secs(args.secs);
    let started = Instant::now();
    let mut handles = Vec::new();
    for (c, client) in clients.iter().enumerate() {
        let client = client.clone();
        let mine = Arc::new(std::mem::take(&mut blobs[c]));
        let size = args.size;
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut put = Vec::new();
            if !matches!(op, Op::Put) && mine.is_empty() {
                return Err(format!("client {c} put nothing to {op:?}").into());
            }
            let mut i = 0usize;
            while Instant::now() < deadline {
                let t = Instant::now();
                match op {
                    Op::Put => {
                        let s = seed(c, mine.len() + put.len());
                        let bytes = Pattern::new(s, size).all();
                        let options = PutOptions::new(format!("rate/{c}/{s}"));
                        let up = client.put_bytes(bytes, options).await?;
                        put.push((up.response.blob_id, s));
                    }
                    Op::Stat => {
                        let (id, _) = &mine[i % mine.len()];
                        let info = client.stat(id).await?;
                        if info.size_bytes != size {
                            return Err(format!("stat of {id}: {} bytes", info.size_bytes).into());
                        }
                    }
                    Op::Get => {
                        let (id, s) = &mine[i % mine.len()];
                        let mut download = client.get(id, &GetOptions::default()).await?;
                        let mut got = Vec::with_capacity(size as usize);
                        while let Some(piece) = download.next_chunk().await? {
                            got.extend_from_slice(&piece);
                        }
                        download.finish().await?;
                        if got != Pattern::new(*s, size).all() {
                            return Err(format!("get of {id}: bytes differ").into());
                        }
                    }
                }
                latencies.push(t.elapsed());
                i += 1;
            }
            let mut mine = Arc::try_unwrap(mine).unwrap_or_else(|a| (*a).clone());
            mine.extend(put);
            Ok::<_, Failure>((c, mine, latencies))
        }));
    }
    let mut latencies = Vec::new();
    for h in handles {
        let (c, mine, l) = h.await??;
        blobs[c] = mine;
        latencies.extend(l);
    }
    let took = started.elapsed();
    let cpu_seconds = match (cpu_before, broker.cpu_seconds()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let pg = match (scratch, pg_before) {
        (Some(s), Some(before)) => Some(before.until(&s.counters(broker).await?)),
        _ => None,
    };
    Ok(Phase {
        requests: latencies.len(),
        took,
        latencies,
        cpu_seconds,
        load_before,
        pg,
    })
}

async fn run(args: Args) -> Result<(), Failure> {
    let scratch = if args.postgres {
        let url = std::env::var(URL_VAR).map_err(|_| {
            format!("set {URL_VAR} (e.g. postgres://postgres@127.0.0.1:5432/test) or --index redb")
        })?;
        Some(Scratch {
            url,
            schema: format!("sg_rate_{}", std::process::id()),
        })
    } else {
        None
    };
    let dir = tempfile::tempdir()?;
    let providers: Vec<ProviderSpec> = (0..3)
        .map(|i| ProviderSpec::fs(&format!("fs{i}"), dir.path().join(format!("fs{i}"))))
        .collect();
    let extra = scratch.as_ref().map_or(String::new(), Scratch::index_toml);
    let outcome = async {
        let broker = BrokerProcess::start(&providers, &extra).await?;
        let (_, key) = broker.create_tenant("rate", Some(u64::MAX / 2)).await?;
        let mut clients = Vec::new();
        for _ in 0..args.clients {
            // One connection per client, as separate apps would have.
            clients.push(broker.client().await?.with_api_key(&key)?);
        }
        println!(
            "request_rate: {} clients, {} s per phase, {} B blobs (2+1, one chunk), {} index, \
             3 fs providers, {} cores",
            args.clients,
            args.secs,
            args.size,
            if args.postgres { "PostgreSQL" } else { "redb" },
            std::thread::available_parallelism().map_or(0, |n| n.get()),
        );
        println!(
            "{:<5} {:>9} {:>10} {:>9} {:>9} {:>9} {:>11} {:>8} {:>10} {:>8} {:>6} {:>6}",
            "op",
            "requests",
            "req/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "broker CPU",
            "PG CPU",
            "WAL B",
            "PG txns",
            "load",
            "(end)"
        );
        println!(
            "(per request: CPU ms (user + system) of the broker and of the PostgreSQL backends \
             serving it, WAL bytes and committed transactions (server-wide); load: 1-minute \
             load average before and after)"
        );
        let mut blobs = vec![Vec::new(); args.clients];
        for op in [Op::Put, Op::Stat, Op::Get] {
            phase(op, &clients, &mut blobs, &args, &broker, scratch.as_ref())
                .await?
                .print(op);
        }
        Ok::<_, Failure>(())
    }
    .await;
    if let Some(scratch) = &scratch {
        scratch.drop_schema().await?;
    }
    outcome
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("request_rate: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args).await {
        eprintln!("request_rate: {e}");
        std::process::exit(1);
    }
}
