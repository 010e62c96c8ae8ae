//! The binary end to end: arguments, exit codes, generated files.

mod generated;
mod plan;
mod usage;
