//! The documentation of every configuration key, for the man pages stas-doc generates
//! (stafd.conf(5), stacd.conf(5), sys.conf(5), nvme-stas.conf(5)).
//!
//! One entry per key and scope: its value syntax, its default and one paragraph. The keys
//! themselves are not repeated from the parsers' tables: the pages list what
//! [`service::legal`], the nvme-stas.conf key table, [`HOST_KEYS`], `TID_KEYS` and
//! `PARAM_KEYS` accept, and look each one up here. The tests below fail when a key the
//! parsers accept has no entry, or an entry names a key they refuse, so a new option cannot
//! ship undocumented.

use super::layout::Layout;
use super::nvmeconf::keys::{self as ini_keys, Class, Section};
use super::service::sections::{CONTROLLERS, DC_MGMT, GLOBAL, IOC_MGMT, SERVICE_DISCOVERY};
use super::service::{self, Daemon};
use super::sysconf::{HOST, HOST_KEYS};

/// Which table a documented key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// An option of stafd.conf / stacd.conf, for `daemon` (`None`: both) in `layout`
    /// (`None`: both layouts' files).
    Service {
        /// The daemon whose file has it.
        daemon: Option<Daemon>,
        /// The layout whose file has it.
        layout: Option<Layout>,
    },
    /// A key of a 2.x `controller=` / `exclude=` value, for `daemon` (`None`: both).
    Controller {
        /// The daemon that uses it.
        daemon: Option<Daemon>,
    },
    /// A key of nvme-stas.conf (its sections are the parser's: [`nvmeconf_sections_of`]).
    NvmeConf,
    /// An addressing key of an nvme-stas.conf `controller =` line.
    NvmeConfAddress,
    /// A key of sys.conf's `[Host]`.
    SysConf,
}

impl Scope {
    /// Whether a service-file entry of this scope applies to `daemon` in `layout`.
    #[must_use]
    pub fn covers(self, daemon: Daemon, layout: Layout) -> bool {
        match self {
            Self::Service {
                daemon: d,
                layout: l,
            } => d.is_none_or(|d| d == daemon) && l.is_none_or(|l| l == layout),
            Self::Controller { daemon: d } => d.is_none_or(|d| d == daemon),
            _ => false,
        }
    }
}

/// The documentation of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDoc {
    /// Where the key is legal.
    pub scope: Scope,
    /// Its section (empty for the keys of a controller string and of nvme-stas.conf, whose
    /// sections come from the parser).
    pub section: &'static str,
    /// The key.
    pub key: &'static str,
    /// The syntax of its value.
    pub value: &'static str,
    /// Its default (empty: none worth saying).
    pub default: &'static str,
    /// What it does.
    pub text: &'static str,
}

/// The documentation of one section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionDoc {
    /// Where the section is legal.
    pub scope: Scope,
    /// The name between the brackets.
    pub name: &'static str,
    /// What it holds.
    pub text: &'static str,
}

const BOTH: Scope = Scope::Service {
    daemon: None,
    layout: None,
};
const STAS2: Scope = Scope::Service {
    daemon: None,
    layout: Some(Layout::Stas2),
};
const STAFD: Scope = Scope::Service {
    daemon: Some(Daemon::Stafd),
    layout: None,
};
const STACD: Scope = Scope::Service {
    daemon: Some(Daemon::Stacd),
    layout: None,
};
const STAFD2: Scope = Scope::Service {
    daemon: Some(Daemon::Stafd),
    layout: Some(Layout::Stas2),
};
const STACD2: Scope = Scope::Service {
    daemon: Some(Daemon::Stacd),
    layout: Some(Layout::Stas2),
};
const STAFD3: Scope = Scope::Service {
    daemon: Some(Daemon::Stafd),
    layout: Some(Layout::Stas3),
};
const STACD3: Scope = Scope::Service {
    daemon: Some(Daemon::Stacd),
    layout: Some(Layout::Stas3),
};
const CTRL: Scope = Scope::Controller { daemon: None };
const CTRL_STAFD: Scope = Scope::Controller {
    daemon: Some(Daemon::Stafd),
};
const CTRL_STACD: Scope = Scope::Controller {
    daemon: Some(Daemon::Stacd),
};

/// Shorthand for the table below.
const fn k(
    scope: Scope,
    section: &'static str,
    key: &'static str,
    value: &'static str,
    default: &'static str,
    text: &'static str,
) -> KeyDoc {
    KeyDoc {
        scope,
        section,
        key,
        value,
        default,
        text,
    }
}

/// The sections of every file.
pub const SECTIONS: &[SectionDoc] = &[
    SectionDoc {
        scope: BOTH,
        name: GLOBAL,
        text: "Options of the daemon as a whole. In the 2.x layout also the connection \
               parameters every controller gets unless its controller= line says otherwise.",
    },
    SectionDoc {
        scope: STAFD,
        name: SERVICE_DISCOVERY,
        text: "How stafd finds discovery controllers besides the configured ones.",
    },
    SectionDoc {
        scope: STAFD,
        name: DC_MGMT,
        text: "How stafd holds its discovery controller connections.",
    },
    SectionDoc {
        scope: STACD,
        name: IOC_MGMT,
        text: "When stacd connects and disconnects I/O controllers.",
    },
    SectionDoc {
        scope: STAS2,
        name: CONTROLLERS,
        text: "The controllers to connect to (controller=, one line each) and those never to \
               connect to (exclude=). Both take a string of key=value pairs separated by \
               semicolons (never commas); the keys are listed under CONTROLLER STRINGS. \
               exclude= takes the same keys (host-traddr is ignored there): a controller is \
               excluded when every key given matches it, whoever found it (this file, mDNS, a \
               referral or a discovery log page), and exclude= wins over controller=. The \
               exclusion list of nvme-cli (/etc/nvme/exclusions.conf and its drop-ins) \
               applies as well.",
    },
    SectionDoc {
        scope: Scope::NvmeConf,
        name: "Discovery Controller Defaults",
        text: "Parameters of every discovery controller of the file, including those stafd \
               finds through mDNS or referrals.",
    },
    SectionDoc {
        scope: Scope::NvmeConf,
        name: "I/O Controller Defaults",
        text: "Parameters of every I/O controller of the file, including those found in \
               discovery log pages.",
    },
    SectionDoc {
        scope: Scope::NvmeConf,
        name: "Host",
        text: "The host identity (persona) of the file, and parameters that apply to all its \
               controllers. One [Host] per file: a second persona goes in its own drop-in. A \
               drop-in's [Host] is that drop-in's persona, used for its controllers and for \
               what its discovery controllers report.",
    },
    SectionDoc {
        scope: Scope::NvmeConf,
        name: "Discovery Controller",
        text: "One discovery controller for stafd: its nqn (the well-known discovery NQN when \
               absent), one controller= line per path, and parameters of its own.",
    },
    SectionDoc {
        scope: Scope::NvmeConf,
        name: "Subsystem",
        text: "One I/O subsystem for stacd to connect even when no discovery controller lists \
               it: its nqn (required), one controller= line per path, and parameters of its \
               own.",
    },
    SectionDoc {
        scope: Scope::SysConf,
        name: HOST,
        text: "The host identity, the only section of the file.",
    },
];

/// Every key of every file.
#[rustfmt::skip]
pub const KEYS: &[KeyDoc] = &[
    // ---- stafd.conf / stacd.conf, [Global] ---------------------------------------------
    k(BOTH, GLOBAL, "tron", "true | false", "false",
      "Debug logging (\"trace on\"). At start, either this or the --tron option switches it \
       on; a reload sets it to this value. stafctl tron and stacctl tron switch it at run \
       time."),
    k(STAS2, GLOBAL, "hdr-digest", "true | false", "false",
      "NVMe/TCP PDU header digest. The value is passed on every connect, so the kernel's \
       own default never applies."),
    k(STAS2, GLOBAL, "data-digest", "true | false", "false",
      "NVMe/TCP PDU data digest, passed on every connect like hdr-digest."),
    k(STAFD2, GLOBAL, "kato", "seconds", "30",
      "Keep-alive timeout of discovery controller connections. A connection that is kept \
       alive is how a discovery controller tells the host that its log page changed (an \
       asynchronous event)."),
    k(STACD2, GLOBAL, "kato", "seconds", "the kernel's",
      "Keep-alive timeout of I/O controller connections."),
    k(STAS2, GLOBAL, "queue-size", "16 to 1024", "the kernel's (128)",
      "Depth of each I/O queue. Discovery controllers have no I/O queues: stafd accepts the \
       option for symmetry with stacd.conf."),
    k(STACD2, GLOBAL, "nr-io-queues", "a number, at least 1",
      "the kernel's (one per CPU)", "Number of I/O queues."),
    k(STACD2, GLOBAL, "nr-write-queues", "a number", "the kernel's (none)",
      "Number of queues set apart for writes."),
    k(STACD2, GLOBAL, "nr-poll-queues", "a number", "the kernel's (none)",
      "Number of polled queues."),
    k(STAS2, GLOBAL, "reconnect-delay", "seconds, at least 1",
      "the kernel's (10)",
      "How long the kernel waits before it tries to reconnect a lost connection."),
    k(STAS2, GLOBAL, "ctrl-loss-tmo", "seconds, or -1", "the kernel's (600)",
      "How long the kernel keeps trying to reconnect before it gives up and deletes the \
       controller; -1 means forever."),
    k(STAS2, GLOBAL, "disable-sqflow", "true | false", "false",
      "Disable submission queue flow control; only for targets that ask for it."),
    k(BOTH, GLOBAL, "ignore-iface", "true | false", "false",
      "With true, no connection is bound to a network interface: routing decides. With \
       false, a controller found on an interface (through mDNS, or the discovery controller \
       that reported it) or given a host-iface is connected through that interface."),
    k(BOTH, GLOBAL, "ip-family", "ipv4 | ipv6 | ipv4+ipv6 | ipv6+ipv4", "ipv4+ipv6",
      "The address families allowed for TCP and RDMA target addresses, also used when host \
       names are resolved. A controller whose address is of another family is not \
       connected. ipv6+ipv4 is the same as ipv4+ipv6."),
    k(STAS2, GLOBAL, "tls", "true | false", "unset",
      "TLS on NVMe/TCP connections (Linux 6.7 or later built with CONFIG_NVME_TCP_TLS, and \
       tlshd of ktls-utils running). When unset, a connection uses TLS only when its \
       controller= line or its discovery log entry asks for it. An entry that requires a \
       secure channel (TREQ required, with a TSAS security type) is connected with TLS, or \
       not at all when tls is false for it or the kernel lacks TLS; the reason is logged \
       once and shown by stafctl ls --detailed or stacctl ls --detailed, and nothing is \
       retried until a reload or a new log entry. A kernel without TLS support refuses a \
       connection that asks for it rather than connecting in the clear."),
    k(STAS2, GLOBAL, "keyring", "a key serial number, decimal or 0x hexadecimal", "unset",
      "The keyring the kernel searches for TLS keys; when unset, its .nvme keyring. See \
       keyctl show for the serial numbers. stas does not import keys: load them first \
       (nvme tls-key --import, nvme gen-tls-key --insert, or keyctl)."),
    k(STAFD, GLOBAL, "pleo", "enabled | disabled", "enabled",
      "Ask discovery controllers that support it (TP8010) for the entries of their own port \
       only (Port Local Entries Only)."),
    k(STAFD2, GLOBAL, "persistent-connections", "true | false", "true",
      "Deprecated spelling of the option of the same name in [Discovery controller \
       connection management] (a warning is logged). When both are given, connections are \
       kept if either says true."),
    // ---- stafd.conf ---------------------------------------------------------------------
    k(STAFD, SERVICE_DISCOVERY, "zeroconf", "enabled | disabled", "enabled",
      "Find discovery controllers announced with mDNS/DNS-SD (TP8009) through \
       avahi-daemon, service types _nvme-disc._tcp and _nvme-disc._udp. Turning it off does \
       not drop the controllers already found."),
    k(STAFD2, DC_MGMT, "persistent-connections", "true | false", "true",
      "Leave the discovery controller connections in the kernel when stafd stops. With \
       false they are deleted (and the host deregisters from controllers that support \
       TP8010). A stafd that stops because it lost its D-Bus connection or the kernel's \
       events keeps them whatever this says."),
    k(STAFD2, DC_MGMT, "zeroconf-connections-persistence", "a time span, or -1", "72hours",
      "How long a discovery controller found with mDNS is kept after it is no longer \
       announced and no longer answers: a number of seconds, or a span such as 72hours, \
       3 days or 1:30. -1 keeps it forever, 0 drops it at once."),
    k(STAFD3, DC_MGMT, "dc-giveup-timeout", "a time span, or infinity", "72h",
      "How long a discovery controller found with mDNS that went away is kept and tried \
       again, in systemd's time syntax (systemd.time(7): 72h, 3d, 90min; M is a month); \
       infinity keeps it forever. The 3.x name of zeroconf-connections-persistence."),
    k(STAFD2, DC_MGMT, "persistent", "no | auto | force", "force",
      "Whether discovery controller connections are held open: always (force, what \
       nvme-stas 2.x does), only when the controller says it supports it (auto: EPCSD set in \
       its own log entry), or never (no). A connection not held is parked: stafd reads the \
       log page, disconnects, keeps the log (stacd keeps the I/O controllers it lists) and \
       reads it again every epcsd-poll-interval-minutes. The persistent= key of a \
       controller= line wins. In the 3.x layout the key is in nvme-stas.conf."),
    k(STAFD, DC_MGMT, "epcsd-poll-interval-minutes", "minutes, more than 0 (fractions allowed)",
      "15",
      "How often the log page of a parked discovery controller is read again."),
    // ---- stacd.conf ---------------------------------------------------------------------
    k(STACD2, IOC_MGMT, "disconnect-scope",
      "only-stas-connections | all-connections-matching-disconnect-trtypes | no-disconnect",
      "only-stas-connections",
      "What happens to a connection that neither stafd nor this file wants any more: \
       only-stas-connections disconnects it when stacd made or adopted it; \
       all-connections-matching-disconnect-trtypes also takes over the connections other \
       tools made on the transports of disconnect-trtypes and disconnects those nobody \
       wants; no-disconnect never disconnects anything. A controller still wanted is never \
       disconnected, and stafd being stopped or restarting does not make a controller \
       unwanted. Controllers another owner holds (nvme-cli's registry, boot paths) are never \
       touched."),
    k(STACD2, IOC_MGMT, "disconnect-trtypes", "tcp, rdma and fc, joined with +", "tcp",
      "The transports all-connections-matching-disconnect-trtypes applies to."),
    k(STACD, IOC_MGMT, "connect-attempts-on-ncc", "a number", "0",
      "How many times to try to connect a controller whose discovery log entry says it is \
       not connected to the discovery controller (the NCC flag) before giving up until the \
       flag clears or the configuration is reloaded. 0 never gives up; 1 counts as 2."),
    k(STACD3, IOC_MGMT, "honor-fabric-zoning", "yes | no (also true, false, on, off, 1, 0)",
      "yes",
      "With yes, the I/O controllers stacd connected are disconnected when the fabric's \
       zoning (the discovery log pages) no longer lists them; with no, nothing is ever \
       disconnected. Controllers of other owners are never touched. The 3.x successor of \
       disconnect-scope."),
    // ---- [Controllers] ------------------------------------------------------------------
    k(STAS2, CONTROLLERS, "controller", "key=value;key=value;...", "none",
      "A controller to connect to (for stafd a discovery controller, for stacd an I/O \
       controller); repeat the line for more. See CONTROLLER STRINGS for the keys."),
    k(STAS2, CONTROLLERS, "exclude", "key=value;key=value;...", "none",
      "A pattern of controllers never to connect to; repeat the line for more. An empty \
       value is ignored."),
    k(STAS2, CONTROLLERS, "blacklist", "key=value;key=value;...", "none",
      "The old name of exclude=, still read (with a warning)."),
    // ---- controller= / exclude= strings (2.x layout) --------------------------------------
    k(CTRL, "", "transport", "tcp | rdma | fc | loop", "required",
      "The transport."),
    k(CTRL, "", "traddr", "an address", "required",
      "The target address: an IP address or a host name for tcp and rdma, \
       nn-0x...:pn-0x... for fc."),
    k(CTRL, "", "trsvcid", "a port", "8009 for tcp, 4420 for rdma, none for fc and loop",
      "The transport service id (port). I/O controllers on tcp usually need 4420 given."),
    k(CTRL_STAFD, "", "nqn", "an NQN", "nqn.2014-08.org.nvmexpress.discovery",
      "The subsystem NQN of the discovery controller (subsysnqn= is read the same)."),
    k(CTRL_STACD, "", "nqn", "an NQN", "required",
      "The subsystem NQN (subsysnqn= is read the same)."),
    k(CTRL, "", "host-traddr", "an address", "none",
      "The local address to connect from (tcp, rdma), or the local nn-...:pn-... (fc)."),
    k(CTRL, "", "host-iface", "an interface name", "none",
      "The local network interface to bind the connection to (tcp)."),
    k(CTRL, "", "host-nqn", "an NQN", "the host NQN of sys.conf",
      "The host NQN to connect with instead of the host's own."),
    k(CTRL, "", "hdr-digest", "true | false", "[Global]",
      "This controller's value of the [Global] option; an invalid value falls back to \
       [Global] (so do the other connection parameters below)."),
    k(CTRL, "", "data-digest", "true | false", "[Global]",
      "This controller's value of the [Global] option."),
    k(CTRL, "", "kato", "seconds", "[Global]", "This controller's value of the [Global] option."),
    k(CTRL, "", "queue-size", "16 to 1024", "[Global]",
      "This controller's value of the [Global] option."),
    k(CTRL, "", "nr-io-queues", "a number, at least 1", "[Global]",
      "This controller's value of the [Global] option (I/O controllers)."),
    k(CTRL, "", "nr-write-queues", "a number", "[Global]",
      "This controller's value of the [Global] option (I/O controllers)."),
    k(CTRL, "", "nr-poll-queues", "a number", "[Global]",
      "This controller's value of the [Global] option (I/O controllers)."),
    k(CTRL, "", "reconnect-delay", "seconds, at least 1", "[Global]",
      "This controller's value of the [Global] option."),
    k(CTRL, "", "ctrl-loss-tmo", "seconds, or -1", "[Global]",
      "This controller's value of the [Global] option."),
    k(CTRL, "", "disable-sqflow", "true | false", "[Global]",
      "This controller's value of the [Global] option."),
    k(CTRL, "", "dhchap-secret", "DHHC-1:<hash>:<base64>:", "the host key of sys.conf",
      "The host's DH-HMAC-CHAP key for this controller, as nvme gen-dhchap-key prints it. \
       A trailing = is part of the key (no other value may contain =). Secrets are never \
       shown on D-Bus, by the clients or in logs."),
    k(CTRL, "", "dhchap-ctrl-secret", "DHHC-1:<hash>:<base64>:", "none",
      "The controller's key, for bidirectional authentication."),
    k(CTRL, "", "tls", "true | false", "[Global]",
      "This controller's value of the [Global] option."),
    k(CTRL, "", "keyring", "a key serial number", "[Global]",
      "This controller's value of the [Global] option."),
    k(CTRL, "", "tls-key", "a key serial number, decimal or 0x hexadecimal", "none",
      "The TLS pre-shared key to use. Without it the kernel picks the key by its identity \
       in the keyring. A key in interchange format (NVMeTLSkey-1:...) is refused with an \
       error that never shows the value: stas does not import keys. There is no [Global] \
       tls-key: a key belongs to one host and subsystem pair."),
    k(CTRL_STAFD, "", "persistent", "no | auto | force",
      "[Discovery controller connection management] persistent",
      "This discovery controller's value of persistent."),
    // ---- nvme-stas.conf ------------------------------------------------------------------
    k(Scope::NvmeConf, "", "nr-io-queues", "integer", "the kernel's",
      "Number of I/O queues (I/O controllers)."),
    k(Scope::NvmeConf, "", "nr-write-queues", "integer", "the kernel's",
      "Number of queues set apart for writes (I/O controllers)."),
    k(Scope::NvmeConf, "", "nr-poll-queues", "integer", "the kernel's",
      "Number of polled queues (I/O controllers)."),
    k(Scope::NvmeConf, "", "queue-size", "integer", "the kernel's",
      "Depth of each I/O queue (I/O controllers)."),
    k(Scope::NvmeConf, "", "keep-alive-tmo", "integer (seconds)",
      "30 for discovery controllers, else the kernel's",
      "Keep-alive timeout; the kernel's keep_alive_tmo. A discovery controller that is not \
       held open (persistent = no) gets the kernel's default unless this is set."),
    k(Scope::NvmeConf, "", "reconnect-delay", "integer (seconds)", "the kernel's",
      "How long the kernel waits before it tries to reconnect a lost connection."),
    k(Scope::NvmeConf, "", "ctrl-loss-tmo", "integer (seconds)", "the kernel's",
      "How long the kernel keeps trying to reconnect before it deletes the controller; -1 \
       means forever."),
    k(Scope::NvmeConf, "", "fast-io-fail-tmo", "integer (seconds)", "the kernel's",
      "How long after a connection is lost I/O fails fast instead of waiting for the \
       reconnect."),
    k(Scope::NvmeConf, "", "tos", "integer", "the kernel's",
      "Type of service of the connection's IP packets (tcp)."),
    k(Scope::NvmeConf, "", "duplicate-connect", "boolean", "the kernel's",
      "Allow a second connection to the same controller."),
    k(Scope::NvmeConf, "", "disable-sqflow", "boolean", "the kernel's",
      "Disable submission queue flow control."),
    k(Scope::NvmeConf, "", "hdr-digest", "boolean", "the kernel's",
      "NVMe/TCP PDU header digest."),
    k(Scope::NvmeConf, "", "data-digest", "boolean", "the kernel's",
      "NVMe/TCP PDU data digest."),
    k(Scope::NvmeConf, "", "persistent", "no | auto | force", "auto",
      "Discovery controllers only: hold the connection always (force), when the controller \
       says it supports it (auto: EPCSD in its own log entry), or never (no: read the log \
       page, disconnect, and read it again every epcsd-poll-interval-minutes of \
       stafd.conf)."),
    k(Scope::NvmeConf, "", "tls", "boolean", "unset",
      "TLS on NVMe/TCP. A kernel without TLS support refuses the connection instead of \
       connecting in the clear."),
    k(Scope::NvmeConf, "", "concat", "boolean", "unset",
      "Secure channel concatenation (tcp); refused like tls by a kernel without it."),
    k(Scope::NvmeConf, "", "tls-key", "a key serial number, decimal or 0x hexadecimal",
      "unset",
      "The TLS pre-shared key to use. Without it the kernel picks the key by its identity \
       in the keyring. A key name or an interchange-format key is reported and not passed \
       on: stas does not import keys."),
    k(Scope::NvmeConf, "", "tls-key-identity", "string", "unset",
      "libnvme's TLS key identity: accepted (without line breaks) for compatibility, not \
       used by stas, whose kernel looks the key up by its identity itself."),
    k(Scope::NvmeConf, "", "keyring", "a key serial number, decimal or 0x hexadecimal",
      "the kernel's .nvme keyring",
      "The keyring the kernel searches for TLS keys."),
    k(Scope::NvmeConf, "", "kxchap-secret", "DHHC-1:<hash>:<base64>:", "unset",
      "The host's DH-HMAC-CHAP secret (the kernel's dhchap_secret). Keep the file readable \
       by root only when it holds a secret."),
    k(Scope::NvmeConf, "", "kxchap-ctrl-secret", "DHHC-1:<hash>:<base64>:", "unset",
      "The controller's DH-HMAC-CHAP secret, for bidirectional authentication (the \
       kernel's dhchap_ctrl_secret)."),
    k(Scope::NvmeConf, "", "hostnqn", "an NQN", "/etc/nvme/hostnqn",
      "The host NQN of the file's persona. Two files may not use the same one."),
    k(Scope::NvmeConf, "", "hostid", "a UUID, not all zeros", "/etc/nvme/hostid",
      "The host ID of the persona. The same ID may not be used under another hostnqn."),
    k(Scope::NvmeConf, "", "hostsymname", "string", "none",
      "The host's symbolic name, sent to discovery controllers that take registrations \
       (TP8010)."),
    k(Scope::NvmeConf, "", "nqn", "an NQN",
      "[Discovery Controller]: nqn.2014-08.org.nvmexpress.discovery; [Subsystem]: required",
      "The subsystem NQN of the section's controller."),
    k(Scope::NvmeConf, "", "controller", "key=value;key=value;...", "none",
      "One path to the section's controller: the addressing keys below, plus per-path \
       parameters (see PRECEDENCE). Repeat the line for more paths."),
    k(Scope::NvmeConfAddress, "", "transport", "tcp | rdma | fc | loop", "required",
      "The transport."),
    k(Scope::NvmeConfAddress, "", "traddr", "an address", "required",
      "The target address."),
    k(Scope::NvmeConfAddress, "", "trsvcid", "a port", "the transport's",
      "The transport service id (port)."),
    k(Scope::NvmeConfAddress, "", "host-traddr", "an address", "none",
      "The local address to connect from."),
    k(Scope::NvmeConfAddress, "", "host-iface", "an interface name", "none",
      "The local network interface to bind the connection to."),
    // ---- sys.conf -----------------------------------------------------------------------
    k(Scope::SysConf, HOST, "nqn", "an NQN, or file://PATH", "the contents of /etc/nvme/hostnqn",
      "The host NQN. It must start with nqn. and be at most 222 bytes, without spaces or \
       commas. The daemons do not start without a valid host NQN."),
    k(Scope::SysConf, HOST, "id", "a UUID, or file://PATH", "the contents of /etc/nvme/hostid",
      "The host ID. Keep it paired with the host NQN: the kernel refuses a second \
       connection that uses the same NQN with another ID."),
    k(Scope::SysConf, HOST, "key", "DHHC-1:<hash>:<base64>:, or file://PATH",
      "the contents of /etc/nvme/hostkey, if it exists",
      "The host's DH-HMAC-CHAP secret for in-band authentication. A dhchap-secret on a \
       controller= line wins over it. Never shown on D-Bus, by the clients or in logs; \
       prefer the file:// form with a file only root can read."),
    k(Scope::SysConf, HOST, "symname", "a string, or file://PATH", "none",
      "The host's symbolic name, sent to discovery controllers that take registrations \
       (TP8010)."),
];

/// The (section, options) table of `daemon`'s file in `layout`: the parser's own.
#[must_use]
pub fn service_options(
    daemon: Daemon,
    layout: Layout,
) -> &'static [(&'static str, &'static [&'static str])] {
    service::legal(daemon, layout)
}

/// The documentation of `key` of `section` in `daemon`'s file of `layout`.
#[must_use]
pub fn service_key(
    daemon: Daemon,
    layout: Layout,
    section: &str,
    key: &str,
) -> Option<&'static KeyDoc> {
    KEYS.iter().find(|d| {
        matches!(d.scope, Scope::Service { .. })
            && d.scope.covers(daemon, layout)
            && d.section == section
            && d.key == key
    })
}

/// The documentation of `section` in `daemon`'s file of `layout`.
#[must_use]
pub fn service_section(
    daemon: Daemon,
    layout: Layout,
    section: &str,
) -> Option<&'static SectionDoc> {
    SECTIONS.iter().find(|s| {
        matches!(s.scope, Scope::Service { .. })
            && s.scope.covers(daemon, layout)
            && s.name == section
    })
}

/// The keys of a 2.x `controller=` string `daemon` uses, in documentation order.
pub fn controller_keys(daemon: Daemon) -> impl Iterator<Item = &'static KeyDoc> {
    KEYS.iter().filter(move |d| {
        matches!(d.scope, Scope::Controller { .. }) && d.scope.covers(daemon, Layout::Stas2)
    })
}

/// The entries of `scope` (for [`Scope::NvmeConf`], in the parser's key order).
pub fn keys_of(scope: Scope) -> impl Iterator<Item = &'static KeyDoc> {
    KEYS.iter().filter(move |d| d.scope == scope)
}

/// The sections of nvme-stas.conf, in the parser's order, with their documentation.
pub fn nvmeconf_sections() -> impl Iterator<Item = (&'static str, Option<&'static SectionDoc>)> {
    Section::ALL.into_iter().map(|s| {
        let doc = SECTIONS
            .iter()
            .find(|d| d.scope == Scope::NvmeConf && d.name == s.name());
        (s.name(), doc)
    })
}

/// The sections of nvme-stas.conf the parser allows `key` in (none for an unknown key).
#[must_use]
pub fn nvmeconf_sections_of(key: &str) -> Vec<&'static str> {
    let Some(class) = nvmeconf_class(key) else {
        return Vec::new();
    };
    Section::ALL
        .into_iter()
        .filter(|s| class.allowed_in(*s))
        .map(Section::name)
        .collect()
}

fn nvmeconf_class(key: &str) -> Option<Class> {
    ini_keys::KEYS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, c)| *c)
}

/// Where `key` of nvme-stas.conf may be set on a `controller =` line, as the parser says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PerPath {
    /// On any controller line.
    Yes,
    /// Only on a controller line of a `[Discovery Controller]`.
    DiscoveryOnly,
    /// Never.
    No,
}

/// Whether the parser takes `key` on a `controller =` line (tried with a value of its type).
#[must_use]
pub fn nvmeconf_per_path(key: &str) -> PerPath {
    let sample = match nvmeconf_class(key) {
        Some(Class::Int) => "1",
        Some(Class::Bool | Class::SecurityBool) => "yes",
        Some(Class::Persistent) => "auto",
        Some(_) => "x",
        None => return PerPath::No,
    };
    let line = format!("transport=tcp;traddr=192.0.2.1;{key}={sample}");
    match (
        ini_keys::parse_controller(&line, false).is_ok(),
        ini_keys::parse_controller(&line, true).is_ok(),
    ) {
        (true, _) => PerPath::Yes,
        (false, true) => PerPath::DiscoveryOnly,
        (false, false) => PerPath::No,
    }
}

/// The keys of nvme-stas.conf in the parser's order (documented or not).
pub fn nvmeconf_keys() -> impl Iterator<Item = &'static str> {
    ini_keys::KEYS.iter().map(|(k, _)| *k)
}

/// The addressing keys of an nvme-stas.conf `controller =` line, in the parser's order.
#[must_use]
pub fn nvmeconf_address_keys() -> &'static [&'static str] {
    &ini_keys::ADDRESS_KEYS
}

/// The documentation of `key` in `scope` (nvme-stas.conf, sys.conf).
#[must_use]
pub fn key_doc(scope: Scope, key: &str) -> Option<&'static KeyDoc> {
    KEYS.iter().find(|d| d.scope == scope && d.key == key)
}

/// The keys of sys.conf's `[Host]`, in the parser's order.
#[must_use]
pub fn sysconf_keys() -> &'static [&'static str] {
    &HOST_KEYS
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;
    use crate::config::controller::{parse_controller, PARAM_KEYS};
    use crate::config::ini::{self, Diagnostics};
    use crate::config::ServiceConfig;
    use crate::model::trid::TID_KEYS;

    /// Every key a 2.x `controller=` line may hold without an "unknown key" warning is among
    /// these (the identity keys and the connection parameters; `persistent` is stafd's own).
    fn controller_candidates() -> impl Iterator<Item = &'static str> {
        TID_KEYS
            .into_iter()
            .chain(PARAM_KEYS)
            .chain(["persistent", "nqn"])
    }

    const DAEMONS: [Daemon; 2] = [Daemon::Stafd, Daemon::Stacd];
    const LAYOUTS: [Layout; 2] = [Layout::Stas2, Layout::Stas3];

    /// The combinations a service scope covers.
    fn covered(scope: Scope) -> Vec<(Daemon, Layout)> {
        DAEMONS
            .into_iter()
            .flat_map(|d| LAYOUTS.map(|l| (d, l)))
            .filter(|&(d, l)| scope.covers(d, l))
            .collect()
    }

    fn is_legal(d: Daemon, l: Layout, section: &str, key: Option<&str>) -> bool {
        service::legal(d, l)
            .iter()
            .any(|(s, keys)| *s == section && key.is_none_or(|k| keys.contains(&k)))
    }

    /// Whether stafd.conf / stacd.conf (2.x) takes `key` on a controller= line of `daemon`
    /// without calling it unknown; the key as the parser stores it.
    fn controller_key_accepted(daemon: Daemon, key: &str) -> Option<String> {
        let text = format!("[Controllers]\ncontroller = transport=tcp;traddr=192.0.2.1;{key}=1\n");
        let mut diags = Diagnostics::new(Path::new("test.conf"));
        let parsed = ini::parse(&text, &mut diags);
        let _ = ServiceConfig::from_ini(daemon, &parsed, &mut diags);
        let unknown = diags
            .into_sorted_vec()
            .iter()
            .any(|d| d.message.contains("unknown key"));
        let (dict, _) = parse_controller(&format!("{key}=1"), false);
        let stored = dict.0.keys().next().cloned();
        stored.filter(|_| !unknown)
    }

    #[test]
    fn every_service_option_and_section_is_documented_exactly_once() {
        for d in DAEMONS {
            for l in LAYOUTS {
                for (section, keys) in service::legal(d, l) {
                    let secs = SECTIONS
                        .iter()
                        .filter(|s| {
                            matches!(s.scope, Scope::Service { .. })
                                && s.scope.covers(d, l)
                                && s.name == *section
                        })
                        .count();
                    assert_eq!(
                        secs, 1,
                        "{d:?} {l:?} [{section}]: section documented {secs} times"
                    );
                    for key in *keys {
                        let n = KEYS
                            .iter()
                            .filter(|k| {
                                matches!(k.scope, Scope::Service { .. })
                                    && k.scope.covers(d, l)
                                    && k.section == *section
                                    && k.key == *key
                            })
                            .count();
                        assert_eq!(n, 1, "{d:?} {l:?} [{section}] {key}: documented {n} times");
                    }
                }
            }
        }
    }

    #[test]
    fn every_service_doc_names_an_option_the_parser_takes() {
        for doc in KEYS
            .iter()
            .filter(|k| matches!(k.scope, Scope::Service { .. }))
        {
            let combos = covered(doc.scope);
            assert!(!combos.is_empty(), "{doc:?} covers nothing");
            for (d, l) in combos {
                assert!(
                    is_legal(d, l, doc.section, Some(doc.key)),
                    "[{}] {} is documented for {d:?} {l:?}, where the parser refuses it",
                    doc.section,
                    doc.key
                );
            }
        }
        for doc in SECTIONS
            .iter()
            .filter(|s| matches!(s.scope, Scope::Service { .. }))
        {
            for (d, l) in covered(doc.scope) {
                assert!(
                    is_legal(d, l, doc.name, None),
                    "[{}] for {d:?} {l:?}",
                    doc.name
                );
            }
        }
    }

    #[test]
    fn every_controller_key_is_documented_and_no_other() {
        let pool: BTreeSet<&str> = controller_candidates()
            .chain(nvmeconf_keys())
            .chain(nvmeconf_address_keys().iter().copied())
            .chain(KEYS.iter().map(|k| k.key))
            .collect();
        for d in DAEMONS {
            // What the parser takes from `d`'s file, as stored (nqn is stored as subsysnqn).
            let legal: BTreeSet<String> = pool
                .iter()
                .filter_map(|k| controller_key_accepted(d, k))
                .collect();
            // What the pages document for `d` (a doc for one daemon only must be legal there).
            let documented: BTreeSet<String> = controller_keys(d)
                .map(|k| {
                    controller_key_accepted(d, k.key).unwrap_or_else(|| {
                        panic!("{}: documented for {d:?}, which calls it unknown", k.key)
                    })
                })
                .collect();
            // `persistent` is taken (and ignored) by stacd: documented for stafd only.
            let all_docs: BTreeSet<String> = KEYS
                .iter()
                .filter(|k| matches!(k.scope, Scope::Controller { .. }))
                .filter_map(|k| {
                    parse_controller(&format!("{}=1", k.key), false)
                        .0
                         .0
                        .into_keys()
                        .next()
                })
                .collect();
            for key in &legal {
                assert!(
                    all_docs.contains(key),
                    "controller key {key} ({d:?}) has no doc entry"
                );
            }
            assert!(documented.is_subset(&legal));
        }
    }

    #[test]
    fn every_nvmeconf_key_and_section_is_documented_and_no_other() {
        let parser: BTreeSet<&str> = nvmeconf_keys().collect();
        let docs: BTreeSet<&str> = keys_of(Scope::NvmeConf).map(|k| k.key).collect();
        assert_eq!(parser, docs, "nvme-stas.conf keys (parser) vs doc entries");
        assert_eq!(
            keys_of(Scope::NvmeConf).count(),
            docs.len(),
            "a key documented twice"
        );
        for key in parser {
            assert!(
                !nvmeconf_sections_of(key).is_empty(),
                "{key} allowed nowhere"
            );
        }
        let addr: BTreeSet<&str> = nvmeconf_address_keys().iter().copied().collect();
        let addr_docs: BTreeSet<&str> = keys_of(Scope::NvmeConfAddress).map(|k| k.key).collect();
        assert_eq!(
            addr, addr_docs,
            "controller = addressing keys (parser) vs doc entries"
        );
        for (name, doc) in nvmeconf_sections() {
            assert!(doc.is_some(), "[{name}] has no doc entry");
        }
        let sections = SECTIONS
            .iter()
            .filter(|s| s.scope == Scope::NvmeConf)
            .count();
        assert_eq!(sections, Section::ALL.len());
    }

    #[test]
    fn every_sysconf_key_is_documented_and_no_other() {
        let parser: BTreeSet<&str> = HOST_KEYS.into_iter().collect();
        let docs: BTreeSet<&str> = keys_of(Scope::SysConf).map(|k| k.key).collect();
        assert_eq!(parser, docs);
        assert!(keys_of(Scope::SysConf).all(|k| k.section == HOST));
    }

    #[test]
    fn per_path_keys_follow_the_parser() {
        assert_eq!(nvmeconf_per_path("keep-alive-tmo"), PerPath::Yes);
        assert_eq!(nvmeconf_per_path("persistent"), PerPath::DiscoveryOnly);
        assert_eq!(nvmeconf_per_path("tls"), PerPath::No);
        assert_eq!(nvmeconf_per_path("nqn"), PerPath::No);
    }

    #[test]
    fn every_entry_has_text() {
        for d in KEYS {
            assert!(!d.text.is_empty() && !d.value.is_empty(), "{d:?}");
        }
    }
}
