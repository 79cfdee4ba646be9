//! The mapping from the 2.x files to the 3.x files, without I/O: parsed 2.x files and the
//! resolved identity in, documents and the not-carried list out.
//!
//! Every option line, controller entry and exclude entry of the three 2.x files is either
//! carried (its line is recorded as accounted for) or listed; a final sweep lists every
//! line nothing accounted for, so nothing is dropped silently.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::doc::{timespan, Doc, Section, Setting};
use super::identity::{IdentityFacts, Sourced};
use super::NotCarried;
use crate::config::controller::parse_controller;
use crate::config::exclusions::Exclusion;
use crate::config::ini::{Ini, ValueLine};
use crate::config::nvmeconf::check_nqn_structure;
use crate::config::service::sections::{CONTROLLERS, DC_MGMT, GLOBAL, IOC_MGMT, SERVICE_DISCOVERY};
use crate::config::service::{
    py_int, ConfiguredController, ConnectParams, DisconnectScope, Persistence, Persistent,
    ServiceConfig,
};
use crate::config::sysconf::{HOST, HOST_KEYS};
use crate::config::Diagnostic;
use crate::model::trid::{TidDefaults, Transport, TransportId, WELL_KNOWN_DISC_NQN};

/// `[Discovery Controller Defaults]`
const DC_DEFAULTS: &str = "Discovery Controller Defaults";
/// `[I/O Controller Defaults]`
const IOC_DEFAULTS: &str = "I/O Controller Defaults";
/// `[Host]` of nvme-fabrics.conf
const INI_HOST: &str = "Host";

/// The 2.x connection parameters and their 3.x names, in output order.
const PARAMS: [(&str, &str); 10] = [
    ("kato", "keep-alive-tmo"),
    ("queue-size", "queue-size"),
    ("nr-io-queues", "nr-io-queues"),
    ("nr-write-queues", "nr-write-queues"),
    ("nr-poll-queues", "nr-poll-queues"),
    ("reconnect-delay", "reconnect-delay"),
    ("ctrl-loss-tmo", "ctrl-loss-tmo"),
    ("hdr-digest", "hdr-digest"),
    ("data-digest", "data-digest"),
    ("disable-sqflow", "disable-sqflow"),
];

/// The 2.x TLS keys (same names in 3.x). The 3.x format binds security keys to a section
/// (never a `controller =` line): a controller's go to its `[Subsystem]` or `[Discovery
/// Controller]`, `[Global]`'s (`tls`, `keyring`; 2.x has no global `tls-key`) to the
/// defaults section. Key serials are written in decimal.
const SECURITY: [&str; 3] = ["tls", "keyring", "tls-key"];

/// The typed value of 2.x TLS key `key`, as 3.x text.
fn security_text(p: &ConnectParams, key: &str) -> Option<String> {
    match key {
        "tls" => p.tls.map(|v| v.to_string()),
        "keyring" => p.keyring.map(|v| v.to_string()),
        "tls-key" => p.tls_key.map(|v| v.to_string()),
        _ => None,
    }
}

/// The typed value of 2.x parameter `key`, as 3.x text (plain decimal, `true`/`false`).
fn param_text(p: &ConnectParams, key: &str) -> Option<String> {
    let b = |v: Option<bool>| v.map(|v| v.to_string());
    let n = |v: Option<u32>| v.map(|v| v.to_string());
    match key {
        "kato" => n(p.kato),
        "queue-size" => n(p.queue_size),
        "nr-io-queues" => n(p.nr_io_queues),
        "nr-write-queues" => n(p.nr_write_queues),
        "nr-poll-queues" => n(p.nr_poll_queues),
        "reconnect-delay" => n(p.reconnect_delay),
        "ctrl-loss-tmo" => p.ctrl_loss_tmo.map(|v| v.to_string()),
        "hdr-digest" => b(p.hdr_digest),
        "data-digest" => b(p.data_digest),
        "disable-sqflow" => b(p.disable_sqflow),
        _ => None,
    }
}

fn enabled(v: bool) -> &'static str {
    if v {
        "enabled"
    } else {
        "disabled"
    }
}

/// One of the three 2.x files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum FileId {
    /// sys.conf
    Sys,
    /// stafd.conf
    Stafd,
    /// stacd.conf
    Stacd,
}

/// A 2.x file as read: its raw sections (with the line of every value) and the diagnostics of
/// the 2.x loader.
pub(super) struct SourceFile {
    /// Where it was read.
    pub path: PathBuf,
    /// The raw parse.
    pub ini: Ini,
    /// What the 2.x loader reported.
    pub diagnostics: Vec<Diagnostic>,
    /// Whether the file exists.
    pub found: bool,
}

/// Where the 3.x files go.
pub(super) struct Outputs {
    /// nvme-stas.conf
    pub main: PathBuf,
    /// nvme-stas.conf.d
    pub dropin_dir: PathBuf,
    /// stafd.conf
    pub stafd: PathBuf,
    /// stacd.conf
    pub stacd: PathBuf,
    /// exclusions.conf.d/stas.conf
    pub exclusions: PathBuf,
}

/// Everything the mapping needs.
pub(super) struct Input {
    /// sys.conf
    pub sys: SourceFile,
    /// stafd.conf and its 2.x configuration.
    pub stafd: (SourceFile, ServiceConfig),
    /// stacd.conf and its 2.x configuration.
    pub stacd: (SourceFile, ServiceConfig),
    /// The resolved host identity.
    pub identity: IdentityFacts,
    /// The target paths.
    pub out: Outputs,
}

/// The result of the mapping.
pub(super) struct Built {
    /// Files to write, in display order (nvme-stas.conf first).
    pub files: Vec<(PathBuf, Doc)>,
    /// What is not carried over.
    pub not_carried: Vec<NotCarried>,
    /// Warnings the operator should read.
    pub notes: Vec<String>,
}

/// Whether a controller is a discovery controller (stafd) or an I/O controller (stacd).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dc,
    Ioc,
}

/// One `[Discovery Controller]` or `[Subsystem]` section: the controllers that share its
/// nqn, host NQN and secrets.
struct Endpoint {
    kind: Kind,
    nqn: Option<String>,
    host_nqn: Option<String>,
    secret: Option<String>,
    ctrl_secret: Option<String>,
    /// The TLS keys of its controllers ([`SECURITY`]: key, value).
    security: Vec<(&'static str, String)>,
    /// `file:line` of the first controller.
    first: String,
    controllers: Vec<Setting>,
}

impl Endpoint {
    fn section(&self) -> Section {
        let name = match self.kind {
            Kind::Dc => "Discovery Controller",
            Kind::Ioc => "Subsystem",
        };
        let mut s = Section::new(name);
        if let Some(nqn) = &self.nqn {
            s.settings.push(Setting::new(
                format!("from {} (the nqn of the controllers below)", self.first),
                "nqn",
                nqn.clone(),
            ));
        }
        for (key2, key3, value) in [
            ("dhchap-secret", "kxchap-secret", &self.secret),
            (
                "dhchap-ctrl-secret",
                "kxchap-ctrl-secret",
                &self.ctrl_secret,
            ),
        ] {
            if let Some(v) = value {
                s.settings.push(Setting::secret(
                    format!(
                        "from {} ({key2} of the controllers below; a secret is never allowed \
                         on a controller line)",
                        self.first
                    ),
                    key3,
                    v.clone(),
                ));
            }
        }
        for (key, value) in &self.security {
            s.settings.push(Setting::new(
                format!(
                    "from {} ({key} of the controllers below; a security key is never allowed \
                     on a controller line)",
                    self.first
                ),
                key,
                value.clone(),
            ));
        }
        s.settings.extend(self.controllers.iter().cloned());
        s
    }
}

fn file_of(input: &Input, fid: FileId) -> &SourceFile {
    match fid {
        FileId::Sys => &input.sys,
        FileId::Stafd => &input.stafd.0,
        FileId::Stacd => &input.stacd.0,
    }
}

fn cfg_of(input: &Input, fid: FileId) -> &ServiceConfig {
    match fid {
        FileId::Stafd => &input.stafd.1,
        _ => &input.stacd.1,
    }
}

struct Builder<'a> {
    input: &'a Input,
    accounted: BTreeSet<(FileId, usize)>,
    items: Vec<NotCarried>,
    notes: Vec<String>,
    main: Doc,
    stafd: Doc,
    stacd: Doc,
    endpoints: Vec<Endpoint>,
    /// Distinct `host-nqn=` values, in first-appearance order, with the first `file:line`.
    personas: Vec<(String, String)>,
    exclusions: Vec<Setting>,
    /// Controllers already taken: file, identity as 2.x built it, line.
    seen: Vec<(FileId, TransportId, usize)>,
}

/// Maps the 2.x configuration of `input` to the 3.x files.
pub(super) fn build(input: &Input) -> Built {
    let mut b = Builder {
        input,
        accounted: BTreeSet::new(),
        items: input.identity.problems.clone(),
        notes: Vec::new(),
        main: Doc::new(" = "),
        stafd: Doc::new("="),
        stacd: Doc::new("="),
        endpoints: Vec::new(),
        personas: Vec::new(),
        exclusions: Vec::new(),
        seen: Vec::new(),
    };
    for name in [INI_HOST, DC_DEFAULTS, IOC_DEFAULTS] {
        b.main.section(name);
    }
    b.sys();
    b.stafd();
    b.stacd();
    b.sweep();
    b.finish()
}

impl Builder<'_> {
    fn file(&self, fid: FileId) -> &SourceFile {
        file_of(self.input, fid)
    }

    /// `path:line`.
    fn src(&self, fid: FileId, line: usize) -> String {
        format!("{}:{line}", self.file(fid).path.display())
    }

    fn item(&mut self, fid: FileId, line: usize, what: impl Into<String>, why: impl Into<String>) {
        let file = self.file(fid).path.clone();
        self.items.push(NotCarried {
            file,
            line: Some(line),
            what: what.into(),
            why: why.into(),
        });
    }

    fn has_error_at(&self, fid: FileId, line: usize) -> bool {
        self.file(fid)
            .diagnostics
            .iter()
            .any(|d| d.is_error() && d.line == Some(line))
    }

    /// The effective (last) value of `section`/`key` and whether 2.x accepted it. Every line
    /// of the option is accounted for; earlier values are listed as overridden.
    fn take(&mut self, fid: FileId, section: &str, key: &str) -> Option<(ValueLine, bool)> {
        let file = file_of(self.input, fid);
        let values: Vec<&ValueLine> = file
            .ini
            .values(section, key)
            .into_iter()
            .filter(|v| !v.text.is_empty())
            .collect();
        let (last, earlier) = values.split_last()?;
        for v in earlier {
            self.accounted.insert((fid, v.line));
            self.item(
                fid,
                v.line,
                format!("[{section}] {key}"),
                format!(
                    "overridden by line {} (2.x used the last value); not carried",
                    last.line
                ),
            );
        }
        self.accounted.insert((fid, last.line));
        let valid = !self.has_error_at(fid, last.line);
        Some(((*last).clone(), valid))
    }

    /// The effective value of `section`/`key` when 2.x accepted it; an invalid one is listed.
    fn scalar(&mut self, fid: FileId, section: &str, key: &str) -> Option<ValueLine> {
        let (v, valid) = self.take(fid, section, key)?;
        if valid {
            return Some(v);
        }
        self.item(
            fid,
            v.line,
            format!("[{section}] {key}"),
            "invalid value in 2.x (see the 2.x diagnostic; the 2.x daemon used its default); \
             not written",
        );
        None
    }

    fn from(&self, fid: FileId, v: &ValueLine) -> String {
        format!("from {}", self.src(fid, v.line))
    }

    // ---- sys.conf -------------------------------------------------------------------------

    fn sys(&mut self) {
        for key in HOST_KEYS {
            // Accounts for the lines; the values were resolved into `identity`.
            let _ = self.take(FileId::Sys, HOST, key);
        }
        let input = self.input;
        let id = &input.identity;
        let host = self.main.section(INI_HOST);
        let put = |host: &mut Section, key: &str, v: &Option<Sourced>| {
            if let Some(v) = v {
                host.settings
                    .push(Setting::new(v.comment.clone(), key, v.value.clone()));
            }
        };
        put(host, "hostnqn", &id.hostnqn);
        put(host, "hostid", &id.hostid);
        put(host, "hostsymname", &id.symname);
        self.main.header.extend(id.header.iter().cloned());
    }

    // ---- shared by both daemons -----------------------------------------------------------

    /// `[Global]` tron, ignore-iface, ip-family (and pleo for stafd) → the daemon's 3.x file.
    fn behaviour(&mut self, fid: FileId) {
        let cfg = cfg_of(self.input, fid);
        let keys: &[&str] = match fid {
            FileId::Stafd => &["tron", "ignore-iface", "ip-family", "pleo"],
            _ => &["tron", "ignore-iface", "ip-family"],
        };
        for &key in keys {
            let Some(v) = self.scalar(fid, GLOBAL, key) else {
                continue;
            };
            let g = &cfg.global;
            let value = match key {
                "tron" => g.tron.to_string(),
                "ignore-iface" => g.ignore_iface.to_string(),
                "ip-family" => g.ip_family.to_string(),
                _ => enabled(g.pleo).to_owned(),
            };
            let setting = Setting::new(self.from(fid, &v), key, value);
            self.doc(fid).section(GLOBAL).settings.push(setting);
        }
    }

    fn doc(&mut self, fid: FileId) -> &mut Doc {
        match fid {
            FileId::Stafd => &mut self.stafd,
            _ => &mut self.stacd,
        }
    }

    /// `[Global]` connection parameters → `section` of nvme-stas.conf.
    fn params(&mut self, fid: FileId, section: &str) {
        let cfg = cfg_of(self.input, fid);
        for (key2, key3) in PARAMS {
            if fid == FileId::Stafd && key2.starts_with("nr-") {
                continue; // not a stafd option: listed by the sweep
            }
            let Some(v) = self.scalar(fid, GLOBAL, key2) else {
                continue;
            };
            let Some(value) = param_text(&cfg.global.params, key2) else {
                continue;
            };
            let comment = if key2 == key3 {
                self.from(fid, &v)
            } else {
                format!("{} ({key2})", self.from(fid, &v))
            };
            let setting = Setting::new(comment, key3, value);
            self.main.section(section).settings.push(setting);
        }
        // `tls-key` is not a [Global] option of 2.x: the sweep lists it.
        for key in SECURITY.into_iter().filter(|k| *k != "tls-key") {
            let Some(v) = self.scalar(fid, GLOBAL, key) else {
                continue;
            };
            let Some(value) = security_text(&cfg.global.params, key) else {
                continue;
            };
            let setting = Setting::new(self.from(fid, &v), key, value);
            self.main.section(section).settings.push(setting);
        }
    }

    // ---- stafd.conf -----------------------------------------------------------------------

    fn stafd(&mut self) {
        let fid = FileId::Stafd;
        let cfg = cfg_of(self.input, fid);
        self.behaviour(fid);
        self.params(fid, DC_DEFAULTS);

        if let Some(v) = self.scalar(fid, SERVICE_DISCOVERY, "zeroconf") {
            let s = Setting::new(self.from(fid, &v), "zeroconf", enabled(cfg.stafd.zeroconf));
            self.stafd.section(SERVICE_DISCOVERY).settings.push(s);
        }

        for section in [GLOBAL, DC_MGMT] {
            let Some(v) = self.scalar(fid, section, "persistent-connections") else {
                continue;
            };
            if v.text.eq_ignore_ascii_case("true") {
                let line = format!(
                    "{}: [{section}] persistent-connections=true: nothing to write, 3.x keeps the \
                     discovery connections still open when stafd exits",
                    self.src(fid, v.line)
                );
                self.stafd.header.push(line);
            } else {
                self.item(
                    fid,
                    v.line,
                    format!("[{section}] persistent-connections=false"),
                    "no successor in 3.x (the discovery connections still open when stafd \
                     exits stay connected); not carried",
                );
            }
        }

        if let Some(v) = self.scalar(fid, DC_MGMT, "zeroconf-connections-persistence") {
            let value = match cfg.stafd.zeroconf_persistence {
                Persistence::Forever => "infinity".to_owned(),
                Persistence::For(d) => timespan(d),
            };
            let comment = format!(
                "{}: zeroconf-connections-persistence={} (renamed; systemd.time(7) units)",
                self.from(fid, &v),
                v.text
            );
            let s = Setting::new(comment, "dc-giveup-timeout", value);
            self.stafd.section(DC_MGMT).settings.push(s);
        }

        if let Some(v) = self.scalar(fid, DC_MGMT, "epcsd-poll-interval-minutes") {
            let d = cfg.stafd.epcsd_poll;
            if d.subsec_nanos() == 0 && d.as_secs() % 60 == 0 {
                let s = Setting::new(
                    self.from(fid, &v),
                    "epcsd-poll-interval-minutes",
                    (d.as_secs() / 60).to_string(),
                );
                self.stafd.section(DC_MGMT).settings.push(s);
            } else {
                self.item(
                    fid,
                    v.line,
                    format!("[{DC_MGMT}] epcsd-poll-interval-minutes={}", v.text),
                    "3.x takes a whole number of minutes; not written (3.x polls every 15 minutes)",
                );
            }
        }

        let persistent = match self.scalar(fid, DC_MGMT, "persistent") {
            Some(v) => Setting::new(
                self.from(fid, &v),
                "persistent",
                cfg.stafd.persistent.as_str(),
            ),
            None => Setting::new(
                "2.x held every discovery connection open (its default is persistent=force); \
                 the 3.x default is auto",
                "persistent",
                Persistent::Force.as_str(),
            ),
        };
        self.main.section(DC_DEFAULTS).settings.push(persistent);

        self.controllers(fid, Kind::Dc);
        self.excludes(fid);
    }

    // ---- stacd.conf -----------------------------------------------------------------------

    fn stacd(&mut self) {
        let fid = FileId::Stacd;
        let cfg = cfg_of(self.input, fid);
        self.behaviour(fid);
        self.params(fid, IOC_DEFAULTS);

        let default = "2.x's default disconnect-scope=only-stas-connections";
        let (comment, value) = match self.take(fid, IOC_MGMT, "disconnect-scope") {
            Some((v, true)) => {
                let scope = cfg.stacd.disconnect_scope;
                let comment = format!("{}: disconnect-scope={scope}", self.from(fid, &v));
                match scope {
                    DisconnectScope::OnlyStasConnections => (comment, "yes"),
                    DisconnectScope::NoDisconnect => (comment, "no"),
                    DisconnectScope::AllConnectionsMatchingDisconnectTrtypes => {
                        self.item(
                            fid,
                            v.line,
                            format!("[{IOC_MGMT}] disconnect-scope={scope}"),
                            "no successor in 3.x (stacd only disconnects the connections it made); \
                             honor-fabric-zoning=yes written, the closest",
                        );
                        (comment, "yes")
                    }
                }
            }
            Some((v, false)) => {
                self.item(
                    fid,
                    v.line,
                    format!("[{IOC_MGMT}] disconnect-scope"),
                    "invalid value in 2.x (see the 2.x diagnostic); honor-fabric-zoning=yes \
                     written, as 2.x used only-stas-connections",
                );
                (default.to_owned(), "yes")
            }
            None => (default.to_owned(), "yes"),
        };
        let s = Setting::new(comment, "honor-fabric-zoning", value);
        self.stacd.section(IOC_MGMT).settings.push(s);

        if let Some((v, _)) = self.take(fid, IOC_MGMT, "disconnect-trtypes") {
            self.item(
                fid,
                v.line,
                format!("[{IOC_MGMT}] disconnect-trtypes={}", v.text),
                "removed in 3.x (stacd only disconnects the connections it made); not carried",
            );
        }

        if let Some(v) = self.scalar(fid, IOC_MGMT, "connect-attempts-on-ncc") {
            let n = cfg.stacd.connect_attempts_on_ncc;
            let mut comment = self.from(fid, &v);
            if py_int(&v.text) == Some(1) {
                comment.push_str(" (connect-attempts-on-ncc=1, which 2.x reads as 2)");
            }
            let s = Setting::new(comment, "connect-attempts-on-ncc", n.to_string());
            self.stacd.section(IOC_MGMT).settings.push(s);
        }

        self.controllers(fid, Kind::Ioc);
        self.excludes(fid);
    }

    // ---- controllers ----------------------------------------------------------------------

    fn controllers(&mut self, fid: FileId, kind: Kind) {
        let cfg = cfg_of(self.input, fid);
        for c in &cfg.controllers {
            self.accounted.insert((fid, c.line));
            self.controller(fid, kind, c, cfg.global.ignore_iface);
        }
    }

    fn controller(
        &mut self,
        fid: FileId,
        kind: Kind,
        c: &ConfiguredController,
        ignore_iface: bool,
    ) {
        let line = c.line;
        let src = self.src(fid, line);
        let d = &c.dict.0;
        let get = |k: &str| d.get(k).filter(|v| !v.is_empty()).cloned();
        // The identity exactly as 2.x built it (trsvcid default, ignore-iface).
        let tid = c.dict.tid(&TidDefaults {
            host_nqn: String::new(),
            ignore_iface,
        });
        let Some(transport) = Transport::parse(&tid.transport) else {
            let why = if tid.transport.is_empty() {
                "no transport: 2.x could not connect it; not written".to_owned()
            } else {
                format!(
                    "transport \"{}\" is not tcp, rdma, fc or loop: 2.x dropped it; not written",
                    tid.transport
                )
            };
            self.item(fid, line, "controller", why);
            return;
        };
        if tid.traddr.is_empty() {
            let why = if transport == Transport::Loop {
                "no traddr: every controller line of the 3.x format needs one; not written"
            } else {
                "no traddr: 2.x dropped it; not written"
            };
            self.item(fid, line, "controller", why);
            return;
        }
        let nqn = get("subsysnqn");
        match (&nqn, kind) {
            (None, Kind::Ioc) => {
                self.item(
                    fid,
                    line,
                    "controller",
                    "no nqn: a [Subsystem] needs one (2.x dropped the entry too); not written",
                );
                return;
            }
            (Some(n), _) if !check_nqn_structure(n) => {
                self.item(
                    fid,
                    line,
                    "controller",
                    format!(
                        "nqn {n} does not pass the NQN check of the 3.x format (it would make \
                         the whole nvme-stas.conf invalid); not written"
                    ),
                );
                return;
            }
            _ => {}
        }
        let system_nqn = self.input.identity.system_nqn.clone();
        let host_nqn = get("host-nqn").filter(|h| Some(h) != system_nqn.as_ref());
        if let Some(h) = host_nqn.as_ref().filter(|h| !check_nqn_structure(h)) {
            self.item(
                fid,
                line,
                "controller",
                format!(
                    "host-nqn {h} does not pass the NQN check of the 3.x format (it would make \
                     the whole configuration invalid); not written"
                ),
            );
            return;
        }
        // 2.x keeps one controller per identity: the first entry.
        let mut ident = c.dict.tid(&TidDefaults {
            host_nqn: system_nqn.unwrap_or_default(),
            ignore_iface,
        });
        if kind == Kind::Dc && ident.subsysnqn.is_empty() {
            WELL_KNOWN_DISC_NQN.clone_into(&mut ident.subsysnqn);
        }
        if let Some((_, _, first)) = self.seen.iter().find(|(f, t, _)| *f == fid && *t == ident) {
            let why =
                format!("same controller as line {first} (2.x used the first entry); not written");
            self.item(fid, line, "controller", why);
            return;
        }
        self.seen.push((fid, ident, line));

        let mut tokens = vec![
            format!("transport={}", tid.transport),
            format!("traddr={}", tid.traddr),
        ];
        for (key, value) in [
            ("trsvcid", &tid.trsvcid),
            ("host-traddr", &tid.host_traddr),
            ("host-iface", &tid.host_iface),
        ] {
            if !value.is_empty() {
                tokens.push(format!("{key}={value}"));
            }
        }
        let mut comment = format!("from {src}");
        if transport == Transport::Tcp && get("trsvcid").is_none() && kind == Kind::Ioc {
            comment.push_str(
                "; trsvcid=8009 written out: the port 2.x used for a tcp I/O controller \
                 without trsvcid (libnvme's default is 4420)",
            );
            self.notes.push(format!(
                "{src}: the tcp I/O controller {} had no trsvcid: 2.x connected to port 8009, \
                 so trsvcid=8009 is written (libnvme's default would be 4420)",
                tid.traddr
            ));
        }

        let mut secret = None;
        let mut ctrl_secret = None;
        for (k, v) in d {
            match k.as_str() {
                "transport" | "traddr" | "subsysnqn" | "host-traddr" | "host-nqn" => {}
                "trsvcid" => {
                    if tid.trsvcid.is_empty() && !v.is_empty() {
                        self.item(
                            fid,
                            line,
                            "controller trsvcid",
                            format!("2.x ignores trsvcid for {}; not written", tid.transport),
                        );
                    }
                }
                "host-iface" => {
                    if tid.host_iface.is_empty() && !v.is_empty() {
                        self.item(
                            fid,
                            line,
                            "controller host-iface",
                            "2.x ignored it ([Global] ignore-iface=true); not written",
                        );
                    }
                }
                "dhchap-secret" | "dhchap-ctrl-secret" if !v.is_empty() => {
                    if kind == Kind::Dc {
                        self.item(
                            fid,
                            line,
                            format!("controller {k}"),
                            "2.x never sent DH-HMAC-CHAP secrets to discovery controllers; not \
                             carried (the value is not shown)",
                        );
                    } else if k == "dhchap-secret" {
                        secret = Some(v.clone());
                    } else {
                        ctrl_secret = Some(v.clone());
                    }
                }
                "dhchap-secret" | "dhchap-ctrl-secret" => {}
                "persistent" if kind == Kind::Dc => {}
                k if PARAMS.iter().any(|(k2, _)| *k2 == k) || SECURITY.contains(&k) => {}
                other => self.item(
                    fid,
                    line,
                    format!("controller key \"{other}\""),
                    "unknown to 2.x (it was not used to connect); not carried",
                ),
            }
        }
        for (key2, key3) in PARAMS {
            if !d.contains_key(key2) {
                continue;
            }
            match param_text(&c.overrides, key2) {
                Some(value) => tokens.push(format!("{key3}={value}")),
                None => self.item(
                    fid,
                    line,
                    format!("controller {key2}"),
                    "invalid value in 2.x (see the 2.x diagnostic; 2.x used the [Global] value); \
                     not written",
                ),
            }
        }
        let mut security = Vec::new();
        for key in SECURITY {
            if !d.contains_key(key) {
                continue;
            }
            match security_text(&c.overrides, key) {
                Some(value) => security.push((key, value)),
                None => self.item(
                    fid,
                    line,
                    format!("controller {key}"),
                    "invalid value in 2.x (see the 2.x diagnostic; 2.x used the [Global] value); \
                     not written",
                ),
            }
        }
        if kind == Kind::Dc {
            if let Some(p) = d.get("persistent") {
                match Persistent::parse(p) {
                    Some(p) => tokens.push(format!("persistent={}", p.as_str())),
                    None => self.item(
                        fid,
                        line,
                        "controller persistent",
                        format!(
                            "invalid value in 2.x (2.x used [{DC_MGMT}] persistent); not written"
                        ),
                    ),
                }
            }
        }

        if let Some(h) = &host_nqn {
            if !self.personas.iter().any(|(p, _)| p == h) {
                self.personas.push((h.clone(), src.clone()));
            }
        }
        let setting = Setting::new(comment, "controller", tokens.join(";"));
        let found = self.endpoints.iter_mut().find(|e| {
            e.kind == kind
                && e.nqn == nqn
                && e.host_nqn == host_nqn
                && e.secret == secret
                && e.ctrl_secret == ctrl_secret
                && e.security == security
        });
        match found {
            Some(e) => e.controllers.push(setting),
            None => self.endpoints.push(Endpoint {
                kind,
                nqn,
                host_nqn,
                secret,
                ctrl_secret,
                security,
                first: src,
                controllers: vec![setting],
            }),
        }
    }

    // ---- exclusions -----------------------------------------------------------------------

    fn excludes(&mut self, fid: FileId) {
        let file = file_of(self.input, fid);
        for key in ["exclude", "blacklist"] {
            for v in file.ini.values(CONTROLLERS, key) {
                if v.text.is_empty() {
                    continue;
                }
                self.accounted.insert((fid, v.line));
                self.exclusion(fid, key, v);
            }
        }
    }

    fn exclusion(&mut self, fid: FileId, key: &str, v: &ValueLine) {
        let (dict, _) = parse_controller(&v.text, false);
        let mut fields: Vec<(&str, &str)> = Vec::new();
        let mut foreign: Vec<&str> = Vec::new();
        for (k, val) in &dict.0 {
            match k.as_str() {
                "transport" | "traddr" | "trsvcid" | "host-iface" => {
                    fields.push((k.as_str(), val.as_str()));
                }
                "subsysnqn" => fields.push(("nqn", val.as_str())),
                "host-nqn" => fields.push(("hostnqn", val.as_str())),
                "host-traddr" => self.item(
                    fid,
                    v.line,
                    format!("{key} host-traddr"),
                    "2.x ignored host-traddr in exclude= entries (keeping it would narrow the \
                     exclusion); not written",
                ),
                other => foreign.push(other),
            }
        }
        if !foreign.is_empty() {
            let keys: Vec<String> = foreign.iter().map(|k| format!("\"{k}\"")).collect();
            self.item(
                fid,
                v.line,
                key,
                format!(
                    "key {} has no equivalent in the 3.x exclusion list (transport, traddr, \
                     trsvcid, nqn, host-traddr, host-iface, hostnqn, hostid); entry not written",
                    keys.join(", ")
                ),
            );
            return;
        }
        if fields.is_empty() {
            self.item(fid, v.line, key, "no usable key=value pair; not written");
            return;
        }
        // The order of §2.2, so that the entry reads like nvme-cli's own.
        let order = [
            "transport",
            "traddr",
            "trsvcid",
            "nqn",
            "host-iface",
            "hostnqn",
        ];
        fields.sort_by_key(|(k, _)| order.iter().position(|o| o == k));
        let text: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
        match Exclusion::parse(&text.join(";")) {
            Some(e) => {
                let comment = format!("from {} ({key}=)", self.src(fid, v.line));
                self.exclusions
                    .push(Setting::new(comment, "exclusion", e.to_string()));
            }
            None => self.item(
                fid,
                v.line,
                key,
                "not a valid entry of the 3.x exclusion list (an empty value, or a tcp/rdma \
                 traddr that is not a numeric IP address: resolve it, or drop transport=); \
                 not written",
            ),
        }
    }

    // ---- completeness ---------------------------------------------------------------------

    /// Lists every non-empty option line nothing accounted for.
    fn sweep(&mut self) {
        let input = self.input;
        for (fid, file) in [
            (FileId::Sys, &input.sys),
            (FileId::Stafd, &input.stafd.0),
            (FileId::Stacd, &input.stacd.0),
        ] {
            let known: &[&str] = match fid {
                FileId::Sys => &[HOST],
                FileId::Stafd => &[GLOBAL, SERVICE_DISCOVERY, DC_MGMT, CONTROLLERS],
                FileId::Stacd => &[GLOBAL, IOC_MGMT, CONTROLLERS],
            };
            for sec in &file.ini.sections {
                for e in &sec.entries {
                    let what = format!("[{}] {}", sec.name, e.key);
                    let lines: Vec<usize> = e
                        .values
                        .iter()
                        .filter(|v| !v.text.is_empty())
                        .map(|v| v.line)
                        .collect();
                    if lines.is_empty() {
                        if !self.accounted.contains(&(fid, e.line)) {
                            self.item(
                                fid,
                                e.line,
                                what.clone(),
                                "empty value: 2.x read the option as unset (its default applies); nothing to carry",
                            );
                        }
                        continue;
                    }
                    for line in lines {
                        if self.accounted.contains(&(fid, line)) {
                            continue;
                        }
                        let why = if !known.contains(&sec.name.as_str()) {
                            format!(
                                "2.x does not read section [{}] of this file; not carried",
                                sec.name
                            )
                        } else if self
                            .file(fid)
                            .diagnostics
                            .iter()
                            .any(|d| d.line == Some(line))
                        {
                            "ignored by 2.x (see the 2.x diagnostic for this line); not carried"
                                .to_owned()
                        } else {
                            "not an option 2.x reads here; not carried".to_owned()
                        };
                        self.item(fid, line, what.clone(), why);
                    }
                }
            }
        }
    }

    // ---- output ---------------------------------------------------------------------------

    fn sources(&self) -> String {
        [FileId::Sys, FileId::Stafd, FileId::Stacd]
            .iter()
            .map(|&f| {
                let file = self.file(f);
                if file.found {
                    file.path.display().to_string()
                } else {
                    format!("{} (absent: 2.x defaults)", file.path.display())
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn finish(mut self) -> Built {
        let input = self.input;
        let out = &input.out;
        let sources = self.sources();
        let mut header = vec![
            "Written by \"stasadm migrate\" from the nvme-stas 2.x configuration:".to_owned(),
            format!("  {sources}"),
            "Format: nvme-fabrics.conf(5); comments only on lines of their own.".to_owned(),
            "This file's existence switches stafd and stacd to the 3.x configuration layout."
                .to_owned(),
        ];
        header.append(&mut self.main.header);
        self.main.header = header;
        if let Some((key, comment)) = &input.identity.key {
            let s = Setting::secret(comment.clone(), "kxchap-secret", key.expose());
            self.main.section(IOC_DEFAULTS).settings.push(s);
        }

        // Persona files, and who carries the host ID: the 3.x format rejects one host ID
        // under two host NQNs.
        let identity = &input.identity;
        let mut id_taken = identity.hostid.is_some();
        let mut personas = Vec::new();
        for (i, (hnqn, first)) in self.personas.iter().enumerate() {
            let path = out.dropin_dir.join(format!("migrated-{}.conf", i + 1));
            let mut doc = Doc::new(" = ");
            doc.header = vec![
                format!("Written by \"stasadm migrate\": the controllers of the 2.x files with host-nqn={hnqn}."),
                format!(
                    "Connection parameters and the host key come from the *Controller Defaults of {}.",
                    out.main.display()
                ),
            ];
            let host = doc.section(INI_HOST);
            host.settings.push(Setting::new(
                format!("from {first} (host-nqn of the controllers below)"),
                "hostnqn",
                hnqn.clone(),
            ));
            match &identity.system_id {
                Some(id) if !id_taken => {
                    id_taken = true;
                    host.settings.push(Setting::new(
                        format!("{}; 2.x paired the host ID with every host NQN", id.comment),
                        "hostid",
                        id.value.clone(),
                    ));
                }
                Some(id) => self.notes.push(format!(
                    "{}: no hostid written for host NQN {hnqn}: the 3.x format rejects one host \
                     ID ({}) under two host NQNs, although 2.x sent it with both",
                    path.display(),
                    id.value
                )),
                None => self.notes.push(format!(
                    "{}: no hostid written for host NQN {hnqn}: the 2.x host ID could not be \
                     resolved",
                    path.display()
                )),
            }
            if let Some(s) = &identity.symname {
                host.settings.push(Setting::new(
                    format!(
                        "{}; 2.x used one symbolic name for every host NQN",
                        s.comment
                    ),
                    "hostsymname",
                    s.value.clone(),
                ));
            }
            for e in self
                .endpoints
                .iter()
                .filter(|e| e.host_nqn.as_deref() == Some(hnqn))
            {
                doc.sections.push(e.section());
            }
            personas.push((path, doc));
        }
        for e in self.endpoints.iter().filter(|e| e.host_nqn.is_none()) {
            self.main.sections.push(e.section());
        }

        let stafd_src = self.input.stafd.0.path.display().to_string();
        let stacd_src = self.input.stacd.0.path.display().to_string();
        let moved = |d: &str| {
            let mut v = vec![
                format!("Written by \"stasadm migrate\" from {d} (nvme-stas 2.x): daemon behaviour only."),
                format!("Connection parameters and controllers are in {}.", out.main.display()),
            ];
            if !self.exclusions.is_empty() {
                v.push(format!("Exclusions are in {}.", out.exclusions.display()));
            }
            v
        };
        let mut stafd_header = moved(&stafd_src);
        stafd_header.append(&mut self.stafd.header);
        self.stafd.header = stafd_header;
        self.stacd.header = moved(&stacd_src);

        let mut files = vec![(out.main.clone(), self.main)];
        files.extend(personas);
        files.push((out.stafd.clone(), self.stafd));
        files.push((out.stacd.clone(), self.stacd));
        if !self.exclusions.is_empty() {
            let mut doc = Doc::new(" = ");
            doc.header = vec![
                "Exclusion list \"stas\", written by \"stasadm migrate\" from the exclude= entries of"
                    .to_owned(),
                format!("  {stafd_src} and {stacd_src} (nvme-stas 2.x)."),
                "In the 3.x layout every entry applies to every controller: discovery and I/O"
                    .to_owned(),
                "controllers alike, and nvme-cli's connect-all too. In 2.x the entries of stafd.conf"
                    .to_owned(),
                "applied to discovery controllers only, and those of stacd.conf to I/O controllers only."
                    .to_owned(),
                "Keys: transport, traddr, trsvcid, nqn, host-traddr, host-iface, hostnqn, hostid".to_owned(),
            ];
            doc.sections.push(Section {
                name: "exclusions".to_owned(),
                settings: self.exclusions,
            });
            files.push((out.exclusions.clone(), doc));
        }
        Built {
            files,
            not_carried: self.items,
            notes: self.notes,
        }
    }
}
