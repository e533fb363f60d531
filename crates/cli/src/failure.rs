//! How the binary fails: one line `error: <reason>` on stderr and a
//! non-zero exit code. No backtraces, no `Debug` dumps. A gRPC failure
//! shows the broker's message and the status code, because the message
//! says what to fix and the code says whether retrying can help.

use std::process::ExitCode;

use tonic::{Code, Status};

use crate::args::Command;

/// Exit code of a failed operation.
const EXIT_FAILURE: u8 = 1;
/// Exit code of a command line that does not parse (as clap uses).
const EXIT_USAGE: u8 = 2;

/// Prints the error chain on one line.
pub(crate) fn report(error: &anyhow::Error) -> ExitCode {
    eprintln!("error: {}", one_line(&format!("{error:#}")));
    ExitCode::from(EXIT_FAILURE)
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

/// A gRPC status as an error: the broker's message, then the code name.
pub(crate) fn status(status: Status) -> anyhow::Error {
    let message = status.message().trim();
    let message = if message.is_empty() {
        status.code().description()
    } else {
        message
    };
    anyhow::anyhow!("{} ({})", one_line(message), code_name(status.code()))
}

/// The canonical name of a code, as the proto comments spell it.
pub(crate) fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
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

    #[test]
    fn a_status_becomes_one_line_with_its_code() {
        let err = status(Status::not_found("no blob\nwith that id"));
        assert_eq!(err.to_string(), "no blob with that id (NOT_FOUND)");
        let err = status(Status::new(Code::Unavailable, ""));
        assert!(err.to_string().ends_with("(UNAVAILABLE)"), "{err}");
    }
}
