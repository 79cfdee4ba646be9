//! `sys.conf`: the host identity section `[Host]` (nvme-stas-behaviour.md §1.3).
//!
//! This module only reads the raw values with their lines; resolving `file://` targets,
//! defaults from `/etc/nvme/*` and validation belong to [`crate::identity`].

use std::path::{Path, PathBuf};

use super::ini::{Diagnostics, Ini, ValueLine};

/// The one section of sys.conf.
pub const HOST: &str = "Host";
/// Its options.
pub const HOST_KEYS: [&str; 4] = ["nqn", "id", "key", "symname"];

/// The raw `[Host]` values of a sys.conf file.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SysConf {
    /// The file these values came from.
    pub file: PathBuf,
    /// `nqn=`: host NQN or `file://PATH`.
    pub nqn: Option<ValueLine>,
    /// `id=`: host ID or `file://PATH`.
    pub id: Option<ValueLine>,
    /// `key=`: host DHCHAP secret or `file://PATH` (never printed by `Debug`).
    pub key: Option<ValueLine>,
    /// `symname=`: TP8010 symbolic name or `file://PATH`.
    pub symname: Option<ValueLine>,
}

impl std::fmt::Debug for SysConf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SysConf")
            .field("file", &self.file)
            .field("nqn", &self.nqn)
            .field("id", &self.id)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("symname", &self.symname)
            .finish()
    }
}

impl SysConf {
    /// Extracts `[Host]` from a parsed file, reporting unknown sections and options.
    #[must_use]
    pub fn from_ini(file: &Path, ini: &Ini, diags: &mut Diagnostics) -> Self {
        for sec in &ini.sections {
            if sec.name != HOST {
                diags.error(
                    Some(sec.line),
                    format!(
                        "invalid section [{}] (ignored); sys.conf has only [Host]",
                        sec.name
                    ),
                );
                continue;
            }
            for e in &sec.entries {
                if !HOST_KEYS.contains(&e.key.as_str()) {
                    diags.error(
                        Some(e.line),
                        format!(
                            "invalid option \"{}\" in [Host] (ignored); valid options: {}",
                            e.key,
                            HOST_KEYS.join(", ")
                        ),
                    );
                }
            }
        }
        let get = |k: &str| ini.last(HOST, k).cloned();
        Self {
            file: file.to_owned(),
            nqn: get("nqn"),
            id: get("id"),
            key: get("key"),
            symname: get("symname"),
        }
    }
}
