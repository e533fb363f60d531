//! The L402 metadata values (storage.proto):
//!
//! * request: `authorization: L402 <base64 macaroon>:<64 lowercase hex preimage>`,
//!   or `L402 <base64 macaroon>:` (empty preimage) for an ACCEPTED hold
//!   invoice. The legacy scheme name `LSAT` is accepted too (bLIP-26,
//!   backwards compatibility); we always send `L402`.
//! * challenge: `www-authenticate: L402 macaroon="<base64>", invoice="<BOLT11>"`.
//!
//! Parsing is strict and bounded: the length is checked before anything
//! else, exactly one space after the scheme, exactly one `:`, one macaroon
//! (no comma-separated list), canonical padded base64, and no whitespace.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::identifier::Identifier;
use super::macaroon::Macaroon;
use super::{PaymentHash, Preimage, strict_hex32};
use crate::error::PaymentError;

/// Longest `authorization` value accepted. Our tokens are ~400 base64
/// characters; 4 KiB leaves room for a few caveats added by the holder
/// while keeping a hostile value from costing more than a copy.
pub const MAX_AUTHORIZATION_LEN: usize = 4096;
/// The scheme we send and accept.
pub const SCHEME: &str = "L402";
/// The pre-2023 name of the same scheme, still accepted.
pub const LEGACY_SCHEME: &str = "LSAT";

/// A parsed (not yet verified) credential.
#[derive(Clone, Debug)]
pub struct L402Credential {
    /// The decoded token; not verified yet (see `L402Keys::verify`).
    pub macaroon: Macaroon,
    /// `None` when the preimage part was empty (hold invoices).
    pub preimage: Option<Preimage>,
}

impl L402Credential {
    /// The payment hash in the identifier, *before* the signature is
    /// checked: only for looking things up, never as proof.
    pub fn unverified_payment_hash(&self) -> Result<PaymentHash, PaymentError> {
        Ok(Identifier::decode(&self.macaroon.identifier)?.payment_hash)
    }
}

fn malformed(reason: &'static str) -> PaymentError {
    PaymentError::MalformedAuthorization { reason }
}

/// Parses an `authorization` metadata value.
pub fn parse_authorization(value: &str) -> Result<L402Credential, PaymentError> {
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err(PaymentError::AuthorizationTooLong {
            len: value.len(),
            max: MAX_AUTHORIZATION_LEN,
        });
    }
    let (scheme, rest) = value
        .split_once(' ')
        .ok_or_else(|| malformed("expected `L402 <token>:<preimage>`"))?;
    if scheme != SCHEME && scheme != LEGACY_SCHEME {
        return Err(malformed("scheme must be L402"));
    }
    if rest
        .bytes()
        .any(|b| b.is_ascii_whitespace() || !b.is_ascii())
    {
        return Err(malformed("unexpected whitespace or non-ASCII character"));
    }
    let (token, preimage) = rest
        .split_once(':')
        .ok_or_else(|| malformed("missing `:` between token and preimage"))?;
    if preimage.contains(':') {
        return Err(malformed("more than one `:`"));
    }
    if token.is_empty() {
        return Err(malformed("empty token"));
    }
    if token.contains(',') {
        return Err(malformed("only one macaroon per credential is supported"));
    }
    let bytes = STANDARD
        .decode(token)
        .map_err(|_| PaymentError::MalformedToken {
            reason: "not canonical padded base64",
        })?;
    let macaroon = Macaroon::decode(&bytes)?;
    let preimage = if preimage.is_empty() {
        None
    } else {
        let bytes =
            strict_hex32(preimage).map_err(|reason| PaymentError::MalformedPreimage { reason })?;
        Some(Preimage(bytes))
    };
    Ok(L402Credential { macaroon, preimage })
}

/// Builds an `authorization` value (client side); `None` for the empty
/// preimage of a hold invoice.
pub fn authorization(token: &str, preimage: Option<&Preimage>) -> String {
    match preimage {
        Some(p) => format!("{SCHEME} {token}:{}", p.to_hex()),
        None => format!("{SCHEME} {token}:"),
    }
}

/// Builds the `www-authenticate` challenge value. Both parts are checked
/// to be plain (base64 / bech32) so the quoted-string needs no escaping.
pub fn www_authenticate(token: &str, payment_request: &str) -> Result<String, PaymentError> {
    let base64_ok = !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    if !base64_ok {
        return Err(PaymentError::invalid("challenge token must be base64"));
    }
    if payment_request.is_empty() || !payment_request.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(PaymentError::invalid(
            "challenge invoice must be a BOLT11 string",
        ));
    }
    Ok(format!(
        "{SCHEME} macaroon=\"{token}\", invoice=\"{payment_request}\""
    ))
}

/// Longest `www-authenticate` value a client reads: a token (~400 base64
/// characters) plus a BOLT11 invoice (about 1 KiB with route hints), with
/// room to spare.
pub const MAX_CHALLENGE_LEN: usize = 8192;

/// A challenge as a client reads it off a refused call: the token to send
/// back and the invoice whose preimage unlocks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L402Challenge {
    /// The macaroon, base64 as sent.
    pub token: String,
    /// The BOLT11 payment request to pay.
    pub invoice: String,
}

impl L402Challenge {
    /// The payment hash in the token's identifier. Not verified (only the
    /// broker holds the key); a client compares it with the invoice's
    /// before paying, or the preimage it buys would unlock nothing.
    pub fn unverified_payment_hash(&self) -> Result<PaymentHash, PaymentError> {
        parse_authorization(&authorization(&self.token, None))?.unverified_payment_hash()
    }
}

/// Parses a `www-authenticate` challenge (client side):
/// `L402 macaroon="<base64>", invoice="<BOLT11>"`, or the legacy `LSAT`
/// scheme. Parameters may come in any order; unknown ones are skipped
/// (auth-params may be extended, RFC 9110 §11.2), a repeated one is refused.
pub fn parse_www_authenticate(value: &str) -> Result<L402Challenge, PaymentError> {
    if value.len() > MAX_CHALLENGE_LEN {
        return Err(malformed("challenge longer than MAX_CHALLENGE_LEN"));
    }
    let rest = [SCHEME, LEGACY_SCHEME]
        .iter()
        .find_map(|scheme| value.strip_prefix(scheme)?.strip_prefix(' '))
        .ok_or_else(|| malformed("challenge scheme is not L402"))?;
    let (mut token, mut invoice) = (None, None);
    for part in rest.split(',') {
        let (key, quoted) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| malformed("challenge parameter without `=`"))?;
        let text = quoted
            .strip_prefix('"')
            .and_then(|q| q.strip_suffix('"'))
            .ok_or_else(|| malformed("challenge parameter value not quoted"))?;
        let slot = match key {
            "macaroon" => &mut token,
            "invoice" => &mut invoice,
            _ => continue,
        };
        if slot.replace(text.to_owned()).is_some() {
            return Err(malformed("challenge parameter repeated"));
        }
    }
    Ok(L402Challenge {
        token: token.ok_or_else(|| malformed("challenge has no macaroon"))?,
        invoice: invoice.ok_or_else(|| malformed("challenge has no invoice"))?,
    })
}

#[cfg(test)]
#[path = "header_tests.rs"]
mod tests;
