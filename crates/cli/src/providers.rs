//! `shardgate providers …`: the Providers service (`x-admin-key`).

use shardgate_client::pb;
use shardgate_client::pb::provider_config::Kind;

use crate::args::ProvidersCommand;
use crate::clients;
use crate::human;

/// `shardgate providers join|ls|drain|leave`.
pub(crate) async fn command(command: ProvidersCommand) -> anyhow::Result<()> {
    match command {
        ProvidersCommand::Join(args) => {
            let join = args.request()?;
            let p = clients::operator(&args.conn)
                .await?
                .join_provider(join)
                .await?;
            println!(
                "joined {} ({}, weight {}, {})",
                p.name,
                kind(&p),
                p.weight,
                state(p.state)
            );
        }
        ProvidersCommand::Ls(args) => {
            let providers = clients::operator(&args.conn)
                .await?
                .list_providers()
                .await?;
            if providers.is_empty() {
                eprintln!("no providers joined");
            }
            for p in &providers {
                println!(
                    "{:<20} {:<7} {:<9} weight {:>5} {:>8} shards {:>12}  {}",
                    p.name,
                    kind(p),
                    state(p.state),
                    p.weight,
                    p.shards_stored,
                    human::size(p.bytes_stored),
                    if p.can_presign {
                        "presign"
                    } else {
                        "no presign"
                    }
                );
            }
        }
        ProvidersCommand::Drain(args) => {
            let p = clients::operator(&args.conn)
                .await?
                .drain_provider(args.name.as_str())
                .await?;
            println!(
                "{} is {}: no new shards go there; {} shards still on it",
                p.name,
                state(p.state),
                p.shards_stored
            );
        }
        ProvidersCommand::Leave(args) => {
            let r = clients::operator(&args.conn)
                .await?
                .leave_provider(args.name.as_str(), args.force)
                .await?;
            println!(
                "{} left; {} shards queued for repair (objects on the provider itself were not deleted)",
                args.name, r.shards_queued_for_repair
            );
        }
    }
    Ok(())
}

fn kind(p: &pb::ProviderInfo) -> &'static str {
    match p.config.as_ref().and_then(|c| c.kind.as_ref()) {
        Some(Kind::S3(_)) => "s3",
        Some(Kind::Gcs(_)) => "gcs",
        Some(Kind::B2(_)) => "b2",
        Some(Kind::Azblob(_)) => "azblob",
        Some(Kind::Fs(_)) => "fs",
        Some(Kind::Memory(_)) => "memory",
        None => "?",
    }
}

fn state(s: i32) -> &'static str {
    match pb::ProviderState::try_from(s) {
        Ok(pb::ProviderState::Up) => "UP",
        Ok(pb::ProviderState::Degraded) => "DEGRADED",
        Ok(pb::ProviderState::Down) => "DOWN",
        Ok(pb::ProviderState::Draining) => "DRAINING",
        _ => "?",
    }
}
