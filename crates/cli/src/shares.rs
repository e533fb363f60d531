//! `shardgate share`: make a share link of one of your blobs, list your
//! links, revoke one. The link's secret is drawn by the SDK and printed
//! once; the broker never sees it.

use std::time::Duration;

use anyhow::{Context, bail};
use shardgate_client::{ShareOptions, parse_file_key, pb};

use crate::args::{ShareArgs, ShareCommand, ShareCreateArgs, ShareListArgs, ShareRevokeArgs};
use crate::clients;
use crate::human;
use crate::key_file;

/// `shardgate share …`.
pub(crate) async fn command(args: ShareArgs) -> anyhow::Result<()> {
    match args.command {
        Some(ShareCommand::Ls(a)) => list(a).await,
        Some(ShareCommand::Rm(a)) => revoke(a).await,
        None => create(args.create).await,
    }
}

async fn create(args: ShareCreateArgs) -> anyhow::Result<()> {
    let Some(blob_id) = &args.blob_id else {
        bail!("which blob? `shardgate share BLOB_ID` (or `share ls`, `share rm ID`)");
    };
    let expires_in = args
        .expires
        .as_deref()
        .map(parse_duration)
        .transpose()
        .context("--expires")?;
    let file_key = match (&args.key, &args.key_file) {
        (Some(hex), _) => Some(parse_file_key(hex).context("--key")?),
        (None, Some(path)) => Some(key_file::read(path)?),
        (None, None) => None,
    };
    let client = clients::keyed_tenant(&args.conn).await?;
    let options = ShareOptions {
        expires_in,
        max_downloads: args.max_downloads.unwrap_or(0),
        price_msat: args.price_msat,
        file_key,
        name: args.name.clone(),
    };
    let created = client.create_share(blob_id, options).await?;
    let Some(link) = created.link(args.gateway.as_deref()) else {
        bail!(
            "share {} was created, but the broker has no public gateway URL and --gateway was not given; revoke it (`shardgate share rm {}`) and share again with --gateway URL",
            created.share.share_id,
            created.share.share_id
        );
    };
    eprintln!(
        "share {} of blob {}: {}",
        created.share.share_id,
        human::shorten(blob_id, 12),
        describe(&created.share)
    );
    eprintln!("the link below is the only copy of its secret (the part after #):");
    println!("{}", link.to_url());
    Ok(())
}

async fn list(args: ShareListArgs) -> anyhow::Result<()> {
    let client = clients::keyed_tenant(&args.conn).await?;
    let shares = client.list_shares(args.blob_id.as_deref()).await?;
    if shares.is_empty() {
        println!("no share links");
        return Ok(());
    }
    println!("{:<22}  {:<17}  {:<8}  details", "SHARE", "BLOB", "STATE");
    for share in &shares {
        println!(
            "{:<22}  {:<17}  {:<8}  {}",
            share.share_id,
            human::shorten(&share.blob_id, 12),
            state_name(share.state),
            describe(share)
        );
    }
    Ok(())
}

async fn revoke(args: ShareRevokeArgs) -> anyhow::Result<()> {
    let client = clients::keyed_tenant(&args.conn).await?;
    let share = client.revoke_share(&args.share_id).await?;
    println!(
        "share {} revoked: its link now says so and serves nothing",
        share.share_id
    );
    Ok(())
}

fn state_name(state: i32) -> &'static str {
    match pb::ShareState::try_from(state) {
        Ok(pb::ShareState::Live) => "live",
        Ok(pb::ShareState::Expired) => "expired",
        Ok(pb::ShareState::Revoked) => "revoked",
        Ok(pb::ShareState::UsedUp) => "used up",
        _ => "?",
    }
}

fn describe(share: &pb::Share) -> String {
    let mut parts = vec![if share.end_to_end {
        "end-to-end".to_owned()
    } else {
        "managed".to_owned()
    }];
    parts.push(match share.max_downloads {
        0 => format!("{} downloads", share.downloads),
        max => format!("{} of {max} downloads", share.downloads),
    });
    if let Some(price) = share.price_msat {
        parts.push(format!("price {}", human::msat(price)));
    }
    if share.expires_at.is_some() {
        parts.push(format!(
            "expires {}",
            human::timestamp(share.expires_at.as_ref())
        ));
    }
    parts.join(", ")
}

/// `90s`, `30m`, `12h`, `7d` (a bare number is seconds).
fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a duration like 90s, 30m, 12h or 7d"))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => bail!("{text:?}: the unit must be s, m, h or d"),
    };
    if secs == 0 {
        bail!("{text:?}: a link that expires at once is no link");
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("90").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("30m").unwrap().as_secs(), 1800);
        assert_eq!(parse_duration("12h").unwrap().as_secs(), 43_200);
        assert_eq!(parse_duration("7d").unwrap().as_secs(), 604_800);
        for bad in ["", "0s", "7w", "d", "-1d", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
