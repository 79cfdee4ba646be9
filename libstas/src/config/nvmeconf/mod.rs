//! libnvme's INI connection configuration (the `nvme-fabrics.conf(5)` format), as nvme-stas 3.x
//! reads it from `/etc/nvme/nvme-stas.conf` and `/etc/nvme/nvme-stas.conf.d/*.conf`
//! (ecosystem-2026.md §3.1–§3.6).
//!
//! This module owns:
//! - reading the main file and its drop-in directory `<main>.d/` ([`read_sources`]): which files
//!   are read, in which order, and which files are refused (not regular, over 1 MiB, NUL byte,
//!   not UTF-8, a `.json` main file);
//! - the lexical grammar (`lex`): trimmed lines, `#` full-line comments only, `[section]` and
//!   `key = value` lines, junk detection;
//! - the key table (`keys`): every key's class, type, value check and the sections it is
//!   allowed in, the `controller =` path specification, the structural NQN check
//!   ([`check_nqn_structure`]);
//! - validation and resolution (`resolve`): section rules, duplicates, personas across files,
//!   and the cascade `base(type) ⊕ endpoint section ⊕ controller line` that yields one
//!   [`Connection`] per `controller =` line plus one [`FileScope`] per file.
//!
//! Nothing here touches the kernel or decides how a connection is made: consumers take
//! [`NvmeConf`] and render it. Parsing never fails and never panics; every problem becomes a
//! [`Diagnostic`] with file and line, and any error means the whole configuration must be
//! rejected ([`Parsed::has_errors`]).

pub(crate) mod keys;
mod lex;
mod read;
mod resolve;
#[cfg(test)]
pub(crate) mod tests;

use crate::config::ini::{Diagnostic, Severity};
use crate::config::service::Persistent;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use keys::{check_hostid, check_nqn_structure, parse_bool, parse_int};
pub use read::{dropin_dir, MAX_FILE_SIZE};

/// Default main file of stas's 3.x layout.
pub const NVME_STAS_CONF: &str = "/etc/nvme/nvme-stas.conf";

/// The NQN a `[Discovery Controller]` without `nqn` connects to.
pub const WELL_KNOWN_DISC_NQN: &str = crate::model::trid::WELL_KNOWN_DISC_NQN;

/// Keys whose values are secrets: never shown by `Debug` of [`Params`].
pub const SECRET_KEYS: [&str; 3] = ["tls-key", "kxchap-secret", "kxchap-ctrl-secret"];

/// Whether `key` holds a secret (one of [`SECRET_KEYS`]).
#[must_use]
pub fn is_secret(key: &str) -> bool {
    SECRET_KEYS.contains(&key)
}

/// One file's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Where the text came from (the main file, or a drop-in).
    pub path: PathBuf,
    /// The whole file.
    pub text: String,
}

/// Reads the main file and its drop-ins (main first, then `<main>.d/*.conf` in byte order).
///
/// A missing main file or a missing drop-in directory is skipped silently. Problems reading a
/// file (not a regular file, over 1 MiB, NUL byte, not UTF-8, unreadable, a `.json` main
/// file) are error diagnostics naming the file; that file is then not among the sources.
#[must_use]
pub fn read_sources(main: &Path) -> (Vec<Source>, Vec<Diagnostic>) {
    read::read_sources(main)
}

/// Parses and resolves `sources`. Never panics on any input.
///
/// `main` is the main file's path: the first source whose path equals it is the main file
/// (wherever it is in `sources`); every other source is a drop-in, taken in the given order.
/// [`NvmeConf::scopes`]`[0]` is the main file's scope even when no source is the main file.
#[must_use]
pub fn parse(main: &Path, sources: &[Source]) -> Parsed {
    resolve::parse(main, sources)
}

/// [`read_sources`] then [`parse`]: the whole load of a configuration.
///
/// `found` is also true when a file exists but could not be read (that is an error).
#[must_use]
pub fn load(main: &Path) -> Parsed {
    let (sources, read_diags) = read_sources(main);
    let mut parsed = parse(main, &sources);
    parsed.found = !sources.is_empty() || !read_diags.is_empty();
    if !read_diags.is_empty() {
        let mut all = read_diags;
        all.append(&mut parsed.diagnostics);
        // Main file first, then the drop-ins in name order (they share one directory, so
        // the whole path's bytes order them like their names); stable, so each file keeps its
        // line order.
        all.sort_by(|a, b| {
            use std::os::unix::ffi::OsStrExt;
            let key = |d: &Diagnostic| (d.file != main, d.file.as_os_str().as_bytes().to_vec());
            key(a).cmp(&key(b))
        });
        parsed.diagnostics = all;
    }
    parsed
}

/// The result of [`parse`] or [`load`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Every diagnostic, errors and warnings, in file order then line order.
    pub diagnostics: Vec<Diagnostic>,
    /// The resolved configuration; only meaningful when there is no error.
    pub conf: NvmeConf,
    /// Whether the main file or any drop-in existed.
    pub found: bool,
}

impl Parsed {
    /// Whether any diagnostic is an error (the configuration must then be rejected as a unit).
    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// The two kinds of endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A discovery controller (`[Discovery Controller]`, `[Discovery Controller Defaults]`).
    Discovery,
    /// An I/O controller (`[Subsystem]`, `[I/O Controller Defaults]`).
    Io,
}

/// A typed parameter value.
///
/// `Debug` and `Display` show the value as is; only [`Params`]' `Debug` knows which keys are
/// secret and redacts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An INT key (`keep-alive-tmo`, `nr-io-queues`, …).
    Int(i32),
    /// A BOOL key (`hdr-digest`, `tls`, …).
    Bool(bool),
    /// A STRING key (`tls-key`, `kxchap-secret`, …).
    Str(String),
    /// `persistent`.
    Persistent(Persistent),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(i) => write!(f, "{i}"),
            Self::Bool(b) => f.write_str(if *b { "true" } else { "false" }),
            Self::Str(s) => f.write_str(s),
            Self::Persistent(p) => f.write_str(p.as_str()),
        }
    }
}

/// Parameters after the cascade, in insertion order. An entry with `None` is a reset: the key
/// was given an empty value, which beats every outer level and is omitted at connect time.
///
/// `Debug` shows `<redacted>` for the values of [`SECRET_KEYS`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, Option<Value>)>);

impl Params {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The entry of `key`: `None` when absent, `Some(None)` when reset.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Option<Value>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of an INT key; `None` when absent, reset, or not an integer.
    #[must_use]
    pub fn int(&self, key: &str) -> Option<i32> {
        match self.get(key) {
            Some(Some(Value::Int(i))) => Some(*i),
            _ => None,
        }
    }

    /// The value of a BOOL key; `None` when absent, reset, or not a boolean.
    #[must_use]
    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.get(key) {
            Some(Some(Value::Bool(b))) => Some(*b),
            _ => None,
        }
    }

    /// The value of a STRING key; `None` when absent, reset, or not a string.
    #[must_use]
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(Some(Value::Str(s))) => Some(s),
            _ => None,
        }
    }

    /// The value of `persistent`; `None` when absent or reset.
    #[must_use]
    pub fn persistent(&self) -> Option<Persistent> {
        match self.get("persistent") {
            Some(Some(Value::Persistent(p))) => Some(*p),
            _ => None,
        }
    }

    /// Every entry, in insertion order; `None` is a reset.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&Value>)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_ref()))
    }

    /// Sets `key` (`None` = reset): replaces the value in place when present, appends
    /// otherwise.
    pub fn set(&mut self, key: &str, value: Option<Value>) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key.to_owned(), value)),
        }
    }

    /// The cascade's `⊕`: every key of `top` replaces this set's entry (a reset included);
    /// keys new to this set are appended in `top`'s order.
    pub fn overlay(&mut self, top: &Params) {
        for (k, v) in &top.0 {
            self.set(k, v.clone());
        }
    }

    /// `self ⊕ top`, as a new set.
    #[must_use]
    pub fn overlaid(&self, top: &Params) -> Params {
        let mut out = self.clone();
        out.overlay(top);
        out
    }

    /// Whether there is no entry at all (not even a reset).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of entries (resets included).
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Shown<'a>(&'a str, Option<&'a Value>);
        impl fmt::Debug for Shown<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.1 {
                    None => f.write_str("<reset>"),
                    Some(_) if is_secret(self.0) => f.write_str("<redacted>"),
                    Some(v) => fmt::Debug::fmt(v, f),
                }
            }
        }
        f.debug_map()
            .entries(self.iter().map(|(k, v)| (k, Shown(k, v))))
            .finish()
    }
}

/// A host persona: the identity keys of one file's `[Host]`. Unset or empty is `None` (the
/// consumer then falls back to `/etc/nvme/hostnqn` and `/etc/nvme/hostid`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// `hostnqn`.
    pub hostnqn: Option<String>,
    /// `hostid` (a UUID, as written).
    pub hostid: Option<String>,
    /// `hostsymname`.
    pub hostsymname: Option<String>,
}

/// The addressing part of a `controller =` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// `transport` (not checked against a list; host names allowed in `traddr`).
    pub transport: String,
    /// `traddr`.
    pub traddr: String,
    /// `trsvcid`, when given.
    pub trsvcid: Option<String>,
    /// `host-traddr`, when given.
    pub host_traddr: Option<String>,
    /// `host-iface`, when given.
    pub host_iface: Option<String>,
}

/// One `controller =` line: one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Discovery controller or I/O controller.
    pub kind: Kind,
    /// The file of the `controller =` line.
    pub file: PathBuf,
    /// 1-based line of the `controller =` line.
    pub line: usize,
    /// Index into [`NvmeConf::scopes`] of its file (0 = main file).
    pub scope: usize,
    /// The subsystem NQN (the well-known discovery NQN for a DC without `nqn`).
    pub nqn: String,
    /// Where to connect.
    pub address: Address,
    /// Fully resolved parameters (`base(kind) ⊕ endpoint section ⊕ controller line`).
    pub params: Params,
    /// Its file's `[Host]` persona.
    pub identity: Identity,
}

/// What a file gives the connections of that file, and what a controller discovered through
/// one of its DCs inherits (`dc`/`ioc` are `base(type)` of the cascade: main file defaults ⊕
/// this file's defaults (drop-ins only) ⊕ this file's `[Host]` parameters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileScope {
    /// The file.
    pub path: PathBuf,
    /// `base(Discovery)`.
    pub dc: Params,
    /// `base(Io)`.
    pub ioc: Params,
    /// The file's `[Host]` persona.
    pub identity: Identity,
}

impl FileScope {
    /// `base(kind)`.
    #[must_use]
    pub fn base(&self, kind: Kind) -> &Params {
        match kind {
            Kind::Discovery => &self.dc,
            Kind::Io => &self.ioc,
        }
    }
}

/// The resolved configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NvmeConf {
    /// `scopes[0]` is always the main file (empty when it is missing); then one per drop-in
    /// in reading order.
    pub scopes: Vec<FileScope>,
    /// Every connection, in file order.
    pub connections: Vec<Connection>,
}

impl NvmeConf {
    /// The discovery controllers, in file order.
    pub fn dcs(&self) -> impl Iterator<Item = &Connection> {
        self.connections
            .iter()
            .filter(|c| c.kind == Kind::Discovery)
    }

    /// The I/O controllers, in file order.
    pub fn iocs(&self) -> impl Iterator<Item = &Connection> {
        self.connections.iter().filter(|c| c.kind == Kind::Io)
    }

    /// The main file's scope (what a controller without a configured origin, e.g. an mDNS
    /// DC, inherits). An empty scope for a default-constructed value.
    #[must_use]
    pub fn main_scope(&self) -> &FileScope {
        static EMPTY: OnceLock<FileScope> = OnceLock::new();
        self.scopes
            .first()
            .unwrap_or_else(|| EMPTY.get_or_init(FileScope::default))
    }

    /// The scope of `conn`'s file (the main scope if the index is out of range).
    #[must_use]
    pub fn scope_of(&self, conn: &Connection) -> &FileScope {
        self.scopes
            .get(conn.scope)
            .unwrap_or_else(|| self.main_scope())
    }
}
