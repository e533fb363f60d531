//! `shardgate get <share link>`: what a browser does with a link, from the
//! command line — the gateway's HTTP routes, the price paid from your LND
//! node, an end-to-end file decrypted here with the key in the link.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use shardgate_client::{ShareLink, download_share, preview_share};

use crate::args::GetArgs;
use crate::human;
use crate::paying;

/// True when `get`'s argument is a link rather than a blob id.
pub(crate) fn is_link(text: &str) -> bool {
    text.starts_with("http://") || text.starts_with("https://")
}

pub(crate) async fn command(args: GetArgs) -> anyhow::Result<()> {
    if args.range.is_some()
        || args.direct
        || args.hold
        || args.key.is_some()
        || args.key_file.is_some()
    {
        bail!(
            "a share link downloads the whole file with its own key: --range, --direct, --hold, --key and --key-file do not apply"
        );
    }
    let link = ShareLink::parse(&args.blob_id)?;
    let payer = paying::payer(&args.payer).await?;
    let max_price_msat = args.payer.max_price_msat;
    let policy = paying::policy(
        args.l402.as_deref().or(args.credit.as_deref()),
        payer,
        max_price_msat,
    );
    let output = match &args.output {
        Some(p) if p.as_path() == Path::new("-") => {
            bail!("a share link is saved to a file: pass -o FILE (or nothing for its own name)")
        }
        Some(p) => p.clone(),
        None => {
            let preview = preview_share(&link).await?;
            let name = safe_file_name(&preview.name);
            if Path::new(&name).exists() {
                bail!("{name} exists here; pass -o FILE to choose another name");
            }
            PathBuf::from(name)
        }
    };
    let done = download_share(&link, &policy, &output)
        .await
        .map_err(|e| paying::explain(e, max_price_msat))
        .context("share download")?;
    println!(
        "saved {} ({}) to {}{}",
        done.name,
        human::size_exact(done.size),
        done.path.display(),
        if done.end_to_end {
            ", decrypted here with the link's key"
        } else {
            ""
        }
    );
    if let Some(bought) = &done.purchase {
        println!(
            "paid {}, {}",
            human::msat(bought.amount_msat),
            paying::fee_text(bought.fee_msat)
        );
    }
    Ok(())
}

/// The last path part of a shared name, without anything a shell or file
/// system would read as a path.
fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .collect();
    match cleaned.trim() {
        "" | "." | ".." => "download".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn shared_names_cannot_escape_the_directory() {
        use super::safe_file_name as s;
        assert_eq!(s("report.pdf"), "report.pdf");
        assert_eq!(s("../../etc/passwd"), "passwd");
        assert_eq!(s("..\\x.exe"), "x.exe");
        assert_eq!(s(".."), "download");
        assert_eq!(s(""), "download");
        assert_eq!(s("a\nb"), "a_b");
    }
}
