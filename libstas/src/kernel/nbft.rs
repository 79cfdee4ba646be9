//! The firmware's boot paths (DECISIONS.md item 20): the NVMe Boot Firmware Tables of
//! `/sys/firmware/acpi/tables/NBFT*` read once ([`BootTables::read`]; the bytes are parsed
//! by [`crate::proto::nbft`]), which kernel controllers they describe (those count as owner
//! [`OWNER_NBFT`] when the registry names no owner: never adopted, never disconnected), and
//! the discovery controllers they name (stafd adds them in the 2.x layout).

use std::collections::BTreeMap;
use std::path::Path;

use super::sysfs::Controller;
use crate::config::controller::CtrlDict;
use crate::model::ip::ip_equal;
use crate::proto::nbft::{self, Nbft};

/// The registry owner of the boot paths (nvme-cli 3's `connect-all --nbft`).
pub const OWNER_NBFT: &str = "nbft";

/// Where the kernel shows ACPI tables, under the sysfs root.
pub const ACPI_TABLES: &str = "firmware/acpi/tables";

/// One path the firmware booted from or names: what a kernel controller must show to be it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BootPath {
    transport: String,
    traddr: String,
    trsvcid: String,
    /// Subsystem NQN; for a discovery controller, its NQN (the well-known one when absent).
    nqn: String,
}

/// Every NBFT of the host, parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BootTables {
    /// The tables, in file name order.
    pub tables: Vec<Nbft>,
    paths: Vec<BootPath>,
}

impl BootTables {
    /// Reads and parses every `NBFT*` file of `dir` (normally
    /// `/sys/firmware/acpi/tables`). A missing directory or no table is an empty set; a bad
    /// table or descriptor is a warning naming the table and offset, and the rest is used.
    #[must_use]
    pub fn read(dir: &Path) -> Self {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Self::default();
        };
        let mut files: Vec<(String, Vec<u8>)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.starts_with("NBFT").then_some(name)
            })
            .filter_map(|name| match std::fs::read(dir.join(&name)) {
                Ok(bytes) => Some((name, bytes)),
                Err(e) => {
                    tracing::warn!(table = %name, error = %e, "cannot read the NBFT");
                    None
                }
            })
            .collect();
        files.sort();
        Self::from_files(&files)
    }

    /// Parses tables given as (file name, bytes), logging their problems.
    #[must_use]
    pub fn from_files(files: &[(String, Vec<u8>)]) -> Self {
        let mut tables = Vec::new();
        for (name, bytes) in files {
            if bytes.is_empty() {
                continue;
            }
            match nbft::parse(name, bytes) {
                Ok(parsed) => {
                    for p in &parsed.problems {
                        tracing::warn!("NBFT: {p}");
                    }
                    tables.push(parsed.table);
                }
                Err(e) => tracing::warn!("NBFT: {e}; table ignored"),
            }
        }
        let paths = tables.iter().flat_map(boot_paths).collect();
        Self { tables, paths }
    }

    /// No table, or nothing in them.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Whether kernel controller `c` is one of the tables' paths: a subsystem namespace
    /// descriptor or a discovery descriptor with the same transport, address, port and NQN.
    #[must_use]
    pub fn describes(&self, c: &Controller) -> bool {
        let traddr = c.address.traddr.as_deref().unwrap_or_default();
        let trsvcid = c.address.trsvcid.as_deref().unwrap_or_default();
        self.paths.iter().any(|p| {
            p.transport == c.transport
                && p.trsvcid == trsvcid
                && p.nqn == c.subsysnqn
                && ip_equal(&p.traddr, traddr)
        })
    }

    /// The owner a controller counts as: the registry's, else [`OWNER_NBFT`] when the
    /// tables describe it.
    #[must_use]
    pub fn owner_of(&self, c: &Controller, registry: Option<String>) -> Option<String> {
        registry.or_else(|| self.describes(c).then(|| OWNER_NBFT.to_owned()))
    }

    /// The discovery controllers the tables name, as `controller=` keys (nvme-stas 2.3+'s
    /// rules): transport, address and port from the descriptor's URI, its NQN (the
    /// well-known one when absent), the table's host NQN when the firmware says it was
    /// configured (with its host ID, `host-id`, when that was configured too), and the
    /// interface whose MAC is its HFI's (`iface_of`).
    #[must_use]
    pub fn discovery_controllers(&self, iface_of: &BTreeMap<[u8; 6], String>) -> Vec<CtrlDict> {
        let mut out = Vec::new();
        for t in &self.tables {
            for d in &t.discovery {
                let Some(a) = d.address() else {
                    tracing::warn!(table = %t.name, uri = %d.uri, "NBFT: discovery descriptor with an unusable URI; skipped");
                    continue;
                };
                let mut m = BTreeMap::new();
                m.insert("transport".to_owned(), a.transport);
                m.insert("traddr".to_owned(), a.traddr);
                m.insert("trsvcid".to_owned(), a.trsvcid);
                m.insert("subsysnqn".to_owned(), d.subsysnqn().to_owned());
                if let Some(nqn) = t.host.nqn.clone().filter(|_| t.host.nqn_configured) {
                    m.insert("host-nqn".to_owned(), nqn);
                    // The firmware's host ID goes with its host NQN (never with another).
                    if let Some(id) = t.host.id.filter(|_| t.host.id_configured) {
                        m.insert("host-id".to_owned(), id.to_string());
                    }
                }
                let iface = d
                    .hfi
                    .and_then(|i| t.hfis.iter().find(|h| h.index == i))
                    .and_then(|h| iface_of.get(&h.mac));
                if let Some(iface) = iface {
                    m.insert("host-iface".to_owned(), iface.clone());
                }
                out.push(CtrlDict(m));
            }
        }
        out
    }
}

/// The paths of one table: its subsystem namespaces and its discovery controllers.
fn boot_paths(t: &Nbft) -> Vec<BootPath> {
    let ssns = t.subsystems.iter().map(|s| BootPath {
        transport: s.transport.clone(),
        traddr: s.traddr.clone(),
        trsvcid: s.trsvcid.clone(),
        nqn: s.nqn.clone(),
    });
    let dcs = t.discovery.iter().filter_map(|d| {
        let a = d.address()?;
        Some(BootPath {
            transport: a.transport,
            traddr: a.traddr,
            trsvcid: a.trsvcid,
            nqn: d.subsysnqn().to_owned(),
        })
    });
    ssns.chain(dcs).collect()
}

/// The host's interfaces by MAC address (`/sys/class/net/*/address`), for the HFIs.
#[must_use]
pub fn interfaces_by_mac(sys: &Path) -> BTreeMap<[u8; 6], String> {
    let Ok(entries) = std::fs::read_dir(sys.join("class/net")) else {
        return BTreeMap::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let text = std::fs::read_to_string(e.path().join("address")).ok()?;
            Some((parse_mac(text.trim())?, name))
        })
        .filter(|(mac, _)| *mac != [0; 6])
        .collect()
}

/// `aa:bb:cc:dd:ee:ff` as bytes.
#[must_use]
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::trid::WELL_KNOWN_DISC_NQN;
    use crate::proto::address::CtrlAddress;
    use crate::proto::nbft::build::{DiscoverySpec, HfiSpec, SsnsSpec, TableSpec};

    const HOST: &str = "nqn.2014-08.org.nvmexpress:uuid:5d3e1c2a-0000-4000-8000-000000000001";
    const BOOT: &str = "nqn.2024-01.com.example:boot";
    const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];

    fn table() -> Vec<(String, Vec<u8>)> {
        let mut t = TableSpec::new(HOST);
        t.hfis
            .push(HfiSpec::new(1, MAC, "192.0.2.15".parse().unwrap(), 24));
        t.subsystems.push(
            SsnsSpec::new(1, "192.0.2.20".parse().unwrap(), "4420", BOOT)
                .with_hfi(1)
                .with_discovery(1),
        );
        let mut d = DiscoverySpec::new(1, "nvme+tcp://192.0.2.10/");
        d.hfi = Some(1);
        t.discovery.push(d);
        vec![("NBFT".to_owned(), t.build())]
    }

    fn ctrl(traddr: &str, trsvcid: &str, nqn: &str) -> Controller {
        let mut c = Controller::new(3, "tcp");
        c.address = CtrlAddress {
            traddr: Some(traddr.into()),
            trsvcid: Some(trsvcid.into()),
            ..CtrlAddress::default()
        };
        c.subsysnqn = nqn.into();
        c
    }

    #[test]
    fn the_tables_describe_their_boot_paths_only() {
        let b = BootTables::from_files(&table());
        assert!(!b.is_empty());
        assert!(b.describes(&ctrl("192.0.2.20", "4420", BOOT)));
        assert!(
            b.describes(&ctrl("::ffff:192.0.2.20", "4420", BOOT)),
            "address-aware"
        );
        assert!(b.describes(&ctrl("192.0.2.10", "8009", WELL_KNOWN_DISC_NQN)));
        assert!(!b.describes(&ctrl("192.0.2.20", "4421", BOOT)));
        assert!(!b.describes(&ctrl("192.0.2.21", "4420", BOOT)));
        assert!(!b.describes(&ctrl("192.0.2.20", "4420", "nqn.2024-01.com.example:data")));
        let c = ctrl("192.0.2.20", "4420", BOOT);
        assert_eq!(b.owner_of(&c, None).as_deref(), Some(OWNER_NBFT));
        assert_eq!(b.owner_of(&c, Some("stas".into())).as_deref(), Some("stas"));
    }

    #[test]
    fn discovery_controllers_carry_the_configured_host_nqn_and_the_hfi_interface() {
        let b = BootTables::from_files(&table());
        let macs = BTreeMap::from([(MAC, "eth1".to_owned())]);
        let dcs = b.discovery_controllers(&macs);
        assert_eq!(dcs.len(), 1);
        let d = &dcs[0].0;
        assert_eq!(d["transport"], "tcp");
        assert_eq!(d["traddr"], "192.0.2.10");
        assert_eq!(d["trsvcid"], "8009", "the URI has no port");
        assert_eq!(d["subsysnqn"], WELL_KNOWN_DISC_NQN);
        assert_eq!(d["host-nqn"], HOST);
        assert!(
            !d.contains_key("host-id"),
            "the table's host ID is not marked configured"
        );
        assert_eq!(d["host-iface"], "eth1");
        assert!(!b.discovery_controllers(&BTreeMap::new())[0]
            .0
            .contains_key("host-iface"));
    }

    #[test]
    fn empty_garbage_and_missing_tables_are_no_boot_paths() {
        let files = vec![
            ("NBFT".to_owned(), Vec::new()),
            ("NBFT1".to_owned(), vec![0xa5; 256]),
        ];
        assert!(BootTables::from_files(&files).is_empty());
        let dir = tempfile::tempdir().unwrap();
        assert!(BootTables::read(dir.path()).is_empty());
        assert!(BootTables::read(&dir.path().join("none")).is_empty());
        std::fs::write(dir.path().join("NBFT"), &table()[0].1).unwrap();
        std::fs::write(dir.path().join("DSDT"), b"not a boot table").unwrap();
        assert_eq!(BootTables::read(dir.path()).tables.len(), 1);
    }

    #[test]
    fn macs_of_the_interfaces() {
        assert_eq!(parse_mac("52:54:00:12:34:56"), Some(MAC));
        assert_eq!(parse_mac("52:54:00:12:34"), None);
        assert_eq!(parse_mac("52:54:00:12:34:56:78"), None);
        let sys = tempfile::tempdir().unwrap();
        for (name, mac) in [
            ("eth1", "52:54:00:12:34:56\n"),
            ("lo", "00:00:00:00:00:00\n"),
        ] {
            let d = sys.path().join("class/net").join(name);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("address"), mac).unwrap();
        }
        let m = interfaces_by_mac(sys.path());
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(m[&MAC], "eth1");
    }
}
