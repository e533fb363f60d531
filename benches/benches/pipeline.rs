//! Per-chunk data path at 4 MiB: the raw parts (BLAKE3, AES-256-GCM, both
//! Reed–Solomon crates) and the two pipeline stages of `shardgate-core`
//! (`seal_chunk`: hash → encrypt → id → encode → shard objects;
//! `open_chunk` with `m` data shards missing: verify → rebuild → id → decrypt)
//! for 2+1, 4+2 and 10+4. Ends with a summary table of GB/s per core against
//! the ceiling `1 / Σ 1/part`.
//!
//! Run: `cargo bench -p shardgate-benches --bench pipeline`

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use shardgate_benches::rs_compare::{RsCrate, encode, rebuild, shards_of};
use shardgate_benches::summary::{Row, ceiling, gbps, print_table};
use shardgate_benches::{CHUNK, CONFIGS, test_data};
use shardgate_core::aead::{MANAGED_AAD, open, seal};
use shardgate_core::{
    ConvergenceScope, ConvergenceSecret, ErasureParams, MasterKey, OpenKey, SealKey, SealedChunk,
    open_chunk, seal_chunk,
};

/// Target from the design brief: 2+1 seal at ≥ 1.5 GB/s per core.
const SEAL_TARGET_GBPS: f64 = 1.5;

fn secret() -> ConvergenceSecret {
    MasterKey::from_bytes([3; 32])
        .convergence_secret(ConvergenceScope::Tenant("bench"))
        .expect("non-empty tenant")
}

/// Slots for `open_chunk` with the first `m` data shards missing (the
/// expensive case: every configuration here has `m <= k`).
fn slots_missing_m(sealed: &SealedChunk, m: usize) -> Vec<Option<&[u8]>> {
    sealed
        .shards
        .iter()
        .enumerate()
        .map(|(i, s)| (i >= m).then_some(s.as_slice()))
        .collect()
}

fn bench_parts(c: &mut Criterion, data: &[u8]) {
    let key = secret().chunk_key(blake3::hash(data).as_bytes());
    let sealed = seal(&key, MANAGED_AAD, data).expect("seal");
    let mut g = c.benchmark_group("parts");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("blake3", |b| b.iter(|| blake3::hash(black_box(data))));
    g.bench_function("aes-256-gcm seal", |b| {
        b.iter(|| seal(&key, MANAGED_AAD, black_box(data)).expect("seal"))
    });
    g.bench_function("aes-256-gcm open", |b| {
        b.iter(|| open(&key, MANAGED_AAD, black_box(&sealed)).expect("open"))
    });
    g.finish();
}

fn bench_rs(c: &mut Criterion, data: &[u8]) {
    let mut g = c.benchmark_group("rs");
    g.throughput(Throughput::Bytes(data.len() as u64));
    for (k, m) in CONFIGS {
        let label = format!("{k}+{m}");
        for which in [RsCrate::Simd, RsCrate::Erasure] {
            let mut shards = shards_of(data, k, m);
            let parity = encode(which, &shards[..k], m);
            shards.truncate(k);
            shards.extend(parity);
            let missing: Vec<usize> = (0..m).collect();
            g.bench_with_input(
                BenchmarkId::new(format!("{} encode", which.name()), &label),
                &shards[..k],
                |b, data_shards| b.iter(|| encode(which, black_box(data_shards), m)),
            );
            g.bench_function(
                BenchmarkId::new(format!("{} rebuild", which.name()), &label),
                |b| b.iter(|| rebuild(which, black_box(&mut shards), k, &missing)),
            );
        }
    }
    g.finish();
}

fn bench_pipeline(c: &mut Criterion, data: &[u8]) {
    let secret = secret();
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Bytes(data.len() as u64));
    for (k, m) in CONFIGS {
        let params = ErasureParams::new(k, m).expect("bench params in bounds");
        let label = format!("{k}+{m}");
        g.bench_function(BenchmarkId::new("seal_chunk", &label), |b| {
            b.iter(|| seal_chunk(black_box(data), SealKey::Managed(&secret), params).expect("seal"))
        });
        let sealed = seal_chunk(data, SealKey::Managed(&secret), params).expect("seal");
        let slots = slots_missing_m(&sealed, m);
        let entry = sealed.manifest_entry();
        g.bench_function(
            BenchmarkId::new(format!("open_chunk ({m} missing)"), &label),
            |b| {
                b.iter(|| {
                    open_chunk(
                        black_box(&slots),
                        &entry,
                        params,
                        OpenKey::Managed(&sealed.key),
                    )
                    .expect("open")
                })
            },
        );
    }
    g.finish();
}

/// Re-measures every part with a plain loop and prints the tables.
fn summary(data: &[u8]) {
    let budget = Duration::from_millis(400);
    let n = data.len();
    let secret = secret();
    let key = secret.chunk_key(blake3::hash(data).as_bytes());
    let sealed_bytes = seal(&key, MANAGED_AAD, data).expect("seal");

    let t_hash = gbps(n, budget, || {
        black_box(blake3::hash(black_box(data)));
    });
    let t_seal = gbps(n, budget, || {
        black_box(seal(&key, MANAGED_AAD, black_box(data)).expect("seal"));
    });
    let t_open = gbps(n, budget, || {
        black_box(open(&key, MANAGED_AAD, black_box(&sealed_bytes)).expect("open"));
    });
    let mut parts = vec![
        Row {
            name: "BLAKE3".into(),
            measured: t_hash,
            ceiling: None,
            target: None,
        },
        Row {
            name: "AES-256-GCM seal".into(),
            measured: t_seal,
            ceiling: None,
            target: None,
        },
        Row {
            name: "AES-256-GCM open".into(),
            measured: t_open,
            ceiling: None,
            target: None,
        },
    ];
    let mut stages = Vec::new();
    for (k, m) in CONFIGS {
        let params = ErasureParams::new(k, m).expect("bench params in bounds");
        let missing: Vec<usize> = (0..m).collect();
        let mut rs = Vec::new();
        for which in [RsCrate::Simd, RsCrate::Erasure] {
            let mut shards = shards_of(data, k, m);
            let parity = encode(which, &shards[..k], m);
            shards.truncate(k);
            shards.extend(parity);
            let enc = gbps(n, budget, || {
                black_box(encode(which, black_box(&shards[..k]), m));
            });
            let reb = gbps(n, budget, || {
                rebuild(which, black_box(&mut shards), k, &missing)
            });
            parts.push(Row {
                name: format!("{} encode {k}+{m}", which.name()),
                measured: enc,
                ceiling: None,
                target: None,
            });
            parts.push(Row {
                name: format!("{} rebuild {k}+{m}", which.name()),
                measured: reb,
                ceiling: None,
                target: None,
            });
            rs.push((enc, reb));
        }
        // The core uses reed-solomon-erasure: its figures make the ceiling.
        let (enc, reb) = rs[1];
        // Shard 0's body is a prefix of the sealed chunk: its complete
        // BLAKE3 subtrees come from the chunk-id pass, so only the other
        // k + m - 1 bodies are hashed on their own.
        let other_bodies = (k + m - 1) as f64 / k as f64;
        let seal_ceiling = ceiling(&[
            (1.0, t_hash),          // BLAKE3(plaintext) for the convergent key
            (1.0, t_seal),          // AES-256-GCM
            (1.0, t_hash),          // chunk id = BLAKE3(ciphertext), incl. shard 0's subtrees
            (1.0, enc),             // Reed–Solomon encode
            (other_bodies, t_hash), // BLAKE3 of shard bodies 1..k+m for their headers
        ]);
        let open_ceiling = ceiling(&[
            (1.0, t_hash), // BLAKE3 of the k shard bodies read
            (1.0, reb),    // Reed–Solomon rebuild of m data shards
            (1.0, t_hash), // chunk id check
            (1.0, t_open), // AES-256-GCM open
        ]);
        let sealed = seal_chunk(data, SealKey::Managed(&secret), params).expect("seal");
        let slots = slots_missing_m(&sealed, m);
        let entry = sealed.manifest_entry();
        let seal_gbps = gbps(n, budget, || {
            black_box(
                seal_chunk(black_box(data), SealKey::Managed(&secret), params).expect("seal"),
            );
        });
        let open_gbps = gbps(n, budget, || {
            black_box(
                open_chunk(&slots, &entry, params, OpenKey::Managed(&sealed.key)).expect("open"),
            );
        });
        stages.push(Row {
            name: format!("seal_chunk {k}+{m}"),
            measured: seal_gbps,
            ceiling: Some(seal_ceiling),
            target: ((k, m) == (2, 1)).then_some(SEAL_TARGET_GBPS),
        });
        stages.push(Row {
            name: format!("open_chunk {k}+{m} ({m} missing)"),
            measured: open_gbps,
            ceiling: Some(open_ceiling),
            target: None,
        });
    }
    println!("\n== summary: 4 MiB chunks, one thread (GB/s = 10^9 plaintext bytes/s per core) ==");
    print_table("parts", &parts);
    print_table("pipeline stages (ceiling = 1 / sum of part costs)", &stages);
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1200))
        .sample_size(10)
        .configure_from_args();
    let data = test_data(CHUNK);
    bench_parts(&mut criterion, &data);
    bench_rs(&mut criterion, &data);
    bench_pipeline(&mut criterion, &data);
    criterion.final_summary();
    // `cargo test --benches` runs each benchmark once without `--bench`;
    // the summary is for real runs only.
    if std::env::args().any(|a| a == "--bench") {
        summary(&data);
    }
}
