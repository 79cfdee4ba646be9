//! Resolution of the host identity from the raw `[Host]` values of `sys.conf`
//! (nvme-stas-behaviour.md §1.3), with `/etc/nvme/host{nqn,id,key}` as defaults.
//!
//! A value is either a plain string or `file://<path>`; with a path, the value is the first
//! whitespace-separated token of the first line of the file, and an empty file gives no value.
//! Files are read when resolving (nvme-stas re-read them on every access), so callers resolve
//! again when they want fresh values.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::value::{parse_host_id, parse_host_key, parse_symname, HostNqn, InvalidValue, Secret};
use crate::config::ini::ValueLine;
use crate::config::sysconf::SysConf;
use crate::config::{Diagnostic, Severity};
use crate::fsutil::describe;

/// Where a configured value was read: a file and, normally, a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The configuration file.
    pub file: PathBuf,
    /// 1-based line number.
    pub line: Option<usize>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(n) => write!(f, "{}:{n}", self.file.display()),
            None => write!(f, "{}", self.file.display()),
        }
    }
}

/// One raw `[Host]` value of `sys.conf`: the trimmed text after `=` (possibly
/// `file://<path>`) and where it was read, for messages (`/etc/stas/sys.conf:3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostValue {
    /// The value text.
    pub value: String,
    /// Where it came from.
    pub origin: Origin,
}

impl HostValue {
    /// A value read at `file:line`.
    #[must_use]
    pub fn new(value: impl Into<String>, file: impl Into<PathBuf>, line: usize) -> Self {
        Self {
            value: value.into(),
            origin: Origin {
                file: file.into(),
                line: Some(line),
            },
        }
    }
}

/// The `[Host]` section of `sys.conf` as raw values (the last assignment of each option).
/// `None` means the option is absent and its default applies.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HostConfig {
    /// `nqn`: host NQN; default `/etc/nvme/hostnqn`.
    pub nqn: Option<HostValue>,
    /// `id`: host ID; default `/etc/nvme/hostid`.
    pub id: Option<HostValue>,
    /// `key`: DH-HMAC-CHAP host key; default `/etc/nvme/hostkey`. Not shown by `Debug`.
    pub key: Option<HostValue>,
    /// `symname`: symbolic name; no default.
    pub symname: Option<HostValue>,
}

impl fmt::Debug for HostConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostConfig")
            .field("nqn", &self.nqn)
            .field("id", &self.id)
            .field("key", &self.key.as_ref().map(|v| (&v.origin, "<redacted>")))
            .field("symname", &self.symname)
            .finish()
    }
}

impl HostConfig {
    /// The raw values of a parsed `sys.conf`.
    #[must_use]
    pub fn from_sysconf(conf: &SysConf) -> Self {
        let value = |v: &Option<ValueLine>| {
            v.as_ref()
                .map(|v| HostValue::new(v.text.clone(), conf.file.clone(), v.line))
        };
        Self {
            nqn: value(&conf.nqn),
            id: value(&conf.id),
            key: value(&conf.key),
            symname: value(&conf.symname),
        }
    }
}

/// Where the default identity files live (`/etc/nvme`), injectable for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityPaths {
    /// The directory holding `hostnqn`, `hostid` and `hostkey`.
    pub etc_nvme: PathBuf,
}

impl Default for IdentityPaths {
    fn default() -> Self {
        Self {
            etc_nvme: PathBuf::from("/etc/nvme"),
        }
    }
}

impl IdentityPaths {
    /// The paths under `root` (`<root>/etc/nvme`).
    #[must_use]
    pub fn under(root: &Path) -> Self {
        Self {
            etc_nvme: root.join("etc/nvme"),
        }
    }

    /// `/etc/nvme/hostnqn`.
    #[must_use]
    pub fn hostnqn(&self) -> PathBuf {
        self.etc_nvme.join("hostnqn")
    }

    /// `/etc/nvme/hostid`.
    #[must_use]
    pub fn hostid(&self) -> PathBuf {
        self.etc_nvme.join("hostid")
    }

    /// `/etc/nvme/hostkey`.
    #[must_use]
    pub fn hostkey(&self) -> PathBuf {
        self.etc_nvme.join("hostkey")
    }
}

/// Where a value was looked up, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A plain value in the configuration.
    Config(Origin),
    /// A file named by `file://` in the configuration.
    File {
        /// The file.
        path: PathBuf,
        /// Where the `file://` value was read.
        named_by: Origin,
    },
    /// A default file (`/etc/nvme/…`), or a system file read for generation.
    Default(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(origin) => write!(f, "{origin}"),
            Self::File { path, named_by } => {
                write!(f, "{} (named by {named_by})", path.display())
            }
            Self::Default(path) => write!(f, "{}", path.display()),
        }
    }
}

/// What is wrong with a host identity value (without where it came from).
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// The value is present but invalid.
    #[error("{0}")]
    Invalid(InvalidValue),
    /// A mandatory value is missing (an empty file or an empty setting).
    #[error("no {what}{}", hint(what))]
    Missing {
        /// "host NQN" or "host ID".
        what: &'static str,
    },
    /// A file could not be read.
    #[error("cannot read {what}: {}{}", describe(.error), hint(what))]
    Read {
        /// What the file should hold.
        what: &'static str,
        /// The I/O error.
        error: io::Error,
    },
}

/// A host identity value that cannot be used, with where it came from, e.g.
/// `/etc/nvme/hostnqn: host NQN "foo" must start with "nqn."`.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {problem}")]
pub struct IdentityError {
    /// Where the value came from.
    pub origin: Source,
    /// What is wrong.
    pub problem: Problem,
}

fn hint(what: &str) -> &'static str {
    match what {
        "host NQN" => " (create it with \"stasadm hostnqn\")",
        "host ID" => " (create it with \"stasadm hostid\")",
        _ => "",
    }
}

impl IdentityError {
    fn new(origin: &Source, problem: Problem) -> Self {
        Self {
            origin: origin.clone(),
            problem,
        }
    }

    /// True if the error is a file that does not exist.
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(&self.problem, Problem::Read { error, .. } if error.kind() == io::ErrorKind::NotFound)
    }

    /// True if the value is simply not there yet: a missing file or an empty value.
    #[must_use]
    pub fn is_absent(&self) -> bool {
        self.is_not_found() || matches!(self.problem, Problem::Missing { .. })
    }

    /// The error as a configuration diagnostic: at the `sys.conf` line when the value came
    /// from there (a `file://` target is named in the message), else at the default file.
    #[must_use]
    pub fn to_diagnostic(&self, severity: Severity) -> Diagnostic {
        let (file, line, message) = match &self.origin {
            Source::Config(o) => (o.file.clone(), o.line, self.problem.to_string()),
            Source::File { path, named_by } => (
                named_by.file.clone(),
                named_by.line,
                format!("file://{}: {}", path.display(), self.problem),
            ),
            Source::Default(path) => (path.clone(), None, self.problem.to_string()),
        };
        Diagnostic {
            severity,
            file,
            line,
            message,
        }
    }
}

/// Longest first line read from an identity file; longer lines are cut (every valid value is
/// far shorter).
const MAX_READ: u64 = 4096;

/// The first whitespace-separated token of the first line of `path`; `None` for an empty file.
fn read_first_token(
    path: &Path,
    what: &'static str,
) -> io::Result<Result<Option<String>, InvalidValue>> {
    let mut bytes = Vec::new();
    File::open(path)?.take(MAX_READ).read_to_end(&mut bytes)?;
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    Ok(match std::str::from_utf8(line) {
        Ok(text) => Ok(text.split_whitespace().next().map(str::to_owned)),
        Err(_) => Err(InvalidValue::NotUtf8 { what }),
    })
}

/// Where a configured value is found.
fn configured_source(v: &HostValue) -> Source {
    match v.value.strip_prefix("file://") {
        None => Source::Config(v.origin.clone()),
        Some(path) => Source::File {
            path: PathBuf::from(path),
            named_by: v.origin.clone(),
        },
    }
}

/// The value text at `origin`: the configured text itself, or the first token of the file
/// (`None` for an empty file).
fn fetch(
    origin: &Source,
    configured: Option<&HostValue>,
    what: &'static str,
) -> Result<Option<String>, IdentityError> {
    let path = match origin {
        Source::Config(_) => return Ok(configured.map(|v| v.value.clone())),
        Source::File { path, .. } | Source::Default(path) => path,
    };
    match read_first_token(path, what) {
        Err(error) => Err(IdentityError::new(origin, Problem::Read { what, error })),
        Ok(Err(problem)) => Err(IdentityError::new(origin, Problem::Invalid(problem))),
        Ok(Ok(token)) => Ok(token),
    }
}

/// Resolves a mandatory value and validates it with `parse`.
fn mandatory<T>(
    configured: Option<&HostValue>,
    default: PathBuf,
    what: &'static str,
    parse: impl FnOnce(&str) -> Result<T, InvalidValue>,
) -> Result<T, IdentityError> {
    let origin = configured.map_or(Source::Default(default), configured_source);
    match fetch(&origin, configured, what)? {
        Some(text) if !text.is_empty() => {
            parse(&text).map_err(|p| IdentityError::new(&origin, Problem::Invalid(p)))
        }
        _ => Err(IdentityError::new(&origin, Problem::Missing { what })),
    }
}

/// The host NQN: `nqn` of `[Host]`, else `/etc/nvme/hostnqn`. Mandatory.
///
/// # Errors
/// A missing or unreadable file, an empty value, or an invalid NQN.
pub fn resolve_nqn(cfg: &HostConfig, paths: &IdentityPaths) -> Result<HostNqn, IdentityError> {
    mandatory(
        cfg.nqn.as_ref(),
        paths.hostnqn(),
        "host NQN",
        HostNqn::parse,
    )
}

/// The host ID: `id` of `[Host]`, else `/etc/nvme/hostid`. Mandatory.
///
/// # Errors
/// A missing or unreadable file, an empty value, or a value that is not a canonical UUID.
pub fn resolve_id(cfg: &HostConfig, paths: &IdentityPaths) -> Result<Uuid, IdentityError> {
    mandatory(cfg.id.as_ref(), paths.hostid(), "host ID", parse_host_id)
}

/// The host key: `key` of `[Host]`, else `/etc/nvme/hostkey`. Optional: a missing default
/// file, an empty file and an empty setting give `None`.
///
/// # Errors
/// A `file://` target that cannot be read (a missing one too), an unreadable default file, or
/// a value that is not a DH-HMAC-CHAP secret.
pub fn resolve_key(
    cfg: &HostConfig,
    paths: &IdentityPaths,
) -> Result<Option<Secret>, IdentityError> {
    let origin = cfg
        .key
        .as_ref()
        .map_or(Source::Default(paths.hostkey()), configured_source);
    let text = match fetch(&origin, cfg.key.as_ref(), "host key") {
        Err(e) if cfg.key.is_none() && e.is_not_found() => return Ok(None),
        other => other?,
    };
    match text {
        Some(text) if !text.is_empty() => parse_host_key(&text)
            .map(Some)
            .map_err(|p| IdentityError::new(&origin, Problem::Invalid(p))),
        _ => Ok(None),
    }
}

/// The symbolic name: `symname` of `[Host]`. Optional, no default; empty means none.
///
/// # Errors
/// A `file://` target that cannot be read, or an invalid name.
pub fn resolve_symname(cfg: &HostConfig) -> Result<Option<String>, IdentityError> {
    let Some(configured) = cfg.symname.as_ref() else {
        return Ok(None);
    };
    let origin = configured_source(configured);
    match fetch(&origin, Some(configured), "symbolic name")? {
        Some(text) => {
            parse_symname(&text).map_err(|p| IdentityError::new(&origin, Problem::Invalid(p)))
        }
        None => Ok(None),
    }
}

/// The resolved identity of the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostIdentity {
    /// Host NQN.
    pub nqn: HostNqn,
    /// Host ID.
    pub id: Uuid,
    /// DH-HMAC-CHAP host key, if any.
    pub key: Option<Secret>,
    /// Symbolic name, if any.
    pub symname: Option<String>,
}

/// A resolved identity, with the problems found in its optional parts (each of which was left
/// unset).
#[derive(Debug)]
pub struct Resolved {
    /// The identity.
    pub identity: HostIdentity,
    /// Problems with the key or the symbolic name, to be logged as warnings.
    pub warnings: Vec<IdentityError>,
}

impl HostIdentity {
    /// Resolves the whole identity. The NQN and the ID are mandatory; a bad key or symbolic name
    /// becomes a warning and is left unset (bad configuration never stops a daemon).
    ///
    /// # Errors
    /// The first problem with the NQN or the ID (see [`resolve_nqn`], [`resolve_id`]).
    pub fn resolve(cfg: &HostConfig, paths: &IdentityPaths) -> Result<Resolved, IdentityError> {
        let nqn = resolve_nqn(cfg, paths)?;
        let id = resolve_id(cfg, paths)?;
        let mut warnings = Vec::new();
        let key = optional(resolve_key(cfg, paths), &mut warnings);
        let symname = optional(resolve_symname(cfg), &mut warnings);
        Ok(Resolved {
            identity: Self {
                nqn,
                id,
                key,
                symname,
            },
            warnings,
        })
    }
}

/// An optional part of the identity: its value, or `None` with the problem added to
/// `warnings`.
fn optional<T>(
    r: Result<Option<T>, IdentityError>,
    warnings: &mut Vec<IdentityError>,
) -> Option<T> {
    r.unwrap_or_else(|e| {
        warnings.push(e);
        None
    })
}

impl HostIdentity {
    /// Resolves the identity of the 3.x layout: `hostnqn`, `hostid` and `hostsymname` of
    /// nvme-stas.conf's main `[Host]` (`given`, read from `file`), else `/etc/nvme/hostnqn`
    /// and `/etc/nvme/hostid`. A configured host NQN without a host ID takes the UUID of a
    /// uuid-form NQN (TP4126), as nvme-stas 3.x does. There is no host key file: DH-HMAC-CHAP
    /// secrets come from the file's cascade (`kxchap-secret`).
    ///
    /// # Errors
    /// The host NQN or ID is missing or invalid.
    pub fn resolve_stas3(
        given: &crate::config::nvmeconf::Identity,
        file: &Path,
        paths: &IdentityPaths,
    ) -> Result<Resolved, IdentityError> {
        let value = |v: &Option<String>| {
            v.as_ref().map(|v| HostValue {
                value: v.clone(),
                origin: Origin {
                    file: file.to_owned(),
                    line: None,
                },
            })
        };
        let cfg = HostConfig {
            nqn: value(&given.hostnqn),
            id: value(&given.hostid),
            key: None,
            symname: value(&given.hostsymname),
        };
        let nqn = resolve_nqn(&cfg, paths)?;
        let derived = match (&given.hostnqn, &given.hostid) {
            (Some(_), None) => nqn.uuid_text().and_then(|u| parse_host_id(u).ok()),
            _ => None,
        };
        let id = match derived {
            Some(id) => id,
            None => resolve_id(&cfg, paths)?,
        };
        let mut warnings = Vec::new();
        let symname = optional(resolve_symname(&cfg), &mut warnings);
        Ok(Resolved {
            identity: Self {
                nqn,
                id,
                key: None,
                symname,
            },
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    const NQN: &str = "nqn.2014-08.org.nvmexpress:uuid:e2dd6d3b-2a42-46c4-b116-261ddf5b0683";
    const ID: &str = "e2dd6d3b-2a42-46c4-b116-261ddf5b0683";
    const KEY: &str = "DHHC-1:00:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAl7OaH:";

    struct Fixture {
        dir: tempfile::TempDir,
        paths: IdentityPaths,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let paths = IdentityPaths::under(dir.path());
            fs::create_dir_all(&paths.etc_nvme).unwrap();
            Self { dir, paths }
        }
        fn write(&self, name: &str, text: &str) -> PathBuf {
            let p = self.dir.path().join(name);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, text).unwrap();
            p
        }
        fn defaults(&self) {
            self.write("etc/nvme/hostnqn", &format!("{NQN}\n"));
            self.write("etc/nvme/hostid", &format!("{ID}\n"));
        }
    }

    fn v(value: &str) -> Option<HostValue> {
        Some(HostValue::new(value, "/etc/stas/sys.conf", 3))
    }

    #[test]
    fn defaults_come_from_etc_nvme() {
        let f = Fixture::new();
        f.defaults();
        f.write("etc/nvme/hostkey", &format!("{KEY}\n"));
        let r = HostIdentity::resolve(&HostConfig::default(), &f.paths).unwrap();
        assert!(r.warnings.is_empty());
        assert_eq!(r.identity.nqn.as_str(), NQN);
        assert_eq!(r.identity.id.to_string(), ID);
        assert_eq!(r.identity.key.as_ref().map(Secret::expose), Some(KEY));
        assert_eq!(r.identity.symname, None);
    }

    #[test]
    fn plain_values_win_over_defaults() {
        let f = Fixture::new();
        f.defaults();
        let cfg = HostConfig {
            nqn: v("nqn.1988-11.com.example:host1"),
            id: v("00000000-0000-0000-0000-000000000001"),
            key: v(KEY),
            symname: v("rack 12"),
        };
        let id = HostIdentity::resolve(&cfg, &f.paths).unwrap().identity;
        assert_eq!(id.nqn.as_str(), "nqn.1988-11.com.example:host1");
        assert_eq!(id.id.to_string(), "00000000-0000-0000-0000-000000000001");
        assert_eq!(id.symname.as_deref(), Some("rack 12"));
        assert!(id.key.is_some());
        // Debug of the whole identity never shows the key.
        assert!(!format!("{id:?}").contains("AQID"));
    }

    #[test]
    fn file_values_take_the_first_token_of_the_first_line() {
        let f = Fixture::new();
        let nqn = f.write("nqn", &format!("  {NQN} trailing words\nnqn.second.line\n"));
        let sym = f.write("sym", "my-host\tx\n");
        let empty = f.write("empty", "");
        let blank_first = f.write("blank", "\nnqn.on.line.two\n");
        let cfg = HostConfig {
            nqn: v(&format!("file://{}", nqn.display())),
            symname: v(&format!("file://{}", sym.display())),
            ..HostConfig::default()
        };
        assert_eq!(resolve_nqn(&cfg, &f.paths).unwrap().as_str(), NQN);
        assert_eq!(resolve_symname(&cfg).unwrap().as_deref(), Some("my-host"));

        let cfg = HostConfig {
            symname: v(&format!("file://{}", empty.display())),
            key: v(&format!("file://{}", empty.display())),
            ..HostConfig::default()
        };
        assert_eq!(resolve_symname(&cfg).unwrap(), None);
        assert_eq!(resolve_key(&cfg, &f.paths).unwrap(), None);

        // nvme-stas: nqn=file:///dev/null gives no NQN; for the mandatory NQN that is an error.
        for p in [Path::new("/dev/null"), &blank_first] {
            let cfg = HostConfig {
                nqn: v(&format!("file://{}", p.display())),
                ..HostConfig::default()
            };
            let e = resolve_nqn(&cfg, &f.paths).unwrap_err();
            assert!(matches!(e.problem, Problem::Missing { .. }), "{e}");
            assert_eq!(
                e.to_string(),
                format!(
                    "{} (named by /etc/stas/sys.conf:3): no host NQN (create it with \"stasadm hostnqn\")",
                    p.display()
                )
            );
        }
    }

    #[test]
    fn missing_mandatory_files_are_errors_with_the_path() {
        let f = Fixture::new();
        let e = resolve_nqn(&HostConfig::default(), &f.paths).unwrap_err();
        assert!(e.is_not_found());
        assert_eq!(
            e.to_string(),
            format!(
                "{}: cannot read host NQN: no such file or directory (create it with \"stasadm hostnqn\")",
                f.paths.hostnqn().display()
            )
        );
        let cfg = HostConfig {
            id: v("file:///nonexistent/hostid"),
            ..HostConfig::default()
        };
        let e = resolve_id(&cfg, &f.paths).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "/nonexistent/hostid (named by /etc/stas/sys.conf:3): cannot read host ID: no such file"
            ),
            "{e}"
        );
        f.write("etc/nvme/hostnqn", "");
        let e = resolve_nqn(&HostConfig::default(), &f.paths).unwrap_err();
        assert!(matches!(e.problem, Problem::Missing { .. }), "{e}");
    }

    #[test]
    fn invalid_values_name_value_and_origin() {
        let f = Fixture::new();
        f.write("etc/nvme/hostnqn", "foo\n");
        let e = resolve_nqn(&HostConfig::default(), &f.paths).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: host NQN \"foo\" must start with \"nqn.\"",
                f.paths.hostnqn().display()
            )
        );
        let cfg = HostConfig {
            nqn: v(&format!("nqn.{}", "a".repeat(219))),
            id: v("1234"),
            ..HostConfig::default()
        };
        let e = resolve_nqn(&cfg, &f.paths).unwrap_err().to_string();
        assert!(
            e.starts_with("/etc/stas/sys.conf:3: host NQN \"nqn.aaa"),
            "{e}"
        );
        assert!(
            e.ends_with("is 223 bytes long; the kernel accepts at most 222"),
            "{e}"
        );
        let e = resolve_id(&cfg, &f.paths).unwrap_err().to_string();
        assert_eq!(
            e,
            "/etc/stas/sys.conf:3: host ID \"1234\" is not a UUID of the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
        );
        let cfg = HostConfig {
            nqn: v(""),
            ..HostConfig::default()
        };
        assert_eq!(
            resolve_nqn(&cfg, &f.paths).unwrap_err().to_string(),
            "/etc/stas/sys.conf:3: no host NQN (create it with \"stasadm hostnqn\")"
        );
    }

    #[test]
    fn optional_problems_are_warnings() {
        let f = Fixture::new();
        f.defaults();
        f.write("etc/nvme/hostkey", "DHHC-1:00:c2VjcmV0:\n");
        let cfg = HostConfig {
            symname: v("file:///nonexistent/symname"),
            ..HostConfig::default()
        };
        let r = HostIdentity::resolve(&cfg, &f.paths).unwrap();
        assert_eq!(r.identity.key, None);
        assert_eq!(r.identity.symname, None);
        let msgs: Vec<String> = r.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(
            msgs[0].contains("host key is not a valid DH-HMAC-CHAP secret"),
            "{msgs:?}"
        );
        assert!(!msgs[0].contains("c2VjcmV0"), "the key leaks: {msgs:?}");
        assert!(
            msgs[1].starts_with("/nonexistent/symname (named by"),
            "{msgs:?}"
        );
    }

    #[test]
    fn missing_default_key_is_silent_but_a_named_one_is_not() {
        let f = Fixture::new();
        assert_eq!(resolve_key(&HostConfig::default(), &f.paths).unwrap(), None);
        let cfg = HostConfig {
            key: v("file:///nonexistent/key"),
            ..HostConfig::default()
        };
        assert!(resolve_key(&cfg, &f.paths).unwrap_err().is_not_found());
    }

    #[test]
    fn non_utf8_file_is_invalid() {
        let f = Fixture::new();
        fs::write(f.paths.hostnqn(), b"nqn.\xff\n").unwrap();
        let e = resolve_nqn(&HostConfig::default(), &f.paths).unwrap_err();
        assert!(e.to_string().ends_with("host NQN is not UTF-8 text"), "{e}");
    }

    #[test]
    fn from_lead_sysconf_and_diagnostics() {
        let text = "# comment\n[Host]\nnqn = file:///nonexistent/nqn\nID=1234\n";
        let dir = tempfile::tempdir().unwrap();
        let loaded = crate::config::load_sys_conf(&write_conf(&dir, text)).unwrap();
        let cfg = HostConfig::from_sysconf(&loaded.config);
        let file = loaded.config.file.clone();
        assert_eq!(
            cfg.nqn,
            Some(HostValue::new("file:///nonexistent/nqn", &file, 3))
        );
        assert_eq!(cfg.id, Some(HostValue::new("1234", &file, 4)));
        assert_eq!(cfg.key, None);

        let f = Fixture::new();
        let d = resolve_nqn(&cfg, &f.paths)
            .unwrap_err()
            .to_diagnostic(Severity::Error);
        assert_eq!(
            d.to_string(),
            format!(
                "{}:3: error: file:///nonexistent/nqn: cannot read host NQN: no such file or \
                 directory (create it with \"stasadm hostnqn\")",
                file.display()
            )
        );
        let d = resolve_id(&cfg, &f.paths)
            .unwrap_err()
            .to_diagnostic(Severity::Error);
        assert_eq!(
            d.to_string(),
            format!(
                "{}:4: error: host ID \"1234\" is not a UUID of the form \
                 xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
                file.display()
            )
        );
        f.write("etc/nvme/hostnqn", "bad\n");
        let d = resolve_nqn(&HostConfig::default(), &f.paths)
            .unwrap_err()
            .to_diagnostic(Severity::Warning);
        assert_eq!(
            d.to_string(),
            format!(
                "{}: warning: host NQN \"bad\" must start with \"nqn.\"",
                f.paths.hostnqn().display()
            )
        );
    }

    fn write_conf(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let p = dir.path().join("sys.conf");
        fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn debug_hides_the_configured_key() {
        let cfg = HostConfig {
            key: v("DHHC-1:00:c2VjcmV0:"),
            ..HostConfig::default()
        };
        let dbg = format!("{cfg:?}");
        assert!(
            !dbg.contains("c2VjcmV0") && dbg.contains("<redacted>"),
            "{dbg}"
        );
    }
}
