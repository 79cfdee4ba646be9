//! The sysfs view of NVMe controllers: one controller read from
//! `/sys/class/nvme/nvme<N>/` into a typed [`Controller`], single attributes ([`CtrlAttr`]),
//! and the [`Topology`] (all controllers) that is scanned once and then updated per uevent
//! with a [`CtrlUpdate`]: the controller read in full, or only its [`Dynamic`] fields (what
//! changes while a controller exists), or dropped.
//!
//! Attributes are read with one `read()`, the newline and trailing spaces stripped
//! (kernel-interface.md §2); empty, missing or `(efault)` values count as absent. A read
//! error on one attribute is never fatal.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::error::KernelError;
use super::matching::{self, ExistingId};
use super::netif::IfAddr;
use super::Kernel;
use crate::model::trid::{TransportId, WELL_KNOWN_DISC_NQN};
use crate::proto::address::CtrlAddress;
use crate::proto::identify::{CntrlType, DcType};
use crate::proto::uevent::{ctrl_instance, NvmeEvent, NvmeEventKind};

pub use super::fabrics::CtrlKind;

/// Controller state (sysfs `state`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtrlState {
    /// `new`.
    New,
    /// `live`.
    Live,
    /// `resetting`.
    Resetting,
    /// `connecting`.
    Connecting,
    /// `deleting`.
    Deleting,
    /// `deleting (no IO)`.
    DeletingNoIo,
    /// `dead`.
    Dead,
    /// Anything else (`unknown state`, unreadable).
    Unknown(String),
}

impl CtrlState {
    /// From the sysfs text.
    #[must_use]
    pub fn parse(s: &str) -> Self {
        match s {
            "new" => Self::New,
            "live" => Self::Live,
            "resetting" => Self::Resetting,
            "connecting" => Self::Connecting,
            "deleting" => Self::Deleting,
            "deleting (no IO)" => Self::DeletingNoIo,
            "dead" => Self::Dead,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// The sysfs spelling.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::New => "new",
            Self::Live => "live",
            Self::Resetting => "resetting",
            Self::Connecting => "connecting",
            Self::Deleting => "deleting",
            Self::DeletingNoIo => "deleting (no IO)",
            Self::Dead => "dead",
            Self::Unknown(s) => s,
        }
    }

    /// Being torn down or dead: never adopt such a controller.
    #[must_use]
    pub fn is_going_away(&self) -> bool {
        matches!(self, Self::Deleting | Self::DeletingNoIo | Self::Dead)
    }
}

/// One controller as sysfs shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controller {
    /// `nvme<N>`.
    pub device: String,
    /// N.
    pub instance: u32,
    /// `tcp`, `rdma`, `fc`, `loop`, `pcie`, …
    pub transport: String,
    /// The parsed `address` attribute (plus `NVME_HOST_*` from `uevent` when the address
    /// attribute lacks them).
    pub address: CtrlAddress,
    /// Subsystem NQN from Identify (may be a DC's unique NQN even when the well-known one was
    /// used to connect).
    pub subsysnqn: String,
    /// State.
    pub state: CtrlState,
    /// `cntrltype` (5.18+).
    pub cntrltype: Option<CntrlType>,
    /// `dctype` (5.18+).
    pub dctype: Option<DcType>,
    /// Host NQN used.
    pub hostnqn: String,
    /// Host ID used.
    pub hostid: String,
    /// Keep-alive timeout in seconds.
    pub kato: Option<u32>,
    /// Controller id.
    pub cntlid: Option<u16>,
    /// Model, trimmed.
    pub model: String,
    /// Serial, trimmed.
    pub serial: String,
    /// Firmware revision, trimmed.
    pub firmware_rev: String,
    /// Owning subsystem, `nvme-subsys<M>`, when found.
    pub subsystem: Option<String>,
    /// That subsystem's `subsystype` (`discovery`/`nvm`, 5.16+).
    pub subsystype: Option<String>,
    /// Child devices (namespaces `nvme<S>c<N>n<M>`/`nvme<N>n<M>`, `hwmon<K>`, …).
    pub children: Vec<String>,
    /// Its owner in nvme-cli 3's registry (`/run/nvme/registry`) when it was read; `None`:
    /// unowned (or not read: the registry is not sysfs, see [`crate::kernel::Kernel::owner`]).
    pub owner: Option<String>,
}

impl Controller {
    /// Whether `other` is a read of the same kernel connection (same device, transport,
    /// address, subsystem and host), whatever its state.
    #[must_use]
    pub fn same_connection(&self, other: &Controller) -> bool {
        self.device == other.device
            && self.transport == other.transport
            && self.address == other.address
            && self.subsysnqn == other.subsysnqn
            && self.hostnqn == other.hostnqn
    }

    /// A skeleton controller (tests and the fake fill in the rest).
    #[must_use]
    pub fn new(instance: u32, transport: &str) -> Self {
        Self {
            device: format!("nvme{instance}"),
            instance,
            transport: transport.to_owned(),
            address: CtrlAddress::default(),
            subsysnqn: String::new(),
            state: CtrlState::Live,
            cntrltype: None,
            dctype: None,
            hostnqn: String::new(),
            hostid: String::new(),
            kato: None,
            cntlid: None,
            model: String::new(),
            serial: String::new(),
            firmware_rev: String::new(),
            subsystem: None,
            subsystype: None,
            children: Vec::new(),
            owner: None,
        }
    }

    /// Namespace children.
    pub fn namespaces(&self) -> impl Iterator<Item = &str> {
        self.children
            .iter()
            .map(String::as_str)
            .filter(|c| is_namespace_name(c))
    }

    /// nvme-stas `is_dc_device`: well-known NQN, or `cntrltype == discovery`, or no
    /// children (pre-5.18 heuristic).
    #[must_use]
    pub fn is_dc(&self) -> bool {
        self.subsysnqn == WELL_KNOWN_DISC_NQN
            || self.cntrltype == Some(CntrlType::Discovery)
            || self.children.is_empty()
    }

    /// nvme-stas `is_ioc_device`: `cntrltype == io`, or has children.
    #[must_use]
    pub fn is_ioc(&self) -> bool {
        self.cntrltype == Some(CntrlType::Io) || !self.children.is_empty()
    }

    /// Whether the controller is of `kind` (by the rules above).
    #[must_use]
    pub fn is_kind(&self, kind: CtrlKind) -> bool {
        match kind {
            CtrlKind::Discovery => self.is_dc(),
            CtrlKind::Io => self.is_ioc(),
        }
    }

    /// The identity used to match it against a candidate connection.
    #[must_use]
    pub fn existing_id(&self) -> ExistingId {
        let s = |o: &Option<String>| o.clone().unwrap_or_default();
        ExistingId {
            transport: self.transport.clone(),
            traddr: s(&self.address.traddr),
            trsvcid: s(&self.address.trsvcid),
            subsysnqn: self.subsysnqn.clone(),
            host_traddr: s(&self.address.host_traddr),
            host_iface: s(&self.address.host_iface),
            host_nqn: self.hostnqn.clone(),
            src_addr: s(&self.address.src_addr),
        }
    }
}

fn is_namespace_name(c: &str) -> bool {
    // nvme<S>c<C>n<N> (multipath path) or nvme<C>n<N>
    let Some(rest) = c.strip_prefix("nvme") else {
        return false;
    };
    let parts: Vec<&str> = rest.split(['c', 'n']).collect();
    (parts.len() == 2 || parts.len() == 3)
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Reads one attribute: `None` when missing, unreadable, empty or `(efault)`. sysfs hands
/// out a whole attribute (at most a page) to the first `read()`, so this is open, one read,
/// close (`read_to_string` would add a `statx` and a second read: two thirds more system
/// calls, which the uevent path pays per attribute).
#[must_use]
pub fn read_attr(path: &Path) -> Option<String> {
    let mut buf = [0u8; 4096];
    let n = io::Read::read(&mut fs::File::open(path).ok()?, &mut buf).ok()?;
    let s = std::str::from_utf8(&buf[..n]).ok()?;
    let s = s.trim_end_matches(['\n', ' ', '\0']);
    (!s.is_empty() && s != "(efault)").then(|| s.to_owned())
}

/// `/sys/class/nvme/<device>`.
#[must_use]
pub fn ctrl_dir(sys: &Path, device: &str) -> PathBuf {
    sys.join("class/nvme").join(device)
}

/// Lists the controller names under `<sys>/class/nvme`, sorted by instance.
///
/// # Errors
/// [`KernelError`] when the directory cannot be listed (a missing directory is an empty
/// list: no NVMe driver loaded).
pub fn list_controllers(sys: &Path) -> Result<Vec<String>, KernelError> {
    let dir = sys.join("class/nvme");
    let rd = match fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(KernelError::new("list", dir, e)),
    };
    let mut v: Vec<(u32, String)> = rd
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| ctrl_instance(&n).map(|i| (i, n)))
        .collect();
    v.sort();
    Ok(v.into_iter().map(|(_, n)| n).collect())
}

fn children(dir: &Path) -> Vec<String> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| e.path().join("uevent").exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    v.sort();
    v
}

/// Finds the subsystem holding `device`: first the cheap candidates (the subsystem number in
/// a multipath namespace name, then `nvme-subsys<instance>`, which is right for the first
/// controller of a subsystem), then a listing of the subsystems.
fn find_subsystem(sys: &Path, device: &str, instance: u32, children: &[String]) -> Option<String> {
    let class = sys.join("class/nvme-subsystem");
    let from_ns = children.iter().filter_map(|c| {
        let rest = c.strip_prefix("nvme")?;
        let (s, tail) = rest.split_once('c')?;
        tail.contains('n').then(|| format!("nvme-subsys{s}"))
    });
    let candidates: Vec<String> = from_ns.chain([format!("nvme-subsys{instance}")]).collect();
    for c in &candidates {
        if class.join(c).join(device).exists() {
            return Some(c.clone());
        }
    }
    let rd = fs::read_dir(&class).ok()?;
    rd.filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .find(|n| n.starts_with("nvme-subsys") && class.join(n).join(device).exists())
}

/// The address attribute omits unset options (and, before 6.1, the host side): take
/// traddr, trsvcid, host_traddr and host_iface from the uevent variables when it lacks them.
/// `var` gets the variable's name (`"NVME_TRADDR"`) and returns its value, `none` as absent.
fn fill_from_uevent(a: &mut CtrlAddress, var: impl Fn(&str) -> Option<String>) {
    let fill = |slot: &mut Option<String>, name: &str| {
        if slot.is_none() {
            *slot = var(name);
        }
    };
    fill(&mut a.traddr, "NVME_TRADDR");
    fill(&mut a.trsvcid, "NVME_TRSVCID");
    fill(&mut a.host_traddr, "NVME_HOST_TRADDR");
    fill(&mut a.host_iface, "NVME_HOST_IFACE");
}

/// The controller attributes read one at a time (the uevent path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtrlAttr {
    /// `state`.
    State,
    /// `address`.
    Address,
    /// `cntlid`.
    Cntlid,
    /// `subsysnqn` (absent before Identify: `(efault)`).
    Subsysnqn,
    /// `cntrltype` (5.18+; `reserved` before Identify).
    Cntrltype,
}

impl CtrlAttr {
    /// The attribute's file name.
    #[must_use]
    pub fn file_name(self) -> &'static str {
        match self {
            Self::State => "state",
            Self::Address => "address",
            Self::Cntlid => "cntlid",
            Self::Subsysnqn => "subsysnqn",
            Self::Cntrltype => "cntrltype",
        }
    }
}

/// Reads one attribute of controller `device`; `None` when it or the controller is missing.
#[must_use]
pub fn read_ctrl_attr(sys: &Path, device: &str, attr: CtrlAttr) -> Option<String> {
    ctrl_instance(device)?;
    read_attr(&ctrl_dir(sys, device).join(attr.file_name()))
}

/// The fields of an identified controller that change while it exists: its state, the
/// source address of its connection (`src_addr`, 6.1+, only while live) and its controller
/// id (new after a reconnect). Everything else is fixed once Identify has run: the
/// subsystem, the controller type, the host side. Namespaces come and go without a
/// controller uevent, so no event says when to re-read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dynamic {
    /// `state`.
    pub state: CtrlState,
    /// `address`, completed from the event's variables as [`read_controller`] does from
    /// the `uevent` attribute.
    pub address: CtrlAddress,
    /// `cntlid`.
    pub cntlid: Option<u16>,
}

impl Dynamic {
    /// Reads the dynamic fields of the controller `ev` is about: three attributes. `None`
    /// when the controller is gone.
    #[must_use]
    pub fn read(k: &dyn Kernel, ev: &NvmeEvent) -> Option<Self> {
        let state = CtrlState::parse(&k.read_ctrl_attr(&ev.device, CtrlAttr::State)?);
        let mut address = k
            .read_ctrl_attr(&ev.device, CtrlAttr::Address)
            .map(|a| CtrlAddress::parse(&a))
            .unwrap_or_default();
        fill_from_uevent(&mut address, |name| {
            match name {
                "NVME_TRADDR" => &ev.traddr,
                "NVME_TRSVCID" => &ev.trsvcid,
                "NVME_HOST_TRADDR" => &ev.host_traddr,
                _ => &ev.host_iface,
            }
            .clone()
        });
        let cntlid = k
            .read_ctrl_attr(&ev.device, CtrlAttr::Cntlid)
            .and_then(|s| s.parse().ok());
        Some(Self {
            state,
            address,
            cntlid,
        })
    }
}

/// What one uevent changes in a [`Topology`] (made by the uevent thread, applied by a core).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtrlUpdate {
    /// Nothing to change (an AEN, a controller without an identity yet, or one this daemon
    /// does not follow).
    Keep,
    /// The controller, read in full.
    Full(Box<Controller>),
    /// Only its [`Dynamic`] fields were re-read.
    Dynamic(Box<Dynamic>),
    /// Forget it: removed, gone, or not followed.
    Drop,
}

/// Reads one controller. `Ok(None)` when it does not exist (any more).
///
/// # Errors
/// Never for attribute problems (they read as absent); reserved for future use.
pub fn read_controller(sys: &Path, device: &str) -> Result<Option<Controller>, KernelError> {
    let Some(instance) = ctrl_instance(device) else {
        return Ok(None);
    };
    let dir = ctrl_dir(sys, device);
    if !dir.exists() {
        return Ok(None);
    }
    let attr = |name: &str| read_attr(&dir.join(name));
    let mut address = attr("address")
        .map(|a| CtrlAddress::parse(&a))
        .unwrap_or_default();
    if let Some(ev) = attr("uevent") {
        fill_from_uevent(&mut address, |k| {
            ev.lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
                .filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("none"))
                .map(str::to_owned)
        });
    }
    let subsysnqn = attr("subsysnqn").unwrap_or_default();
    let children = children(&dir);
    // Before Identify (an `add` uevent) the controller has no subsystem yet: skip the search,
    // whose fallback lists every subsystem.
    let subsystem = if subsysnqn.is_empty() {
        None
    } else {
        find_subsystem(sys, device, instance, &children)
    };
    let subsystype = subsystem
        .as_ref()
        .and_then(|s| read_attr(&sys.join("class/nvme-subsystem").join(s).join("subsystype")));
    Ok(Some(Controller {
        device: device.to_owned(),
        instance,
        transport: attr("transport").unwrap_or_default(),
        address,
        subsysnqn,
        state: CtrlState::parse(&attr("state").unwrap_or_default()),
        cntrltype: attr("cntrltype").and_then(|s| CntrlType::from_sysfs(&s)),
        dctype: attr("dctype").and_then(|s| DcType::from_sysfs(&s)),
        hostnqn: attr("hostnqn").unwrap_or_default(),
        hostid: attr("hostid").unwrap_or_default(),
        kato: attr("kato").and_then(|s| s.parse().ok()),
        cntlid: attr("cntlid").and_then(|s| s.parse().ok()),
        model: attr("model").unwrap_or_default().trim().to_owned(),
        serial: attr("serial").unwrap_or_default().trim().to_owned(),
        firmware_rev: attr("firmware_rev").unwrap_or_default().trim().to_owned(),
        subsystem,
        subsystype,
        children,
        owner: None,
    }))
}

/// Writes `1` to `delete_controller` (synchronous in the kernel: blocks until torn down).
///
/// # Errors
/// [`KernelError`]; EBUSY (6.3+) means the controller never went live.
pub fn delete_controller(sys: &Path, device: &str) -> Result<(), KernelError> {
    let path = ctrl_dir(sys, device).join("delete_controller");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| KernelError::new("open", &path, e))?;
    io::Write::write_all(&mut f, b"1").map_err(|e| KernelError::new("write", &path, e))
}

/// What one uevent did to the topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopologyChange {
    /// A controller appeared.
    Added(u32),
    /// A known controller was re-read (or was unchanged).
    Updated(u32),
    /// A controller disappeared.
    Removed(u32),
    /// Nothing to do (e.g. an AEN: sysfs does not change).
    None,
}

/// All controllers, keyed by instance. Scanned once, then maintained per uevent: with
/// [`Topology::apply_update`] from what the uevent thread read, or (tests, tools) with
/// [`Topology::apply`], which re-reads the whole controller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    ctrls: BTreeMap<u32, Controller>,
}

impl Topology {
    /// Full scan: list the controllers and read each one.
    ///
    /// # Errors
    /// [`KernelError`] when the controller list cannot be read.
    pub fn scan(k: &dyn Kernel) -> Result<Self, KernelError> {
        let mut t = Self::default();
        for name in k.list_controllers()? {
            if let Some(c) = k.read_controller(&name)? {
                t.ctrls.insert(c.instance, c);
            }
        }
        Ok(t)
    }

    /// Re-reads one controller (after a connect, or on any event about it).
    ///
    /// # Errors
    /// [`KernelError`] from the read.
    pub fn refresh(&mut self, k: &dyn Kernel, device: &str) -> Result<TopologyChange, KernelError> {
        let Some(instance) = ctrl_instance(device) else {
            return Ok(TopologyChange::None);
        };
        Ok(match k.read_controller(device)? {
            Some(c) => {
                if self.ctrls.insert(instance, c).is_some() {
                    TopologyChange::Updated(instance)
                } else {
                    TopologyChange::Added(instance)
                }
            }
            None => {
                if self.ctrls.remove(&instance).is_some() {
                    TopologyChange::Removed(instance)
                } else {
                    TopologyChange::None
                }
            }
        })
    }

    /// Applies one uevent: `remove` drops the controller without reading anything; `add`,
    /// `connected`, `rediscover` and other changes re-read that controller only; an AEN
    /// changes nothing in sysfs.
    ///
    /// # Errors
    /// [`KernelError`] from the read.
    pub fn apply(&mut self, k: &dyn Kernel, ev: &NvmeEvent) -> Result<TopologyChange, KernelError> {
        match ev.kind {
            NvmeEventKind::Removed => Ok(if self.ctrls.remove(&ev.instance).is_some() {
                TopologyChange::Removed(ev.instance)
            } else {
                TopologyChange::None
            }),
            NvmeEventKind::Aen(_) => Ok(TopologyChange::None),
            NvmeEventKind::Added
            | NvmeEventKind::Connected
            | NvmeEventKind::Rediscover
            | NvmeEventKind::Changed => self.refresh(k, &ev.device),
        }
    }

    /// Takes the registry's owners (device → owner; a controller not named is unowned).
    pub fn set_owners(&mut self, owners: &BTreeMap<String, String>) {
        for c in self.ctrls.values_mut() {
            c.owner = owners.get(&c.device).cloned();
        }
    }

    /// Records the owner of `device` (after a registry write or read). `None` forgets it.
    pub fn set_owner(&mut self, device: &str, owner: Option<String>) {
        if let Some(c) = ctrl_instance(device).and_then(|i| self.ctrls.get_mut(&i)) {
            c.owner = owner;
        }
    }

    /// Applies what the uevent thread read about controller `instance`.
    pub fn apply_update(&mut self, instance: u32, u: CtrlUpdate) -> TopologyChange {
        match u {
            CtrlUpdate::Keep => TopologyChange::None,
            CtrlUpdate::Full(mut c) => {
                // The uevent thread may have read a controller we had just connected before
                // our connect thread recorded it in the registry, and its update may be
                // applied after that connect's own read: an unowned read of the same
                // connection does not forget the owner already known.
                if let Some(old) = self.ctrls.get(&instance) {
                    if c.owner.is_none() && old.same_connection(&c) {
                        c.owner.clone_from(&old.owner);
                    }
                }
                if self.ctrls.insert(instance, *c).is_some() {
                    TopologyChange::Updated(instance)
                } else {
                    TopologyChange::Added(instance)
                }
            }
            CtrlUpdate::Dynamic(d) => match self.ctrls.get_mut(&instance) {
                Some(c) => {
                    c.state = d.state;
                    c.address = d.address;
                    c.cntlid = d.cntlid;
                    TopologyChange::Updated(instance)
                }
                None => TopologyChange::None,
            },
            CtrlUpdate::Drop => match self.ctrls.remove(&instance) {
                Some(_) => TopologyChange::Removed(instance),
                None => TopologyChange::None,
            },
        }
    }

    /// Inserts or replaces a controller (tests, or a caller that read it itself).
    pub fn insert(&mut self, c: Controller) {
        self.ctrls.insert(c.instance, c);
    }

    /// Forgets a controller.
    pub fn remove(&mut self, instance: u32) -> Option<Controller> {
        self.ctrls.remove(&instance)
    }

    /// One controller by instance.
    #[must_use]
    pub fn get(&self, instance: u32) -> Option<&Controller> {
        self.ctrls.get(&instance)
    }

    /// One controller by name.
    #[must_use]
    pub fn by_name(&self, device: &str) -> Option<&Controller> {
        ctrl_instance(device).and_then(|i| self.get(i))
    }

    /// All controllers in instance order.
    pub fn iter(&self) -> impl Iterator<Item = &Controller> {
        self.ctrls.values()
    }

    /// Number of controllers.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ctrls.len()
    }

    /// No controllers.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ctrls.is_empty()
    }

    /// The existing controller of `kind` that `cand` can adopt (nvme-stas §5.10 rules),
    /// skipping controllers being deleted; a `live` one is preferred when several match.
    #[must_use]
    pub fn find_match(
        &self,
        cand: &TransportId,
        kind: CtrlKind,
        ifaddrs: &[IfAddr],
    ) -> Option<&Controller> {
        let mut found: Option<&Controller> = None;
        for c in self.ctrls.values() {
            if c.state.is_going_away() || !c.is_kind(kind) {
                continue;
            }
            if !matching::cid_matches_tid(&c.existing_id(), cand, ifaddrs) {
                continue;
            }
            if c.state == CtrlState::Live {
                return Some(c);
            }
            found = found.or(Some(c));
        }
        found
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::fs::{create_dir_all, write};
    use std::os::unix::fs::symlink;

    /// Writes a controller into a fixture sysfs tree, the way the 6.1 guest shows it.
    pub(crate) fn fixture_ctrl(sys: &Path, instance: u32, attrs: &[(&str, &str)], ns: bool) {
        let real = sys.join(format!("devices/virtual/nvme-fabrics/ctl/nvme{instance}"));
        create_dir_all(&real).unwrap();
        for (k, v) in attrs {
            write(real.join(k), format!("{v}\n")).unwrap();
        }
        write(real.join("delete_controller"), "").unwrap();
        create_dir_all(real.join("power")).unwrap();
        if ns {
            let nsdir = real.join(format!("nvme{instance}c{instance}n1"));
            create_dir_all(&nsdir).unwrap();
            write(nsdir.join("uevent"), "DEVTYPE=disk\n").unwrap();
        }
        create_dir_all(sys.join("class/nvme")).unwrap();
        symlink(&real, sys.join(format!("class/nvme/nvme{instance}"))).unwrap();
        let subsys = sys.join(format!("class/nvme-subsystem/nvme-subsys{instance}"));
        create_dir_all(&subsys).unwrap();
        let kind = if ns { "nvm" } else { "discovery" };
        write(subsys.join("subsystype"), format!("{kind}\n")).unwrap();
        symlink(&real, subsys.join(format!("nvme{instance}"))).unwrap();
    }

    pub(crate) fn dc_attrs() -> Vec<(&'static str, &'static str)> {
        vec![
            ("address", "traddr=127.0.0.1,trsvcid=8009,src_addr=127.0.0.1"),
            ("cntlid", "1"),
            ("cntrltype", "discovery"),
            ("dctype", "none"),
            ("firmware_rev", "6.1.0-56"),
            ("hostid", "e4498cf1-1a81-4cfd-9f10-9e947466ed0f"),
            ("hostnqn", "nqn.2014-08.org.nvmexpress:uuid:e4498cf1-1a81-4cfd-9f10-9e947466ed0f"),
            ("kato", "0"),
            ("model", "Linux                                   "),
            ("serial", "b4cf05c8341bd35e725a"),
            ("state", "live"),
            ("subsysnqn", WELL_KNOWN_DISC_NQN),
            ("transport", "tcp"),
            (
                "uevent",
                "MAJOR=246\nMINOR=0\nDEVNAME=nvme0\nNVME_TRTYPE=tcp\nNVME_TRADDR=127.0.0.1\nNVME_TRSVCID=8009\nNVME_HOST_TRADDR=none\nNVME_HOST_IFACE=none",
            ),
        ]
    }

    #[test]
    fn reads_the_6_1_discovery_controller() {
        let dir = tempfile::tempdir().unwrap();
        fixture_ctrl(dir.path(), 0, &dc_attrs(), false);
        let c = read_controller(dir.path(), "nvme0").unwrap().unwrap();
        assert_eq!(c.transport, "tcp");
        assert_eq!(c.address.traddr.as_deref(), Some("127.0.0.1"));
        assert_eq!(c.address.src_addr.as_deref(), Some("127.0.0.1"));
        assert_eq!(c.address.host_traddr, None);
        assert_eq!(c.state, CtrlState::Live);
        assert_eq!(c.cntrltype, Some(CntrlType::Discovery));
        assert_eq!(c.dctype, Some(DcType::None));
        assert_eq!(c.kato, Some(0));
        assert_eq!(c.model, "Linux");
        assert_eq!(c.subsystem.as_deref(), Some("nvme-subsys0"));
        assert_eq!(c.subsystype.as_deref(), Some("discovery"));
        assert!(c.children.is_empty(), "power/ has no uevent: not a child");
        assert!(c.is_dc() && !c.is_ioc());
        assert_eq!(read_controller(dir.path(), "nvme7").unwrap(), None);
        assert_eq!(read_controller(dir.path(), "nvme0n1").unwrap(), None);
    }

    #[test]
    fn ioc_children_and_legacy_attributes() {
        let dir = tempfile::tempdir().unwrap();
        // A pre-5.18 I/O controller: no cntrltype/dctype, no src_addr, host fields only in
        // the uevent file.
        let attrs = [
            ("address", "traddr=10.0.0.1,trsvcid=4420"),
            ("state", "connecting"),
            ("subsysnqn", "nqn.io"),
            ("transport", "tcp"),
            ("uevent", "NVME_TRTYPE=tcp\nNVME_TRADDR=10.0.0.1\nNVME_TRSVCID=4420\nNVME_HOST_TRADDR=10.0.0.2\nNVME_HOST_IFACE=eth1"),
        ];
        fixture_ctrl(dir.path(), 3, &attrs, true);
        let c = read_controller(dir.path(), "nvme3").unwrap().unwrap();
        assert_eq!(c.cntrltype, None);
        assert_eq!(c.address.host_traddr.as_deref(), Some("10.0.0.2"));
        assert_eq!(c.address.host_iface.as_deref(), Some("eth1"));
        assert_eq!(c.namespaces().collect::<Vec<_>>(), vec!["nvme3c3n1"]);
        assert!(c.is_ioc() && !c.is_dc());
        assert_eq!(c.state, CtrlState::Connecting);
        assert_eq!(c.subsystype.as_deref(), Some("nvm"));
    }

    #[test]
    fn dc_and_ioc_truth_tables() {
        // test-udev.py test_is_dc_device / test_is_ioc_device
        let mut c = Controller::new(1, "tcp");
        c.children = vec!["vera".into(), "Chuck".into(), "Dave".into()];
        assert!(!c.is_dc());
        c.subsysnqn = WELL_KNOWN_DISC_NQN.into();
        assert!(c.is_dc());
        c.subsysnqn.clear();
        c.cntrltype = Some(CntrlType::Discovery);
        assert!(c.is_dc());
        c.cntrltype = None;
        c.children.clear();
        assert!(c.is_dc());
        assert!(!c.is_ioc());
        c.cntrltype = Some(CntrlType::Io);
        assert!(c.is_ioc());
        c.cntrltype = None;
        c.children = vec!["x".into()];
        assert!(c.is_ioc());
    }

    #[test]
    fn list_sorted_and_delete_writes_one() {
        let dir = tempfile::tempdir().unwrap();
        for i in [10, 2, 0] {
            fixture_ctrl(dir.path(), i, &dc_attrs(), false);
        }
        assert_eq!(
            list_controllers(dir.path()).unwrap(),
            vec!["nvme0", "nvme2", "nvme10"]
        );
        delete_controller(dir.path(), "nvme2").unwrap();
        let written = fs::read_to_string(
            dir.path()
                .join("devices/virtual/nvme-fabrics/ctl/nvme2/delete_controller"),
        )
        .unwrap();
        assert_eq!(written, "1");
        assert!(delete_controller(dir.path(), "nvme5")
            .unwrap_err()
            .is_not_found());
        let empty = tempfile::tempdir().unwrap();
        assert!(list_controllers(empty.path()).unwrap().is_empty());
    }

    #[test]
    fn a_late_unowned_read_of_the_same_connection_keeps_the_owner() {
        let mut c = Controller::new(3, "tcp");
        c.subsysnqn = "nqn.x:sub".into();
        c.owner = Some("stas".into());
        let mut t = Topology::default();
        t.insert(c.clone());
        let mut stale = c.clone();
        stale.owner = None;
        t.apply_update(3, CtrlUpdate::Full(Box::new(stale.clone())));
        assert_eq!(t.get(3).unwrap().owner.as_deref(), Some("stas"));
        // Another connection that reuses the instance is read as it is.
        stale.subsysnqn = "nqn.x:other".into();
        t.apply_update(3, CtrlUpdate::Full(Box::new(stale)));
        assert_eq!(t.get(3).unwrap().owner, None);
        // And an explicit owner change is taken.
        let mut other = c;
        other.owner = Some("discoverd".into());
        t.apply_update(3, CtrlUpdate::Full(Box::new(other)));
        assert_eq!(t.get(3).unwrap().owner.as_deref(), Some("discoverd"));
    }

    #[test]
    fn state_spellings() {
        for s in [
            "new",
            "live",
            "resetting",
            "connecting",
            "deleting",
            "deleting (no IO)",
            "dead",
            "unknown state",
        ] {
            assert_eq!(CtrlState::parse(s).as_str(), s);
        }
        assert!(CtrlState::parse("deleting (no IO)").is_going_away());
        assert!(!CtrlState::parse("connecting").is_going_away());
        assert!(is_namespace_name("nvme0n1") && is_namespace_name("nvme1c2n3"));
        assert!(
            !is_namespace_name("hwmon0")
                && !is_namespace_name("nvme1")
                && !is_namespace_name("nvmecn")
        );
    }
}
