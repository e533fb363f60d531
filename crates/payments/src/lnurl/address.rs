//! [`LightningAddress`]: `user@domain` (LUD-16), and the one rule about
//! which URLs we fetch over plain HTTP.

use std::fmt;
use std::net::IpAddr;

use reqwest::Url;

use crate::error::{LnurlFailure, PaymentError};

/// Longest user name we accept (an e-mail local part's limit; LUD-16 sets
/// none, but a longer one is a typo or an attack on our logs).
const MAX_USER_LEN: usize = 64;
/// Longest domain, port included (DNS's 253 plus `:65535`).
const MAX_DOMAIN_LEN: usize = 259;

/// A Lightning Address, `user@domain`: where LNURL-pay parameters for
/// `user` are served (`https://domain/.well-known/lnurlp/user`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LightningAddress {
    user: String,
    /// Lowercase host, with `:port` if one was given.
    domain: String,
    url: Url,
}

impl LightningAddress {
    /// Parses `user@domain` by LUD-16's rules: the user name is lowercase
    /// `a-z 0-9 - _ . +`; the domain is a host name or IP address, with an
    /// optional port. The address is then fetched over HTTPS, except for a
    /// loopback host with a port (`user@127.0.0.1:8080`, `user@localhost:8080`),
    /// a wallet service on this machine in tests and dev mode, which is
    /// fetched over plain HTTP.
    pub fn parse(text: &str) -> Result<LightningAddress, PaymentError> {
        let invalid = |detail: String| PaymentError::Lnurl {
            address: text.to_string(),
            failure: LnurlFailure::InvalidAddress,
            detail,
        };
        let text = text.trim();
        let (user, domain) = text
            .rsplit_once('@')
            .ok_or_else(|| invalid("is not of the form user@domain".into()))?;
        if user.is_empty() || user.len() > MAX_USER_LEN {
            return Err(invalid(format!(
                "the user name must be 1 to {MAX_USER_LEN} characters"
            )));
        }
        if let Some(bad) = user.chars().find(|c| !is_user_char(*c)) {
            let hint = if bad.is_ascii_uppercase() {
                " (Lightning Addresses are lowercase)"
            } else {
                ""
            };
            return Err(invalid(format!(
                "the user name may only hold a-z, 0-9, '-', '_', '.' and '+', not {bad:?}{hint}"
            )));
        }
        let domain = domain.to_ascii_lowercase();
        if domain.is_empty() || domain.len() > MAX_DOMAIN_LEN {
            return Err(invalid("the domain is missing or too long".into()));
        }
        // Only what a host (and port) may contain: no path, query, user
        // info or whitespace can sneak into the URL we build.
        if let Some(bad) = domain.chars().find(|c| !is_domain_char(*c)) {
            return Err(invalid(format!("the domain may not contain {bad:?}")));
        }
        let scheme = if is_loopback_with_port(&domain) {
            "http"
        } else {
            "https"
        };
        let url = Url::parse(&format!("{scheme}://{domain}/.well-known/lnurlp/{user}"))
            .map_err(|e| invalid(format!("the domain is not a valid host: {e}")))?;
        let host = url.host_str().unwrap_or_default();
        if !host.contains('.') && host != "localhost" && !host.starts_with('[') {
            return Err(invalid(format!(
                "the domain {host:?} is not a full domain name (expected e.g. example.com)"
            )));
        }
        Ok(LightningAddress {
            user: user.to_string(),
            domain,
            url,
        })
    }

    /// The user name (before the `@`).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The domain (after the `@`), lowercase, with its port if one was given.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Where the LNURL-pay parameters are: `https://<domain>/.well-known/lnurlp/<user>`
    /// (`http://` only for a loopback host with a port).
    pub fn url(&self) -> &Url {
        &self.url
    }
}

impl fmt::Display for LightningAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.user, self.domain)
    }
}

impl std::str::FromStr for LightningAddress {
    type Err = PaymentError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LightningAddress::parse(s)
    }
}

fn is_user_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.' | '+')
}

fn is_domain_char(c: char) -> bool {
    // Letters and digits (ASCII, or any Unicode letter for international
    // domain names, which the URL parser turns into punycode), '-', '.',
    // ':' for a port, and brackets for an IPv6 literal.
    c.is_alphanumeric() || matches!(c, '-' | '.' | ':' | '[' | ']')
}

/// Whether a URL may be fetched over plain HTTP: only when its host is on
/// this machine (`localhost` or a loopback IP) and it names a port, as a
/// test or dev-mode wallet service does. A public host never qualifies:
/// the invoice we are handed decides where the money goes.
pub(crate) fn plain_http_allowed(url: &Url) -> bool {
    url.port().is_some() && url.host_str().is_some_and(is_loopback_host)
}

/// `localhost`, or a loopback IP (an IPv6 one in brackets, as URLs write it).
fn is_loopback_host(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `domain` (`host[:port]`) is a loopback host with a port.
fn is_loopback_with_port(domain: &str) -> bool {
    match domain.rsplit_once(':') {
        // `127.0.0.1:8080`, `[::1]:8080` (a bare IPv6 literal has several
        // ':' and no port, and is not a valid domain anyway).
        Some((host, port)) if host.ends_with(']') || !host.contains(':') => {
            is_loopback_host(host) && port.parse::<u16>().is_ok()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_rule() {
        assert!(is_loopback_with_port("127.0.0.1:8080"));
        assert!(is_loopback_with_port("localhost:1"));
        assert!(is_loopback_with_port("[::1]:8080"));
        assert!(!is_loopback_with_port("127.0.0.1"));
        assert!(!is_loopback_with_port("example.com:8080"));
        assert!(!is_loopback_with_port("10.0.0.1:8080"));
        assert!(!is_loopback_with_port("127.0.0.1:notaport"));
    }
}
