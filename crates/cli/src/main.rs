#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod admin;
mod arg_values;
mod args;
mod blobs;
mod clients;
// Dev mode runs simulated Lightning nodes: only built with the `dev`
// feature (default), so a release binary can ship without the simulator.
#[cfg(feature = "dev")]
mod dev;
mod download;
mod failure;
mod human;
mod invoice;
mod key_file;
mod ledger;
mod money_out;
mod paying;
mod progress;
mod provider_file;
mod provider_spec;
mod providers;
mod serve;
mod serve_payments;
mod share_get;
mod shares;
mod upload;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return failure::usage(e),
    };
    failure::init_logging(&cli.command);
    // A client command keeps freed memory for the frames that follow
    // (`shardgate_backends::keep_freed_memory` says why); the broker
    // (`serve`, `dev`) gives it back after a load instead.
    if !matches!(cli.command, Command::Serve(_) | Command::Dev(_)) {
        shardgate_backends::keep_freed_memory();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return failure::report(&anyhow::Error::new(e).context("tokio runtime")),
    };
    // The command runs as a task on the runtime's workers, not on this
    // thread: `block_on` polls its future here, so every DATA frame the
    // connection task (on a worker) received woke this thread to take it,
    // and this thread woke the file writer. A 1 GiB `get` made 10,800
    // futex calls and 10,000 context switches that way; as a task on the
    // workers, 1,900 and 3,000, and 8 % less client CPU
    // (docs/performance.md, "Session 15").
    let outcome = runtime.block_on(async {
        match tokio::spawn(run(cli.command)).await {
            Ok(outcome) => outcome,
            Err(e) => Err(anyhow::Error::new(e).context("the command's task")),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => failure::report(&e),
    }
}

/// One subcommand to completion.
async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(a) => serve::run(a).await,
        #[cfg(feature = "dev")]
        Command::Dev(a) => dev::run(a).await,
        #[cfg(not(feature = "dev"))]
        Command::Dev(_) => anyhow::bail!(
            "this shardgate was built without dev mode (cargo feature `dev`); run `cargo run -p shardgate-cli -- dev` from the repository"
        ),
        Command::Keygen => {
            serve::keygen();
            Ok(())
        }
        Command::Put(a) => upload::command(a).await,
        Command::Get(a) => download::command(a).await,
        Command::Ls(a) => blobs::list(a).await,
        Command::Stat(a) => blobs::stat(a).await,
        Command::Rm(a) => blobs::remove(a).await,
        Command::Share(a) => shares::command(a).await,
        Command::Providers(a) => providers::command(a).await,
        Command::Tenant(a) => admin::tenant(a).await,
        Command::Gc(a) => admin::gc(a).await,
        Command::Repair(a) => admin::repair(a).await,
        Command::Invoice(a) => invoice::create(a).await,
        Command::Pay(a) => invoice::pay(a).await,
        Command::PaymentStatus(a) => invoice::status(a).await,
        Command::Earnings(a) => ledger::earnings(a).await,
        Command::Ledger(a) => ledger::ledger(a).await,
        Command::Withdraw(a) => money_out::withdraw(a).await,
        Command::Credit(c) => money_out::credit(c).await,
        Command::PayoutAddress(a) => money_out::payout_address(a).await,
    }
}
