//! The configuration file pages: stafd.conf(5), stacd.conf(5), sys.conf(5) and
//! nvme-stas.conf(5). The keys, their sections and the daemons and layouts they apply to are
//! the parsers' own tables (through `libstas::config::doc`); each key's text is that module's
//! entry; the prose around them is here.

use libstas::config::doc::{self, KeyDoc, PerPath, Scope};
use libstas::config::service::Layout;
use libstas::config::Daemon;
use roff::{bold, italic, roman};

use crate::markup::Doc;
use crate::programs::paragraphs_into;
use crate::Output;

/// The four pages.
#[must_use]
pub fn pages() -> Vec<Output> {
    vec![
        Output {
            name: "stafd.conf.5".into(),
            text: service_page(Daemon::Stafd),
        },
        Output {
            name: "stacd.conf.5".into(),
            text: service_page(Daemon::Stacd),
        },
        Output {
            name: "sys.conf.5".into(),
            text: sys_conf_page(),
        },
        Output {
            name: "nvme-stas.conf.5".into(),
            text: nvme_stas_conf_page(),
        },
    ]
}

/// `.TP` of one key: `key = value`, then its text and default.
fn key_entry(doc: &mut Doc, d: &KeyDoc, extra: &str) {
    let head = vec![bold(d.key), roman(" = "), italic(d.value)];
    let mut body = d.text.to_owned();
    if !extra.is_empty() {
        body.push(' ');
        body.push_str(extra);
    }
    match d.default {
        "" => {}
        "required" => body.push_str(" Required."),
        default => body.push_str(&format!(" Default: {default}.")),
    }
    doc.tp_inlines(head, "");
    doc.inlines(vec![roman(body)]);
}

/// The options of `daemon`'s file in `layout`, section by section, from the parser's table.
fn options(doc: &mut Doc, daemon: Daemon, layout: Layout) {
    for (section, keys) in doc::service_options(daemon, layout) {
        doc.ss(&format!("[{section}]"));
        if let Some(s) = doc::service_section(daemon, layout, section) {
            doc.inlines(vec![roman(s.text)]);
        }
        for key in *keys {
            let d = doc::service_key(daemon, layout, section, key)
                .unwrap_or_else(|| panic!("[{section}] {key} has no documentation"));
            key_entry(doc, d, "");
        }
    }
}

fn service_page(daemon: Daemon) -> String {
    let name = daemon.name();
    let (what, other, client) = match daemon {
        Daemon::Stafd => ("the NVMe-oF discovery daemon", "stacd", "stafctl"),
        Daemon::Stacd => ("the NVMe-oF connection daemon", "stafd", "stacctl"),
    };
    let mut doc = Doc::new(&format!("{name}.conf"), "5");
    doc.sh("NAME")
        .text(&format!("{name}.conf - configuration of {name}, {what}"));
    doc.sh("SYNOPSIS")
        .text(&format!("__/etc/stas/{name}.conf__ (2.x layout)"))
        .br()
        .text(&format!("__/etc/nvme/{name}.conf__ (3.x layout)"));
    doc.sh("DESCRIPTION");
    doc.p(&format!(
        "**{name}**(8) reads this file at start and again on **systemctl reload {name}** \
         (SIGHUP). Which of the two files it reads depends on the host's configuration \
         layout: __/etc/stas/{name}.conf__ in the 2.x layout (that of nvme-stas 2.x); \
         __/etc/nvme/{name}.conf__ when __/etc/nvme/nvme-stas.conf__ exists (the 3.x layout, \
         described below), where the file keeps only the daemon's own behaviour."
    ));
    doc.p(
        "The file is made of sections, a name in brackets (case-sensitive), followed by \
         **option = value** lines (option names are not case-sensitive). Lines starting with \
         # or ; are comments. A # after a space ends the value (with a warning). A missing \
         file, section or option means the default. A bad line or value never stops the \
         daemon: it is reported with file and line, and the option keeps its default (an \
         invalid per-controller value falls back to [Global]).",
    );
    doc.p(&format!(
        "Check a file with **{name} --check-config** __FILE__: every problem is printed with \
         its line, and the exit status is 1 if one is an error. The file the package installs \
         lists every option, commented out, with its default."
    ));
    doc.sh("OPTIONS");
    options(&mut doc, daemon, Layout::Stas2);
    controller_strings(&mut doc, daemon);
    doc.sh("THE 3.x LAYOUT");
    doc.p(&format!(
        "When __/etc/nvme/nvme-stas.conf__ exists (or {name} is given **--conn-conf-file**), \
         the controllers, their connection parameters and the host identity are in that file \
         and its drop-ins (**nvme-stas.conf**(5)), exclusions in __/etc/nvme/exclusions.conf__, \
         and {name} reads __/etc/nvme/{name}.conf__ instead of this file. It has the same \
         syntax and takes these options:"
    ));
    options(&mut doc, daemon, Layout::Stas3);
    let moved = moved_options(daemon);
    doc.p(&format!(
        "The options of the 2.x file that moved or went away ({}) are reported as errors \
         there, with where they went, and ignored. **stasadm migrate** writes the 3.x files \
         from the 2.x ones.",
        moved.join(", ")
    ));
    doc.sh("EXAMPLE");
    match daemon {
        Daemon::Stafd => doc.verbatim([
            "[Global]",
            "ip-family = ipv4",
            "",
            "[Service Discovery]",
            "zeroconf = disabled",
            "",
            "[Controllers]",
            "controller = transport=tcp;traddr=192.0.2.10;trsvcid=8009",
            "exclude = transport=tcp;traddr=192.0.2.99",
        ]),
        Daemon::Stacd => doc.verbatim([
            "[Global]",
            "ctrl-loss-tmo = -1",
            "",
            "[Controllers]",
            "controller = transport=tcp;traddr=192.0.2.20;trsvcid=4420;nqn=nqn.2014-08.com.example:array1",
        ]),
    };
    doc.sh("FILES");
    paragraphs_into(
        &mut doc,
        &[
            &format!("- __/etc/stas/{name}.conf__: This file (2.x layout)."),
            &format!("- __/etc/nvme/{name}.conf__: This file (3.x layout)."),
            "- __/usr/share/stas/etc-nvme/__: Commented samples of the 3.x files (installing \
             them in __/etc/nvme__ would switch the host to the 3.x layout).",
        ],
    );
    doc.see_also(&[
        &format!("{name}(8)"),
        &format!("{other}.conf(5)"),
        "nvme-stas.conf(5)",
        "sys.conf(5)",
        &format!("{client}(1)"),
        "stasadm(8)",
    ]);
    doc.render()
}

/// The 2.x options with no place in the 3.x file.
fn moved_options(daemon: Daemon) -> Vec<String> {
    let stas3: Vec<&str> = doc::service_options(daemon, Layout::Stas3)
        .iter()
        .flat_map(|(_, keys)| keys.iter().copied())
        .collect();
    let mut moved: Vec<String> = Vec::new();
    for (section, keys) in doc::service_options(daemon, Layout::Stas2) {
        for key in *keys {
            let key = if *section == libstas::config::service::sections::CONTROLLERS {
                format!("the [{section}] section")
            } else {
                (*key).to_owned()
            };
            if !stas3.contains(&key.as_str()) && !moved.contains(&key) {
                moved.push(key);
            }
        }
    }
    moved
}

/// CONTROLLER STRINGS: the keys of `controller=` and `exclude=`.
fn controller_strings(doc: &mut Doc, daemon: Daemon) {
    doc.sh("CONTROLLER STRINGS");
    doc.p(
        "A controller= or exclude= value is a list of key=value pairs separated by \
         semicolons; spaces around keys and values are ignored. No value may contain a comma, \
         and only the secrets may contain =. A token that is not key=value, or that names an \
         unknown key, is reported. The keys:",
    );
    for d in doc::controller_keys(daemon) {
        key_entry(doc, d, "");
    }
}

fn sys_conf_page() -> String {
    let mut doc = Doc::new("sys.conf", "5");
    doc.sh("NAME")
        .text("sys.conf - host identity of stafd and stacd");
    doc.sh("SYNOPSIS").text("__/etc/stas/sys.conf__");
    doc.sh("DESCRIPTION");
    doc.p(
        "**stafd**(8) and **stacd**(8) read the host's NVMe identity from this file at start \
         (not on reload). **stasadm**(8) creates and edits it (hostnqn, hostid, set-symname, \
         clear-symname), keeping its comments and other lines; **stasadm check-config** checks \
         it. The package installs a commented __/etc/stas/sys.conf.doc__, not the file itself.",
    );
    doc.p(
        "The syntax is that of **stafd.conf**(5). Each value is either written in the file, \
         or given as **file://**__PATH__: then the value is the first word of the first line \
         of __PATH__. A missing value is taken from nvme-cli's files in __/etc/nvme__.",
    );
    doc.p(
        "In the 3.x layout (when __/etc/nvme/nvme-stas.conf__ exists) this file is not read: \
         the identity is the [Host] section of **nvme-stas.conf**(5), else __/etc/nvme/hostnqn__ \
         and __/etc/nvme/hostid__.",
    );
    doc.sh("OPTIONS");
    for section in [libstas::config::sysconf::HOST] {
        doc.ss(&format!("[{section}]"));
        for key in doc::sysconf_keys() {
            let d = doc::key_doc(Scope::SysConf, key).expect("documented (libstas tests)");
            key_entry(&mut doc, d, "");
        }
    }
    doc.sh("EXAMPLE");
    doc.verbatim([
        "[Host]",
        "nqn = file:///etc/nvme/hostnqn",
        "id = file:///etc/nvme/hostid",
        "symname = my-storage-host",
    ]);
    doc.sh("FILES");
    paragraphs_into(
        &mut doc,
        &[
            "- __/etc/stas/sys.conf__: This file.",
            "- __/etc/nvme/hostnqn__, __/etc/nvme/hostid__, __/etc/nvme/hostkey__: The defaults \
             of nqn, id and key.",
        ],
    );
    doc.see_also(&[
        "stasadm(8)",
        "stafd(8)",
        "stacd(8)",
        "stafd.conf(5)",
        "nvme-stas.conf(5)",
    ]);
    doc.render()
}

fn nvme_stas_conf_page() -> String {
    let mut doc = Doc::new("nvme-stas.conf", "5");
    doc.sh("NAME").text(
        "nvme-stas.conf - controllers, connection parameters and host identity of stafd and \
         stacd (3.x layout)",
    );
    doc.sh("SYNOPSIS")
        .text("__/etc/nvme/nvme-stas.conf__")
        .br()
        .text("__/etc/nvme/nvme-stas.conf.d/*.conf__");
    doc.sh("DESCRIPTION");
    doc.p(
        "The presence of __/etc/nvme/nvme-stas.conf__ puts the host on the 3.x configuration \
         layout (that of nvme-stas 3.x): **stafd**(8) and **stacd**(8) then read it and its \
         drop-ins (the files __*.conf__ of __nvme-stas.conf.d/__, in byte order) for the \
         controllers, their connection parameters and the host identity, and \
         __/etc/nvme/stafd.conf__ and __/etc/nvme/stacd.conf__ for their own behaviour \
         (**stafd.conf**(5), **stacd.conf**(5)); __/etc/stas__ is no longer read. \
         **stasadm migrate** writes it from a 2.x configuration.",
    );
    doc.p(
        "The format is libnvme's strict INI dialect: [Section] headers and key = value lines; \
         section names and keys are case-sensitive; only whole lines starting with # are \
         comments (a # after a value is an error); integers are C literals (0x10 is 16, 010 \
         is 8); booleans are yes/no, true/false, on/off or 1/0. An empty value (ctrl-loss-tmo \
         =) resets the key: the kernel's default applies even when an outer level sets it. Any \
         error rejects the whole configuration; a reload then keeps the configuration in use. \
         Check it with **stafd --check-config** or **stacd --check-config**.",
    );
    doc.sh("SECTIONS");
    for (name, d) in doc::nvmeconf_sections() {
        let text = d.map_or("", |d| d.text);
        doc.tp(&format!("**[{name}]**"), text);
    }
    doc.sh("KEYS");
    doc.p("Each key, with the sections it may appear in:");
    for key in doc::nvmeconf_keys() {
        let d = doc::key_doc(Scope::NvmeConf, key).expect("documented (libstas tests)");
        let sections: Vec<String> = doc::nvmeconf_sections_of(key)
            .iter()
            .map(|s| format!("[{s}]"))
            .collect();
        let per_path = match doc::nvmeconf_per_path(key) {
            PerPath::Yes => " Also on a controller line.",
            PerPath::DiscoveryOnly => " Also on a controller line of a [Discovery Controller].",
            PerPath::No => "",
        };
        let every = sections.len() == doc::nvmeconf_sections().count();
        let extra = if every {
            format!("In every section.{per_path}")
        } else {
            format!("In {}.{per_path}", sections.join(", "))
        };
        key_entry(&mut doc, d, &extra);
    }
    doc.sh("CONTROLLER LINES");
    doc.p(
        "A controller line of a [Discovery Controller] or [Subsystem] is one path to it: \
         key=value pairs separated by semicolons, with these addressing keys (transport and \
         traddr are required), and the per-path keys named above. Security keys cannot be set \
         per path: they belong to the (host NQN, subsystem NQN) pair.",
    );
    for key in doc::nvmeconf_address_keys() {
        let d = doc::key_doc(Scope::NvmeConfAddress, key).expect("documented (libstas tests)");
        key_entry(&mut doc, d, "");
    }
    doc.sh("PRECEDENCE");
    doc.p(
        "A controller gets each parameter from the most specific place that sets it: its \
         controller line, then its section, then the file's [Host], then [Discovery Controller \
         Defaults] or [I/O Controller Defaults], then the kernel's default. The controllers \
         found through mDNS and through the main file's discovery controllers take the main \
         file's defaults; those learned through a drop-in's discovery controller (the I/O \
         controllers of its log, its referrals) take that drop-in's defaults, secrets and \
         persona.",
    );
    doc.p(
        "Every key maps to the kernel's connect option of the same name (keep-alive-tmo to \
         keep_alive_tmo, kxchap-secret to dhchap_secret, and so on). A kernel that lacks a \
         requested security option (tls, concat, keyring, tls-key) refuses the connection \
         rather than connecting without it.",
    );
    doc.sh("EXAMPLE");
    doc.verbatim([
        "[Discovery Controller]",
        "nqn = nqn.2014-08.org.nvmexpress.discovery",
        "controller = transport=tcp;traddr=192.0.2.10;trsvcid=8009;host-iface=eth1",
        "",
        "[Subsystem]",
        "nqn = nqn.2024-01.com.example:vol1",
        "controller = transport=tcp;traddr=192.0.2.20;trsvcid=4420;reconnect-delay=5",
        "",
        "[Discovery Controller Defaults]",
        "persistent = auto",
        "",
        "[Host]",
        "hostsymname = my-storage-host",
    ]);
    doc.sh("FILES");
    paragraphs_into(
        &mut doc,
        &[
            "- __/etc/nvme/nvme-stas.conf__: This file; its presence selects the 3.x layout.",
            "- __/etc/nvme/nvme-stas.conf.d/*.conf__: Drop-ins, each possibly a persona of its \
             own.",
            "- __/usr/share/stas/etc-nvme/nvme-stas.conf__: A commented sample.",
        ],
    );
    doc.see_also(&[
        "stafd(8)",
        "stacd(8)",
        "stafd.conf(5)",
        "stacd.conf(5)",
        "stasadm(8)",
        "nvme-fabrics.conf(5)",
    ]);
    doc.render()
}
