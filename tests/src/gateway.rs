//! The HTTP gateway as a website, a script or `curl` sees it: requests
//! through `reqwest` (a client nobody here wrote) and an L402 challenge
//! parser written from the L402 spec's text, not the payments crate's. So
//! the gateway tests check what `docs/sharing.md` promises, not what our
//! own SDK happens to accept.

use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// Longest one gateway request may take (a paid download of a few hundred
/// KiB from `fs` providers takes well under a second).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The read-token header of share routes (docs/sharing.md).
pub const SHARE_TOKEN_HEADER: &str = "x-shardgate-share-token";

/// A gateway at `base` (`http://127.0.0.1:PORT`).
#[derive(Clone)]
pub struct Gateway {
    base: String,
    http: reqwest::Client,
}

/// One response, read in full.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The whole body (empty for `HEAD`).
    pub body: Vec<u8>,
}

impl Gateway {
    /// A client of the gateway at `base`.
    pub fn new(base: &str) -> Gateway {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("build an HTTP client");
        Gateway {
            base: base.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// `method path` with `headers`; panics if the request cannot be sent
    /// or its body not read (the gateway is local and must answer).
    pub async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> Reply {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: body: {e}"))
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// `POST /b/{blob}` with `Authorization` if given, and extra headers.
    pub async fn post_blob(
        &self,
        blob: &str,
        authorization: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Reply {
        let mut headers = extra.to_vec();
        if let Some(value) = authorization {
            headers.push(("authorization", value));
        }
        self.send(Method::POST, &format!("/b/{blob}"), &headers)
            .await
    }

    /// `POST /s/{id}/content` with the share's read token, `Authorization`
    /// if given.
    pub async fn post_share(&self, id: &str, token: &str, authorization: Option<&str>) -> Reply {
        let mut headers = vec![(SHARE_TOKEN_HEADER, token)];
        if let Some(value) = authorization {
            headers.push(("authorization", value));
        }
        self.send(Method::POST, &format!("/s/{id}/content"), &headers)
            .await
    }
}

impl Reply {
    /// A header as text (`None` if absent or not ASCII).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON; panics naming the status and body otherwise.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {:.300}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body's `error` field (JSON errors of the gateway).
    pub fn error_kind(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }

    /// Status, headers and the start of the body, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "status {} {:?} body {:.300}",
            self.status,
            self.headers,
            String::from_utf8_lossy(&self.body)
        )
    }

    /// The `WWW-Authenticate` challenge of a `402`, parsed; panics with
    /// the whole reply if there is none or it does not parse.
    pub fn challenge(&self) -> L402Challenge {
        let value = self
            .header("www-authenticate")
            .unwrap_or_else(|| panic!("no WWW-Authenticate: {}", self.describe()));
        L402Challenge::parse(value).unwrap_or_else(|e| panic!("{e}: {}", self.describe()))
    }

    /// True if `sample` occurs anywhere in the body.
    pub fn contains(&self, sample: &[u8]) -> bool {
        !sample.is_empty() && self.body.windows(sample.len()).any(|w| w == sample)
    }
}

/// `L402 macaroon="<base64>", invoice="<bolt11>"` (the L402 spec's
/// `WWW-Authenticate` form, RFC 7235 auth-params).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L402Challenge {
    /// Standard base64, as sent.
    pub macaroon: String,
    /// The BOLT 11 payment request.
    pub invoice: String,
}

impl L402Challenge {
    /// Parses a challenge: the scheme `L402` (case-insensitive, as RFC
    /// 7235 says of schemes), then comma-separated `name="value"` pairs
    /// with exactly one `macaroon` and one `invoice`; other parameters are
    /// ignored. The macaroon must be standard base64.
    pub fn parse(value: &str) -> Result<L402Challenge, String> {
        let bad = |why: &str| format!("challenge {value:?}: {why}");
        let (scheme, params) = value
            .trim()
            .split_once(' ')
            .ok_or_else(|| bad("no parameters after the scheme"))?;
        if !scheme.eq_ignore_ascii_case("L402") {
            return Err(bad("scheme is not L402"));
        }
        let (mut macaroon, mut invoice) = (None, None);
        for param in params.split(',') {
            let (name, quoted) = param
                .trim()
                .split_once('=')
                .ok_or_else(|| bad("a parameter is not name=value"))?;
            let text = quoted
                .strip_prefix('"')
                .and_then(|q| q.strip_suffix('"'))
                .ok_or_else(|| bad("a parameter value is not quoted"))?;
            if text.contains(['"', '\\']) {
                return Err(bad("a value has quotes or escapes inside"));
            }
            let slot = match name.trim().to_ascii_lowercase().as_str() {
                "macaroon" => &mut macaroon,
                "invoice" => &mut invoice,
                _ => continue,
            };
            if slot.replace(text.to_owned()).is_some() {
                return Err(bad("a parameter appears twice"));
            }
        }
        let macaroon = macaroon.ok_or_else(|| bad("no macaroon"))?;
        let invoice = invoice.ok_or_else(|| bad("no invoice"))?;
        let base64_alphabet = |c: char| c.is_ascii_alphanumeric() || "+/=".contains(c);
        if macaroon.is_empty() || !macaroon.chars().all(base64_alphabet) {
            return Err(bad("macaroon is not base64"));
        }
        if !invoice.to_ascii_lowercase().starts_with("ln") {
            return Err(bad("invoice is not BOLT 11 (no `ln` prefix)"));
        }
        Ok(L402Challenge { macaroon, invoice })
    }

    /// `L402 <macaroon>:<preimage hex>` (the empty preimage when `None`).
    pub fn authorization(&self, preimage_hex: Option<&str>) -> String {
        format!(
            "L402 {}:{}",
            self.macaroon,
            preimage_hex.unwrap_or_default()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::L402Challenge;

    #[test]
    fn challenges_parse_as_the_l402_spec_writes_them() {
        let c = L402Challenge::parse(r#"L402 macaroon="AgE+/w==", invoice="lnbcrt10n1x""#)
            .expect("parses");
        assert_eq!(c.macaroon, "AgE+/w==");
        assert_eq!(c.invoice, "lnbcrt10n1x");
        assert_eq!(c.authorization(Some("ab")), "L402 AgE+/w==:ab");
        let c = L402Challenge::parse(r#"l402 invoice="LNBC1",macaroon="AA==", realm="x""#)
            .expect("order, case and extra params do not matter");
        assert_eq!((c.macaroon.as_str(), c.invoice.as_str()), ("AA==", "LNBC1"));
        for bad in [
            r#"LSAT macaroon="AA==", invoice="lnbc1""#,
            r#"L402 macaroon=AA==, invoice="lnbc1""#,
            r#"L402 macaroon="AA==""#,
            r#"L402 macaroon="A A", invoice="lnbc1""#,
            r#"L402 macaroon="AA==", invoice="bc1q""#,
            r#"L402 macaroon="AA==", macaroon="AA==", invoice="lnbc1""#,
            "L402",
        ] {
            assert!(L402Challenge::parse(bad).is_err(), "{bad}");
        }
    }
}
