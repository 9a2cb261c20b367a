//! Reports: report.json (the data, with its [`meta`]), report.md (the
//! story), throughput.csv and charts (PNG and SVG), all built from the same
//! report value and written by [`files`]; [`runs`]: the run directories
//! that keep them (the last 20). During a run, [`openmetrics`] renders the
//! lab's snapshots as OpenMetrics text and [`endpoint`] serves it
//! (`--metrics ADDR`).
pub mod charts;
pub mod endpoint;
pub mod files;
pub mod markdown;
pub mod meta;
pub mod model;
pub mod openmetrics;
pub mod runs;
