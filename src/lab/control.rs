//! Controls: what a running lab can be told ([`Control`]) and the one path
//! they take. A [`LabHandle`] sends each over a channel with a place for
//! its answer; the lab's control server runs each as a task of the lab, so
//! a slow fault never holds up a key press behind it and `finish` joins
//! the controls still in flight.

use crate::faults::{FaultRequest, Injector};
use crate::metrics::{EventBus, EventKind};
use crate::workload::engine::Engine;
use crate::workload::WorkloadKind;
use anyhow::Context;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::publish::LoadState;

/// A command to a running lab, from a key press or a scenario step.
#[derive(Clone, Debug, PartialEq)]
pub enum Control {
    Fault(FaultRequest),
    SetGrabbers(usize),
    SetWorkload(WorkloadKind),
    /// Pause (true) or resume (false) the load without stopping it.
    PauseLoad(bool),
    /// Stop the load and finish the run.
    Stop,
    /// Lesson mode: stop (true) or restart (false) the scenario's clock
    /// and the load together, so that no step fires while the teacher
    /// talks.
    PauseClock(bool),
    /// Play the scenario's next step now (the clock jumps to it), or
    /// release the step a step-by-step lesson holds.
    NextStep,
}

/// A control and where its answer goes.
pub(super) type ControlRequest = (Control, oneshot::Sender<anyhow::Result<String>>);

/// Sends [`Control`]s to a running lab; each answers with what was done,
/// one sentence. Cheap to clone; the lab stays with its owner.
#[derive(Clone)]
pub struct LabHandle {
    pub(super) tx: mpsc::Sender<ControlRequest>,
}

impl LabHandle {
    pub async fn control(&self, c: Control) -> anyhow::Result<String> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((c, reply))
            .await
            .map_err(|_| anyhow::anyhow!("the run has ended"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the run ended before answering"))?
    }
}

/// What a control acts on, shared by the controls in flight.
pub(super) struct Controller {
    pub(super) engine: Arc<Engine>,
    pub(super) load: Arc<LoadState>,
    pub(super) injector: Option<Injector>,
    pub(super) bus: EventBus,
    pub(super) stop: CancellationToken,
    pub(super) faults_injected: Arc<AtomicBool>,
    pub(super) clock: super::clock::RunClock,
    /// Where `NextStep` goes: the scenario playing on this lab, if any.
    pub(super) steps: super::StepRequests,
}

impl Controller {
    async fn apply(&self, c: Control) -> anyhow::Result<String> {
        let what = match c {
            Control::Fault(req) => {
                let inj = self.injector.as_ref().context(
                    "faults need a topology: this run talks to a single Redis at a fixed address",
                )?;
                self.faults_injected.store(true, Ordering::Relaxed);
                return inj.inject(&req).await;
            }
            Control::SetGrabbers(n) => {
                let n = self.engine.set_grabbers(n);
                format!("grabbers set to {n}")
            }
            Control::SetWorkload(k) => {
                self.load.mark(k);
                self.engine.set_workload(k);
                format!("workload set to {k}")
            }
            Control::PauseLoad(true) => {
                self.engine.set_paused(true);
                "load paused".to_string()
            }
            Control::PauseLoad(false) => {
                self.engine.set_paused(false);
                "load resumed".to_string()
            }
            Control::Stop => {
                self.stop.cancel();
                "stopping".to_string()
            }
            Control::PauseClock(paused) => {
                self.engine.set_paused(paused);
                self.clock.set_paused(paused);
                if paused {
                    "clock and load paused: no step fires until Space".to_string()
                } else {
                    "clock and load running again".to_string()
                }
            }
            Control::NextStep => {
                if !self.steps.request() {
                    anyhow::bail!("no scenario is playing: there is no next step");
                }
                "playing the next step now".to_string()
            }
        };
        self.bus
            .emit("lab", EventKind::LoadChanged { what: what.clone() });
        Ok(what)
    }
}

/// Takes controls off the channel until cancelled; each runs as a task of
/// the lab, so a slow fault never holds up a key press behind it.
pub(super) async fn serve_controls(
    controller: Arc<Controller>,
    mut requests: mpsc::Receiver<ControlRequest>,
    tasks: TaskTracker,
    cancel: CancellationToken,
) {
    loop {
        let (control, reply) = tokio::select! {
            _ = cancel.cancelled() => return,
            r = requests.recv() => match r {
                Some(r) => r,
                None => return,
            },
        };
        let controller = controller.clone();
        tasks.spawn(async move {
            let _ = reply.send(controller.apply(control).await);
        });
    }
}
