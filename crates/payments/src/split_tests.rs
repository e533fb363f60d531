use proptest::prelude::*;

use super::*;

fn sum_of(split: &Split) -> u128 {
    u128::from(split.owner_msat)
        + split
            .providers
            .iter()
            .map(|(_, p)| u128::from(*p))
            .sum::<u128>()
        + u128::from(split.broker_msat)
}

#[test]
fn even_amount_splits_exactly_by_shares_and_shards() {
    let split = SplitConfig::default()
        .split(10_000, "alice", [("s3", 2), ("gcs", 1), ("b2", 1)])
        .expect("split");
    assert_eq!(split.owner_msat, 7_000);
    // 2,000 msat for providers, by shards 2:1:1, sorted by name.
    assert_eq!(
        split.providers,
        vec![
            ("b2".to_string(), 500),
            ("gcs".to_string(), 500),
            ("s3".to_string(), 1_000)
        ]
    );
    assert_eq!(split.broker_msat, 1_000);
}

#[test]
fn rounding_remainder_goes_to_the_broker() {
    // 1,001 msat: owner ⌊700.7⌋ = 700, providers ⌊200.2 / 3⌋ = 66 each,
    // broker 100.1 + remainders = 1001 − 700 − 198 = 103.
    let split = SplitConfig::default()
        .split(1_001, "alice", [("a", 1), ("b", 1), ("c", 1)])
        .expect("split");
    assert_eq!(split.owner_msat, 700);
    assert!(split.providers.iter().all(|(_, p)| *p == 66));
    assert_eq!(split.broker_msat, 103);
    assert_eq!(sum_of(&split), 1_001);
}

#[test]
fn no_shards_served_gives_the_provider_share_to_the_broker() {
    let split = SplitConfig::default()
        .split(1_000, "alice", [("s3", 0)])
        .expect("split");
    assert!(split.providers.is_empty());
    assert_eq!((split.owner_msat, split.broker_msat), (700, 300));
}

#[test]
fn repeated_provider_names_add_up() {
    let split = SplitConfig::default()
        .split(10_000, "alice", [("s3", 1), ("gcs", 1), ("s3", 2)])
        .expect("split");
    assert_eq!(
        split.providers,
        vec![("gcs".to_string(), 500), ("s3".to_string(), 1_500)]
    );
}

#[test]
fn postings_balance_and_skip_zero_parts() {
    let split = SplitConfig::default()
        .split(1, "alice", [("s3", 1)])
        .expect("split");
    // 1 msat: owner 0, provider 0, broker 1.
    let postings = split.postings();
    assert_eq!(postings.len(), 2, "{postings:?}");
    assert_eq!(postings[0].direction, Direction::Debit);
    assert_eq!(postings[0].account.kind, AccountKind::Lightning);
    assert_eq!(postings[1].account.kind, AccountKind::Broker);
    assert_eq!(postings[1].amount_msat, 1);
    assert!(postings.iter().all(|p| p.amount_msat > 0));
}

#[test]
fn bad_configs_and_zero_amounts_are_refused() {
    let bad = SplitConfig {
        owner_bps: 9_000,
        providers_bps: 2_000,
        broker_bps: 0,
    };
    assert!(matches!(
        bad.split(100, "a", []),
        Err(PaymentError::InvalidConfig { .. })
    ));
    assert!(SplitConfig::default().split(0, "a", []).is_err());
}

#[test]
fn extreme_amounts_and_shard_counts_do_not_overflow() {
    let max = u64::from(u32::MAX);
    let split = SplitConfig::default()
        .split(u64::MAX, "alice", [("a", max), ("b", max), ("c", 1)])
        .expect("split");
    assert_eq!(sum_of(&split), u128::from(u64::MAX));
    // Beyond 2⁵⁷ shards in total the exact arithmetic would need more than
    // 128 bits: a typed error, never a wrapped share.
    assert!(matches!(
        SplitConfig::default().split(u64::MAX, "alice", [("a", u64::MAX), ("b", u64::MAX)]),
        Err(PaymentError::AmountOverflow { .. })
    ));
}

fn config() -> impl Strategy<Value = SplitConfig> {
    (0u32..=10_000)
        .prop_flat_map(|owner| (Just(owner), 0u32..=(10_000 - owner)))
        .prop_map(|(owner, providers)| SplitConfig {
            owner_bps: owner,
            providers_bps: providers,
            broker_bps: 10_000 - owner - providers,
        })
}

proptest! {
    /// Parts sum exactly to the amount; each share is within 1 msat below
    /// its exact value; the broker gets its exact share plus less than one
    /// msat per other party; debits equal credits.
    #[test]
    fn split_invariants(
        cfg in config(),
        amount in 1u64..=u64::MAX,
        shards in proptest::collection::vec(0u64..1_000, 0..8),
    ) {
        let served: Vec<(String, u64)> =
            shards.iter().enumerate().map(|(i, s)| (format!("p{i}"), *s)).collect();
        let split = cfg
            .split(amount, "owner", served.iter().map(|(n, s)| (n.as_str(), *s)))
            .expect("valid config");
        prop_assert_eq!(sum_of(&split), u128::from(amount));

        let whole = 10_000u128;
        let a = u128::from(amount);
        // Owner: exact value in [part, part + 1).
        let exact_owner_x = a * u128::from(cfg.owner_bps); // × 1/whole
        prop_assert!(u128::from(split.owner_msat) * whole <= exact_owner_x);
        prop_assert!(exact_owner_x < (u128::from(split.owner_msat) + 1) * whole);

        let total: u128 = shards.iter().map(|s| u128::from(*s)).sum();
        let served_count = shards.iter().filter(|s| **s > 0).count();
        prop_assert_eq!(split.providers.len(), served_count);
        for (name, part) in &split.providers {
            let i: usize = name[1..].parse().expect("index");
            let exact_x = a * u128::from(cfg.providers_bps) * u128::from(shards[i]);
            let denom = whole * total;
            prop_assert!(u128::from(*part) * denom <= exact_x);
            prop_assert!(exact_x < (u128::from(*part) + 1) * denom);
        }
        // Broker: at least its exact share, at most that plus one msat per
        // other party (each remainder is < 1 msat); plus the whole provider
        // pool when nobody served a shard.
        let exact_broker_x = a * u128::from(cfg.broker_bps);
        let pool_x = if total == 0 { a * u128::from(cfg.providers_bps) } else { 0 };
        let broker_x = u128::from(split.broker_msat) * whole;
        prop_assert!(broker_x >= exact_broker_x + pool_x);
        let parties = 1 + split.providers.len() as u128;
        prop_assert!(broker_x < exact_broker_x + pool_x + parties * whole);

        let postings = split.postings();
        let debits: u128 = postings.iter().filter(|p| p.direction == Direction::Debit)
            .map(|p| u128::from(p.amount_msat)).sum();
        let credits: u128 = postings.iter().filter(|p| p.direction == Direction::Credit)
            .map(|p| u128::from(p.amount_msat)).sum();
        prop_assert_eq!(debits, credits);
        prop_assert_eq!(debits, u128::from(amount));
        prop_assert!(postings.iter().all(|p| p.amount_msat > 0));
    }
}
