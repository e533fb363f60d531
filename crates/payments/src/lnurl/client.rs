//! [`LnurlPayClient`]: the HTTP side of paying a Lightning Address. Two
//! GETs — the address's parameters, then an invoice from their callback —
//! each bounded in time and size, and never followed to another host.

use std::time::Duration;

use reqwest::Url;
use reqwest::redirect;

use super::address::LightningAddress;
use super::invoice_answer;
use super::params::{self, PayParams};
use crate::error::{LnurlFailure, PaymentError};

/// At most this many redirects, all on the same host.
const MAX_REDIRECTS: usize = 5;

/// How the client talks to wallet services.
#[derive(Clone, Debug)]
pub struct LnurlClientConfig {
    /// Whole-request bound (connect, send, read the body).
    pub timeout: Duration,
    /// Bound on opening the connection.
    pub connect_timeout: Duration,
    /// Largest answer read, bytes. LNURL answers are a few hundred bytes;
    /// the cap keeps a hostile service from filling our memory.
    pub max_response_bytes: usize,
}

impl Default for LnurlClientConfig {
    fn default() -> Self {
        LnurlClientConfig {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_response_bytes: 64 * 1024,
        }
    }
}

/// Fetches LNURL-pay parameters and invoices. Cheap to clone (one shared
/// connection pool); make one per broker.
#[derive(Clone, Debug)]
pub struct LnurlPayClient {
    http: reqwest::Client,
    max_response_bytes: usize,
}

/// Why a redirect was not followed (surfaced through reqwest's error).
#[derive(Debug, thiserror::Error)]
#[error("redirect from {from} to {to} refused: only redirects within the same host are followed")]
struct RedirectRefused {
    from: String,
    to: String,
}

impl LnurlPayClient {
    /// A client with `config`'s bounds.
    pub fn new(config: &LnurlClientConfig) -> Result<LnurlPayClient, PaymentError> {
        // A redirect to another host (or from https to http) would let
        // whoever controls the first host send us to an address of their
        // choosing, e.g. inside our network: refuse it.
        let policy = redirect::Policy::custom(|attempt| {
            let to = attempt.url();
            let Some(from) = attempt.previous().last() else {
                return attempt.follow();
            };
            let same_origin = to.scheme() == from.scheme()
                && to.host_str() == from.host_str()
                && to.port_or_known_default() == from.port_or_known_default();
            if !same_origin {
                let refused = RedirectRefused {
                    from: from.to_string(),
                    to: to.to_string(),
                };
                return attempt.error(refused);
            }
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            attempt.follow()
        });
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .redirect(policy)
            .user_agent(concat!("shardgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                PaymentError::config(format!("cannot build the LNURL HTTP client: {e}"))
            })?;
        Ok(LnurlPayClient {
            http,
            max_response_bytes: config.max_response_bytes,
        })
    }

    /// Fetches and checks the address's LNURL-pay parameters.
    pub async fn pay_params(&self, address: &LightningAddress) -> Result<PayParams, PaymentError> {
        let body = self.get(address, address.url().clone()).await?;
        params::parse(address, &body)
    }

    /// Asks the callback for an invoice of `amount_msat` and returns its
    /// BOLT 11 string. An amount outside `params`' range is refused here,
    /// before any request. The invoice is not checked yet: decode it with
    /// the node and pass it to [`super::verify_invoice`] before paying.
    pub async fn invoice(
        &self,
        params: &PayParams,
        amount_msat: u64,
    ) -> Result<String, PaymentError> {
        let address = &params.address;
        if !(params.min_sendable_msat..=params.max_sendable_msat).contains(&amount_msat) {
            return Err(PaymentError::Lnurl {
                address: address.to_string(),
                failure: LnurlFailure::AmountOutOfRange,
                detail: format!(
                    "{amount_msat} msat is outside what it accepts ({}..={} msat); \
                     pay out an amount within that range",
                    params.min_sendable_msat, params.max_sendable_msat
                ),
            });
        }
        let mut url = params.callback.clone();
        // Appends with '&' when the callback already has a query (LUD-06
        // allows one), with '?' otherwise.
        url.query_pairs_mut()
            .append_pair("amount", &amount_msat.to_string());
        let body = self.get(address, url).await?;
        invoice_answer::parse(address, &body)
    }

    /// One GET, its body read up to the cap.
    async fn get(&self, address: &LightningAddress, url: Url) -> Result<Vec<u8>, PaymentError> {
        // Named with its port, as the address names it.
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (host, _) => host.unwrap_or_default().to_string(),
        };
        let fail = |failure: LnurlFailure, detail: String| PaymentError::Lnurl {
            address: address.to_string(),
            failure,
            detail,
        };
        let unreachable = |e: reqwest::Error| {
            if e.is_redirect() {
                fail(
                    LnurlFailure::BadResponse,
                    format!("the wallet service at {host} {}", redirect_text(&e)),
                )
            } else {
                fail(
                    LnurlFailure::Unreachable,
                    format!(
                        "the wallet service at {host} could not be reached ({}); try again later",
                        error_text(&e)
                    ),
                )
            }
        };
        let mut response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let too_large = || {
            fail(
                LnurlFailure::BadResponse,
                format!(
                    "the wallet service at {host} answered more than {} bytes; \
                     that is not an LNURL answer",
                    self.max_response_bytes
                ),
            )
        };
        if response
            .content_length()
            .is_some_and(|len| len > self.max_response_bytes as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        if status.is_success() {
            return Ok(body);
        }
        // Services often send their `{"status":"ERROR"}` with a 4xx/5xx
        // status: that reason is the most useful thing to report. Any
        // other body of an error status (an HTML error page) says less
        // than the status itself.
        if let Err(
            refused @ PaymentError::Lnurl {
                failure: LnurlFailure::Refused,
                ..
            },
        ) = super::answer::read(address, &body)
        {
            return Err(refused);
        }
        let (failure, advice) = if status.is_server_error()
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || status == reqwest::StatusCode::REQUEST_TIMEOUT
        {
            (LnurlFailure::Unreachable, "try again later")
        } else if status == reqwest::StatusCode::NOT_FOUND {
            (
                LnurlFailure::Refused,
                "it does not know this address; check it for typos",
            )
        } else {
            (
                LnurlFailure::BadResponse,
                "the address cannot receive payouts until its provider fixes this",
            )
        };
        Err(fail(
            failure,
            format!("the wallet service at {host} answered HTTP {status}; {advice}"),
        ))
    }
}

/// The innermost message of a reqwest error (its Display is only "error
/// sending request for url (…)").
fn error_text(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    // Bounded: a chain is a handful of levels.
    for _ in 0..8 {
        let Some(inner) = source else { break };
        text = inner.to_string();
        source = inner.source();
    }
    text
}

fn redirect_text(err: &reqwest::Error) -> String {
    let mut source = std::error::Error::source(err);
    for _ in 0..8 {
        let Some(inner) = source else { break };
        if let Some(refused) = inner.downcast_ref::<RedirectRefused>() {
            return format!("sent us elsewhere: {refused}");
        }
        source = inner.source();
    }
    format!("redirected too often ({})", error_text(err))
}
