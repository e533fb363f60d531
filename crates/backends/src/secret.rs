//! Credentials that never print.
//!
//! A [`Secret`] is read from the config as a plain string, or indirectly as
//! `{ env = "VAR" }` / `{ file = "/run/secrets/key" }` so the TOML file itself
//! need not hold it (a Kubernetes Secret mounted as a file or env var). Its
//! `Debug` and `Display` print `<redacted>`, and the bytes are zeroized when
//! the value is dropped.

use std::fmt;

use serde::Deserialize;
use zeroize::Zeroizing;

/// A credential string; see the module docs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wrap a value (taking ownership so no plain copy stays behind).
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The secret value, for handing to a client library. Never log it.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    /// Whether the value is empty (an empty credential is a config error).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How a secret is written in the config file.
#[derive(Deserialize)]
#[serde(untagged)]
enum SecretSource {
    Inline(String),
    Env { env: String },
    File { file: std::path::PathBuf },
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match SecretSource::deserialize(d).map_err(|_| {
            D::Error::custom("expected a string, { env = \"VAR\" } or { file = \"path\" }")
        })? {
            SecretSource::Inline(v) => Ok(Secret::new(v)),
            SecretSource::Env { env } => std::env::var(&env)
                .map(Secret::new)
                .map_err(|_| D::Error::custom(format!("environment variable `{env}` is not set"))),
            SecretSource::File { file } => std::fs::read_to_string(&file)
                // A trailing newline from `echo` or a mounted Secret is not part of the key.
                .map(|v| Secret::new(v.trim_end_matches(['\r', '\n']).to_owned()))
                .map_err(|e| {
                    D::Error::custom(format!(
                        "cannot read secret file `{}`: {}",
                        file.display(),
                        e.kind()
                    ))
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        key: Secret,
    }

    #[test]
    fn debug_and_display_redact() {
        let s = Secret::new("hunter2-very-secret".to_owned());
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2-very-secret");
    }

    #[test]
    fn reads_inline_env_and_file() {
        let h: Holder = toml::from_str("key = \"abc\"").expect("inline");
        assert_eq!(h.key.expose(), "abc");

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k");
        std::fs::write(&path, "from-file\n").expect("write");
        let h: Holder = toml::from_str(&format!(
            "key = {{ file = {:?} }}",
            path.display().to_string()
        ))
        .expect("file");
        assert_eq!(h.key.expose(), "from-file");

        // PATH is set in every test environment; reading it proves the env path works.
        let h: Holder = toml::from_str("key = { env = \"PATH\" }").expect("env");
        assert_eq!(h.key.expose(), std::env::var("PATH").expect("PATH"));
    }

    #[test]
    fn missing_env_names_the_variable_not_a_value() {
        let err = toml::from_str::<Holder>("key = { env = \"SHARDGATE_SURELY_UNSET_VAR\" }")
            .err()
            .expect("must fail");
        assert!(
            err.to_string().contains("SHARDGATE_SURELY_UNSET_VAR"),
            "{err}"
        );
    }
}
