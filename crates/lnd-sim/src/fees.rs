//! Routing fees: what a payer's outgoing payments cost on top of their
//! amount, and the fee limit a SendPaymentV2 request allows.
//!
//! The simulated network has no channel graph, so instead of summing the
//! policies of the hops of a route, each payer has one `RoutingFee` standing
//! for the route to every other node. The fee leaves the payer to routing
//! nodes that are not part of the simulated network: the payee receives the
//! amount, never the fee.

use crate::lnd_status::LndStatus;

/// Millionths: `ppm` fee rates are parts per million of the amount.
const PPM_DENOMINATOR: u128 = 1_000_000;

/// The fee of a route, in LND's channel-policy terms: a base fee plus a
/// proportional rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoutingFee {
    /// Charged once per payment, millisatoshis.
    pub base_msat: u64,
    /// Charged per million millisatoshis sent (`fee_rate_ppm`).
    pub ppm: u64,
}

impl RoutingFee {
    /// No fee: every node is one hop from every other.
    pub const ZERO: RoutingFee = RoutingFee {
        base_msat: 0,
        ppm: 0,
    };

    /// `base + amount * ppm / 1e6`, rounded down as LND's
    /// `ChannelEdgePolicy.ComputeFee` does.
    pub fn fee_msat(&self, amount_msat: u64) -> u64 {
        let proportional = u128::from(amount_msat) * u128::from(self.ppm) / PPM_DENOMINATOR;
        let fee = u128::from(self.base_msat) + proportional;
        u64::try_from(fee).unwrap_or(u64::MAX)
    }
}

/// The fee limit of a SendPaymentV2 request, millisatoshis, as LND's router
/// reads it (`lnrpc.UnmarshallAmt(fee_limit_sat, fee_limit_msat)`).
///
/// LND documents for both fields: "If this field is left to the default
/// value of 0, only zero-fee routes will be considered ... To send the
/// payment without a fee limit, use max int here." So an unset limit is 0,
/// not a percentage (the 5 % default belongs to `lncli payinvoice`, which
/// computes a limit before it calls the RPC). Go converts a negative value
/// to an unsigned amount by wrapping, so a negative limit is no limit.
pub(crate) fn fee_limit_msat(fee_limit_sat: i64, fee_limit_msat: i64) -> Result<u64, LndStatus> {
    if fee_limit_sat != 0 && fee_limit_msat != 0 {
        return Err(LndStatus::SatMsatMutuallyExclusive);
    }
    let limit = if fee_limit_sat != 0 {
        u64::try_from(fee_limit_sat).map(|sat| sat.saturating_mul(1000))
    } else {
        u64::try_from(fee_limit_msat)
    };
    Ok(limit.unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fee_is_base_plus_proportional_rounded_down() {
        let fee = RoutingFee {
            base_msat: 1_000,
            ppm: 2_500,
        };
        assert_eq!(fee.fee_msat(0), 1_000);
        assert_eq!(fee.fee_msat(1_000_000), 1_000 + 2_500);
        // 399 * 2500 / 1e6 = 0.9975 → 0
        assert_eq!(fee.fee_msat(399), 1_000);
        assert_eq!(RoutingFee::ZERO.fee_msat(u64::MAX), 0);
        let huge = RoutingFee {
            base_msat: u64::MAX,
            ppm: 1_000_000,
        };
        assert_eq!(huge.fee_msat(u64::MAX), u64::MAX, "saturates, never wraps");
    }

    #[test]
    fn fee_limit_reads_like_lnd() {
        assert_eq!(
            fee_limit_msat(0, 0),
            Ok(0),
            "unset means zero-fee routes only"
        );
        assert_eq!(fee_limit_msat(10, 0), Ok(10_000));
        assert_eq!(fee_limit_msat(0, 1_234), Ok(1_234));
        assert_eq!(fee_limit_msat(-1, 0), Ok(u64::MAX));
        assert_eq!(fee_limit_msat(0, i64::MAX), Ok(i64::MAX as u64));
        assert_eq!(
            fee_limit_msat(1, 1),
            Err(LndStatus::SatMsatMutuallyExclusive)
        );
    }
}
