//! Client proxies for stafd's and stacd's interfaces (used by stafctl, stacctl and, later,
//! stacd listening to stafd). Member names are nvme-stas's, given explicitly.
//!
//! The generated types are [`StafProxy`], [`StafDebugProxy`], [`StacProxy`] and
//! [`StacDebugProxy`]. Build debug proxies with `CacheProperties::No` when a value is read
//! right after it was written (`stafctl tron`).

use super::shapes::StrDict;

/// `org.nvmexpress.staf`.
#[zbus::proxy(
    interface = "org.nvmexpress.staf",
    default_service = "org.nvmexpress.staf",
    default_path = "/org/nvmexpress/staf"
)]
pub trait Staf {
    /// One dictionary per discovery controller (the id dict, or `details()`).
    #[zbus(name = "list_controllers")]
    fn list_controllers(&self, detailed: bool) -> zbus::Result<Vec<StrDict>>;

    /// The cached log page entries of one discovery controller (`[]` if unknown).
    #[allow(clippy::too_many_arguments)] // the wire signature is seven strings
    #[zbus(name = "get_log_pages")]
    fn get_log_pages(
        &self,
        transport: &str,
        traddr: &str,
        trsvcid: &str,
        subsysnqn: &str,
        host_traddr: &str,
        host_iface: &str,
        host_nqn: &str,
    ) -> zbus::Result<Vec<StrDict>>;

    /// Every discovery controller with its log pages, as a JSON list.
    #[zbus(name = "get_all_log_pages")]
    fn get_all_log_pages(&self, detailed: bool) -> zbus::Result<String>;

    /// A discovery log page was read.
    #[allow(clippy::too_many_arguments)] // the wire signature is eight strings
    #[zbus(signal, name = "log_pages_changed")]
    fn log_pages_changed(
        &self,
        transport: String,
        traddr: String,
        trsvcid: String,
        subsysnqn: String,
        host_traddr: String,
        host_iface: String,
        host_nqn: String,
        device: String,
    ) -> zbus::Result<()>;

    /// A reconcile pass removed at least one discovery controller.
    #[zbus(signal, name = "dc_removed")]
    fn dc_removed(&self) -> zbus::Result<()>;
}

/// `org.nvmexpress.stac`.
#[zbus::proxy(
    interface = "org.nvmexpress.stac",
    default_service = "org.nvmexpress.stac",
    default_path = "/org/nvmexpress/stac"
)]
pub trait Stac {
    /// One dictionary per I/O controller (the id dict, or `details()`).
    #[zbus(name = "list_controllers")]
    fn list_controllers(&self, detailed: bool) -> zbus::Result<Vec<StrDict>>;
}

/// Defines the proxy of one `.debug` interface.
macro_rules! debug_proxy {
    ($(#[$doc:meta])* $name:ident, $iface:literal, $service:literal, $path:literal) => {
        $(#[$doc])*
        #[zbus::proxy(interface = $iface, default_service = $service, default_path = $path)]
        pub trait $name {
            /// Trace on.
            #[zbus(property, name = "tron")]
            fn tron(&self) -> zbus::Result<bool>;

            /// Switches trace on or off (root only, by bus policy).
            #[zbus(property, name = "tron")]
            fn set_tron(&self, value: bool) -> zbus::Result<()>;

            /// `DEBUG` or `INFO`.
            #[zbus(property, name = "log_level")]
            fn log_level(&self) -> zbus::Result<String>;

            /// The process-wide state as a JSON object.
            #[zbus(name = "process_info")]
            fn process_info(&self) -> zbus::Result<String>;

            /// `info()` of one controller as JSON (`{}` if unknown).
            #[allow(clippy::too_many_arguments)] // the wire signature is seven strings
            #[zbus(name = "controller_info")]
            fn controller_info(
                &self,
                transport: &str,
                traddr: &str,
                trsvcid: &str,
                subsysnqn: &str,
                host_traddr: &str,
                host_iface: &str,
                host_nqn: &str,
            ) -> zbus::Result<String>;
        }
    };
}

debug_proxy!(
    /// `org.nvmexpress.staf.debug`.
    StafDebug,
    "org.nvmexpress.staf.debug",
    "org.nvmexpress.staf",
    "/org/nvmexpress/staf"
);

debug_proxy!(
    /// `org.nvmexpress.stac.debug`.
    StacDebug,
    "org.nvmexpress.stac.debug",
    "org.nvmexpress.stac",
    "/org/nvmexpress/stac"
);
