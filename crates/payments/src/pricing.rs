//! Download prices: owner prices checked against the broker's bounds, and
//! the invoice amount of a served range (rules of `Price` in common.proto).
//!
//! ```text
//! amount = max(min_invoice_msat, uses × (flat_msat + ⌈per_mib_msat × n / 1 MiB⌉))
//! ```
//!
//! `n` is the length of the *served* range (already shortened to the blob's
//! end), so a range costs its share of the per-MiB part while the flat part
//! is charged per download. Every step is checked: an amount that does not
//! fit in u64 msat is [`PaymentError::AmountOverflow`], never a wrapped
//! (cheap) invoice.

use crate::error::PaymentError;

/// Bytes in one MiB, the unit of `per_mib_msat` (common.proto).
pub const MIB: u64 = 1_048_576;

/// The broker's pricing bounds (the pricing part of `Limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PricingLimits {
    /// Smallest invoice amount; at least 1 because Lightning cannot pay 0.
    pub min_invoice_msat: u64,
    /// Largest `Price::flat_msat`.
    pub max_flat_msat: u64,
    /// Largest `Price::per_mib_msat`.
    pub max_per_mib_msat: u64,
    /// Largest `uses` of one invoice; at least 1.
    pub max_invoice_uses: u32,
}

impl Default for PricingLimits {
    /// 1 msat minimum, at most 1,000,000 sat flat and per MiB, 100 uses.
    fn default() -> Self {
        PricingLimits {
            min_invoice_msat: 1,
            max_flat_msat: 1_000_000_000,
            max_per_mib_msat: 1_000_000_000,
            max_invoice_uses: 100,
        }
    }
}

impl PricingLimits {
    /// Checks the operator's configuration itself.
    pub fn validate(&self) -> Result<(), PaymentError> {
        if self.min_invoice_msat == 0 {
            return Err(PaymentError::config(
                "min_invoice_msat must be at least 1 (Lightning cannot pay 0 msat)",
            ));
        }
        if self.max_invoice_uses == 0 {
            return Err(PaymentError::config("max_invoice_uses must be at least 1"));
        }
        Ok(())
    }

    /// The number of uses an invoice sells: 0 means 1; hold invoices are
    /// single-use (CreateInvoiceRequest.uses).
    pub fn resolve_uses(&self, requested: u32, hold: bool) -> Result<u32, PaymentError> {
        let uses = requested.max(1);
        if uses > self.max_invoice_uses {
            return Err(PaymentError::UsesOutOfBounds {
                uses,
                max: self.max_invoice_uses,
            });
        }
        if hold && uses != 1 {
            return Err(PaymentError::invalid(format!(
                "uses must be 1 for a hold invoice, got {uses}"
            )));
        }
        Ok(uses)
    }
}

/// A download price set by a blob's owner, known to be within bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Price {
    flat_msat: u64,
    per_mib_msat: u64,
}

impl Price {
    /// Checks each component against `limits` (INVALID_ARGUMENT with the
    /// bound otherwise). A zero component is allowed: the amount is raised
    /// to `min_invoice_msat` anyway.
    pub fn new(
        flat_msat: u64,
        per_mib_msat: u64,
        limits: &PricingLimits,
    ) -> Result<Price, PaymentError> {
        check_component("flat_msat", flat_msat, limits.max_flat_msat)?;
        check_component("per_mib_msat", per_mib_msat, limits.max_per_mib_msat)?;
        Ok(Price {
            flat_msat,
            per_mib_msat,
        })
    }

    /// For prices arriving as signed integers (e.g. a TOML config or an SQL
    /// column): negative values are out of bounds, never wrapped.
    pub fn from_signed(
        flat_msat: i64,
        per_mib_msat: i64,
        limits: &PricingLimits,
    ) -> Result<Price, PaymentError> {
        let flat = non_negative("flat_msat", flat_msat)?;
        let per_mib = non_negative("per_mib_msat", per_mib_msat)?;
        Price::new(flat, per_mib, limits)
    }

    /// The part charged per download whatever its length, msat.
    pub fn flat_msat(&self) -> u64 {
        self.flat_msat
    }

    /// The part charged per MiB (2^20 bytes) of the range, msat; a partial
    /// MiB is charged pro rata, rounded up (see [`Price::per_download_msat`]).
    pub fn per_mib_msat(&self) -> u64 {
        self.per_mib_msat
    }

    /// Price of one download of `served_bytes` bytes, before the minimum:
    /// `flat + ⌈per_mib × n / MiB⌉`.
    pub fn per_download_msat(&self, served_bytes: u64) -> Result<u64, PaymentError> {
        // The product of two u64 always fits in u128, so the ceiling
        // division is exact; only the final narrowing can fail.
        let product = u128::from(self.per_mib_msat) * u128::from(served_bytes);
        let share = product.div_ceil(u128::from(MIB));
        let share = u64::try_from(share).map_err(|_| PaymentError::AmountOverflow {
            what: "per-MiB share of the range",
        })?;
        self.flat_msat
            .checked_add(share)
            .ok_or(PaymentError::AmountOverflow {
                what: "flat + per-MiB price",
            })
    }

    /// Invoice amount for `uses` downloads of `served_bytes` bytes each,
    /// raised to the broker's minimum. `uses` must already be resolved
    /// ([`PricingLimits::resolve_uses`]).
    pub fn invoice_amount_msat(
        &self,
        served_bytes: u64,
        uses: u32,
        limits: &PricingLimits,
    ) -> Result<u64, PaymentError> {
        if uses == 0 {
            return Err(PaymentError::invalid("uses must be resolved to at least 1"));
        }
        let one = self.per_download_msat(served_bytes)?;
        let total = one
            .checked_mul(u64::from(uses))
            .ok_or(PaymentError::AmountOverflow {
                what: "price × uses",
            })?;
        Ok(total.max(limits.min_invoice_msat.max(1)))
    }
}

fn check_component(field: &'static str, value: u64, max: u64) -> Result<(), PaymentError> {
    if value > max {
        return Err(PaymentError::PriceOutOfBounds {
            field,
            value,
            min: 0,
            max,
        });
    }
    Ok(())
}

fn non_negative(field: &'static str, value: i64) -> Result<u64, PaymentError> {
    u64::try_from(value).map_err(|_| PaymentError::NegativePrice { field, value })
}

#[cfg(test)]
#[path = "pricing_tests.rs"]
mod tests;
