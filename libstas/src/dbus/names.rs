//! The wire names of the D-Bus contract: well-known bus names, object paths and interface
//! names of stafd and stacd, exactly as nvme-stas publishes them (nvme-stas-behaviour.md §2.1).
//!
//! Member names (`list_controllers`, `tron`, `log_pages_changed`, …) are spelled out in the
//! `#[interface]` blocks themselves, next to the code they name, and pinned by the golden
//! introspection files in `dbus/*.xml`.

/// stafd's well-known bus name.
pub const STAF_BUS_NAME: &str = "org.nvmexpress.staf";
/// stafd's object path.
pub const STAF_PATH: &str = "/org/nvmexpress/staf";
/// stafd's main interface.
pub const STAF_IFACE: &str = "org.nvmexpress.staf";
/// stafd's debug interface.
pub const STAF_DEBUG_IFACE: &str = "org.nvmexpress.staf.debug";

/// stacd's well-known bus name.
pub const STAC_BUS_NAME: &str = "org.nvmexpress.stac";
/// stacd's object path.
pub const STAC_PATH: &str = "/org/nvmexpress/stac";
/// stacd's main interface.
pub const STAC_IFACE: &str = "org.nvmexpress.stac";
/// stacd's debug interface.
pub const STAC_DEBUG_IFACE: &str = "org.nvmexpress.stac.debug";

/// The names of one service, for code shared by stafd and stacd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceNames {
    /// Short name of the daemon (`stafd`, `stacd`), for messages.
    pub daemon: &'static str,
    /// Well-known bus name.
    pub bus_name: &'static str,
    /// Object path.
    pub path: &'static str,
    /// Main interface.
    pub iface: &'static str,
    /// Debug interface.
    pub debug_iface: &'static str,
}

/// stafd's names.
pub const STAF: ServiceNames = ServiceNames {
    daemon: "stafd",
    bus_name: STAF_BUS_NAME,
    path: STAF_PATH,
    iface: STAF_IFACE,
    debug_iface: STAF_DEBUG_IFACE,
};

/// stacd's names.
pub const STAC: ServiceNames = ServiceNames {
    daemon: "stacd",
    bus_name: STAC_BUS_NAME,
    path: STAC_PATH,
    iface: STAC_IFACE,
    debug_iface: STAC_DEBUG_IFACE,
};
