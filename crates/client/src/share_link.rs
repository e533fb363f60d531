//! A share link, `<gateway>/s/<share id>#<secret>`, taken apart and put
//! together (`docs/sharing.md`). The secret is only ever in the fragment.

use shardgate_core::ShareSecret;

use crate::error::{ClientError, Result};

/// A parsed share link.
#[derive(Clone, Debug)]
pub struct ShareLink {
    /// Where the gateway answers, e.g. `https://files.example.com` (no
    /// trailing slash).
    pub gateway: String,
    /// The share id (22 characters of unpadded base64url).
    pub share_id: String,
    /// The link's secret: derives the read token and the wrapping key.
    pub secret: ShareSecret,
}

impl ShareLink {
    /// Builds the link for a share on `gateway`.
    pub fn new(gateway: &str, share_id: &str, secret: ShareSecret) -> ShareLink {
        ShareLink {
            gateway: gateway.trim_end_matches('/').to_owned(),
            share_id: share_id.to_owned(),
            secret,
        }
    }

    /// Reads `http(s)://host[:port][/prefix]/s/<id>#<secret>`.
    pub fn parse(link: &str) -> Result<ShareLink> {
        let bad = |why: &str| ClientError::invalid(format!("not a share link ({why}): {link:.80}"));
        let link = link.trim();
        if !(link.starts_with("http://") || link.starts_with("https://")) {
            return Err(bad("it must start with http:// or https://"));
        }
        let (url, fragment) = link
            .split_once('#')
            .ok_or_else(|| bad("the part after # is missing; copy the whole link"))?;
        let secret = ShareSecret::parse(fragment)
            .map_err(|_| bad("the part after # is damaged; copy the whole link"))?;
        let (gateway, share_id) = url
            .rsplit_once("/s/")
            .ok_or_else(|| bad("no /s/<share id> in its path"))?;
        let share_id = share_id.trim_end_matches('/');
        let id_ok = share_id.len() == 22
            && share_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok {
            return Err(bad("the share id is not 22 characters of base64url"));
        }
        Ok(ShareLink::new(gateway, share_id, secret))
    }

    /// The link as people pass it on.
    pub fn to_url(&self) -> String {
        format!(
            "{}/s/{}#{}",
            self.gateway,
            self.share_id,
            self.secret.to_text()
        )
    }

    /// The URL of one of the share's gateway routes (`info`, `content`, …).
    pub(crate) fn route(&self, rest: &str) -> String {
        format!("{}/s/{}/{rest}", self.gateway, self.share_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_round_trip_and_damage_is_named() {
        let secret = ShareSecret::generate();
        let link = ShareLink::new("http://127.0.0.1:8080/", "AAAAAAAAAAAAAAAAAAAAAA", secret);
        let text = link.to_url();
        assert!(text.starts_with("http://127.0.0.1:8080/s/AAAAAAAAAAAAAAAAAAAAAA#"));
        let back = ShareLink::parse(&text).expect("parses");
        assert_eq!(back.gateway, "http://127.0.0.1:8080");
        assert_eq!(back.share_id, "AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(back.secret.read_token(), link.secret.read_token());
        let prefixed = ShareLink::parse(&text.replace("8080/s/", "8080/files/s/")).unwrap();
        assert_eq!(prefixed.gateway, "http://127.0.0.1:8080/files");

        let without_fragment = text.split('#').next().unwrap().to_owned();
        let err = ShareLink::parse(&without_fragment).unwrap_err();
        assert!(err.message().contains("after #"), "{}", err.message());
        for bad in [
            "ftp://x/s/AAAAAAAAAAAAAAAAAAAAAA#abc",
            &text[..text.len() - 3],
            &text.replace("/s/", "/t/"),
            &text.replace("AAAAAAAAAAAAAAAAAAAAAA", "short"),
        ] {
            assert!(ShareLink::parse(bad).is_err(), "{bad}");
        }
    }
}
