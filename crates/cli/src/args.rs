//! Every subcommand and flag (clap derive). Handlers live in their own
//! modules; this file is only the shape of the command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::human::parse_size;
use shardgate_core::ProviderName;

/// Default `--max-price-msat`: 1,000 sat. Shardgate prices are a few sat
/// per MiB; anything above this is worth a second look before paying.
pub(crate) const DEFAULT_MAX_PRICE_MSAT: u64 = 1_000_000;
/// Default `--max-fee-msat`: 10 sat of routing fees on top.
pub(crate) const DEFAULT_MAX_FEE_MSAT: u64 = 10_000;

/// Shardgate: a storage broker that splits, encrypts and erasure-codes blobs
/// across independent storage providers.
#[derive(Debug, Parser)]
#[command(name = "shardgate", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the broker (gRPC API, health, reflection, /metrics).
    Serve(ServeArgs),
    /// A complete broker on local defaults: three local providers, a
    /// scripted upload/download round trip, optionally kept running.
    Dev(DevArgs),
    /// Print a fresh master key, admin key and admin key hash for a config.
    Keygen,
    /// Upload a file (or `-` for stdin).
    Put(PutArgs),
    /// Download a blob or a byte range of it.
    Get(GetArgs),
    /// List your blobs (all pages).
    Ls(LsArgs),
    /// Describe one blob.
    Stat(BlobArgs),
    /// Delete one of your blobs.
    Rm(BlobArgs),
    /// Share a blob through a link (`share BLOB`), list (`share ls`) or
    /// revoke (`share rm ID`) your share links.
    Share(ShareArgs),
    /// Manage storage providers (needs the admin key).
    #[command(subcommand)]
    Providers(ProvidersCommand),
    /// Manage tenants (needs the admin key).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Run one garbage-collection pass now (needs the admin key).
    Gc(GcArgs),
    /// State of the scrub and repair worker (needs the admin key).
    Repair(AdminOnly),
    /// Buy a download: create a Lightning invoice and its L402 credential.
    Invoice(InvoiceArgs),
    /// Pay a BOLT 11 invoice from your own LND node; prints the preimage.
    Pay(PayArgs),
    /// State of an invoice this broker issued.
    PaymentStatus(PaymentStatusArgs),
    /// Earnings per ledger account (tenant key: yours; admin key: all).
    Earnings(EarningsArgs),
    /// Ledger entries, one per settled payment, with their postings.
    Ledger(LedgerArgs),
    /// Pay out of your balance to a Lightning invoice (yours with an API
    /// key; any owner, provider or the broker's with the admin key).
    Withdraw(WithdrawArgs),
    /// Prepaid credit: buy a balance once (`credit buy`), pay downloads
    /// from it (`get --credit`), see what is left (`credit balance`).
    #[command(subcommand)]
    Credit(CreditCommand),
    /// Automatic payouts to a Lightning Address: show the order, or set
    /// one with `--set user@domain --threshold-msat N` (`--remove` ends it).
    PayoutAddress(PayoutAddressArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PayoutAddressArgs {
    #[command(flatten)]
    pub conn: AccountConnArgs,
    /// Lightning Address (`user@domain`) to pay the balance to.
    #[arg(
        long,
        value_name = "USER@DOMAIN",
        requires = "threshold_msat",
        conflicts_with = "remove"
    )]
    pub set: Option<String>,
    /// Pay out once the balance reaches this, msat.
    #[arg(long, value_name = "MSAT")]
    pub threshold_msat: Option<u64>,
    /// Remove the order.
    #[arg(long)]
    pub remove: bool,
    /// Admin only: the account (`owner:TENANT_ID`, `provider:NAME`, `broker`).
    #[arg(long, value_name = "KIND[:ID]", value_parser = crate::arg_values::parse_account)]
    pub account: Option<shardgate_proto::v1::Account>,
}

#[derive(Debug, Args)]
pub(crate) struct WithdrawArgs {
    #[command(flatten)]
    pub conn: AccountConnArgs,
    /// BOLT 11 invoice to be paid (with an amount). Or give --amount-msat
    /// and your node's --lnd-* flags to have one made there.
    #[arg(long, value_name = "BOLT11", required_unless_present = "amount_msat")]
    pub invoice: Option<String>,
    /// Amount to withdraw, msat: an invoice for it is created on your node
    /// (needs --lnd-endpoint, --lnd-tls-cert, --lnd-macaroon).
    #[arg(long, value_name = "MSAT", conflicts_with = "invoice")]
    pub amount_msat: Option<u64>,
    /// Admin only: the account to pay out of, `owner:TENANT_ID`,
    /// `provider:NAME` or `broker`.
    #[arg(long, value_name = "KIND[:ID]", value_parser = crate::arg_values::parse_account)]
    pub account: Option<shardgate_proto::v1::Account>,
    #[command(flatten)]
    pub payer: PayerArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CreditCommand {
    /// Buy prepaid credit: prints the invoice, pays it from your node when
    /// the --lnd-* flags are given, and prints the credential.
    Buy(CreditBuyArgs),
    /// What is left on a credit.
    Balance(CreditBalanceArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CreditBuyArgs {
    #[command(flatten)]
    pub broker: BrokerUrl,
    /// Credit to buy, msat.
    pub amount_msat: u64,
    #[command(flatten)]
    pub payer: PayerArgs,
}

#[derive(Debug, Args)]
pub(crate) struct CreditBalanceArgs {
    #[command(flatten)]
    pub broker: BrokerUrl,
    /// The credential `MACAROON:PREIMAGE` (as `credit buy` printed it).
    #[arg(long, env = "SHARDGATE_CREDIT", hide_env_values = true)]
    pub credit: String,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Broker config (TOML). Without it: defaults, then env, then flags.
    #[arg(long, env = "SHARDGATE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// gRPC listen address (`127.0.0.1:0` picks a free port; the bound
    /// address is printed).
    #[arg(long, env = "SHARDGATE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory of the embedded index.
    #[arg(long, env = "SHARDGATE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Prometheus /metrics address, or `off`.
    #[arg(long, env = "SHARDGATE_METRICS_LISTEN", value_name = "ADDR|off")]
    pub metrics_listen: Option<String>,
    /// The PostgreSQL index (several replicas share it):
    /// `postgres://user:password@host:5432/db[?sslmode=verify-full]`.
    /// Replaces the config's `[index]` url (and its kind).
    #[arg(
        long,
        env = "SHARDGATE_INDEX_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub index_url: Option<String>,
    /// The PostgreSQL server's CA certificate (PEM): TLS, with the chain
    /// and the host name checked.
    #[arg(long, env = "SHARDGATE_INDEX_CA_FILE", value_name = "FILE")]
    pub index_ca_file: Option<PathBuf>,
    /// HTTP gateway address (share links, L402 over HTTP), or `off` (the
    /// default).
    #[arg(long, env = "SHARDGATE_HTTP_LISTEN", value_name = "ADDR|off")]
    pub http_listen: Option<String>,
    /// The gateway's public address, used in share links
    /// (e.g. https://files.example.com).
    #[arg(long, env = "SHARDGATE_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// File holding the master key (64 hex characters). The key itself can
    /// come from the env var SHARDGATE_MASTER_KEY; never pass it as a flag.
    #[arg(long, env = "SHARDGATE_MASTER_KEY_FILE", value_name = "FILE")]
    pub master_key_file: Option<PathBuf>,
    /// BLAKE3 of the admin key (64 hex; `shardgate keygen` prints one).
    #[arg(long, env = "SHARDGATE_ADMIN_KEY_HASH", value_name = "HEX")]
    pub admin_key_hash: Option<String>,
    #[command(flatten)]
    pub payments: ServePaymentsArgs,
}

/// The `[payments]` table of the broker config, field by field; each one
/// given here replaces the file's value. The macaroon as hex comes only
/// from the env (SHARDGATE_LND_MACAROON_HEX): a flag would show in `ps`.
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Payments (the [payments] config table)")]
pub(crate) struct ServePaymentsArgs {
    /// host:port of the broker's LND gRPC.
    #[arg(long, env = "SHARDGATE_LND_ENDPOINT", value_name = "HOST:PORT")]
    pub lnd_endpoint: Option<String>,
    /// The LND node's TLS certificate (PEM file).
    #[arg(long, env = "SHARDGATE_LND_TLS_CERT", value_name = "FILE")]
    pub lnd_tls_cert: Option<PathBuf>,
    /// Binary macaroon file (invoice.macaroon or admin.macaroon).
    #[arg(long, env = "SHARDGATE_LND_MACAROON", value_name = "FILE")]
    pub lnd_macaroon: Option<PathBuf>,
    /// Upper bound on each LND call, ms.
    #[arg(long, env = "SHARDGATE_LND_CALL_TIMEOUT_MS", value_name = "MS")]
    pub lnd_call_timeout_ms: Option<u64>,
    /// How long an invoice can be paid, seconds.
    #[arg(long, env = "SHARDGATE_INVOICE_EXPIRY_SECS", value_name = "SECS")]
    pub invoice_expiry_secs: Option<u64>,
    /// How long a paid credential is accepted, seconds.
    #[arg(long, env = "SHARDGATE_CREDENTIAL_TTL_SECS", value_name = "SECS")]
    pub credential_ttl_secs: Option<u64>,
    /// How long after a hold payment is ACCEPTED it must be used, seconds.
    #[arg(long, env = "SHARDGATE_HOLD_ACCEPT_TIMEOUT_SECS", value_name = "SECS")]
    pub hold_accept_timeout_secs: Option<u64>,
    /// Most downloads one invoice may buy.
    #[arg(long, env = "SHARDGATE_MAX_INVOICE_USES", value_name = "N")]
    pub max_invoice_uses: Option<u32>,
    /// Owner's share of each payment, basis points (the three sum to 10000).
    #[arg(long, env = "SHARDGATE_OWNER_BPS", value_name = "BPS")]
    pub owner_bps: Option<u32>,
    /// Providers' share, basis points.
    #[arg(long, env = "SHARDGATE_PROVIDERS_BPS", value_name = "BPS")]
    pub providers_bps: Option<u32>,
    /// Broker's fee, basis points.
    #[arg(long, env = "SHARDGATE_BROKER_BPS", value_name = "BPS")]
    pub broker_bps: Option<u32>,
}

/// The downloader's own LND node, which pays the broker's invoices.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Paying (your LND node)")]
pub(crate) struct PayerArgs {
    /// host:port of your LND node's gRPC.
    #[arg(long, env = "SHARDGATE_PAYER_LND_ENDPOINT", value_name = "HOST:PORT")]
    pub lnd_endpoint: Option<String>,
    /// Your LND node's TLS certificate (PEM file, `tls.cert`).
    #[arg(long, env = "SHARDGATE_PAYER_LND_TLS_CERT", value_name = "FILE")]
    pub lnd_tls_cert: Option<PathBuf>,
    /// Macaroon file allowing payments (`admin.macaroon`).
    #[arg(long, env = "SHARDGATE_PAYER_LND_MACAROON", value_name = "FILE")]
    pub lnd_macaroon: Option<PathBuf>,
    /// Never pay an invoice asking more than this, msat.
    #[arg(
        long,
        env = "SHARDGATE_MAX_PRICE_MSAT",
        value_name = "MSAT",
        default_value_t = DEFAULT_MAX_PRICE_MSAT
    )]
    pub max_price_msat: u64,
    /// Most routing fee to pay on top, msat.
    #[arg(
        long,
        env = "SHARDGATE_MAX_FEE_MSAT",
        value_name = "MSAT",
        default_value_t = DEFAULT_MAX_FEE_MSAT
    )]
    pub max_fee_msat: u64,
}

#[derive(Debug, Args)]
pub(crate) struct DevArgs {
    /// Keep index, keys and provider directories here (reused on the next
    /// run). Default: a temporary directory removed on exit.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Keep serving after the round trip and print connection details.
    #[arg(long)]
    pub keep: bool,
    /// Also round-trip this file.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Size of the generated sample file.
    #[arg(long, default_value = "20MiB", value_parser = parse_size)]
    pub sample_size: u64,
}

/// Where the broker is.
#[derive(Debug, Clone, Args)]
pub(crate) struct BrokerUrl {
    /// Broker URL.
    #[arg(
        long = "broker",
        env = "SHARDGATE_BROKER",
        default_value = "http://127.0.0.1:7700"
    )]
    pub url: String,
    /// CA certificate (PEM) to trust for an https:// broker behind a
    /// private CA; the system's roots otherwise.
    #[arg(long = "ca-cert", env = "SHARDGATE_CA_CERT", value_name = "PEM")]
    pub ca_cert: Option<std::path::PathBuf>,
}

impl BrokerUrl {
    /// A client builder for this broker, trusting `--ca-cert` if given.
    pub(crate) fn builder(&self) -> anyhow::Result<shardgate_client::ClientBuilder> {
        let builder = shardgate_client::Client::builder(self.url.as_str());
        Ok(match &self.ca_cert {
            Some(path) => builder.ca_certificate_file(path)?,
            None => builder,
        })
    }
}

/// Where the broker is and who is calling.
#[derive(Debug, Clone, Args)]
pub(crate) struct ConnArgs {
    #[command(flatten)]
    pub broker: BrokerUrl,
    /// Tenant API key (`x-api-key`).
    #[arg(long, env = "SHARDGATE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

/// Where the broker is, with the operator's key.
#[derive(Debug, Clone, Args)]
pub(crate) struct AdminConnArgs {
    #[command(flatten)]
    pub broker: BrokerUrl,
    /// Admin key (`x-admin-key`).
    #[arg(long, env = "SHARDGATE_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PutArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// File to upload; `-` reads stdin.
    pub file: PathBuf,
    /// Display name (default: the file name).
    #[arg(long)]
    pub name: Option<String>,
    /// MIME type (default: application/octet-stream).
    #[arg(long)]
    pub content_type: Option<String>,
    /// Anyone may Stat and (after paying) download it.
    #[arg(long)]
    pub public: bool,
    /// Flat download price, msat.
    #[arg(long, value_name = "MSAT")]
    pub price_flat_msat: Option<u64>,
    /// Download price per MiB, msat.
    #[arg(long, value_name = "MSAT")]
    pub price_per_mib_msat: Option<u64>,
    /// Data shards per chunk (broker default 2).
    #[arg(long)]
    pub k: Option<u32>,
    /// Parity shards per chunk (broker default 1).
    #[arg(long)]
    pub m: Option<u32>,
    /// Store with reduced fault tolerance if fewer than k+m providers are healthy.
    #[arg(long)]
    pub allow_reduced: bool,
    /// Plaintext chunk size, e.g. 4MiB (256KiB..=64MiB).
    #[arg(long, value_parser = parse_size)]
    pub chunk_size: Option<u64>,
    /// Metadata entry KEY=VALUE (repeatable).
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    pub metadata: Vec<String>,
    /// End-to-end encryption: encrypt here under a fresh file key that
    /// never leaves this machine (no dedup, the broker cannot read it).
    /// The key is printed once — keep it, nobody can recover it.
    #[arg(long)]
    pub e2e: bool,
    /// With --e2e: write the file key to this new file (mode 0600; an
    /// existing file is refused) instead of printing it.
    #[arg(long, value_name = "PATH", requires = "e2e")]
    pub key_file: Option<PathBuf>,
    /// Print only the blob id (and, with --e2e and no --key-file, the file
    /// key on a second line).
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Blob id (64 hex characters), or a share link
    /// (`https://…/s/ID#SECRET`: downloaded through the HTTP gateway, as a
    /// browser would, paid and decrypted here).
    pub blob_id: String,
    /// Output file; `-` or absent writes to stdout (for a share link:
    /// absent saves under the shared file's name).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Byte range: START-END (inclusive), START- (to the end) or START+LEN.
    /// With --key: bytes of the plaintext.
    #[arg(long)]
    pub range: Option<String>,
    /// File key of an end-to-end blob (64 hex, as `put --e2e` printed it).
    /// Visible in the process list: prefer --key-file on shared machines.
    #[arg(long, value_name = "HEX", conflicts_with = "key_file")]
    pub key: Option<String>,
    /// File holding the file key of an end-to-end blob (`put --e2e
    /// --key-file`).
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// L402 credential `MACAROON:PREIMAGE` for a paid download (from
    /// `shardgate invoice` + `shardgate pay`, or any wallet).
    #[arg(long, env = "SHARDGATE_L402", hide_env_values = true)]
    pub l402: Option<String>,
    /// Prepaid credit credential `MACAROON:PREIMAGE` (from `credit buy`):
    /// the download's price is taken from its balance.
    #[arg(
        long,
        env = "SHARDGATE_CREDIT",
        hide_env_values = true,
        conflicts_with = "l402"
    )]
    pub credit: Option<String>,
    /// Ask for a hold invoice: the payment is locked, and only settled once
    /// the download completed ("pay only if delivered").
    #[arg(long)]
    pub hold: bool,
    /// Downloads to buy with one invoice (the amount is multiplied).
    #[arg(long, value_name = "N")]
    pub uses: Option<u32>,
    /// Fetch the shards straight from the providers' presigned URLs (after
    /// paying as usual): the broker stays out of the data path. Needs
    /// providers that can presign (S3, GCS, B2, Azure; not fs/memory) and
    /// a standard (not hold) invoice.
    #[arg(long, conflicts_with = "hold")]
    pub direct: bool,
    #[command(flatten)]
    pub payer: PayerArgs,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct ShareArgs {
    #[command(subcommand)]
    pub command: Option<ShareCommand>,
    #[command(flatten)]
    pub create: ShareCreateArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ShareCommand {
    /// List your share links (of one blob if given).
    Ls(ShareListArgs),
    /// Revoke a share link: it serves nothing from now on.
    Rm(ShareRevokeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ShareCreateArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Blob id (64 hex characters) of one of your blobs.
    pub blob_id: Option<String>,
    /// The link stops working after this long: 90s, 30m, 12h, 7d.
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
    /// Downloads the link allows (default: unlimited).
    #[arg(long, value_name = "N")]
    pub max_downloads: Option<u32>,
    /// Flat price of one download through the link, msat (default: the
    /// blob's own price).
    #[arg(long, value_name = "MSAT")]
    pub price_msat: Option<u64>,
    /// The gateway address to put in the link (default: the broker's
    /// public URL, if it has one).
    #[arg(long, env = "SHARDGATE_GATEWAY", value_name = "URL")]
    pub gateway: Option<String>,
    /// End-to-end blob: its file key (64 hex), wrapped into the share so
    /// that only link holders can decrypt. Prefer --key-file.
    #[arg(long, value_name = "HEX", conflicts_with = "key_file")]
    pub key: Option<String>,
    /// End-to-end blob: the file holding its key (`put --e2e --key-file`).
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// End-to-end blob: the name the page shows (default: the blob's name).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ShareListArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Only this blob's shares.
    pub blob_id: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ShareRevokeArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Share id (as `share ls` shows it).
    pub share_id: String,
}

#[derive(Debug, Args)]
pub(crate) struct InvoiceArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Blob id (64 hex characters).
    pub blob_id: String,
    /// Byte range to buy (as for `get`); default the whole blob.
    #[arg(long)]
    pub range: Option<String>,
    /// A hold invoice ("pay only if delivered"; single use).
    #[arg(long)]
    pub hold: bool,
    /// Downloads to buy (the amount is multiplied).
    #[arg(long, value_name = "N")]
    pub uses: Option<u32>,
}

#[derive(Debug, Args)]
pub(crate) struct PayArgs {
    /// BOLT 11 payment request.
    pub payment_request: String,
    #[command(flatten)]
    pub payer: PayerArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PaymentStatusArgs {
    #[command(flatten)]
    pub broker: BrokerUrl,
    /// Payment hash (64 hex characters).
    pub payment_hash: String,
}

/// Broker plus whichever key the caller has: the admin key sees every
/// account, a tenant key its own OWNER account.
#[derive(Debug, Clone, Args)]
pub(crate) struct AccountConnArgs {
    #[command(flatten)]
    pub broker: BrokerUrl,
    /// Tenant API key (`x-api-key`); used when no admin key is given.
    #[arg(long, env = "SHARDGATE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Admin key (`x-admin-key`); preferred when both are set.
    #[arg(long, env = "SHARDGATE_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct EarningsArgs {
    #[command(flatten)]
    pub conn: AccountConnArgs,
    /// Only this kind of account: owner, provider, broker, lightning.
    #[arg(long, value_parser = crate::arg_values::parse_kind)]
    pub kind: Option<i32>,
}

#[derive(Debug, Args)]
pub(crate) struct LedgerArgs {
    #[command(flatten)]
    pub conn: AccountConnArgs,
    /// Only entries posting to this account: `owner:TENANT_ID`,
    /// `provider:NAME`, `broker` or `lightning`.
    #[arg(long, value_name = "KIND[:ID]", value_parser = crate::arg_values::parse_account)]
    pub account: Option<shardgate_proto::v1::Account>,
    /// Only entries settled at or after this time (RFC 3339, e.g.
    /// 2026-11-21T00:00:00Z, or a date 2026-11-21).
    #[arg(long, value_name = "TIME", value_parser = crate::arg_values::parse_time)]
    pub since: Option<prost_types::Timestamp>,
    /// Only entries settled before this time.
    #[arg(long, value_name = "TIME", value_parser = crate::arg_values::parse_time)]
    pub until: Option<prost_types::Timestamp>,
    /// Print at most this many entries.
    #[arg(long)]
    pub limit: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Only names starting with this.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Print at most this many blobs.
    #[arg(long)]
    pub limit: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct BlobArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Blob id (64 hex characters).
    pub blob_id: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ProvidersCommand {
    /// Join a provider (the broker probes it first).
    Join(Box<JoinArgs>),
    /// List joined providers.
    Ls(AdminOnly),
    /// Stop placing new shards on a provider.
    Drain(ProviderArgs),
    /// Remove a provider.
    Leave(LeaveArgs),
}

#[derive(Debug, Args)]
pub(crate) struct AdminOnly {
    #[command(flatten)]
    pub conn: AdminConnArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ProviderArgs {
    #[command(flatten)]
    pub conn: AdminConnArgs,
    /// Provider name.
    pub name: ProviderName,
}

#[derive(Debug, Args)]
pub(crate) struct LeaveArgs {
    #[command(flatten)]
    pub conn: AdminConnArgs,
    /// Provider name.
    pub name: ProviderName,
    /// Leave even though it still holds shards (they are re-created elsewhere).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TenantCommand {
    /// Create a tenant; prints its API key once.
    Create(TenantCreateArgs),
    /// List tenants.
    Ls(AdminOnly),
}

#[derive(Debug, Args)]
pub(crate) struct TenantCreateArgs {
    #[command(flatten)]
    pub conn: AdminConnArgs,
    /// Unique tenant name.
    pub name: String,
    /// Upload quota, e.g. 10GB or 500MiB (default: the broker's, 100 GB).
    #[arg(long, value_parser = parse_size)]
    pub quota: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct GcArgs {
    #[command(flatten)]
    pub conn: AdminConnArgs,
    /// Count what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum KindArg {
    S3,
    Gcs,
    B2,
    Azblob,
    Fs,
    Memory,
}

#[derive(Debug, Args)]
pub(crate) struct JoinArgs {
    #[command(flatten)]
    pub conn: AdminConnArgs,
    /// Provider name ([a-z0-9-], starting with a letter; default: the
    /// --config file's `name`).
    #[arg(long)]
    pub name: Option<ProviderName>,
    /// Provider kind (or give everything in --config).
    #[arg(long, conflicts_with = "config", required_unless_present = "config")]
    pub kind: Option<KindArg>,
    /// Provider TOML file (name, kind, weight and the kind's fields).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Relative share of new shards (1..=10000, default 100).
    #[arg(long)]
    pub weight: Option<u32>,
    /// s3, gcs, b2: bucket name.
    #[arg(long)]
    pub bucket: Option<String>,
    /// s3: region.
    #[arg(long)]
    pub region: Option<String>,
    /// s3, gcs, azblob: endpoint URL.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// s3: access key id.
    #[arg(long)]
    pub access_key_id: Option<String>,
    /// s3: secret access key.
    #[arg(long, env = "SHARDGATE_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_access_key: Option<String>,
    /// s3: bucket.endpoint URLs instead of endpoint/bucket.
    #[arg(long)]
    pub virtual_host_style: bool,
    /// gcs: service-account JSON key file.
    #[arg(long, value_name = "FILE")]
    pub service_account_json: Option<PathBuf>,
    /// b2: bucket id.
    #[arg(long)]
    pub bucket_id: Option<String>,
    /// b2: application key id.
    #[arg(long)]
    pub application_key_id: Option<String>,
    /// b2: application key.
    #[arg(long, env = "SHARDGATE_B2_APPLICATION_KEY", hide_env_values = true)]
    pub application_key: Option<String>,
    /// azblob: container.
    #[arg(long)]
    pub container: Option<String>,
    /// azblob: storage account name.
    #[arg(long)]
    pub account_name: Option<String>,
    /// azblob: storage account key.
    #[arg(long, env = "SHARDGATE_AZBLOB_ACCOUNT_KEY", hide_env_values = true)]
    pub account_key: Option<String>,
    /// Key prefix in the bucket (s3, gcs, b2, azblob) or directory (fs).
    #[arg(long)]
    pub root: Option<String>,
}
