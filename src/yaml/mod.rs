//! A YAML tree that remembers where every value came from.
//!
//! Compose and spec files are parsed into [`Node`]s rather than straight into typed structs:
//! interpolation, `extends` and `-f` merging all work on the tree, and every later error can
//! still point at the file, line and column the user wrote.

pub mod duration;
mod fast;
mod node;
mod parse;
mod read;
mod source;
mod split;

pub use fast::compare as compare_quick_reader;
pub use node::{Mapping, Node, Text, Value};
pub use parse::parse;
pub use read::{Reader, Spanned, child_path, suggest};
pub use source::{SourceFile, Span};
