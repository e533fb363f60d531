//! `shardgate tenant …`, `shardgate gc` and `shardgate repair`: operator commands (Admin
//! service, `x-admin-key`).

use crate::args::{AdminOnly, GcArgs, TenantCommand};
use crate::clients;
use crate::human;

/// `shardgate tenant create|ls`.
pub(crate) async fn tenant(command: TenantCommand) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create(args) => {
            let r = clients::operator(&args.conn)
                .await?
                .create_tenant(&args.name, args.quota)
                .await?;
            let t = r.tenant.unwrap_or_default();
            println!("tenant_id  {}", t.tenant_id);
            println!("name       {}", t.name);
            println!("quota      {}", human::size_exact(t.quota_bytes));
            println!("api_key    {}", r.api_key);
            eprintln!("The API key is shown only this once: store it now (SHARDGATE_API_KEY).");
            Ok(())
        }
        TenantCommand::Ls(args) => {
            let op = clients::operator(&args.conn).await?;
            let mut page_token = String::new();
            loop {
                let page = op.list_tenants(1000, &page_token).await?;
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
    let r = clients::operator(&args.conn)
        .await?
        .run_gc(args.dry_run)
        .await?;
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

/// `shardgate repair`: what the scrub and repair worker found and did.
pub(crate) async fn repair(args: AdminOnly) -> anyhow::Result<()> {
    let r = clients::operator(&args.conn).await?.repair_status().await?;
    println!(
        "worker        {}",
        if r.running { "running a pass" } else { "idle" }
    );
    println!(
        "queue         {} chunk(s) waiting for repair",
        r.queue_length
    );
    println!(
        "chunks        {} healthy, {} degraded (readable), {} unreadable",
        r.chunks_healthy, r.chunks_degraded, r.chunks_unreadable
    );
    println!(
        "since start   {} shards scrubbed, {} bad found, {} repaired",
        r.shards_scrubbed_total, r.shards_bad_found_total, r.shards_repaired_total
    );
    println!(
        "last scrub    started {}, finished {}",
        human::timestamp(r.last_scrub_started_at.as_ref()),
        human::timestamp(r.last_scrub_finished_at.as_ref())
    );
    Ok(())
}
