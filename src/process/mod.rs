//! `process` of config.json: everything about the user program that init
//! applies just before exec (user, capabilities, rlimits, cwd, fds, terminal).

pub mod capabilities;
pub mod exec;
pub mod fds;
pub mod rlimits;
pub mod terminal;
pub mod user;
