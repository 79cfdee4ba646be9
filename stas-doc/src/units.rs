//! The systemd unit pages: stafd.service(8), stacd.service(8), stas-config.target(8) and
//! stas-config@.service(8). Prose only, kept here (the units' `Documentation=` names them);
//! the hardening is described in general terms, the unit file is the list.

use crate::markup::Doc;
use crate::programs::paragraphs_into;
use crate::Output;

/// The four pages.
#[must_use]
pub fn pages() -> Vec<Output> {
    vec![
        daemon_unit("stafd"),
        daemon_unit("stacd"),
        page("stas-config.target", &STAS_CONFIG_TARGET),
        page("stas-config@.service", &STAS_CONFIG_SERVICE),
    ]
}

/// A page: NAME line, then (heading, paragraphs) sections in [`paragraphs_into`]'s form.
struct Page {
    name: &'static str,
    synopsis: &'static [&'static str],
    sections: &'static [(&'static str, &'static [&'static str])],
    see_also: &'static [&'static str],
}

fn page(unit: &str, p: &Page) -> Output {
    let mut doc = Doc::new(unit, "8");
    doc.sh("NAME").text(p.name);
    doc.sh("SYNOPSIS");
    for (i, s) in p.synopsis.iter().enumerate() {
        if i > 0 {
            doc.br();
        }
        doc.text(s);
    }
    for (heading, paragraphs) in p.sections {
        doc.sh(heading);
        paragraphs_into(&mut doc, paragraphs);
    }
    doc.see_also(p.see_also);
    Output {
        name: format!("{unit}.8"),
        text: doc.render(),
    }
}

fn daemon_unit(daemon: &'static str) -> Output {
    let p = match daemon {
        "stafd" => STAFD_SERVICE,
        _ => STACD_SERVICE,
    };
    page(&format!("{daemon}.service"), &p)
}

/// The sections both daemons' units share, with `D` standing for the daemon's name.
macro_rules! daemon_sections {
    ($d:literal, $bus:literal, $stop:literal) => {
        &[
            ("DESCRIPTION", &[
                concat!("**", $d, ".service** runs **", $d, "**(8) with **--syslog**, as root, \
                 once the NVMe-oF kernel modules are loaded and the host identity is provisioned \
                 (it wants **stas-config.target**(8)). Enable it with **systemctl enable --now ",
                 $d, ".service**."),
            ]),
            ("STARTUP AND STATUS", &[
                concat!("The unit is of Type=notify. ", $d, " reports READY=1 once it owns its \
                 D-Bus name (", $bus, "), so that units ordered after it find it on the bus; \
                 until then, and when it cannot start (not root, no /dev/nvme-fabrics, no valid \
                 host NQN or ID), the start fails with one line in the journal saying why. Its \
                 STATUS= (shown by **systemctl status**) follows the number of controllers."),
            ]),
            ("RELOAD", &[
                concat!("**systemctl reload ", $d, "** sends SIGHUP: ", $d, " reports \
                 RELOADING=1, re-reads its configuration (not sys.conf, read at start only) and \
                 applies it, then reports READY=1. A configuration that cannot be used (an error \
                 in nvme-stas.conf) is refused and the one in use is kept. Check a file first \
                 with **", $d, " --check-config**."),
            ]),
            ("STOP", &[$stop,
                concat!("The state is saved in /run/", $d, "/last-known-config.toml (the runtime \
                 directory is kept across restarts), so that the next ", $d, " adopts the \
                 connections it left instead of making them again."),
            ]),
            ("RESTART AND WATCHDOG", &[
                concat!("Restart=on-failure restarts ", $d, " when it fails. It exits with \
                 status 1, keeping every connection, when it loses its D-Bus connection (the \
                 bus was restarted) or the kernel's events; the new ", $d, " takes the \
                 connections over."),
                concat!("When the unit sets WatchdogSec=, ", $d, " sends WATCHDOG=1 from its \
                 core loop at half that interval. A core that stops turning (stuck) misses it: \
                 systemd then kills ", $d, " and, through Restart=, starts it again."),
            ]),
            ("SANDBOXING", &[
                concat!("The unit confines ", $d, " to what it needs to drive the kernel's NVMe \
                 stack: root with no capability beyond what its kernel requests need, write \
                 access to the NVMe fabrics devices, the fabrics class in sysfs, its runtime \
                 directory and the shared ownership registry under /run, a read-only view of \
                 the rest of the system without home directories, the socket families it uses \
                 (Unix, netlink, IPv4, IPv6) and a system call filter. **systemctl cat ", $d,
                 ".service** shows the exact settings; **systemd-analyze security ", $d,
                 ".service** rates them. A local change belongs in a drop-in (**systemctl edit \
                 ", $d, ".service**)."),
            ]),
            ("EXAMPLES", &[
                concat!("$ systemctl enable --now ", $d, ".service\nsystemctl reload ", $d,
                 "\njournalctl -u ", $d, ".service"),
            ]),
        ]
    };
}

const STAFD_SERVICE: Page = Page {
    name: "stafd.service - systemd unit of stafd, the NVMe-oF discovery daemon",
    synopsis: &["**stafd.service**"],
    sections: daemon_sections!(
        "stafd",
        "org.nvmexpress.staf",
        "**systemctl stop stafd** sends SIGTERM: stafd reports STOPPING=1 and exits. The \
         discovery controller connections stay in the kernel (unless persistent-connections = \
         false in a 2.x stafd.conf), and so do the I/O connections stacd made."
    ),
    see_also: &[
        "stafd(8)",
        "stafd.conf(5)",
        "stacd.service(8)",
        "stas-config.target(8)",
        "systemd.service(5)",
        "systemd-analyze(1)",
    ],
};

const STACD_SERVICE: Page = Page {
    name: "stacd.service - systemd unit of stacd, the NVMe-oF connection daemon",
    synopsis: &["**stacd.service**"],
    sections: daemon_sections!(
        "stacd",
        "org.nvmexpress.stac",
        "**systemctl stop stacd** sends SIGTERM: stacd reports STOPPING=1 and exits, keeping \
         every I/O connection in the kernel: stopping the service never takes storage away \
         from the host. Disconnect a controller with nvme-cli if it must go."
    ),
    see_also: &[
        "stacd(8)",
        "stacd.conf(5)",
        "stafd.service(8)",
        "stas-config.target(8)",
        "systemd.service(5)",
        "systemd-analyze(1)",
    ],
};

const STAS_CONFIG_TARGET: Page = Page {
    name: "stas-config.target - provisioning of the host identity for stafd and stacd",
    synopsis: &["**stas-config.target**"],
    sections: &[(
        "DESCRIPTION",
        &[
            "**stafd.service**(8) and **stacd.service**(8) want this target and start after \
             it. It pulls in **stas-config@hostnqn.service** and \
             **stas-config@hostid.service** (**stas-config@.service**(8)), which create \
             /etc/nvme/hostnqn and /etc/nvme/hostid when they are missing or empty, so that \
             the daemons start with a host identity on a freshly installed host.",
            "The target is part of both daemons' units: stopping or restarting either of them \
             stops or restarts it too. Provisioning does nothing when the files have content.",
        ],
    )],
    see_also: &[
        "stas-config@.service(8)",
        "stafd.service(8)",
        "stacd.service(8)",
        "stasadm(8)",
        "systemd.target(5)",
    ],
};

const STAS_CONFIG_SERVICE: Page = Page {
    name: "stas-config@.service - create /etc/nvme/hostnqn or /etc/nvme/hostid when missing",
    synopsis: &["**stas-config@hostnqn.service**", "**stas-config@hostid.service**"],
    sections: &[
        ("DESCRIPTION", &[
            "An instance of this template creates the file of /etc/nvme it is named after, \
             when that file is missing or empty, by running **stasadm** __INSTANCE__ **-f** \
             /etc/nvme/__INSTANCE__ once (Type=oneshot): **stasadm hostnqn -f \
             /etc/nvme/hostnqn** writes the host NQN nvme-stas would derive for the machine, \
             **stasadm hostid -f /etc/nvme/hostid** the host ID that goes with it. Both also \
             record the file in /etc/stas/sys.conf (nqn = file:///etc/nvme/hostnqn, id = \
             file:///etc/nvme/hostid). A file with content is left alone: the instance is \
             skipped by its condition, and an existing identity is never replaced.",
            "The host ID is the UUID of the host NQN, so stas-config@hostid.service is ordered \
             after stas-config@hostnqn.service (a drop-in of the hostid instance). Both \
             instances are wanted by **stas-config.target**(8), itself wanted by the \
             daemons' units.",
        ]),
        ("EXAMPLES", &[
            "Provision the identity now, as at boot:",
            "$ systemctl start stas-config.target",
            "Check the identity the daemons will use:",
            "$ stasadm check-config",
        ]),
    ],
    see_also: &["stas-config.target(8)", "stasadm(8)", "sys.conf(5)", "stafd.service(8)",
        "stacd.service(8)"],
};
