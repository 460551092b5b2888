//! One file per subcommand; each takes the parsed CLI and returns a Result
//! whose error `main` prints and logs.

pub mod bundle;
pub mod check;
pub mod completion;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod resume;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;
