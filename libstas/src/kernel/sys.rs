//! [`SysKernel`]: the [`Kernel`] seam on the real host, rooted at [`KernelPaths`].

use std::collections::BTreeMap;
use std::fs::File;

use std::sync::{Arc, OnceLock};

use super::admin::HostInfo;
use super::error::{AdminError, ConnectError, KernelError};
use super::fabrics::{connect_at, query_supported_options, ConnectString, SupportedOptions};
use super::ioctl::{admin_passthru, open_error};
use super::nbft::{interfaces_by_mac, BootTables, ACPI_TABLES};
use super::netif::{system_ifaddrs, IfAddr};
use super::registry::{Registry, RegistryError, OWNER_STAS};
use super::sysfs::{self, read_attr, Controller, CtrlAttr};
use super::{Kernel, KernelPaths};
use crate::config::exclusions::ExclusionList;
use crate::proto::admin::AdminCmd;
use crate::proto::fabrics::ConnectReply;
use crate::proto::uevent::ctrl_instance;

/// The real kernel.
#[derive(Debug, Clone, Default)]
pub struct SysKernel {
    paths: KernelPaths,
    boot: Arc<OnceLock<Arc<BootTables>>>,
}

impl SysKernel {
    /// A kernel interface rooted at `paths`.
    #[must_use]
    pub fn new(paths: KernelPaths) -> Self {
        Self {
            paths,
            boot: Arc::default(),
        }
    }

    /// nvme-cli 3's registry under these roots.
    fn registry(&self) -> Registry {
        Registry::new(
            self.paths.run.join("nvme/registry"),
            self.paths.sys.join("kernel/uevent_seqnum"),
        )
    }

    /// The roots in use.
    #[must_use]
    pub fn paths(&self) -> &KernelPaths {
        &self.paths
    }

    /// The running kernel's release (`/proc/sys/kernel/osrelease`), or `""`.
    #[must_use]
    pub fn release(&self) -> String {
        read_attr(&self.paths.proc.join("sys/kernel/osrelease")).unwrap_or_default()
    }
}

fn os_release_field(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim().trim_matches(['"', '\'']).to_owned())
}

impl Kernel for SysKernel {
    fn supported_options(&self) -> Result<SupportedOptions, KernelError> {
        query_supported_options(&self.paths.dev.join("nvme-fabrics"), &self.release())
    }

    fn connect(&self, opts: &ConnectString) -> Result<ConnectReply, ConnectError> {
        connect_at(&self.paths.dev.join("nvme-fabrics"), opts)
    }

    fn delete_controller(&self, device: &str) -> Result<(), KernelError> {
        sysfs::delete_controller(&self.paths.sys, device)
    }

    fn list_controllers(&self) -> Result<Vec<String>, KernelError> {
        sysfs::list_controllers(&self.paths.sys)
    }

    fn read_controller(&self, device: &str) -> Result<Option<Controller>, KernelError> {
        let mut c = sysfs::read_controller(&self.paths.sys, device)?;
        if let Some(c) = c.as_mut() {
            c.owner = self
                .boot_tables()
                .owner_of(c, self.registry().owner(device));
        }
        Ok(c)
    }

    fn read_ctrl_attr(&self, device: &str, attr: CtrlAttr) -> Option<String> {
        sysfs::read_ctrl_attr(&self.paths.sys, device, attr)
    }

    fn admin(&self, device: &str, cmd: &AdminCmd, data: &mut [u8]) -> Result<u32, AdminError> {
        if ctrl_instance(device).is_none() {
            return Err(AdminError::NotSupported {
                device: device.to_owned(),
                what: "not a controller name (nvme<N>)",
            });
        }
        let path = self.paths.dev.join(device);
        let file = File::open(&path).map_err(|e| open_error(device, &e))?;
        admin_passthru(&file, device, cmd, data)
    }

    fn interface_addresses(&self) -> Result<Vec<IfAddr>, KernelError> {
        system_ifaddrs()
    }

    fn host_info(&self) -> HostInfo {
        let hostname = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default();
        let k =
            |n: &str| read_attr(&self.paths.proc.join("sys/kernel").join(n)).unwrap_or_default();
        let osr = std::fs::read_to_string(self.paths.etc.join("os-release")).unwrap_or_default();
        let parts = [
            k("ostype"),
            k("osrelease"),
            os_release_field(&osr, "NAME").unwrap_or_default(),
            os_release_field(&osr, "VERSION_ID").unwrap_or_default(),
        ];
        let os_version = parts
            .iter()
            .filter(|p| !p.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        HostInfo {
            hostname,
            os_version,
        }
    }

    fn owner(&self, device: &str) -> Option<String> {
        let registry = self.registry().owner(device);
        let boot = self.boot_tables();
        if registry.is_some() || boot.is_empty() {
            return registry;
        }
        let c = sysfs::read_controller(&self.paths.sys, device).ok()??;
        boot.owner_of(&c, None)
    }

    fn owners(&self) -> BTreeMap<String, String> {
        let mut owners: BTreeMap<String, String> = (self.registry().entries().into_iter())
            .filter_map(|(d, o)| Some((d, o?)))
            .collect();
        let boot = self.boot_tables();
        if !boot.is_empty() {
            for device in self.list_controllers().unwrap_or_default() {
                if owners.contains_key(&device) {
                    continue;
                }
                if let Ok(Some(c)) = sysfs::read_controller(&self.paths.sys, &device) {
                    if let Some(o) = boot.owner_of(&c, None) {
                        owners.insert(device, o);
                    }
                }
            }
        }
        owners
    }

    fn boot_tables(&self) -> Arc<BootTables> {
        let dir = self.paths.sys.join(ACPI_TABLES);
        Arc::clone(self.boot.get_or_init(|| Arc::new(BootTables::read(&dir))))
    }

    fn interfaces_by_mac(&self) -> BTreeMap<[u8; 6], String> {
        interfaces_by_mac(&self.paths.sys)
    }

    fn register(&self, device: &str) -> Result<(), RegistryError> {
        self.registry().create(device, OWNER_STAS)
    }

    fn claim(&self, device: &str) -> Result<String, RegistryError> {
        self.registry().claim(device, OWNER_STAS)
    }

    fn exclusions(&self) -> ExclusionList {
        ExclusionList::load(&self.paths.etc.join("nvme"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::sysfs::tests::{dc_attrs, fixture_ctrl};
    use crate::kernel::Topology;

    #[test]
    fn fixture_tree_end_to_end() {
        let dir = tempfile::tempdir().unwrap();
        let paths = KernelPaths::under(dir.path());
        std::fs::create_dir_all(paths.proc.join("sys/kernel")).unwrap();
        std::fs::write(paths.proc.join("sys/kernel/osrelease"), "6.1.0-56-amd64\n").unwrap();
        std::fs::write(paths.proc.join("sys/kernel/ostype"), "Linux\n").unwrap();
        std::fs::create_dir_all(&paths.etc).unwrap();
        std::fs::write(
            paths.etc.join("os-release"),
            "PRETTY_NAME=\"x\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n",
        )
        .unwrap();
        fixture_ctrl(&paths.sys, 0, &dc_attrs(), false);
        let k = SysKernel::new(paths);
        assert_eq!(k.release(), "6.1.0-56-amd64");
        // No /dev/nvme-fabrics in the fixture: the version table of 6.1 applies.
        let o = k.supported_options().unwrap();
        assert!(o.discovery() && o.host_iface());
        let t = Topology::scan(&k).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t.by_name("nvme0").unwrap().state.as_str(), "live");
        assert!(k
            .host_info()
            .os_version
            .starts_with("Linux 6.1.0-56-amd64 Debian GNU/Linux 12"));
        assert!(matches!(
            k.admin(
                "nvme0",
                &crate::proto::admin::identify_ctrl(),
                &mut [0u8; 4096]
            ),
            Err(AdminError::Open { .. })
        ));
        k.delete_controller("nvme0").unwrap();
    }

    #[test]
    fn attribute_reads_agree_with_the_full_read() {
        use crate::kernel::fake::event;
        use crate::kernel::{CtrlAttr, Dynamic};
        use crate::proto::uevent::{NvmeEvent, NvmeEventKind};
        let dir = tempfile::tempdir().unwrap();
        let paths = KernelPaths::under(dir.path());
        let mut attrs = dc_attrs();
        attrs.retain(|(k, _)| *k != "address");
        attrs.push((
            "address",
            "traddr=127.0.0.1,trsvcid=8009,src_addr=127.0.0.2",
        ));
        fixture_ctrl(&paths.sys, 2, &attrs, false);
        let k = SysKernel::new(paths.clone());
        let full = k.read_controller("nvme2").unwrap().unwrap();
        let ev = event(&full, NvmeEventKind::Connected);
        let d = Dynamic::read(&k, &ev).unwrap();
        assert_eq!(
            (d.state, d.address, d.cntlid),
            (full.state, full.address, full.cntlid)
        );
        assert_eq!(
            k.read_ctrl_attr("nvme2", CtrlAttr::Cntrltype).as_deref(),
            Some("discovery")
        );
        assert_eq!(k.read_ctrl_attr("nvme9", CtrlAttr::State), None);
        assert_eq!(k.read_ctrl_attr("nvme2n1", CtrlAttr::State), None);
        assert!(Dynamic::read(
            &k,
            &NvmeEvent {
                device: "nvme9".into(),
                ..ev
            }
        )
        .is_none());

        // Before Identify (`subsysnqn` reads `(efault)`) there is no subsystem to look for.
        let mut early = dc_attrs();
        early.retain(|(k, _)| *k != "subsysnqn");
        early.push(("subsysnqn", "(efault)"));
        fixture_ctrl(&paths.sys, 3, &early, false);
        let c = k.read_controller("nvme3").unwrap().unwrap();
        assert_eq!((c.subsysnqn.as_str(), c.subsystem), ("", None));
        assert_eq!(k.read_ctrl_attr("nvme3", CtrlAttr::Subsysnqn), None);
    }
}
