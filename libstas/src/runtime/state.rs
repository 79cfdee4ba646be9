//! The warm-restart state ("last known configuration", DECISIONS.md item 11): a versioned
//! TOML file in the runtime directory, written atomically, so a restarted daemon adopts the
//! kernel's existing connections and keeps serving what it knew.
//!
//! Loading never fails: a missing file is an empty state; an unreadable, corrupt or
//! other-version file is logged and treated as empty. nvme-stas's pickles are ignored.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil::{write_atomic, FsError};
use crate::model::snapshot::{DlpeDict, Origin};
use crate::model::trid::TransportId;

/// Format version written by this build.
pub const STATE_VERSION: u32 = 1;
/// File name inside the runtime directory.
pub const STATE_FILE: &str = "last-known-config.toml";

/// Where `prog` keeps its state: `$RUNTIME_DIRECTORY` (the first entry, as systemd sets it
/// for `RuntimeDirectory=`) or `/run/<prog>`.
#[must_use]
pub fn state_path(prog: &str) -> PathBuf {
    let dir = std::env::var("RUNTIME_DIRECTORY")
        .ok()
        .and_then(|v| v.split(':').next().map(PathBuf::from))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("/run").join(prog));
    dir.join(STATE_FILE)
}

/// One discovery controller stafd knew.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StafStateDc {
    /// Its identity.
    pub tid: TransportId,
    /// Where it came from.
    pub origin: Origin,
    /// Its cached discovery log entries.
    #[serde(default)]
    pub log_pages: Vec<DlpeDict>,
}

/// stafd's state file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StafState {
    /// Format version.
    pub version: u32,
    /// Known discovery controllers.
    #[serde(default, rename = "dc")]
    pub dcs: Vec<StafStateDc>,
}

impl Default for StafState {
    fn default() -> Self {
        Self {
            version: STATE_VERSION,
            dcs: Vec::new(),
        }
    }
}

/// stacd's state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StacState {
    /// Format version.
    pub version: u32,
    /// I/O controllers stacd had connected or adopted.
    #[serde(default, rename = "ioc")]
    pub iocs: Vec<TransportId>,
}

impl Default for StacState {
    fn default() -> Self {
        Self {
            version: STATE_VERSION,
            iocs: Vec::new(),
        }
    }
}

trait Versioned {
    fn version(&self) -> u32;
}
impl Versioned for StafState {
    fn version(&self) -> u32 {
        self.version
    }
}
impl Versioned for StacState {
    fn version(&self) -> u32 {
        self.version
    }
}

fn load<T: for<'de> Deserialize<'de> + Default + Versioned>(path: &Path) -> T {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return T::default(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the last known state; starting empty");
            return T::default();
        }
    };
    match toml::from_str::<T>(&text) {
        Ok(s) if s.version() == STATE_VERSION => s,
        Ok(s) => {
            tracing::warn!(path = %path.display(), version = s.version(), "last known state has another format version; starting empty");
            T::default()
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "last known state is corrupt; starting empty");
            T::default()
        }
    }
}

fn save<T: Serialize>(path: &Path, state: &T) -> Result<(), FsError> {
    let text = toml::to_string(state).map_err(|e| FsError {
        op: "serialize",
        path: path.to_owned(),
        io: std::io::Error::other(e),
    })?;
    write_atomic(path, text.as_bytes(), 0o600)
}

/// Loads stafd's state (empty when missing or unusable).
#[must_use]
pub fn load_staf(path: &Path) -> StafState {
    load(path)
}

/// Saves stafd's state atomically.
///
/// # Errors
/// The file cannot be written.
pub fn save_staf(path: &Path, state: &StafState) -> Result<(), FsError> {
    save(path, state)
}

/// Loads stacd's state (empty when missing or unusable).
#[must_use]
pub fn load_stac(path: &Path) -> StacState {
    load(path)
}

/// Saves stacd's state atomically.
///
/// # Errors
/// The file cannot be written.
pub fn save_stac(path: &Path, state: &StacState) -> Result<(), FsError> {
    save(path, state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tid() -> TransportId {
        TransportId {
            transport: "tcp".into(),
            traddr: "192.0.2.1".into(),
            trsvcid: "8009".into(),
            subsysnqn: "nqn.2014-08.org.nvmexpress.discovery".into(),
            host_nqn: "nqn.2014-08.org.nvmexpress:uuid:e2dd6d3b-2a42-46c4-b116-261ddf5b0683".into(),
            ..TransportId::default()
        }
    }

    #[test]
    fn staf_round_trip_and_format() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/last-known-config.toml");
        let mut entry = DlpeDict::new();
        entry.insert("trtype".into(), "tcp".into());
        entry.insert("tsas".into(), "{'sectype': 'none'}".into());
        let st = StafState {
            version: STATE_VERSION,
            dcs: vec![StafStateDc {
                tid: tid(),
                origin: Origin::Referral,
                log_pages: vec![entry],
            }],
        };
        save_staf(&p, &st).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("version = 1\n"), "{text}");
        assert!(text.contains("[[dc]]"), "{text}");
        assert!(text.contains("origin = \"referral\""), "{text}");
        assert!(text.contains("host-nqn = "), "{text}");
        assert_eq!(load_staf(&p), st);
    }

    #[test]
    fn missing_corrupt_and_foreign_versions_are_empty() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.toml");
        assert_eq!(load_staf(&p), StafState::default());
        std::fs::write(&p, "this is = = not toml").unwrap();
        assert_eq!(load_staf(&p), StafState::default());
        std::fs::write(&p, "version = 99\n").unwrap();
        assert_eq!(load_staf(&p), StafState::default());
        std::fs::write(&p, b"\x80\x04\x95pickle").unwrap();
        assert_eq!(load_stac(&p), StacState::default());
    }

    #[test]
    fn stac_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.toml");
        let st = StacState {
            version: STATE_VERSION,
            iocs: vec![tid()],
        };
        save_stac(&p, &st).unwrap();
        assert_eq!(load_stac(&p), st);
    }
}
