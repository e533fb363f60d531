use proptest::prelude::*;

use super::*;

fn limits() -> PricingLimits {
    PricingLimits {
        min_invoice_msat: 10,
        max_flat_msat: 1_000_000,
        max_per_mib_msat: 2_000_000,
        max_invoice_uses: 10,
    }
}

#[test]
fn whole_mib_costs_exactly_the_per_mib_price() {
    let price = Price::new(1_000, 2_048, &limits()).expect("in bounds");
    assert_eq!(price.per_download_msat(MIB).expect("fits"), 1_000 + 2_048);
    assert_eq!(
        price.per_download_msat(4 * MIB).expect("fits"),
        1_000 + 4 * 2_048
    );
}

#[test]
fn partial_mib_rounds_up_to_the_next_msat() {
    let price = Price::new(0, 1_000, &limits()).expect("in bounds");
    // 1 byte of a MiB at 1000 msat/MiB is 0.00095 msat: charged 1.
    assert_eq!(price.per_download_msat(1).expect("fits"), 1);
    // Half a MiB: exactly 500, no rounding.
    assert_eq!(price.per_download_msat(MIB / 2).expect("fits"), 500);
    // Half a MiB + 1 byte: 500.00095 → 501.
    assert_eq!(price.per_download_msat(MIB / 2 + 1).expect("fits"), 501);
    // Nothing served: only the flat part.
    assert_eq!(price.per_download_msat(0).expect("fits"), 0);
}

#[test]
fn uses_multiply_and_the_minimum_applies_last() {
    let l = limits();
    let price = Price::new(3, 0, &l).expect("in bounds");
    // 3 msat is under the 10 msat minimum; 4 uses × 3 = 12 is above it.
    assert_eq!(price.invoice_amount_msat(100, 1, &l).expect("fits"), 10);
    assert_eq!(price.invoice_amount_msat(100, 4, &l).expect("fits"), 12);
    let free = Price::new(0, 0, &l).expect("zero is a valid price");
    assert_eq!(free.invoice_amount_msat(MIB, 1, &l).expect("fits"), 10);
    assert!(price.invoice_amount_msat(100, 0, &l).is_err());
}

#[test]
fn components_above_the_bounds_are_refused_with_the_bound() {
    let l = limits();
    match Price::new(1_000_001, 0, &l) {
        Err(PaymentError::PriceOutOfBounds { field, max, .. }) => {
            assert_eq!((field, max), ("flat_msat", 1_000_000));
        }
        other => panic!("expected PriceOutOfBounds, got {other:?}"),
    }
    match Price::new(0, 2_000_001, &l) {
        Err(PaymentError::PriceOutOfBounds { field, max, .. }) => {
            assert_eq!((field, max), ("per_mib_msat", 2_000_000));
        }
        other => panic!("expected PriceOutOfBounds, got {other:?}"),
    }
    assert!(
        Price::new(1_000_000, 2_000_000, &l).is_ok(),
        "bounds inclusive"
    );
}

#[test]
fn negative_components_are_refused_not_wrapped() {
    let l = limits();
    assert!(matches!(
        Price::from_signed(-1, 0, &l),
        Err(PaymentError::NegativePrice {
            field: "flat_msat",
            value: -1
        })
    ));
    assert!(matches!(
        Price::from_signed(0, i64::MIN, &l),
        Err(PaymentError::NegativePrice {
            field: "per_mib_msat",
            ..
        })
    ));
    assert_eq!(
        Price::from_signed(5, 6, &l).expect("ok"),
        Price::new(5, 6, &l).expect("ok")
    );
}

#[test]
fn overflow_is_an_error_never_a_wrapped_amount() {
    let huge = PricingLimits {
        max_flat_msat: u64::MAX,
        max_per_mib_msat: u64::MAX,
        max_invoice_uses: u32::MAX,
        ..limits()
    };
    let price = Price::new(u64::MAX, 0, &huge).expect("in bounds");
    assert!(matches!(
        price.invoice_amount_msat(0, 2, &huge),
        Err(PaymentError::AmountOverflow { .. })
    ));
    let per_mib = Price::new(1, u64::MAX, &huge).expect("in bounds");
    assert!(matches!(
        per_mib.per_download_msat(u64::MAX),
        Err(PaymentError::AmountOverflow { .. })
    ));
    // flat + share overflows even though each part fits.
    let both = Price::new(u64::MAX, u64::MAX, &huge).expect("in bounds");
    assert!(matches!(
        both.per_download_msat(MIB),
        Err(PaymentError::AmountOverflow { .. })
    ));
}

#[test]
fn uses_resolve_per_the_proto() {
    let l = limits();
    assert_eq!(l.resolve_uses(0, false).expect("0 means 1"), 1);
    assert_eq!(l.resolve_uses(10, false).expect("max ok"), 10);
    assert!(matches!(
        l.resolve_uses(11, false),
        Err(PaymentError::UsesOutOfBounds { uses: 11, max: 10 })
    ));
    assert_eq!(l.resolve_uses(0, true).expect("hold, 1"), 1);
    assert!(l.resolve_uses(2, true).is_err(), "hold is single-use");
}

#[test]
fn zero_minimum_or_zero_uses_config_is_refused() {
    let zero_min = PricingLimits {
        min_invoice_msat: 0,
        ..limits()
    };
    assert!(matches!(
        zero_min.validate(),
        Err(PaymentError::InvalidConfig { .. })
    ));
    let zero_uses = PricingLimits {
        max_invoice_uses: 0,
        ..limits()
    };
    assert!(zero_uses.validate().is_err());
    assert!(limits().validate().is_ok());
}

proptest! {
    /// The amount equals the proto's formula computed in exact u128
    /// arithmetic, or is an overflow error exactly when that exceeds u64.
    #[test]
    fn amount_matches_exact_formula(
        flat in any::<u64>(),
        per_mib in any::<u64>(),
        n in any::<u64>(),
        uses in 1u32..=1000,
        min in 1u64..=1_000_000,
    ) {
        let l = PricingLimits {
            min_invoice_msat: min,
            max_flat_msat: u64::MAX,
            max_per_mib_msat: u64::MAX,
            max_invoice_uses: 1000,
        };
        let price = Price::new(flat, per_mib, &l).expect("unbounded limits");
        let share = (u128::from(per_mib) * u128::from(n)).div_ceil(u128::from(MIB));
        let exact = (u128::from(flat) + share).checked_mul(u128::from(uses));
        match price.invoice_amount_msat(n, uses, &l) {
            Ok(amount) => {
                let exact = exact.expect("no overflow in u128 when Ok");
                prop_assert_eq!(u128::from(amount), exact.max(u128::from(min)));
            }
            Err(PaymentError::AmountOverflow { .. }) => {
                // Overflow must be real: the exact value exceeds u64 at
                // some step (share, flat + share, or × uses).
                let fits = share <= u128::from(u64::MAX)
                    && u128::from(flat) + share <= u128::from(u64::MAX)
                    && exact.is_some_and(|e| e <= u128::from(u64::MAX));
                prop_assert!(!fits, "spurious overflow");
            }
            Err(other) => prop_assert!(false, "unexpected error {other:?}"),
        }
    }

    /// A longer range never costs less (monotone), and a range never costs
    /// more than the whole MiB-rounded price of a longer one.
    #[test]
    fn price_is_monotone_in_range_length(
        flat in 0u64..1_000_000,
        per_mib in 0u64..1_000_000,
        a in 0u64..(1u64 << 42),
        b in 0u64..(1u64 << 42),
    ) {
        let l = PricingLimits { max_flat_msat: u64::MAX, max_per_mib_msat: u64::MAX, ..limits() };
        let price = Price::new(flat, per_mib, &l).expect("bounds");
        let (short, long) = (a.min(b), a.max(b));
        let p_short = price.per_download_msat(short).expect("fits");
        let p_long = price.per_download_msat(long).expect("fits");
        prop_assert!(p_short <= p_long);
        prop_assert!(p_short >= flat);
    }

    /// Components are accepted exactly within 0..=max.
    #[test]
    fn bounds_are_exact(flat in any::<u64>(), per_mib in any::<u64>()) {
        let l = limits();
        let ok = flat <= l.max_flat_msat && per_mib <= l.max_per_mib_msat;
        prop_assert_eq!(Price::new(flat, per_mib, &l).is_ok(), ok);
    }
}
