//! [`FakeKernel`]: an in-memory [`Kernel`] for tests of the layers above (and a `--sim`
//! mode). It behaves like the 6.1 kernel of real-kernel-vm.md §3 where that matters to a
//! daemon, and is scriptable:
//!
//! - targets ([`FakeTarget`]): discovery or I/O subsystems at an address, with a discovery
//!   log, a DC type, PLEO support and an allowed-hosts list;
//! - connects are checked like the kernel does (unknown option or an option not allowed for
//!   the transport → EINVAL, nothing listening → ECONNREFUSED, unknown NQN or host not
//!   allowed → EIO, an identical I/O controller → EALREADY) and create a live controller
//!   with the lowest free instance, emitting `add` and `connected` events;
//! - scripted failures for the next connects and admin commands;
//! - discovery log reads through the real Get Log Page encoding, with AEN masking: a log
//!   change emits the `0x70f002` AEN only to controllers that re-armed it by a read with
//!   RAE=0 since the last one; a change can be injected between the entries read and the
//!   final header read to exercise the generation-counter retry;
//! - registrations (DIM) are decoded and recorded;
//! - controller loss, reconnect (`rediscover` + `connected`) and state changes.
//!
//! Events go to a sink callback when one is set (a test harness forwards them into its
//! channel), else they queue for [`FakeKernel::take_events`]. Nothing here sleeps or reads a
//! clock, so it runs under paused tokio time.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use nix::errno::Errno;

use super::admin::HostInfo;
use super::error::{AdminError, ConnectError, KernelError};
use super::fabrics::{ConnectString, CtrlKind, SupportedOptions};
use super::nbft::BootTables;
use super::netif::{primary_addr, IfAddr};
use super::registry::{RegistryError, OWNER_STAS};
use super::sysfs::{Controller, CtrlAttr, CtrlState};
use super::Kernel;
use crate::config::exclusions::ExclusionList;
use crate::model::trid::WELL_KNOWN_DISC_NQN;
use crate::proto::address::CtrlAddress;
use crate::proto::admin::{AdminCmd, GetLogPage, NvmeStatus};
use crate::proto::consts::{
    DimTask, AEN_DISC_LOG_CHANGED, LID_DISCOVERY, LID_SUPPORTED_LOG_PAGES, OPC_DIM, OPC_IDENTIFY,
};
use crate::proto::dim::{decode_dim, DimSummary};
use crate::proto::dlp::{encode_log, LogEntry};
use crate::proto::fabrics::{tokenize_options, ConnectReply};
use crate::proto::identify::{CntrlType, DcType, PLEOS};
use crate::proto::uevent::{ctrl_instance, NvmeEvent, NvmeEventKind};

/// Options of the 6.1 guest kernel (real-kernel-vm.md §3).
pub const KERNEL_6_1_OPTIONS: &str = "instance=-1,cntlid=-1,transport=%s,traddr=%s,trsvcid=%s,nqn=%s,queue_size=%d,nr_io_queues=%d,reconnect_delay=%d,ctrl_loss_tmo=%d,keep_alive_tmo=%d,hostnqn=%s,host_traddr=%s,host_iface=%s,hostid=%s,duplicate_connect,disable_sqflow,hdr_digest,data_digest,nr_write_queues=%d,nr_poll_queues=%d,tos=%d,fast_io_fail_tmo=%d,discovery,dhchap_secret=%s,dhchap_ctrl_secret=%s\n";

/// Handle of a target added to the fake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TargetId(usize);

/// A subsystem reachable through the fake fabric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeTarget {
    /// `tcp`, `rdma`, `fc`, `loop`.
    pub transport: String,
    /// Address it listens on.
    pub traddr: String,
    /// Port it listens on.
    pub trsvcid: String,
    /// Its NQN (for a DC: what sysfs `subsysnqn` shows; may be a unique NQN).
    pub nqn: String,
    /// Discovery or I/O.
    pub kind: CtrlKind,
    /// DC type (TP8010).
    pub dctype: DcType,
    /// Discovery log entries (DCs).
    pub log: Vec<LogEntry>,
    /// Discovery log generation counter.
    pub genctr: u64,
    /// Whether Supported Log Pages advertises PLEO.
    pub pleo: bool,
    /// Namespaces an I/O controller gets.
    pub namespaces: u32,
    /// Host NQNs allowed (`None`: any host).
    pub allowed_hosts: Option<Vec<String>>,
    /// Whether the port accepts connections (false: ECONNREFUSED).
    pub listening: bool,
}

impl FakeTarget {
    /// A discovery subsystem with the well-known NQN.
    #[must_use]
    pub fn discovery(transport: &str, traddr: &str, trsvcid: &str) -> Self {
        Self {
            transport: transport.into(),
            traddr: traddr.into(),
            trsvcid: trsvcid.into(),
            nqn: WELL_KNOWN_DISC_NQN.into(),
            kind: CtrlKind::Discovery,
            dctype: DcType::None,
            log: Vec::new(),
            genctr: 1,
            pleo: false,
            namespaces: 0,
            allowed_hosts: None,
            listening: true,
        }
    }

    /// An NVM subsystem with one namespace.
    #[must_use]
    pub fn io(transport: &str, traddr: &str, trsvcid: &str, nqn: &str) -> Self {
        Self {
            nqn: nqn.into(),
            kind: CtrlKind::Io,
            namespaces: 1,
            ..Self::discovery(transport, traddr, trsvcid)
        }
    }
}

/// A scripted admin failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeAdminFailure {
    /// Complete the command with this NVMe status.
    Status(u16),
    /// Fail the ioctl with this errno.
    Errno(Errno),
}

/// A registration the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Controller it was sent on.
    pub device: String,
    /// Task.
    pub tas: u32,
    /// Decoded payload.
    pub summary: DimSummary,
}

/// Event sink callback.
pub type EventSink = Arc<dyn Fn(NvmeEvent) + Send + Sync>;

#[derive(Debug, Clone)]
struct FakeCtrl {
    info: Controller,
    /// The source address the connection has while live (`src_addr` shows only then).
    live_src_addr: Option<String>,
    target: Option<usize>,
    params: BTreeMap<String, Option<String>>,
    aen_armed: bool,
}

#[derive(Default)]
struct State {
    options: Option<SupportedOptions>,
    targets: Vec<FakeTarget>,
    ctrls: BTreeMap<u32, FakeCtrl>,
    connect_failures: VecDeque<Errno>,
    connect_hold: Option<Arc<Gate>>,
    exclusions: ExclusionList,
    admin_failures: VecDeque<(Option<String>, FakeAdminFailure)>,
    max_transfer: Option<usize>,
    ifaddrs: Vec<IfAddr>,
    host_info: Option<HostInfo>,
    connects: Vec<String>,
    deletes: Vec<String>,
    log_reads: Vec<(String, GetLogPage)>,
    registrations: Vec<Registration>,
    events: Vec<NvmeEvent>,
    sink: Option<EventSink>,
    change_on_entries_read: Option<(usize, Vec<LogEntry>)>,
    next_cntlid: u16,
    boot: Arc<BootTables>,
    macs: BTreeMap<[u8; 6], String>,
}

/// A connect held in the fake kernel ([`FakeKernel::hold_next_connect`]) until this is
/// released or dropped.
pub struct ConnectHold(Arc<Gate>);

impl ConnectHold {
    /// Lets the held connect return.
    pub fn release(&self) {
        let (open, cv) = (&self.0 .0, &self.0 .1);
        *open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        cv.notify_all();
    }
}

impl Drop for ConnectHold {
    fn drop(&mut self) {
        self.release();
    }
}

/// Where a held connect waits.
#[derive(Default)]
struct Gate(Mutex<bool>, Condvar);

impl Gate {
    fn wait(&self) {
        let mut open = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while !*open {
            open = (self.1.wait(open)).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

/// The in-memory kernel. See the module docs.
#[derive(Default)]
pub struct FakeKernel {
    state: Mutex<State>,
}

impl fmt::Debug for FakeKernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        f.debug_struct("FakeKernel")
            .field("targets", &s.targets.len())
            .field("controllers", &s.ctrls.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Options each transport accepts beyond the common set (kernel-interface.md §1.2).
fn allowed_for(transport: &str, opt: &str) -> bool {
    const COMMON: &[&str] = &[
        "transport",
        "nqn",
        "queue_size",
        "nr_io_queues",
        "keep_alive_tmo",
        "hostnqn",
        "hostid",
        "duplicate_connect",
        "disable_sqflow",
        "discovery",
        "fast_io_fail_tmo",
        "dhchap_secret",
        "dhchap_ctrl_secret",
    ];
    const TCP: &[&str] = &[
        "traddr",
        "trsvcid",
        "reconnect_delay",
        "host_traddr",
        "ctrl_loss_tmo",
        "hdr_digest",
        "data_digest",
        "nr_write_queues",
        "nr_poll_queues",
        "tos",
        "host_iface",
        "tls",
        "keyring",
        "tls_key",
        "concat",
    ];
    const RDMA: &[&str] = &[
        "traddr",
        "trsvcid",
        "reconnect_delay",
        "host_traddr",
        "ctrl_loss_tmo",
        "nr_write_queues",
        "nr_poll_queues",
        "tos",
    ];
    const FC: &[&str] = &["traddr", "host_traddr", "reconnect_delay", "ctrl_loss_tmo"];
    const LOOP: &[&str] = &["traddr"];
    let extra = match transport {
        "tcp" => TCP,
        "rdma" => RDMA,
        "fc" => FC,
        "loop" => LOOP,
        _ => &[],
    };
    COMMON.contains(&opt) || extra.contains(&opt)
}

impl FakeKernel {
    /// A fake 6.1 kernel with loopback interfaces and no targets.
    #[must_use]
    pub fn new() -> Self {
        let k = Self::default();
        {
            let mut s = k.lock();
            s.options = SupportedOptions::from_reply(KERNEL_6_1_OPTIONS);
            s.ifaddrs = [("lo", "127.0.0.1"), ("lo", "::1")]
                .iter()
                .filter_map(|(i, a)| IfAddr::new(i, a))
                .collect();
            s.next_cntlid = 1;
        }
        k
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Delivers queued events to the sink (outside the lock).
    fn flush(&self) {
        let (sink, events) = {
            let mut s = self.lock();
            match s.sink.clone() {
                Some(sink) => (sink, std::mem::take(&mut s.events)),
                None => return,
            }
        };
        for e in events {
            sink(e);
        }
    }

    /// Replaces the option set the kernel advertises.
    pub fn set_supported_options(&self, o: SupportedOptions) {
        self.lock().options = Some(o);
    }

    /// Replaces the interface list.
    pub fn set_interfaces(&self, ifaddrs: Vec<IfAddr>) {
        self.lock().ifaddrs = ifaddrs;
    }

    /// Sets the host facts used in registrations.
    pub fn set_host_info(&self, info: HostInfo) {
        self.lock().host_info = Some(info);
    }

    /// Adds a target.
    pub fn add_target(&self, t: FakeTarget) -> TargetId {
        let mut s = self.lock();
        s.targets.push(t);
        TargetId(s.targets.len() - 1)
    }

    /// A copy of a target.
    #[must_use]
    pub fn target(&self, id: TargetId) -> Option<FakeTarget> {
        self.lock().targets.get(id.0).cloned()
    }

    /// Makes the target stop listening (connects get ECONNREFUSED) or listen again.
    pub fn set_target_listening(&self, id: TargetId, listening: bool) {
        let mut s = self.lock();
        if let Some(t) = s.targets.get_mut(id.0) {
            t.listening = listening;
        }
    }

    /// Replaces a DC's log (GENCTR + 1) and sends the "log changed" AEN to every controller
    /// of that target whose AEN is armed.
    pub fn set_log(&self, id: TargetId, entries: Vec<LogEntry>) {
        {
            let mut s = self.lock();
            let Some(t) = s.targets.get_mut(id.0) else {
                return;
            };
            t.log = entries;
            t.genctr = t.genctr.wrapping_add(1);
            let mut evs = Vec::new();
            for c in s.ctrls.values_mut() {
                if c.target == Some(id.0) && c.aen_armed && c.info.state == CtrlState::Live {
                    c.aen_armed = false;
                    evs.push(event(&c.info, NvmeEventKind::Aen(AEN_DISC_LOG_CHANGED)));
                }
            }
            s.events.extend(evs);
        }
        self.flush();
    }

    /// On the next discovery-log entries read of that target, replace its log right after
    /// serving the entries (so the final header read sees a new generation).
    pub fn change_log_during_next_read(&self, id: TargetId, entries: Vec<LogEntry>) {
        self.lock().change_on_entries_read = Some((id.0, entries));
    }

    /// Holds the next connect in the kernel after it created its controller (its uevents
    /// are out) until the hold is released or dropped, as a connect blocked under the
    /// kernel's mutex returns late.
    #[must_use]
    pub fn hold_next_connect(&self) -> ConnectHold {
        let gate = Arc::new(Gate::default());
        self.lock().connect_hold = Some(Arc::clone(&gate));
        ConnectHold(gate)
    }

    /// The next connect fails with `e` (queued; one per call).
    pub fn fail_next_connect(&self, e: Errno) {
        self.lock().connect_failures.push_back(e);
    }

    /// Admin commands that transfer more than `bytes` fail with EINVAL, as the host kernel
    /// refuses a transfer beyond the controller's limit (max_hw_sectors).
    pub fn set_max_transfer(&self, bytes: usize) {
        self.lock().max_transfer = Some(bytes);
    }

    /// The next admin command (on `device`, or on any device when `None`) fails.
    pub fn fail_next_admin(&self, device: Option<&str>, f: FakeAdminFailure) {
        self.lock()
            .admin_failures
            .push_back((device.map(str::to_owned), f));
    }

    /// Inserts an existing controller (e.g. left by a previous daemon or by nvme-cli),
    /// optionally served by a target.
    pub fn add_controller(&self, c: Controller, target: Option<TargetId>) {
        let mut s = self.lock();
        s.ctrls.insert(
            c.instance,
            FakeCtrl {
                live_src_addr: c.address.src_addr.clone(),
                info: c,
                target: target.map(|t| t.0),
                params: BTreeMap::new(),
                aen_armed: true,
            },
        );
    }

    /// Changes a controller's state (no event: the kernel sends none for live→connecting).
    pub fn set_state(&self, device: &str, state: CtrlState) {
        let mut s = self.lock();
        if let Some(c) = ctrl_instance(device).and_then(|i| s.ctrls.get_mut(&i)) {
            if state != CtrlState::Live {
                c.info.address.src_addr = None;
            }
            c.info.state = state;
        }
    }

    /// The kernel gives up on a controller (ctrl_loss_tmo): it disappears with `remove`.
    pub fn lose_controller(&self, device: &str) {
        {
            let mut s = self.lock();
            if let Some(c) = ctrl_instance(device).and_then(|i| s.ctrls.remove(&i)) {
                s.events.push(event(&c.info, NvmeEventKind::Removed));
            }
        }
        self.flush();
    }

    /// Replaces the host's exclusion list (as an edit of `/etc/nvme/exclusions.conf` does).
    pub fn set_exclusions(&self, text: &str) {
        self.lock().exclusions = ExclusionList::parse(text);
    }

    /// The firmware's NBFT tables (file name, bytes), as `/sys/firmware/acpi/tables` would
    /// show them, and the host's interfaces by MAC.
    pub fn set_nbft(&self, files: &[(String, Vec<u8>)], macs: &[([u8; 6], &str)]) {
        let mut s = self.lock();
        s.boot = Arc::new(BootTables::from_files(files));
        s.macs = macs.iter().map(|(m, i)| (*m, (*i).to_owned())).collect();
    }

    /// Sets the registry owner of `device` (as another orchestrator would: `nvme connect
    /// --owner`), or removes it. The entry goes with the controller (the udev rule).
    pub fn set_owner(&self, device: &str, owner: Option<&str>) {
        let mut s = self.lock();
        if let Some(c) = ctrl_instance(device).and_then(|i| s.ctrls.get_mut(&i)) {
            c.info.owner = owner.map(str::to_owned);
        }
    }

    /// A controller reconnects after a path loss: live again (with its source address and
    /// a new controller id), `rediscover` (DCs) then `connected`.
    pub fn reconnect(&self, device: &str) {
        {
            let mut s = self.lock();
            let mut evs = Vec::new();
            let cntlid = s.next_cntlid;
            if let Some(c) = ctrl_instance(device).and_then(|i| s.ctrls.get_mut(&i)) {
                c.info.state = CtrlState::Live;
                c.info.address.src_addr.clone_from(&c.live_src_addr);
                c.info.cntlid = Some(cntlid);
                if c.info.cntrltype == Some(CntrlType::Discovery) {
                    evs.push(event(&c.info, NvmeEventKind::Rediscover));
                }
                evs.push(event(&c.info, NvmeEventKind::Connected));
            }
            if !evs.is_empty() {
                s.next_cntlid = cntlid.wrapping_add(1).max(1);
            }
            s.events.extend(evs);
        }
        self.flush();
    }

    /// Sets the event sink; queued events are delivered at once.
    pub fn set_event_sink(&self, sink: EventSink) {
        self.lock().sink = Some(sink);
        self.flush();
    }

    /// Takes the queued events (when no sink is set).
    pub fn take_events(&self) -> Vec<NvmeEvent> {
        std::mem::take(&mut self.lock().events)
    }

    /// Every option string written, in order (real text, secrets included).
    #[must_use]
    pub fn connect_log(&self) -> Vec<String> {
        self.lock().connects.clone()
    }

    /// Every controller deleted through [`Kernel::delete_controller`], in order.
    #[must_use]
    pub fn deleted(&self) -> Vec<String> {
        self.lock().deletes.clone()
    }

    /// Every discovery/supported log page command, in order.
    #[must_use]
    pub fn log_reads(&self) -> Vec<(String, GetLogPage)> {
        self.lock().log_reads.clone()
    }

    /// Every registration received.
    #[must_use]
    pub fn registrations(&self) -> Vec<Registration> {
        self.lock().registrations.clone()
    }

    /// The parameters a controller was connected with (`name → value`, `None` for flags).
    #[must_use]
    pub fn connect_params(&self, device: &str) -> Option<BTreeMap<String, Option<String>>> {
        let s = self.lock();
        ctrl_instance(device)
            .and_then(|i| s.ctrls.get(&i))
            .map(|c| c.params.clone())
    }

    fn do_connect(&self, text: &str) -> Result<ConnectReply, ConnectError> {
        let mut s = self.lock();
        s.connects.push(text.to_owned());
        if let Some(e) = s.connect_failures.pop_front() {
            return Err(ConnectError::from_errno(e));
        }
        let tokens = tokenize_options(text);
        let params: BTreeMap<String, Option<String>> = tokens.iter().cloned().collect();
        let get = |k: &str| params.get(k).cloned().flatten().unwrap_or_default();
        let transport = get("transport");
        let options = s.options.clone();
        for (name, value) in &tokens {
            let known = options.as_ref().is_some_and(|o| o.supports(name));
            let empty_value = value.as_deref() == Some("");
            if !known || empty_value || !allowed_for(&transport, name) {
                return Err(ConnectError::InvalidArgument);
            }
        }
        let nqn = get("nqn");
        if nqn.is_empty() || !matches!(transport.as_str(), "tcp" | "rdma" | "fc" | "loop") {
            return Err(ConnectError::InvalidArgument);
        }
        let traddr = get("traddr");
        let mut trsvcid = get("trsvcid");
        if trsvcid.is_empty() && transport == "tcp" {
            "8009".clone_into(&mut trsvcid);
        }
        let discovery_flag = params.contains_key("discovery");
        let wk = nqn == WELL_KNOWN_DISC_NQN;
        // A port: every target listening at this address. Among them, the subsystem the NQN
        // names (the well-known NQN reaches the port's discovery subsystem).
        let at_port: Vec<usize> = (0..s.targets.len())
            .filter(|&i| {
                let t = &s.targets[i];
                t.listening
                    && t.transport == transport
                    && t.traddr == traddr
                    && t.trsvcid == trsvcid
            })
            .collect();
        if at_port.is_empty() {
            return Err(ConnectError::Refused);
        }
        let Some(ti) = at_port
            .iter()
            .copied()
            .find(|&i| s.targets[i].nqn == nqn || (wk && s.targets[i].kind == CtrlKind::Discovery))
        else {
            return Err(ConnectError::RejectedByTarget);
        };
        let t = s.targets[ti].clone();
        if discovery_flag && t.kind != CtrlKind::Discovery {
            return Err(ConnectError::InvalidArgument);
        }
        let hostnqn = get("hostnqn");
        if t.allowed_hosts
            .as_ref()
            .is_some_and(|h| !h.contains(&hostnqn))
        {
            return Err(ConnectError::RejectedByTarget);
        }
        let is_dc = wk || discovery_flag;
        let same = |a: &Option<String>, b: String| a.clone().unwrap_or_default() == b;
        if !is_dc && !params.contains_key("duplicate_connect") {
            let dup = s.ctrls.values().any(|c| {
                !c.info.state.is_going_away()
                    && c.params.get("nqn").cloned().flatten().as_deref() == Some(nqn.as_str())
                    && c.info.hostnqn == hostnqn
                    && c.info.hostid == get("hostid")
                    && same(&c.info.address.traddr, traddr.clone())
                    && same(&c.info.address.trsvcid, trsvcid.clone())
                    && same(&c.info.address.host_traddr, get("host_traddr"))
                    && same(&c.info.address.host_iface, get("host_iface"))
            });
            if dup {
                return Err(ConnectError::AlreadyConnected);
            }
        }
        let instance = (0..).find(|i| !s.ctrls.contains_key(i)).unwrap_or(0);
        let cntlid = s.next_cntlid;
        s.next_cntlid = s.next_cntlid.wrapping_add(1).max(1);
        let mut c = Controller::new(instance, &transport);
        let opt = |k: &str| Some(get(k)).filter(|v| !v.is_empty());
        let src_addr = opt("host_traddr")
            .or_else(|| {
                let iface = opt("host_iface")?;
                let like = super::netif::ip_key(&traddr)?;
                primary_addr(&s.ifaddrs, &iface, like).map(|a| a.to_string())
            })
            .or_else(|| {
                let a = super::netif::ip_key(&traddr)?;
                a.is_loopback().then(|| traddr.clone())
            })
            .filter(|_| transport == "tcp");
        c.address = CtrlAddress {
            traddr: opt("traddr"),
            trsvcid: Some(trsvcid.clone()).filter(|v| !v.is_empty()),
            host_traddr: opt("host_traddr"),
            host_iface: opt("host_iface"),
            src_addr,
        };
        c.subsysnqn.clone_from(&t.nqn);
        c.cntrltype = Some(if t.kind == CtrlKind::Discovery {
            CntrlType::Discovery
        } else {
            CntrlType::Io
        });
        c.dctype = Some(t.dctype);
        c.hostnqn = hostnqn;
        c.hostid = get("hostid");
        c.kato = Some(
            get("keep_alive_tmo")
                .parse()
                .unwrap_or(if is_dc { 0 } else { 5 }),
        );
        c.cntlid = Some(cntlid);
        "Linux".clone_into(&mut c.model);
        c.serial = format!("fake{ti:016x}");
        "6.1.0".clone_into(&mut c.firmware_rev);
        c.subsystem = Some(format!("nvme-subsys{instance}"));
        c.subsystype = Some(
            if t.kind == CtrlKind::Discovery {
                "discovery"
            } else {
                "nvm"
            }
            .to_owned(),
        );
        c.children = (1..=t.namespaces)
            .map(|n| format!("nvme{instance}c{instance}n{n}"))
            .collect();
        s.events.push(event(&c, NvmeEventKind::Added));
        s.events.push(event(&c, NvmeEventKind::Connected));
        s.ctrls.insert(
            instance,
            FakeCtrl {
                live_src_addr: c.address.src_addr.clone(),
                info: c,
                target: Some(ti),
                params,
                aen_armed: true,
            },
        );
        Ok(ConnectReply {
            instance,
            cntlid: Some(cntlid),
        })
    }

    fn do_admin(&self, device: &str, cmd: &AdminCmd, data: &mut [u8]) -> Result<u32, AdminError> {
        let mut s = self.lock();
        let Some(inst) = ctrl_instance(device).filter(|i| s.ctrls.contains_key(i)) else {
            return Err(AdminError::Open {
                device: device.to_owned(),
                errno: Errno::ENOENT,
            });
        };
        if s.ctrls[&inst].info.state != CtrlState::Live {
            return Err(AdminError::Open {
                device: device.to_owned(),
                errno: Errno::EAGAIN,
            });
        }
        if usize::try_from(cmd.data_len).ok() != Some(data.len()) {
            return Err(AdminError::BufferSize {
                got: data.len(),
                want: cmd.data_len,
            });
        }
        if s.max_transfer.is_some_and(|m| data.len() > m) {
            return Err(AdminError::Os {
                device: device.to_owned(),
                errno: Errno::EINVAL,
            });
        }
        if let Some(pos) = s
            .admin_failures
            .iter()
            .position(|(d, _)| d.as_deref().is_none_or(|d| d == device))
        {
            let (_, f) = s
                .admin_failures
                .remove(pos)
                .unwrap_or((None, FakeAdminFailure::Errno(Errno::EIO)));
            return Err(match f {
                FakeAdminFailure::Status(st) => {
                    AdminError::Status(NvmeStatus(st), device.to_owned())
                }
                FakeAdminFailure::Errno(errno) => AdminError::Os {
                    device: device.to_owned(),
                    errno,
                },
            });
        }
        let invalid_opcode = AdminError::Status(NvmeStatus(0x4001), device.to_owned());
        let target = s.ctrls[&inst]
            .target
            .and_then(|t| s.targets.get(t).cloned());
        if let Some(glp) = GetLogPage::decode(cmd) {
            s.log_reads.push((device.to_owned(), glp));
            let image = match glp.lid {
                LID_DISCOVERY => {
                    let t = target
                        .as_ref()
                        .filter(|t| t.kind == CtrlKind::Discovery)
                        .ok_or(invalid_opcode)?;
                    encode_log(t.genctr, &t.log)
                }
                LID_SUPPORTED_LOG_PAGES => {
                    let mut b = vec![0u8; 1024];
                    b[0..4].copy_from_slice(&1u32.to_le_bytes());
                    let pleo = target.as_ref().is_some_and(|t| t.pleo);
                    let v = 1 | if pleo { PLEOS } else { 0 };
                    let at = usize::from(LID_DISCOVERY) * 4;
                    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
                    b
                }
                _ => return Err(AdminError::Status(NvmeStatus(0x4109), device.to_owned())),
            };
            let off = usize::try_from(glp.offset).unwrap_or(usize::MAX);
            if glp.lid == LID_DISCOVERY && off > image.len() {
                // nvmet: an offset past the end of the log is Invalid Field (DNR).
                return Err(AdminError::Status(NvmeStatus(0x4002), device.to_owned()));
            }
            data.fill(0);
            if off < image.len() {
                let n = data.len().min(image.len() - off);
                data[..n].copy_from_slice(&image[off..off + n]);
            }
            if glp.lid == LID_DISCOVERY {
                if !glp.rae {
                    if let Some(c) = s.ctrls.get_mut(&inst) {
                        c.aen_armed = true;
                    }
                }
                let t_idx = s.ctrls[&inst].target;
                if off >= 1024
                    && s.change_on_entries_read.as_ref().map(|(t, _)| Some(*t)) == Some(t_idx)
                {
                    if let Some((ti, entries)) = s.change_on_entries_read.take() {
                        if let Some(t) = s.targets.get_mut(ti) {
                            t.log = entries;
                            t.genctr = t.genctr.wrapping_add(1);
                        }
                    }
                }
            }
            return Ok(0);
        }
        match cmd.opcode {
            OPC_IDENTIFY if cmd.cdw10 & 0xff == 1 => {
                let c = &s.ctrls[&inst].info;
                data.fill(0);
                let put = |d: &mut [u8], at: usize, v: &str| {
                    let n = v.len().min(d.len() - at);
                    d[at..at + n].copy_from_slice(&v.as_bytes()[..n]);
                };
                put(data, 4, &format!("{:<20}", c.serial));
                put(data, 24, &format!("{:<40}", c.model));
                put(data, 64, &format!("{:<8}", c.firmware_rev));
                data[78..80].copy_from_slice(&c.cntlid.unwrap_or(0).to_le_bytes());
                let is_dc = c.cntrltype == Some(CntrlType::Discovery);
                data[92..96].copy_from_slice(&(if is_dc { 1u32 << 31 } else { 0 }).to_le_bytes());
                data[111] = match c.cntrltype {
                    Some(CntrlType::Io) => 1,
                    Some(CntrlType::Discovery) => 2,
                    Some(CntrlType::Admin) => 3,
                    _ => 0,
                };
                put(data, 768, &c.subsysnqn);
                data[1806] = match c.dctype {
                    Some(DcType::Ddc) => 1,
                    Some(DcType::Cdc) => 2,
                    _ => 0,
                };
                Ok(0)
            }
            OPC_DIM => {
                let accepts = target
                    .as_ref()
                    .is_some_and(|t| t.dctype.supports_registration());
                if !accepts {
                    return Err(invalid_opcode);
                }
                let summary = decode_dim(data)
                    .ok_or_else(|| AdminError::Status(NvmeStatus(0x4002), device.to_owned()))?;
                s.registrations.push(Registration {
                    device: device.to_owned(),
                    tas: cmd.cdw10 & 0xf,
                    summary,
                });
                Ok(0)
            }
            _ => Err(invalid_opcode),
        }
    }
}

/// The uevent the kernel sends about `c`.
pub(crate) fn event(c: &Controller, kind: NvmeEventKind) -> NvmeEvent {
    NvmeEvent {
        device: c.device.clone(),
        instance: c.instance,
        kind,
        trtype: Some(c.transport.clone()),
        traddr: c.address.traddr.clone(),
        trsvcid: c.address.trsvcid.clone(),
        host_traddr: c.address.host_traddr.clone(),
        host_iface: c.address.host_iface.clone(),
        seqnum: None,
    }
}

/// The `address` attribute as the kernel prints it (set fields only).
fn address_attr(a: &CtrlAddress) -> String {
    [
        ("traddr", &a.traddr),
        ("trsvcid", &a.trsvcid),
        ("host_traddr", &a.host_traddr),
        ("host_iface", &a.host_iface),
        ("src_addr", &a.src_addr),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
    .collect::<Vec<_>>()
    .join(",")
}

impl Kernel for FakeKernel {
    fn supported_options(&self) -> Result<SupportedOptions, KernelError> {
        Ok(self
            .lock()
            .options
            .clone()
            .unwrap_or_else(|| SupportedOptions::from_names(Vec::<String>::new())))
    }

    fn connect(&self, opts: &ConnectString) -> Result<ConnectReply, ConnectError> {
        let hold = self.lock().connect_hold.take();
        let r = self.do_connect(opts.as_str());
        self.flush();
        if let Some(h) = hold {
            h.wait();
        }
        r
    }

    fn delete_controller(&self, device: &str) -> Result<(), KernelError> {
        let r = {
            let mut s = self.lock();
            s.deletes.push(device.to_owned());
            match ctrl_instance(device).and_then(|i| s.ctrls.remove(&i)) {
                Some(c) => {
                    s.events.push(event(&c.info, NvmeEventKind::Removed));
                    Ok(())
                }
                None => Err(KernelError::new(
                    "open",
                    format!("/sys/class/nvme/{device}/delete_controller"),
                    std::io::Error::from(std::io::ErrorKind::NotFound),
                )),
            }
        };
        self.flush();
        r
    }

    fn list_controllers(&self) -> Result<Vec<String>, KernelError> {
        Ok(self
            .lock()
            .ctrls
            .values()
            .map(|c| c.info.device.clone())
            .collect())
    }

    fn read_controller(&self, device: &str) -> Result<Option<Controller>, KernelError> {
        let s = self.lock();
        Ok(ctrl_instance(device)
            .and_then(|i| s.ctrls.get(&i))
            .map(|c| {
                let mut c = c.info.clone();
                c.owner = s.boot.owner_of(&c, c.owner.clone());
                c
            }))
    }

    fn read_ctrl_attr(&self, device: &str, attr: CtrlAttr) -> Option<String> {
        let s = self.lock();
        let c = &s.ctrls.get(&ctrl_instance(device)?)?.info;
        let text = match attr {
            CtrlAttr::State => c.state.as_str().to_owned(),
            CtrlAttr::Address => address_attr(&c.address),
            CtrlAttr::Cntlid => c.cntlid?.to_string(),
            CtrlAttr::Subsysnqn => c.subsysnqn.clone(),
            CtrlAttr::Cntrltype => c.cntrltype?.as_str().to_owned(),
        };
        (!text.is_empty()).then_some(text)
    }

    fn owner(&self, device: &str) -> Option<String> {
        let s = self.lock();
        let c = &s.ctrls.get(&ctrl_instance(device)?)?.info;
        s.boot.owner_of(c, c.owner.clone())
    }

    fn owners(&self) -> BTreeMap<String, String> {
        let s = self.lock();
        (s.ctrls.values())
            .filter_map(|c| {
                let owner = s.boot.owner_of(&c.info, c.info.owner.clone())?;
                Some((c.info.device.clone(), owner))
            })
            .collect()
    }

    fn boot_tables(&self) -> Arc<BootTables> {
        Arc::clone(&self.lock().boot)
    }

    fn interfaces_by_mac(&self) -> BTreeMap<[u8; 6], String> {
        self.lock().macs.clone()
    }

    fn register(&self, device: &str) -> Result<(), RegistryError> {
        let mut s = self.lock();
        if let Some(c) = ctrl_instance(device).and_then(|i| s.ctrls.get_mut(&i)) {
            c.info.owner = Some(OWNER_STAS.to_owned());
        }
        Ok(())
    }

    fn claim(&self, device: &str) -> Result<String, RegistryError> {
        let mut s = self.lock();
        let c = ctrl_instance(device).and_then(|i| s.ctrls.get_mut(&i));
        let Some(c) = c else {
            return Ok(OWNER_STAS.to_owned());
        };
        Ok(c.info
            .owner
            .get_or_insert_with(|| OWNER_STAS.to_owned())
            .clone())
    }

    fn exclusions(&self) -> ExclusionList {
        self.lock().exclusions.clone()
    }

    fn admin(&self, device: &str, cmd: &AdminCmd, data: &mut [u8]) -> Result<u32, AdminError> {
        let r = self.do_admin(device, cmd, data);
        self.flush();
        r
    }

    fn interface_addresses(&self) -> Result<Vec<IfAddr>, KernelError> {
        Ok(self.lock().ifaddrs.clone())
    }

    fn host_info(&self) -> HostInfo {
        self.lock().host_info.clone().unwrap_or_else(|| HostInfo {
            hostname: "fakehost".into(),
            os_version: "Linux 6.1.0-fake Fake 1".into(),
        })
    }
}

/// Registration task value of a recorded registration.
#[must_use]
pub fn tas_of(r: &Registration) -> Option<DimTask> {
    match r.tas {
        0 => Some(DimTask::Register),
        1 => Some(DimTask::Deregister),
        2 => Some(DimTask::Update),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::kernel::fabrics::{build_connect_string, ConnectParams};
    use crate::kernel::{Topology, TopologyChange};
    use crate::model::trid::TransportId;

    pub(crate) const HOSTNQN: &str =
        "nqn.2014-08.org.nvmexpress:uuid:e4498cf1-1a81-4cfd-9f10-9e947466ed0f";
    pub(crate) const HOSTID: &str = "e4498cf1-1a81-4cfd-9f10-9e947466ed0f";

    pub(crate) fn tid(traddr: &str, trsvcid: &str, nqn: &str) -> TransportId {
        TransportId {
            transport: "tcp".into(),
            traddr: traddr.into(),
            trsvcid: trsvcid.into(),
            subsysnqn: nqn.into(),
            host_nqn: HOSTNQN.into(),
            ..TransportId::default()
        }
    }

    pub(crate) fn connect(
        k: &FakeKernel,
        t: &TransportId,
        kind: CtrlKind,
    ) -> Result<ConnectReply, ConnectError> {
        let o = k.supported_options().unwrap();
        k.connect(&build_connect_string(&ConnectParams::new(t, HOSTID, kind), &o).unwrap())
    }

    #[test]
    fn connect_semantics_match_the_kernel() {
        let k = FakeKernel::new();
        k.add_target(FakeTarget::discovery("tcp", "127.0.0.1", "8009"));
        k.add_target(FakeTarget::io("tcp", "127.0.0.1", "4420", "nqn.io"));
        let dc = tid("127.0.0.1", "8009", WELL_KNOWN_DISC_NQN);
        assert_eq!(connect(&k, &dc, CtrlKind::Discovery).unwrap().instance, 0);
        // Discovery sessions never get EALREADY.
        assert_eq!(connect(&k, &dc, CtrlKind::Discovery).unwrap().instance, 1);
        let io = tid("127.0.0.1", "4420", "nqn.io");
        assert_eq!(connect(&k, &io, CtrlKind::Io).unwrap().instance, 2);
        assert!(matches!(
            connect(&k, &io, CtrlKind::Io),
            Err(ConnectError::AlreadyConnected)
        ));
        assert!(matches!(
            connect(&k, &tid("127.0.0.1", "4421", "nqn.io"), CtrlKind::Io),
            Err(ConnectError::Refused)
        ));
        assert!(matches!(
            connect(&k, &tid("127.0.0.1", "4420", "nqn.nope"), CtrlKind::Io),
            Err(ConnectError::RejectedByTarget)
        ));
        // `discovery` flag on an NVM subsystem: EINVAL.
        assert!(matches!(
            connect(&k, &tid("127.0.0.1", "4420", "nqn.io"), CtrlKind::Discovery),
            Err(ConnectError::InvalidArgument)
        ));
        // Options the kernel does not know, or not allowed for the transport.
        let bad = build_connect_string(
            &ConnectParams::new(&io, HOSTID, CtrlKind::Io),
            &SupportedOptions::from_names(["foo", "traddr", "trsvcid", "hostnqn", "hostid"]),
        )
        .unwrap();
        k.set_supported_options(SupportedOptions::from_names([
            "traddr", "hostnqn", "hostid",
        ]));
        assert!(matches!(
            k.connect(&bad),
            Err(ConnectError::InvalidArgument)
        ));
        k.set_supported_options(SupportedOptions::from_reply(KERNEL_6_1_OPTIONS).unwrap());
        k.fail_next_connect(Errno::ETIMEDOUT);
        assert!(matches!(
            connect(&k, &dc, CtrlKind::Discovery),
            Err(ConnectError::TimedOut)
        ));
        let evs = k.take_events();
        let kinds: Vec<(u32, NvmeEventKind)> = evs.iter().map(|e| (e.instance, e.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                (0, NvmeEventKind::Added),
                (0, NvmeEventKind::Connected),
                (1, NvmeEventKind::Added),
                (1, NvmeEventKind::Connected),
                (2, NvmeEventKind::Added),
                (2, NvmeEventKind::Connected),
            ]
        );
        assert_eq!(k.connect_log().len(), 9);
    }

    #[test]
    fn topology_follows_events_and_adoption_works() {
        let k = FakeKernel::new();
        k.add_target(FakeTarget::discovery("tcp", "::1", "8009"));
        k.add_target(FakeTarget::io("tcp", "::1", "4420", "nqn.io"));
        let mut topo = Topology::scan(&k).unwrap();
        assert!(topo.is_empty());
        let r = connect(
            &k,
            &tid("::1", "8009", WELL_KNOWN_DISC_NQN),
            CtrlKind::Discovery,
        )
        .unwrap();
        connect(&k, &tid("::1", "4420", "nqn.io"), CtrlKind::Io).unwrap();
        for e in k.take_events() {
            topo.apply(&k, &e).unwrap();
        }
        assert_eq!(topo.len(), 2);
        let c = topo.by_name(&r.device()).unwrap();
        assert!(c.is_dc());
        assert_eq!(c.address.src_addr.as_deref(), Some("::1"));
        assert_eq!(c.kato, Some(0));
        let ifs = k.interface_addresses().unwrap();
        // The same DC asked for again (even spelled differently) is adopted, not reconnected.
        let again = tid("0:0:0:0:0:0:0:1", "8009", WELL_KNOWN_DISC_NQN);
        assert_eq!(
            topo.find_match(&again, CtrlKind::Discovery, &ifs)
                .map(|c| c.instance),
            Some(0)
        );
        assert_eq!(topo.find_match(&again, CtrlKind::Io, &ifs), None);
        let io = tid("::1", "4420", "nqn.io");
        assert_eq!(
            topo.find_match(&io, CtrlKind::Io, &ifs).map(|c| c.instance),
            Some(1)
        );
        k.delete_controller("nvme1").unwrap();
        for e in k.take_events() {
            assert_eq!(topo.apply(&k, &e).unwrap(), TopologyChange::Removed(1));
        }
        assert_eq!(topo.find_match(&io, CtrlKind::Io, &ifs), None);
        assert!(k.delete_controller("nvme1").unwrap_err().is_not_found());
        assert_eq!(k.deleted(), vec!["nvme1", "nvme1"]);
    }

    #[test]
    fn sink_receives_events_and_loss_reconnect() {
        let k = FakeKernel::new();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = Arc::clone(&got);
        k.set_event_sink(Arc::new(move |e: NvmeEvent| g.lock().unwrap().push(e.kind)));
        k.add_target(FakeTarget::discovery("tcp", "127.0.0.1", "8009"));
        connect(
            &k,
            &tid("127.0.0.1", "8009", WELL_KNOWN_DISC_NQN),
            CtrlKind::Discovery,
        )
        .unwrap();
        k.set_state("nvme0", CtrlState::Connecting);
        assert_eq!(
            k.read_controller("nvme0")
                .unwrap()
                .unwrap()
                .address
                .src_addr,
            None
        );
        k.reconnect("nvme0");
        k.lose_controller("nvme0");
        assert_eq!(
            *got.lock().unwrap(),
            vec![
                NvmeEventKind::Added,
                NvmeEventKind::Connected,
                NvmeEventKind::Rediscover,
                NvmeEventKind::Connected,
                NvmeEventKind::Removed,
            ]
        );
        assert!(k.take_events().is_empty());
    }
}
