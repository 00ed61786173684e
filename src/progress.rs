//! Progress bars on stderr: drawn only when stderr is a terminal, silent otherwise. Every bar
//! belongs to one process-wide `MultiProgress`, so the bars of models training at once (the
//! local executor's jobs) stack instead of overwriting each other.

use std::io::IsTerminal;
use std::sync::OnceLock;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The stack every bar is drawn in.
fn multi() -> &'static MultiProgress {
    static MULTI: OnceLock<MultiProgress> = OnceLock::new();
    MULTI.get_or_init(|| MultiProgress::with_draw_target(draw_target()))
}

/// Prints a line on stderr above any bars being drawn.
pub fn println(line: &str) {
    if std::io::stderr().is_terminal() {
        if multi().println(line).is_ok() {
            return;
        }
    }
    eprintln!("{line}");
}

/// A bar of `len` units (`unit` names them: "records", "steps", ...) with rate and ETA.
pub fn bar(len: u64, msg: &str, unit: &str) -> ProgressBar {
    let pb = multi().add(ProgressBar::new(len));
    let template = format!(
        "{{msg:>12}} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{per_sec}}, ETA {{eta}}) {{prefix}}"
    );
    pb.set_style(
        ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(msg.to_string());
    pb
}

fn draw_target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}
