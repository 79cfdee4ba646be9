//! Configuration: the nvme-stas INI dialect ([`ini`]) and the three files built on it:
//! `stafd.conf` / `stacd.conf` ([`service`]) and `sys.conf` ([`sysconf`]).
//!
//! Reading never fails on content: every problem becomes a [`Diagnostic`] with file and line,
//! and the affected option keeps its default. Only an unreadable file (other than a missing
//! one, which means "all defaults") is an error.

pub mod controller;
pub mod doc;
pub mod edit;
pub mod exclusions;
pub mod ini;
pub mod layout;
pub mod migrate;
pub mod nvmeconf;
pub mod service;
pub mod sysconf;
pub mod timeparse;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

pub use ini::{Diagnostic, Diagnostics, Severity};
pub use service::{ConnectParams, Daemon, ServiceConfig};
pub use sysconf::SysConf;

/// Default location of the host identity configuration.
pub const SYS_CONF: &str = "/etc/stas/sys.conf";

/// A file that exists but cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot read: {}", path.display(), crate::fsutil::describe(io))]
pub struct ReadError {
    /// The file.
    pub path: PathBuf,
    /// Why (already described in the message, so not a `source`).
    pub io: io::Error,
}

/// Reads `path`; a missing file reads as empty (`Ok(None)`).
fn read_optional(path: &Path, diags: &mut Diagnostics) -> Result<Option<String>, ReadError> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::read(path) {
        Ok(bytes) => {
            if std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o002 != 0) {
                diags.warning(None, "file is writable by every user");
            }
            match String::from_utf8(bytes) {
                Ok(s) => Ok(Some(s)),
                Err(e) => {
                    diags.error(None, "file is not valid UTF-8; invalid bytes replaced");
                    Ok(Some(String::from_utf8_lossy(e.as_bytes()).into_owned()))
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(io) => Err(ReadError {
            path: path.to_owned(),
            io,
        }),
    }
}

/// Result of loading a file: the configuration, its diagnostics, and whether it existed.
#[derive(Debug, Clone)]
pub struct Loaded<T> {
    /// The validated configuration (defaults where the file was silent or wrong).
    pub config: T,
    /// Every problem found, in file order.
    pub diagnostics: Vec<Diagnostic>,
    /// False when the file does not exist (all defaults).
    pub found: bool,
}

impl<T> Loaded<T> {
    /// Whether any diagnostic is an error.
    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Loads `stafd.conf` or `stacd.conf`.
///
/// # Errors
/// The file exists but cannot be read.
pub fn load_service(daemon: Daemon, path: &Path) -> Result<Loaded<ServiceConfig>, ReadError> {
    load_service_in(daemon, layout::Layout::Stas2, path)
}

/// Loads `stafd.conf` or `stacd.conf` by the option table of `layout`.
///
/// # Errors
/// The file exists but cannot be read.
pub fn load_service_in(
    daemon: Daemon,
    layout: layout::Layout,
    path: &Path,
) -> Result<Loaded<ServiceConfig>, ReadError> {
    let mut diags = Diagnostics::new(path);
    let text = read_optional(path, &mut diags)?;
    let found = text.is_some();
    let ini = ini::parse(text.as_deref().unwrap_or(""), &mut diags);
    let config = ServiceConfig::from_ini_in(daemon, layout, &ini, &mut diags);
    Ok(Loaded {
        config,
        diagnostics: diags.into_sorted_vec(),
        found,
    })
}

/// Loads the raw `[Host]` values of `sys.conf`.
///
/// # Errors
/// The file exists but cannot be read.
pub fn load_sys_conf(path: &Path) -> Result<Loaded<SysConf>, ReadError> {
    let mut diags = Diagnostics::new(path);
    let text = read_optional(path, &mut diags)?;
    let found = text.is_some();
    let ini = ini::parse(text.as_deref().unwrap_or(""), &mut diags);
    let config = SysConf::from_ini(path, &ini, &mut diags);
    Ok(Loaded {
        config,
        diagnostics: diags.into_sorted_vec(),
        found,
    })
}

/// What `--check-config` prints and how it exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// One line per diagnostic, then a summary line.
    pub lines: Vec<String>,
    /// True when there is no error (warnings are allowed).
    pub ok: bool,
}

impl CheckReport {
    /// Builds the report of `path` from its load result. A missing file is an error here:
    /// whoever asks to check a file expects it to exist.
    #[must_use]
    pub fn new<T>(path: &Path, loaded: &Loaded<T>) -> Self {
        let missing = (!loaded.found).then_some(path);
        Self::summarize(&path.display(), &loaded.diagnostics, missing)
    }

    /// One line per diagnostic, a `no such file` error for `missing`, then the summary line
    /// `<label>: N errors, M warnings`.
    #[must_use]
    pub fn summarize(
        label: &dyn fmt::Display,
        diagnostics: &[Diagnostic],
        missing: Option<&Path>,
    ) -> Self {
        let mut lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
        if let Some(path) = missing {
            lines.push(format!("{}: error: no such file", path.display()));
        }
        let errors =
            diagnostics.iter().filter(|d| d.is_error()).count() + usize::from(missing.is_some());
        let warnings = diagnostics.len() + usize::from(missing.is_some()) - errors;
        let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        lines.push(format!(
            "{label}: {}, {}",
            plural(errors, "error"),
            plural(warnings, "warning")
        ));
        Self {
            lines,
            ok: errors == 0,
        }
    }

    /// The report of an unreadable file.
    #[must_use]
    pub fn unreadable(e: &ReadError) -> Self {
        Self {
            lines: vec![format!("error: {e}")],
            ok: false,
        }
    }
}

/// Checks `stafd.conf` / `stacd.conf` for `--check-config`.
#[must_use]
pub fn check_service_file(daemon: Daemon, path: &Path) -> CheckReport {
    match load_service(daemon, path) {
        Ok(l) => CheckReport::new(path, &l),
        Err(e) => CheckReport::unreadable(&e),
    }
}
