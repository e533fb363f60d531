//! Where the `k + m` shards of a chunk go: weighted rendezvous hashing.
//!
//! Every (chunk, provider) pair gets a score `-weight / ln(u)` where `u` is
//! the pair's BLAKE3 hash mapped into (0, 1). The chunk's shards go to the
//! `k + m` highest-scoring providers, so:
//!
//! * providers are distinct by construction;
//! * a provider with twice the weight wins about twice as often (for one
//!   slot this is exact: `P(p wins) = w_p / Σw`);
//! * when a provider joins, a chunk's set changes only if the newcomer
//!   outscores its weakest member, and then exactly that member is replaced —
//!   about `1/(n+1)` of all shards move, all of them *to* the newcomer;
//! * when a provider leaves, only chunks that used it change, each gaining
//!   the next-ranked provider — nothing else moves.
//!
//! Shard `i` of a new chunk goes to `providers[i]`. For stored chunks the
//! index records actual locations; on a membership change the repair worker
//! compares old and new sets and moves only the set difference (the
//! departing provider's shard index is re-created on the newcomer), which is
//! why stability is defined on the set.

use shardgate_core::ContentId;

use crate::error::{BackendError, BackendErrorKind};

/// A provider that may receive shards (the registry passes only healthy,
/// non-draining ones).
#[derive(Debug, Clone, PartialEq)]
pub struct PlacementCandidate {
    /// Provider name (the stable id).
    pub provider: String,
    /// Relative weight, > 0.
    pub weight: f64,
}

/// One shard of a chunk and the provider that holds it (or was chosen
/// for it): what a chunk write returns and a chunk read starts from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PlacedShard {
    /// Shard index, `0..k + m`.
    pub index: u8,
    /// Provider name.
    pub provider: String,
}

/// Redundancy wanted for one chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacementPolicy {
    /// Data shards.
    pub k: u8,
    /// Parity shards.
    pub m: u8,
    /// With fewer than `k + m` providers: `false` refuses, `true` stores all
    /// shards anyway (some providers hold two) and reports the lower fault
    /// tolerance in [`Placement::fault_tolerance`].
    pub allow_reduced: bool,
}

impl PlacementPolicy {
    /// Total shards per chunk.
    pub fn shards(&self) -> usize {
        usize::from(self.k) + usize::from(self.m)
    }
}

/// The outcome of placing one chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// `shard_providers[i]` receives shard `i`. Distinct unless `reduced`.
    pub shard_providers: Vec<String>,
    /// How many providers may be lost with the chunk still readable
    /// (`m` when fully placed).
    pub fault_tolerance: usize,
    /// True when fewer than `k + m` distinct providers were available and the
    /// policy allowed storing anyway: the caller must say so to the user.
    pub reduced: bool,
}

/// Hash of (chunk, provider) as a uniform value in the open interval (0, 1).
fn unit_hash(chunk: &ContentId, provider: &str) -> f64 {
    let mut h = blake3::Hasher::new_derive_key("shardgate/v1/placement");
    h.update(chunk.as_bytes());
    h.update(provider.as_bytes());
    let mut word = [0u8; 8];
    word.copy_from_slice(&h.finalize().as_bytes()[..8]);
    // 53 random bits → (0, 1): the +0.5 keeps both ends open so ln(u) is
    // finite and negative.
    ((u64::from_le_bytes(word) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// The rendezvous score of one provider for one chunk (higher wins).
pub fn score(chunk: &ContentId, provider: &str, weight: f64) -> f64 {
    -weight / unit_hash(chunk, provider).ln()
}

/// All candidates ranked by score, best first (ties by name, for determinism).
pub fn rank<'a>(
    chunk: &ContentId,
    candidates: &'a [PlacementCandidate],
) -> Vec<&'a PlacementCandidate> {
    let mut scored: Vec<(f64, &PlacementCandidate)> = candidates
        .iter()
        .map(|c| (score(chunk, &c.provider, c.weight), c))
        .collect();
    scored.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| a.1.provider.cmp(&b.1.provider))
    });
    scored.into_iter().map(|(_, c)| c).collect()
}

/// Candidate names in the chunk's rendezvous order, best first: a
/// placement takes the first `k + m`; spares for a failed write and
/// targets for a repaired shard come from the rest, in this order.
pub fn preference<'a>(chunk: &ContentId, candidates: &'a [PlacementCandidate]) -> Vec<&'a str> {
    rank(chunk, candidates)
        .into_iter()
        .map(|c| c.provider.as_str())
        .collect()
}

/// Place the shards of `chunk`.
pub fn place(
    chunk: &ContentId,
    candidates: &[PlacementCandidate],
    policy: PlacementPolicy,
) -> Result<Placement, BackendError> {
    let insufficient = |msg: String| {
        Err(BackendError::new(
            BackendErrorKind::InsufficientProviders,
            "placement",
            "place",
            msg,
        ))
    };
    if policy.k == 0 {
        return insufficient("k must be at least 1".to_owned());
    }
    if let Some(bad) = candidates
        .iter()
        .find(|c| !(c.weight.is_finite() && c.weight > 0.0))
    {
        return Err(BackendError::invalid_config(
            &bad.provider,
            "weight",
            "must be a finite number > 0",
        ));
    }
    let mut names: Vec<&str> = candidates.iter().map(|c| c.provider.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return insufficient("duplicate provider names among candidates".to_owned());
    }
    let wanted = policy.shards();
    let ranked = rank(chunk, candidates);
    if ranked.len() >= wanted {
        return Ok(Placement {
            shard_providers: ranked[..wanted]
                .iter()
                .map(|c| c.provider.clone())
                .collect(),
            fault_tolerance: usize::from(policy.m),
            reduced: false,
        });
    }
    if !policy.allow_reduced || ranked.is_empty() {
        return insufficient(format!(
            "{} healthy providers available, {wanted} needed for k={} m={}",
            ranked.len(),
            policy.k,
            policy.m
        ));
    }
    // Deal the shards round-robin over the ranked providers.
    let shard_providers: Vec<String> = (0..wanted)
        .map(|i| ranked[i % ranked.len()].provider.clone())
        .collect();
    Ok(Placement {
        fault_tolerance: fault_tolerance(&shard_providers, usize::from(policy.k)),
        shard_providers,
        reduced: true,
    })
}

/// How many providers can be lost (worst case: those holding most shards)
/// while at least `k` shards survive.
pub fn fault_tolerance(shard_providers: &[String], k: usize) -> usize {
    let mut counts: Vec<usize> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for p in shard_providers {
        match seen.iter().position(|s| *s == p.as_str()) {
            Some(i) => counts[i] += 1,
            None => {
                seen.push(p);
                counts.push(1);
            }
        }
    }
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let mut left = shard_providers.len();
    let mut lost = 0;
    for c in counts {
        if left - c < k {
            break;
        }
        left -= c;
        lost += 1;
    }
    lost
}
