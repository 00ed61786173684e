//! `vg-audit`: the command-line entry point. Parses flags, dispatches to one
//! module per subcommand, and maps every outcome to an exit code in one place.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

// Candle allocates a fresh tensor per op: mimalloc avoids glibc's mmap/munmap churn on large
// buffers (about 1.6× on a batched step, shared/notes/dpsgd-on-candle.md §7).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What a command found; `main` turns it into the exit code, the one place exit codes are chosen.
pub(crate) enum Outcome {
    /// Done, nothing wrong found: exit 0.
    Success,
    /// A check found a problem (a gate rule failed, a bound above its claim, a flagged output): exit 1.
    ProblemFound,
    /// The command finished and wrote its results, but some inputs could not be processed
    /// (e.g. unreadable records given an error verdict by `scan`): exit 2.
    Incomplete,
}

/// Exit codes, as grep and diff use them.
const EXIT_PROBLEM: u8 = 1;
const EXIT_ERROR: u8 = 2;

#[derive(Parser)]
#[command(
    name = "vg-audit",
    version,
    about = "Pre-launch privacy audit for language models",
    long_about = "vg-audit answers one question before a language model ships: does it leak the \
people in its training data? It prepares and de-identifies a corpus, plants canaries, trains \
models with its own DP-SGD engine, runs membership-inference and extraction attacks, and puts \
empirical ε lower bounds next to the theoretical (ε, δ) budget.\n\n\
Start with `vg-audit run` (audits a built-in demo corpus end to end) or `vg-audit run --quick` \
(a two-minute smoke run).",
    after_help = "Exit codes: 0 success, 1 a check found a problem (e.g. a gate rule failed), 2 any error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prepare a corpus (clean, de-identify, dedup, split, tokenize) or write the demo corpus.
    Corpus(cmd::corpus::Args),
    /// Privacy accounting: ε for a DP-SGD run, or the noise needed for a target ε.
    Accountant(cmd::accountant::Args),
    /// Train a model (DP-SGD or non-private) and optional shadow models on a prepared corpus.
    Train(cmd::train::Args),
    /// Membership-inference attacks on a run directory or on a score table.
    Attack(cmd::attack::Args),
    /// ε lower bounds from attack counts obtained elsewhere.
    Bound(cmd::bound::Args),
    /// Extraction tests: discoverable memorization, verbatim search, fragment search.
    Extract(cmd::extract::Args),
    /// White-box audit of the DP-SGD engine with gradient canaries in one training run.
    AuditEngine(cmd::engine_audit::Args),
    /// Run the whole audit end to end (no arguments: the built-in demo corpus).
    Run(cmd::run::Args),
    /// One step of a prepared run on its own (`task train`: one model; what a Slurm array task runs).
    Task(cmd::task::Args),
    /// Write a commented example audit.toml.
    Init(cmd::init::Args),
    /// Check a finished run against a policy (exit 1 when a rule fails).
    Gate(cmd::gate::Args),
    /// Re-render report.html and model-card.md of a run from its summary.
    Report(cmd::report::Args),
    /// Compare two runs audited on the same corpus.
    Compare(cmd::compare::Args),
    /// After launch: check model outputs for training-data regurgitation, canaries and PII
    /// (batch filter; `scan index` builds the index, `scan serve` the HTTP sidecar).
    Scan(cmd::scan::Args),
    /// Per-record losses and membership scores of a Hugging Face checkpoint (or a run's model).
    Score(cmd::score::Args),
    /// Greedy or sampled continuations of record prefixes from a Hugging Face checkpoint (or a run's model).
    Generate(cmd::generate::Args),
    /// Audit models trained elsewhere (Hugging Face checkpoints) on a member / non-member split.
    Audit(cmd::audit::Args),
    /// Write a run's model as a Hugging Face gpt2 checkpoint (transformers loads it).
    Export(cmd::export::Args),
    /// Synthetic records sampled from a run's DP model, with the guarantee they inherit (sidecar).
    Synth(cmd::synth::Args),
    /// Train a small student from a run's DP model (its synthetic records or soft labels).
    Distill(cmd::distill::Args),
    /// Measure a DP scaling law: train a grid of model sizes × noise-batch ratios, fit the law.
    Sweep(cmd::sweep::Args),
    /// Plan a DP run with a scaling law: model size, batch and steps for a privacy and compute budget.
    Plan(cmd::plan::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Corpus(a) => cmd::corpus::run(a),
        Command::Accountant(a) => cmd::accountant::run(a),
        Command::Train(a) => cmd::train::run(a),
        Command::Attack(a) => cmd::attack::run(a),
        Command::Bound(a) => cmd::bound::run(a),
        Command::Extract(a) => cmd::extract::run(a),
        Command::AuditEngine(a) => cmd::engine_audit::run(a),
        Command::Run(a) => cmd::run::run(a),
        Command::Task(a) => cmd::task::run(a),
        Command::Init(a) => cmd::init::run(a),
        Command::Gate(a) => cmd::gate::run(a),
        Command::Report(a) => cmd::report::run(a),
        Command::Compare(a) => cmd::compare::run(a),
        Command::Scan(a) => cmd::scan::run(a),
        Command::Score(a) => cmd::score::run(a),
        Command::Generate(a) => cmd::generate::run(a),
        Command::Audit(a) => cmd::audit::run(a),
        Command::Export(a) => cmd::export::run(a),
        Command::Synth(a) => cmd::synth::run(a),
        Command::Distill(a) => cmd::distill::run(a),
        Command::Sweep(a) => cmd::sweep::run(a),
        Command::Plan(a) => cmd::plan::run(a),
    };
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::ProblemFound) => ExitCode::from(EXIT_PROBLEM),
        Ok(Outcome::Incomplete) => ExitCode::from(EXIT_ERROR),
        Err(e) => {
            eprintln!("vg-audit: error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
