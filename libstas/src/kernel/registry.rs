//! The nvme-cli 3 ownership registry (`/run/nvme/registry`): which orchestrator owns each
//! fabrics controller.
//!
//! This module owns every read and write stas makes to the registry: one directory per
//! controller (`nvme<N>/`, 0755) holding `seqnum` (the uevent seqnum at connect) and `owner`
//! (e.g. [`OWNER_STAS`]), each file 0644 with the value plus one `\n`. Entries are written
//! with the create-entry protocol (a complete entry is built in a temporary `.nvme<N>.tmp.*`
//! directory and renamed into place, so readers only ever see a complete entry or none) and
//! attributes with the write-attribute protocol (temporary `<attr>.tmp.*` file, rename onto
//! the attribute, fsync of the directory).
//!
//! Reading is forgiving: a missing, empty or unreadable `owner` file means "unowned", and
//! names starting with `.` (temporary and trash objects) are never entries. Deletion is not
//! offered: the udev rule shipped with libnvme removes entries of controllers that go away,
//! and an orchestrator must not delete entries it did not create.
//!
//! The registry is cooperative; nothing here is enforced by the kernel. All operations are
//! synchronous and touch only the local file system (normally a tmpfs).

use std::collections::hash_map::RandomState;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{debug, warn};

/// The owner name stas writes and recognises as itself.
pub const OWNER_STAS: &str = "stas";

/// The default registry directory.
const SYSTEM_ROOT: &str = "/run/nvme/registry";
/// The kernel's uevent sequence number.
const SYSTEM_SEQNUM: &str = "/sys/kernel/uevent_seqnum";

/// Attribute holding the owner name.
const ATTR_OWNER: &str = "owner";
/// Attribute holding the uevent seqnum stamp.
const ATTR_SEQNUM: &str = "seqnum";

/// Mode of the registry root and of every entry directory.
const DIR_MODE: u32 = 0o755;
/// Mode of every attribute file.
const FILE_MODE: u32 = 0o644;
/// Longest accepted owner name, in bytes.
const OWNER_MAX_LEN: usize = 64;
/// How many unique names to try before giving up on a temporary object.
const TEMP_ATTEMPTS: u32 = 100;

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The device name is not `nvme` followed by one or more decimal digits.
    #[error("invalid registry device name {0:?}: expected nvme<N>")]
    InvalidDevice(String),
    /// The attribute name is not made of `[A-Za-z0-9_-]` characters only.
    #[error("invalid registry attribute name {0:?}: expected [A-Za-z0-9_-]+")]
    InvalidAttribute(String),
    /// The owner name is empty, longer than 64 bytes, or contains a control character,
    /// whitespace or `/`.
    #[error(
        "invalid registry owner {0:?}: expected 1 to 64 bytes without whitespace, '/' or control characters"
    )]
    InvalidOwner(String),
    /// A file system operation failed.
    #[error("registry: cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done (`create directory`, `write`, `rename`, …).
        op: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl RegistryError {
    fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Self + 'a {
        move |source| Self::Io {
            op,
            path: path.to_owned(),
            source,
        }
    }
}

/// A handle on one registry directory (the system's, or a test directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    root: PathBuf,
    seqnum: PathBuf,
}

impl Registry {
    /// `root` is the registry directory (normally /run/nvme/registry); `seqnum` the uevent
    /// seqnum file (normally /sys/kernel/uevent_seqnum).
    pub fn new(root: impl Into<PathBuf>, seqnum: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            seqnum: seqnum.into(),
        }
    }

    /// The system's: /run/nvme/registry and /sys/kernel/uevent_seqnum.
    #[must_use]
    pub fn system() -> Self {
        Self::new(SYSTEM_ROOT, SYSTEM_SEQNUM)
    }

    /// The registry directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The owner of `device` (`nvme<N>`): None when there is no entry, no owner file, an
    /// empty one, or it cannot be read (read errors are "no entry", logged at debug with
    /// tracing). An invalid device name also gives None.
    ///
    /// Trailing `\r` and `\n` are stripped; bytes that are not UTF-8 are replaced (the
    /// controller still counts as owned).
    #[must_use]
    pub fn owner(&self, device: &str) -> Option<String> {
        if let Err(e) = check_device(device) {
            debug!("{e}");
            return None;
        }
        let path = self.root.join(device).join(ATTR_OWNER);
        match fs::read(&path) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let value = text.trim_end_matches(['\r', '\n']);
                (!value.is_empty()).then(|| value.to_owned())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                debug!(
                    "registry: cannot read {}: {e}; treating as no entry",
                    path.display()
                );
                None
            }
        }
    }

    /// Writes a complete new entry for `device` owned by `owner` with the create-entry
    /// protocol: the registry root is created (0755) if needed; the entry is built in a
    /// temporary directory `.nvmeN.tmp.XXXXXX` (0755) with `seqnum` first (best effort: no
    /// stamp if the seqnum file is unreadable), then `owner`, each written with the
    /// write-attribute protocol (temporary `<attr>.tmp.XXXXXX` file created 0644 with
    /// `O_CLOEXEC`, value plus `\n`, rename onto the attribute, fsync of the directory). An
    /// existing `nvmeN` is moved aside atomically into `.trash.XXXXXX` (a missing one is
    /// fine), the temporary directory is renamed to `nvmeN`, and the trash is purged.
    ///
    /// Temporary and trash directories it made are removed on success and on failure.
    ///
    /// # Errors
    /// [`RegistryError::InvalidDevice`] / [`RegistryError::InvalidOwner`] before anything is
    /// touched; [`RegistryError::Io`] naming the path and the step that failed.
    pub fn create(&self, device: &str, owner: &str) -> Result<(), RegistryError> {
        check_device(device)?;
        check_owner(owner)?;
        let tmp = self.build_entry(device, owner)?;
        let entry = self.root.join(device);

        // Move any existing (stale) entry aside atomically.
        let trash = match make_temp_dir(&self.root, ".trash.") {
            Ok(t) => t,
            Err(e) => {
                remove_tree(&tmp);
                return Err(e);
            }
        };
        match fs::rename(&entry, &trash) {
            Ok(()) => debug!("registry: replacing stale entry {}", entry.display()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                remove_tree(&tmp);
                remove_tree(&trash);
                return Err(RegistryError::io("move aside", &entry)(e));
            }
        }
        // Put the new entry in place before purging, so the entry is absent as briefly as
        // possible (an unowned controller is fair game for `nvme disconnect-all`).
        let placed =
            fs::rename(&tmp, &entry).map_err(RegistryError::io("rename into place", &entry));
        if placed.is_err() {
            remove_tree(&tmp);
        }
        remove_tree(&trash);
        placed?;
        sync_dir(&self.root);
        debug!("registry: {device} owned by {owner:?}");
        Ok(())
    }

    /// Claims a borrowed (adopted) controller: when `device` has no owner, writes `owner`
    /// (if the entry directory does not exist, creates a complete entry as
    /// [`create`](Self::create) does, stamped with the current seqnum); when it has an owner,
    /// changes nothing. Returns the owner the entry has afterwards.
    ///
    /// Never replaces another owner, even when one appears concurrently: a missing `owner`
    /// file is created with an exclusive link, and a new entry is renamed into place only
    /// when no non-empty entry directory exists.
    ///
    /// # Errors
    /// [`RegistryError::InvalidDevice`] / [`RegistryError::InvalidOwner`] before anything is
    /// touched; [`RegistryError::Io`] naming the path and the step that failed.
    pub fn claim(&self, device: &str, owner: &str) -> Result<String, RegistryError> {
        check_device(device)?;
        check_owner(owner)?;
        let entry = self.root.join(device);
        let mut attempts = 0;
        loop {
            attempts += 1;
            if let Some(current) = self.owner(device) {
                return Ok(current);
            }
            match fs::metadata(&entry) {
                Ok(m) if m.is_dir() => {
                    // Entry without owner (or with an empty one): add ours, without
                    // replacing an owner file that appears meanwhile.
                    if write_attr(&entry, ATTR_OWNER, owner, Replace::No)? {
                        break;
                    }
                    if let Some(current) = self.owner(device) {
                        return Ok(current);
                    }
                    // An empty (unowned) owner file: replace it.
                    write_attr(&entry, ATTR_OWNER, owner, Replace::Yes)?;
                    break;
                }
                Ok(_) => {
                    return Err(RegistryError::Io {
                        op: "claim",
                        path: entry,
                        source: io::Error::from_raw_os_error(libc::ENOTDIR),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let tmp = self.build_entry(device, owner)?;
                    // rename(2) replaces only a missing or empty directory; a populated
                    // entry that appeared meanwhile makes it fail, and we look again.
                    match fs::rename(&tmp, &entry) {
                        Ok(()) => {
                            sync_dir(&self.root);
                            break;
                        }
                        Err(e) => {
                            remove_tree(&tmp);
                            let raced =
                                matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST));
                            if !raced || attempts >= 3 {
                                return Err(RegistryError::io("rename into place", &entry)(e));
                            }
                        }
                    }
                }
                Err(e) => return Err(RegistryError::io("inspect", &entry)(e)),
            }
        }
        debug!("registry: claimed {device} for {owner:?}");
        Ok(owner.to_owned())
    }

    /// Every entry: (device, owner) of the directories whose names match `nvme[0-9]+`
    /// (names starting with `.` are skipped), owner None when unowned. Sorted by device
    /// name, in instance order (`nvme2` before `nvme10`). An unreadable or missing registry
    /// has no entries (logged at debug).
    #[must_use]
    pub fn entries(&self) -> Vec<(String, Option<String>)> {
        let dir = match fs::read_dir(&self.root) {
            Ok(d) => d,
            Err(e) => {
                if e.kind() != io::ErrorKind::NotFound {
                    debug!("registry: cannot list {}: {e}", self.root.display());
                }
                return Vec::new();
            }
        };
        let mut out: Vec<(String, Option<String>)> = dir
            .filter_map(Result::ok)
            .filter_map(|ent| {
                let name = ent.file_name().into_string().ok()?;
                if name.starts_with('.') || check_device(&name).is_err() {
                    return None;
                }
                ent.file_type().ok()?.is_dir().then_some(name)
            })
            .map(|name| {
                let owner = self.owner(&name);
                (name, owner)
            })
            .collect();
        out.sort_by(|(a, _), (b, _)| {
            let (na, nb) = (&a["nvme".len()..], &b["nvme".len()..]);
            na.len().cmp(&nb.len()).then_with(|| na.cmp(nb))
        });
        out
    }

    /// Builds a complete entry for `device` in a fresh temporary directory under the root
    /// (creating the root if needed) and returns that directory. Cleans up on failure.
    fn build_entry(&self, device: &str, owner: &str) -> Result<PathBuf, RegistryError> {
        self.ensure_root()?;
        let tmp = make_temp_dir(&self.root, &format!(".{device}.tmp."))?;
        let fill = || -> Result<(), RegistryError> {
            fs::set_permissions(&tmp, fs::Permissions::from_mode(DIR_MODE))
                .map_err(RegistryError::io("chmod", &tmp))?;
            if let Some(seqnum) = self.read_seqnum() {
                write_attr(&tmp, ATTR_SEQNUM, &seqnum.to_string(), Replace::Yes)?;
            }
            write_attr(&tmp, ATTR_OWNER, owner, Replace::Yes)?;
            Ok(())
        };
        if let Err(e) = fill() {
            remove_tree(&tmp);
            return Err(e);
        }
        Ok(tmp)
    }

    /// `mkdir -p` of the root; a root we create gets 0755 regardless of the umask.
    fn ensure_root(&self) -> Result<(), RegistryError> {
        if self.root.is_dir() {
            return Ok(());
        }
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(&self.root)
            .map_err(RegistryError::io("create directory", &self.root))?;
        fs::set_permissions(&self.root, fs::Permissions::from_mode(DIR_MODE))
            .map_err(RegistryError::io("chmod", &self.root))
    }

    /// The current uevent seqnum, or None (logged at debug) when it cannot be read.
    fn read_seqnum(&self) -> Option<u64> {
        match fs::read_to_string(&self.seqnum) {
            Ok(text) => match text.trim().parse() {
                Ok(n) => Some(n),
                Err(_) => {
                    debug!(
                        "registry: {} holds {:?}, not a seqnum; entry gets no stamp",
                        self.seqnum.display(),
                        text.trim()
                    );
                    None
                }
            },
            Err(e) => {
                debug!(
                    "registry: cannot read {}: {e}; entry gets no stamp",
                    self.seqnum.display()
                );
                None
            }
        }
    }
}

/// Whether [`write_attr`] may replace an existing attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replace {
    /// Rename onto the attribute (the normal protocol).
    Yes,
    /// Create the attribute only if it does not exist (exclusive hard link).
    No,
}

/// `nvme` followed by one or more ASCII digits.
fn check_device(device: &str) -> Result<(), RegistryError> {
    match device.strip_prefix("nvme") {
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        _ => Err(RegistryError::InvalidDevice(device.to_owned())),
    }
}

/// `[A-Za-z0-9_-]+`.
fn check_attr(attr: &str) -> Result<(), RegistryError> {
    if !attr.is_empty()
        && attr
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(())
    } else {
        Err(RegistryError::InvalidAttribute(attr.to_owned()))
    }
}

/// Non-empty, at most 64 bytes, no control characters, whitespace or `/`.
fn check_owner(owner: &str) -> Result<(), RegistryError> {
    let ok = !owner.is_empty()
        && owner.len() <= OWNER_MAX_LEN
        && !owner
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '/');
    if ok {
        Ok(())
    } else {
        Err(RegistryError::InvalidOwner(owner.to_owned()))
    }
}

/// Six characters from `[A-Za-z0-9]`, unpredictable enough for temporary names (the
/// per-process random hasher keys mixed with a counter, the pid and the time).
fn unique_suffix() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let mut v = h.finish();
    let alphabet_len = ALPHABET.len() as u64;
    (0..6)
        .map(|_| {
            let i = usize::try_from(v % alphabet_len).unwrap_or(0);
            v /= alphabet_len;
            char::from(ALPHABET[i])
        })
        .collect()
}

/// `mkdtemp("<dir>/<prefix>XXXXXX")`: a new directory, mode 0700.
fn make_temp_dir(dir: &Path, prefix: &str) -> Result<PathBuf, RegistryError> {
    let mut last = None;
    for _ in 0..TEMP_ATTEMPTS {
        let path = dir.join(format!("{prefix}{}", unique_suffix()));
        match DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(RegistryError::io("create directory", &path)(e)),
        }
    }
    let e = last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists));
    Err(RegistryError::io("create temporary directory in", dir)(e))
}

/// `mkostemp("<dir>/<prefix>XXXXXX", O_CLOEXEC)`: a new empty file (std always opens with
/// `O_CLOEXEC`), with its path.
fn make_temp_file(dir: &Path, prefix: &str) -> Result<(File, PathBuf), RegistryError> {
    let mut last = None;
    for _ in 0..TEMP_ATTEMPTS {
        let path = dir.join(format!("{prefix}{}", unique_suffix()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&path)
        {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(RegistryError::io("create", &path)(e)),
        }
    }
    let e = last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists));
    Err(RegistryError::io("create temporary file in", dir)(e))
}

/// The write-attribute protocol: temporary `<attr>.tmp.XXXXXX` (0644, `O_CLOEXEC`) holding
/// `value` and `\n`, moved onto `<dir>/<attr>`, then an fsync of `dir`.
///
/// With [`Replace::No`] the move is an exclusive hard link and `Ok(false)` means the
/// attribute already existed (nothing was changed). Never leaves the temporary file behind.
fn write_attr(
    dir: &Path,
    attr: &str,
    value: &str,
    replace: Replace,
) -> Result<bool, RegistryError> {
    check_attr(attr)?;
    debug_assert!(!value.contains(['\n', '\r']), "value {value:?} spans lines");
    let target = dir.join(attr);
    let (mut file, tmp) = make_temp_file(dir, &format!("{attr}.tmp."))?;
    let written = (|| {
        file.set_permissions(fs::Permissions::from_mode(FILE_MODE))
            .map_err(RegistryError::io("chmod", &tmp))?;
        file.write_all(format!("{value}\n").as_bytes())
            .map_err(RegistryError::io("write", &tmp))?;
        drop(file);
        match replace {
            Replace::Yes => fs::rename(&tmp, &target)
                .map(|()| true)
                .map_err(RegistryError::io("rename onto", &target)),
            Replace::No => {
                let linked = match fs::hard_link(&tmp, &target) {
                    Ok(()) => Ok(true),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
                    Err(e) => Err(RegistryError::io("link onto", &target)(e)),
                };
                let _ = fs::remove_file(&tmp);
                linked
            }
        }
    })();
    match written {
        Ok(true) => {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(RegistryError::io("fsync", dir))?;
            Ok(true)
        }
        Ok(false) => Ok(false),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Best-effort fsync of a directory (after an entry was renamed into it).
fn sync_dir(dir: &Path) {
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        debug!("registry: cannot fsync {}: {e}", dir.display());
    }
}

/// Best-effort removal of a temporary or trash directory and its files.
fn remove_tree(path: &Path) {
    match fs::remove_dir_all(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => warn!("registry: cannot remove {}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        _dir: tempfile::TempDir,
        reg: Registry,
        seqnum: PathBuf,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let seqnum = dir.path().join("uevent_seqnum");
        fs::write(&seqnum, "4711\n").unwrap();
        let reg = Registry::new(dir.path().join("run/nvme/registry"), &seqnum);
        Fixture {
            _dir: dir,
            reg,
            seqnum,
        }
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    fn no_dot_names(dir: &Path) {
        let dots: Vec<String> = names(dir)
            .into_iter()
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(
            dots.is_empty(),
            "left behind in {}: {dots:?}",
            dir.display()
        );
    }

    fn mkentry(reg: &Registry, device: &str, files: &[(&str, &str)]) {
        let dir = reg.root().join(device);
        fs::create_dir_all(&dir).unwrap();
        for (name, value) in files {
            fs::write(dir.join(name), value).unwrap();
        }
    }

    #[test]
    fn create_writes_a_complete_entry() {
        let f = fixture();
        f.reg.create("nvme3", OWNER_STAS).unwrap();
        let root = f.reg.root();
        let entry = root.join("nvme3");
        assert_eq!(mode(root), 0o755);
        assert_eq!(mode(&entry), 0o755);
        assert_eq!(names(&entry), ["owner", "seqnum"]);
        for attr in ["owner", "seqnum"] {
            assert_eq!(mode(&entry.join(attr)), 0o644, "{attr}");
        }
        assert_eq!(fs::read_to_string(entry.join("seqnum")).unwrap(), "4711\n");
        assert_eq!(fs::read_to_string(entry.join("owner")).unwrap(), "stas\n");
        // seqnum is written before owner.
        let changed = |a: &str| fs::metadata(entry.join(a)).unwrap().modified().unwrap();
        assert!(changed("seqnum") <= changed("owner"));
        assert_eq!(f.reg.owner("nvme3").as_deref(), Some("stas"));
        no_dot_names(root);
    }

    #[test]
    fn create_replaces_a_stale_entry_completely() {
        let f = fixture();
        mkentry(
            &f.reg,
            "nvme4",
            &[
                ("owner", "discoverd\n"),
                ("seqnum", "12\n"),
                ("private", "x\n"),
            ],
        );
        fs::create_dir(f.reg.root().join("nvme4/subdir")).unwrap();
        f.reg.create("nvme4", "autoconnect").unwrap();
        let entry = f.reg.root().join("nvme4");
        assert_eq!(names(&entry), ["owner", "seqnum"]);
        assert_eq!(
            fs::read_to_string(entry.join("owner")).unwrap(),
            "autoconnect\n"
        );
        assert_eq!(fs::read_to_string(entry.join("seqnum")).unwrap(), "4711\n");
        assert_eq!(names(f.reg.root()), ["nvme4"]);
    }

    #[test]
    fn create_without_seqnum_file_writes_no_stamp() {
        let f = fixture();
        fs::remove_file(&f.seqnum).unwrap();
        f.reg.create("nvme0", OWNER_STAS).unwrap();
        assert_eq!(names(&f.reg.root().join("nvme0")), ["owner"]);
        // An unparsable seqnum is no stamp either.
        fs::write(&f.seqnum, "garbage\n").unwrap();
        f.reg.create("nvme1", OWNER_STAS).unwrap();
        assert_eq!(names(&f.reg.root().join("nvme1")), ["owner"]);
        no_dot_names(f.reg.root());
    }

    #[test]
    fn create_failures_leave_nothing_behind() {
        // The root is a file: nothing can be created.
        let f = fixture();
        let parent = f.reg.root().parent().unwrap().to_owned();
        fs::create_dir_all(&parent).unwrap();
        fs::write(f.reg.root(), "").unwrap();
        let e = f.reg.create("nvme1", OWNER_STAS).unwrap_err();
        assert!(matches!(e, RegistryError::Io { .. }), "{e}");
        assert!(e.to_string().contains("registry"), "{e}");
        assert_eq!(names(&parent), ["registry"]);
        let e = f.reg.claim("nvme1", OWNER_STAS).unwrap_err();
        assert!(matches!(e, RegistryError::Io { .. }), "{e}");
        assert_eq!(names(&parent), ["registry"]);

        // The existing nvmeN is a file: it cannot be moved aside, and the temporary and
        // trash directories made so far are removed.
        let f = fixture();
        fs::create_dir_all(f.reg.root()).unwrap();
        fs::write(f.reg.root().join("nvme2"), "junk").unwrap();
        let e = f.reg.create("nvme2", OWNER_STAS).unwrap_err();
        assert!(e.to_string().contains("nvme2"), "{e}");
        assert_eq!(names(f.reg.root()), ["nvme2"]);
        let e = f.reg.claim("nvme2", OWNER_STAS).unwrap_err();
        assert!(e.to_string().contains("nvme2"), "{e}");
        assert_eq!(names(f.reg.root()), ["nvme2"]);
    }

    #[test]
    fn owner_reading() {
        let f = fixture();
        mkentry(&f.reg, "nvme1", &[("owner", "stas\r\n")]);
        mkentry(&f.reg, "nvme2", &[("owner", "")]);
        mkentry(&f.reg, "nvme3", &[("seqnum", "5\n")]);
        mkentry(&f.reg, "nvme4", &[("owner", "\n")]);
        assert_eq!(f.reg.owner("nvme1").as_deref(), Some("stas"));
        assert_eq!(f.reg.owner("nvme2"), None);
        assert_eq!(f.reg.owner("nvme3"), None);
        assert_eq!(f.reg.owner("nvme4"), None);
        assert_eq!(f.reg.owner("nvme5"), None);
        // An unreadable owner (here: a directory) is "no entry".
        fs::create_dir_all(f.reg.root().join("nvme6/owner")).unwrap();
        assert_eq!(f.reg.owner("nvme6"), None);
        assert_eq!(f.reg.owner("../nvme1"), None);
        // No registry at all.
        let none = Registry::new(f.reg.root().join("missing"), &f.seqnum);
        assert_eq!(none.owner("nvme1"), None);
        assert!(none.entries().is_empty());
    }

    #[test]
    fn claim_unowned_entry_writes_owner_and_keeps_seqnum() {
        let f = fixture();
        mkentry(&f.reg, "nvme1", &[("seqnum", "12\n")]);
        assert_eq!(f.reg.claim("nvme1", OWNER_STAS).unwrap(), "stas");
        let entry = f.reg.root().join("nvme1");
        assert_eq!(names(&entry), ["owner", "seqnum"]);
        assert_eq!(fs::read_to_string(entry.join("seqnum")).unwrap(), "12\n");
        assert_eq!(fs::read_to_string(entry.join("owner")).unwrap(), "stas\n");
        assert_eq!(mode(&entry.join("owner")), 0o644);
        no_dot_names(f.reg.root());
    }

    #[test]
    fn claim_replaces_an_empty_owner_file() {
        let f = fixture();
        mkentry(&f.reg, "nvme1", &[("seqnum", "12\n"), ("owner", "\n")]);
        assert_eq!(f.reg.claim("nvme1", OWNER_STAS).unwrap(), "stas");
        let entry = f.reg.root().join("nvme1");
        assert_eq!(names(&entry), ["owner", "seqnum"]);
        assert_eq!(fs::read_to_string(entry.join("owner")).unwrap(), "stas\n");
    }

    #[test]
    fn claim_never_overrides_another_owner() {
        let f = fixture();
        mkentry(
            &f.reg,
            "nvme7",
            &[("owner", "discoverd\n"), ("seqnum", "9\n")],
        );
        assert_eq!(f.reg.claim("nvme7", OWNER_STAS).unwrap(), "discoverd");
        let entry = f.reg.root().join("nvme7");
        assert_eq!(names(&entry), ["owner", "seqnum"]);
        assert_eq!(
            fs::read_to_string(entry.join("owner")).unwrap(),
            "discoverd\n"
        );
        assert_eq!(fs::read_to_string(entry.join("seqnum")).unwrap(), "9\n");
        // Claiming what we own already changes nothing either.
        mkentry(&f.reg, "nvme8", &[("owner", "stas\n")]);
        assert_eq!(f.reg.claim("nvme8", OWNER_STAS).unwrap(), "stas");
        assert_eq!(names(&f.reg.root().join("nvme8")), ["owner"]);
    }

    #[test]
    fn claim_without_entry_creates_one() {
        let f = fixture();
        assert_eq!(f.reg.claim("nvme2", OWNER_STAS).unwrap(), "stas");
        let entry = f.reg.root().join("nvme2");
        assert_eq!(mode(&entry), 0o755);
        assert_eq!(names(&entry), ["owner", "seqnum"]);
        assert_eq!(fs::read_to_string(entry.join("seqnum")).unwrap(), "4711\n");
        assert_eq!(fs::read_to_string(entry.join("owner")).unwrap(), "stas\n");
        assert_eq!(names(f.reg.root()), ["nvme2"]);
    }

    #[test]
    fn invalid_names_are_rejected() {
        let f = fixture();
        for dev in [
            "nvme", "nvmeX", "../nvme1", "nvme1/x", "nvme1 ", "", "nvme-1", "nvme1n1",
        ] {
            assert!(
                matches!(
                    f.reg.create(dev, OWNER_STAS),
                    Err(RegistryError::InvalidDevice(_))
                ),
                "{dev:?}"
            );
            assert!(
                matches!(
                    f.reg.claim(dev, OWNER_STAS),
                    Err(RegistryError::InvalidDevice(_))
                ),
                "{dev:?}"
            );
            assert_eq!(f.reg.owner(dev), None);
        }
        let long = "a".repeat(65);
        for owner in [
            "", "a b", "a/b", "a\nb", "stas\n", "a\tb", "a\u{7f}b", "\u{a0}x", &long,
        ] {
            assert!(
                matches!(
                    f.reg.create("nvme1", owner),
                    Err(RegistryError::InvalidOwner(_))
                ),
                "{owner:?}"
            );
            assert!(
                matches!(
                    f.reg.claim("nvme1", owner),
                    Err(RegistryError::InvalidOwner(_))
                ),
                "{owner:?}"
            );
        }
        assert!(!f.reg.root().exists(), "nothing written for invalid input");
        f.reg.create("nvme1", &"a".repeat(64)).unwrap();
        f.reg.create("nvme2", "boot-1_x.y").unwrap();
        assert!(matches!(
            check_attr("a.tmp"),
            Err(RegistryError::InvalidAttribute(_))
        ));
        assert!(matches!(
            check_attr(""),
            Err(RegistryError::InvalidAttribute(_))
        ));
        check_attr("Private_attr-2").unwrap();
        let e = f.reg.create("nvme/1", OWNER_STAS).unwrap_err();
        assert!(e.to_string().contains("nvme/1"), "{e}");
    }

    #[test]
    fn entries_lists_controllers_in_instance_order() {
        let f = fixture();
        f.reg.create("nvme10", OWNER_STAS).unwrap();
        f.reg.create("nvme2", "nbft").unwrap();
        mkentry(&f.reg, "nvme1", &[("seqnum", "1\n")]);
        mkentry(&f.reg, ".nvme3.tmp.abcdef", &[("owner", "stas\n")]);
        mkentry(&f.reg, ".trash.abcdef", &[("owner", "stas\n")]);
        mkentry(&f.reg, "nvme4n1", &[("owner", "stas\n")]);
        mkentry(&f.reg, "foo", &[("owner", "stas\n")]);
        fs::write(f.reg.root().join("nvme5"), "not a directory").unwrap();
        assert_eq!(
            f.reg.entries(),
            [
                ("nvme1".to_owned(), None),
                ("nvme2".to_owned(), Some("nbft".to_owned())),
                ("nvme10".to_owned(), Some("stas".to_owned())),
            ]
        );
    }

    #[test]
    fn system_paths() {
        let reg = Registry::system();
        assert_eq!(reg.root(), Path::new("/run/nvme/registry"));
        assert_eq!(reg.seqnum, Path::new("/sys/kernel/uevent_seqnum"));
    }

    #[test]
    fn unique_suffixes_differ() {
        let a: std::collections::HashSet<String> = (0..1000).map(|_| unique_suffix()).collect();
        assert!(a.len() > 990);
        assert!(a
            .iter()
            .all(|s| s.len() == 6 && s.bytes().all(|b| b.is_ascii_alphanumeric())));
    }
}
