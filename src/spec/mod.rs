//! The strategy spec (`shipctl.yaml`) and CLI overrides -> a validated [`Spec`].

pub mod analysis;
pub mod defaults;
pub mod env_refs;
pub mod load;
pub mod model;
pub mod notify;
mod placeholders;
mod policy;
mod reader;

pub use crate::yaml::duration;
pub use load::{load, parse_str};
pub use model::{Overrides, Policy, Spec, Strategy};
