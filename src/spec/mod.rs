//! The strategy spec (`shipctl.yaml`) and CLI overrides -> a validated [`Spec`].

pub mod duration;
pub mod model;

pub use model::{Overrides, Policy, Spec, Strategy};
