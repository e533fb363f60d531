//! Transfer progress on stderr: a bar with throughput and ETA when stderr
//! is a terminal, nothing at all otherwise (CI logs and pipes stay clean).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar that may be invisible.
pub(crate) struct Transfer {
    bar: ProgressBar,
}

impl Transfer {
    /// `verb` is shown in front ("upload", "download"); `total` in bytes if
    /// known.
    pub(crate) fn start(verb: &str, total: Option<u64>) -> Self {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = match total {
            Some(total) => {
                let bar = ProgressBar::with_draw_target(Some(total), target);
                // Templates are constants: a bad one is a bug caught by the
                // unit test below, so falling back to the default is fine.
                let style = ProgressStyle::with_template(
                    "{prefix:>8} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
                bar.set_style(style);
                bar
            }
            None => {
                let bar = ProgressBar::with_draw_target(None, target);
                let style = ProgressStyle::with_template(
                    "{prefix:>8} {spinner} {binary_bytes} {binary_bytes_per_sec} {elapsed}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
                bar.set_style(style);
                bar
            }
        };
        bar.set_prefix(verb.to_owned());
        Self { bar }
    }

    /// The SDK's progress callback (`PutOptions`/`Download` `progress`),
    /// advancing this bar from whichever thread moves the bytes.
    pub(crate) fn callback(&self) -> shardgate_client::Progress {
        let bar = self.bar.clone();
        shardgate_client::progress(move |bytes| bar.inc(bytes))
    }

    /// Removes the bar; the command prints its own summary.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Transfer {
    fn drop(&mut self) {
        // On an error path the bar must not stay on screen above the
        // `error:` line.
        if !self.bar.is_finished() {
            self.bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse() {
        for t in [
            "{prefix:>8} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
            "{prefix:>8} {spinner} {binary_bytes} {binary_bytes_per_sec} {elapsed}",
        ] {
            assert!(ProgressStyle::with_template(t).is_ok(), "{t}");
        }
    }
}
