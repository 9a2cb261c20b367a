//! The dashboard: app state, terminal events, widgets. It renders the
//! snapshots and events a lab publishes and sends it controls; it owns no
//! engine logic.
//!
//! The layers, in the order data flows (as in bottom: collection, app, canvas):
//!
//! - [`event`]: terminal input, frame ticks, fresh snapshots, timeline events
//!   and the results of controls, merged into one [`event::AppEvent`] stream.
//! - [`app`]: the state ([`app::App`]) and the pure key handling that turns a
//!   key into an [`app::Action`] (a [`crate::lab::Control`] to send, or quit).
//! - [`ui`] and [`widgets`]: pure functions from `&App` to a frame.
//! - [`terminal`]: entering and leaving the alternate screen, restoring the
//!   terminal on every path (error and panic included).
//! - [`run`]: the loop that ties them together at a capped frame rate, and
//!   [`run::host`], the one place a running lab is put on the terminal.
//! - [`bench`]: how fast frames render, for `grabstorm bench --tui`.

pub mod app;
pub mod bench;
pub mod event;
#[cfg(test)]
mod fixtures;
pub mod run;
pub mod terminal;
pub mod theme;
pub mod ui;
pub mod widgets;
