//! [`ProviderName`]: the one rule for a storage provider's name, shared by
//! the provider config file, the Providers API, placement and the index.
//!
//! A name is a key in the index (every shard location names its provider),
//! a metrics label and a path segment in logs, so it is short and plain:
//! 1..=64 bytes of `[a-z0-9-]`, starting with a letter (`aws-eu`, `b2-2`).

use std::fmt;
use std::str::FromStr;

use crate::error::CoreError;

/// A validated provider name. Construct with [`ProviderName::parse`] (or
/// `str::parse`); [`ProviderName::check`] validates a borrowed name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProviderName(String);

impl ProviderName {
    /// Longest name, in bytes.
    pub const MAX_LEN: usize = 64;

    /// The rule, in words, for error messages.
    pub const RULE: &'static str = "1..=64 bytes of [a-z0-9-], starting with a letter";

    /// `InvalidArgument` ("provider name") unless `name` follows the rule.
    pub fn check(name: &str) -> Result<(), CoreError> {
        let bytes = name.as_bytes();
        let ok = !bytes.is_empty()
            && bytes.len() <= Self::MAX_LEN
            && bytes[0].is_ascii_lowercase()
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if ok {
            Ok(())
        } else {
            Err(CoreError::invalid(
                "provider name",
                format!("{name:?}: must be {}", Self::RULE),
            ))
        }
    }

    /// The name, validated.
    pub fn parse(name: &str) -> Result<Self, CoreError> {
        Self::check(name)?;
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The owned text.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl FromStr for ProviderName {
    type Err = CoreError;

    fn from_str(name: &str) -> Result<Self, CoreError> {
        Self::parse(name)
    }
}

impl AsRef<str> for ProviderName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProviderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_follow_the_rule_parse() {
        for good in ["a", "aws-eu", "b2-2", "s3-b", &"p".repeat(64)] {
            assert_eq!(ProviderName::parse(good).expect(good).as_str(), good);
        }
    }

    #[test]
    fn every_other_name_is_refused_with_the_rule() {
        for bad in [
            "",
            "1p",
            "-p",
            "P",
            "aws_eu",
            "aws.eu",
            "aws eu",
            "é",
            &"p".repeat(65),
        ] {
            let err = ProviderName::parse(bad).expect_err(bad);
            assert!(err.to_string().contains(ProviderName::RULE), "{bad}: {err}");
        }
    }
}
