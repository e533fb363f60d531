//! What the whole-process load generators (`src/bin/broker_load.rs`,
//! `memory_load.rs`) share: sizes on the command line, and a `main` that
//! runs the load on a two-worker runtime (the machine has two cores and
//! the broker under test needs them too) and turns its answer into the
//! exit code.

use std::future::Future;

/// `N`, `NB`, `NKiB`, `NMiB` or `NGiB` as bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = digits.parse().map_err(|_| format!("bad size {text:?}"))?;
    let scale = match unit {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return Err(format!("bad unit in {text:?}: use KiB, MiB or GiB")),
    };
    Ok(n * scale)
}

/// Runs `load` (built from the parsed arguments) and exits: 0 when it
/// returns `Ok(true)`, 1 when a target was missed (`Ok(false)`), 2 on bad
/// arguments or a failure, printed with `name`.
pub fn run<A, F, E>(name: &str, args: Result<A, String>, load: impl FnOnce(A) -> F)
where
    F: Future<Output = Result<bool, E>>,
    E: std::fmt::Display,
{
    let args = match args {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: tokio runtime: {e}");
            std::process::exit(2);
        }
    };
    match runtime.block_on(load(args)) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::exit(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("12"), Ok(12));
        assert_eq!(parse_size("3MiB"), Ok(3 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert!(parse_size("1GB").is_err());
        assert!(parse_size("MiB").is_err());
    }
}
