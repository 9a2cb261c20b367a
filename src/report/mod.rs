//! Reports: report.json (the data), report.md (the story) and charts (PNG and SVG), all built from the same report value;
//! [`runs`]: the run directories that keep them, listed and pruned.
pub mod charts;
pub mod markdown;
pub mod model;
pub mod runs;
