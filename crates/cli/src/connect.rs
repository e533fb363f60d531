//! Connecting to a broker: one channel per command, keys attached per
//! request as metadata, and a bounded readiness poll on the health service.

use std::time::Duration;

use anyhow::{Context, bail};
use shardgate_proto::auth_metadata;
use shardgate_proto::v1::admin_client::AdminClient;
use shardgate_proto::v1::payments_client::PaymentsClient;
use shardgate_proto::v1::providers_client::ProvidersClient;
use shardgate_proto::v1::storage_client::StorageClient;
use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::args::{AccountConnArgs, AdminConnArgs, ConnArgs};

/// Download frames are at most 1 MiB plus framing; the default 4 MiB
/// decode limit is enough, but a broker configured for 3 MiB frames
/// needs headroom.
const MAX_DECODE_BYTES: usize = 8 << 20;
/// How long to wait for the TCP/HTTP2 connection to the broker.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connected channel to `url`.
pub(crate) async fn channel(url: &str) -> anyhow::Result<Channel> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .with_context(|| format!("broker URL {url:?} is not a valid URL"))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true);
    endpoint
        .connect()
        .await
        .with_context(|| format!("cannot connect to the broker at {url}"))
}

/// Storage and Payments clients plus the tenant key to send.
pub(crate) struct Tenant {
    pub storage: StorageClient<Channel>,
    pub payments: PaymentsClient<Channel>,
    api_key: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl Tenant {
    pub(crate) async fn connect(conn: &ConnArgs) -> anyhow::Result<Self> {
        let channel = channel(&conn.broker.url).await?;
        Self::over(channel, conn.api_key.as_deref())
    }

    /// On an existing channel (dev mode reuses one).
    pub(crate) fn over(channel: Channel, api_key: Option<&str>) -> anyhow::Result<Self> {
        let api_key = api_key
            .map(|k| k.parse().context("the API key must be printable ASCII"))
            .transpose()?;
        Ok(Self {
            payments: PaymentsClient::new(channel.clone()),
            storage: StorageClient::new(channel).max_decoding_message_size(MAX_DECODE_BYTES),
            api_key,
        })
    }

    /// `message` with `x-api-key` attached, if one was given.
    pub(crate) fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if let Some(key) = &self.api_key {
            request
                .metadata_mut()
                .insert(auth_metadata::API_KEY, key.clone());
        }
        request
    }

    /// As [`Tenant::request`], failing early when no key was given (the
    /// RPC needs one).
    pub(crate) fn keyed<T>(&self, message: T) -> anyhow::Result<Request<T>> {
        if self.api_key.is_none() {
            bail!("this command needs a tenant API key: pass --api-key or set SHARDGATE_API_KEY");
        }
        Ok(self.request(message))
    }
}

/// Admin and Providers clients plus the admin key.
pub(crate) struct Operator {
    pub admin: AdminClient<Channel>,
    pub providers: ProvidersClient<Channel>,
    admin_key: MetadataValue<tonic::metadata::Ascii>,
}

impl Operator {
    pub(crate) async fn connect(conn: &AdminConnArgs) -> anyhow::Result<Self> {
        let Some(key) = conn.admin_key.as_deref() else {
            bail!("this command needs the admin key: pass --admin-key or set SHARDGATE_ADMIN_KEY");
        };
        Self::over(channel(&conn.broker.url).await?, key)
    }

    pub(crate) fn over(channel: Channel, admin_key: &str) -> anyhow::Result<Self> {
        Ok(Self {
            admin: AdminClient::new(channel.clone()),
            providers: ProvidersClient::new(channel),
            admin_key: admin_key
                .parse()
                .context("the admin key must be printable ASCII")?,
        })
    }

    /// `message` with `x-admin-key` attached.
    pub(crate) fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert(auth_metadata::ADMIN_KEY, self.admin_key.clone());
        request
    }
}

/// Payments client for earnings and the ledger, with the admin key when
/// one is given (every account), else the tenant key (its own account).
pub(crate) struct Accountant {
    pub payments: PaymentsClient<Channel>,
    key: (&'static str, MetadataValue<tonic::metadata::Ascii>),
}

impl Accountant {
    pub(crate) async fn connect(conn: &AccountConnArgs) -> anyhow::Result<Self> {
        let key = match (&conn.admin_key, &conn.api_key) {
            (Some(admin), _) => (auth_metadata::ADMIN_KEY, admin.as_str()),
            (None, Some(tenant)) => (auth_metadata::API_KEY, tenant.as_str()),
            (None, None) => bail!(
                "this command needs a key: --admin-key (every account) or --api-key (your own), or SHARDGATE_ADMIN_KEY / SHARDGATE_API_KEY"
            ),
        };
        Self::over(channel(&conn.broker.url).await?, key.0, key.1)
    }

    /// On an existing channel with `header` (`x-admin-key` or `x-api-key`).
    pub(crate) fn over(channel: Channel, header: &'static str, key: &str) -> anyhow::Result<Self> {
        Ok(Self {
            payments: PaymentsClient::new(channel),
            key: (
                header,
                key.parse().context("the key must be printable ASCII")?,
            ),
        })
    }

    /// `message` with the key attached.
    pub(crate) fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert(self.key.0, self.key.1.clone());
        request
    }
}

/// One health check: Ok when the Storage service is SERVING.
#[cfg_attr(
    not(feature = "dev"),
    expect(dead_code, reason = "only dev mode waits for its broker")
)]
pub(crate) async fn check_serving(url: &str) -> anyhow::Result<()> {
    let mut health = HealthClient::new(channel(url).await?);
    let status = health
        .check(HealthCheckRequest {
            service: "shardgate.v1.Storage".to_owned(),
        })
        .await
        .map_err(crate::failure::status)?
        .into_inner()
        .status;
    if status == ServingStatus::Serving as i32 {
        Ok(())
    } else {
        bail!("health status is {status}")
    }
}
