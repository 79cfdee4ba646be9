//! `/dev/nvme-fabrics`: which options the kernel accepts, the connect-string builder, and the
//! real write/read of one connect.
//!
//! The builder is pure: [`build_connect_string`] turns [`ConnectParams`] and the
//! [`SupportedOptions`] into a [`ConnectString`] in libnvme's order (kernel-interface.md
//! §1.4), emitting only options the kernel advertised and refusing, before anything is
//! written, any value that could break the option string (DECISIONS.md item 14).
//!
//! A connect blocks in the kernel (seconds to minutes, under a global mutex): the API is
//! synchronous; async callers run it in `spawn_blocking` or a dedicated thread.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::IpAddr;
use std::path::Path;

use nix::errno::Errno;

use super::error::{BuildError, ConnectError, KernelError};
use crate::model::trid::{TransportId, WELL_KNOWN_DISC_NQN};
use crate::proto::fabrics::{parse_connect_reply, parse_options_reply, ConnectReply};
use crate::proto::validate::{
    check_hostid, check_nqn, check_port, check_secret, check_value, ValueError, MAX_IFACE_LEN,
    MAX_TRADDR_LEN,
};

/// Where the option set came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionsSource {
    /// Read from `/dev/nvme-fabrics` (kernel 5.17+).
    Kernel,
    /// Assumed from the kernel release (the query failed or is not available).
    VersionTable {
        /// The release string used (`uname -r`).
        release: String,
        /// Why the query was not used.
        reason: String,
    },
}

/// The set of `/dev/nvme-fabrics` option names the running kernel accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportedOptions {
    names: BTreeSet<String>,
    source: OptionsSource,
}

/// Options and the first mainline release that accepted them (kernel-interface.md §1.3,
/// nvme-stas `NvmeOptions` gates).
///
/// The table is only the fallback for a kernel whose options query cannot be read (before
/// 5.17, or a failed read): the read-back decides whenever there is one. The TLS tokens
/// (`tls`, `keyring`, `tls_key`, `concat`) appear in the read-back only when the kernel is
/// built with `CONFIG_NVME_TCP_TLS` (ecosystem-2026.md §7.1); the table cannot know that,
/// and a TLS connect on a kernel without it fails with EINVAL, reported like any other
/// refusal.
const VERSION_TABLE: &[(&str, (u32, u32))] = &[
    ("transport", (4, 8)),
    ("nqn", (4, 8)),
    ("traddr", (4, 8)),
    ("trsvcid", (4, 8)),
    ("queue_size", (4, 8)),
    ("nr_io_queues", (4, 8)),
    ("reconnect_delay", (4, 8)),
    ("keep_alive_tmo", (4, 8)),
    ("hostnqn", (4, 8)),
    ("host_traddr", (4, 10)),
    ("ctrl_loss_tmo", (4, 11)),
    ("hostid", (4, 13)),
    ("duplicate_connect", (4, 15)),
    ("disable_sqflow", (5, 0)),
    ("hdr_digest", (5, 0)),
    ("data_digest", (5, 0)),
    ("nr_write_queues", (5, 0)),
    ("nr_poll_queues", (5, 1)),
    ("tos", (5, 8)),
    ("fast_io_fail_tmo", (5, 10)),
    ("host_iface", (5, 14)),
    ("discovery", (5, 16)),
    ("dhchap_secret", (6, 0)),
    ("dhchap_ctrl_secret", (6, 0)),
    ("tls", (6, 7)),
    ("keyring", (6, 7)),
    ("tls_key", (6, 7)),
    ("concat", (6, 15)),
];

/// `(major, minor)` of a release string such as `6.1.0-56-amd64`.
#[must_use]
pub fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut it = release
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(str::parse::<u32>);
    let major = it.next()?.ok()?;
    let minor = it.next().and_then(Result::ok).unwrap_or(0);
    Some((major, minor))
}

impl SupportedOptions {
    /// From the reply of the options query; `None` if it holds no option name.
    #[must_use]
    pub fn from_reply(reply: &str) -> Option<Self> {
        parse_options_reply(reply).map(|names| Self {
            names,
            source: OptionsSource::Kernel,
        })
    }

    /// The options assumed for a kernel release (fallback when the query fails).
    #[must_use]
    pub fn from_release(release: &str, reason: impl Into<String>) -> Self {
        let version = parse_release(release).unwrap_or((0, 0));
        let names = VERSION_TABLE
            .iter()
            .filter(|(_, since)| version >= *since)
            .map(|(n, _)| (*n).to_owned())
            .collect();
        Self {
            names,
            source: OptionsSource::VersionTable {
                release: release.to_owned(),
                reason: reason.into(),
            },
        }
    }

    /// An explicit set (tests, the fake kernel).
    #[must_use]
    pub fn from_names<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> Self {
        Self {
            names: names.into_iter().map(Into::into).collect(),
            source: OptionsSource::Kernel,
        }
    }

    /// Whether the kernel accepts option `name`.
    #[must_use]
    pub fn supports(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    /// All names.
    #[must_use]
    pub fn names(&self) -> &BTreeSet<String> {
        &self.names
    }

    /// Where the set came from.
    #[must_use]
    pub fn source(&self) -> &OptionsSource {
        &self.source
    }

    /// `host_iface` (5.14+).
    #[must_use]
    pub fn host_iface(&self) -> bool {
        self.supports("host_iface")
    }

    /// `discovery` (TP8013, 5.16+).
    #[must_use]
    pub fn discovery(&self) -> bool {
        self.supports("discovery")
    }

    /// `dhchap_secret` (6.0+, `CONFIG_NVME_HOST_AUTH`).
    #[must_use]
    pub fn dhchap_secret(&self) -> bool {
        self.supports("dhchap_secret")
    }

    /// `dhchap_ctrl_secret`.
    #[must_use]
    pub fn dhchap_ctrl_secret(&self) -> bool {
        self.supports("dhchap_ctrl_secret")
    }

    /// `tls` (6.7+, `CONFIG_NVME_TCP_TLS`): TLS on an NVMe/TCP connection.
    #[must_use]
    pub fn tls(&self) -> bool {
        self.supports("tls")
    }
}

impl fmt::Display for SupportedOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<&str> = self.names.iter().map(String::as_str).collect();
        write!(f, "supported options: {}", list.join(","))?;
        if let OptionsSource::VersionTable { release, reason } = &self.source {
            write!(f, " (assumed from kernel {release}: {reason})")?;
        }
        Ok(())
    }
}

/// Reads the options on a fresh open of `dev` (`/dev/nvme-fabrics`). Falls back to the
/// version table of `release` when the read fails (EINVAL before 5.17, missing module…) or
/// the reply holds nothing usable.
///
/// # Errors
/// Only a permission error is returned (the caller is not root): the table would hide it.
pub fn query_supported_options(dev: &Path, release: &str) -> Result<SupportedOptions, KernelError> {
    let fallback = |reason: String| Ok(SupportedOptions::from_release(release, reason));
    let mut f = match OpenOptions::new().read(true).open(dev) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(KernelError::new("open", dev, e));
        }
        Err(e) => return fallback(format!("cannot open {}: {e}", dev.display())),
    };
    let mut buf = vec![0u8; 4096];
    match f.read(&mut buf) {
        Ok(n) => {
            let text = String::from_utf8_lossy(&buf[..n]);
            match SupportedOptions::from_reply(&text) {
                Some(o) => Ok(o),
                None => fallback(format!("{} answered no option names", dev.display())),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            Err(KernelError::new("read", dev, e))
        }
        Err(e) => fallback(format!("reading {} failed: {e}", dev.display())),
    }
}

/// Whether a connection is to a discovery or an I/O controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CtrlKind {
    /// Discovery controller.
    Discovery,
    /// I/O controller.
    Io,
}

/// Everything a connect can carry. Strings that are empty (or `none`) are "not set".
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ConnectParams {
    /// Discovery or I/O controller (drives `discovery` and the IOC-only options).
    pub kind: Option<CtrlKind>,
    /// `tcp`, `rdma`, `fc` or `loop`.
    pub transport: String,
    /// Target address (a numeric IP for tcp/rdma; resolve names first).
    pub traddr: String,
    /// Target port; for tcp an empty value becomes 8009 (discovery) or 4420 (I/O).
    pub trsvcid: String,
    /// Subsystem NQN.
    pub subsysnqn: String,
    /// Host source address (tcp/rdma) or host WWNN/WWPN (fc, required).
    pub host_traddr: String,
    /// Host interface (tcp only).
    pub host_iface: String,
    /// Host NQN (always sent).
    pub host_nqn: String,
    /// Host ID (always sent).
    pub host_id: String,
    /// DH-HMAC-CHAP host secret.
    pub dhchap_secret: Option<String>,
    /// DH-HMAC-CHAP controller secret.
    pub dhchap_ctrl_secret: Option<String>,
    /// I/O queues (I/O controllers only, > 0).
    pub nr_io_queues: Option<u32>,
    /// Write queues (I/O controllers only, > 0).
    pub nr_write_queues: Option<u32>,
    /// Poll queues (I/O controllers only, > 0).
    pub nr_poll_queues: Option<u32>,
    /// Queue size (I/O controllers only, > 0).
    pub queue_size: Option<u32>,
    /// Keep-alive timeout in seconds (> 0; set it for persistent discovery controllers).
    pub keep_alive_tmo: Option<u32>,
    /// Reconnect delay in seconds (> 0; not for loop).
    pub reconnect_delay: Option<u32>,
    /// Controller loss timeout in seconds (-1 = forever; not for loop).
    pub ctrl_loss_tmo: Option<i32>,
    /// Fast I/O fail timeout in seconds (> 0; not for loop).
    pub fast_io_fail_tmo: Option<i32>,
    /// Type of service (≥ 0; not for loop).
    pub tos: Option<i32>,
    /// Allow a duplicate of an existing controller.
    pub duplicate_connect: bool,
    /// Disable SQ flow control.
    pub disable_sqflow: bool,
    /// Header digest (tcp).
    pub hdr_digest: bool,
    /// Data digest (tcp).
    pub data_digest: bool,
    /// TLS (tcp; 6.7+ built with `CONFIG_NVME_TCP_TLS`).
    pub tls: bool,
    /// Secure channel concatenation (tcp; 6.15+).
    pub concat: bool,
    /// Keyring to search for the TLS key: a key serial (tcp).
    pub keyring: Option<String>,
    /// The TLS key to use: a key serial (tcp).
    pub tls_key: Option<String>,
}

impl ConnectParams {
    /// Parameters for the controller identified by `tid`.
    #[must_use]
    pub fn new(tid: &TransportId, host_id: &str, kind: CtrlKind) -> Self {
        Self {
            kind: Some(kind),
            transport: tid.transport.clone(),
            traddr: tid.traddr.clone(),
            trsvcid: tid.trsvcid.clone(),
            subsysnqn: tid.subsysnqn.clone(),
            host_traddr: tid.host_traddr.clone(),
            host_iface: tid.host_iface.clone(),
            host_nqn: tid.host_nqn.clone(),
            host_id: host_id.to_owned(),
            ..Self::default()
        }
    }
}

impl fmt::Debug for ConnectParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &Option<String>| s.as_ref().map(|_| "<secret>");
        f.debug_struct("ConnectParams")
            .field("kind", &self.kind)
            .field("transport", &self.transport)
            .field("traddr", &self.traddr)
            .field("trsvcid", &self.trsvcid)
            .field("subsysnqn", &self.subsysnqn)
            .field("host_traddr", &self.host_traddr)
            .field("host_iface", &self.host_iface)
            .field("host_nqn", &self.host_nqn)
            .field("host_id", &self.host_id)
            .field("dhchap_secret", &redact(&self.dhchap_secret))
            .field("dhchap_ctrl_secret", &redact(&self.dhchap_ctrl_secret))
            .field("keep_alive_tmo", &self.keep_alive_tmo)
            .field("ctrl_loss_tmo", &self.ctrl_loss_tmo)
            .field("tls", &self.tls)
            .field("tls_key", &self.tls_key)
            .finish_non_exhaustive()
    }
}

/// A validated option string, ready to be written. `Display`/`Debug` show it with secrets
/// replaced by `<secret>` (DECISIONS.md item 6); [`ConnectString::as_str`] is the real text.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectString {
    text: String,
    redacted: String,
    dropped: Vec<&'static str>,
}

impl ConnectString {
    /// The exact text to write.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Options that were wanted but left out because the kernel does not support them
    /// (or they do not apply to the transport); worth a log line.
    #[must_use]
    pub fn dropped(&self) -> &[&'static str] {
        &self.dropped
    }
}

impl fmt::Display for ConnectString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for ConnectString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectString({:?})", self.redacted)
    }
}

struct Builder<'a> {
    opts: &'a SupportedOptions,
    text: String,
    redacted: String,
    dropped: Vec<&'static str>,
}

impl Builder<'_> {
    fn push(&mut self, name: &'static str, value: Option<&str>, secret: bool) {
        if !self.opts.supports(name) {
            self.dropped.push(name);
            return;
        }
        for (out, hide) in [(&mut self.text, false), (&mut self.redacted, secret)] {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(name);
            if let Some(v) = value {
                out.push('=');
                out.push_str(if hide { "<secret>" } else { v });
            }
        }
    }

    /// The TLS options (tcp only). Each is required: a kernel without one refuses the
    /// connection here rather than connecting in the clear.
    fn security(&mut self, p: &ConnectParams) -> Result<(), BuildError> {
        if p.tls && p.concat {
            return Err(BuildError::Conflict(
                "tls and concat exclude each other (concat derives its TLS key from DH-HMAC-CHAP)",
            ));
        }
        // A `tls_key` that is not a serial may be a key in interchange format: not shown.
        let serials = [
            ("keyring", &p.keyring, false),
            ("tls_key", &p.tls_key, true),
        ];
        for (name, v, secret) in serials {
            if let Some(v) = v.as_deref().and_then(set) {
                let serial = parse_key_serial(v).ok_or_else(|| BuildError::Invalid {
                    option: name,
                    value: if secret {
                        "<secret>".to_owned()
                    } else {
                        v.to_owned()
                    },
                    reason: ValueError::Malformed("expected a key serial number"),
                })?;
                self.required(name)?;
                self.string(name, &serial.to_string());
            }
        }
        for (name, on) in [("tls", p.tls), ("concat", p.concat)] {
            if on {
                self.required(name)?;
                self.flag(name, true);
            }
        }
        Ok(())
    }

    fn required(&self, name: &'static str) -> Result<(), BuildError> {
        if self.opts.supports(name) {
            Ok(())
        } else {
            Err(BuildError::Unsupported(name))
        }
    }

    fn string(&mut self, name: &'static str, v: &str) {
        self.push(name, Some(v), false);
    }

    fn flag(&mut self, name: &'static str, on: bool) {
        if on {
            self.push(name, None, false);
        }
    }

    fn number<T: fmt::Display>(
        &mut self,
        name: &'static str,
        v: Option<T>,
        keep: impl Fn(&T) -> bool,
    ) {
        if let Some(v) = v.filter(|v| keep(v)) {
            self.push(name, Some(&v.to_string()), false);
        }
    }
}

/// A kernel key serial: decimal or `0x` hexadecimal, positive and within `i32`.
#[must_use]
pub fn parse_key_serial(s: &str) -> Option<i32> {
    let n = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16).ok()?,
        None => s.parse::<i64>().ok()?,
    };
    i32::try_from(n).ok().filter(|n| *n > 0)
}

fn set(s: &str) -> Option<&str> {
    (!s.is_empty() && !s.eq_ignore_ascii_case("none")).then_some(s)
}

fn invalid(option: &'static str, value: &str, reason: ValueError) -> BuildError {
    BuildError::Invalid {
        option,
        value: value.to_owned(),
        reason,
    }
}

fn check_ip_value(option: &'static str, v: &str) -> Result<(), BuildError> {
    check_value(v, MAX_TRADDR_LEN).map_err(|e| invalid(option, v, e))?;
    let addr = v.split('%').next().unwrap_or(v);
    addr.parse::<IpAddr>()
        .map(|_| ())
        .map_err(|_| invalid(option, v, ValueError::Malformed("not a numeric IP address")))
}

/// Builds the option string for `p`, emitting only what `opts` supports, in libnvme's
/// order: nqn, transport, traddr, host_traddr, host_iface, trsvcid, hostnqn, hostid,
/// discovery, DH-CHAP secrets, queue options, keep_alive_tmo, reconnect_delay,
/// ctrl_loss_tmo, fast_io_fail_tmo, tos, duplicate_connect, disable_sqflow, digests.
///
/// Transport rules: tcp always gets its port (8009 for a discovery controller, 4420 for an
/// I/O controller when none is given); fc never gets one and needs `host_traddr`; loop gets
/// no timeouts; `host_iface` and the digests are tcp only. `discovery` is added for a
/// discovery controller whose NQN is not the well-known one.
///
/// # Errors
/// [`BuildError`] when a required value is missing or any value fails validation.
pub fn build_connect_string(
    p: &ConnectParams,
    opts: &SupportedOptions,
) -> Result<ConnectString, BuildError> {
    let transport = p.transport.as_str();
    if !matches!(transport, "tcp" | "rdma" | "fc" | "loop") {
        return Err(BuildError::UnknownTransport(p.transport.clone()));
    }
    let is_ip = matches!(transport, "tcp" | "rdma");
    let is_dc = p.kind == Some(CtrlKind::Discovery);
    let is_ioc = !is_dc;

    let nqn = set(&p.subsysnqn).ok_or(BuildError::Missing("subsystem NQN"))?;
    check_nqn(nqn).map_err(|e| invalid("nqn", nqn, e))?;
    let traddr = set(&p.traddr);
    match traddr {
        Some(a) if is_ip => check_ip_value("traddr", a)?,
        Some(a) => check_value(a, MAX_TRADDR_LEN).map_err(|e| invalid("traddr", a, e))?,
        None if transport == "loop" => {}
        None => return Err(BuildError::Missing("traddr")),
    }
    let host_traddr = set(&p.host_traddr);
    match host_traddr {
        Some(a) if is_ip => check_ip_value("host_traddr", a)?,
        Some(a) => check_value(a, MAX_TRADDR_LEN).map_err(|e| invalid("host_traddr", a, e))?,
        None if transport == "fc" => {
            return Err(BuildError::Missing("host_traddr (required for fc)"))
        }
        None => {}
    }
    let host_iface = set(&p.host_iface).filter(|_| transport == "tcp");
    if let Some(i) = host_iface {
        check_value(i, MAX_IFACE_LEN).map_err(|e| invalid("host_iface", i, e))?;
    }
    let trsvcid = match transport {
        "tcp" => Some(set(&p.trsvcid).unwrap_or(if is_dc { "8009" } else { "4420" })),
        "rdma" => set(&p.trsvcid),
        _ => None,
    };
    if let Some(s) = trsvcid {
        check_port(s).map_err(|e| invalid("trsvcid", s, e))?;
    }
    let host_nqn = set(&p.host_nqn).ok_or(BuildError::Missing("host NQN"))?;
    check_nqn(host_nqn).map_err(|e| invalid("hostnqn", host_nqn, e))?;
    let host_id = set(&p.host_id).ok_or(BuildError::Missing("host ID"))?;
    check_hostid(host_id).map_err(|e| invalid("hostid", host_id, e))?;
    // The controller secret (bidirectional authentication) only goes with a host secret,
    // as libnvme sends it.
    let host_secret = p.dhchap_secret.as_deref().and_then(set);
    let secrets = [
        ("dhchap_secret", host_secret),
        (
            "dhchap_ctrl_secret",
            p.dhchap_ctrl_secret
                .as_deref()
                .filter(|_| host_secret.is_some()),
        ),
    ];
    for (name, s) in secrets {
        if let Some(s) = s.and_then(set) {
            check_secret(s).map_err(|e| invalid(name, "<secret>", e))?;
        }
    }

    let mut b = Builder {
        opts,
        text: String::new(),
        redacted: String::new(),
        dropped: Vec::new(),
    };
    // nqn and transport are accepted by every kernel; never gate them.
    b.text = format!("nqn={nqn},transport={transport}");
    b.redacted = b.text.clone();
    if let Some(a) = traddr {
        b.string("traddr", a);
    }
    if let Some(a) = host_traddr {
        b.string("host_traddr", a);
    }
    if let Some(i) = host_iface {
        b.string("host_iface", i);
    }
    if let Some(s) = trsvcid {
        b.string("trsvcid", s);
    }
    b.string("hostnqn", host_nqn);
    b.string("hostid", host_id);
    b.flag("discovery", is_dc && nqn != WELL_KNOWN_DISC_NQN);
    // Secrets as given: stacd sets them for I/O controllers; stafd for discovery
    // controllers only in the 3.x layout (libnvme 1.x, hence nvme-stas 2.x, sent none).
    for (name, s) in secrets {
        if let Some(s) = s.and_then(set) {
            b.push(name, Some(s), true);
        }
    }
    if is_ioc {
        b.number("nr_io_queues", p.nr_io_queues, |v| *v > 0);
        b.number("nr_write_queues", p.nr_write_queues, |v| *v > 0);
        b.number("nr_poll_queues", p.nr_poll_queues, |v| *v > 0);
        b.number("queue_size", p.queue_size, |v| *v > 0);
    }
    b.number("keep_alive_tmo", p.keep_alive_tmo, |v| *v > 0);
    if transport != "loop" {
        b.number("reconnect_delay", p.reconnect_delay, |v| *v > 0);
        b.number("ctrl_loss_tmo", p.ctrl_loss_tmo.map(|v| v.max(-1)), |_| {
            true
        });
        b.number("fast_io_fail_tmo", p.fast_io_fail_tmo, |v| *v > 0);
        b.number("tos", p.tos, |v| *v >= 0);
    }
    b.flag("duplicate_connect", p.duplicate_connect);
    b.flag("disable_sqflow", p.disable_sqflow);
    if transport == "tcp" {
        b.flag("hdr_digest", p.hdr_digest);
        b.flag("data_digest", p.data_digest);
        b.security(p)?;
    }
    if b.text.len() > 4096 {
        return Err(BuildError::TooLong(b.text.len()));
    }
    Ok(ConnectString {
        text: b.text,
        redacted: b.redacted,
        dropped: b.dropped,
    })
}

fn io_errno(e: &std::io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

/// Writes `cs` to a fresh open of `dev` and reads the reply: one controller creation.
/// Blocks for as long as the kernel takes.
///
/// # Errors
/// [`ConnectError`] mapped from the errno, or a bad reply.
pub fn connect_at(dev: &Path, cs: &ConnectString) -> Result<ConnectReply, ConnectError> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(dev)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ConnectError::FabricsUnavailable,
            std::io::ErrorKind::PermissionDenied => ConnectError::PermissionDenied,
            _ => ConnectError::Os(io_errno(&e)),
        })?;
    f.write_all(cs.as_str().as_bytes())
        .map_err(|e| ConnectError::from_errno(io_errno(&e)))?;
    let mut buf = vec![0u8; 4096];
    let n = f
        .read(&mut buf)
        .map_err(|e| ConnectError::Os(io_errno(&e)))?;
    Ok(parse_connect_reply(&String::from_utf8_lossy(&buf[..n]))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:e4498cf1-1a81-4cfd-9f10-9e947466ed0f";
    const HOSTID: &str = "e4498cf1-1a81-4cfd-9f10-9e947466ed0f";
    const KERNEL_6_1: &str = "instance=-1,cntlid=-1,transport=%s,traddr=%s,trsvcid=%s,nqn=%s,queue_size=%d,nr_io_queues=%d,reconnect_delay=%d,ctrl_loss_tmo=%d,keep_alive_tmo=%d,hostnqn=%s,host_traddr=%s,host_iface=%s,hostid=%s,duplicate_connect,disable_sqflow,hdr_digest,data_digest,nr_write_queues=%d,nr_poll_queues=%d,tos=%d,fast_io_fail_tmo=%d,discovery,dhchap_secret=%s,dhchap_ctrl_secret=%s\n";

    /// Debian 12's 6.12 kernel (6.12.118+deb12): the TLS tokens without `concat` (6.15).
    const KERNEL_6_12: &str = "instance=-1,cntlid=-1,transport=%s,traddr=%s,trsvcid=%s,nqn=%s,queue_size=%d,nr_io_queues=%d,reconnect_delay=%d,ctrl_loss_tmo=%d,keep_alive_tmo=%d,hostnqn=%s,host_traddr=%s,host_iface=%s,hostid=%s,duplicate_connect,disable_sqflow,hdr_digest,data_digest,nr_write_queues=%d,nr_poll_queues=%d,tos=%d,keyring=%d,tls_key=%d,fast_io_fail_tmo=%d,discovery,dhchap_secret=%s,dhchap_ctrl_secret=%s,tls\n";

    fn all() -> SupportedOptions {
        SupportedOptions::from_reply(KERNEL_6_1).unwrap()
    }

    fn tid(transport: &str, traddr: &str, trsvcid: &str, nqn: &str) -> TransportId {
        TransportId {
            transport: transport.into(),
            traddr: traddr.into(),
            trsvcid: trsvcid.into(),
            subsysnqn: nqn.into(),
            host_nqn: HOSTNQN.into(),
            ..TransportId::default()
        }
    }

    #[test]
    fn unique_dc_nqn_gets_discovery_and_libnvme_order() {
        let mut t = tid(
            "tcp",
            "192.168.1.10",
            "8009",
            "nqn.1988-11.com.dell:SFSS:2:20220208134025e8",
        );
        t.host_iface = "eth0".into();
        t.host_traddr = "192.168.1.2".into();
        let mut p = ConnectParams::new(&t, HOSTID, CtrlKind::Discovery);
        p.keep_alive_tmo = Some(30);
        p.ctrl_loss_tmo = Some(600);
        p.nr_io_queues = Some(4); // ignored for discovery controllers
        let cs = build_connect_string(&p, &all()).unwrap();
        assert_eq!(
            cs.as_str(),
            format!(
                "nqn=nqn.1988-11.com.dell:SFSS:2:20220208134025e8,transport=tcp,traddr=192.168.1.10,\
                 host_traddr=192.168.1.2,host_iface=eth0,trsvcid=8009,hostnqn={HOSTNQN},hostid={HOSTID},\
                 discovery,keep_alive_tmo=30,ctrl_loss_tmo=600"
            )
        );
        assert!(cs.dropped().is_empty());
    }

    #[test]
    fn controller_secret_only_with_a_host_secret_and_tls_never_dropped() {
        const KEY: &str = "DHHC-1:00:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2Vj=:";
        let t = tid("tcp", "10.0.0.1", "4420", "nqn.io");
        let mut p = ConnectParams::new(&t, HOSTID, CtrlKind::Io);
        p.dhchap_ctrl_secret = Some(KEY.into());
        let cs = build_connect_string(&p, &all()).unwrap();
        assert!(!cs.as_str().contains("dhchap"), "{cs}");
        p.dhchap_secret = Some(KEY.into());
        let cs = build_connect_string(&p, &all()).unwrap();
        assert!(cs
            .as_str()
            .contains(&format!("dhchap_secret={KEY},dhchap_ctrl_secret={KEY}")));

        let mut p = ConnectParams::new(&t, HOSTID, CtrlKind::Io);
        p.tls = true;
        p.tls_key = Some("0x1a2b".into());
        assert!(matches!(
            build_connect_string(&p, &all()),
            Err(BuildError::Unsupported("tls_key" | "tls"))
        ));
        let tls = SupportedOptions::from_names(
            all()
                .names()
                .iter()
                .cloned()
                .chain(["tls".into(), "tls_key".into()]),
        );
        let cs = build_connect_string(&p, &tls).unwrap();
        assert!(cs.as_str().ends_with(",tls_key=6699,tls"), "{cs}");
        p.tls_key = Some("name".into());
        assert!(matches!(
            build_connect_string(&p, &tls),
            Err(BuildError::Invalid {
                option: "tls_key",
                ..
            })
        ));
    }

    #[test]
    fn version_table_knows_tls_from_6_7_and_concat_from_6_15() {
        let has = |release: &str, name: &str| {
            SupportedOptions::from_release(release, "test").supports(name)
        };
        for name in ["tls", "keyring", "tls_key", "concat"] {
            assert!(!has("6.6.0", name), "{name} before 6.7");
        }
        for name in ["tls", "keyring", "tls_key"] {
            assert!(
                has("6.7.0", name) && has("6.12.118+deb12-amd64", name),
                "{name}"
            );
        }
        assert!(!has("6.14.0", "concat") && has("6.15.0", "concat"));
        assert!(!SupportedOptions::from_release("6.1.0-56-amd64", "t").tls());
    }

    #[test]
    fn debian_6_12_read_back_has_tls_but_not_concat() {
        let o = SupportedOptions::from_reply(KERNEL_6_12).unwrap();
        assert_eq!(o.source(), &OptionsSource::Kernel);
        assert!(o.tls() && o.supports("keyring") && o.supports("tls_key"));
        assert!(!o.supports("concat") && !o.supports("instance"));
        // The read-back decides, whatever the release says.
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().join("nvme-fabrics");
        std::fs::write(&dev, KERNEL_6_12).unwrap();
        let q = query_supported_options(&dev, "6.15.0").unwrap();
        assert!(q.tls() && !q.supports("concat"));
        // A 6.1 read-back has none of them.
        assert!(!all().tls() && !all().supports("keyring"));

        let t = tid("tcp", "10.0.0.1", "4420", "nqn.io");
        let mut p = ConnectParams::new(&t, HOSTID, CtrlKind::Io);
        p.tls = true;
        p.keyring = Some("0x2a".into());
        p.tls_key = Some("123".into());
        let cs = build_connect_string(&p, &o).unwrap();
        assert!(cs.as_str().ends_with(",keyring=42,tls_key=123,tls"), "{cs}");
        assert!(cs.dropped().is_empty());
        p.tls = false;
        p.concat = true;
        assert_eq!(
            build_connect_string(&p, &o),
            Err(BuildError::Unsupported("concat")),
            "never dropped silently"
        );
        p.tls = true;
        assert!(matches!(
            build_connect_string(&p, &o),
            Err(BuildError::Conflict(_))
        ));
        // Not for other transports.
        let mut r = ConnectParams::new(
            &tid("rdma", "10.0.0.1", "4420", "nqn.io"),
            HOSTID,
            CtrlKind::Io,
        );
        r.tls = true;
        assert!(!build_connect_string(&r, &o)
            .unwrap()
            .as_str()
            .contains("tls"));
    }

    #[test]
    fn a_tls_key_that_is_not_a_serial_is_never_shown() {
        let tls = SupportedOptions::from_reply(KERNEL_6_12).unwrap();
        let t = tid("tcp", "10.0.0.1", "4420", "nqn.io");
        let mut p = ConnectParams::new(&t, HOSTID, CtrlKind::Io);
        p.tls = true;
        p.tls_key = Some("NVMeTLSkey-1:01:c2VjcmV0c2VjcmV0:".into());
        let e = build_connect_string(&p, &tls).unwrap_err();
        assert!(matches!(
            e,
            BuildError::Invalid {
                option: "tls_key",
                ..
            }
        ));
        assert!(!format!("{e}{e:?}").contains("c2VjcmV0"), "{e}");
        p.tls_key = None;
        p.keyring = Some(".nvme".into());
        let e = build_connect_string(&p, &tls).unwrap_err();
        assert!(
            e.to_string().contains(".nvme"),
            "a keyring is no secret: {e}"
        );
    }

    #[test]
    fn well_known_dc_and_default_ports() {
        let p = ConnectParams::new(
            &tid("tcp", "::1", "", WELL_KNOWN_DISC_NQN),
            HOSTID,
            CtrlKind::Discovery,
        );
        let cs = build_connect_string(&p, &all()).unwrap();
        assert_eq!(
            cs.as_str(),
            format!("nqn={WELL_KNOWN_DISC_NQN},transport=tcp,traddr=::1,trsvcid=8009,hostnqn={HOSTNQN},hostid={HOSTID}")
        );
        let p = ConnectParams::new(&tid("tcp", "10.0.0.1", "", "nqn.io"), HOSTID, CtrlKind::Io);
        assert!(build_connect_string(&p, &all())
            .unwrap()
            .as_str()
            .contains(",trsvcid=4420,"));
    }

    #[test]
    fn fc_never_gets_a_port_and_needs_host_traddr() {
        let a = "nn-0x1000000044001123:pn-0x2000000055001123";
        let mut t = tid("fc", a, "4420", "nqn.io");
        assert_eq!(
            build_connect_string(&ConnectParams::new(&t, HOSTID, CtrlKind::Io), &all()),
            Err(BuildError::Missing("host_traddr (required for fc)"))
        );
        t.host_traddr = "nn-0x1:pn-0x2".into();
        t.host_iface = "eth0".into(); // tcp only: silently not applicable
        let mut p = ConnectParams::new(&t, HOSTID, CtrlKind::Io);
        p.hdr_digest = true;
        let cs = build_connect_string(&p, &all()).unwrap();
        assert_eq!(
            cs.as_str(),
            format!("nqn=nqn.io,transport=fc,traddr={a},host_traddr=nn-0x1:pn-0x2,hostnqn={HOSTNQN},hostid={HOSTID}")
        );
    }

    #[test]
    fn ioc_options_secrets_redacted_and_loop_rules() {
        let mut p = ConnectParams::new(
            &tid("tcp", "10.0.0.1", "4420", "nqn.io"),
            HOSTID,
            CtrlKind::Io,
        );
        p.dhchap_secret = Some("DHHC-1:00:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2Vj=:".into());
        p.nr_io_queues = Some(8);
        p.queue_size = Some(0); // not > 0: left out
        p.keep_alive_tmo = Some(0);
        p.reconnect_delay = Some(10);
        p.ctrl_loss_tmo = Some(-5);
        p.tos = Some(-1);
        p.disable_sqflow = true;
        p.data_digest = true;
        let cs = build_connect_string(&p, &all()).unwrap();
        assert_eq!(
            cs.as_str(),
            format!(
                "nqn=nqn.io,transport=tcp,traddr=10.0.0.1,trsvcid=4420,hostnqn={HOSTNQN},hostid={HOSTID},\
                 dhchap_secret=DHHC-1:00:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2Vj=:,nr_io_queues=8,\
                 reconnect_delay=10,ctrl_loss_tmo=-1,disable_sqflow,data_digest"
            )
        );
        assert!(cs.to_string().contains("dhchap_secret=<secret>"));
        assert!(!format!("{cs:?}{p:?}").contains("c2Vj"));
        let mut l = ConnectParams::new(&tid("loop", "", "", "nqn.io"), HOSTID, CtrlKind::Io);
        l.ctrl_loss_tmo = Some(600);
        l.keep_alive_tmo = Some(5);
        let cs = build_connect_string(&l, &all()).unwrap();
        assert_eq!(
            cs.as_str(),
            format!("nqn=nqn.io,transport=loop,hostnqn={HOSTNQN},hostid={HOSTID},keep_alive_tmo=5")
        );
    }

    #[test]
    fn only_supported_options_are_emitted() {
        let old = SupportedOptions::from_release("5.10.0-20-amd64", "test");
        assert!(!old.host_iface() && !old.discovery());
        let mut t = tid("tcp", "10.0.0.1", "8009", "nqn.unique.dc");
        t.host_iface = "eth0".into();
        let cs = build_connect_string(&ConnectParams::new(&t, HOSTID, CtrlKind::Discovery), &old)
            .unwrap();
        assert!(!cs.as_str().contains("host_iface") && !cs.as_str().contains("discovery"));
        assert_eq!(cs.dropped(), &["host_iface", "discovery"]);
    }

    #[test]
    fn hostile_values_are_refused_before_writing() {
        let base = tid("tcp", "10.0.0.1", "4420", "nqn.io");
        type Case = (fn(&mut ConnectParams), &'static str);
        let cases: Vec<Case> = vec![
            (|p| p.subsysnqn = "nqn.io,hostnqn=evil".into(), "nqn"),
            (|p| p.subsysnqn = "nqn.io=x".into(), "nqn"),
            (|p| p.traddr = "10.0.0.1 ".into(), "traddr"),
            (|p| p.traddr = "target.example.com".into(), "traddr"),
            (|p| p.trsvcid = "44\n20".into(), "trsvcid"),
            (|p| p.host_iface = "eth0,x".into(), "host_iface"),
            (
                |p| p.host_iface = "averyveryverylongname".into(),
                "host_iface",
            ),
            (
                |p| p.host_nqn = format!("nqn.{}", "a".repeat(300)),
                "hostnqn",
            ),
            (|p| p.host_id = "not-a-uuid".into(), "hostid"),
            (
                |p| p.dhchap_secret = Some("DHHC-1:00:a,b:".into()),
                "dhchap_secret",
            ),
        ];
        for (mutate, option) in cases {
            let mut p = ConnectParams::new(&base, HOSTID, CtrlKind::Io);
            mutate(&mut p);
            match build_connect_string(&p, &all()) {
                Err(BuildError::Invalid { option: o, .. }) => assert_eq!(o, option),
                other => panic!("{option}: {other:?}"),
            }
        }
        let mut p = ConnectParams::new(&base, "", CtrlKind::Io);
        assert_eq!(
            build_connect_string(&p, &all()),
            Err(BuildError::Missing("host ID"))
        );
        p.host_id = HOSTID.into();
        p.transport = "bogus".into();
        assert!(matches!(
            build_connect_string(&p, &all()),
            Err(BuildError::UnknownTransport(_))
        ));
    }

    #[test]
    fn supported_options_query_and_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().join("nvme-fabrics");
        // Missing device: version table.
        let o = query_supported_options(&dev, "6.1.0-56-amd64").unwrap();
        assert!(matches!(o.source(), OptionsSource::VersionTable { .. }));
        assert!(o.host_iface() && o.discovery() && o.dhchap_secret());
        assert!(o.to_string().starts_with("supported options:"));
        // Garbage and empty: version table.
        std::fs::write(&dev, "").unwrap();
        assert!(!query_supported_options(&dev, "5.4.0").unwrap().host_iface());
        std::fs::write(&dev, "\u{1}!!\n").unwrap();
        assert!(!query_supported_options(&dev, "5.4.0").unwrap().discovery());
        // A real reply wins over the release.
        std::fs::write(&dev, KERNEL_6_1).unwrap();
        let o = query_supported_options(&dev, "4.9").unwrap();
        assert_eq!(o.source(), &OptionsSource::Kernel);
        assert!(o.discovery());
        std::fs::write(
            &dev,
            "host_iface=%s,discovery,dhchap_secret=%s,dhchap_ctrl_secret=%s",
        )
        .unwrap();
        let o = query_supported_options(&dev, "4.9").unwrap();
        assert!(o.host_iface() && o.discovery() && o.dhchap_secret() && o.dhchap_ctrl_secret());
        assert_eq!(parse_release("5.8.0-63-generic"), Some((5, 8)));
        assert_eq!(parse_release("6"), Some((6, 0)));
        assert_eq!(parse_release("x"), None);
    }

    #[test]
    fn connect_at_reads_reply_and_maps_missing_device() {
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().join("nvme-fabrics");
        let p = ConnectParams::new(
            &tid("tcp", "10.0.0.1", "4420", "nqn.io"),
            HOSTID,
            CtrlKind::Io,
        );
        let cs = build_connect_string(&p, &all()).unwrap();
        assert!(matches!(
            connect_at(&dev, &cs),
            Err(ConnectError::FabricsUnavailable)
        ));
        // A regular file: the write appends, the read returns what follows (nothing) => no
        // instance in the reply.
        std::fs::write(&dev, "").unwrap();
        assert!(matches!(
            connect_at(&dev, &cs),
            Err(ConnectError::BadReply(_))
        ));
    }
}
