//! The two configuration layouts (DECISIONS.md item 16) and the 3.x one's files.
//!
//! - **2.x** (`/etc/stas`): `stafd.conf`, `stacd.conf` and `sys.conf` in nvme-stas's own
//!   INI dialect ([`super::service`], [`super::sysconf`]).
//! - **3.x** (`/etc/nvme`): `nvme-stas.conf` + `nvme-stas.conf.d/*.conf` in libnvme's strict
//!   INI dialect ([`super::nvmeconf`]) for the controllers, their parameters and the host
//!   identity; `stafd.conf` / `stacd.conf` for daemon behaviour only.
//!
//! A host is on the 3.x layout when `/etc/nvme/nvme-stas.conf` exists (or the daemon is
//! given `--conn-conf-file`). This module decides which layout applies, loads a daemon's
//! configuration from either into one [`ServiceConfig`], and turns the 3.x cascade's
//! connections into configured controllers.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::controller::CtrlDict;
use super::ini::Diagnostic;
use super::nvmeconf::{self, Connection, Kind, NvmeConf, Params, Value};
use super::service::{
    ConfiguredController, ConnectParams, Daemon, OriginScope, Persistent, ServiceConfig,
};
use super::{Loaded, ReadError};
use crate::kernel::fabrics::parse_key_serial;

/// Which configuration layout a host uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// nvme-stas 2.x: `/etc/stas/{stafd,stacd,sys}.conf`.
    #[default]
    Stas2,
    /// nvme-stas 3.x: `/etc/nvme/nvme-stas.conf` (+ `.d`), `/etc/nvme/{stafd,stacd}.conf`.
    Stas3,
}

impl Layout {
    /// `2.x` or `3.x`: what `process_info` and the CLIs show.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stas2 => "2.x",
            Self::Stas3 => "3.x",
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where each layout's files are (the real host's by default; tests move them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutPaths {
    /// The 2.x directory, `/etc/stas`.
    pub etc_stas: PathBuf,
    /// The 3.x directory, `/etc/nvme`.
    pub etc_nvme: PathBuf,
}

impl Default for LayoutPaths {
    fn default() -> Self {
        Self {
            etc_stas: PathBuf::from("/etc/stas"),
            etc_nvme: PathBuf::from(super::exclusions::NVME_DIR),
        }
    }
}

/// The files a daemon reads, once the layout is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonFiles {
    /// The layout.
    pub layout: Layout,
    /// `stafd.conf` / `stacd.conf` of the layout (or `--conf-file`).
    pub service: PathBuf,
    /// 2.x: `sys.conf`.
    pub sys_conf: PathBuf,
    /// 3.x: `nvme-stas.conf` (its drop-ins are `<it>.d/*.conf`).
    pub conn_conf: PathBuf,
}

impl DaemonFiles {
    /// Chooses the layout and the files of `daemon`: the 3.x layout when `conn_conf` is
    /// given or `nvme-stas.conf` exists, the 2.x layout otherwise. `service` (`--conf-file`)
    /// replaces the layout's `stafd.conf`/`stacd.conf`.
    #[must_use]
    pub fn choose(
        daemon: Daemon,
        paths: &LayoutPaths,
        service: Option<&Path>,
        conn_conf: Option<&Path>,
    ) -> Self {
        let default_conn = paths.etc_nvme.join("nvme-stas.conf");
        let layout = if conn_conf.is_some() || default_conn.exists() {
            Layout::Stas3
        } else {
            Layout::Stas2
        };
        let dir = match layout {
            Layout::Stas2 => &paths.etc_stas,
            Layout::Stas3 => &paths.etc_nvme,
        };
        Self {
            layout,
            service: service.map_or_else(
                || dir.join(format!("{}.conf", daemon.name())),
                Path::to_owned,
            ),
            sys_conf: paths.etc_stas.join("sys.conf"),
            conn_conf: conn_conf.map_or(default_conn, Path::to_owned),
        }
    }

    /// The 2.x layout with `service` as the daemon's file (tests and tools naming one file).
    #[must_use]
    pub fn stas2(daemon: Daemon, service: &Path) -> Self {
        let mut files = Self::choose(daemon, &LayoutPaths::default(), Some(service), None);
        files.layout = Layout::Stas2;
        files
    }

    /// What the daemon logs at start and shows in `process_info`: the layout and its files.
    #[must_use]
    pub fn describe(&self) -> String {
        match self.layout {
            Layout::Stas2 => format!(
                "configuration layout 2.x: {} and {}",
                self.service.display(),
                self.sys_conf.display()
            ),
            Layout::Stas3 => format!(
                "configuration layout 3.x: {} (+ {}.d/*.conf) and {}",
                self.conn_conf.display(),
                self.conn_conf.display(),
                self.service.display()
            ),
        }
    }
}

/// A daemon's configuration from either layout.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// The service file's result (its diagnostics and those of nvme-stas.conf, 3.x).
    pub loaded: Loaded<ServiceConfig>,
    /// 3.x: the resolved nvme-stas.conf (its main scope gives the host identity).
    pub conn: Option<NvmeConf>,
    /// 3.x: nvme-stas.conf has an error, so the whole file is rejected: a daemon keeps its
    /// last good configuration (at start there is none: it runs without configured
    /// controllers).
    pub conn_rejected: bool,
}

/// Loads `daemon`'s configuration from `files`.
///
/// # Errors
/// The service file exists but cannot be read (nvme-stas.conf problems are diagnostics).
pub fn load(daemon: Daemon, files: &DaemonFiles) -> Result<DaemonConfig, ReadError> {
    let Loaded {
        mut config,
        mut diagnostics,
        found,
    } = super::load_service_in(daemon, files.layout, &files.service)?;
    if files.layout == Layout::Stas2 {
        return Ok(DaemonConfig {
            loaded: Loaded {
                config,
                diagnostics,
                found,
            },
            conn: None,
            conn_rejected: false,
        });
    }
    let parsed = nvmeconf::load(&files.conn_conf);
    let rejected = parsed.has_errors();
    diagnostics.extend(parsed.diagnostics);
    if rejected {
        diagnostics.push(Diagnostic {
            severity: super::Severity::Error,
            file: files.conn_conf.clone(),
            line: None,
            message: "the configuration is rejected as a whole (libnvme's rule): \
                      no controller of it is used"
                .to_owned(),
        });
    } else {
        apply(daemon, &parsed.conf, &mut config);
        diagnostics.extend(key_serial_warnings(&parsed.conf));
    }
    Ok(DaemonConfig {
        loaded: Loaded {
            config,
            diagnostics,
            found: found || parsed.found,
        },
        conn_rejected: rejected,
        conn: (!rejected).then_some(parsed.conf),
    })
}

/// Puts nvme-stas.conf into `cfg`: `daemon`'s connections as configured controllers (stafd
/// the `[Discovery Controller]` ones, stacd the `[Subsystem]` ones), the main file's scope
/// as the parameters of controllers without an entry, and `persistent`'s default.
pub fn apply(daemon: Daemon, conf: &NvmeConf, cfg: &mut ServiceConfig) {
    let kind = match daemon {
        Daemon::Stafd => Kind::Discovery,
        Daemon::Stacd => Kind::Io,
    };
    let main = conf.main_scope();
    let scope = main.base(kind);
    cfg.global.params = params(kind, scope);
    cfg.scope = extra_keys(scope);
    if let Some(p) = main.dc.persistent() {
        cfg.stafd.persistent = p;
    }
    cfg.controllers = conf
        .connections
        .iter()
        .filter(|c| c.kind == kind)
        .map(|c| controller(c, cfg.stafd.persistent))
        .collect();
    cfg.origin_scopes = conf
        .connections
        .iter()
        .filter(|c| c.kind == Kind::Discovery && c.scope != 0)
        .filter_map(|c| {
            let file = conf.scopes.get(c.scope)?;
            let base = file.base(kind);
            let mut extra = extra_keys(base);
            if let Some(id) = &file.identity.hostid {
                extra.insert("host-id".to_owned(), id.clone());
            }
            Some(OriginScope {
                dc: controller(c, cfg.stafd.persistent).dict,
                params: params(kind, base),
                extra,
            })
        })
        .collect();
}

/// One connection as a configured controller: its address and NQN (and its persona's host
/// NQN) as the `controller=` keys of 2.x, its sealed parameters, and its secrets, TLS key
/// names and persona host ID as extra keys.
fn controller(c: &Connection, default_persistent: Persistent) -> ConfiguredController {
    let mut dict = BTreeMap::new();
    let a = &c.address;
    dict.insert("transport".to_owned(), a.transport.clone());
    dict.insert("traddr".to_owned(), a.traddr.clone());
    let optional = [
        ("trsvcid", &a.trsvcid),
        ("host-traddr", &a.host_traddr),
        ("host-iface", &a.host_iface),
        ("host-nqn", &c.identity.hostnqn),
        ("host-id", &c.identity.hostid),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            dict.insert(k.to_owned(), v.clone());
        }
    }
    dict.insert("subsysnqn".to_owned(), c.nqn.clone());
    dict.extend(extra_keys(&c.params));
    let mut overrides = params(c.kind, &c.params);
    if c.kind == Kind::Discovery {
        let persistent = c.params.persistent().unwrap_or(default_persistent);
        dict.insert("persistent".to_owned(), persistent.as_str().to_owned());
        if persistent == Persistent::No && c.params.get("keep-alive-tmo").is_none() {
            overrides.kato = None;
        }
    }
    ConfiguredController {
        line: c.line,
        dict: CtrlDict(dict),
        overrides,
    }
}

/// A warning for each `keyring` / `tls-key` that is not a key serial: stas passes serials
/// to the kernel and does not import keys; without the serial the kernel chooses the PSK by
/// its identity in the `.nvme` keyring.
fn key_serial_warnings(conf: &NvmeConf) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for c in &conf.connections {
        for key in ["keyring", "tls-key"] {
            if c.params
                .str(key)
                .is_some_and(|v| parse_key_serial(v).is_none())
            {
                out.push(Diagnostic {
                    severity: super::Severity::Warning,
                    file: c.file.clone(),
                    line: Some(c.line),
                    message: format!(
                        "{key}: stas takes a key serial number (see `keyctl show`), not a key \
                         name or an interchange-format key; it is not passed on, and the kernel \
                         looks the key up by its identity"
                    ),
                });
            }
        }
    }
    out
}

/// The keys of the cascade that are not connection parameters of [`ConnectParams`]: the
/// DH-HMAC-CHAP secrets, under their 2.x names, which the daemons read. A reset (empty
/// value) is kept as an empty value: it stops the main scope's.
fn extra_keys(p: &Params) -> BTreeMap<String, String> {
    const KEYS: [(&str, &str); 2] = [
        ("kxchap-secret", "dhchap-secret"),
        ("kxchap-ctrl-secret", "dhchap-ctrl-secret"),
    ];
    KEYS.iter()
        .filter_map(|(ini_key, key)| {
            let v = p.get(ini_key)?;
            let text = match v {
                Some(Value::Str(s)) => s.clone(),
                _ => String::new(),
            };
            Some(((*key).to_owned(), text))
        })
        .collect()
}

/// The connection parameters of a resolved cascade, sealed (nothing is inherited any
/// more). A DC without `keep-alive-tmo` gets nvme-stas 3.x's 30 s (the kernel applies its
/// own default to the well-known NQN only); a reset leaves it to the kernel.
fn params(kind: Kind, p: &Params) -> ConnectParams {
    let int = |k: &str| p.int(k);
    let uint = |k: &str| p.int(k).and_then(|v| u32::try_from(v).ok());
    let kato = match (kind, p.get("keep-alive-tmo")) {
        (Kind::Discovery, None) => Some(30),
        _ => uint("keep-alive-tmo"),
    };
    ConnectParams {
        hdr_digest: p.bool("hdr-digest"),
        data_digest: p.bool("data-digest"),
        kato,
        queue_size: uint("queue-size"),
        nr_io_queues: uint("nr-io-queues"),
        nr_write_queues: uint("nr-write-queues"),
        nr_poll_queues: uint("nr-poll-queues"),
        reconnect_delay: uint("reconnect-delay"),
        ctrl_loss_tmo: int("ctrl-loss-tmo"),
        disable_sqflow: p.bool("disable-sqflow"),
        fast_io_fail_tmo: int("fast-io-fail-tmo"),
        tos: int("tos"),
        duplicate_connect: p.bool("duplicate-connect"),
        tls: p.bool("tls"),
        concat: p.bool("concat"),
        keyring: p.str("keyring").and_then(parse_key_serial),
        tls_key: p.str("tls-key").and_then(parse_key_serial),
        sealed: true,
    }
}

/// `--check-config` of the 3.x layout: nvme-stas.conf with its drop-ins (strict: any error
/// rejects it) and the daemon's `/etc/nvme/stafd.conf` or `stacd.conf` (which may be
/// absent: its defaults apply). The first line says which layout and files were checked.
#[must_use]
pub fn check_stas3(daemon: Daemon, files: &DaemonFiles) -> super::CheckReport {
    let loaded = match load(daemon, files) {
        Ok(l) => l,
        Err(e) => return super::CheckReport::unreadable(&e),
    };
    let label = format!(
        "{} and {}",
        files.conn_conf.display(),
        files.service.display()
    );
    let missing = (!files.conn_conf.exists()).then_some(files.conn_conf.as_path());
    let mut report = super::CheckReport::summarize(&label, &loaded.loaded.diagnostics, missing);
    report.lines.insert(0, files.describe());
    report
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::config::service::DisconnectScope;

    const HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:5d3e1c2a-0000-4000-8000-000000000001";

    struct Host {
        _dir: tempfile::TempDir,
        paths: LayoutPaths,
    }

    fn host(files: &[(&str, &str)]) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let paths = LayoutPaths {
            etc_stas: dir.path().join("stas"),
            etc_nvme: dir.path().join("nvme"),
        };
        for (name, text) in files {
            let p = dir.path().join(name);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        Host { _dir: dir, paths }
    }

    fn load_for(daemon: Daemon, h: &Host) -> DaemonConfig {
        load(daemon, &DaemonFiles::choose(daemon, &h.paths, None, None)).unwrap()
    }

    /// Example A of ecosystem-2026.md §3.9, plus a secret in the I/O controller defaults
    /// (a repeated Defaults section merges, with a warning) and a subsystem resetting it.
    fn example_a() -> String {
        format!(
            "{}\n[I/O Controller Defaults]\n\
             kxchap-secret = DHHC-1:00:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2Vj=:\n\
             [Subsystem]\nnqn = nqn.2024-01.com.example:vol2\nkxchap-secret =\n\
             controller = transport=tcp;traddr=192.168.1.22\n",
            nvmeconf::tests::EXAMPLE_A
        )
    }

    #[test]
    fn the_files_present_choose_the_layout() {
        let h = host(&[("stas/stafd.conf", "[Global]\n")]);
        let f = DaemonFiles::choose(Daemon::Stafd, &h.paths, None, None);
        assert_eq!(f.layout, Layout::Stas2);
        assert_eq!(f.service, h.paths.etc_stas.join("stafd.conf"));
        assert_eq!(f.sys_conf, h.paths.etc_stas.join("sys.conf"));

        let h = host(&[("stas/stafd.conf", ""), ("nvme/nvme-stas.conf", "")]);
        let f = DaemonFiles::choose(Daemon::Stacd, &h.paths, None, None);
        assert_eq!(f.layout, Layout::Stas3);
        assert_eq!(f.service, h.paths.etc_nvme.join("stacd.conf"));
        assert_eq!(f.conn_conf, h.paths.etc_nvme.join("nvme-stas.conf"));
        assert!(f.describe().starts_with("configuration layout 3.x"));

        // Naming a connection file selects the 3.x layout even without the default one.
        let h = host(&[]);
        let named = h.paths.etc_stas.join("lab.conf");
        let f = DaemonFiles::choose(Daemon::Stafd, &h.paths, None, Some(&named));
        assert_eq!((f.layout, f.conn_conf), (Layout::Stas3, named));
    }

    #[test]
    fn stafd_takes_the_discovery_controllers_with_3x_defaults() {
        let h = host(&[("nvme/nvme-stas.conf", &example_a())]);
        let l = load_for(Daemon::Stafd, &h);
        assert!(!l.conn_rejected, "{:?}", l.loaded.diagnostics);
        let cfg = &l.loaded.config;
        assert_eq!(cfg.layout, Layout::Stas3);
        assert_eq!(cfg.stafd.persistent, Persistent::Auto, "3.x default");
        assert_eq!(cfg.controllers.len(), 1);
        let dc = &cfg.controllers[0];
        assert_eq!(dc.dict.0["traddr"], "192.168.1.10");
        assert_eq!(
            dc.dict.0["subsysnqn"],
            "nqn.2014-08.org.nvmexpress.discovery"
        );
        assert_eq!(dc.dict.0["persistent"], "auto");
        assert!(
            !dc.dict.0.contains_key("dhchap-secret"),
            "IOC defaults only"
        );
        let p = dc.overrides.or(&cfg.global.params);
        assert_eq!(
            (p.kato, p.ctrl_loss_tmo, p.nr_io_queues),
            (Some(30), Some(600), None)
        );
        assert!(p.sealed);
    }

    #[test]
    fn stacd_takes_the_subsystems_and_a_reset_beats_the_defaults() {
        let h = host(&[("nvme/nvme-stas.conf", &example_a())]);
        let cfg = load_for(Daemon::Stacd, &h).loaded.config;
        assert_eq!(cfg.controllers.len(), 3);
        let (p1, p2) = (&cfg.controllers[0], &cfg.controllers[1]);
        assert_eq!(p1.dict.0["host-iface"], "eth0");
        assert_eq!(p1.dict.0["subsysnqn"], "nqn.2024-01.com.example:vol1");
        assert!(!p1.dict.0.contains_key("persistent"));
        let r1 = p1.overrides.or(&cfg.global.params);
        assert_eq!(r1.nr_io_queues, Some(4));
        assert_eq!(
            r1.ctrl_loss_tmo, None,
            "reset: the kernel default, not the scope's 600"
        );
        assert_eq!(r1.kato, None, "no DC keep-alive default for an IOC");
        let r2 = p2.overrides.or(&cfg.global.params);
        assert_eq!((r2.reconnect_delay, r2.ctrl_loss_tmo), (Some(5), None));
        // The IOC defaults' secret reaches the sections that do not reset it.
        assert!(p1.dict.0["dhchap-secret"].starts_with("DHHC-1:00:"));
        assert_eq!(cfg.controllers[2].dict.0["dhchap-secret"], "", "reset");
        assert!(
            !format!("{:?}", cfg.controllers).contains("c2VjcmV0"),
            "redacted"
        );
        // Controllers without an entry (from log pages) get the main scope.
        assert_eq!(cfg.global.params.ctrl_loss_tmo, Some(600));
        assert!(cfg.scope["dhchap-secret"].starts_with("DHHC-1:00:"));
    }

    #[test]
    fn a_persona_gives_its_controllers_its_host_nqn_and_id() {
        let prod = format!(
            "[Host]\nhostnqn = {HOSTNQN}\nhostid = 5d3e1c2a-0000-4000-8000-000000000001\n\
             [Subsystem]\nnqn = nqn.2024-01.com.example:prod\n\
             controller = transport=tcp;traddr=10.0.0.9;trsvcid=4420\n"
        );
        let h = host(&[
            (
                "nvme/nvme-stas.conf",
                "[I/O Controller Defaults]\nnr-io-queues = 2\n",
            ),
            ("nvme/nvme-stas.conf.d/prod.conf", &prod),
        ]);
        let cfg = load_for(Daemon::Stacd, &h).loaded.config;
        let c = &cfg.controllers[0];
        assert_eq!(c.dict.0["host-nqn"], HOSTNQN);
        assert_eq!(c.dict.0["host-id"], "5d3e1c2a-0000-4000-8000-000000000001");
        assert_eq!(
            c.overrides.nr_io_queues,
            Some(2),
            "main file's IOC defaults"
        );
    }

    #[test]
    fn a_broken_connection_file_is_rejected_as_a_whole() {
        let h = host(&[(
            "nvme/nvme-stas.conf",
            "[Subsystem]\nnqn = nqn.2024-01.com.example:a\ncontroller = transport=tcp;traddr=10.0.0.1\n\
             [I/O Controller Defaults]\nkeep-alive-tmo = 30  # inline\n",
        )]);
        let l = load_for(Daemon::Stacd, &h);
        assert!(l.conn_rejected);
        assert!(l.conn.is_none());
        assert!(l.loaded.config.controllers.is_empty());
        let conn = h.paths.etc_nvme.join("nvme-stas.conf");
        let d = l
            .loaded
            .diagnostics
            .iter()
            .find(|d| d.is_error() && d.line == Some(5))
            .expect("the inline comment's line");
        assert_eq!(d.file, conn);
        let report = check_stas3(
            Daemon::Stacd,
            &DaemonFiles::choose(Daemon::Stacd, &h.paths, None, None),
        );
        assert!(!report.ok);
        assert!(
            report
                .lines
                .iter()
                .any(|l| l.starts_with(&format!("{}:5: error", conn.display()))),
            "{:?}",
            report.lines
        );
    }

    #[test]
    fn the_3x_service_files_keep_daemon_behaviour_only() {
        let h = host(&[
            ("nvme/nvme-stas.conf", ""),
            (
                "nvme/stafd.conf",
                "[Global]\ntron=true\nkato=10\n\
                 [Discovery controller connection management]\ndc-giveup-timeout=1d 12h\n\
                 persistent-connections=false\n[Controllers]\ncontroller=transport=tcp;traddr=1.1.1.1\n",
            ),
            (
                "nvme/stacd.conf",
                "[I/O controller connection management]\nhonor-fabric-zoning=no\n\
                 disconnect-scope=no-disconnect\nconnect-attempts-on-ncc=3\n",
            ),
        ]);
        let staf = load_for(Daemon::Stafd, &h).loaded;
        assert!(staf.config.global.tron);
        assert_eq!(
            staf.config.stafd.zeroconf_persistence,
            crate::config::service::Persistence::For(std::time::Duration::from_secs(129_600))
        );
        assert!(
            staf.config.controllers.is_empty(),
            "[Controllers] is not read"
        );
        assert_eq!(
            staf.config.global.params.kato,
            Some(30),
            "kato is not read from stafd.conf"
        );
        let msgs: Vec<_> = staf
            .diagnostics
            .iter()
            .map(|d| (d.line, d.message.clone()))
            .collect();
        for (line, want) in [
            (
                3,
                "connection parameters belong in /etc/nvme/nvme-stas.conf",
            ),
            (6, "the connections still open at exit are kept"),
            (7, "controllers belong in /etc/nvme/nvme-stas.conf"),
        ] {
            assert!(
                msgs.iter()
                    .any(|(l, m)| *l == Some(line) && m.contains(want)),
                "{want} at {line}: {msgs:?}"
            );
        }
        let stac = load_for(Daemon::Stacd, &h).loaded;
        assert_eq!(
            stac.config.stacd.disconnect_scope,
            DisconnectScope::NoDisconnect
        );
        assert_eq!(stac.config.stacd.connect_attempts_on_ncc, 3);
        assert!(stac
            .diagnostics
            .iter()
            .any(|d| d.line == Some(3) && d.message.contains("honor-fabric-zoning")));
    }

    #[test]
    fn persistent_no_drops_the_dc_keep_alive_default() {
        let h = host(&[(
            "nvme/nvme-stas.conf",
            "[Discovery Controller Defaults]\npersistent = no\n\
             [Discovery Controller]\ncontroller = transport=tcp;traddr=10.0.0.1\n\
             controller = transport=tcp;traddr=10.0.0.2;persistent=FORCE\n",
        )]);
        let cfg = load_for(Daemon::Stafd, &h).loaded.config;
        assert_eq!(cfg.stafd.persistent, Persistent::No);
        let (a, b) = (&cfg.controllers[0], &cfg.controllers[1]);
        assert_eq!(
            (a.dict.0["persistent"].as_str(), a.overrides.kato),
            ("no", None)
        );
        assert_eq!(
            (b.dict.0["persistent"].as_str(), b.overrides.kato),
            ("force", Some(30))
        );
    }
}
