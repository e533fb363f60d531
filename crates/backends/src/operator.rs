//! Provider config → opendal [`Operator`] with our layer stack.
//!
//! Layer order (innermost first): the service, a capability override (the
//! B2/GCS write profiles), our HTTP metrics, the concurrency limit, the
//! timeout, then retry on the outside — so every attempt has its own
//! deadline, a timed-out attempt (temporary) is retried, and a waiting retry
//! holds no concurrency permit.
//! Our metrics wrap the [`crate::ShardStore`] calls above this stack, and the
//! retry layer reports each retry to [`crate::metrics`].

use std::sync::Once;
use std::time::Duration;

use opendal::Operator;
use opendal::layers::{CapabilityOverrideLayer, ConcurrentLimitLayer, RetryLayer, TimeoutLayer};
use opendal::services;

use crate::config::{ProviderConfig, ProviderKind};
use crate::error::BackendError;
use crate::http_metrics::HttpMetricsLayer;
use crate::metrics::RetryMetrics;

/// Every shard object is opaque bytes. GCS (and its emulator) wants an
/// explicit content type on uploads; the others accept it.
pub const SHARD_CONTENT_TYPE: &str = "application/octet-stream";

/// Build the layered operator for one provider. Only local checks happen
/// here; reachability and credentials are checked by the registry's probe.
pub fn build_operator(cfg: &ProviderConfig) -> Result<Operator, BackendError> {
    cfg.validate()?;
    install_http_transport();
    let name = cfg.name.as_str();
    let build_err = |e: opendal::Error| {
        // opendal names the missing/invalid setting in its message.
        BackendError::invalid_config(name, "kind", format!("{}: {}", e.kind(), e.message()))
    };
    // `Some(false)` turns conditional writes off even where the service has them.
    let mut conditional: Option<bool> = None;
    // Unsigned clients cannot produce signed URLs, whatever the service could do.
    let mut can_presign = true;
    let op = match &cfg.kind {
        ProviderKind::S3 {
            bucket,
            endpoint,
            region,
            access_key_id,
            secret_access_key,
            virtual_host_style,
            conditional_writes,
        } => {
            let mut b = services::S3::default().bucket(bucket).region(region);
            if let Some(ep) = endpoint {
                b = b.endpoint(ep);
            }
            if let (Some(id), Some(key)) = (access_key_id, secret_access_key) {
                // Explicit keys: do not let ~/.aws or instance metadata override them.
                b = b
                    .access_key_id(id.expose())
                    .secret_access_key(key.expose())
                    .disable_config_load()
                    .disable_ec2_metadata();
            }
            if *virtual_host_style {
                b = b.enable_virtual_host_style();
            }
            conditional = Some(*conditional_writes);
            Operator::new(b).map_err(build_err)?
        }
        ProviderKind::B2 {
            bucket,
            region,
            endpoint,
            key_id,
            application_key,
        } => {
            let ep = endpoint
                .clone()
                .unwrap_or_else(|| format!("https://s3.{region}.backblazeb2.com"));
            let b = services::S3::default()
                .bucket(bucket)
                .region(region)
                .endpoint(&ep)
                .access_key_id(key_id.expose())
                .secret_access_key(application_key.expose())
                .disable_config_load()
                .disable_ec2_metadata();
            // B2's S3 API does not implement conditional writes.
            conditional = Some(false);
            Operator::new(b).map_err(build_err)?
        }
        ProviderKind::B2Native {
            bucket,
            bucket_id,
            key_id,
            application_key,
        } => {
            let b = services::B2::default()
                .bucket(bucket)
                .bucket_id(bucket_id)
                .application_key_id(key_id.expose())
                .application_key(application_key.expose());
            Operator::new(b).map_err(build_err)?
        }
        ProviderKind::Gcs {
            bucket,
            endpoint,
            credential,
            credential_path,
            token,
            anonymous,
            conditional_writes,
        } => {
            let mut b = services::Gcs::default().bucket(bucket);
            if let Some(ep) = endpoint {
                b = b.endpoint(ep);
            }
            if let Some(c) = credential {
                b = b.credential(c.expose());
            }
            if let Some(p) = credential_path {
                b = b.credential_path(&p.to_string_lossy());
            }
            if let Some(t) = token {
                b = b.token(t.expose().to_owned());
            }
            if *anonymous || credential.is_some() || credential_path.is_some() || token.is_some() {
                // Explicit (or no) credentials: never probe the VM metadata
                // server or gcloud config, which hangs off-cloud.
                b = b.disable_config_load().disable_vm_metadata();
            }
            if *anonymous {
                b = b.skip_signature();
                can_presign = false;
            }
            conditional = Some(*conditional_writes);
            Operator::new(b).map_err(build_err)?
        }
        ProviderKind::Azblob {
            container,
            endpoint,
            account_name,
            account_key,
            sas_token,
        } => {
            let mut b = services::Azblob::default()
                .container(container)
                .endpoint(endpoint)
                .account_name(account_name);
            if let Some(k) = account_key {
                b = b.account_key(k.expose());
            }
            if let Some(t) = sas_token {
                b = b.sas_token(t.expose());
            }
            // opendal presigns azblob only with a SAS token, and then by
            // appending that very token to the URL: whoever gets the "presigned"
            // URL holds our whole SAS (every permission it grants, on the whole
            // container, until it expires), not a read of one blob for
            // `expires`. Shards are served through the broker instead.
            can_presign = false;
            Operator::new(b).map_err(build_err)?
        }
        ProviderKind::Fs { root } => {
            // Write to a temp file and rename: readers (and a concurrent
            // put of the same shard) never see a half-written object.
            let tmp = root.join(".shardgate-tmp");
            let b = services::Fs::default()
                .root(&root.to_string_lossy())
                .atomic_write_dir(&tmp.to_string_lossy());
            Operator::new(b).map_err(build_err)?
        }
        ProviderKind::Memory {} => Operator::new(services::Memory::default()).map_err(build_err)?,
    };
    Ok(apply_layers(op, cfg, conditional, can_presign))
}

fn apply_layers(
    op: Operator,
    cfg: &ProviderConfig,
    conditional: Option<bool>,
    can_presign: bool,
) -> Operator {
    let l = &cfg.limits;
    let no_conditional = conditional == Some(false);
    let op = if no_conditional || !can_presign {
        op.layer(CapabilityOverrideLayer::new(move |mut cap| {
            if no_conditional {
                cap.write_with_if_not_exists = false;
            }
            if !can_presign {
                cap.presign = false;
                cap.presign_read = false;
                cap.presign_stat = false;
                cap.presign_write = false;
                cap.presign_delete = false;
            }
            cap
        }))
    } else {
        op
    };
    op.layer(HttpMetricsLayer::new(&cfg.name))
        .layer(ConcurrentLimitLayer::new(l.max_concurrent_requests))
        .layer(
            TimeoutLayer::new()
                .with_timeout(Duration::from_millis(l.timeout_ms))
                .with_io_timeout(Duration::from_millis(l.io_timeout_ms)),
        )
        .layer(
            RetryLayer::new()
                .with_max_times(l.retry_max_times)
                .with_min_delay(Duration::from_millis(l.retry_min_delay_ms))
                .with_max_delay(Duration::from_millis(l.retry_max_delay_ms))
                .with_jitter()
                .with_notify(RetryMetrics::new(&cfg.name)),
        )
}

/// opendal 0.59 needs a process-wide HTTP transport installed once.
fn install_http_transport() {
    static ONCE: Once = Once::new();
    ONCE.call_once(opendal::install_default);
}
