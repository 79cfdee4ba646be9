//! `stasadm migrate`: moves a host configured for nvme-stas 2.x (`/etc/stas/stafd.conf`,
//! `stacd.conf`, `sys.conf`) to the 3.x layout (`/etc/nvme/nvme-stas.conf` in the
//! nvme-fabrics.conf(5) format, `/etc/nvme/stafd.conf`, `/etc/nvme/stacd.conf`, and the named
//! exclusion list `/etc/nvme/exclusions.conf.d/stas.conf`) without losing a setting
//! (ecosystem-2026.md §3.9 example C, DECISIONS.md item 17).
//!
//! This module owns the whole migration:
//! - [`plan`] reads the 2.x files with the 2.x loaders, resolves the host identity they give
//!   (`file://` values, the `/etc/nvme` defaults) and maps everything into a [`Plan`]: the
//!   files to write ([`PlannedFile`], with a masked rendering that never shows a secret) and
//!   the [`NotCarried`] list, in which every 2.x option line, controller or exclude entry that
//!   has no place in the 3.x files is named with its file, line and reason. Nothing is
//!   dropped silently. The mapping itself does no I/O and is deterministic: the same input
//!   gives byte-identical files.
//! - [`apply`] writes the planned files atomically, `nvme-stas.conf` last (its existence
//!   switches the daemons to the 3.x layout), skips unchanged files, and refuses to replace a
//!   differing file unless forced. The 2.x files are never written.

mod build;
mod doc;
mod identity;
#[cfg(test)]
mod tests;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use self::build::{Input, Outputs, SourceFile};
use self::doc::scrub;
use crate::config::ini::{self, Diagnostics};
use crate::config::{load_service, load_sys_conf, Daemon, Diagnostic, ReadError};
use crate::fsutil::{write_atomic, FsError};
use crate::identity::IdentityPaths;

pub use self::doc::MASK;

/// Where the 2.x files are by default.
pub const DEFAULT_FROM: &str = "/etc/stas";
/// Where the 3.x files go by default.
pub const DEFAULT_TO: &str = "/etc/nvme";

/// Mode of a written file that holds no secret.
pub const MODE_PUBLIC: u32 = 0o644;
/// Mode of a written file that holds a secret (a DH-HMAC-CHAP key).
pub const MODE_SECRET: u32 = 0o600;

/// The files a migration reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigratePaths {
    /// The 2.x `stafd.conf`.
    pub stafd_conf: PathBuf,
    /// The 2.x `stacd.conf`.
    pub stacd_conf: PathBuf,
    /// The 2.x `sys.conf`.
    pub sys_conf: PathBuf,
    /// Where the identity defaults are (`/etc/nvme/hostnqn`, `hostid`, `hostkey`).
    pub identity: IdentityPaths,
    /// Testing only: `file://` targets of sys.conf are read under this directory.
    pub root: Option<PathBuf>,
    /// The directory of the 3.x files (`/etc/nvme`).
    pub to: PathBuf,
}

impl MigratePaths {
    /// `from/stafd.conf`, `from/stacd.conf`, `from/sys.conf` into `to`, with the identity
    /// defaults in `/etc/nvme`.
    #[must_use]
    pub fn new(from: &Path, to: &Path) -> Self {
        Self {
            stafd_conf: from.join("stafd.conf"),
            stacd_conf: from.join("stacd.conf"),
            sys_conf: from.join("sys.conf"),
            identity: IdentityPaths::default(),
            root: None,
            to: to.to_owned(),
        }
    }

    /// The same paths, with the identity files (the `/etc/nvme` defaults and every
    /// `file://` target) read under `root`.
    #[must_use]
    pub fn under_root(mut self, root: &Path) -> Self {
        self.identity = IdentityPaths::under(root);
        self.root = Some(root.to_owned());
        self
    }

    /// `<to>/nvme-stas.conf`: the main 3.x file, written last.
    #[must_use]
    pub fn main_conf(&self) -> PathBuf {
        self.to.join("nvme-stas.conf")
    }

    /// `<to>/nvme-stas.conf.d`: where the host-NQN personas go.
    #[must_use]
    pub fn dropin_dir(&self) -> PathBuf {
        self.to.join("nvme-stas.conf.d")
    }

    /// `<to>/stafd.conf`.
    #[must_use]
    pub fn stafd_out(&self) -> PathBuf {
        self.to.join("stafd.conf")
    }

    /// `<to>/stacd.conf`.
    #[must_use]
    pub fn stacd_out(&self) -> PathBuf {
        self.to.join("stacd.conf")
    }

    /// `<to>/exclusions.conf.d/stas.conf`: the named exclusion list.
    #[must_use]
    pub fn exclusions_out(&self) -> PathBuf {
        self.to.join("exclusions.conf.d/stas.conf")
    }
}

/// Why a migration cannot be planned or applied. Messages name the file and never show a
/// secret.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// A 2.x file exists but cannot be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A 3.x file cannot be read or written.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// None of the three 2.x files exists.
    #[error("no nvme-stas 2.x configuration to migrate: none of {} exists", list(.0))]
    NothingToMigrate(Vec<PathBuf>),
    /// A target is one of the 2.x files.
    #[error("{}: is a 2.x source file; the 2.x files are never written (choose another --to)", .0.display())]
    TargetIsSource(PathBuf),
    /// Targets exist with other content, and the migration was not forced.
    #[error(
        "{}: {} and {} not hold this configuration; nothing written (run without --write to see the \
         differences, or with --force to replace them)",
        list(.0),
        if .0.len() == 1 { "exists" } else { "exist" },
        if .0.len() == 1 { "does" } else { "do" }
    )]
    Conflict(Vec<PathBuf>),
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a planned file compares with what is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    /// No such file yet.
    New,
    /// The file already holds exactly these contents.
    Unchanged,
    /// The file exists with other contents.
    Differs,
}

impl fmt::Display for FileStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::New => "new",
            Self::Unchanged => "unchanged",
            Self::Differs => "differs from the existing file",
        })
    }
}

/// One 3.x file to write. `Debug` shows only the masked contents.
#[derive(Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Where it goes.
    pub path: PathBuf,
    /// The full contents (secrets included).
    pub contents: String,
    /// The contents with every secret value replaced by [`MASK`], for display.
    pub masked: String,
    /// [`MODE_SECRET`] when the file holds a secret, else [`MODE_PUBLIC`].
    pub mode: u32,
    /// How it compares with the file on disk when the plan was made.
    pub status: FileStatus,
}

impl PlannedFile {
    /// Whether the file holds a secret.
    #[must_use]
    pub fn has_secret(&self) -> bool {
        self.mode == MODE_SECRET
    }
}

impl fmt::Debug for PlannedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlannedFile")
            .field("path", &self.path)
            .field("masked", &self.masked)
            .field("mode", &format_args!("{:o}", self.mode))
            .field("status", &self.status)
            .finish()
    }
}

/// Something of the 2.x configuration that the 3.x files do not carry, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotCarried {
    /// The 2.x file (or the identity file a sys.conf value named).
    pub file: PathBuf,
    /// The line, when the item belongs to one.
    pub line: Option<usize>,
    /// What it is (`[I/O controller connection management] disconnect-trtypes=tcp`,
    /// `controller key "foo"`, …). Never a secret value.
    pub what: String,
    /// Why it is not carried, and what was done instead.
    pub why: String,
}

impl fmt::Display for NotCarried {
    /// `<file>:<line>: <what>: <why>`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(n) = self.line {
            write!(f, ":{n}")?;
        }
        write!(f, ": {}: {}", scrub(&self.what), scrub(&self.why))
    }
}

/// What a migration would do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The files to write, in display order (nvme-stas.conf first; [`apply`] writes it last).
    pub files: Vec<PlannedFile>,
    /// What is not carried over, in file and line order.
    pub not_carried: Vec<NotCarried>,
    /// What the 2.x loaders reported about the 2.x files (invalid values, unknown options…).
    pub diagnostics: Vec<Diagnostic>,
    /// Warnings about what is carried differently (the 2.x port 8009 written out, …).
    pub notes: Vec<String>,
}

impl Plan {
    /// The planned file at `path`.
    #[must_use]
    pub fn file(&self, path: &Path) -> Option<&PlannedFile> {
        self.files.iter().find(|f| f.path == path)
    }

    /// Whether every planned file already exists with these contents.
    #[must_use]
    pub fn is_unchanged(&self) -> bool {
        self.files.iter().all(|f| f.status == FileStatus::Unchanged)
    }

    /// The not-carried list, the 2.x diagnostics and the notes, one per line (no secrets).
    #[must_use]
    pub fn render_report(&self) -> String {
        let mut out = String::new();
        if self.not_carried.is_empty() {
            out.push_str("not carried over: nothing\n");
        } else {
            out.push_str(&format!("not carried over ({}):\n", self.not_carried.len()));
            for item in &self.not_carried {
                out.push_str(&format!("{item}\n"));
            }
        }
        if !self.diagnostics.is_empty() {
            out.push_str(&format!("2.x diagnostics ({}):\n", self.diagnostics.len()));
            for d in &self.diagnostics {
                out.push_str(&scrub(&d.to_string()));
                out.push('\n');
            }
        }
        if !self.notes.is_empty() {
            out.push_str(&format!("notes ({}):\n", self.notes.len()));
            for n in &self.notes {
                out.push_str(&scrub(n));
                out.push('\n');
            }
        }
        out
    }

    /// What `stasadm migrate` prints without `--write`: each file as
    /// `--- <path> (new | unchanged | differs from the existing file)` and its masked
    /// contents, then [`render_report`](Self::render_report).
    #[must_use]
    pub fn render_dry_run(&self) -> String {
        let mut out = String::new();
        for f in &self.files {
            out.push_str(&format!("--- {} ({})\n", f.path.display(), f.status));
            out.push_str(&f.masked);
        }
        out.push_str(&self.render_report());
        out.push_str(if self.is_unchanged() {
            "dry run: the 3.x files already hold this configuration\n"
        } else {
            "dry run: nothing written; \"stasadm migrate --write\" writes these files\n"
        });
        out
    }
}

/// What [`apply`] did to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Written (created or replaced).
    Wrote,
    /// Already held these contents; left alone.
    Unchanged,
}

/// What [`apply`] did, in the order it did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Each planned file and what happened to it.
    pub files: Vec<(PathBuf, Outcome)>,
}

impl Applied {
    /// Whether nothing was written.
    #[must_use]
    pub fn nothing_written(&self) -> bool {
        self.files.iter().all(|(_, o)| *o == Outcome::Unchanged)
    }

    /// One line per file (`wrote <path>` / `unchanged <path>`), or the single line
    /// `nothing to do: …` when nothing was written.
    #[must_use]
    pub fn render(&self) -> String {
        if self.nothing_written() {
            return "nothing to do: the 3.x files already hold this configuration\n".to_owned();
        }
        self.files
            .iter()
            .map(|(p, o)| match o {
                Outcome::Wrote => format!("wrote {}\n", p.display()),
                Outcome::Unchanged => format!("unchanged {}\n", p.display()),
            })
            .collect()
    }
}

/// Reads a 2.x file as raw text (a missing file is empty).
fn read_raw(path: &Path) -> Result<Option<String>, ReadError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(io) => Err(ReadError {
            path: path.to_owned(),
            io,
        }),
    }
}

/// The raw parse of a 2.x file, with the diagnostics of the 2.x loader.
fn source(path: &Path, diagnostics: Vec<Diagnostic>, found: bool) -> Result<SourceFile, ReadError> {
    let text = read_raw(path)?;
    let mut scratch = Diagnostics::new(path);
    let ini = ini::parse(text.as_deref().unwrap_or(""), &mut scratch);
    Ok(SourceFile {
        path: path.to_owned(),
        ini,
        diagnostics,
        found: found && text.is_some(),
    })
}

/// The contents of `path`, or `None` when it does not exist.
fn read_target(path: &Path) -> Result<Option<Vec<u8>>, FsError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(io) => Err(FsError {
            op: "read",
            path: path.to_owned(),
            io,
        }),
    }
}

fn status_of(path: &Path, contents: &str) -> Result<FileStatus, FsError> {
    Ok(match read_target(path)? {
        None => FileStatus::New,
        Some(b) if b == contents.as_bytes() => FileStatus::Unchanged,
        Some(_) => FileStatus::Differs,
    })
}

/// Plans the migration of the 2.x files of `paths`: reads them and the identity files, and
/// compares the result with the 3.x files on disk. Writes nothing.
///
/// # Errors
/// A 2.x file or a target that exists but cannot be read, none of the 2.x files exists, or a
/// target is one of the 2.x files.
pub fn plan(paths: &MigratePaths) -> Result<Plan, MigrateError> {
    let stafd = load_service(Daemon::Stafd, &paths.stafd_conf)?;
    let stacd = load_service(Daemon::Stacd, &paths.stacd_conf)?;
    let sys = load_sys_conf(&paths.sys_conf)?;
    let sources = [&paths.sys_conf, &paths.stafd_conf, &paths.stacd_conf];
    if !(stafd.found || stacd.found || sys.found) {
        return Err(MigrateError::NothingToMigrate(
            sources.iter().map(|p| (*p).clone()).collect(),
        ));
    }
    let out = Outputs {
        main: paths.main_conf(),
        dropin_dir: paths.dropin_dir(),
        stafd: paths.stafd_out(),
        stacd: paths.stacd_out(),
        exclusions: paths.exclusions_out(),
    };
    for target in [&out.main, &out.stafd, &out.stacd, &out.exclusions] {
        if let Some(s) = sources.iter().find(|s| same_file(s, target)) {
            return Err(MigrateError::TargetIsSource((*s).clone()));
        }
    }
    let identity = identity::resolve(&sys.config, &paths.identity, paths.root.as_deref());
    let mut diagnostics = sys.diagnostics.clone();
    diagnostics.extend(stafd.diagnostics.iter().cloned());
    diagnostics.extend(stacd.diagnostics.iter().cloned());
    let input = Input {
        sys: source(&paths.sys_conf, sys.diagnostics, sys.found)?,
        stafd: (
            source(&paths.stafd_conf, stafd.diagnostics, stafd.found)?,
            stafd.config,
        ),
        stacd: (
            source(&paths.stacd_conf, stacd.diagnostics, stacd.found)?,
            stacd.config,
        ),
        identity,
        out,
    };
    let built = build::build(&input);

    let mut files = Vec::new();
    for (path, doc) in built.files {
        let contents = doc.render(false);
        let status = status_of(&path, &contents)?;
        files.push(PlannedFile {
            masked: doc.render(true),
            mode: if doc.has_secret() {
                MODE_SECRET
            } else {
                MODE_PUBLIC
            },
            path,
            contents,
            status,
        });
    }

    let rank = |p: &Path| {
        sources
            .iter()
            .position(|s| s.as_path() == p)
            .unwrap_or(sources.len())
    };
    let mut not_carried = built.not_carried;
    not_carried.sort_by_key(|i| (rank(&i.file), i.line));

    let mut notes = built.notes;
    notes.extend(foreign_dropins(&paths.dropin_dir(), &files));
    Ok(Plan {
        files,
        not_carried,
        diagnostics,
        notes,
    })
}

/// Whether `a` and `b` name the same file: the same inode when both exist, else the same path.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => a == b,
    }
}

/// Notes about drop-ins already in `dir` that this migration does not write: the daemons
/// will read them too.
fn foreign_dropins(dir: &Path, files: &[PlannedFile]) -> Vec<String> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.len() > ".conf".len() && n.ends_with(".conf"))
        })
        .filter(|p| !files.iter().any(|f| &f.path == p))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|p| {
            format!(
                "{}: not written by this migration, but the 3.x daemons read it too",
                p.display()
            )
        })
        .collect()
}

/// Writes the files of `plan`: each one atomically ([`write_atomic`]), `nvme-stas.conf` last,
/// files holding a secret with mode 0600, unchanged files skipped. The files on disk are
/// compared again first: if one exists with other contents, nothing is written unless
/// `force`.
///
/// # Errors
/// A differing target without `force` ([`MigrateError::Conflict`], nothing written), or a
/// failed read or write (files written before the failure stay, the main file is written
/// last so the daemons do not switch layouts on a partial write).
pub fn apply(plan: &Plan, force: bool) -> Result<Applied, MigrateError> {
    let mut statuses = Vec::new();
    let mut conflicts = Vec::new();
    for f in &plan.files {
        let status = status_of(&f.path, &f.contents)?;
        if status == FileStatus::Differs && !force {
            conflicts.push(f.path.clone());
        }
        statuses.push(status);
    }
    if !conflicts.is_empty() {
        return Err(MigrateError::Conflict(conflicts));
    }
    // nvme-stas.conf (the first planned file) last: its existence switches the layout.
    let mut order: Vec<usize> = (1..plan.files.len()).collect();
    if !plan.files.is_empty() {
        order.push(0);
    }
    let mut done = Vec::new();
    for i in order {
        let f = &plan.files[i];
        if statuses[i] == FileStatus::Unchanged {
            done.push((f.path.clone(), Outcome::Unchanged));
            continue;
        }
        if f.has_secret() {
            restrict_existing(&f.path)?;
        }
        write_atomic(&f.path, f.contents.as_bytes(), f.mode)?;
        done.push((f.path.clone(), Outcome::Wrote));
    }
    Ok(Applied { files: done })
}

/// Before a secret replaces the contents of an existing file, makes that file 0600
/// ([`write_atomic`] keeps an existing file's mode).
fn restrict_existing(path: &Path) -> Result<(), FsError> {
    use std::os::unix::fs::PermissionsExt;
    match fs::metadata(path) {
        Ok(m) if m.permissions().mode() & 0o077 != 0 => {
            fs::set_permissions(path, fs::Permissions::from_mode(MODE_SECRET)).map_err(|io| {
                FsError {
                    op: "restrict the permissions of",
                    path: path.to_owned(),
                    io,
                }
            })
        }
        _ => Ok(()),
    }
}
