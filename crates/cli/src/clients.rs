//! The SDK client of a command, from its connection flags: the broker URL
//! and whichever key the command needs. A missing key is refused here,
//! before any connection, with the flag and env var that give it.

use anyhow::bail;
use shardgate_client::{Client, ClientBuilder};

use crate::args::{AccountConnArgs, AdminConnArgs, BrokerUrl, ConnArgs};

/// No key: public calls (payment status, public blobs, health).
pub(crate) async fn anonymous(broker: &BrokerUrl) -> anyhow::Result<Client> {
    connect(broker.builder()?).await
}

/// The tenant key if one was given (stat and get of public blobs work
/// without).
pub(crate) async fn tenant(conn: &ConnArgs) -> anyhow::Result<Client> {
    let mut builder = conn.broker.builder()?;
    if let Some(key) = &conn.api_key {
        builder = builder.api_key(key.as_str());
    }
    connect(builder).await
}

/// The tenant key, required (uploads, listing, deleting).
pub(crate) async fn keyed_tenant(conn: &ConnArgs) -> anyhow::Result<Client> {
    if conn.api_key.is_none() {
        bail!("this command needs a tenant API key: pass --api-key or set SHARDGATE_API_KEY");
    }
    tenant(conn).await
}

/// The admin key, required (tenants, providers, GC, repair).
pub(crate) async fn operator(conn: &AdminConnArgs) -> anyhow::Result<Client> {
    let Some(key) = conn.admin_key.as_deref() else {
        bail!("this command needs the admin key: pass --admin-key or set SHARDGATE_ADMIN_KEY");
    };
    connect(conn.broker.builder()?.admin_key(key)).await
}

/// The admin key when given (every account), else the tenant key (its own
/// account): earnings and the ledger.
pub(crate) async fn accountant(conn: &AccountConnArgs) -> anyhow::Result<Client> {
    let builder = conn.broker.builder()?;
    let builder = match (&conn.admin_key, &conn.api_key) {
        (Some(admin), _) => builder.admin_key(admin.as_str()),
        (None, Some(tenant)) => builder.api_key(tenant.as_str()),
        (None, None) => bail!(
            "this command needs a key: --admin-key (every account) or --api-key (your own), or SHARDGATE_ADMIN_KEY / SHARDGATE_API_KEY"
        ),
    };
    connect(builder).await
}

/// Connects eagerly, so an unreachable broker is the first error.
async fn connect(builder: ClientBuilder) -> anyhow::Result<Client> {
    Ok(builder.connect().await?)
}
