//! The dashboard's state ([`App`]) and its key handling. Keys become
//! [`Action`]s (a [`Control`] for the lab, or quit) through a pure function
//! of the state, so every key is unit-tested without a terminal.

use super::theme::Theme;
use crate::faults::{FaultKind, FaultRequest, Target};
use crate::lab::Control;
use crate::metrics::failover::Failover;
use crate::metrics::timeline::Naming;
use crate::metrics::{ClusterRedirects, Event, Health, Role, Snapshot};
use crate::report::model::Report;
use crate::topology::cluster::ShardStatus;
use crate::topology::{NodeKind, Topology};
use crate::workload::WorkloadKind;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use std::collections::VecDeque;
use std::sync::Arc;

/// The window MOVED/s and ASK/s are measured over: a burst of redirects
/// after a failover is seen as a rate, not as one frame's spike.
pub const REDIRECT_WINDOW_MS: u64 = 1_000;
/// How many timeline events the dashboard keeps (the report has them all).
pub const EVENT_LOG_CAPACITY: usize = 1000;
/// The most grabbers `+` asks for: the same limit as `--grabbers` and
/// scenario files.
pub const MAX_GRABBERS: usize = crate::limits::GRABBERS.max as usize;

/// What a key asks the run loop to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Send this to the lab.
    Control(Control),
    /// Stop the load and leave.
    Quit,
}

/// The tone of the message line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// A control was sent and is running.
    Pending,
    /// The lab did it.
    Done,
    /// The lab refused or failed (e.g. partition on the local backend).
    Failed,
    /// Plain information (e.g. selection changed).
    Info,
}

/// The line above the key hints: what the last key did, or why it could not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub kind: MessageKind,
    pub text: String,
}

/// One shard's row of the cluster panel: the shard as the nodes see it,
/// and its nodes in the order the panel lists them and Tab visits them.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardRow<'a> {
    pub shard: &'a ShardStatus,
    /// The master first, then its replicas, then the nodes that started in
    /// this shard and are in none now (a dead old master).
    pub nodes: Vec<&'a str>,
}

/// What the phase strip's measurement depends on: the timeline's length
/// and newest event, and the snapshot's time.
pub type PhaseStripKey = (usize, Option<u64>, u64);

/// Everything the dashboard draws. Updated by snapshots, events, keys and
/// control results; drawn by the pure [`crate::tui::ui::draw`].
#[derive(Clone, Debug)]
pub struct App {
    /// The latest snapshot from the lab.
    pub snapshot: Arc<Snapshot>,
    /// The timeline as seen so far (bounded), oldest first.
    pub events: VecDeque<Event>,
    /// The node faults act on; `None` means "whoever is master now".
    pub selected: Option<String>,
    pub show_help: bool,
    pub message: Option<Message>,
    /// Terminal size (columns, rows), updated on resize.
    pub size: (u16, u16),
    pub theme: Theme,
    /// A scenario being played, shown in the header.
    pub scenario: Option<String>,
    /// The scenario being played, step by step (what the lesson panel
    /// shows: the current note, what comes next and when).
    pub lesson: Option<Arc<crate::report::model::Script>>,
    /// Lesson mode is on (`--lesson`; `l` switches it): the lesson panel
    /// and the phase strip show, Space stops the scenario's clock with the
    /// load, `n` plays the next step, the timeline keeps to key events.
    pub lesson_on: bool,
    /// When the scenario's run ends, ms on the run's clock (its duration):
    /// the lesson panel counts down to it after the last step.
    pub lesson_end_ms: Option<u64>,
    /// Lesson mode's timeline shows every event, sub-steps included (`a`).
    pub all_events: bool,
    /// Load changes asked for but not yet visible in a snapshot; keeps
    /// repeated `+` presses doubling from the asked value, not a stale one.
    pub wanted_grabbers: Option<usize>,
    pub wanted_workload: Option<WorkloadKind>,
    pub wanted_paused: Option<bool>,
    /// A clock stop asked for but not yet in a snapshot (as `wanted_paused`).
    pub wanted_clock_paused: Option<bool>,
    /// Controls sent whose result has not come back yet.
    pub controls_in_flight: usize,
    /// Set once the user asked to quit.
    pub quitting: bool,
    /// The run's topology record, for the timeline's plain-language lines:
    /// the names of the addresses Sentinel reports, the quorum ("2 of 3 must
    /// agree") and the sentinels' ids (whom a sentinel votes for).
    pub topology: Option<Arc<Topology>>,
    /// The run's report once it is audited: the end screen shows it in
    /// place of the live panels.
    pub report: Option<Arc<Report>>,
    /// How many lines the end screen is scrolled down.
    pub report_scroll: u16,
    /// The end screen's last scroll position that still shows its last
    /// line, as the last frame measured it (set while rendering).
    pub report_scroll_max: std::cell::Cell<u16>,
    /// The phase strip's failover as last measured, with what it was
    /// measured from (timeline length, its newest event, the snapshot's
    /// time): measured again when they change, not on every frame.
    pub phase_strip: std::cell::RefCell<Option<(PhaseStripKey, Option<Failover>)>>,
    /// Cluster mode: the client's redirect counts of the last
    /// [`REDIRECT_WINDOW_MS`], (elapsed ms, counts), oldest first.
    redirect_readings: VecDeque<(u64, ClusterRedirects)>,
}

impl Default for App {
    fn default() -> Self {
        App::new(Theme::default())
    }
}

impl App {
    pub fn new(theme: Theme) -> App {
        App {
            snapshot: Arc::new(Snapshot::default()),
            events: VecDeque::new(),
            selected: None,
            show_help: false,
            message: None,
            size: (120, 40),
            theme,
            scenario: None,
            lesson: None,
            lesson_on: false,
            lesson_end_ms: None,
            all_events: false,
            wanted_grabbers: None,
            wanted_workload: None,
            wanted_paused: None,
            wanted_clock_paused: None,
            controls_in_flight: 0,
            quitting: false,
            topology: None,
            report: None,
            report_scroll: 0,
            report_scroll_max: std::cell::Cell::new(u16::MAX),
            phase_strip: Default::default(),
            redirect_readings: VecDeque::new(),
        }
    }

    /// Takes the audited report: the dashboard becomes the end screen.
    pub fn on_report(&mut self, report: Arc<Report>) {
        self.report = Some(report);
        self.report_scroll = 0;
        self.show_help = false;
        self.selected = None;
    }

    /// Learns the run's topology record (node names, quorum, sentinel ids).
    pub fn learn_topology(&mut self, topology: &Topology) {
        self.topology = Some(Arc::new(topology.clone()));
    }

    /// Takes a fresh snapshot: its recent events join the timeline, and load
    /// changes it confirms are no longer "wanted".
    pub fn on_snapshot(&mut self, snapshot: Arc<Snapshot>) {
        for event in &snapshot.events {
            self.on_event(event.clone());
        }
        let load = &snapshot.load;
        if self.wanted_grabbers == Some(load.grabbers) {
            self.wanted_grabbers = None;
        }
        if self.wanted_workload == Some(load.workload) {
            self.wanted_workload = None;
        }
        if self.wanted_paused == Some(load.paused) {
            self.wanted_paused = None;
        }
        if self.wanted_clock_paused == Some(snapshot.clock.paused) {
            self.wanted_clock_paused = None;
        }
        if let Some(r) = snapshot.redirects {
            let at = snapshot.elapsed_ms;
            let readings = &mut self.redirect_readings;
            if readings.back().is_none_or(|(last, _)| *last < at) {
                readings.push_back((at, r));
            }
            // Keep one reading at or before the window's start.
            while readings
                .get(1)
                .is_some_and(|(t, _)| t + REDIRECT_WINDOW_MS <= at)
            {
                readings.pop_front();
            }
        }
        self.snapshot = snapshot;
    }

    /// Adds an event to the timeline, in time order, once: the same event
    /// arrives both from the bus and inside snapshots.
    pub fn on_event(&mut self, event: Event) {
        let recent_dup = self
            .events
            .iter()
            .rev()
            .take_while(|e| e.at_ms + 5_000 >= event.at_ms)
            .any(|e| *e == event);
        if recent_dup {
            return;
        }
        let at = self
            .events
            .iter()
            .rposition(|e| e.at_ms <= event.at_ms)
            .map_or(0, |i| i + 1);
        self.events.insert(at, event);
        while self.events.len() > EVENT_LOG_CAPACITY {
            self.events.pop_front();
        }
    }

    /// The lab answered a control: `Ok(what was done)` or `Err(why not)`.
    pub fn on_control_result(&mut self, result: Result<String, String>) {
        self.controls_in_flight = self.controls_in_flight.saturating_sub(1);
        self.message = Some(match result {
            Ok(text) => Message {
                kind: MessageKind::Done,
                text,
            },
            Err(text) => Message {
                kind: MessageKind::Failed,
                text,
            },
        });
    }

    pub fn on_resize(&mut self, cols: u16, rows: u16) {
        self.size = (cols, rows);
    }

    /// The grabber count in effect or asked for.
    pub fn grabbers(&self) -> usize {
        self.wanted_grabbers.unwrap_or(self.snapshot.load.grabbers)
    }

    pub fn workload(&self) -> WorkloadKind {
        self.wanted_workload.unwrap_or(self.snapshot.load.workload)
    }

    pub fn load_paused(&self) -> bool {
        self.wanted_paused.unwrap_or(self.snapshot.load.paused)
    }

    /// Cluster mode: the lab's topology is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.snapshot.topology.cluster.is_some()
            || self.topology.as_ref().is_some_and(|t| t.spec.is_cluster())
    }

    /// Cluster mode: MOVED and ASK replies per second the client got over
    /// the last [`REDIRECT_WINDOW_MS`]; `None` before two readings.
    pub fn redirects_per_s(&self) -> Option<(f64, f64)> {
        let (t0, r0) = self.redirect_readings.front()?;
        let (t1, r1) = self.redirect_readings.back()?;
        let dt_s = t1.checked_sub(*t0).filter(|d| *d > 0)? as f64 / 1000.0;
        Some((
            r1.moved.saturating_sub(r0.moved) as f64 / dt_s,
            r1.ask.saturating_sub(r0.ask) as f64 / dt_s,
        ))
    }

    /// Cluster mode: the shards in order with their nodes, and the Redis
    /// nodes no shard lists (the run's record unknown); `None` in Sentinel
    /// mode.
    pub fn shard_rows(&self) -> Option<(Vec<ShardRow<'_>>, Vec<&str>)> {
        let status = self.snapshot.topology.cluster.as_ref()?;
        let mut rows: Vec<ShardRow> = status
            .shards
            .iter()
            .map(|shard| ShardRow {
                shard,
                nodes: shard
                    .master
                    .iter()
                    .chain(&shard.replicas)
                    .map(String::as_str)
                    .collect(),
            })
            .collect();
        let mut strays = Vec::new();
        for n in &self.snapshot.topology.nodes {
            if n.kind != NodeKind::Redis || rows.iter().any(|r| r.nodes.contains(&&*n.name)) {
                continue;
            }
            let start = self
                .topology
                .as_deref()
                .and_then(|t| t.start_shard(&n.name));
            match start.and_then(|k| rows.iter_mut().find(|r| r.shard.shard == k)) {
                Some(row) => row.nodes.push(&n.name),
                None => strays.push(n.name.as_str()),
            }
        }
        Some((rows, strays))
    }

    /// The nodes in the order the topology panel lists them (Tab's order).
    fn node_order(&self) -> Vec<&str> {
        match self.shard_rows() {
            Some((rows, strays)) => rows
                .iter()
                .flat_map(|r| r.nodes.iter().copied())
                .chain(strays)
                .collect(),
            None => self
                .snapshot
                .topology
                .nodes
                .iter()
                .map(|n| n.name.as_str())
                .collect(),
        }
    }

    /// The node fault keys hit without a selection: the Redis node that
    /// reports itself master, if exactly one does; in Cluster mode shard
    /// 1's master (what the `master` target means there).
    pub fn master(&self) -> Option<&str> {
        if let Some(c) = &self.snapshot.topology.cluster {
            return c.shards.first()?.master.as_deref();
        }
        let mut masters = self
            .snapshot
            .topology
            .nodes
            .iter()
            .filter(|n| n.role == Role::Master && n.health != Health::Down);
        let first = masters.next()?;
        masters.next().is_none().then_some(first.name.as_str())
    }

    /// True while a failover runs: the lab says so, or the timeline shows a
    /// master flagged down (or a failover attempt) with no switch since.
    pub fn failover_in_progress(&self) -> bool {
        if self.snapshot.topology.failover_in_progress {
            return true;
        }
        for e in self.events.iter().rev() {
            if let crate::metrics::EventKind::Sentinel { name, payload } = &e.kind {
                match name.as_str() {
                    "+switch-master" | "+failover-end" | "-odown" => return false,
                    "+odown" | "+try-failover" | "+failover-state-select-slave" => return true,
                    "+sdown" if payload.starts_with("master ") => return true,
                    _ => {}
                }
            }
        }
        false
    }

    /// The node a fault key acts on now.
    pub fn target(&self) -> Target {
        match &self.selected {
            Some(name) => Target::Node(name.clone()),
            None => Target::Master,
        }
    }

    /// "master (redis-1)" or "redis-3": how the message line names a target.
    fn target_label(&self, target: &Target) -> String {
        if self.is_cluster() && *target == Target::Master {
            return match self.master() {
                Some(m) => format!("shard 1's master ({m})"),
                None => "shard 1's master".to_string(),
            };
        }
        match (target, self.master()) {
            (Target::Master, Some(m)) => format!("the master ({m})"),
            (Target::Master, None) => "the master".to_string(),
            (t, _) => t.to_string(),
        }
    }

    fn health_of(&self, name: &str) -> Option<Health> {
        self.snapshot
            .topology
            .nodes
            .iter()
            .find(|n| n.name == name)
            .map(|n| n.health)
    }

    /// The first node in the given health, for toggles without a selection.
    fn first_in(&self, health: Health) -> Option<String> {
        self.snapshot
            .topology
            .nodes
            .iter()
            .find(|n| n.health == health)
            .map(|n| n.name.clone())
    }

    fn fault(&mut self, kind: FaultKind, target: Target) -> Option<Action> {
        let label = self.target_label(&target);
        self.message = Some(Message {
            kind: MessageKind::Pending,
            text: format!("{kind} {label} ..."),
        });
        self.controls_in_flight += 1;
        Some(Action::Control(Control::Fault(FaultRequest {
            kind,
            target,
            duration: None,
            from: Vec::new(),
            reshard: None,
            scale: None,
        })))
    }

    /// `CLUSTER FAILOVER` (or a variant) on the selected node, else on a
    /// replica of shard 1. Sentinel mode has no such command: Sentinel
    /// decides failovers there, so the key only says so.
    fn cluster_failover(&mut self, kind: FaultKind) -> Option<Action> {
        if !self.is_cluster() {
            self.message = Some(Message {
                kind: MessageKind::Info,
                text: format!("{kind} is Cluster mode's (CLUSTER FAILOVER); here Sentinel fails over: crash the master with s"),
            });
            return None;
        }
        let target = match &self.selected {
            Some(name) => Target::Node(name.clone()),
            None => Target::Replica(1),
        };
        self.fault(kind, target)
    }

    /// Pause/thaw, partition/heal: the selected node toggles; without a
    /// selection, a node already in that state is undone first, else the
    /// master is hit.
    fn toggle(&mut self, state: Health, undo: FaultKind, fault: FaultKind) -> Option<Action> {
        match &self.selected {
            Some(name) => {
                let name = name.clone();
                let kind = if self.health_of(&name) == Some(state) {
                    undo
                } else {
                    fault
                };
                self.fault(kind, Target::Node(name))
            }
            None => match self.first_in(state) {
                Some(name) => self.fault(undo, Target::Node(name)),
                None => self.fault(fault, Target::Master),
            },
        }
    }

    fn load_control(&mut self, control: Control, text: String) -> Option<Action> {
        self.message = Some(Message {
            kind: MessageKind::Pending,
            text,
        });
        self.controls_in_flight += 1;
        Some(Action::Control(control))
    }

    /// Moves the selection through the nodes; past either end it returns
    /// to "no selection" (faults hit the master).
    fn select(&mut self, forward: bool) {
        let names = self.node_order();
        if names.is_empty() {
            self.selected = None;
            return;
        }
        let pos = self
            .selected
            .as_deref()
            .and_then(|s| names.iter().position(|n| *n == s));
        let next = match (pos, forward) {
            (None, true) => Some(0),
            (None, false) => Some(names.len() - 1),
            (Some(i), true) if i + 1 < names.len() => Some(i + 1),
            (Some(i), false) if i > 0 => Some(i - 1),
            _ => None,
        };
        self.selected = next.map(|i| names[i].to_string());
        self.message = Some(Message {
            kind: MessageKind::Info,
            text: match &self.selected {
                Some(n) => format!("selected {n}: fault keys act on it (Esc: back to the master)"),
                None => "no selection: fault keys act on whoever is master".to_string(),
            },
        });
    }

    /// Scrolls the end screen down, no further than its last line.
    fn scroll_report_by(&mut self, lines: u16) {
        self.report_scroll = self
            .report_scroll
            .saturating_add(lines)
            .min(self.report_scroll_max.get());
    }

    /// The end screen's keys: scroll, or leave. The lab is gone: no fault
    /// or load key means anything there.
    fn end_screen_key(&mut self, key: KeyEvent) -> Option<Action> {
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc | KeyCode::Enter => {
                self.quitting = true;
                Some(Action::Quit)
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.scroll_report_by(1);
                None
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.report_scroll = self
                    .report_scroll
                    .min(self.report_scroll_max.get())
                    .saturating_sub(1);
                None
            }
            KeyCode::PageDown | KeyCode::Char(' ') => {
                self.scroll_report_by(10);
                None
            }
            KeyCode::PageUp => {
                self.report_scroll = self
                    .report_scroll
                    .min(self.report_scroll_max.get())
                    .saturating_sub(10);
                None
            }
            KeyCode::Home => {
                self.report_scroll = 0;
                None
            }
            _ => None,
        }
    }

    /// Whether the lesson panel shows: a scenario plays and lesson mode is on.
    pub fn in_lesson(&self) -> bool {
        self.lesson_on && self.lesson.is_some()
    }

    /// The scenario clock is stopped (by the teacher, Space in lesson mode).
    pub fn clock_paused(&self) -> bool {
        self.wanted_clock_paused
            .unwrap_or(self.snapshot.clock.paused)
    }

    /// The keys lesson mode takes over (`Some(action)` when it took the
    /// key): `l` switches lesson mode whenever a scenario plays; in lesson
    /// mode Space stops or restarts the scenario's clock with the load,
    /// `n` plays the next step now, `a` shows every event or the key ones.
    fn lesson_key(&mut self, code: KeyCode) -> Option<Option<Action>> {
        self.lesson.as_ref()?;
        if code == KeyCode::Char('l') {
            self.lesson_on = !self.lesson_on;
            self.message = Some(Message {
                kind: MessageKind::Info,
                text: if self.lesson_on {
                    "lesson mode: Space stops the clock, n plays the next step".into()
                } else {
                    "lesson mode off: Space pauses the load only, steps keep their time".into()
                },
            });
            return Some(None);
        }
        if !self.lesson_on {
            return None;
        }
        Some(match code {
            KeyCode::Char(' ') => {
                let pause = !self.clock_paused();
                self.wanted_clock_paused = Some(pause);
                let text = if pause {
                    "stopping the clock and the load ..."
                } else {
                    "restarting the clock and the load ..."
                };
                self.load_control(Control::PauseClock(pause), text.to_string())
            }
            KeyCode::Char('n') => {
                self.load_control(Control::NextStep, "playing the next step ...".to_string())
            }
            KeyCode::Char('a') => {
                self.all_events = !self.all_events;
                None
            }
            _ => return None,
        })
    }

    /// Turns a key into state changes and, maybe, an action. Pure: no I/O.
    pub fn handle_key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('C')) {
            self.quitting = true;
            return Some(Action::Quit);
        }
        if self.report.is_some() {
            return self.end_screen_key(key);
        }
        if self.show_help {
            // The overlay swallows keys except quit; any other closes it.
            if key.code == KeyCode::Char('q') {
                self.quitting = true;
                return Some(Action::Quit);
            }
            self.show_help = false;
            return None;
        }
        if let Some(action) = self.lesson_key(key.code) {
            return action;
        }
        match key.code {
            KeyCode::Char('q') => {
                self.quitting = true;
                Some(Action::Quit)
            }
            KeyCode::Char('?') | KeyCode::F(1) => {
                self.show_help = true;
                None
            }
            KeyCode::Char('s') => self.fault(FaultKind::Segfault, self.target()),
            KeyCode::Char('x') => self.fault(FaultKind::Shutdown, self.target()),
            KeyCode::Char('k') => self.fault(FaultKind::Kill, self.target()),
            KeyCode::Char('f') => self.cluster_failover(FaultKind::Failover),
            KeyCode::Char('F') => self.cluster_failover(FaultKind::FailoverForce),
            KeyCode::Char('p') => self.toggle(Health::Paused, FaultKind::Resume, FaultKind::Pause),
            KeyCode::Char('n') => {
                self.toggle(Health::Partitioned, FaultKind::Heal, FaultKind::Partition)
            }
            KeyCode::Char('r') => {
                let target = match &self.selected {
                    Some(n) if self.health_of(n) == Some(Health::Down) => Target::Node(n.clone()),
                    _ => Target::All,
                };
                self.fault(FaultKind::Restart, target)
            }
            KeyCode::Tab | KeyCode::Down | KeyCode::Right | KeyCode::Char('j') => {
                self.select(true);
                None
            }
            KeyCode::BackTab | KeyCode::Up | KeyCode::Left => {
                self.select(false);
                None
            }
            KeyCode::Esc => {
                if self.selected.is_some() {
                    self.selected = None;
                    self.message = Some(Message {
                        kind: MessageKind::Info,
                        text: "no selection: fault keys act on whoever is master".to_string(),
                    });
                }
                None
            }
            KeyCode::Char('w') => {
                let next = self.workload().next();
                self.wanted_workload = Some(next);
                self.load_control(
                    Control::SetWorkload(next),
                    format!("switching the workload to {next} ..."),
                )
            }
            KeyCode::Char('+') | KeyCode::Char('=') => {
                let now = self.grabbers().max(1);
                let next = (now * 2).min(MAX_GRABBERS);
                if next == now {
                    self.message = Some(Message {
                        kind: MessageKind::Info,
                        text: format!(
                            "already at the most grabbers the dashboard asks for ({MAX_GRABBERS})"
                        ),
                    });
                    return None;
                }
                self.wanted_grabbers = Some(next);
                self.load_control(
                    Control::SetGrabbers(next),
                    format!("grabbers {now} -> {next} ..."),
                )
            }
            KeyCode::Char('-') | KeyCode::Char('_') => {
                let now = self.grabbers();
                let next = (now / 2).max(1);
                if next == now {
                    self.message = Some(Message {
                        kind: MessageKind::Info,
                        text: "already down to one grabber".to_string(),
                    });
                    return None;
                }
                self.wanted_grabbers = Some(next);
                self.load_control(
                    Control::SetGrabbers(next),
                    format!("grabbers {now} -> {next} ..."),
                )
            }
            KeyCode::Char(' ') => {
                let pause = !self.load_paused();
                self.wanted_paused = Some(pause);
                let text = if pause {
                    "pausing the load ..."
                } else {
                    "resuming the load ..."
                };
                self.load_control(Control::PauseLoad(pause), text.to_string())
            }
            _ => None,
        }
    }
}

/// The timeline's names as far as the dashboard knows them: from the
/// topology record once learnt, else from the snapshot's nodes.
impl Naming for App {
    fn node_at(&self, addr: &str) -> Option<&str> {
        if let Some(t) = &self.topology {
            return t.node_at(addr);
        }
        self.snapshot
            .topology
            .nodes
            .iter()
            .find(|n| n.host_addr == addr)
            .map(|n| n.name.as_str())
    }

    fn quorum(&self) -> Option<(u16, u16)> {
        self.topology.as_deref()?.quorum()
    }

    fn sentinel_with_id(&self, id: &str) -> Option<&str> {
        self.topology.as_deref()?.sentinel_with_id(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{EventKind, LoadView, NodeView, TopologyView};
    use crate::topology::NodeKind;

    fn node(name: &str, role: Role, health: Health) -> NodeView {
        NodeView {
            name: name.to_string(),
            kind: if role == Role::Sentinel {
                NodeKind::Sentinel
            } else {
                NodeKind::Redis
            },
            role,
            health,
            host_addr: "127.0.0.1:6379".to_string(),
            internal_addr: "127.0.0.1:6379".to_string(),
            shard: None,
            repl_offset: None,
            lag_bytes: None,
            master_of_replica: None,
            sentinel_master: None,
        }
    }

    fn app_with(nodes: Vec<NodeView>) -> App {
        let mut app = App::default();
        app.on_snapshot(Arc::new(Snapshot {
            topology: TopologyView {
                nodes,
                failover_in_progress: false,
                cluster: None,
            },
            load: LoadView {
                workload: WorkloadKind::Mixed,
                grabbers: 1000,
                paused: false,
                done: false,
                stopped: false,
            },
            ..Default::default()
        }));
        app
    }

    fn healthy() -> App {
        app_with(vec![
            node("redis-1", Role::Master, Health::Up),
            node("redis-2", Role::Replica, Health::Up),
            node("sentinel-1", Role::Sentinel, Health::Up),
        ])
    }

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    fn code(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn fault_of(action: Option<Action>) -> FaultRequest {
        match action {
            Some(Action::Control(Control::Fault(f))) => f,
            other => panic!("expected a fault, got {other:?}"),
        }
    }

    #[test]
    fn fault_keys_hit_the_master_without_a_selection() {
        let mut app = healthy();
        for (k, kind) in [
            ('s', FaultKind::Segfault),
            ('x', FaultKind::Shutdown),
            ('k', FaultKind::Kill),
        ] {
            let f = fault_of(app.handle_key(key(k)));
            assert_eq!(f.kind, kind);
            assert_eq!(f.target, Target::Master);
        }
        assert_eq!(app.controls_in_flight, 3);
        let msg = app.message.clone().unwrap();
        assert_eq!(msg.kind, MessageKind::Pending);
        assert_eq!(msg.text, "kill the master (redis-1) ...");
    }

    #[test]
    fn tab_selects_nodes_in_order_and_wraps_to_no_selection() {
        let mut app = healthy();
        app.handle_key(code(KeyCode::Tab));
        assert_eq!(app.selected.as_deref(), Some("redis-1"));
        app.handle_key(code(KeyCode::Down));
        assert_eq!(app.selected.as_deref(), Some("redis-2"));
        app.handle_key(code(KeyCode::Tab));
        assert_eq!(app.selected.as_deref(), Some("sentinel-1"));
        app.handle_key(code(KeyCode::Tab));
        assert_eq!(app.selected, None);
        app.handle_key(code(KeyCode::Up));
        assert_eq!(app.selected.as_deref(), Some("sentinel-1"));
        app.handle_key(code(KeyCode::Esc));
        assert_eq!(app.selected, None);
    }

    /// A state of the dashboard's fixtures, as the run loop feeds it.
    fn fed(state: crate::tui::fixtures::State) -> App {
        let mut app = App::default();
        app.learn_topology(&state.topology);
        for s in state.earlier {
            app.on_snapshot(Arc::new(s));
        }
        app.on_snapshot(Arc::new(state.snapshot));
        app
    }

    /// Tab's stops from no selection round to no selection.
    fn tab_round(app: &mut App) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            app.handle_key(code(KeyCode::Tab));
            match &app.selected {
                Some(n) => seen.push(n.clone()),
                None => return seen,
            }
            assert!(seen.len() < 20, "Tab never came back: {seen:?}");
        }
    }

    #[test]
    fn tab_cycles_through_cluster_nodes_shard_by_shard() {
        use crate::tui::fixtures;
        let mut app = fed(fixtures::cluster_healthy());
        assert!(app.is_cluster());
        let order = [
            "redis-1", "redis-4", "redis-2", "redis-5", "redis-3", "redis-6",
        ];
        assert_eq!(tab_round(&mut app), order);
        // Backwards from no selection: the last node first.
        app.handle_key(code(KeyCode::BackTab));
        assert_eq!(app.selected.as_deref(), Some("redis-6"));
        // After the promotion shard 1 is redis-4's, and the dead old master
        // (in no shard now) is still visited, under the shard it started in.
        let mut app = fed(fixtures::cluster_after_promotion());
        let order = [
            "redis-4", "redis-1", "redis-2", "redis-5", "redis-3", "redis-6",
        ];
        assert_eq!(tab_round(&mut app), order);
        // The selection is kept across snapshots, by name.
        app.handle_key(code(KeyCode::Tab));
        app.handle_key(code(KeyCode::Tab));
        app.on_snapshot(fed(fixtures::cluster_after_promotion()).snapshot);
        assert_eq!(app.selected.as_deref(), Some("redis-1"));
        let f = fault_of(app.handle_key(key('r')));
        assert_eq!(
            (f.kind, f.target),
            (FaultKind::Restart, Target::Node("redis-1".into()))
        );
    }

    #[test]
    fn cluster_fault_keys_name_shard_1s_master_and_f_fails_over_a_replica() {
        use crate::tui::fixtures;
        let mut app = fed(fixtures::cluster_healthy());
        let f = fault_of(app.handle_key(key('s')));
        assert_eq!((f.kind, f.target), (FaultKind::Segfault, Target::Master));
        assert_eq!(
            app.message.as_ref().unwrap().text,
            "segfault shard 1's master (redis-1) ..."
        );
        // No selection: a replica of shard 1.
        let f = fault_of(app.handle_key(key('f')));
        assert_eq!(
            (f.kind, f.target),
            (FaultKind::Failover, Target::Replica(1))
        );
        // The selected node.
        app.handle_key(code(KeyCode::Tab));
        app.handle_key(code(KeyCode::Tab));
        app.handle_key(code(KeyCode::Tab));
        app.handle_key(code(KeyCode::Tab));
        let f = fault_of(app.handle_key(key('F')));
        assert_eq!(
            (f.kind, f.target),
            (FaultKind::FailoverForce, Target::Node("redis-5".into()))
        );
        assert_eq!(app.controls_in_flight, 3);
        // Sentinel mode has no CLUSTER FAILOVER: the key only says so.
        let mut app = healthy();
        assert_eq!(app.handle_key(key('f')), None);
        let m = app.message.unwrap();
        assert_eq!(m.kind, MessageKind::Info);
        assert!(m.text.contains("Cluster mode"), "{}", m.text);
        assert_eq!(app.controls_in_flight, 0);
    }

    #[test]
    fn redirect_rates_are_measured_over_the_last_second_of_snapshots() {
        use crate::tui::fixtures;
        let app = fed(fixtures::cluster_after_promotion());
        assert_eq!(app.redirects_per_s(), Some((48.0, 0.0)));
        // One reading is no rate; Sentinel mode has none.
        let mut state = fixtures::cluster_after_promotion();
        state.earlier.clear();
        assert_eq!(fed(state).redirects_per_s(), None);
        assert_eq!(healthy().redirects_per_s(), None);
        // Readings older than the window are dropped: 30 MOVED in the last
        // second, after 1,000 long before.
        let mut app = fed(fixtures::cluster_healthy());
        let mut s = (*app.snapshot).clone();
        for (dt, moved) in [(500, 1_000), (5_000, 1_010), (5_500, 1_025), (6_000, 1_040)] {
            s.elapsed_ms += dt;
            s.redirects.as_mut().unwrap().moved = moved;
            app.on_snapshot(Arc::new(s.clone()));
            s.elapsed_ms -= dt;
        }
        assert_eq!(app.redirects_per_s(), Some((30.0, 0.0)));
    }

    #[test]
    fn faults_act_on_the_selected_node() {
        let mut app = healthy();
        app.handle_key(code(KeyCode::Tab));
        app.handle_key(code(KeyCode::Tab));
        let f = fault_of(app.handle_key(key('s')));
        assert_eq!(f.target, Target::Node("redis-2".to_string()));
        assert_eq!(app.message.unwrap().text, "segfault redis-2 ...");
    }

    #[test]
    fn pause_and_partition_toggle_by_the_node_state() {
        let mut app = app_with(vec![
            node("redis-1", Role::Master, Health::Paused),
            node("redis-2", Role::Master, Health::Partitioned),
            node("redis-3", Role::Replica, Health::Up),
        ]);
        // No selection: the paused node is thawed, the partitioned one healed.
        let f = fault_of(app.handle_key(key('p')));
        assert_eq!(
            (f.kind, f.target),
            (FaultKind::Resume, Target::Node("redis-1".into()))
        );
        let f = fault_of(app.handle_key(key('n')));
        assert_eq!(
            (f.kind, f.target),
            (FaultKind::Heal, Target::Node("redis-2".into()))
        );
        // A healthy selected node is paused / partitioned.
        app.selected = Some("redis-3".into());
        assert_eq!(fault_of(app.handle_key(key('p'))).kind, FaultKind::Pause);
        assert_eq!(
            fault_of(app.handle_key(key('n'))).kind,
            FaultKind::Partition
        );
        // Nothing paused and no selection: pause the master.
        let mut app = healthy();
        let f = fault_of(app.handle_key(key('p')));
        assert_eq!((f.kind, f.target), (FaultKind::Pause, Target::Master));
    }

    #[test]
    fn restart_targets_a_selected_dead_node_else_all_dead_nodes() {
        let mut app = app_with(vec![
            node("redis-1", Role::Unknown, Health::Down),
            node("redis-2", Role::Master, Health::Up),
        ]);
        let f = fault_of(app.handle_key(key('r')));
        assert_eq!((f.kind, f.target), (FaultKind::Restart, Target::All));
        app.selected = Some("redis-1".into());
        let f = fault_of(app.handle_key(key('r')));
        assert_eq!(f.target, Target::Node("redis-1".into()));
        app.selected = Some("redis-2".into());
        assert_eq!(fault_of(app.handle_key(key('r'))).target, Target::All);
    }

    #[test]
    fn plus_and_minus_double_and_halve_from_the_asked_value() {
        let mut app = healthy();
        assert_eq!(
            app.handle_key(key('+')),
            Some(Action::Control(Control::SetGrabbers(2000)))
        );
        // The snapshot still says 1000: the second press doubles 2000.
        assert_eq!(
            app.handle_key(key('+')),
            Some(Action::Control(Control::SetGrabbers(4000)))
        );
        assert_eq!(
            app.handle_key(key('-')),
            Some(Action::Control(Control::SetGrabbers(2000)))
        );
        // A snapshot confirming the value clears the wish.
        let mut s = (*app.snapshot).clone();
        s.load.grabbers = 2000;
        app.on_snapshot(Arc::new(s));
        assert_eq!(app.wanted_grabbers, None);
        assert_eq!(app.grabbers(), 2000);

        app.wanted_grabbers = Some(1);
        assert_eq!(app.handle_key(key('-')), None);
        assert_eq!(app.message.as_ref().unwrap().kind, MessageKind::Info);
        app.wanted_grabbers = Some(MAX_GRABBERS);
        assert_eq!(app.handle_key(key('+')), None);
    }

    #[test]
    fn plus_stops_at_the_grabbers_limit_of_flags_and_scenarios() {
        let mut app = healthy();
        app.wanted_grabbers = Some(60_000);
        assert_eq!(
            app.handle_key(key('+')),
            Some(Action::Control(Control::SetGrabbers(100_000)))
        );
        assert_eq!(app.grabbers(), 100_000);
        assert_eq!(app.handle_key(key('+')), None);
        assert_eq!(app.grabbers(), 100_000);
        let said = &app.message.as_ref().unwrap().text;
        assert!(said.contains("100000"), "{said}");
        assert_eq!(
            crate::limits::GRABBERS.parse::<usize>(&app.grabbers().to_string()),
            Ok(100_000)
        );
    }

    #[test]
    fn w_cycles_the_workload_and_space_toggles_the_load() {
        let mut app = healthy();
        assert_eq!(
            app.handle_key(key('w')),
            Some(Action::Control(Control::SetWorkload(
                WorkloadKind::Redpacket
            )))
        );
        assert_eq!(
            app.handle_key(key('w')),
            Some(Action::Control(Control::SetWorkload(WorkloadKind::Seckill)))
        );
        assert_eq!(
            app.handle_key(key(' ')),
            Some(Action::Control(Control::PauseLoad(true)))
        );
        assert!(app.load_paused());
        assert_eq!(
            app.handle_key(key(' ')),
            Some(Action::Control(Control::PauseLoad(false)))
        );
    }

    #[test]
    fn help_opens_swallows_keys_and_q_or_ctrl_c_quit() {
        let mut app = healthy();
        assert_eq!(app.handle_key(key('?')), None);
        assert!(app.show_help);
        // A fault key while help is open only closes it.
        assert_eq!(app.handle_key(key('s')), None);
        assert!(!app.show_help);
        assert_eq!(app.handle_key(key('q')), Some(Action::Quit));
        let mut app = healthy();
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(app.handle_key(ctrl_c), Some(Action::Quit));
        assert!(app.quitting);
        // Releases (kitty protocol) are not presses.
        let mut release = key('s');
        release.kind = KeyEventKind::Release;
        assert_eq!(healthy().handle_key(release), None);
    }

    #[test]
    fn control_results_replace_the_message() {
        let mut app = healthy();
        app.handle_key(key('n'));
        app.on_control_result(Err("partition needs the Docker backend".into()));
        assert_eq!(app.controls_in_flight, 0);
        let m = app.message.unwrap();
        assert_eq!(m.kind, MessageKind::Failed);
        assert_eq!(m.text, "partition needs the Docker backend");
    }

    #[test]
    fn events_are_kept_once_and_in_time_order() {
        let mut app = healthy();
        let ev = |at_ms, text: &str| Event {
            at_ms,
            source: "lab".into(),
            kind: EventKind::Note { text: text.into() },
        };
        app.on_event(ev(200, "b"));
        app.on_event(ev(100, "a"));
        app.on_event(ev(200, "b"));
        app.on_event(ev(300, "c"));
        let texts: Vec<u64> = app.events.iter().map(|e| e.at_ms).collect();
        assert_eq!(texts, vec![100, 200, 300]);
        for i in 0..(EVENT_LOG_CAPACITY as u64 + 10) {
            app.on_event(ev(1000 + i, "x"));
        }
        assert_eq!(app.events.len(), EVENT_LOG_CAPACITY);
    }

    #[test]
    fn failover_in_progress_follows_sentinel_events() {
        let mut app = healthy();
        let sentinel = |at_ms, name: &str, payload: &str| Event {
            at_ms,
            source: "sentinel-1".into(),
            kind: EventKind::Sentinel {
                name: name.into(),
                payload: payload.into(),
            },
        };
        assert!(!app.failover_in_progress());
        app.on_event(sentinel(
            10,
            "+sdown",
            "slave 127.0.0.1:7002 127.0.0.1 7002 @ mymaster 127.0.0.1 7001",
        ));
        assert!(!app.failover_in_progress());
        app.on_event(sentinel(20, "+sdown", "master mymaster 127.0.0.1 7001"));
        assert!(app.failover_in_progress());
        app.on_event(sentinel(
            30,
            "+switch-master",
            "mymaster 127.0.0.1 7001 127.0.0.1 7002",
        ));
        assert!(!app.failover_in_progress());
    }
}
