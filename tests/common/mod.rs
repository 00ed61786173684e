//! Helpers every end-to-end test shares: the binary, paths as arguments, headless Chromium.

pub mod http;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the built `vg-audit` binary with `args`.
pub fn vg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vg-audit")).args(args).output().expect("vg-audit runs")
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The headless browser the report tests open pages in, if installed.
pub fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| {
            let out = Command::new("sh").args(["-c", "command -v chromium || command -v chromium-browser"]).output().ok()?;
            let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
            (!p.is_empty()).then(|| PathBuf::from(p))
        })
}

/// Loads `page` in headless Chromium; returns (DOM after load, console messages).
pub fn load_in_chromium(chrome: &Path, page: &Path, profile: &Path) -> (String, Vec<String>) {
    let out = Command::new(chrome)
        .args([
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--enable-logging=stderr", "--v=0", "--dump-dom"])
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium starts");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // console messages are logged as `INFO:CONSOLE:1] "..."` (or `CONSOLE(1)` in older builds);
    // the report has no scripts, so any console message is a problem
    let console = stderr.lines().filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught")).map(String::from).collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), console)
}
