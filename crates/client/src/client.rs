//! Connecting to a broker: one HTTP/2 channel shared by every call (a
//! [`Client`] is cheap to clone), keys attached per request as metadata.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use shardgate_proto::auth_metadata;
use shardgate_proto::v1::admin_client::AdminClient;
use shardgate_proto::v1::payments_client::PaymentsClient;
use shardgate_proto::v1::providers_client::ProvidersClient;
use shardgate_proto::v1::shares_client::SharesClient;
use shardgate_proto::v1::storage_client::StorageClient;
use tonic::Request;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::error::{ClientError, ErrorKind, Result};
use crate::manifest_cache::ManifestCache;

/// Download frames are at most 1 MiB plus framing; the default 4 MiB
/// decode limit is enough, but a broker configured for 3 MiB frames needs
/// headroom.
pub(crate) const MAX_DECODE_BYTES: usize = 8 << 20;
/// How long to wait for the TCP/HTTP2 connection to the broker.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/2 flow-control windows of the channel. With hyper's defaults
/// (64 KiB) a download stalls every 64 KiB waiting for a WINDOW_UPDATE
/// round trip and arrives in 8 KiB reads; the stream window matches the
/// broker's own (server.rs), so a whole 4 MiB chunk can be in flight on
/// one stream.
const STREAM_WINDOW: u32 = 4 << 20;
/// The connection window is HTTP/2's largest, so only the stream windows
/// bound what is buffered (4 MiB per open download, however many the
/// caller opens). Every call of a `Client` shares one connection: with a
/// connection window of two stream windows, two downloads opened and not
/// yet read held all of it, and any other call on the client — a stat,
/// another download — waited forever for them (test
/// `sdk_unread_downloads`).
const CONNECTION_WINDOW: u32 = (1 << 31) - 1;
/// Largest HTTP/2 frame the broker may send us. At the default 16 KiB a
/// 1 GiB download is 65,536 DATA frames, read 8 KiB per `recvfrom`
/// (131,000 calls, each waking the runtime); 1 MiB frames (a whole Get
/// message) let each read take what the socket holds.
const MAX_FRAME: u32 = 1 << 20;

/// How to reach a broker; [`ClientBuilder::connect`] makes the [`Client`].
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    url: String,
    api_key: Option<String>,
    admin_key: Option<String>,
    ca_pem: Option<Vec<u8>>,
    connect_timeout: Duration,
    local_address: Option<IpAddr>,
}

impl ClientBuilder {
    /// The tenant API key (`x-api-key`), needed for uploads, private blobs
    /// and account calls.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The operator's admin key (`x-admin-key`), for the operator calls
    /// (tenants, providers, GC, repair) and every account's earnings.
    pub fn admin_key(mut self, key: impl Into<String>) -> Self {
        self.admin_key = Some(key.into());
        self
    }

    /// A CA certificate (PEM) to trust for an `https://` broker, in place
    /// of the system's roots (a private CA, a self-signed test broker).
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// As [`ClientBuilder::ca_certificate_pem`], read from a file.
    pub fn ca_certificate_file(self, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let pem = std::fs::read(path)
            .map_err(|e| ClientError::io(format!("cannot read {}", path.display()), e))?;
        Ok(self.ca_certificate_pem(pem))
    }

    /// How long [`ClientBuilder::connect`] waits for the connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The local address to connect from (one of this host's addresses),
    /// instead of the one the system picks: a host with several addresses
    /// chooses which one the broker's per-address limits count.
    pub fn local_address(mut self, address: IpAddr) -> Self {
        self.local_address = Some(address);
        self
    }

    fn endpoint(&self) -> Result<Endpoint> {
        let url = &self.url;
        let mut endpoint = Endpoint::from_shared(url.clone())
            .map_err(|e| {
                ClientError::invalid(format!("broker URL {url:?} is not a valid URL: {e}"))
            })?
            .connect_timeout(self.connect_timeout)
            .local_address(self.local_address)
            .tcp_nodelay(true)
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .max_frame_size(MAX_FRAME);
        if url.starts_with("https://") {
            let tls = match &self.ca_pem {
                Some(pem) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)),
                None => ClientTlsConfig::new().with_native_roots(),
            };
            endpoint = endpoint.tls_config(tls).map_err(|e| {
                ClientError::invalid(format!("TLS settings for {url}: {e}")).with_source(e)
            })?;
        }
        Ok(endpoint)
    }

    fn keys(&self) -> Result<Keys> {
        let parse = |key: &Option<String>, what: &str| {
            key.as_deref()
                .map(|k| {
                    k.parse::<AsciiMetadataValue>().map_err(|_| {
                        ClientError::invalid(format!("the {what} must be printable ASCII"))
                    })
                })
                .transpose()
        };
        Ok(Keys {
            api_key: parse(&self.api_key, "API key")?,
            admin_key: parse(&self.admin_key, "admin key")?,
        })
    }

    /// Connects, failing if the broker cannot be reached.
    pub async fn connect(self) -> Result<Client> {
        let keys = self.keys()?;
        let channel = self.endpoint()?.connect().await.map_err(|e| {
            ClientError::new(
                ErrorKind::Unavailable,
                format!("cannot connect to the broker at {}: {e}", self.url),
            )
            .with_source(e)
        })?;
        Ok(Client::over(channel, keys))
    }

    /// A client that connects on its first call (and reconnects after a
    /// broken connection).
    pub fn connect_lazy(self) -> Result<Client> {
        let keys = self.keys()?;
        Ok(Client::over(self.endpoint()?.connect_lazy(), keys))
    }
}

#[derive(Clone, Debug, Default)]
struct Keys {
    api_key: Option<AsciiMetadataValue>,
    admin_key: Option<AsciiMetadataValue>,
}

/// A connection to one broker: storage, payments and (with the admin key)
/// operator calls. Clones share the connection.
#[derive(Clone, Debug)]
pub struct Client {
    channel: Channel,
    keys: Arc<Keys>,
    /// The broker's frame limit and default chunk size, asked once per
    /// connection (every upload needs them; they are broker configuration,
    /// fixed while it runs).
    upload_limits: Arc<tokio::sync::OnceCell<UploadLimits>>,
    /// Manifests verified lately, for a download that needs one twice.
    pub(crate) manifests: Arc<ManifestCache>,
}

/// What an upload needs to know of the broker's limits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UploadLimits {
    /// `Limits.max_data_frame_bytes`.
    pub(crate) frame: usize,
    /// `Limits.default_chunk_size_bytes`.
    pub(crate) default_chunk_size: u32,
}

impl Client {
    /// Starts configuring a connection to `url` (`http://host:port` or
    /// `https://…`).
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            url: url.into(),
            api_key: None,
            admin_key: None,
            ca_pem: None,
            connect_timeout: CONNECT_TIMEOUT,
            local_address: None,
        }
    }

    /// Connects to `url` without keys (public blobs, limits, health).
    pub async fn connect(url: impl Into<String>) -> Result<Client> {
        Client::builder(url).connect().await
    }

    fn over(channel: Channel, keys: Keys) -> Client {
        Client {
            channel,
            keys: Arc::new(keys),
            upload_limits: Arc::default(),
            manifests: Arc::default(),
        }
    }

    /// The upload limits, from `GetLimits` the first time.
    pub(crate) async fn upload_limits(&self) -> Result<UploadLimits> {
        self.upload_limits
            .get_or_try_init(|| async {
                let limits = self.limits().await?;
                Ok(UploadLimits {
                    frame: (limits.max_data_frame_bytes as usize).max(1),
                    default_chunk_size: limits.default_chunk_size_bytes,
                })
            })
            .await
            .copied()
    }

    /// The same connection with another tenant API key.
    pub fn with_api_key(&self, key: &str) -> Result<Client> {
        let api_key = key
            .parse()
            .map_err(|_| ClientError::invalid("the API key must be printable ASCII"))?;
        let mut client = Client::over(
            self.channel.clone(),
            Keys {
                api_key: Some(api_key),
                admin_key: self.keys.admin_key.clone(),
            },
        );
        client.upload_limits = self.upload_limits.clone();
        client.manifests = self.manifests.clone();
        Ok(client)
    }

    /// The underlying channel (for services this SDK does not wrap, such
    /// as gRPC health).
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// True when an API key was configured.
    pub fn has_api_key(&self) -> bool {
        self.keys.api_key.is_some()
    }

    pub(crate) fn storage(&self) -> StorageClient<Channel> {
        StorageClient::new(self.channel.clone()).max_decoding_message_size(MAX_DECODE_BYTES)
    }

    pub(crate) fn payments_stub(&self) -> PaymentsClient<Channel> {
        PaymentsClient::new(self.channel.clone())
    }

    pub(crate) fn admin_stub(&self) -> AdminClient<Channel> {
        AdminClient::new(self.channel.clone())
    }

    pub(crate) fn shares_stub(&self) -> SharesClient<Channel> {
        SharesClient::new(self.channel.clone())
    }

    pub(crate) fn providers_stub(&self) -> ProvidersClient<Channel> {
        ProvidersClient::new(self.channel.clone())
    }

    /// `message` with `x-api-key` attached, if one was configured.
    pub(crate) fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if let Some(key) = &self.keys.api_key {
            request
                .metadata_mut()
                .insert(auth_metadata::API_KEY, key.clone());
        }
        request
    }

    /// As [`Client::request`], failing early when no API key was given (the
    /// call needs one).
    pub(crate) fn keyed<T>(&self, message: T) -> Result<Request<T>> {
        if self.keys.api_key.is_none() {
            return Err(ClientError::new(
                ErrorKind::Unauthenticated,
                "this call needs a tenant API key (ClientBuilder::api_key)",
            ));
        }
        Ok(self.request(message))
    }

    /// `message` with `x-admin-key`, failing early without one.
    pub(crate) fn admin_request<T>(&self, message: T) -> Result<Request<T>> {
        let Some(key) = &self.keys.admin_key else {
            return Err(ClientError::new(
                ErrorKind::Unauthenticated,
                "this call needs the admin key (ClientBuilder::admin_key)",
            ));
        };
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert(auth_metadata::ADMIN_KEY, key.clone());
        Ok(request)
    }

    /// `message` with the admin key when one was configured (every
    /// account), else the API key (the tenant's own account).
    pub(crate) fn account_request<T>(&self, message: T) -> Result<Request<T>> {
        if self.keys.admin_key.is_some() {
            return self.admin_request(message);
        }
        self.keyed(message).map_err(|_| {
            ClientError::new(
                ErrorKind::Unauthenticated,
                "this call needs a key: the admin key (every account) or an API key (your own)",
            )
        })
    }
}
