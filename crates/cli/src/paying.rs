//! Paying from the command line: the `--lnd-*` flags become the SDK's
//! `LndPayer`, the SDK's payment events become progress lines on stderr,
//! and its payment errors get the flags that fix them.

use anyhow::bail;
use shardgate_client::{
    ClientError, ErrorKind, Invoice, LndPayer, PaymentEvent, PaymentPolicy, code_name,
};

use crate::args::PayerArgs;
use crate::human;

/// The payer node of the `--lnd-*` flags; `None` when none is given, an
/// error when only some are.
pub(crate) async fn payer(args: &PayerArgs) -> anyhow::Result<Option<LndPayer>> {
    let (endpoint, cert, macaroon) = match (
        &args.lnd_endpoint,
        &args.lnd_tls_cert,
        &args.lnd_macaroon,
    ) {
        (None, None, None) => return Ok(None),
        (Some(e), Some(c), Some(m)) => (e, c, m),
        _ => bail!(
            "paying needs all three of --lnd-endpoint, --lnd-tls-cert and --lnd-macaroon (or SHARDGATE_PAYER_LND_ENDPOINT, _TLS_CERT, _MACAROON)"
        ),
    };
    let payer = LndPayer::connect(endpoint, cert, macaroon, args.max_fee_msat).await?;
    Ok(Some(payer))
}

/// How `get` pays: an existing credential, else the payer node (if any)
/// under the price cap; what is paid is told on stderr as it happens.
pub(crate) fn policy(
    credential: Option<&str>,
    payer: Option<LndPayer>,
    max_price_msat: u64,
) -> PaymentPolicy {
    let policy = match payer {
        Some(payer) => PaymentPolicy::pay_with(payer, max_price_msat),
        None => PaymentPolicy::none(),
    };
    let policy = match credential {
        Some(credential) => policy.credential(credential),
        None => policy,
    };
    policy.observe(announce)
}

/// One stderr line per payment step (stdout may carry the blob's bytes).
fn announce(event: &PaymentEvent) {
    match event {
        PaymentEvent::Paying { invoice } => eprintln!(
            "payment required: {} (invoice {}); paying from your LND node",
            human::msat(invoice.amount_msat),
            invoice.short()
        ),
        PaymentEvent::Paid { paid } => eprintln!(
            "paid in {}, {}, preimage {}",
            human::millis(paid.elapsed),
            fee_text(paid.fee_msat),
            paid.preimage.to_hex()
        ),
        PaymentEvent::HoldAccepted { elapsed } => eprintln!(
            "hold payment locked (ACCEPTED) in {}; it settles when the download completes",
            human::seconds(*elapsed)
        ),
        // Events a newer SDK adds are not worth failing over.
        _ => {}
    }
}

/// The SDK's error with what to do about it on the command line: raise
/// the price cap, or pay the challenge (payer flags or `--l402`).
pub(crate) fn explain(error: ClientError, max_price_msat: u64) -> anyhow::Error {
    match error.kind() {
        ErrorKind::PriceAboveCap => {
            let asked = error.asked_msat().unwrap_or_default();
            anyhow::anyhow!(
                "the invoice asks {}, more than --max-price-msat {}; raise it with --max-price-msat {asked} (or SHARDGATE_MAX_PRICE_MSAT) to pay",
                human::msat(asked),
                human::msat(max_price_msat),
            )
        }
        ErrorKind::Unpaid => match error.challenge() {
            Some((invoice, token)) => {
                let amount = Invoice::decode(invoice)
                    .map(|i| format!(" ({})", human::msat(i.amount_msat)))
                    .unwrap_or_default();
                let code = error.code().map(code_name).unwrap_or("UNAUTHENTICATED");
                anyhow::anyhow!(
                    "{}; pay from your LND node with --lnd-endpoint, --lnd-tls-cert and --lnd-macaroon, or pay the invoice {invoice}{amount} with any wallet and retry with --l402 {token}:<preimage hex> ({code})",
                    error.message(),
                )
            }
            None => error.into(),
        },
        _ => error.into(),
    }
}

/// `fee 0 msat (0 sat)` or `fee unknown`.
pub(crate) fn fee_text(fee: Option<u64>) -> String {
    fee.map_or_else(
        || "fee unknown (the balance moved meanwhile)".to_owned(),
        |f| format!("fee {}", human::msat(f)),
    )
}

#[cfg(test)]
mod tests {
    use shardgate_proto::auth_metadata::WWW_AUTHENTICATE;
    use tonic::Status;

    use super::*;

    #[test]
    fn an_unpaid_challenge_says_how_to_pay() {
        let mut status = Status::unauthenticated("blob costs 1 sat");
        status.metadata_mut().insert(
            WWW_AUTHENTICATE,
            "L402 macaroon=\"AgEDbG5k\", invoice=\"lnbcrt10n1xyz\""
                .parse()
                .expect("ascii"),
        );
        let text = explain(ClientError::from(status), 1).to_string();
        assert!(
            text.starts_with("payment required: blob costs 1 sat;"),
            "{text}"
        );
        assert!(text.contains("--lnd-endpoint"), "{text}");
        assert!(text.contains("lnbcrt10n1xyz"), "{text}");
        assert!(text.contains("--l402 AgEDbG5k:"), "{text}");
        assert!(text.ends_with("(UNAUTHENTICATED)"), "{text}");
        // Anything else passes through unchanged.
        let text = explain(ClientError::from(Status::not_found("gone")), 1).to_string();
        assert_eq!(text, "gone (NOT_FOUND)");
    }
}
