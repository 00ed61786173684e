//! One module per subcommand; each exposes `Args` (clap) and `run`.
pub(crate) mod corpus;
pub(crate) mod accountant;
pub(crate) mod train;
pub(crate) mod attack;
pub(crate) mod bound;
pub(crate) mod extract;
pub(crate) mod engine_audit;
pub(crate) mod run;
pub(crate) mod init;
pub(crate) mod gate;
pub(crate) mod report;
pub(crate) mod compare;
pub(crate) mod score;
pub(crate) mod generate;
pub(crate) mod audit;
pub(crate) mod export;
