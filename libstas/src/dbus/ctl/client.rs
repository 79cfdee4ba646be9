//! The client side of stafctl / stacctl: one connection to the system bus, typed calls to
//! either daemon, and the classification of failures into the three cases an operator must
//! tell apart (daemon not running, permission denied, anything else).

use serde_json::Value;
use zbus::proxy::CacheProperties;
use zbus::Connection;

use super::super::names::ServiceNames;
use super::super::proxy::{StacDebugProxy, StacProxy, StafDebugProxy, StafProxy};
use super::super::shapes::StrDict;

/// Exit statuses of stafctl and stacctl (sysexits.h values where one fits).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// No command given: usage printed (as nvme-stas did).
    pub const USAGE: u8 = 1;
    /// Invalid arguments (clap's status).
    pub const BAD_ARGS: u8 = 2;
    /// The daemon is not running, or the system bus cannot be reached (EX_UNAVAILABLE).
    pub const UNAVAILABLE: u8 = 69;
    /// The daemon or the bus failed the request, or replied something unreadable
    /// (EX_SOFTWARE).
    pub const FAILED: u8 = 70;
    /// The output cannot be written (EX_IOERR); a reader that went away is not an error.
    pub const IO: u8 = 74;
    /// Permission denied by the bus policy (EX_NOPERM), e.g. `tron` as non-root.
    pub const NOPERM: u8 = 77;
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// The system bus cannot be reached.
    #[error("cannot connect to the D-Bus system bus: {0}")]
    Bus(String),
    /// Nobody owns the daemon's bus name.
    #[error("{daemon} is not running ({name} has no owner on the system bus)")]
    NotRunning {
        /// `stafd` or `stacd`.
        daemon: &'static str,
        /// The well-known name.
        name: &'static str,
    },
    /// The bus policy refused the call.
    #[error("permission denied: {what} ({detail})")]
    PermissionDenied {
        /// What was refused, in words.
        what: String,
        /// The bus's message.
        detail: String,
    },
    /// Any other D-Bus failure.
    #[error("{daemon}: {detail}")]
    Failed {
        /// `stafd` or `stacd`.
        daemon: &'static str,
        /// The error name and message.
        detail: String,
    },
    /// The reply could not be read.
    #[error("{daemon} sent a reply that cannot be read: {detail}")]
    BadReply {
        /// `stafd` or `stacd`.
        daemon: &'static str,
        /// What is wrong with it.
        detail: String,
    },
}

impl CtlError {
    /// The exit status for this failure.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Bus(_) | Self::NotRunning { .. } => exit::UNAVAILABLE,
            Self::PermissionDenied { .. } => exit::NOPERM,
            Self::Failed { .. } | Self::BadReply { .. } => exit::FAILED,
        }
    }
}

/// The D-Bus error name and message inside a zbus error, if it carries one.
fn error_name(e: &zbus::Error) -> Option<(String, String)> {
    match e {
        zbus::Error::MethodError(name, msg, _) => {
            Some((name.to_string(), msg.clone().unwrap_or_default()))
        }
        zbus::Error::FDO(fdo) => {
            let name = zbus::DBusError::name(fdo.as_ref()).to_string();
            let msg = zbus::DBusError::description(fdo.as_ref())
                .unwrap_or_default()
                .to_owned();
            Some((name, msg))
        }
        _ => None,
    }
}

/// Sorts a failed call into not running / permission denied / other; `what` says, in words,
/// what was attempted (for the permission message).
#[must_use]
pub fn classify(names: &ServiceNames, what: &str, e: &zbus::Error) -> CtlError {
    match error_name(e) {
        Some((name, msg)) => match name.as_str() {
            "org.freedesktop.DBus.Error.ServiceUnknown"
            | "org.freedesktop.DBus.Error.NameHasNoOwner" => CtlError::NotRunning {
                daemon: names.daemon,
                name: names.bus_name,
            },
            "org.freedesktop.DBus.Error.AccessDenied" => CtlError::PermissionDenied {
                what: what.to_owned(),
                detail: msg,
            },
            _ => CtlError::Failed {
                daemon: names.daemon,
                detail: if msg.is_empty() {
                    name
                } else {
                    format!("{name}: {msg}")
                },
            },
        },
        None => CtlError::Failed {
            daemon: names.daemon,
            detail: e.to_string(),
        },
    }
}

/// A connection to one daemon over the system bus (`DBUS_SYSTEM_BUS_ADDRESS` is honoured).
#[derive(Debug)]
pub struct Client {
    conn: Connection,
    names: ServiceNames,
}

impl Client {
    /// Connects to the system bus.
    ///
    /// # Errors
    /// [`CtlError::Bus`] when the bus cannot be reached.
    pub async fn connect(names: ServiceNames) -> Result<Self, CtlError> {
        let conn = Connection::system()
            .await
            .map_err(|e| CtlError::Bus(e.to_string()))?;
        Ok(Self { conn, names })
    }

    /// The daemon's names.
    #[must_use]
    pub fn names(&self) -> &ServiceNames {
        &self.names
    }

    fn fail(&self, what: &str) -> impl Fn(zbus::Error) -> CtlError + '_ {
        let what = what.to_owned();
        move |e| classify(&self.names, &what, &e)
    }

    fn bad_reply(&self, detail: impl std::fmt::Display) -> CtlError {
        CtlError::BadReply {
            daemon: self.names.daemon,
            detail: detail.to_string(),
        }
    }

    /// `list_controllers(detailed)`.
    ///
    /// # Errors
    /// A classified D-Bus failure.
    pub async fn list_controllers(&self, detailed: bool) -> Result<Vec<StrDict>, CtlError> {
        let what = "listing controllers";
        if self.names.bus_name == super::super::names::STAF_BUS_NAME {
            let p = StafProxy::new(&self.conn).await.map_err(self.fail(what))?;
            p.list_controllers(detailed).await.map_err(self.fail(what))
        } else {
            let p = StacProxy::new(&self.conn).await.map_err(self.fail(what))?;
            p.list_controllers(detailed).await.map_err(self.fail(what))
        }
    }

    /// stafd's `get_log_pages` for the TID given as seven strings.
    ///
    /// # Errors
    /// A classified D-Bus failure.
    pub async fn get_log_pages(&self, tid: [&str; 7]) -> Result<Vec<StrDict>, CtlError> {
        let what = "reading log pages";
        let p = StafProxy::new(&self.conn).await.map_err(self.fail(what))?;
        let [a, b, c, d, e, f, g] = tid;
        p.get_log_pages(a, b, c, d, e, f, g)
            .await
            .map_err(self.fail(what))
    }

    /// stafd's `get_all_log_pages(detailed)`, parsed.
    ///
    /// # Errors
    /// A classified D-Bus failure, or a reply that is not JSON.
    pub async fn get_all_log_pages(&self, detailed: bool) -> Result<Value, CtlError> {
        let what = "reading log pages";
        let p = StafProxy::new(&self.conn).await.map_err(self.fail(what))?;
        let text = p
            .get_all_log_pages(detailed)
            .await
            .map_err(self.fail(what))?;
        serde_json::from_str(&text).map_err(|e| self.bad_reply(e))
    }

    /// `process_info()`, parsed.
    ///
    /// # Errors
    /// A classified D-Bus failure, or a reply that is not JSON.
    pub async fn process_info(&self) -> Result<Value, CtlError> {
        let what = "reading the process state";
        let text = match self.debug().await? {
            Debug::Staf(p) => p.process_info().await,
            Debug::Stac(p) => p.process_info().await,
        }
        .map_err(self.fail(what))?;
        serde_json::from_str(&text).map_err(|e| self.bad_reply(e))
    }

    /// `controller_info(...)`, parsed.
    ///
    /// # Errors
    /// A classified D-Bus failure, or a reply that is not JSON.
    pub async fn controller_info(&self, tid: [&str; 7]) -> Result<Value, CtlError> {
        let what = "reading controller state";
        let [a, b, c, d, e, f, g] = tid;
        let text = match self.debug().await? {
            Debug::Staf(p) => p.controller_info(a, b, c, d, e, f, g).await,
            Debug::Stac(p) => p.controller_info(a, b, c, d, e, f, g).await,
        }
        .map_err(self.fail(what))?;
        serde_json::from_str(&text).map_err(|e| self.bad_reply(e))
    }

    /// Sets `tron`, then reads it back.
    ///
    /// # Errors
    /// A classified D-Bus failure; a non-root caller gets [`CtlError::PermissionDenied`].
    pub async fn set_tron(&self, on: bool) -> Result<bool, CtlError> {
        let what = format!(
            "only root may switch {} tracing {}",
            self.names.daemon,
            if on { "on" } else { "off" }
        );
        let debug = self.debug().await?;
        match &debug {
            Debug::Staf(p) => p.set_tron(on).await,
            Debug::Stac(p) => p.set_tron(on).await,
        }
        .map_err(self.fail(&what))?;
        match &debug {
            Debug::Staf(p) => p.tron().await,
            Debug::Stac(p) => p.tron().await,
        }
        .map_err(self.fail("reading tron"))
    }

    async fn debug(&self) -> Result<Debug<'_>, CtlError> {
        let fail = self.fail("connecting to the debug interface");
        if self.names.bus_name == super::super::names::STAF_BUS_NAME {
            StafDebugProxy::builder(&self.conn)
                .cache_properties(CacheProperties::No)
                .build()
                .await
                .map(Debug::Staf)
                .map_err(fail)
        } else {
            StacDebugProxy::builder(&self.conn)
                .cache_properties(CacheProperties::No)
                .build()
                .await
                .map(Debug::Stac)
                .map_err(fail)
        }
    }
}

/// The debug proxy of either daemon.
enum Debug<'a> {
    Staf(StafDebugProxy<'a>),
    Stac(StacDebugProxy<'a>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dbus::names::STAF;

    fn method_error(name: &str, msg: &str) -> zbus::Error {
        zbus::Error::FDO(Box::new(match name {
            "ServiceUnknown" => zbus::fdo::Error::ServiceUnknown(msg.into()),
            "NameHasNoOwner" => zbus::fdo::Error::NameHasNoOwner(msg.into()),
            "AccessDenied" => zbus::fdo::Error::AccessDenied(msg.into()),
            _ => zbus::fdo::Error::Failed(msg.into()),
        }))
    }

    #[test]
    fn failures_are_told_apart() {
        let e = classify(&STAF, "x", &method_error("ServiceUnknown", "no"));
        assert!(matches!(e, CtlError::NotRunning { .. }), "{e:?}");
        assert_eq!(e.exit_code(), exit::UNAVAILABLE);
        assert_eq!(
            e.to_string(),
            "stafd is not running (org.nvmexpress.staf has no owner on the system bus)"
        );
        let e = classify(&STAF, "x", &method_error("NameHasNoOwner", "no"));
        assert_eq!(e.exit_code(), exit::UNAVAILABLE);

        let e = classify(
            &STAF,
            "only root may switch stafd tracing on",
            &method_error("AccessDenied", "Rejected send message"),
        );
        assert_eq!(e.exit_code(), exit::NOPERM);
        assert_eq!(
            e.to_string(),
            "permission denied: only root may switch stafd tracing on (Rejected send message)"
        );

        let e = classify(&STAF, "x", &method_error("Failed", "boom"));
        assert_eq!(e.exit_code(), exit::FAILED);
        assert_eq!(
            e.to_string(),
            "stafd: org.freedesktop.DBus.Error.Failed: boom"
        );
        assert_eq!(CtlError::Bus("x".into()).exit_code(), exit::UNAVAILABLE);
    }
}
