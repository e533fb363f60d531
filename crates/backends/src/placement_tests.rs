//! Property tests for placement. Sample sizes and tolerances are chosen so a
//! correct implementation fails with negligible probability (each bound is
//! many standard deviations wide) while a broken one (e.g. rank by name, or
//! ignoring weights) fails every time.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use shardgate_core::ContentId;

use crate::error::BackendErrorKind;
use crate::placement::{PlacementCandidate, PlacementPolicy, fault_tolerance, place};

fn chunk(i: u64) -> ContentId {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&i.to_le_bytes());
    ContentId::from_bytes(*blake3::hash(&b).as_bytes())
}

fn providers(n: usize) -> Vec<PlacementCandidate> {
    (0..n)
        .map(|i| PlacementCandidate {
            provider: format!("p{i}"),
            weight: 1.0,
        })
        .collect()
}

fn policy(k: u8, m: u8) -> PlacementPolicy {
    PlacementPolicy {
        k,
        m,
        allow_reduced: false,
    }
}

fn set_of(c: &ContentId, cands: &[PlacementCandidate], p: PlacementPolicy) -> HashSet<String> {
    place(c, cands, p)
        .expect("enough providers")
        .shard_providers
        .into_iter()
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn shards_go_to_distinct_providers(n in 3usize..12, k in 1u8..4, m in 0u8..3, seed in any::<u64>(),
                                       weights in proptest::collection::vec(0.1f64..10.0, 12)) {
        prop_assume!(usize::from(k + m) <= n);
        let cands: Vec<_> = (0..n)
            .map(|i| PlacementCandidate { provider: format!("p{i}"), weight: weights[i] })
            .collect();
        for i in 0..200 {
            let p = place(&chunk(seed.wrapping_add(i)), &cands, policy(k, m)).expect("placement");
            let distinct: HashSet<_> = p.shard_providers.iter().collect();
            prop_assert_eq!(p.shard_providers.len(), usize::from(k + m));
            prop_assert_eq!(distinct.len(), usize::from(k + m));
            prop_assert!(!p.reduced);
            prop_assert_eq!(p.fault_tolerance, usize::from(m));
        }
    }

    /// Adding one provider to n moves ~1/(n+1) of the shard slots, all to
    /// the newcomer. 3000 chunks: the moved count is binomial with a relative
    /// standard deviation under 6 %, so ±25 % of the ideal is > 4 sigma.
    #[test]
    fn joining_moves_about_one_share_all_to_the_newcomer(n in 3usize..10, seed in any::<u64>()) {
        let p = policy(2, 1);
        let before = providers(n);
        let after = providers(n + 1);
        let newcomer = format!("p{n}");
        let chunks = 3000u64;
        let mut moved = 0usize;
        for i in 0..chunks {
            let c = chunk(seed.wrapping_add(i));
            let (old, new) = (set_of(&c, &before, p), set_of(&c, &after, p));
            for gained in new.difference(&old) {
                prop_assert_eq!(gained, &newcomer, "a shard moved to an old provider");
                moved += 1;
            }
        }
        let fraction = moved as f64 / (chunks as f64 * p.shards() as f64);
        let ideal = 1.0 / (n as f64 + 1.0);
        prop_assert!((fraction - ideal).abs() <= 0.25 * ideal, "moved {fraction:.4}, ideal {ideal:.4}");
    }

    /// Removing a provider moves exactly the shards it held: every other
    /// provider keeps every chunk it had.
    #[test]
    fn leaving_moves_only_the_leavers_share(n in 4usize..10, gone in 0usize..10, seed in any::<u64>()) {
        let gone = gone % n;
        let p = policy(2, 1);
        let before = providers(n);
        let after: Vec<_> = before.iter().filter(|c| c.provider != format!("p{gone}")).cloned().collect();
        let mut had = 0usize;
        let mut moved = 0usize;
        for i in 0..1000 {
            let c = chunk(seed.wrapping_add(i));
            let (old, new) = (set_of(&c, &before, p), set_of(&c, &after, p));
            had += usize::from(old.contains(&format!("p{gone}")));
            for lost in old.difference(&new) {
                prop_assert_eq!(lost, &format!("p{gone}"));
                moved += 1;
            }
        }
        prop_assert_eq!(moved, had);
    }

    /// With one slot, P(provider wins) = w / Σw exactly; 20000 chunks keep
    /// each share within ±12 % relative (> 4 sigma for shares >= 5 %).
    #[test]
    fn weights_set_the_share(weights in proptest::collection::vec(1.0f64..4.0, 3..7), seed in any::<u64>()) {
        let cands: Vec<_> = weights.iter().enumerate()
            .map(|(i, w)| PlacementCandidate { provider: format!("p{i}"), weight: *w })
            .collect();
        let total: f64 = weights.iter().sum();
        let chunks = 20_000u64;
        let mut wins: HashMap<String, usize> = HashMap::new();
        for i in 0..chunks {
            let pl = place(&chunk(seed.wrapping_add(i)), &cands, policy(1, 0)).expect("placement");
            *wins.entry(pl.shard_providers[0].clone()).or_default() += 1;
        }
        for c in &cands {
            let share = *wins.get(&c.provider).unwrap_or(&0) as f64 / chunks as f64;
            let want = c.weight / total;
            prop_assert!((share - want).abs() <= 0.12 * want, "{}: share {share:.4}, want {want:.4}", c.provider);
        }
    }
}

#[test]
fn heavier_provider_holds_more_shards_with_several_slots() {
    let mut cands = providers(6);
    cands[0].weight = 3.0;
    let mut count = 0;
    for i in 0..3000 {
        count += usize::from(set_of(&chunk(i), &cands, policy(2, 1)).contains("p0"));
    }
    // Equal weights would give 3/6 = 50 % of chunks; weight 3 gives ~80 %.
    assert!(count > 2100, "heavy provider in {count} of 3000 chunks");
}

#[test]
fn too_few_providers_is_refused_unless_policy_allows_reduced() {
    let cands = providers(2);
    let err = place(&chunk(1), &cands, policy(2, 1)).expect_err("2 < 3");
    assert_eq!(err.kind(), &BackendErrorKind::InsufficientProviders);
    assert!(
        err.to_string()
            .contains("2 healthy providers available, 3 needed"),
        "{err}"
    );

    let allowed = PlacementPolicy {
        allow_reduced: true,
        ..policy(2, 1)
    };
    let p = place(&chunk(1), &cands, allowed).expect("reduced allowed");
    assert!(p.reduced);
    assert_eq!(p.shard_providers.len(), 3, "all shards are still stored");
    // 3 shards on 2 providers: one holds 2; losing it leaves 1 < k.
    assert_eq!(p.fault_tolerance, 0);

    let p = place(
        &chunk(1),
        &providers(3),
        PlacementPolicy {
            allow_reduced: true,
            ..policy(2, 2)
        },
    )
    .expect("reduced allowed");
    // 4 shards on 3 providers (2,1,1): losing the one with 1 leaves 3 >= 2,
    // losing a second one may leave 1.
    assert_eq!(p.fault_tolerance, 1);
    assert!(
        place(&chunk(1), &[], allowed).is_err(),
        "no provider at all is always refused"
    );
}

#[test]
fn fault_tolerance_counts_worst_case_losses() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(fault_tolerance(&s(&["a", "b", "c"]), 2), 1);
    assert_eq!(fault_tolerance(&s(&["a", "b", "c", "d", "e"]), 3), 2);
    assert_eq!(fault_tolerance(&s(&["a", "a", "b", "c"]), 2), 1);
    assert_eq!(fault_tolerance(&s(&["a", "a"]), 2), 0);
}

#[test]
fn bad_weight_is_a_config_error_naming_weight() {
    let mut cands = providers(3);
    cands[1].weight = 0.0;
    let err = place(&chunk(1), &cands, policy(2, 1)).expect_err("zero weight");
    assert_eq!(
        err.kind(),
        &BackendErrorKind::InvalidConfig {
            field: "weight".into()
        }
    );
}

/// A fixed, larger sample for the figures quoted in docs/performance.md: 5 → 6
/// providers with k=2, m=1 over 20000 chunks (60000 shard slots).
#[test]
fn measured_movement_on_join_and_leave() {
    let p = policy(2, 1);
    let (five, six) = (providers(5), providers(6));
    let chunks = 20_000u64;
    let (mut joined, mut left) = (0usize, 0usize);
    for i in 0..chunks {
        let c = chunk(i);
        let (a, b) = (set_of(&c, &five, p), set_of(&c, &six, p));
        joined += b.difference(&a).count();
        left += a.difference(&b).count();
    }
    let slots = (chunks as usize * p.shards()) as f64;
    let fraction = joined as f64 / slots;
    eprintln!(
        "join 5→6: {joined} of {slots} shard slots moved = {fraction:.4} (ideal {:.4})",
        1.0 / 6.0
    );
    // Moving 6 → 5 is the same change backwards: the leaver's share.
    assert_eq!(joined, left);
    assert!((fraction - 1.0 / 6.0).abs() < 0.1 / 6.0, "{fraction}");
}
