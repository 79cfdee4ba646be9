//! The programs' pages: clap_mangen renders NAME, SYNOPSIS, DESCRIPTION and OPTIONS from
//! the binaries' own clap definitions; the subcommands (with their options) and the
//! `after_help` text are rendered here from the same definitions; the prose sections
//! (more description, files, signals, exit status, examples, see also) follow.

use clap::{Arg, ArgAction, Command, CommandFactory};
use clap_mangen::Man;
use libstas::config::Daemon;
use libstas::dbus::ctl::{StacctlArgs, StafctlArgs};
use roff::{bold, italic, roman, Inline};

use crate::markup::{strip_preamble, Doc};
use crate::Output;

/// The clap command of every program, named as installed.
#[must_use]
pub fn commands() -> Vec<Command> {
    vec![
        libstas::cli::command(Daemon::Stafd),
        libstas::cli::command(Daemon::Stacd),
        StafctlArgs::command(),
        StacctlArgs::command(),
        stasadm::Cli::command(),
        stas_cdc::cli::Args::command(),
    ]
}

/// The page of each program.
#[must_use]
pub fn pages() -> Vec<Output> {
    commands()
        .into_iter()
        .map(|cmd| {
            let name = cmd.get_name().to_owned();
            let (section, prose) = prose(&name);
            Output {
                name: format!("{name}.{section}"),
                text: page(cmd, section, &prose),
            }
        })
        .collect()
}

/// The prose of a program's page, around the generated sections.
struct Prose {
    /// Paragraphs appended to DESCRIPTION.
    description: &'static [&'static str],
    /// The heading of the `after_help` text (its heading-like paragraphs get their own).
    after_help: &'static str,
    /// Sections after the options and commands: (heading, paragraphs); a paragraph
    /// starting with `$ ` is a verbatim block of lines, `- TAG: text` a tagged paragraph.
    sections: &'static [(&'static str, &'static [&'static str])],
    /// SEE ALSO.
    see_also: &'static [&'static str],
}

fn page(cmd: Command, section: &str, prose: &Prose) -> String {
    let mut cmd = cmd;
    cmd.build();
    let man = Man::new(cmd.clone()).section(section);
    let mut out = Doc::new(cmd.get_name(), section).render();
    let part = |out: &mut String, render: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| {
        let mut buf = Vec::new();
        render(&mut buf).expect("rendering into memory");
        out.push_str(&strip_preamble(&String::from_utf8_lossy(&buf)));
    };
    part(&mut out, &|w| man.render_name_section(w));
    part(&mut out, &|w| man.render_synopsis_section(w));
    part(&mut out, &|w| man.render_description_section(w));
    let mut doc = Doc::part();
    for p in prose.description {
        doc.p(p);
    }
    out.push_str(&doc.render_part());
    part(&mut out, &|w| man.render_options_section(w));
    let mut doc = Doc::part();
    subcommands(&mut doc, &cmd);
    if let Some(text) = cmd.get_after_long_help().or_else(|| cmd.get_after_help()) {
        after_help(&mut doc, &text.to_string(), prose.after_help);
    }
    for (heading, paragraphs) in prose.sections {
        doc.sh(heading);
        paragraphs_into(&mut doc, paragraphs);
    }
    doc.see_also(prose.see_also);
    out.push_str(&doc.render_part());
    out
}

/// Paragraphs of prose: `$ ` starts a verbatim block (one line per `\n`), `- TAG: text` a
/// tagged paragraph, anything else a plain paragraph.
pub(crate) fn paragraphs_into(doc: &mut Doc, paragraphs: &[&str]) {
    for p in paragraphs {
        if let Some(block) = p.strip_prefix("$ ") {
            doc.verbatim(block.lines());
        } else if let Some((tag, body)) = p.strip_prefix("- ").and_then(|t| t.split_once(": ")) {
            doc.tp(tag, body);
        } else {
            doc.p(p);
        }
    }
}

/// COMMANDS: each subcommand with its arguments, from its clap definition.
fn subcommands(doc: &mut Doc, cmd: &Command) {
    let subs: Vec<&Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .collect();
    if subs.is_empty() {
        return;
    }
    doc.sh("COMMANDS");
    for sub in subs {
        let args: Vec<&Arg> = sub
            .get_arguments()
            .filter(|a| !a.is_hide_set() && !a.is_global_set() && a.get_id() != "help")
            .collect();
        let mut title = sub.get_name().to_owned();
        if args.iter().any(|a| !a.is_positional()) {
            title.push_str(" [OPTIONS]");
        }
        for p in args.iter().filter(|a| a.is_positional()) {
            title.push_str(&format!(" {}", value_name(p)));
        }
        doc.ss(&title);
        if let Some(about) = sub.get_long_about().or_else(|| sub.get_about()) {
            for para in about.to_string().split("\n\n") {
                doc.inlines(vec![roman(para.replace('\n', " "))]);
                doc.br();
            }
        }
        for a in args {
            let help = a
                .get_long_help()
                .or_else(|| a.get_help())
                .map(ToString::to_string)
                .unwrap_or_default();
            doc.tp_inlines(arg_head(a), "");
            doc.inlines(vec![roman(help)]);
        }
    }
}

fn value_name(a: &Arg) -> String {
    let name = a
        .get_value_names()
        .and_then(|v| v.first())
        .map_or_else(|| a.get_id().as_str().to_uppercase(), ToString::to_string);
    format!("<{name}>")
}

/// `-t, --transport <TRANSPORT> [default: tcp] [possible values: …]`.
fn arg_head(a: &Arg) -> Vec<Inline> {
    if a.is_positional() {
        return vec![italic(value_name(a))];
    }
    let mut head = Vec::new();
    if let Some(s) = a.get_short() {
        head.push(bold(format!("-{s}")));
    }
    if let Some(l) = a.get_long() {
        if !head.is_empty() {
            head.push(roman(", "));
        }
        head.push(bold(format!("--{l}")));
    }
    let takes = a.get_num_args().is_some_and(|n| n.takes_values())
        && !matches!(
            a.get_action(),
            ArgAction::SetTrue | ArgAction::SetFalse | ArgAction::Count
        );
    if takes {
        head.push(roman(" "));
        head.push(italic(value_name(a)));
        let defaults: Vec<String> = a
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .filter(|v| !v.is_empty())
            .collect();
        if !defaults.is_empty() && !a.is_hide_default_value_set() {
            head.push(roman(format!(" [default: {}]", defaults.join(", "))));
        }
        let values: Vec<String> = a
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| v.get_name().to_owned())
            .collect();
        if !values.is_empty() && !a.is_hide_possible_values_set() {
            head.push(roman(format!(" [possible values: {}]", values.join(", "))));
        }
    }
    head
}

/// The `after_help` text under `heading`: a short paragraph ending in `:` followed by
/// indented lines becomes a section of its own (`Exit status:` → EXIT STATUS) whose
/// `  TAG   text` lines are tagged paragraphs; other indented lines are shown verbatim.
fn after_help(doc: &mut Doc, text: &str, heading: &str) {
    let mut opened = false;
    for para in text.split("\n\n") {
        let lines: Vec<&str> = para.lines().collect();
        let Some(first) = lines.first() else {
            continue;
        };
        let rest = &lines[1..];
        let heading_like = !first.starts_with(' ')
            && first.ends_with(':')
            && first.split_whitespace().count() <= 3
            && !rest.is_empty()
            && rest.iter().all(|l| l.starts_with(' '));
        if heading_like {
            doc.sh(&first.trim_end_matches(':').to_uppercase());
            opened = true;
            for l in rest {
                match l.trim().split_once("  ") {
                    Some((tag, body)) => doc.tp(tag, body.trim()),
                    None => doc.verbatim([l.trim()]),
                };
            }
            continue;
        }
        if !opened {
            doc.sh(heading);
            opened = true;
        }
        let prose: Vec<&str> = lines
            .iter()
            .copied()
            .take_while(|l| !l.starts_with(' '))
            .collect();
        if !prose.is_empty() {
            doc.p(&prose.join(" "));
        }
        let block = &lines[prose.len()..];
        if !block.is_empty() {
            doc.verbatim(block.iter().map(|l| l.strip_prefix("  ").unwrap_or(l)));
        }
    }
}

/// Section and prose of each program.
fn prose(name: &str) -> (&'static str, Prose) {
    match name {
        "stafd" => ("8", STAFD),
        "stacd" => ("8", STACD),
        "stafctl" => ("1", STAFCTL),
        "stacctl" => ("1", STACCTL),
        "stasadm" => ("8", STASADM),
        "stas-cdc" => ("1", STAS_CDC),
        other => unreachable!("no prose for {other}"),
    }
}

const CONFIG_LAYOUTS: &str = "The files depend on the host's configuration layout. In the \
    2.x layout (that of nvme-stas 2.x) everything is in __/etc/stas__. The 3.x layout applies \
    when __/etc/nvme/nvme-stas.conf__ exists, or **--conn-conf-file** is given: the \
    controllers, their connection parameters and the host identity are in that file and \
    its drop-ins (**nvme-stas.conf**(5)), the daemon's own behaviour in a file of the same \
    name in __/etc/nvme__. The daemon logs which layout it runs on at start; **status** of \
    its client shows it.";

const CONFIG_ERRORS: &str = "A bad line or value in a 2.x file, or in the daemon's own \
    file, never stops the daemon: it is logged with file and line, and the option keeps its \
    default. An error in nvme-stas.conf rejects the whole file (libnvme's rule); a reload \
    then keeps the configuration in use. Check the files with **--check-config** before a \
    reload.";

const STAFD: Prose = Prose {
    description: &[
        "**stafd** finds the NVMe over Fabrics discovery controllers of the host and keeps \
         their discovery log pages: the controllers of its configuration, those announced on \
         the local networks with mDNS (TP8009, through **avahi-daemon**(8)), and the \
         referrals their log pages name. It connects to each through the kernel \
         (__/dev/nvme-fabrics__), reads its log page, registers the host with controllers \
         that take registrations (TP8010), and reads the page again when the controller \
         reports a change. **stacd**(8) connects the I/O controllers the log pages list.",
        "stafd serves what it knows on the D-Bus system bus as __org.nvmexpress.staf__, which \
         **stafctl**(1) queries. It replaces nvme-stas's stafd: same options, files and D-Bus \
         interface. It runs as root, normally as **stafd.service**(8).",
    ],
    after_help: "NOTES",
    sections: &[
        ("CONFIGURATION", &[CONFIG_LAYOUTS, CONFIG_ERRORS,
            "See **stafd.conf**(5), **nvme-stas.conf**(5) and **sys.conf**(5)."]),
        ("SIGNALS", &[
            "- **SIGHUP**: Re-read the configuration (not sys.conf, which is read at start \
             only), then connect what was added and disconnect what was removed.",
            "- **SIGTERM**, **SIGINT**: Stop. The discovery controller connections stay in the \
             kernel unless persistent-connections = false (2.x layout); the controller list is \
             saved, so that the next stafd adopts them instead of connecting again.",
        ]),
        ("FILES", &[
            "- __/etc/stas/stafd.conf__, __/etc/stas/sys.conf__: The configuration and the \
             host identity (2.x layout).",
            "- __/etc/nvme/nvme-stas.conf__, __/etc/nvme/nvme-stas.conf.d/*.conf__, \
             __/etc/nvme/stafd.conf__: The configuration (3.x layout).",
            "- __/etc/nvme/hostnqn__, __/etc/nvme/hostid__: The host NQN and ID when the \
             configuration names none.",
            "- __/etc/nvme/exclusions.conf__, __/etc/nvme/exclusions.conf.d/*.conf__: \
             nvme-cli's exclusion list: controllers never to connect.",
            "- __/run/stafd/last-known-config.toml__: The state a restarted stafd starts from.",
            "- __/run/nvme/registry__: nvme-cli's registry of which program owns which \
             controller.",
        ]),
        ("EXIT STATUS", &[
            "- 0: Stopped by a signal; --version; --check-config found no error.",
            "- 1: Cannot start (not root, no __/dev/nvme-fabrics__, no valid host NQN or ID); \
             lost its D-Bus connection or the kernel's events (every connection is kept, for \
             systemd to restart it); --check-config found an error.",
            "- 2: Invalid command line.",
        ]),
        ("EXAMPLES", &[
            "Check the configuration in use, then apply it:",
            "$ stafd --check-config\nsystemctl reload stafd",
            "Check the 3.x connection file and its drop-ins:",
            "$ stafd --check-config /etc/nvme/nvme-stas.conf",
            "Run in the foreground with debug logging (stop the service first):",
            "$ stafd --tron",
        ]),
    ],
    see_also: &["stacd(8)", "stafctl(1)", "stafd.conf(5)", "nvme-stas.conf(5)", "sys.conf(5)",
        "stafd.service(8)", "stasadm(8)", "nvme(1)"],
};

const STACD: Prose = Prose {
    description: &[
        "**stacd** connects the host to the NVMe over Fabrics I/O controllers it should use: \
         those the discovery log pages of **stafd**(8) list (it follows stafd over D-Bus), \
         and those of its own configuration, less the excluded ones. When a controller is no \
         longer wanted it disconnects it, as far as its configuration allows, and never \
         because stafd is stopped or restarting. Controllers another program owns (nvme-cli's \
         registry, the firmware's boot paths) are never touched.",
        "stacd serves what it knows on the D-Bus system bus as __org.nvmexpress.stac__, which \
         **stacctl**(1) queries. It replaces nvme-stas's stacd: same options, files and D-Bus \
         interface. It runs as root, normally as **stacd.service**(8).",
    ],
    after_help: "NOTES",
    sections: &[
        (
            "CONFIGURATION",
            &[
                CONFIG_LAYOUTS,
                CONFIG_ERRORS,
                "See **stacd.conf**(5), **nvme-stas.conf**(5) and **sys.conf**(5).",
            ],
        ),
        (
            "SIGNALS",
            &[
                "- **SIGHUP**: Re-read the configuration (not sys.conf, which is read at start \
             only) and apply it to the controllers.",
                "- **SIGTERM**, **SIGINT**: Stop, keeping every I/O connection in the kernel; the \
             controller list is saved, so that the next stacd adopts them.",
            ],
        ),
        (
            "FILES",
            &[
                "- __/etc/stas/stacd.conf__, __/etc/stas/sys.conf__: The configuration and the \
             host identity (2.x layout).",
                "- __/etc/nvme/nvme-stas.conf__, __/etc/nvme/nvme-stas.conf.d/*.conf__, \
             __/etc/nvme/stacd.conf__: The configuration (3.x layout).",
                "- __/etc/nvme/hostnqn__, __/etc/nvme/hostid__, __/etc/nvme/hostkey__: The host \
             NQN, ID and DH-HMAC-CHAP key when the configuration names none.",
                "- __/etc/nvme/exclusions.conf__, __/etc/nvme/exclusions.conf.d/*.conf__: \
             nvme-cli's exclusion list: controllers never to connect.",
                "- __/run/stacd/last-known-config.toml__: The state a restarted stacd starts from.",
                "- __/run/nvme/registry__: nvme-cli's registry of which program owns which \
             controller.",
            ],
        ),
        (
            "EXIT STATUS",
            &[
                "- 0: Stopped by a signal; --version; --check-config found no error.",
                "- 1: Cannot start (not root, no __/dev/nvme-fabrics__, no valid host NQN or ID); \
             lost its D-Bus connection or the kernel's events (every connection is kept, for \
             systemd to restart it); --check-config found an error.",
                "- 2: Invalid command line.",
            ],
        ),
        (
            "EXAMPLES",
            &[
                "Check the configuration in use, then apply it:",
                "$ stacd --check-config\nsystemctl reload stacd",
            ],
        ),
    ],
    see_also: &[
        "stafd(8)",
        "stacctl(1)",
        "stacd.conf(5)",
        "nvme-stas.conf(5)",
        "sys.conf(5)",
        "stacd.service(8)",
        "stasadm(8)",
        "nvme(1)",
    ],
};

const STAFCTL: Prose = Prose {
    description: &[
        "**stafctl** asks **stafd**(8) over the D-Bus system bus what it found: its discovery \
         controllers, their state and their discovery log pages. It can also switch stafd's \
         debug logging. Secrets never appear in its output.",
    ],
    after_help: "OUTPUT",
    sections: &[(
        "EXAMPLES",
        &[
            "The discovery controllers, then the log page of one of them:",
            "$ stafctl ls\nstafctl dlp -t tcp -a 192.0.2.10 -s 8009",
            "Everything, as JSON:",
            "$ stafctl --json status",
        ],
    )],
    see_also: &["stafd(8)", "stacctl(1)", "stafd.conf(5)"],
};

const STACCTL: Prose = Prose {
    description: &[
        "**stacctl** asks **stacd**(8) over the D-Bus system bus which I/O controllers it \
         connected and their state. It can also switch stacd's debug logging. Secrets never \
         appear in its output.",
    ],
    after_help: "OUTPUT",
    sections: &[(
        "EXAMPLES",
        &[
            "The I/O controllers, with every detail:",
            "$ stacctl ls --detailed",
        ],
    )],
    see_also: &["stacd(8)", "stafctl(1)", "stacd.conf(5)"],
};

const STASADM: Prose = Prose {
    description: &[
        "**stasadm** writes the host identity **stafd**(8) and **stacd**(8) use: the [Host] \
         values of __/etc/stas/sys.conf__ (**sys.conf**(5)), and, with **-f**, the files \
         __/etc/nvme/hostnqn__ and __/etc/nvme/hostid__ that nvme-cli shares. Edits keep the \
         file's comments and other lines, and replace it atomically. **hostnqn** derives the \
         NQN as nvme-stas does, so a machine keeps its NQN; **hostid** writes the UUID of the \
         host NQN when it has one, so that nvme-cli agrees. The value saved is printed.",
        "**check-config** checks the host identity of the layout in use; **migrate** moves a \
         2.x configuration (__/etc/stas__) to the 3.x layout (__/etc/nvme__).",
    ],
    after_help: "NOTES",
    sections: &[
        ("FILES", &[
            "- __/etc/stas/sys.conf__: The host identity (2.x layout).",
            "- __/etc/nvme/hostnqn__, __/etc/nvme/hostid__: The host NQN and ID shared with \
             nvme-cli.",
            "- __/etc/stas/stafd.conf__, __/etc/stas/stacd.conf__: What **migrate** reads, with \
             sys.conf.",
            "- __/etc/nvme/nvme-stas.conf__, __/etc/nvme/stafd.conf__, __/etc/nvme/stacd.conf__, \
             __/etc/nvme/exclusions.conf.d/stas.conf__: What **migrate --write** writes.",
        ]),
        ("EXIT STATUS", &[
            "- 0: Success.",
            "- 1: The operation failed (one line on standard error says why), no command was \
             given (the usage is printed), or **check-config** found an error.",
            "- 2: Invalid command line.",
        ]),
        ("EXAMPLES", &[
            "Provision the host identity once (**stas-config@.service**(8) does it at boot when \
             the files are missing):",
            "$ stasadm hostnqn -f /etc/nvme/hostnqn\nstasadm hostid -f /etc/nvme/hostid\n\
             stasadm set-symname my-storage-host",
            "Move to the 3.x layout: a dry run, then the real one:",
            "$ stasadm migrate\nstasadm migrate --write",
        ]),
    ],
    see_also: &["sys.conf(5)", "stas-config@.service(8)", "stafd(8)", "stacd(8)",
        "nvme-stas.conf(5)"],
};

const STAS_CDC: Prose = Prose {
    description: &[],
    after_help: "LOG DEFINITION",
    sections: &[(
        "EXIT STATUS",
        &[
            "- 0: Stopped by SIGTERM or SIGINT; --check found a valid log definition.",
            "- 1: The controller could not run (for example, an address cannot be listened on).",
            "- 2: The log definition cannot be read or is invalid; invalid command line.",
        ],
    )],
    see_also: &["stafd(8)", "stafd.conf(5)", "nvme(1)"],
};
