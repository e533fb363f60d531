//! `shardgate providers …`: the Providers service (`x-admin-key`).

use shardgate_proto::v1 as pb;
use shardgate_proto::v1::provider_config::Kind;

use crate::args::ProvidersCommand;
use crate::connect::Operator;
use crate::failure;
use crate::human;

/// `shardgate providers join|ls|drain|leave`.
pub(crate) async fn command(command: ProvidersCommand) -> anyhow::Result<()> {
    match command {
        ProvidersCommand::Join(args) => {
            let join = args.request()?;
            let mut op = Operator::connect(&args.conn).await?;
            let p = op
                .providers
                .join(op.request(join))
                .await
                .map_err(failure::status)?
                .into_inner();
            println!(
                "joined {} ({}, weight {}, {})",
                p.name,
                kind(&p),
                p.weight,
                state(p.state)
            );
        }
        ProvidersCommand::Ls(args) => {
            let mut op = Operator::connect(&args.conn).await?;
            let list = op
                .providers
                .list(op.request(pb::ListProvidersRequest {}))
                .await
                .map_err(failure::status)?
                .into_inner();
            if list.providers.is_empty() {
                eprintln!("no providers joined");
            }
            for p in &list.providers {
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
            let mut op = Operator::connect(&args.conn).await?;
            let p = op
                .providers
                .drain(op.request(pb::DrainProviderRequest {
                    name: args.name.into_string(),
                }))
                .await
                .map_err(failure::status)?
                .into_inner();
            println!(
                "{} is {}: no new shards go there; {} shards still on it",
                p.name,
                state(p.state),
                p.shards_stored
            );
        }
        ProvidersCommand::Leave(args) => {
            let mut op = Operator::connect(&args.conn).await?;
            let r = op
                .providers
                .leave(op.request(pb::LeaveProviderRequest {
                    name: args.name.to_string(),
                    force: args.force,
                }))
                .await
                .map_err(failure::status)?
                .into_inner();
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
