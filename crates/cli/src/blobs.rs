//! `shardgate ls`, `stat`, `rm`: blob management for the calling tenant.

use shardgate_client::pb;

use crate::args::{BlobArgs, LsArgs};
use crate::clients;
use crate::human;
use crate::upload::redundancy_line;

/// Largest page the API honours.
const MAX_PAGE: u64 = 1000;

/// `shardgate ls`: every page, or until `--limit` blobs were printed.
pub(crate) async fn list(args: LsArgs) -> anyhow::Result<()> {
    let client = clients::keyed_tenant(&args.conn).await?;
    let prefix = args.prefix.clone().unwrap_or_default();
    let limit = args.limit.unwrap_or(u64::MAX);
    let mut printed = 0u64;
    let mut page_token = String::new();
    while printed < limit {
        let page_size = (limit - printed).min(MAX_PAGE) as u32;
        let page = client.list(&prefix, page_size, &page_token).await?;
        for blob in page.blobs.iter().take((limit - printed) as usize) {
            println!(
                "{}  {:>12}  {:<7}  {}",
                blob.blob_id,
                human::size(blob.size_bytes),
                visibility(blob.visibility),
                blob.name
            );
            printed += 1;
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    if printed == 0 {
        eprintln!("no blobs");
    }
    Ok(())
}

/// `shardgate stat`.
pub(crate) async fn stat(args: BlobArgs) -> anyhow::Result<()> {
    let b = clients::tenant(&args.conn)
        .await?
        .stat(&args.blob_id)
        .await?;
    println!("blob_id       {}", b.blob_id);
    println!("name          {}", b.name);
    println!("content_type  {}", b.content_type);
    println!("size          {}", human::size_exact(b.size_bytes));
    println!("blake3        {}", b.content_hash);
    println!(
        "chunks        {} of {}",
        b.chunk_count,
        human::size(u64::from(b.chunk_size_bytes))
    );
    if let Some(r) = &b.redundancy {
        println!("redundancy    {}", redundancy_line(r));
    }
    let price = b.price.unwrap_or_default();
    println!(
        "price         {} msat flat + {} msat per MiB{}",
        price.flat_msat,
        price.per_mib_msat,
        if price.flat_msat == 0 && price.per_mib_msat == 0 {
            " (free)"
        } else {
            ""
        }
    );
    println!("visibility    {}", visibility(b.visibility));
    println!("key_mode      {}", key_mode(b.key_mode));
    let mut metadata: Vec<_> = b.metadata.iter().collect();
    metadata.sort();
    for (k, v) in metadata {
        println!("meta          {k}={v}");
    }
    println!("created_at    {}", human::timestamp(b.created_at.as_ref()));
    println!("updated_at    {}", human::timestamp(b.updated_at.as_ref()));
    println!(
        "owned         {}",
        if b.owned_by_caller { "yes" } else { "no" }
    );
    Ok(())
}

/// `shardgate rm`.
pub(crate) async fn remove(args: BlobArgs) -> anyhow::Result<()> {
    let released = clients::keyed_tenant(&args.conn)
        .await?
        .delete(&args.blob_id)
        .await?;
    println!(
        "deleted {} ({} returned to your quota; shards are removed by the next GC pass)",
        args.blob_id,
        human::size(released)
    );
    Ok(())
}

fn visibility(v: i32) -> &'static str {
    match pb::Visibility::try_from(v) {
        Ok(pb::Visibility::Public) => "public",
        Ok(pb::Visibility::Private) => "private",
        _ => "?",
    }
}

fn key_mode(v: i32) -> &'static str {
    match pb::KeyMode::try_from(v) {
        Ok(pb::KeyMode::Managed) => "managed (broker-encrypted, dedup)",
        Ok(pb::KeyMode::EndToEnd) => "end-to-end (client-encrypted)",
        _ => "?",
    }
}
