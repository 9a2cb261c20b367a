//! grabstorm: a terminal chaos lab for Redis high availability.
//!
//! # Layout
//!
//! The modules in the order data flows through a run:
//!
//! - [`cli`]: the command line and its help, the only layer (with
//!   [`commands`]) that uses clap: the domain's kinds become flag values
//!   there and flag defaults come from the domain's defaults; [`commands`]:
//!   one file per subcommand, gluing the modules below together;
//!   [`logging`]: tracing to a file while the dashboard owns the terminal;
//!   [`shutdown`]: SIGINT, SIGTERM and SIGHUP registered once and passed
//!   down as a [`shutdown::Shutdown`] (stop, then skip the audit).
//! - [`limits`]: the allowed range of every number a user gives (flags,
//!   scenario keys, dashboard keys), defined once.
//! - [`words`]: how numbers read to people (durations, latencies, counts,
//!   money, sizes), written once for the dashboard, report.md, the charts
//!   and the printed summaries; a leaf every module can use.
//! - [`topology`]: what to start ([`topology::TopologySpec`]) and the
//!   backends that start it: Docker containers on a bridge network or local
//!   processes on loopback, or a topology grabstorm did not start, found
//!   from what its sentinels or cluster report ([`topology::external`]).
//!   Every node is reached from the host through a loopback address;
//!   [`topology::AddrMap`] maps what Sentinel reports.
//!   What the nodes are asked about themselves is [`topology::admin`]'s:
//!   `INFO replication` and Sentinel's views typed, the one rule for who
//!   the master is, the one classifier of Redis errors. In Cluster mode
//!   [`topology::cluster`] joins the nodes and names a shard's nodes now
//!   (the rule for "the master of shard K" is in `admin::cluster`).
//! - [`kinds`]: the workload, mode, client mode and lock kinds every layer
//!   names, each listing its values and naming them once.
//! - [`client`]: connections to the current master, following Sentinel;
//!   in cluster mode our own cluster client ([`client::cluster`]: slot map
//!   from `CLUSTER SHARDS`, MOVED/ASK followed and counted), both behind
//!   one [`client::LabConn`]; the sentinel watcher that records every
//!   sentinel's announcements on the run's [`metrics::EventBus`]. Sentinel's payloads are parsed once,
//!   in [`topology::announcement`], for the client and the metrics alike.
//! - [`workload`]: the grabbers and what they do: red packets, seckill, locks.
//! - [`metrics`]: latency samples each grabber buffers without a lock,
//!   merged into hdrhistograms and a [`metrics::Snapshot`] every ~250 ms
//!   (and per second of the run: [`metrics::seconds`], latency.hlog);
//!   the event bus and timeline, each event in plain words
//!   ([`metrics::explain`], the one place an event is worded), and the
//!   failover phases and losses measured from the timeline.
//! - [`audit`]: the journal of acknowledged operations and the checks of it
//!   against what Redis holds once the run settles.
//! - [`faults`]: crash, shutdown, kill, pause, partition, restart, slow.
//! - [`lab`]: one running experiment (topology + load + faults + events),
//!   the one owner of its tasks, driven by [`lab::Control`] commands sent
//!   through a [`lab::LabHandle`], and publishing snapshots; its clock
//!   ([`lab::RunClock`]) is what a scenario's steps and the run's end count
//!   in, which a teacher stops, jumps or holds in lesson mode.
//! - [`scenario`]: scenario files, their parser with precise errors, the
//!   shipped ones the binary carries (`build.rs` embeds `scenarios/*.toml`),
//!   the runner of their timelines and the expectations.
//! - [`report`]: report.json (with its `meta`), report.md, throughput.csv
//!   and charts from the same data (a scenario's title and step sentences
//!   recorded in it by the runner), and the run directories that keep them
//!   (the last 20); the OpenMetrics text of the lab's snapshots, served by
//!   `--metrics` ([`report::endpoint`]) like the dashboard reads them.
//! - [`tui`]: the dashboard; renders snapshots, owns no engine logic; in
//!   lesson mode the lesson panel, a failover's phases and the key events.
//! - [`ring`]: the consistent-hashing lab, beside the run: client-side
//!   sharding over independent servers (a 2^32 ring with virtual nodes,
//!   and `hash % N`), measured on real servers when one leaves or joins.

pub mod audit;
pub mod cli;
pub mod client;
pub mod commands;
pub mod faults;
pub mod kinds;
pub mod lab;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod report;
pub mod ring;
pub mod scenario;
pub mod shutdown;
pub mod topology;
pub mod tui;
pub mod words;
pub mod workload;
