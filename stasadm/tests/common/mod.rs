//! What stasadm's binary tests share: a temporary root for the hidden `--root DIR` option
//! and a `stasadm` command pointed at it.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

/// A temporary directory standing in for `/`.
pub struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    /// An empty root.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// `rel` under the root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes `text` to `rel` (creating its directories); its path.
    pub fn put(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        p
    }

    /// `stasadm --root ROOT`.
    pub fn stasadm(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_stasadm"));
        c.arg("--root").arg(self.dir.path());
        c
    }
}
