//! The `stasadm` operations (nvme-stas-behaviour.md §3.4): generate and save the host NQN and
//! host ID, set and clear the symbolic name, and check `sys.conf`.
//!
//! Saving follows nvme-stas: with a file, `value + "\n"` is written to the file and the option
//! is set to `file://<file>`; without, the option is set to the value. Unlike nvme-stas:
//! - `sys.conf` is edited line by line ([`crate::config::edit`]): comments and other lines stay;
//! - every write is atomic ([`crate::fsutil::write_atomic`]) and missing directories are
//!   created; a symlink is written through, not replaced;
//! - the read-modify-write of `sys.conf` holds an exclusive `flock` on its directory, so the
//!   `stas-config@hostnqn` and `stas-config@hostid` units, which systemd starts in parallel,
//!   cannot lose each other's edit;
//! - a relative `-f` path is made absolute before it goes into `file://`;
//! - `hostid` writes the UUID of the host NQN (DECISIONS item 13; see [`hostid`]).

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::generate::{
    generate_host_nqn, host_id_for, host_uuid_from_system, SystemPaths, UuidSource,
};
use super::resolve::{
    resolve_id, resolve_key, resolve_nqn, resolve_symname, HostConfig, HostIdentity, IdentityPaths,
};
use super::value::{parse_symname, HostNqn, InvalidValue};
use crate::config::edit::{remove_option, set_option, EditError};
use crate::config::{self, CheckReport, Diagnostic, ReadError, Severity};
use crate::fsutil::{write_atomic, FsError};

/// Section of `sys.conf` that holds the identity.
const HOST: &str = "Host";
/// Mode of the files stasadm creates (nvme-stas: `open(…, 'w')` under the usual umask).
const MODE: u32 = 0o644;

/// The files `stasadm` reads and writes; everything but `conf_file` can be moved under a root
/// directory for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminPaths {
    /// `sys.conf` (`-c`).
    pub conf_file: PathBuf,
    /// `/etc/nvme`.
    pub identity: IdentityPaths,
    /// `/etc/machine-id` and the DMI / device-tree UUIDs.
    pub system: SystemPaths,
}

impl AdminPaths {
    /// The real paths, or the ones under `root` when given.
    #[must_use]
    pub fn new(conf_file: PathBuf, root: Option<&Path>) -> Self {
        match root {
            Some(root) => Self {
                conf_file,
                identity: IdentityPaths::under(root),
                system: SystemPaths::under(root),
            },
            None => Self {
                conf_file,
                identity: IdentityPaths::default(),
                system: SystemPaths::default(),
            },
        }
    }
}

/// Why a `stasadm` operation failed. Each message is one line that names the file or value.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A file could not be written (or `sys.conf` read for editing).
    #[error(transparent)]
    Fs(#[from] FsError),
    /// `sys.conf` could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A system file needed for generation could not be read.
    #[error(transparent)]
    Identity(#[from] super::resolve::IdentityError),
    /// The value cannot be written into `sys.conf`.
    #[error(transparent)]
    Edit(#[from] EditError),
    /// The value is not valid.
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
    /// The request itself makes no sense.
    #[error("{0}")]
    Usage(&'static str),
}

/// What a saving operation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// The value saved.
    pub value: String,
    /// Things the operator should know (printed as warnings).
    pub notes: Vec<String>,
}

/// The path to write for `path`: the target of a symlink, so that the link stays.
fn write_target(path: &Path) -> PathBuf {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
        }
        _ => path.to_owned(),
    }
}

/// An exclusive lock on the directory of `conf`, held while editing it; the directory is
/// created first when `create` is set. Best effort: without the lock the edit still happens
/// (and a failure to write is reported by the write).
fn lock_conf_dir(conf: &Path, create: bool) -> Option<Flock<File>> {
    let dir = match conf.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if create {
        fs::create_dir_all(dir).ok()?;
    }
    Flock::lock(File::open(dir).ok()?, FlockArg::LockExclusive).ok()
}

/// Applies `edit` to the text of `conf` (empty if missing) and writes it back if it changed.
fn edit_conf(
    conf: &Path,
    create: bool,
    edit: impl FnOnce(&str) -> Result<String, EditError>,
) -> Result<(), AdminError> {
    let target = write_target(conf);
    let _lock = lock_conf_dir(&target, create);
    let text = match fs::read_to_string(&target) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(io) => {
            return Err(FsError {
                op: "read",
                path: conf.to_owned(),
                io,
            }
            .into())
        }
    };
    let new = edit(&text)?;
    if new != text {
        write_atomic(&target, new.as_bytes(), MODE)?;
    }
    Ok(())
}

/// Saves `value` as option `option` of `[Host]` in `conf`, or, with `file`, writes
/// `value + "\n"` to `file` and sets the option to `file://<file>` (absolute path).
///
/// # Errors
/// A file that cannot be written, or a value that cannot be written into `sys.conf`.
pub fn save(conf: &Path, option: &str, value: &str, file: Option<&Path>) -> Result<(), AdminError> {
    let conf_value = match file {
        Some(file) => {
            let file = std::path::absolute(file).unwrap_or_else(|_| file.to_owned());
            // Refuse before writing anything.
            set_option("", HOST, option, value)?;
            write_atomic(&write_target(&file), format!("{value}\n").as_bytes(), MODE)?;
            format!("file://{}", file.display())
        }
        None => value.to_owned(),
    };
    edit_conf(conf, true, |text| {
        set_option(text, HOST, option, &conf_value)
    })
}

/// Removes option `option` from `[Host]` in `conf`. A missing file or option is left alone.
///
/// # Errors
/// `sys.conf` cannot be read or written.
pub fn clear(conf: &Path, option: &str) -> Result<(), AdminError> {
    edit_conf(conf, false, |text| Ok(remove_option(text, HOST, option)))
}

/// `stasadm hostnqn [-f FILE]`: generates the host NQN as nvme-stas does (byte for byte, see
/// [`super::generate`]) and saves it as `nqn`.
///
/// # Errors
/// A system file that exists but cannot be read, or a failed write.
pub fn hostnqn(paths: &AdminPaths, file: Option<&Path>) -> Result<Saved, AdminError> {
    let generated = generate_host_nqn(&paths.system)?;
    let value = generated.nqn.as_str().to_owned();
    save(&paths.conf_file, "nqn", &value, file)?;
    Ok(Saved {
        value,
        notes: generated.warnings,
    })
}

/// Chooses the host ID for `stasadm hostid` (DECISIONS item 13), with notes for the operator:
/// - the host NQN resolves (sys.conf `nqn`, else `/etc/nvme/hostnqn`) and is of the UUID form:
///   its UUID;
/// - it resolves but has no UUID, or is invalid: a random UUID;
/// - there is no host NQN yet (missing or empty file): the UUID that `stasadm hostnqn` generates
///   on this machine when that is deterministic (machine ID, DMI, device tree), so that the two
///   `stas-config@` units agree whichever runs first; otherwise a random UUID.
///
/// # Errors
/// `sys.conf` exists but cannot be read.
pub fn choose_host_id(paths: &AdminPaths) -> Result<Saved, AdminError> {
    let loaded = config::load_sys_conf(&paths.conf_file)?;
    let cfg = HostConfig::from_sysconf(&loaded.config);
    let random = || uuid::Uuid::new_v4().to_string();
    let (value, notes) = match resolve_nqn(&cfg, &paths.identity) {
        Ok(nqn) => match host_id_for(&nqn) {
            (id, true) => (id, vec![]),
            (id, false) => (
                id,
                vec![format!(
                    "host NQN {nqn} contains no UUID; the host ID is random"
                )],
            ),
        },
        Err(e) if e.is_absent() => match host_uuid_from_system(&paths.system) {
            Ok((uuid, source, _)) if source != UuidSource::Random => (uuid, vec![]),
            _ => (
                random(),
                vec![format!(
                    "{e}; the host ID is random and will not match a host NQN generated later"
                )],
            ),
        },
        Err(e) => (random(), vec![format!("{e}; the host ID is random")]),
    };
    Ok(Saved { value, notes })
}

/// `stasadm hostid [-f FILE]`: saves the host ID chosen by [`choose_host_id`] as `id`.
///
/// # Errors
/// `sys.conf` cannot be read, or a failed write.
pub fn hostid(paths: &AdminPaths, file: Option<&Path>) -> Result<Saved, AdminError> {
    let saved = choose_host_id(paths)?;
    save(&paths.conf_file, "id", &saved.value, file)?;
    Ok(saved)
}

/// `stasadm set-symname [-f FILE] NAME`: validates and saves the symbolic name as `symname`.
///
/// # Errors
/// An empty or invalid name, a name with whitespace together with `-f` (readers take the first
/// word of a file), or a failed write.
pub fn set_symname(
    paths: &AdminPaths,
    name: &str,
    file: Option<&Path>,
) -> Result<Saved, AdminError> {
    let Some(name) = parse_symname(name)? else {
        return Err(AdminError::Usage(
            "the symbolic name is empty; use \"stasadm clear-symname\" to remove it",
        ));
    };
    if file.is_some() && name.contains(char::is_whitespace) {
        return Err(AdminError::Usage(
            "a symbolic name with whitespace cannot be saved in a file (readers take its first \
             word); save it without -f",
        ));
    }
    save(&paths.conf_file, "symname", &name, file)?;
    Ok(Saved {
        value: name,
        notes: vec![],
    })
}

/// `stasadm clear-symname`: removes `symname` from `[Host]`.
///
/// # Errors
/// `sys.conf` cannot be read or written.
pub fn clear_symname(paths: &AdminPaths) -> Result<(), AdminError> {
    clear(&paths.conf_file, "symname")
}

/// `stasadm check-config`: the diagnostics of `sys.conf` (unknown sections and options, …)
/// plus every problem of the identity it resolves to: missing or invalid host NQN and host ID,
/// an invalid key or symbolic name (the daemons ignore those with a warning; here they are
/// errors), and a host ID that differs from the UUID in the host NQN (a warning). A missing
/// `sys.conf` is only a warning: the defaults from `/etc/nvme` apply.
///
/// On a host of the 3.x layout (`nvme-stas.conf` in the identity directory), the identity
/// of that layout is checked instead: nvme-stas.conf's main `[Host]` (the file must parse)
/// and `/etc/nvme/hostnqn` and `hostid`.
#[must_use]
pub fn check_config(paths: &AdminPaths) -> CheckReport {
    let conn_conf = paths.identity.etc_nvme.join("nvme-stas.conf");
    if conn_conf.exists() {
        return check_config_stas3(paths, &conn_conf);
    }
    let conf = &paths.conf_file;
    let mut loaded = match config::load_sys_conf(conf) {
        Ok(l) => l,
        Err(e) => return CheckReport::unreadable(&e),
    };
    let mut extra: Vec<Diagnostic> = Vec::new();
    if !loaded.found {
        extra.push(Diagnostic {
            severity: Severity::Warning,
            file: conf.clone(),
            line: None,
            message: format!(
                "no such file; the host identity comes from {}",
                paths.identity.etc_nvme.display()
            ),
        });
        // Reported above as a warning, not as the missing-file error of CheckReport.
        loaded.found = true;
    }
    let cfg = HostConfig::from_sysconf(&loaded.config);
    let error = |e: &super::resolve::IdentityError| e.to_diagnostic(Severity::Error);
    let nqn = resolve_nqn(&cfg, &paths.identity).map_err(|e| extra.push(error(&e)));
    let id = resolve_id(&cfg, &paths.identity).map_err(|e| extra.push(error(&e)));
    if let Err(e) = resolve_key(&cfg, &paths.identity) {
        extra.push(error(&e));
    }
    if let Err(e) = resolve_symname(&cfg) {
        extra.push(error(&e));
    }
    if let (Ok(nqn), Ok(id)) = (nqn, id) {
        let origin = cfg
            .id
            .as_ref()
            .map(|v| (v.origin.file.clone(), v.origin.line));
        extra.extend(id_mismatch(&nqn, id, origin, paths));
    }
    loaded.diagnostics.extend(extra);
    CheckReport::new(conf, &loaded)
}

/// A warning when the host ID differs from the UUID in the host NQN (`origin`: where the ID
/// was configured, else it came from the `hostid` file).
fn id_mismatch(
    nqn: &HostNqn,
    id: uuid::Uuid,
    origin: Option<(PathBuf, Option<usize>)>,
    paths: &AdminPaths,
) -> Option<Diagnostic> {
    let in_nqn = nqn.uuid_text().and_then(|t| uuid::Uuid::parse_str(t).ok());
    if in_nqn.is_none_or(|u| u == id) {
        return None;
    }
    let (file, line) = origin.unwrap_or_else(|| (paths.identity.hostid(), None));
    Some(Diagnostic {
        severity: Severity::Warning,
        file,
        line,
        message: format!(
            "host ID {id} differs from the UUID in host NQN {nqn} (nvme-cli warns about this)"
        ),
    })
}

/// `check-config` on a host of the 3.x layout: nvme-stas.conf (with its drop-ins) must
/// parse, and the identity it resolves to (its main `[Host]`, else `/etc/nvme`) must be
/// valid.
fn check_config_stas3(paths: &AdminPaths, conn_conf: &Path) -> CheckReport {
    let parsed = config::nvmeconf::load(conn_conf);
    let mut diagnostics = parsed.diagnostics;
    let given = parsed.conf.main_scope().identity.clone();
    match HostIdentity::resolve_stas3(&given, conn_conf, &paths.identity) {
        Ok(r) => {
            let error = |e: &super::resolve::IdentityError| e.to_diagnostic(Severity::Error);
            diagnostics.extend(r.warnings.iter().map(error));
            let origin = given.hostid.as_ref().map(|_| (conn_conf.to_owned(), None));
            diagnostics.extend(id_mismatch(&r.identity.nqn, r.identity.id, origin, paths));
        }
        Err(e) => diagnostics.push(e.to_diagnostic(Severity::Error)),
    }
    let loaded = config::Loaded {
        config: (),
        diagnostics,
        found: true,
    };
    let mut report = CheckReport::new(conn_conf, &loaded);
    report.lines.insert(
        0,
        format!(
            "configuration layout 3.x: host identity from {} and {}",
            conn_conf.display(),
            paths.identity.etc_nvme.display()
        ),
    );
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    const MACHINE_ID: &str = "5f3c1b2a9d8e4f7a8b6c0d1e2f3a4b5c";
    /// See `generate::tests::MACHINE_ID` for how this was computed with Python.
    const PINNED_NQN: &str = "nqn.2014-08.org.nvmexpress:uuid:e2dd6d3b-2a42-46c4-b116-261ddf5b0683";
    const PINNED_UUID: &str = "e2dd6d3b-2a42-46c4-b116-261ddf5b0683";

    struct Env {
        dir: tempfile::TempDir,
        paths: AdminPaths,
    }

    impl Env {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let paths = AdminPaths::new(dir.path().join("etc/stas/sys.conf"), Some(dir.path()));
            Self { dir, paths }
        }
        fn put(&self, rel: &str, text: &str) -> PathBuf {
            let p = self.dir.path().join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, text).unwrap();
            p
        }
        fn conf(&self) -> String {
            fs::read_to_string(&self.paths.conf_file).unwrap()
        }
    }

    #[test]
    fn hostnqn_to_conf_and_file() {
        let env = Env::new();
        env.put("etc/machine-id", &format!("{MACHINE_ID}\n"));
        let saved = hostnqn(&env.paths, None).unwrap();
        assert_eq!(saved.value, PINNED_NQN);
        assert_eq!(env.conf(), format!("[Host]\nnqn = {PINNED_NQN}\n"));

        let file = env.dir.path().join("etc/nvme/hostnqn");
        hostnqn(&env.paths, Some(&file)).unwrap();
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            format!("{PINNED_NQN}\n")
        );
        assert_eq!(
            env.conf(),
            format!("[Host]\nnqn = file://{}\n", file.display())
        );
    }

    #[test]
    fn hostid_follows_the_configured_nqn() {
        let env = Env::new();
        env.put("etc/nvme/hostnqn", &format!("{PINNED_NQN}\n"));
        let saved = hostid(&env.paths, None).unwrap();
        assert_eq!(saved.value, PINNED_UUID);
        assert!(saved.notes.is_empty());
        assert_eq!(env.conf(), format!("[Host]\nid = {PINNED_UUID}\n"));

        // sys.conf nqn wins over /etc/nvme/hostnqn, and hostid keeps the other lines.
        let u = "0b8c1a2e-7d3f-4e5a-9b6c-1d2e3f4a5b6c";
        fs::write(
            &env.paths.conf_file,
            format!("# mine\n[Host]\nnqn = nqn.2014-08.org.nvmexpress:uuid:{u}\n"),
        )
        .unwrap();
        assert_eq!(hostid(&env.paths, None).unwrap().value, u);
        assert_eq!(
            env.conf(),
            format!("# mine\n[Host]\nnqn = nqn.2014-08.org.nvmexpress:uuid:{u}\nid = {u}\n")
        );
    }

    #[test]
    fn hostid_without_nqn_uses_what_hostnqn_will_generate() {
        let env = Env::new();
        env.put("etc/machine-id", &format!("{MACHINE_ID}\n"));
        let id = hostid(&env.paths, None).unwrap();
        assert_eq!(id.value, PINNED_UUID);
        let nqn = hostnqn(&env.paths, None).unwrap();
        assert_eq!(nqn.value, PINNED_NQN);
    }

    #[test]
    fn hostid_random_cases_say_why() {
        let env = Env::new();
        let a = choose_host_id(&env.paths).unwrap();
        assert!(super::super::value::is_canonical_uuid(&a.value));
        assert!(a.notes[0].contains("will not match"), "{:?}", a.notes);
        assert_ne!(a.value, choose_host_id(&env.paths).unwrap().value);

        env.put("etc/nvme/hostnqn", "nqn.1988-11.com.example:host\n");
        let b = choose_host_id(&env.paths).unwrap();
        assert!(b.notes[0].contains("contains no UUID"), "{:?}", b.notes);

        env.put("etc/nvme/hostnqn", "bogus\n");
        let c = choose_host_id(&env.paths).unwrap();
        assert!(c.notes[0].contains("must start with"), "{:?}", c.notes);
    }

    #[test]
    fn symname_set_and_clear_keep_other_lines() {
        let env = Env::new();
        env.put("etc/stas/sys.conf", "# c1\n[Host]\n; c2\nnqn = x\n");
        set_symname(&env.paths, "rack 7", None).unwrap();
        assert_eq!(
            env.conf(),
            "# c1\n[Host]\n; c2\nnqn = x\nsymname = rack 7\n"
        );
        clear_symname(&env.paths).unwrap();
        assert_eq!(env.conf(), "# c1\n[Host]\n; c2\nnqn = x\n");
    }

    #[test]
    fn symname_rules() {
        let env = Env::new();
        let f = env.dir.path().join("sym");
        assert!(matches!(
            set_symname(&env.paths, "", None),
            Err(AdminError::Usage(_))
        ));
        assert!(matches!(
            set_symname(&env.paths, "two words", Some(&f)),
            Err(AdminError::Usage(_))
        ));
        assert!(matches!(
            set_symname(&env.paths, "a\u{7}", None),
            Err(AdminError::Invalid(_))
        ));
        assert!(matches!(
            set_symname(&env.paths, " padded", None),
            Err(AdminError::Edit(_))
        ));
        assert!(
            !f.exists() && !env.paths.conf_file.exists(),
            "nothing written"
        );
        set_symname(&env.paths, "one-word", Some(&f)).unwrap();
        assert_eq!(fs::read_to_string(&f).unwrap(), "one-word\n");
    }

    #[test]
    fn clear_on_a_missing_file_creates_nothing() {
        let env = Env::new();
        clear_symname(&env.paths).unwrap();
        assert!(!env.paths.conf_file.parent().unwrap().exists());
    }

    #[test]
    fn symlinks_are_written_through() {
        let env = Env::new();
        let real = env.put("real.conf", "[Host]\n");
        fs::create_dir_all(env.paths.conf_file.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&real, &env.paths.conf_file).unwrap();
        set_symname(&env.paths, "s", None).unwrap();
        assert!(fs::symlink_metadata(&env.paths.conf_file)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_to_string(&real).unwrap(), "[Host]\nsymname = s\n");
    }

    #[test]
    fn write_errors_name_the_path() {
        let env = Env::new();
        let paths = AdminPaths {
            conf_file: PathBuf::from("/proc/version/sys.conf"),
            ..env.paths.clone()
        };
        let e = set_symname(&paths, "s", None).unwrap_err().to_string();
        assert!(e.starts_with("/proc/version"), "{e}");
    }

    #[test]
    fn check_config_reports_identity_problems() {
        let env = Env::new();
        let r = check_config(&env.paths);
        assert!(!r.ok);
        let text = r.lines.join("\n");
        assert!(text.contains("sys.conf: warning: no such file"), "{text}");
        assert!(
            text.contains("hostnqn: error: cannot read host NQN: no such file"),
            "{text}"
        );
        assert!(
            text.contains("hostid: error: cannot read host ID"),
            "{text}"
        );
        assert!(
            r.lines.last().unwrap().ends_with("2 errors, 1 warning"),
            "{text}"
        );

        env.put("etc/nvme/hostnqn", &format!("{PINNED_NQN}\n"));
        env.put("etc/nvme/hostid", &format!("{PINNED_UUID}\n"));
        env.put("etc/stas/sys.conf", "[Host]\nsymname = ok\n");
        let r = check_config(&env.paths);
        assert!(r.ok, "{:?}", r.lines);
        assert_eq!(r.lines.len(), 1, "{:?}", r.lines);

        env.put(
            "etc/stas/sys.conf",
            "[Host]\nid = 0b8c1a2e-7d3f-4e5a-9b6c-1d2e3f4a5b6c\nkey = DHHC-1:00:c2VjcmV0:\n",
        );
        let r = check_config(&env.paths);
        let text = r.lines.join("\n");
        assert!(!r.ok);
        assert!(
            text.contains("sys.conf:2: warning: host ID 0b8c1a2e"),
            "{text}"
        );
        assert!(
            text.contains("sys.conf:3: error: host key is not a valid"),
            "{text}"
        );
        assert!(!text.contains("c2VjcmV0"), "the key leaks: {text}");
    }
}
