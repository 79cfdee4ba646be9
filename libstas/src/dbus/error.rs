//! Errors of the D-Bus layer: [`DbusError`] for setting a service up (connect, serve, own
//! the name), and [`IfaceError`], the D-Bus errors the interfaces return to callers.

use super::names::ServiceNames;

/// Setting up a D-Bus service failed. Each message names what was being done and carries
/// zbus's description of the cause once.
#[derive(Debug, thiserror::Error)]
pub enum DbusError {
    /// The system bus could not be reached.
    #[error("cannot connect to the D-Bus system bus: {0}")]
    Connect(String),
    /// An interface could not be registered at the object path.
    #[error("cannot serve {iface} at {path}: {reason}")]
    Serve {
        /// The interface.
        iface: &'static str,
        /// The object path.
        path: &'static str,
        /// zbus's description.
        reason: String,
    },
    /// Another connection owns the well-known name.
    #[error("the bus name {name} is already owned (is another {daemon} running?)")]
    NameTaken {
        /// The well-known name.
        name: &'static str,
        /// The daemon that wanted it.
        daemon: &'static str,
    },
    /// The bus refused or failed the name request (for example the policy forbids owning it).
    #[error("cannot own the bus name {name}: {reason}")]
    Name {
        /// The well-known name.
        name: &'static str,
        /// zbus's description.
        reason: String,
    },
}

impl DbusError {
    pub(crate) fn serve(names: &ServiceNames, iface: &'static str, e: &zbus::Error) -> Self {
        Self::Serve {
            iface,
            path: names.path,
            reason: e.to_string(),
        }
    }

    pub(crate) fn name(names: &ServiceNames, e: zbus::Error) -> Self {
        match e {
            zbus::Error::NameTaken => Self::NameTaken {
                name: names.bus_name,
                daemon: names.daemon,
            },
            e => Self::Name {
                name: names.bus_name,
                reason: e.to_string(),
            },
        }
    }
}

/// The errors a caller of the stas interfaces can receive, as D-Bus error names under
/// `org.nvmexpress.stas.Error.` (nvme-stas had none of its own; lookups of unknown
/// controllers are not errors and return empty results, as in nvme-stas).
#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.nvmexpress.stas.Error")]
pub enum IfaceError {
    /// A zbus failure while handling the call.
    #[zbus(error)]
    ZBus(zbus::Error),
    /// The daemon is shutting down and no longer takes commands.
    Unavailable(String),
    /// The daemon did not apply a change in time.
    Timeout(String),
    /// A reply could not be built.
    Failed(String),
}

impl From<serde_json::Error> for IfaceError {
    fn from(e: serde_json::Error) -> Self {
        Self::Failed(format!("cannot encode the reply as JSON: {e}"))
    }
}
