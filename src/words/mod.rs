//! The words for numbers shown to people: durations, latencies, moments of
//! a run, counts, money, shares and sizes. The dashboard, report.md, the
//! charts and the printed summaries all call these, so a latency reads
//! `2.15ms` on screen, in the report and on a chart alike. A leaf: it uses
//! nothing else from the crate, so every module can reach it.
//!
//! [`duration`] writes lengths of time and moments of a run; [`number`]
//! writes counts, money, shares and sizes; [`date`] splits a moment in UTC
//! into its calendar fields.

pub mod date;
pub mod duration;
pub mod number;

pub use duration::{at, clock, duration, latency, millis, secs};
pub use number::{bytes, count, money, money_total, percent, short, yuan};
