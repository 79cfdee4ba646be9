//! The kernel interface: the only module that touches the host's NVMe-oF stack.
//!
//! Everything goes through the narrow [`Kernel`] seam of primitive operations — options
//! query, connect, delete, list/read one controller or one of its attributes, admin
//! passthrough, interface addresses — with two implementations: [`SysKernel`] (the real
//! `/dev/nvme-fabrics`, sysfs and ioctl, rooted at injectable [`KernelPaths`] so tests can
//! point it at a fixture tree) and [`FakeKernel`] (in memory, scriptable: targets,
//! controllers, failures, log pages, AENs).
//! Policy lives above the seam, written once against `&dyn Kernel`:
//!
//! - [`fabrics`]: supported options, the connect-string builder, connect errors.
//! - [`sysfs`]: the controller model and the [`Topology`] (scan once, update per uevent).
//! - [`matching`]: whether an existing controller serves a candidate connection.
//! - [`netif`]: interface/address lookups for matching.
//! - [`admin`]: discovery log read, Supported Log Pages, Identify, TP8010 DIM.
//! - [`ioctl`]: the admin passthrough ioctl (the crate's only `unsafe`).
//! - [`netlink`]: a kernel uevent socket (`NETLINK_KOBJECT_UEVENT`).
//! - [`registry`]: nvme-cli 3's ownership registry (`/run/nvme/registry`), read and written
//!   through the seam (the exclusion list of `/etc/nvme` is read through it too).
//!
//! All operations are synchronous and may block (a connect can take a minute under a
//! global kernel mutex): async callers use `spawn_blocking` or a dedicated thread. Every
//! implementation is `Send + Sync`.

pub mod admin;
pub mod error;
pub mod fabrics;
pub mod fake;
pub mod ioctl;
pub mod matching;
pub mod nbft;
pub mod netif;
pub mod netlink;
pub mod registry;
pub mod sys;
pub mod sysfs;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

pub use admin::{DlpOptions, HostInfo, Registrant};
pub use error::{AdminError, BuildError, ConnectError, KernelError};
pub use fabrics::{build_connect_string, ConnectParams, ConnectString, CtrlKind, SupportedOptions};
pub use fake::FakeKernel;
pub use nbft::{BootTables, OWNER_NBFT};
pub use netif::IfAddr;
pub use registry::{RegistryError, OWNER_STAS};
pub use sys::SysKernel;
pub use sysfs::{Controller, CtrlAttr, CtrlState, CtrlUpdate, Dynamic, Topology, TopologyChange};

use crate::config::exclusions::ExclusionList;
use crate::proto::admin::AdminCmd;
use crate::proto::fabrics::ConnectReply;

/// Roots of the host trees the real implementation reads. Defaults are `/sys`, `/dev`,
/// `/proc`, `/etc` and `/run`; tests point them into a temporary directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelPaths {
    /// sysfs root.
    pub sys: PathBuf,
    /// devtmpfs root (`nvme-fabrics`, `nvme<N>`).
    pub dev: PathBuf,
    /// procfs root (`sys/kernel/osrelease`, `sys/kernel/ostype`).
    pub proc: PathBuf,
    /// `/etc` (`os-release`, `nvme/exclusions.conf`).
    pub etc: PathBuf,
    /// `/run` (`nvme/registry`).
    pub run: PathBuf,
}

impl Default for KernelPaths {
    fn default() -> Self {
        Self {
            sys: "/sys".into(),
            dev: "/dev".into(),
            proc: "/proc".into(),
            etc: "/etc".into(),
            run: "/run".into(),
        }
    }
}

impl KernelPaths {
    /// All four roots below one directory (`<root>/sys`, `<root>/dev`, …).
    #[must_use]
    pub fn under(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Self {
            sys: root.join("sys"),
            dev: root.join("dev"),
            proc: root.join("proc"),
            etc: root.join("etc"),
            run: root.join("run"),
        }
    }
}

/// The seam: primitive operations on the host's NVMe stack. Keep it narrow; build policy
/// on top (see the module docs).
pub trait Kernel: Send + Sync + fmt::Debug {
    /// The `/dev/nvme-fabrics` option names the kernel accepts (query, or version table).
    ///
    /// # Errors
    /// Permission denied (not root); other failures fall back to the version table.
    fn supported_options(&self) -> Result<SupportedOptions, KernelError>;

    /// Creates one controller: writes `opts` to `/dev/nvme-fabrics`, returns the reply.
    /// Blocks until the kernel is done (up to a minute or more).
    ///
    /// # Errors
    /// [`ConnectError`] with the reason the kernel gave.
    fn connect(&self, opts: &ConnectString) -> Result<ConnectReply, ConnectError>;

    /// Deletes controller `device` (`nvme<N>`): writes `1` to `delete_controller`. Blocks.
    ///
    /// # Errors
    /// [`KernelError`] (not found: already gone; EBUSY: never went live, 6.3+).
    fn delete_controller(&self, device: &str) -> Result<(), KernelError>;

    /// Names of all NVMe controllers, in instance order.
    ///
    /// # Errors
    /// [`KernelError`] when the list cannot be read.
    fn list_controllers(&self) -> Result<Vec<String>, KernelError>;

    /// Reads one controller; `Ok(None)` when it does not exist.
    ///
    /// # Errors
    /// [`KernelError`] on unexpected failures (missing attributes are not errors).
    fn read_controller(&self, device: &str) -> Result<Option<Controller>, KernelError>;

    /// Reads one attribute of controller `device` (what the uevent path needs between full
    /// reads); `None` when the attribute or the controller is missing, empty or unreadable.
    fn read_ctrl_attr(&self, device: &str, attr: CtrlAttr) -> Option<String>;

    /// Issues one admin command on `device`. `data` is exactly `cmd.data_len` bytes.
    /// Returns CQE dword 0.
    ///
    /// # Errors
    /// [`AdminError`]: NVMe status, open failure (not live), ioctl failure.
    fn admin(&self, device: &str, cmd: &AdminCmd, data: &mut [u8]) -> Result<u32, AdminError>;

    /// IPv4/IPv6 addresses of all interfaces, in `getifaddrs` order.
    ///
    /// # Errors
    /// [`KernelError`] when the list cannot be read.
    fn interface_addresses(&self) -> Result<Vec<IfAddr>, KernelError>;

    /// Host name and OS version string for registrations.
    fn host_info(&self) -> HostInfo;

    /// The owner nvme-cli 3's registry names for `device` (`None`: unowned, or the
    /// registry cannot be read).
    fn owner(&self, device: &str) -> Option<String>;

    /// Every owned controller of the registry: device → owner.
    fn owners(&self) -> BTreeMap<String, String>;

    /// Records a controller stas just created (`instance=N` came back) as stas's: a complete
    /// new registry entry, replacing a stale one.
    ///
    /// # Errors
    /// [`RegistryError`]: the caller logs it; it never fails the connection.
    fn register(&self, device: &str) -> Result<(), RegistryError>;

    /// Claims a controller stas adopts, unless another owner holds it; the owner afterwards.
    ///
    /// # Errors
    /// [`RegistryError`]: the caller logs it.
    fn claim(&self, device: &str) -> Result<String, RegistryError>;

    /// The host's exclusion list (`/etc/nvme/exclusions.conf(.d)`), read afresh.
    fn exclusions(&self) -> ExclusionList;

    /// The firmware's NVMe boot tables (`/sys/firmware/acpi/tables/NBFT*`), read once.
    /// Controllers they describe count as owner `nbft` in [`Kernel::read_controller`],
    /// [`Kernel::owner`] and [`Kernel::owners`] when the registry names no owner.
    fn boot_tables(&self) -> Arc<BootTables> {
        Arc::default()
    }

    /// The host's network interfaces by MAC address (for the NBFT's HFIs).
    fn interfaces_by_mac(&self) -> BTreeMap<[u8; 6], String> {
        BTreeMap::new()
    }
}
