//! One module per subcommand; each exposes `Args` (clap) and `run`.
pub mod corpus;
pub mod accountant;
pub mod train;
pub mod attack;
pub mod bound;
pub mod extract;
pub mod audit_engine;
pub mod run;
pub mod init;
pub mod gate;
pub mod report;
pub mod compare;
pub mod scan;
pub mod score;
pub mod generate;
pub mod audit;
pub mod export;
