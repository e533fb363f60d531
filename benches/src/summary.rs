//! End-of-run summary: a plain timing loop (independent of criterion's
//! statistics) and a table of GB/s per core against the part-sum ceiling.
//!
//! GB/s are decimal (10^9 bytes per second) of *plaintext chunk* bytes, on
//! one thread, so "per core" is the figure itself.

use std::time::{Duration, Instant};

/// Median throughput of `f` in GB/s, where one call processes `bytes`.
/// Runs 2 warm-up calls, then at least 5 calls and about `budget` in total.
pub fn gbps(bytes: usize, budget: Duration, mut f: impl FnMut()) -> f64 {
    f();
    f();
    let start = Instant::now();
    let mut times = Vec::new();
    while times.len() < 5 || start.elapsed() < budget {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
        if times.len() >= 10_000 {
            break;
        }
    }
    times.sort();
    let median = times[times.len() / 2].as_secs_f64();
    bytes as f64 / median / 1e9
}

/// The throughput a pipeline would reach if it did nothing but its parts in
/// sequence: `1 / Σ (weight_i / throughput_i)`. A weight says how many
/// chunk-lengths of bytes that part processes per chunk (e.g. hashing all
/// `k + m` shards is `(k + m) / k`).
pub fn ceiling(parts: &[(f64, f64)]) -> f64 {
    1.0 / parts
        .iter()
        .map(|(weight, gbps)| weight / gbps)
        .sum::<f64>()
}

/// One summary row.
pub struct Row {
    /// Label in the first column (the stage or pipeline measured).
    pub name: String,
    /// Measured throughput in GB/s (see the module docs for the unit).
    pub measured: f64,
    /// Part-sum ceiling from [`ceiling`] in GB/s; `None` for single parts,
    /// which print `-`.
    pub ceiling: Option<f64>,
    /// Minimum GB/s the row should reach; printed as `ok` or `MISS` (the
    /// run does not fail on a miss).
    pub target: Option<f64>,
}

/// Prints rows as a fixed-width table.
pub fn print_table(title: &str, rows: &[Row]) {
    println!("\n{title}");
    println!(
        "{:<34} {:>9} {:>9} {:>11} {:>8}",
        "", "GB/s", "ceiling", "% of ceil.", "target"
    );
    for row in rows {
        let (ceil, pct) = match row.ceiling {
            Some(c) => (
                format!("{c:.2}"),
                format!("{:.0}%", 100.0 * row.measured / c),
            ),
            None => ("-".into(), "-".into()),
        };
        let target = match row.target {
            Some(t) if row.measured >= t => format!(">={t} ok"),
            Some(t) => format!(">={t} MISS"),
            None => String::new(),
        };
        println!(
            "{:<34} {:>9.2} {:>9} {:>11} {:>8}",
            row.name, row.measured, ceil, pct, target
        );
    }
}
