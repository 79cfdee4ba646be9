//! The `.debug` interface both daemons serve (`org.nvmexpress.staf.debug`,
//! `org.nvmexpress.stac.debug`): the `tron` and `log_level` properties and the
//! `process_info` / `controller_info` methods, over a [`CoreLink`] (handles only; method bodies
//! read the latest snapshot and never touch core state).
//!
//! zbus needs the interface name as a literal, so one macro stamps out the two structs.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use zbus::object_server::SignalEmitter;

use super::error::IfaceError;
use super::shapes;
use crate::model::snapshot::{CoreCommand, ProcessView, Snapshot};
use crate::model::trid::{TidDefaults, TransportId, TID_KEYS};

/// How long a `tron` write waits for the core to take the command and publish the new value.
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// What an interface holds: the snapshot receiver, the command sender, and the last `tron`
/// value announced with `PropertiesChanged` (so a D-Bus write and the snapshot watcher do not
/// both announce the same change).
#[derive(Debug, Clone)]
pub struct CoreLink {
    pub(crate) snapshot: watch::Receiver<Snapshot>,
    pub(crate) commands: mpsc::Sender<CoreCommand>,
    pub(crate) announced_tron: Arc<AtomicBool>,
}

impl CoreLink {
    /// A link over the core's channels.
    #[must_use]
    pub fn new(snapshot: watch::Receiver<Snapshot>, commands: mpsc::Sender<CoreCommand>) -> Self {
        let tron = snapshot.borrow().process.tron;
        Self {
            snapshot,
            commands,
            announced_tron: Arc::new(AtomicBool::new(tron)),
        }
    }

    /// The current `tron` value.
    pub(crate) fn tron(&self) -> bool {
        self.snapshot.borrow().process.tron
    }

    /// `process_info()`.
    pub(crate) fn process_info(&self) -> Result<String, IfaceError> {
        Ok(shapes::process_info(&self.snapshot.borrow().process)?)
    }

    /// `controller_info()` for the TID built from the seven wire arguments.
    pub(crate) fn controller_info(&self, fields: [&str; 7]) -> Result<String, IfaceError> {
        let s = self.snapshot.borrow();
        let tid = tid_from_wire(&s.process, fields);
        Ok(shapes::controller_info(s.find(&tid))?)
    }

    /// Sends `SetTron(value)` and waits until a snapshot shows it.
    pub(crate) async fn set_tron(&self, value: bool) -> Result<(), IfaceError> {
        let before = self.announced_tron.swap(value, Ordering::SeqCst);
        let result = self.apply_tron(value).await;
        if result.is_err() {
            self.announced_tron.store(before, Ordering::SeqCst);
        }
        result
    }

    async fn apply_tron(&self, value: bool) -> Result<(), IfaceError> {
        let unavailable = || IfaceError::Unavailable("the daemon is shutting down".into());
        let timeout = || {
            IfaceError::Timeout(format!(
                "the daemon did not apply tron={value} within {}s",
                APPLY_TIMEOUT.as_secs()
            ))
        };
        tokio::time::timeout(
            APPLY_TIMEOUT,
            self.commands.send(CoreCommand::SetTron(value)),
        )
        .await
        .map_err(|_| timeout())?
        .map_err(|_| unavailable())?;
        let mut rx = self.snapshot.clone();
        tokio::time::timeout(APPLY_TIMEOUT, rx.wait_for(|s| s.process.tron == value))
            .await
            .map_err(|_| timeout())?
            .map_err(|_| unavailable())?;
        Ok(())
    }
}

/// The TID a D-Bus caller names with the seven `s` arguments (transport, traddr, trsvcid,
/// subsysnqn, host_traddr, host_iface, host_nqn), built with the daemon's own rules as
/// nvme-stas does: the trsvcid default, `host-iface` cleared under `ignore-iface`, and the
/// daemon's host NQN when `host_nqn` is empty.
#[must_use]
pub fn tid_from_wire(process: &ProcessView, fields: [&str; 7]) -> TransportId {
    let cid: BTreeMap<String, String> = TID_KEYS
        .iter()
        .zip(fields)
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| ((*k).to_owned(), v.to_owned()))
        .collect();
    TransportId::from_cid(
        &cid,
        &TidDefaults {
            host_nqn: process.hostnqn.clone(),
            ignore_iface: process.ignore_iface,
        },
    )
}

/// Announcing a `tron` change that did not come through the D-Bus setter (reload, `--tron`).
pub(crate) trait AnnounceTron: zbus::object_server::Interface {
    /// Emits `PropertiesChanged` for `tron` (if `tron_too`) and `log_level`.
    fn announce(
        &self,
        emitter: &SignalEmitter<'_>,
        tron_too: bool,
    ) -> impl Future<Output = zbus::Result<()>> + Send;
}

/// Defines one `.debug` interface struct named `$ty` with D-Bus name `$name`.
macro_rules! debug_interface {
    ($(#[$doc:meta])* $ty:ident, $name:literal) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $ty {
            link: $crate::dbus::debug::CoreLink,
        }

        impl $ty {
            /// The interface over `link`.
            #[must_use]
            pub fn new(link: $crate::dbus::debug::CoreLink) -> Self {
                Self { link }
            }
        }

        #[zbus::interface(name = $name, introspection_docs = false)]
        impl $ty {
            /// Trace on (debug logging). Only root may set it (bus policy).
            #[zbus(property, name = "tron")]
            fn tron(&self) -> bool {
                self.link.tron()
            }

            #[zbus(property, name = "tron")]
            async fn set_tron(&self, value: bool) -> Result<(), $crate::dbus::error::IfaceError> {
                self.link.set_tron(value).await
            }

            /// Python's level name: `DEBUG` or `INFO`.
            #[zbus(property, name = "log_level")]
            fn log_level(&self) -> String {
                $crate::dbus::shapes::log_level(self.link.tron()).to_owned()
            }

            /// The process-wide state as a JSON object.
            #[zbus(name = "process_info", out_args("info_json"))]
            fn process_info(&self) -> Result<String, $crate::dbus::error::IfaceError> {
                self.link.process_info()
            }

            /// `info()` of one controller as JSON, `{}` if there is none with that TID.
            #[allow(clippy::too_many_arguments)] // the wire signature is seven strings
            #[zbus(name = "controller_info", out_args("info_json"))]
            fn controller_info(
                &self,
                transport: &str,
                traddr: &str,
                trsvcid: &str,
                subsysnqn: &str,
                host_traddr: &str,
                host_iface: &str,
                host_nqn: &str,
            ) -> Result<String, $crate::dbus::error::IfaceError> {
                self.link.controller_info([
                    transport,
                    traddr,
                    trsvcid,
                    subsysnqn,
                    host_traddr,
                    host_iface,
                    host_nqn,
                ])
            }
        }

        impl $crate::dbus::debug::AnnounceTron for $ty {
            async fn announce(
                &self,
                emitter: &zbus::object_server::SignalEmitter<'_>,
                tron_too: bool,
            ) -> zbus::Result<()> {
                if tron_too {
                    self.tron_changed(emitter).await?;
                }
                self.log_level_changed(emitter).await
            }
        }
    };
}

debug_interface!(
    /// `org.nvmexpress.staf.debug` at `/org/nvmexpress/staf`.
    StafDebug,
    "org.nvmexpress.staf.debug"
);

debug_interface!(
    /// `org.nvmexpress.stac.debug` at `/org/nvmexpress/stac`.
    StacDebug,
    "org.nvmexpress.stac.debug"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dbus::shapes::tests::process;

    #[test]
    fn wire_tid_follows_nvme_stas_rules() {
        let mut p = process();
        let t = tid_from_wire(&p, ["tcp", "10.0.0.1", "", "nqn.x", "", "eth0", ""]);
        assert_eq!(t.trsvcid, "8009");
        assert_eq!(t.host_iface, "eth0");
        assert_eq!(t.host_nqn, p.hostnqn);
        assert_eq!(t.subsysnqn, "nqn.x");

        let t = tid_from_wire(&p, ["rdma", "10.0.0.1", "", "", "1.2.3.4", "", "nqn.h"]);
        assert_eq!(t.trsvcid, "4420");
        assert_eq!(t.host_traddr, "1.2.3.4");
        assert_eq!(t.host_nqn, "nqn.h");

        let t = tid_from_wire(&p, ["fc", "nn-1:pn-2", "4420", "", "", "", ""]);
        assert_eq!(t.trsvcid, "", "forced empty for fc");

        p.ignore_iface = true;
        let t = tid_from_wire(&p, ["tcp", "10.0.0.1", "8009", "", "", "eth0", ""]);
        assert_eq!(t.host_iface, "");
    }
}
