//! How the binary fails: one line `error: <reason>` on stderr and a
//! non-zero exit code. No backtraces, no `Debug` dumps. A broker refusal
//! shows the broker's message and the status code (the SDK's
//! `ClientError` ends with it), because the message says what to fix and
//! the code says whether retrying can help.

use std::process::ExitCode;

use shardgate_client::ClientError;

use crate::args::Command;

/// Exit code of a failed operation.
const EXIT_FAILURE: u8 = 1;
/// Exit code of a command line that does not parse (as clap uses).
const EXIT_USAGE: u8 = 2;

/// Prints the error chain on one line.
pub(crate) fn report(error: &anyhow::Error) -> ExitCode {
    eprintln!("error: {}", message(error));
    ExitCode::from(EXIT_FAILURE)
}

/// The contexts, then the cause, joined by `: ` on one line. The chain
/// stops at a `ClientError`: its text is complete, and what it wraps (a
/// tonic `Status` with its metadata, a transport error) is for debugging.
fn message(error: &anyhow::Error) -> String {
    let mut parts = Vec::new();
    for cause in error.chain() {
        parts.push(cause.to_string());
        if cause.is::<ClientError>() {
            break;
        }
    }
    one_line(&parts.join(": "))
}

/// `--help` and `--version` print as usual; a parse error becomes one line.
pub(crate) fn usage(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            ExitCode::SUCCESS
        }
        _ => {
            let text = error.render().to_string();
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid command line");
            let reason = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("error: {} (see --help)", one_line(reason));
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Newlines and runs of spaces folded, so the error stays one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Logs go to stderr. `serve` logs at info by default; everything else
/// only warns, so command output stays readable. `RUST_LOG` overrides.
pub(crate) fn init_logging(command: &Command) {
    let default = match command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for people; log files and CI get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Status;

    #[test]
    fn a_broker_refusal_is_one_line_with_its_code_and_no_status_dump() {
        let err = anyhow::Error::new(ClientError::from(Status::not_found(
            "no blob\nwith that id",
        )))
        .context("stat");
        assert_eq!(message(&err), "stat: no blob with that id (NOT_FOUND)");
        let err = anyhow::anyhow!("outer").context("ctx");
        assert_eq!(message(&err), "ctx: outer");
    }
}
