//! `shardgate ls`, `stat`, `rm`: blob management for the calling tenant.

use shardgate_proto::v1 as pb;

use crate::args::{BlobArgs, LsArgs};
use crate::connect::Tenant;
use crate::failure;
use crate::human;
use crate::upload::redundancy_line;

/// Largest page the API honours.
const MAX_PAGE: u64 = 1000;

/// `shardgate ls`: every page, or until `--limit` blobs were printed.
pub(crate) async fn list(args: LsArgs) -> anyhow::Result<()> {
    let mut tenant = Tenant::connect(&args.conn).await?;
    let limit = args.limit.unwrap_or(u64::MAX);
    let mut printed = 0u64;
    let mut page_token = String::new();
    while printed < limit {
        let page_size = (limit - printed).min(MAX_PAGE) as u32;
        let request = tenant.keyed(pb::ListBlobsRequest {
            page_size,
            page_token: page_token.clone(),
            name_prefix: args.prefix.clone().unwrap_or_default(),
        })?;
        let page = tenant
            .storage
            .list(request)
            .await
            .map_err(failure::status)?
            .into_inner();
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
    let mut tenant = Tenant::connect(&args.conn).await?;
    let request = tenant.request(pb::StatRequest {
        blob_id: args.blob_id,
    });
    let b = tenant
        .storage
        .stat(request)
        .await
        .map_err(failure::status)?
        .into_inner();
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
    let mut tenant = Tenant::connect(&args.conn).await?;
    let request = tenant.keyed(pb::DeleteBlobRequest {
        blob_id: args.blob_id.clone(),
    })?;
    let r = tenant
        .storage
        .delete(request)
        .await
        .map_err(failure::status)?
        .into_inner();
    println!(
        "deleted {} ({} returned to your quota; shards are removed by the next GC pass)",
        args.blob_id,
        human::size(r.released_quota_bytes)
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
