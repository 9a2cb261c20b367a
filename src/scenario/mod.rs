//! Scenario files: the TOML model, its parser with file:line:col errors and
//! suggestions, the shipped scenarios the binary carries, the runner of a
//! timeline of steps, and the expectations checked at the end.

pub mod expect;
pub mod measure;
pub mod model;
pub mod names;
pub mod parse;
pub mod runner;
pub mod shipped;

pub use model::Scenario;
pub use parse::{parse_file, parse_str, Diagnostic, ParseErrors};
pub use shipped::{load, LoadError};
