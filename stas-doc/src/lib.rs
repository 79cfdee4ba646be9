//! stas-doc: stas's man pages and shell completions, each generated from one source.
//!
//! - The programs' pages ([`programs`]) are clap_mangen's rendering of the clap definitions
//!   the binaries parse with (`libstas::cli`, `libstas::dbus::ctl`, the stasadm and stas-cdc
//!   libraries), followed by the prose sections kept here (files, signals, exit status,
//!   examples, see also).
//! - The configuration file pages ([`files`]) list the keys the parsers accept (their own
//!   tables) with the text of `libstas::config::doc`, whose tests fail on an undocumented key.
//! - The systemd unit pages ([`units`]) are prose kept here.
//! - The completions ([`completions`]) are clap_complete's, for bash, zsh and fish.
//!
//! Nothing depends on the clock or the machine: the pages carry the workspace version only.

pub mod completions;
pub mod files;
pub mod markup;
pub mod programs;
pub mod units;

use std::io;
use std::path::{Path, PathBuf};

/// The `.TH` source field: the package and the workspace version.
pub const SOURCE: &str = concat!("stas ", env!("CARGO_PKG_VERSION"));

/// The `.TH` manual field of a section.
#[must_use]
pub fn manual(section: &str) -> &'static str {
    match section {
        "1" => "User Commands",
        "5" => "File Formats",
        _ => "System Administration",
    }
}

/// One generated file: its name and contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The file name (`stafd.8`, `_stafd`, `stafd.fish`, …).
    pub name: String,
    /// The contents.
    pub text: String,
}

/// Every man page, named `NAME.SECTION`.
#[must_use]
pub fn man_pages() -> Vec<Output> {
    let mut out = programs::pages();
    out.extend(files::pages());
    out.extend(units::pages());
    out
}

/// Writes `files` into `dir` (created if needed) and returns their paths.
///
/// # Errors
/// A directory or file that cannot be written.
pub fn write_all(dir: &Path, files: &[Output]) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    files
        .iter()
        .map(|f| {
            let path = dir.join(&f.name);
            std::fs::write(&path, &f.text)?;
            Ok(path)
        })
        .collect()
}
