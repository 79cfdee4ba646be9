//! `org.nvmexpress.staf` at `/org/nvmexpress/staf`: stafd's main interface (controllers, log
//! pages, and the `log_pages_changed` / `dc_removed` signals). Its `.debug` sibling is
//! [`super::debug::StafDebug`].
//!
//! Member names are nvme-stas's snake_case names, given explicitly (zbus would otherwise
//! publish PascalCase), and pinned by `dbus/org.nvmexpress.staf.xml`.

// The wire signatures carry the transport id as seven (signal: eight) separate strings, and
// the code zbus generates for them (signal traits included) inherits that arity.
#![allow(clippy::too_many_arguments)]

use zbus::object_server::SignalEmitter;

use super::debug::{tid_from_wire, CoreLink};
use super::error::IfaceError;
use super::shapes::{self, StrDict};

/// The `org.nvmexpress.staf` interface: handles only; every method reads the latest snapshot.
#[derive(Debug)]
pub struct StafInterface {
    link: CoreLink,
}

impl StafInterface {
    /// The interface over `link`.
    #[must_use]
    pub fn new(link: CoreLink) -> Self {
        Self { link }
    }
}

#[zbus::interface(name = "org.nvmexpress.staf", introspection_docs = false)]
impl StafInterface {
    /// One dictionary per discovery controller: the id dict, or `details()`.
    #[zbus(name = "list_controllers", out_args("controller_list"))]
    fn list_controllers(&self, detailed: bool) -> Vec<StrDict> {
        shapes::list_controllers(&self.link.snapshot.borrow(), detailed)
    }

    /// The cached log page entries of one discovery controller; `[]` if it is unknown.
    #[zbus(name = "get_log_pages", out_args("log_pages"))]
    fn get_log_pages(
        &self,
        transport: &str,
        traddr: &str,
        trsvcid: &str,
        subsysnqn: &str,
        host_traddr: &str,
        host_iface: &str,
        host_nqn: &str,
    ) -> Vec<StrDict> {
        let s = self.link.snapshot.borrow();
        let tid = tid_from_wire(
            &s.process,
            [
                transport,
                traddr,
                trsvcid,
                subsysnqn,
                host_traddr,
                host_iface,
                host_nqn,
            ],
        );
        s.find(&tid).map(shapes::log_pages).unwrap_or_default()
    }

    /// Every discovery controller with its log pages, as a JSON list.
    #[zbus(name = "get_all_log_pages", out_args("log_pages_json"))]
    fn get_all_log_pages(&self, detailed: bool) -> Result<String, IfaceError> {
        Ok(shapes::all_log_pages(
            &self.link.snapshot.borrow(),
            detailed,
        )?)
    }

    /// A discovery log page was read (changed or not).
    #[zbus(signal, name = "log_pages_changed")]
    pub async fn log_pages_changed(
        emitter: &SignalEmitter<'_>,
        transport: &str,
        traddr: &str,
        trsvcid: &str,
        subsysnqn: &str,
        host_traddr: &str,
        host_iface: &str,
        host_nqn: &str,
        device: &str,
    ) -> zbus::Result<()>;

    /// A reconcile pass removed at least one discovery controller.
    #[zbus(signal, name = "dc_removed")]
    pub async fn dc_removed(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;
}
