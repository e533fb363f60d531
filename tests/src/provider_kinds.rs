//! Which provider kinds a test run covers: `SHARDGATE_PROVIDER_KINDS`.

use std::fmt;
use std::str::FromStr;

use crate::PeerError;
use crate::tools::Tool;

/// The env var, a comma list of `memory,fs,s3,gcs,b2,azure`.
pub const PROVIDER_KINDS_ENV: &str = "SHARDGATE_PROVIDER_KINDS";

/// A provider kind the behaviour suites can run against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// opendal's in-memory service: no peer.
    Memory,
    /// opendal's local file system service: a tempdir.
    Fs,
    /// S3 API on a moto peer.
    S3,
    /// GCS JSON API on a gcp-storage-emulator peer.
    Gcs,
    /// A second moto peer reached through the backends' B2 profile.
    B2,
    /// Azure Blob API (kind `azblob`) on an azurite peer.
    Azure,
}

impl ProviderKind {
    /// Every kind, in the order the provider-parametrised tests run them.
    pub const ALL: [ProviderKind; 6] = [
        ProviderKind::Memory,
        ProviderKind::Fs,
        ProviderKind::S3,
        ProviderKind::Gcs,
        ProviderKind::B2,
        ProviderKind::Azure,
    ];

    /// The lower-case name used in `SHARDGATE_PROVIDER_KINDS` and test
    /// output (parsing ignores case).
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Memory => "memory",
            ProviderKind::Fs => "fs",
            ProviderKind::S3 => "s3",
            ProviderKind::Gcs => "gcs",
            ProviderKind::B2 => "b2",
            ProviderKind::Azure => "azure",
        }
    }

    /// Whether the kind needs a peer process (and so the installed tools).
    pub fn needs_peer(self) -> bool {
        !self.tools().is_empty()
    }

    /// The installed tools the kind's peer runs (none for memory and fs).
    pub fn tools(self) -> &'static [Tool] {
        match self {
            ProviderKind::Memory | ProviderKind::Fs => &[],
            ProviderKind::S3 | ProviderKind::B2 => &[Tool::MotoServer],
            ProviderKind::Gcs => &[Tool::GcsEmulator],
            ProviderKind::Azure => &[Tool::Azurite],
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ProviderKind {
    type Err = PeerError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ProviderKind::ALL
            .into_iter()
            .find(|kind| kind.name().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| PeerError::UnknownProviderKind(text.trim().to_owned()))
    }
}

/// The kinds selected by `SHARDGATE_PROVIDER_KINDS` (all of them when unset or
/// empty). An unknown name is an error, so a typo cannot shrink a run silently.
pub fn provider_kinds() -> Result<Vec<ProviderKind>, PeerError> {
    parse_kinds(std::env::var(PROVIDER_KINDS_ENV).ok().as_deref())
}

fn parse_kinds(value: Option<&str>) -> Result<Vec<ProviderKind>, PeerError> {
    let Some(list) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(ProviderKind::ALL.to_vec());
    };
    let mut kinds = Vec::new();
    for part in list.split(',').filter(|p| !p.trim().is_empty()) {
        let kind: ProviderKind = part.parse()?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_or_empty_means_all() {
        assert_eq!(parse_kinds(None).unwrap(), ProviderKind::ALL.to_vec());
        assert_eq!(parse_kinds(Some(" ")).unwrap(), ProviderKind::ALL.to_vec());
    }

    #[test]
    fn lists_are_parsed_in_order_without_duplicates() {
        let kinds = parse_kinds(Some("gcs, S3,,gcs")).unwrap();
        assert_eq!(kinds, vec![ProviderKind::Gcs, ProviderKind::S3]);
        let kinds = parse_kinds(Some("Azure,memory")).unwrap();
        assert_eq!(kinds, vec![ProviderKind::Azure, ProviderKind::Memory]);
    }

    #[test]
    fn peer_kinds_name_their_tools() {
        for kind in ProviderKind::ALL {
            let local = matches!(kind, ProviderKind::Memory | ProviderKind::Fs);
            assert_eq!(kind.needs_peer(), !local, "{kind}");
        }
        assert_eq!(ProviderKind::Azure.tools(), &[Tool::Azurite]);
    }

    #[test]
    fn unknown_kinds_are_rejected() {
        let err = parse_kinds(Some("s3,swift")).unwrap_err();
        assert!(err.to_string().contains("swift"), "{err}");
    }
}
