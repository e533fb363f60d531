//! `shardgate serve` and `shardgate keygen`.
//!
//! Config precedence: built-in defaults < TOML file < `SHARDGATE_*` env <
//! flags. Flags that have an env twin (`--listen` / `SHARDGATE_LISTEN`)
//! are merged by clap, flag first. Secrets come from files or env, never
//! from flags (they would show in `ps`), and are never printed.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, bail};
use shardgate_backends::Secret;
use shardgate_broker::BrokerConfig;
use tokio::net::TcpListener;

use crate::args::ServeArgs;
use crate::serve_payments;

/// Env var holding the master key itself (64 hex characters).
const MASTER_KEY_ENV: &str = "SHARDGATE_MASTER_KEY";

/// `shardgate serve`: runs until SIGTERM or ctrl-c, then shuts down
/// gracefully (in-flight uploads commit or leave only orphan shards).
pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = load_config(&args)?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let metrics = match config.metrics_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} for /metrics"))?,
        ),
        None => None,
    };
    let http = match config.http_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} for the HTTP gateway"))?,
        ),
        None => None,
    };
    let addr = listener.local_addr()?;
    if let Some(m) = &metrics {
        tracing::info!("metrics on http://{}/metrics", m.local_addr()?);
    }
    // The lines scripts may read (the gateway's first, so that a reader
    // that stops at `listening on` has both); readiness is the health check.
    if let Some(h) = &http {
        println!("http gateway on {}", h.local_addr()?);
    }
    println!("listening on {addr}");
    let listeners = shardgate_broker::Listeners {
        grpc: listener,
        metrics,
        http,
    };
    shardgate_broker::run_with(config, listeners, shutdown_signal())
        .await
        .context("the broker stopped")?;
    tracing::info!("broker stopped");
    Ok(())
}

/// Defaults, then the TOML file, then env, then flags; validated.
pub(crate) fn load_config(args: &ServeArgs) -> anyhow::Result<BrokerConfig> {
    let payments = args.payments.overrides()?;
    let mut config = match (&args.config, payments.is_empty()) {
        (Some(path), true) => read_toml(path)?,
        (None, true) => BrokerConfig::default(),
        (path, false) => {
            let file = match path {
                Some(path) => read_toml::<toml::Table>(path)?,
                None => toml::Table::new(),
            };
            serve_payments::into_config(serve_payments::merge(file, payments)?)?
        }
    };
    if let Ok(key) = std::env::var(MASTER_KEY_ENV) {
        config.master_key = Some(Secret::new(key));
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(metrics) = &args.metrics_listen {
        config.metrics_listen = match metrics.as_str() {
            "off" | "none" | "" => None,
            addr => Some(addr.parse::<SocketAddr>().with_context(|| {
                format!("--metrics-listen {addr:?} is not an address like 127.0.0.1:9700 or `off`")
            })?),
        };
    }
    if let Some(http) = &args.http_listen {
        config.http_listen = match http.as_str() {
            "off" | "none" | "" => None,
            addr => Some(addr.parse::<SocketAddr>().with_context(|| {
                format!("--http-listen {addr:?} is not an address like 127.0.0.1:8080 or `off`")
            })?),
        };
    }
    if let Some(url) = &args.index_url {
        config.set_postgres_index_url(Secret::new(url.clone()));
    }
    if let Some(path) = &args.index_ca_file {
        config
            .set_postgres_index_ca_file(path.clone())
            .context("--index-ca-file")?;
    }
    if let Some(url) = &args.public_url {
        config.public_url = Some(url.trim_end_matches('/').to_owned());
    }
    if let Some(path) = &args.master_key_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the master key file {}", path.display()))?;
        config.master_key = Some(Secret::new(text.trim().to_owned()));
    }
    if let Some(hash) = &args.admin_key_hash {
        config.admin_key_hash = Some(hash.clone());
    }
    if config.master_key.is_none() {
        bail!(
            "no master key: set {MASTER_KEY_ENV}, pass --master-key-file, or set master_key in the config (`shardgate keygen` makes one)"
        );
    }
    config.validate().context("invalid config")?;
    Ok(config)
}

fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config {}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        // Message and line only: toml's Display quotes the source line,
        // which may hold an inline secret.
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
        let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
        anyhow::anyhow!("config {}{at}: {}", path.display(), e.message())
    })
}

/// Completes on ctrl-c or SIGTERM (what Kubernetes sends).
pub(crate) async fn shutdown_signal() {
    let terminate = async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    term.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: in-flight calls finish first");
}

/// A fresh 32-byte master key as 64 hex characters.
pub(crate) fn new_master_key() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// A fresh admin key and its BLAKE3 hash (what the broker config holds).
pub(crate) fn new_admin_key() -> (String, String) {
    let key = format!("sga_{}", hex::encode(rand::random::<[u8; 32]>()));
    let hash = blake3::hash(key.as_bytes()).to_hex().to_string();
    (key, hash)
}

/// `shardgate keygen`: the one command that prints secrets, on purpose.
pub(crate) fn keygen() {
    let (admin_key, admin_hash) = new_admin_key();
    println!("master_key      {}", new_master_key());
    println!("admin_key       {admin_key}");
    println!("admin_key_hash  {admin_hash}");
    eprintln!(
        "Keep master_key secret (SHARDGATE_MASTER_KEY or --master-key-file); losing it loses every blob."
    );
    eprintln!(
        "Give admin_key to operators (SHARDGATE_ADMIN_KEY); put admin_key_hash in the config or SHARDGATE_ADMIN_KEY_HASH."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(config: Option<&Path>) -> ServeArgs {
        ServeArgs {
            config: config.map(Path::to_path_buf),
            listen: Some("127.0.0.1:0".parse().expect("addr")),
            data_dir: None,
            metrics_listen: Some("off".into()),
            http_listen: None,
            public_url: None,
            index_url: None,
            index_ca_file: None,
            master_key_file: None,
            admin_key_hash: None,
            payments: Default::default(),
        }
    }

    #[test]
    fn flags_override_the_file_and_errors_do_not_quote_secrets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        let key = new_master_key();
        std::fs::write(
            &path,
            format!("master_key = \"{key}\"\nlisten = \"0.0.0.0:7700\"\ndata_dir = \"/srv/x\"\n"),
        )
        .expect("write");
        let config = load_config(&args(Some(&path))).expect("load");
        assert_eq!(config.listen.port(), 0, "the flag wins over the file");
        assert_eq!(config.data_dir, Path::new("/srv/x"));
        assert!(config.metrics_listen.is_none());

        std::fs::write(&path, format!("master_key = \"{key}\"\nlisten = 12\n")).expect("write");
        let err = format!("{:#}", load_config(&args(Some(&path))).expect_err("bad"));
        assert!(err.contains("line 2"), "{err}");
        assert!(!err.contains(&key), "{err}");
    }

    #[test]
    fn index_flags_choose_postgres_and_tls() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, format!("master_key = \"{}\"\n", new_master_key())).expect("write");
        let mut a = args(Some(&path));
        a.index_ca_file = Some(dir.path().join("ca.pem"));
        let err = format!("{:#}", load_config(&a).expect_err("CA without PostgreSQL"));
        assert!(
            err.contains("--index-ca-file") && err.contains("--index-url"),
            "{err}"
        );

        a.index_url = Some("postgres://shardgate:hunter2@db:5432/sg?sslmode=verify-full".into());
        let config = load_config(&a).expect("postgres with a CA");
        let shown = format!("{config:?}");
        assert!(shown.contains("Postgres"), "{shown}");
        assert!(shown.contains("ca.pem"), "{shown}");
        assert!(!shown.contains("hunter2"), "the URL is a secret: {shown}");
    }

    #[test]
    fn admin_keys_hash_as_the_broker_expects() {
        let (key, hash) = new_admin_key();
        assert_eq!(blake3::hash(key.as_bytes()).to_hex().as_str(), hash);
        assert_eq!(new_master_key().len(), 64);
    }
}
