//! The one actor skeleton both cores plug into: the handle the daemon's main task holds
//! ([`CoreHandle`]: snapshot, commands, the extra feed, reload, shutdown), the bundle of
//! bounded channels the core task reads ([`Rx`]), the task's loop ([`drive`]: watchdog,
//! control, operation results, uevents, D-Bus commands, the feed, timers, then the
//! shutdown's drain), the state-file writer, and the controller table with its O(1)
//! index ([`Table`]).
//!
//! What differs between stafd and stacd is the [`Actor`] implementation: the controller
//! machine ([`crate::ctrl::dc::Dc`] or [`crate::ctrl::ioc::Ioc`]), the reconcile, the
//! state type, and the feed (stafd's mDNS report, stacd's view of stafd).
//!
//! ```text
//!  uevent thread ──UeventMsg (bounded)──┐
//!  D-Bus adapter ──CoreCommand (bounded)─┤
//!  run() signals ──Control (bounded)─────┼──▶ drive(Actor) ──watch<Snapshot>──▶ D-Bus readers
//!  feed (mDNS / stafd follower) ─────────┤          └──watch<State>──▶ state writer
//!  op tasks ──Actor::Input (bounded)─────┘
//!                ▲                                   │
//!                └── spawn_blocking(Kernel call) ◀───┘
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::index::Index;
use super::resolve::{Finished, HostFiles, Pass, PassInputs};
use super::staf::{Host, TronHook};
use super::uevents::{UeventMsg, UeventsUnavailable, SOURCE_ENDED};
use super::wheel::sleep_until_opt;
use super::wheel::Wheel;
use crate::config::controller::SECRET_KEYS;
use crate::config::service::{ConnectParams as CfgParams, OriginScope, ServiceConfig};
use crate::ctrl::debounce::{Debouncer, Trigger};
use crate::ctrl::reconcile::{self, ReconcileCandidate, Screen};
use crate::ctrl::timers::CONF_SOAK;
use crate::fsutil::FsError;
use crate::identity::Secret;
use crate::kernel::error::{BuildError, ConnectError};
use crate::kernel::fabrics::{
    build_connect_string, ConnectParams, ConnectString, SupportedOptions,
};
use crate::kernel::{Controller, CtrlState, IfAddr, Kernel, Topology, OWNER_STAS};
use crate::model::snapshot::{AvahiView, CtrlAttrs, CtrlView, ProcessView, TimerView};
use crate::model::snapshot::{CoreCommand, Snapshot};
use crate::model::trid::TidDefaults;
use crate::model::trid::TransportId;
use crate::runtime::notify::{self, Watchdog};

/// Writes to `/dev/nvme-fabrics` a core has in flight. The kernel runs one connect at a time
/// (a global mutex), so more writers would only park blocking threads in it (issue 20:
/// with 2, N=64 and N=256 converged no faster, and stacd's system time was the same).
pub const FABRICS_WRITERS: usize = 1;

/// Which kernel calls a [`Base::spawn_op`] operation waits behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// It writes to `/dev/nvme-fabrics` (a connect): one of [`FABRICS_WRITERS`].
    Fabrics,
    /// Any other kernel call (admin commands, sysfs, the registry): at once.
    Other,
}

/// Capacity of a core's input channel (operation results, reconcile data).
pub const INPUT_QUEUE: usize = 256;
/// Capacity of the command channel (D-Bus).
pub const COMMAND_QUEUE: usize = 16;
/// Capacity of the control channel (reload, shutdown).
const CONTROL_QUEUE: usize = 4;

/// Requests from the daemon's main task.
#[derive(Debug)]
pub enum Control {
    /// SIGHUP: the new configuration; `done` fires once it is applied.
    Reload {
        /// The configuration.
        config: Box<ServiceConfig>,
        /// Acknowledgement.
        done: oneshot::Sender<()>,
    },
    /// SIGTERM/SIGINT: dispose of every controller and end the task.
    Shutdown {
        /// Keep every connection whatever the configuration says (an exit for a restart,
        /// such as after losing the bus). stacd always keeps them.
        keep_all: bool,
    },
}

/// The channels a core task reads.
pub struct Rx<I, F> {
    /// Finished kernel operations and pass inputs (from the core's own spawned tasks).
    pub input: mpsc::Receiver<I>,
    /// The uevent source.
    pub uevents: mpsc::Receiver<UeventMsg>,
    /// D-Bus commands.
    pub commands: mpsc::Receiver<CoreCommand>,
    /// Reload and shutdown.
    pub control: mpsc::Receiver<Control>,
    /// The daemon's own feed (stafd: mDNS reports; stacd: views of stafd).
    pub feed: mpsc::Receiver<F>,
}

/// The event of actor `A`'s controller machine.
pub type EventOf<A> = <<A as Actor>::Machine as Machine>::Event;
/// The action of actor `A`'s controller machine.
pub type ActionOf<A> = <<A as Actor>::Machine as Machine>::Action;
/// The settings of actor `A`'s controller machine.
pub type SettingsOf<A> = <<A as Actor>::Machine as Machine>::Settings;

/// The inputs of actor `A`.
pub type InputOf<A> = Input<EventOf<A>, <A as Actor>::OwnInput>;

/// What a core's spawned tasks send it back (`E`: its machine's events; `O`: the daemon's
/// own).
pub enum Input<E, O> {
    /// A kernel operation of controller `id` finished, with the controller it created or
    /// read (for the topology).
    Done {
        /// The controller.
        id: u64,
        /// What to feed it.
        event: E,
        /// The kernel controller.
        ctrl: Option<Box<Controller>>,
    },
    /// Names resolved and interfaces read: run the reconcile.
    PassReady(PassInputs),
    /// The daemon's own.
    Own(O),
}

/// What a core is to the skeleton. Every method runs on the core task and never blocks.
pub trait Actor: Send + Sized + 'static {
    /// The controller state machine.
    type Machine: Machine + Send;
    /// What a live controller's slot keeps beside it.
    type Extra: Send;
    /// The warm-restart state.
    type State: Clone + PartialEq + Send + Sync + 'static;
    /// The daemon's own results of its spawned tasks ([`Input::Own`]).
    type OwnInput: Send + 'static;
    /// The daemon's own feed.
    type Feed: Send + 'static;
    /// What the daemon's setup gives its core beside the [`CoreSetup`].
    type Own;
    /// A candidate of its reconcile.
    type Candidate: ReconcileCandidate;
    /// Capacity of the feed channel.
    const FEED_QUEUE: usize;
    /// How long a shutdown waits for controllers that are letting go.
    const SHUTDOWN_GRACE: Duration;
    /// Logged when that wait runs out.
    const GRACE_EXPIRED: &'static str;
    /// Writes the state file (atomically).
    const SAVE: fn(&Path, &Self::State) -> Result<(), FsError>;

    /// The core around `base` (no controller yet).
    fn new(base: CoreBase<Self>, own: Self::Own) -> Self;
    /// Takes the controllers of the warm-restart `state` (before the first snapshot).
    fn warm_restart(&mut self, state: Self::State);
    /// What every core holds.
    fn base(&self) -> &CoreBase<Self>;
    /// The same, to change.
    fn base_mut(&mut self) -> &mut CoreBase<Self>;
    /// Once, before the loop: start the warm-restart controllers.
    fn start(&mut self);
    /// Controller `id`'s kernel operation finished with `event` (the controller it created
    /// or read is in the topology already).
    fn on_done(&mut self, id: u64, event: EventOf<Self>);
    /// One of the daemon's own results.
    fn on_own_input(&mut self, input: Self::OwnInput);
    /// A uevent (or a resync after an overflow).
    fn on_uevent(&mut self, msg: UeventMsg);
    /// A message of the feed.
    fn on_feed(&mut self, msg: Self::Feed);
    /// Performs what controller `id` asked for.
    fn perform(&mut self, id: u64, action: ActionOf<Self>);
    /// Publishes the snapshot (and state) now.
    fn publish(&mut self);
    /// Saves the state and asks every controller to let go (keeping or dropping its
    /// connection: see [`Actor::retire_all`]).
    fn begin_shutdown(&mut self, keep_all: bool);
    /// The warm-restart state now.
    fn state(&self) -> Self::State;
    /// How controller `id` is published.
    fn view(&self, ctrl: &Self::Machine, id: u64, now: Instant) -> CtrlView;
    /// The `controller=` entries of the current configuration, as its reconcile reads
    /// them.
    fn configured(&self) -> Vec<Self::Candidate>;
    /// A controller's settings from its entry's keys and overrides.
    fn settings_for(&self, cfg: &BTreeMap<String, String>, o: &CfgParams) -> SettingsOf<Self>;
    /// Runs the reconcile with the names' addresses.
    fn reconcile(&mut self, resolved: BTreeMap<String, Option<IpAddr>>);

    /// The core's own deadline beside the timers and the debouncer; `publish_due` is what
    /// [`Actor::publish_due`] said this turn.
    fn own_deadline(&self, _publish_due: bool) -> Option<Instant> {
        None
    }
    /// What the core does when its own deadline may have passed (after the timers, before
    /// the debouncer).
    fn on_own_deadline(&mut self, _now: Instant) {}
    /// Whether a held-back publication is due (then it runs when nothing else is ready).
    /// stafd publishes after every message instead ([`Actor::settle`]).
    fn publish_due(&self) -> bool {
        false
    }
    /// After each message of the loop.
    fn settle(&mut self) {}
    /// Something the snapshot shows changed (stacd publishes later; stafd after every
    /// message anyway).
    fn touch(&mut self) {}
    /// Whether a reconcile may run now (stacd waits for the first view of stafd).
    fn may_reconcile(&self) -> bool {
        true
    }
    /// The mDNS browser's state for `process_info` (stafd).
    fn avahi(&self) -> Option<AvahiView> {
        None
    }
    /// Controllers the snapshot shows that no machine manages (stacd: the firmware's boot
    /// paths).
    fn unmanaged_views(&self) -> Vec<CtrlView> {
        Vec::new()
    }

    /// A result from one of the core's tasks.
    fn on_input(&mut self, input: InputOf<Self>) {
        match input {
            Input::Done { id, event, ctrl } => {
                if let Some(c) = ctrl {
                    self.base_mut().topo.insert(*c);
                }
                self.on_done(id, event);
            }
            Input::PassReady(inputs) => self.finish_pass(inputs),
            Input::Own(input) => self.on_own_input(input),
        }
    }

    /// Gives `ev` to controller `id` (live or dying) and performs the actions.
    fn feed(&mut self, id: u64, ev: EventOf<Self>) {
        let ctrls = &mut self.base_mut().ctrls;
        let Some(m) = ctrls.get_mut(id) else {
            return;
        };
        let actions = m.handle(ev, SystemTime::now());
        let device = m.device().map(str::to_owned);
        ctrls.set_device(id, device.as_deref());
        self.touch();
        for a in actions {
            self.perform(id, a);
        }
    }

    /// Feeds every live controller what `ev` makes for it.
    fn feed_live(&mut self, ev: impl Fn(&Self, &TransportId) -> EventOf<Self>) {
        let todo: Vec<(u64, EventOf<Self>)> = (self.base().ctrls.live().iter())
            .map(|(tid, s)| (s.id, ev(self, tid)))
            .collect();
        for (id, e) in todo {
            self.feed(id, e);
        }
    }

    /// Each configured transport id's keys and overrides (the first entry of an id wins).
    fn configured_by_tid(&self) -> BTreeMap<TransportId, (BTreeMap<String, String>, CfgParams)> {
        let mut by_tid = BTreeMap::new();
        for c in self.configured() {
            let entry = by_tid.entry(c.tid().clone());
            entry.or_insert_with(|| (c.cfg().clone(), c.overrides().clone()));
        }
        by_tid
    }

    /// The host names a reconcile pass resolves first.
    fn names_to_resolve(&self) -> BTreeSet<String> {
        reconcile::names_to_resolve(&self.configured(), &self.base().screen())
    }

    /// A reloaded configuration: the debug switch, every live controller's new settings,
    /// then a reconcile.
    fn reload(&mut self, config: ServiceConfig) {
        let tron = self.take_config(config);
        self.set_tron(tron);
        let configured = self.configured_by_tid();
        self.feed_live(|core, tid| {
            let (cfg, o) = configured.get(tid).cloned().unwrap_or_default();
            Self::Machine::reload(core.settings_for(&cfg, &o))
        });
        self.trigger_reconcile();
    }

    /// Turns debug logging on or off.
    fn set_tron(&mut self, on: bool) {
        self.base_mut().set_tron(on);
        self.touch();
    }

    /// A D-Bus command.
    fn on_command(&mut self, command: CoreCommand) {
        match command {
            CoreCommand::SetTron(on) => self.set_tron(on),
        }
    }

    /// The next deadline: the timers, the debouncer, the core's own.
    fn deadline(&self, publish_due: bool) -> Option<Instant> {
        let b = self.base();
        [
            b.timers.next_deadline(),
            b.debounce.deadline(),
            self.own_deadline(publish_due),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The deadline passed: the timers that fired, the core's own, then the debouncer.
    fn on_deadline(&mut self) {
        let now = Instant::now();
        for (id, kind) in self.base_mut().timers.expire(now) {
            self.feed(id, Self::Machine::timer_fired(kind));
        }
        self.on_own_deadline(now);
        if self.base_mut().debounce.poll(now) {
            self.start_pass();
        }
        self.touch();
    }

    /// Asks for a reconcile pass for a change of the daemon's own (configuration,
    /// topology, mDNS): [`Actor::trigger_reconcile_from`] with no source.
    fn trigger_reconcile(&mut self) {
        self.trigger_reconcile_from([None]);
    }

    /// Asks for one reconcile pass for a change that `sources` (discovery controllers)
    /// announced: at once when it is the leading edge for one of them, else once their
    /// burst is over (at the latest at the end of the soak).
    fn trigger_reconcile_from(&mut self, sources: impl IntoIterator<Item = Option<TransportId>>) {
        if self.base().shutting_down || !self.may_reconcile() {
            return;
        }
        self.touch();
        let now = Instant::now();
        let debounce = &mut self.base_mut().debounce;
        let mut run = false;
        for source in sources {
            run |= debounce.trigger(source, now) == Trigger::RunNow;
        }
        if run {
            self.start_pass();
        } else {
            tracing::debug!("reconcile coalesced into the burst's pass");
        }
    }

    /// The snapshot of every live controller.
    fn build_snapshot(&self) -> Snapshot {
        let now = Instant::now();
        let b = self.base();
        Snapshot {
            ctrls: (b.ctrls.live().values())
                .map(|s| self.view(&s.ctrl, s.id, now))
                .chain(self.unmanaged_views())
                .collect(),
            process: b.process_view(now, self.avahi()),
        }
    }

    /// Hands the state to the writer when it changed (not once shutting down: the
    /// shutdown saved the last one).
    fn save_state(&self) {
        let b = self.base();
        if b.shutting_down {
            return;
        }
        if let Some(tx) = &b.state_tx {
            let st = self.state();
            tx.send_if_modified(|s| {
                let changed = *s != st;
                if changed {
                    *s = st;
                }
                changed
            });
        }
    }

    /// The shutdown: saves the state, retires every live controller with `ev`, publishes.
    fn retire_all(&mut self, ev: impl Fn() -> EventOf<Self>) {
        self.save_state();
        self.base_mut().shutting_down = true;
        let tids: Vec<TransportId> = self.base().ctrls.live().keys().cloned().collect();
        for tid in tids {
            if let Some(id) = self.base_mut().ctrls.retire(&tid) {
                self.feed(id, ev());
            }
        }
        self.publish();
    }

    /// Resolves host names and reads the interface addresses off the core, then comes back
    /// with [`Input::PassReady`] (later when a pass is running: see [`Pass`]).
    fn start_pass(&mut self) {
        if self.base().shutting_down {
            return;
        }
        let names = self.names_to_resolve();
        let b = self.base_mut();
        b.pass.start(
            Arc::clone(&b.kernel),
            names,
            b.cfg.global.ip_family,
            b.cfg_generation,
            b.input_tx.clone(),
            Input::PassReady,
        );
    }

    /// A pass's inputs came back: reconcile, or start again if the configuration changed.
    fn finish_pass(&mut self, inputs: PassInputs) {
        let b = self.base_mut();
        let host = (&mut b.ifaddrs, &mut b.host_files);
        let finished = b
            .pass
            .finish(inputs, b.cfg_generation, b.shutting_down, host);
        b.topo.set_owners(&b.host_files.owners);
        match finished {
            Finished::Ignore => {}
            Finished::Restart => self.start_pass(),
            Finished::Apply(resolved) => {
                self.reconcile(resolved);
                if self.base_mut().pass.again() {
                    self.start_pass();
                }
            }
        }
    }

    /// A reloaded configuration replaces the current one (a pass under way is then stale);
    /// returns its debug switch.
    fn take_config(&mut self, config: ServiceConfig) -> bool {
        tracing::info!("reloading configuration");
        let tron = config.global.tron;
        let b = self.base_mut();
        b.cfg = config;
        b.cfg_generation += 1;
        tron
    }
}

/// [`Actor::base`] and [`Actor::base_mut`] for a core that keeps its [`Base`] in its
/// field `base`.
macro_rules! base_in_field {
    () => {
        fn base(&self) -> &$crate::daemon::actor::CoreBase<Self> {
            &self.base
        }
        fn base_mut(&mut self) -> &mut $crate::daemon::actor::CoreBase<Self> {
            &mut self.base
        }
    };
}
pub(crate) use base_in_field;

/// The [`Base`] of actor `A`.
pub type CoreBase<A> =
    Base<<A as Actor>::Machine, <A as Actor>::Extra, <A as Actor>::OwnInput, <A as Actor>::State>;

/// The core task: the loop until a shutdown, or until the uevent source fails or ends
/// (then every connection is kept, the daemon is restarted and adopts them, and the
/// reason is returned).
pub async fn drive<A: Actor>(
    core: &mut A,
    mut rx: Rx<InputOf<A>, A::Feed>,
) -> Result<(), UeventsUnavailable> {
    core.start();
    let mut commands_open = true;
    let mut feed_open = true;
    let mut watchdog = core.base().watchdog.timer();
    let mut keep_all = false;
    let mut failed = None;
    loop {
        let publish_due = core.publish_due();
        let deadline = core.deadline(publish_due);
        tokio::select! {
            biased;
            // First, so a busy core still pings; a stuck one does not.
            () = notify::tick(watchdog.as_mut()) => core.base().watchdog.ping(),
            c = rx.control.recv() => match c {
                Some(Control::Reload { config, done }) => {
                    core.reload(*config);
                    core.publish();
                    let _ = done.send(());
                }
                Some(Control::Shutdown { keep_all: k }) => {
                    keep_all = k;
                    break;
                }
                None => break,
            },
            i = rx.input.recv() => {
                if let Some(i) = i {
                    core.on_input(i);
                }
            }
            u = rx.uevents.recv() => match u {
                Some(UeventMsg::Failed(why)) => {
                    failed = Some(UeventsUnavailable(why));
                    break;
                }
                Some(u) => core.on_uevent(u),
                None => {
                    failed = Some(UeventsUnavailable(SOURCE_ENDED.to_owned()));
                    break;
                }
            },
            c = rx.commands.recv(), if commands_open => match c {
                Some(c) => core.on_command(c),
                None => commands_open = false,
            },
            f = rx.feed.recv(), if feed_open => match f {
                Some(f) => core.on_feed(f),
                None => feed_open = false,
            },
            () = sleep_until_opt(deadline) => core.on_deadline(),
            // Only when nothing else is ready: a burst costs one snapshot.
            () = std::future::ready(()), if publish_due => core.publish(),
        }
        core.settle();
    }
    core.begin_shutdown(keep_all || failed.is_some());
    let deadline = Instant::now() + A::SHUTDOWN_GRACE;
    while core.base().ctrls.dying() > 0 {
        tokio::select! {
            i = rx.input.recv() => match i {
                Some(i) => core.on_input(i),
                None => break,
            },
            Some(u) = rx.uevents.recv() => core.on_uevent(u),
            () = tokio::time::sleep_until(deadline) => {
                tracing::warn!(left = core.base().ctrls.dying(), "{}", A::GRACE_EXPIRED);
                break;
            }
        }
    }
    // The shutdown saved the state: the writer ends with its sender.
    core.base_mut().state_tx = None;
    failed.map_or(Ok(()), Err)
}

/// Handles on a running core (what the daemon's main task and the D-Bus adapter hold).
#[derive(Debug)]
pub struct CoreHandle<F> {
    snapshot: watch::Receiver<Snapshot>,
    commands: mpsc::Sender<CoreCommand>,
    control: mpsc::Sender<Control>,
    feed: mpsc::Sender<F>,
    task: JoinHandle<Result<(), UeventsUnavailable>>,
}

impl<F: Send + 'static> CoreHandle<F> {
    /// Starts core `A` from `setup` and the daemon's `own` part on the current tokio
    /// runtime, reading `uevents`; its state writer (when `setup.save_state`) is awaited
    /// after the core ends.
    pub fn start<A: Actor<Feed = F>>(
        kernel: Arc<dyn Kernel>,
        setup: CoreSetup<A::State>,
        own: A::Own,
        uevents: mpsc::Receiver<UeventMsg>,
        on_tron: TronHook,
    ) -> Self {
        let (state_tx, state_writer) = if setup.save_state {
            let (tx, rx) = watch::channel(setup.initial_state.clone());
            let path = setup.state_path.clone();
            (Some(tx), Some(tokio::spawn(write_state(path, rx, A::SAVE))))
        } else {
            (None, None)
        };
        let (input, input_rx) = mpsc::channel(INPUT_QUEUE);
        let (commands, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let (control, ctl_rx) = mpsc::channel(CONTROL_QUEUE);
        let (feed, feed_rx) = mpsc::channel(A::FEED_QUEUE);
        let (base, state) = Base::new(kernel, setup, input, state_tx, on_tron);
        let mut core = A::new(base, own);
        core.warm_restart(state);
        core.publish();
        let snapshot = core.base().snapshot_tx.subscribe();
        let rx = Rx {
            input: input_rx,
            uevents,
            commands: cmd_rx,
            control: ctl_rx,
            feed: feed_rx,
        };
        let task = tokio::spawn(async move {
            let r = drive(&mut core, rx).await;
            drop(core);
            if let Some(w) = state_writer {
                let _ = w.await;
            }
            r
        });
        Self {
            snapshot,
            commands,
            control,
            feed,
            task,
        }
    }

    /// The published state.
    #[must_use]
    pub fn snapshot(&self) -> watch::Receiver<Snapshot> {
        self.snapshot.clone()
    }

    /// The command sender (for the D-Bus adapter).
    #[must_use]
    pub fn commands(&self) -> mpsc::Sender<CoreCommand> {
        self.commands.clone()
    }

    /// The sender of the daemon's own feed.
    #[must_use]
    pub fn feed(&self) -> mpsc::Sender<F> {
        self.feed.clone()
    }

    /// Applies a reloaded configuration; returns once the core took it.
    pub async fn reload(&self, config: ServiceConfig) {
        let (done, rx) = oneshot::channel();
        if self
            .control
            .send(Control::Reload {
                config: Box::new(config),
                done,
            })
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
    }

    /// Shuts the core down and waits for it (at most its shutdown grace plus the state
    /// write).
    ///
    /// # Errors
    /// The core had stopped by itself because the uevent source failed or ended (it kept
    /// every connection then): the daemon must exit non-zero.
    pub async fn stop(self, keep_all: bool) -> Result<(), UeventsUnavailable> {
        let _ = self.control.send(Control::Shutdown { keep_all }).await;
        match self.task.await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "core task failed");
                Ok(())
            }
        }
    }
}

/// The warm-restart state writer: saves each new state with `save` (atomically, off the
/// core) until the core drops its sender.
async fn write_state<S>(
    path: PathBuf,
    mut rx: watch::Receiver<S>,
    save: fn(&Path, &S) -> Result<(), FsError>,
) where
    S: Clone + Send + Sync + 'static,
{
    while rx.changed().await.is_ok() {
        let state = rx.borrow_and_update().clone();
        let p = path.clone();
        match tokio::task::spawn_blocking(move || save(&p, &state)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(path = %path.display(), error = %e, "Unable to save last known config");
            }
            Err(e) => tracing::error!(error = %e, "state writer failed"),
        }
    }
}

/// Deletes the kernel controller `device` (on a blocking thread); one already gone is not
/// an error, another failure is logged. One the registry says another orchestrator owns is
/// left alone, whatever asked for the disconnect (DECISIONS.md item 19), and so is a boot
/// path the firmware's NBFT describes, even one stas connected itself (item 20).
pub fn delete_controller(k: &dyn Kernel, device: &str) {
    if let Some(owner) = k.owner(device).filter(|o| o != OWNER_STAS) {
        tracing::info!(%device, %owner, "not disconnecting: the registry says another orchestrator owns it");
        return;
    }
    let boot = k.boot_tables();
    if !boot.is_empty() {
        if let Ok(Some(c)) = k.read_controller(device) {
            if boot.describes(&c) {
                tracing::info!(%device, "not disconnecting: a boot path of the firmware's NBFT");
                return;
            }
        }
    }
    match k.delete_controller(device) {
        Ok(()) => tracing::debug!(%device, "controller deleted"),
        Err(e) if e.is_not_found() => {}
        Err(e) => tracing::warn!(%device, error = %e, "cannot delete controller"),
    }
}

/// Why [`connect_new`] made no controller.
#[derive(Debug)]
pub enum NotConnected {
    /// The host's exclusion list names it now (the reason, in words); retrying can help.
    Excluded(String),
    /// A value the kernel would reject: retrying cannot help.
    Invalid(BuildError),
    /// The kernel refused the connect.
    Kernel(ConnectError),
}

/// A new connection on a blocking thread, as both daemons make it (DECISIONS.md item 19):
/// the host's exclusion list read afresh first, then the `/dev/nvme-fabrics` write of
/// `params`, the new controller recorded as stas's in the registry (a failure is logged,
/// the connection stands), and the controller read back.
///
/// # Errors
/// [`NotConnected`].
pub fn connect_new(
    k: &dyn Kernel,
    tid: &TransportId,
    params: &ConnectParams,
    options: &SupportedOptions,
) -> Result<(String, Option<Controller>), NotConnected> {
    let list = k.exclusions();
    let hostid = Some(params.host_id.as_str()).filter(|h| !h.is_empty());
    if let Some(entry) = list.matching(tid, hostid) {
        tracing::info!(tid = %tid, entry = %entry, "not connecting: excluded by the host's exclusion list");
        let why = format!("excluded by the host's exclusion list ({entry})");
        return Err(NotConnected::Excluded(why));
    }
    let cs = connect_string(params, options).map_err(NotConnected::Invalid)?;
    let device = k.connect(&cs).map_err(NotConnected::Kernel)?.device();
    if let Err(e) = k.register(&device) {
        tracing::warn!(%device, error = %e, "cannot record the controller in the registry");
    }
    let ctrl = k.read_controller(&device).ok().flatten();
    Ok((device, ctrl))
}

/// Whether a kernel controller with registry owner `owner` may be taken by stas (unowned,
/// or stas's).
#[must_use]
pub fn may_take(owner: Option<&str>) -> bool {
    owner.is_none_or(|o| o == OWNER_STAS)
}

/// The `/dev/nvme-fabrics` string of `params` (options the kernel lacks left out, logged).
///
/// # Errors
/// A value the kernel would reject.
pub fn connect_string(
    params: &ConnectParams,
    options: &SupportedOptions,
) -> Result<ConnectString, BuildError> {
    let cs = build_connect_string(params, options)?;
    if !cs.dropped().is_empty() {
        tracing::debug!(dropped = ?cs.dropped(), "options not supported by the kernel left out");
    }
    tracing::debug!(options = %cs, "writing to /dev/nvme-fabrics");
    Ok(cs)
}

/// A configuration map without its secrets (what a controller machine keeps and shows).
#[must_use]
pub fn strip_secrets(cfg: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    cfg.iter()
        .filter(|(k, _)| !SECRET_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A controller state machine as the table and the skeleton see it.
pub trait Machine {
    /// What it is fed.
    type Event: Send + 'static;
    /// What it asks the core to perform.
    type Action;
    /// Its timer kinds.
    type Timer: Ord + Clone + Send;
    /// Its settings (what a reload changes).
    type Settings;
    /// Its transport id (the table's key).
    fn tid(&self) -> &TransportId;
    /// The kernel device it holds, if any.
    fn device(&self) -> Option<&str>;
    /// The event that starts it.
    fn start() -> Self::Event;
    /// The event of a timer that fired.
    fn timer_fired(kind: Self::Timer) -> Self::Event;
    /// The event of a reload.
    fn reload(settings: Self::Settings) -> Self::Event;
    /// Takes `ev` (at wall-clock time `now`); what to perform.
    fn handle(&mut self, ev: Self::Event, now: SystemTime) -> Vec<Self::Action>;
}

/// One live controller of the table.
pub struct Slot<M, X> {
    /// Its id (stable while it lives, never reused).
    pub id: u64,
    /// The state machine.
    pub ctrl: M,
    /// What the daemon keeps beside it (stacd: whether a source wanted it this run).
    pub extra: X,
}

/// A core's controllers: the live ones by transport id, the dying ones (letting go of
/// their kernel controller) by id, and the [`Index`] that finds either by device or id in
/// O(log N). Every change goes through here, so the index is always in step; after feeding
/// a machine an event, the core reports its device with [`Table::set_device`].
pub struct Table<M, X> {
    live: BTreeMap<TransportId, Slot<M, X>>,
    dying: BTreeMap<u64, M>,
    next_id: u64,
    index: Index,
}

impl<M, X> Default for Table<M, X> {
    fn default() -> Self {
        Self {
            live: BTreeMap::new(),
            dying: BTreeMap::new(),
            next_id: 0,
            index: Index::default(),
        }
    }
}

impl<M: Machine, X> Table<M, X> {
    /// The live controllers by transport id.
    #[must_use]
    pub fn live(&self) -> &BTreeMap<TransportId, Slot<M, X>> {
        &self.live
    }

    /// The live controller of `tid`, to change (its key and device stay as they are).
    pub fn slot_mut(&mut self, tid: &TransportId) -> Option<&mut Slot<M, X>> {
        self.live.get_mut(tid)
    }

    /// How many controllers are letting go.
    #[must_use]
    pub fn dying(&self) -> usize {
        self.dying.len()
    }

    /// Adds a live controller (not started); its id.
    pub fn insert(&mut self, ctrl: M, extra: X) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.index.live(id, ctrl.tid());
        self.index.set_device(id, ctrl.device());
        self.live
            .insert(ctrl.tid().clone(), Slot { id, ctrl, extra });
        id
    }

    /// Adds a controller straight to the dying set (stacd's audit disconnects foreign
    /// controllers so); its id.
    pub fn insert_dying(&mut self, ctrl: M) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.index.set_device(id, ctrl.device());
        self.dying.insert(id, ctrl);
        id
    }

    /// Moves the controller of `tid` from the live map to the dying set; its id.
    pub fn retire(&mut self, tid: &TransportId) -> Option<u64> {
        let slot = self.live.remove(tid)?;
        self.index.retire(slot.id);
        self.dying.insert(slot.id, slot.ctrl);
        Some(slot.id)
    }

    /// Drops dying controller `id` (it let go of its kernel controller).
    pub fn forget(&mut self, id: u64) {
        self.dying.remove(&id);
        self.index.forget(id);
    }

    /// The id of the live controller of `tid`.
    #[must_use]
    pub fn id_of(&self, tid: &TransportId) -> Option<u64> {
        self.live.get(tid).map(|s| s.id)
    }

    /// Controller `id`, live or dying.
    #[must_use]
    pub fn get(&self, id: u64) -> Option<&M> {
        self.dying.get(&id).or_else(|| {
            let tid = self.index.tid(id)?;
            self.live.get(tid).filter(|s| s.id == id).map(|s| &s.ctrl)
        })
    }

    /// Controller `id`, live or dying, to feed.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut M> {
        if let Some(m) = self.dying.get_mut(&id) {
            return Some(m);
        }
        let tid = self.index.tid(id)?;
        self.live
            .get_mut(tid)
            .filter(|s| s.id == id)
            .map(|s| &mut s.ctrl)
    }

    /// Records the device controller `id` now holds (after an event).
    pub fn set_device(&mut self, id: u64, device: Option<&str>) {
        self.index.set_device(id, device);
    }

    /// Every controller, live then dying, with its id.
    pub fn all(&self) -> impl Iterator<Item = (u64, &M)> {
        self.live
            .values()
            .map(|s| (s.id, &s.ctrl))
            .chain(self.dying.iter().map(|(id, m)| (*id, m)))
    }

    /// The controller holding `device` (through the index; debug builds check it against a
    /// scan of every controller, so each core test checks the index too).
    #[must_use]
    pub fn owner_of(&self, device: &str) -> Option<u64> {
        let found = self
            .index
            .owner(device)
            .filter(|id| self.get(*id).and_then(M::device) == Some(device));
        debug_assert_eq!(
            found,
            self.all()
                .find(|(_, m)| m.device() == Some(device))
                .map(|(id, _)| id),
            "index out of step for {device}"
        );
        found
    }
}

/// [`Machine`] for a state machine of `ctrl/` (module `$m`), whose events share these
/// variants; `$handle` calls its `handle` (stafd's DCs take the wall-clock time: they age).
macro_rules! machine {
    ($m:ident, $ty:ident, $settings:ident, $handle:expr) => {
        impl Machine for crate::ctrl::$m::$ty {
            type Event = crate::ctrl::$m::Event;
            type Action = crate::ctrl::$m::Action;
            type Timer = crate::ctrl::$m::TimerKind;
            type Settings = crate::ctrl::$m::$settings;
            fn tid(&self) -> &TransportId {
                Self::tid(self)
            }
            fn device(&self) -> Option<&str> {
                Self::device(self)
            }
            fn start() -> Self::Event {
                crate::ctrl::$m::Event::Start
            }
            fn timer_fired(kind: Self::Timer) -> Self::Event {
                crate::ctrl::$m::Event::TimerFired(kind)
            }
            fn reload(settings: Self::Settings) -> Self::Event {
                crate::ctrl::$m::Event::Reload(settings)
            }
            fn handle(&mut self, ev: Self::Event, now: SystemTime) -> Vec<Self::Action> {
                ($handle)(self, ev, now)
            }
        }
    };
}
machine!(dc, Dc, DcSettings, Self::handle);
machine!(ioc, Ioc, IocSettings, |m: &mut Self, ev, _| Self::handle(
    m, ev
));

/// What either core starts from (each adds its own: [`Actor::Own`]).
#[derive(Debug)]
pub struct CoreSetup<S> {
    /// The daemon's configuration file.
    pub config: ServiceConfig,
    /// Host identity (the key itself never enters stafd's core).
    pub host: Host,
    /// Debug logging on at start (`--tron` or the file's `tron`).
    pub tron: bool,
    /// `/dev/nvme-fabrics` options.
    pub kernel_options: SupportedOptions,
    /// The controllers that exist now (one scan at start).
    pub topology: Topology,
    /// Interface addresses (for matching host-iface/host-traddr).
    pub ifaddrs: Vec<IfAddr>,
    /// The warm-restart state file.
    pub state_path: PathBuf,
    /// Its content at start.
    pub initial_state: S,
    /// Write the state file (tests may turn it off).
    pub save_state: bool,
    /// `WATCHDOG=1`, sent from the core's own loop.
    pub watchdog: Watchdog,
}

/// What every core holds besides what is its own: the kernel seam, the configuration,
/// the host, the topology, the controllers (machine `M`, slot extra `X`), the timers,
/// the reconcile pacing, and the senders of its inputs (the daemon's own: `O`), snapshots
/// and state (`S`).
pub struct Base<M: Machine, X, O, S> {
    pub(crate) kernel: Arc<dyn Kernel>,
    pub(crate) watchdog: Watchdog,
    pub(crate) cfg: ServiceConfig,
    /// Bumped at each reload (a pass started before it is stale).
    pub(crate) cfg_generation: u64,
    pub(crate) host: Host,
    pub(crate) tron: bool,
    pub(crate) on_tron: TronHook,
    pub(crate) options: SupportedOptions,
    pub(crate) topo: Topology,
    pub(crate) ifaddrs: Vec<IfAddr>,
    /// The registry's owners and the exclusion list as the last pass read them.
    pub(crate) host_files: HostFiles,
    pub(crate) state_path: PathBuf,
    pub(crate) ctrls: Table<M, X>,
    pub(crate) timers: Wheel<(u64, M::Timer)>,
    /// Paces the reconcile passes; a trigger's source is the discovery controller whose
    /// log or referrals changed, `None` for the daemon's own changes.
    pub(crate) debounce: Debouncer<Instant, Option<TransportId>>,
    /// Writes to `/dev/nvme-fabrics` in flight ([`FABRICS_WRITERS`] permits).
    pub(crate) fabrics: Arc<Semaphore>,
    pub(crate) pass: Pass,
    /// The controllers the last pass skipped, and why (each is logged once).
    pub(crate) last_dropped: BTreeSet<(TransportId, String)>,
    pub(crate) input_tx: mpsc::Sender<Input<M::Event, O>>,
    pub(crate) snapshot_tx: watch::Sender<Snapshot>,
    pub(crate) state_tx: Option<watch::Sender<S>>,
    pub(crate) shutting_down: bool,
}

impl<M: Machine, X, O, S> Base<M, X, O, S> {
    /// The base of a core starting from `setup` (its state writer is `state_tx`); returns
    /// the initial state for the core to take its controllers from.
    pub fn new<T>(
        kernel: Arc<dyn Kernel>,
        setup: CoreSetup<T>,
        input_tx: mpsc::Sender<Input<M::Event, O>>,
        state_tx: Option<watch::Sender<S>>,
        on_tron: TronHook,
    ) -> (Self, T) {
        let CoreSetup {
            config,
            host,
            tron,
            kernel_options,
            topology,
            ifaddrs,
            state_path,
            initial_state,
            watchdog,
            ..
        } = setup;
        let (snapshot_tx, _) = watch::channel(Snapshot::default());
        let base = Self {
            kernel,
            watchdog,
            cfg: config,
            cfg_generation: 0,
            host,
            tron,
            on_tron,
            options: kernel_options,
            topo: topology,
            ifaddrs,
            host_files: HostFiles::default(),
            state_path,
            ctrls: Table::default(),
            timers: Wheel::default(),
            debounce: Debouncer::new(CONF_SOAK),
            fabrics: Arc::new(Semaphore::new(FABRICS_WRITERS)),
            pass: Pass::default(),
            last_dropped: BTreeSet::new(),
            input_tx,
            snapshot_tx,
            state_tx,
            shutting_down: false,
        };
        let process = base.process_view(Instant::now(), None);
        base.snapshot_tx.send_replace(Snapshot {
            ctrls: Vec::new(),
            process,
        });
        (base, initial_state)
    }

    /// Defaults of the transport ids of this configuration.
    #[must_use]
    pub fn tid_defaults(&self) -> TidDefaults {
        TidDefaults {
            host_nqn: self.host.nqn.clone(),
            ignore_iface: self.cfg.global.ignore_iface,
        }
    }

    /// What excludes a controller now: `exclude=` and the host's exclusion list.
    #[must_use]
    pub fn screen(&self) -> Screen<'_> {
        Screen {
            patterns: &self.cfg.excludes,
            list: &self.host_files.exclusions,
            hostid: &self.host.id,
        }
    }

    /// Turns debug logging on or off.
    pub fn set_tron(&mut self, on: bool) {
        self.tron = on;
        (self.on_tron)(on);
        tracing::info!(tron = on, "debug logging {}", if on { "on" } else { "off" });
    }

    /// The host ID a controller connects with: a 3.x persona's (`host-id` of a configured,
    /// sealed entry), else the host's.
    #[must_use]
    pub fn host_id_for(&self, cfg: &BTreeMap<String, String>, o: &CfgParams) -> String {
        cfg.get("host-id")
            .filter(|_| o.sealed)
            .cloned()
            .unwrap_or_else(|| self.host.id.clone())
    }

    /// The 3.x drop-in scope of a controller without a configured entry learned through
    /// one of `dcs` (ecosystem-2026.md §3.5: it takes its discovery controller's file
    /// scope); `None` for every other controller (and always in the 2.x layout).
    #[must_use]
    pub fn origin_scope<'a>(
        &self,
        mut dcs: impl Iterator<Item = &'a TransportId>,
    ) -> Option<&OriginScope> {
        if self.cfg.origin_scopes.is_empty() {
            return None;
        }
        let defaults = self.tid_defaults();
        dcs.find_map(|dc| (self.cfg.origin_scopes.iter()).find(|s| s.dc.tid(&defaults) == *dc))
    }

    /// The extra keys and parameters of a controller without a configured entry: its
    /// [`origin_scope`](Self::origin_scope)'s when it has one, else its own.
    #[must_use]
    pub fn scoped<'a>(
        &self,
        dcs: impl Iterator<Item = &'a TransportId>,
        cfg: &BTreeMap<String, String>,
        o: &CfgParams,
    ) -> (BTreeMap<String, String>, CfgParams) {
        match self.origin_scope(dcs) {
            Some(s) => {
                let mut cfg = cfg.clone();
                cfg.extend(s.extra.clone());
                (cfg, s.params.clone())
            }
            None => (cfg.clone(), o.clone()),
        }
    }

    /// The DH-HMAC-CHAP secret `key` (`dhchap-secret`, `dhchap-ctrl-secret`) of a
    /// controller: a configured 3.x entry's own (resolved; empty is a reset), else, for a
    /// 2.x entry with a non-empty one, that one, else the 3.x main scope's. `None`: nothing
    /// configured, the caller's fallback applies; `Some(None)`: explicitly none.
    #[must_use]
    pub fn secret_for(
        &self,
        cfg: &BTreeMap<String, String>,
        o: &CfgParams,
        key: &str,
    ) -> Option<Option<Secret>> {
        let v = cfg
            .get(key)
            .filter(|v| o.sealed || !v.is_empty())
            .or_else(|| (!o.sealed).then(|| self.cfg.scope.get(key)).flatten())?;
        Some((!v.is_empty()).then(|| Secret::new(v.clone())))
    }

    /// `process_info` as of `now` (`avahi`: stafd's mDNS browser).
    #[must_use]
    pub fn process_view(&self, now: Instant, avahi: Option<AvahiView>) -> ProcessView {
        ProcessView {
            tron: self.tron,
            hostnqn: self.host.nqn.clone(),
            hostid: self.host.id.clone(),
            hostkey_set: self.host.key_set,
            symname: self.host.symname.clone().unwrap_or_default(),
            last_known_config_file: self.state_path.clone(),
            config_soak_timer: TimerView {
                period: CONF_SOAK,
                remaining: self
                    .debounce
                    .deadline()
                    .map(|d| d.saturating_duration_since(now)),
            },
            kernel_tp8013: self.options.discovery(),
            kernel_host_iface: self.options.host_iface(),
            ignore_iface: self.cfg.global.ignore_iface,
            avahi,
            config_layout: self.cfg.layout.as_str(),
        }
    }

    /// The sysfs attributes of the kernel controller `device` names, as published, and
    /// whether it counts as connected (held, and live or not in the topology yet).
    #[must_use]
    pub fn kernel_view(&self, device: Option<&str>) -> (CtrlAttrs, bool) {
        let ctrl = device.and_then(|d| self.topo.by_name(d));
        let attrs = ctrl.map_or_else(CtrlAttrs::default, |c| CtrlAttrs {
            hostid: c.hostid.clone(),
            hostnqn: c.hostnqn.clone(),
            model: c.model.clone(),
            serial: c.serial.clone(),
            dctype: c.dctype.map(|d| d.as_str().to_owned()).unwrap_or_default(),
            cntrltype: c
                .cntrltype
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            owner: c.owner.clone().unwrap_or_default(),
        });
        let connected = device.is_some() && ctrl.is_none_or(|c| c.state == CtrlState::Live);
        (attrs, connected)
    }

    /// Publishes `snap` when it differs from the last one.
    pub fn send_snapshot(&self, snap: Snapshot) {
        self.snapshot_tx.send_if_modified(|s| {
            if *s == snap {
                false
            } else {
                *s = snap;
                true
            }
        });
    }

    /// Runs `op` on a blocking thread (a kernel call may block for a minute under a kernel
    /// mutex) and sends controller `id` the event it returns (`fallback` if the thread
    /// failed, logged), with the kernel controller it created or read. An operation of the
    /// [`Lane::Fabrics`] (a connect) first waits for one of the [`FABRICS_WRITERS`]
    /// permits, so connects queue here rather than in the kernel's mutex, each on a thread
    /// of its own, and the pool keeps threads for the other kernel calls.
    pub fn spawn_op(
        &self,
        lane: Lane,
        id: u64,
        fallback: M::Event,
        op: impl FnOnce(&dyn Kernel) -> (M::Event, Option<Controller>) + Send + 'static,
    ) where
        O: Send + 'static,
    {
        let k = Arc::clone(&self.kernel);
        let tx = self.input_tx.clone();
        let gate = (lane == Lane::Fabrics).then(|| Arc::clone(&self.fabrics));
        tokio::spawn(async move {
            let _permit = match gate {
                Some(g) => g.acquire_owned().await.ok(),
                None => None,
            };
            let r = tokio::task::spawn_blocking(move || op(k.as_ref())).await;
            if let Err(e) = &r {
                tracing::error!(error = %e, "kernel operation failed");
            }
            let (event, ctrl) = r.unwrap_or((fallback, None));
            let ctrl = ctrl.map(Box::new);
            let _ = tx.send(Input::Done { id, event, ctrl }).await;
        });
    }

    /// Logs the controllers a pass skipped that the last one did not.
    pub fn log_dropped(&mut self, dropped: impl IntoIterator<Item = (TransportId, String)>) {
        let now: BTreeSet<(TransportId, String)> = dropped.into_iter().collect();
        for (tid, reason) in now.difference(&self.last_dropped) {
            if reason == "excluded" {
                tracing::info!(tid = %tid, "controller excluded by configuration");
            } else {
                tracing::warn!(tid = %tid, %reason, "controller skipped");
            }
        }
        self.last_dropped = now;
    }
}
