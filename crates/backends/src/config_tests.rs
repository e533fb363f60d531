//! The README's configuration example must parse and validate, and config
//! errors must name what is wrong.

use crate::config::{BackendsConfig, ProviderKind};
use crate::error::BackendErrorKind;

/// The first ```toml block of the README, with `{ env = .. }` / `{ file = .. }`
/// secret references replaced by inline values (the test cannot set env vars
/// or create /run/secrets).
fn readme_toml() -> String {
    let readme = include_str!("../README.md");
    let start = readme.find("```toml\n").expect("README has a toml block") + "```toml\n".len();
    let end = start + readme[start..].find("```").expect("block ends");
    readme[start..end]
        .lines()
        .map(
            |line| match (line.find("{ env = "), line.find("{ file = ")) {
                (Some(i), _) | (None, Some(i)) => {
                    let close = line[i..].find('}').expect("inline table closes") + i;
                    format!("{}\"inline-test-secret\"{}", &line[..i], &line[close + 1..])
                }
                _ => line.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn readme_example_parses_and_validates() {
    let cfg = BackendsConfig::from_toml(&readme_toml()).expect("README example is valid");
    let kinds: Vec<&str> = cfg.providers.iter().map(|p| p.kind.label()).collect();
    assert_eq!(
        kinds,
        ["s3", "b2", "b2_native", "gcs", "azblob", "fs", "memory"]
    );
    assert_eq!(cfg.health.failure_threshold, 3);
    assert_eq!(cfg.providers[0].limits.max_concurrent_requests, 64);
    assert_eq!(cfg.providers.last().map(|p| p.weight), Some(0.5));
    match &cfg.providers[1].kind {
        ProviderKind::B2 {
            region, endpoint, ..
        } => {
            assert_eq!(region, "us-west-004");
            assert!(endpoint.is_none());
        }
        other => panic!("expected b2, got {}", other.label()),
    }
    // Secrets never print.
    assert!(!format!("{cfg:?}").contains("inline-test-secret"));
}

#[test]
fn config_errors_name_the_problem() {
    let err = |text: &str| {
        BackendsConfig::from_toml(text)
            .expect_err("invalid")
            .to_string()
    };
    assert!(err("[[providers]]\nname = \"x\"\nkind = \"ftp\"").contains("unknown variant `ftp`"));
    assert!(err("[[providers]]\nname = \"x\"\nkind = \"s3\"").contains("missing field `bucket`"));
    // The structured field and provider say the same, for callers that map them.
    let field = |text: &str| {
        let e = BackendsConfig::from_toml(text).expect_err("invalid");
        match e.kind() {
            BackendErrorKind::InvalidConfig { field } => (e.provider().to_owned(), field.clone()),
            other => panic!("{other:?}"),
        }
    };
    let named = |p: &str, f: &str| (p.to_owned(), f.to_owned());
    assert_eq!(
        field("[[providers]]\nname = \"x\"\nkind = \"ftp\""),
        named("x", "kind")
    );
    let second_bad = "[[providers]]\nname = \"m\"\nkind = \"memory\"\n[[providers]]\nname = \"y\"\nkind = \"s3\"";
    assert_eq!(field(second_bad), named("y", "bucket"));
    let unknown = "[[providers]]\nname = \"z\"\nkind = \"memory\"\nlimits = { timeout = 1 }";
    assert_eq!(field(unknown), named("z", "timeout"));
    let dup = "[[providers]]\nname = \"a\"\nkind = \"memory\"\n[[providers]]\nname = \"a\"\nkind = \"memory\"";
    let e = BackendsConfig::from_toml(dup).expect_err("duplicate");
    assert_eq!(
        e.kind(),
        &BackendErrorKind::InvalidConfig {
            field: "name".into()
        }
    );
    let e = BackendsConfig::from_toml("[[providers]]\nname = \"g\"\nkind = \"gcs\"\nbucket = \"\"")
        .expect_err("empty bucket");
    assert_eq!(
        e.kind(),
        &BackendErrorKind::InvalidConfig {
            field: "bucket".into()
        }
    );
    let e = BackendsConfig::from_toml(
        "[[providers]]\nname = \"s\"\nkind = \"s3\"\nbucket = \"b\"\nendpoint = \"s3.example\"",
    )
    .expect_err("endpoint without scheme");
    assert_eq!(
        e.kind(),
        &BackendErrorKind::InvalidConfig {
            field: "endpoint".into()
        }
    );
    // A syntax error near an inline secret reports the line, not the secret.
    let text = "[[providers]]\nname = \"s\"\nkind = \"s3\"\nbucket = \"b\"\nsecret_access_key = \"sup3r-s3cret";
    let msg = err(text);
    assert!(msg.contains("line 5"), "{msg}");
    assert!(!msg.contains("sup3r-s3cret"), "{msg}");
}
