//! `shardgate tenant …` and `shardgate gc`: operator commands (Admin
//! service, `x-admin-key`).

use shardgate_proto::v1 as pb;

use crate::args::{GcArgs, TenantCommand};
use crate::connect::Operator;
use crate::failure;
use crate::human;

/// `shardgate tenant create|ls`.
pub(crate) async fn tenant(command: TenantCommand) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create(args) => {
            let mut op = Operator::connect(&args.conn).await?;
            let r = op
                .admin
                .create_tenant(op.request(pb::CreateTenantRequest {
                    name: args.name,
                    quota_bytes: args.quota,
                }))
                .await
                .map_err(failure::status)?
                .into_inner();
            let t = r.tenant.unwrap_or_default();
            println!("tenant_id  {}", t.tenant_id);
            println!("name       {}", t.name);
            println!("quota      {}", human::size_exact(t.quota_bytes));
            println!("api_key    {}", r.api_key);
            eprintln!("The API key is shown only this once: store it now (SHARDGATE_API_KEY).");
            Ok(())
        }
        TenantCommand::Ls(args) => {
            let mut op = Operator::connect(&args.conn).await?;
            let mut page_token = String::new();
            loop {
                let request = op.request(pb::ListTenantsRequest {
                    page_size: 1000,
                    page_token: page_token.clone(),
                });
                let page = op
                    .admin
                    .list_tenants(request)
                    .await
                    .map_err(failure::status)?
                    .into_inner();
                for t in &page.tenants {
                    println!(
                        "{}  {:>12} / {:<12} {:>6} blobs  {}",
                        t.tenant_id,
                        human::size(t.used_bytes),
                        human::size(t.quota_bytes),
                        t.blob_count,
                        t.name
                    );
                }
                if page.next_page_token.is_empty() {
                    return Ok(());
                }
                page_token = page.next_page_token;
            }
        }
    }
}

/// `shardgate gc`.
pub(crate) async fn gc(args: GcArgs) -> anyhow::Result<()> {
    let mut op = Operator::connect(&args.conn).await?;
    let request = op.request(pb::RunGcRequest {
        dry_run: args.dry_run,
    });
    let r = op
        .admin
        .run_gc(request)
        .await
        .map_err(failure::status)?
        .into_inner();
    println!(
        "{}orphan shards found {}, deleted {}, {} freed, {} chunks released",
        if r.dry_run { "dry run: " } else { "" },
        r.orphan_shards_found,
        r.orphan_shards_deleted,
        human::size(r.bytes_freed),
        r.chunks_released
    );
    Ok(())
}
