//! stafctl and stacctl, the command-line clients of stafd and stacd (nvme-stas-behaviour.md
//! §3.2–3.3): argument definitions, the commands, and their output. The binaries only parse
//! arguments and call [`stafctl_main`] / [`stacctl_main`].
//!
//! Output is a human-readable table or block by default and JSON with `--json` (DECISIONS.md
//! item 10); JSON keys are nvme-stas's dictionary keys. Failures are told apart by message and
//! exit status ([`client::exit`]): the daemon is not running, permission denied, or anything
//! else.

pub mod client;
pub mod render;

use std::future::Future;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use serde_json::{Map, Value};

use self::client::{exit, Client, CtlError};
use self::render::{
    controller_block, controller_title, controllers_table, dicts_value, indent, log_pages_table,
    object_block,
};
use super::names::{ServiceNames, STAC, STAF};
use super::shapes::StrDict;
use crate::cli::write_output;
use crate::config::SYS_CONF;
use crate::identity::{resolve_nqn, HostConfig, IdentityPaths};
use crate::model::trid::{TID_KEYS, WELL_KNOWN_DISC_NQN};

/// Exit statuses, shown by `--help`.
macro_rules! exit_help {
    ($daemon:literal) => {
        concat!(
            "Output is a table by default; --json prints JSON with nvme-stas's keys.\n\n",
            "Exit status:\n",
            "  0   success\n",
            "  1   no command given (usage printed)\n",
            "  2   invalid arguments\n",
            "  69  ",
            $daemon,
            " is not running, or the D-Bus system bus cannot be reached\n",
            "  70  ",
            $daemon,
            " failed the request, or its reply cannot be read\n",
            "  74  the output cannot be written (a closed pipe is not an error)\n",
            "  77  permission denied by the D-Bus policy (tron/troff need root)"
        )
    };
}

/// stafctl's command line.
#[derive(Debug, clap::Parser)]
#[command(
    name = "stafctl",
    about = "Query and control stafd, the NVMe-oF discovery daemon, over D-Bus",
    after_help = exit_help!("stafd"),
    disable_version_flag = true
)]
pub struct StafctlArgs {
    /// Print JSON (stable keys) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print the version and exit.
    #[arg(short = 'v', long)]
    pub version: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Option<StafCommand>,
}

/// stafctl's commands.
#[derive(Debug, clap::Subcommand)]
pub enum StafCommand {
    /// List the discovery controllers.
    Ls {
        /// Show every detail of each controller.
        #[arg(short, long)]
        detailed: bool,
    },
    /// Show the daemon's state and every controller with its log pages.
    Status,
    /// Show the cached discovery log page of one discovery controller.
    Dlp(DlpArgs),
    /// Show the cached log pages of every discovery controller.
    Adlp {
        /// Show every detail of each discovery controller.
        #[arg(short, long)]
        detailed: bool,
    },
    /// Switch debug tracing on (root only).
    Tron,
    /// Switch debug tracing off (root only).
    Troff,
    /// Print the version.
    Version,
}

/// The discovery controller `dlp` asks about.
#[derive(Debug, Clone, clap::Args)]
pub struct DlpArgs {
    /// Transport.
    #[arg(short = 't', long, default_value = "tcp", value_parser = ["tcp", "rdma", "fc", "loop"])]
    pub transport: String,
    /// Target address.
    #[arg(short = 'a', long)]
    pub traddr: String,
    /// Transport service id (port) [default: 8009 for tcp, 4420 for rdma].
    #[arg(short = 's', long, default_value = "")]
    pub trsvcid: String,
    /// Host address the connection uses.
    #[arg(short = 'w', long = "host-traddr", default_value = "")]
    pub host_traddr: String,
    /// Host interface the connection uses.
    #[arg(short = 'f', long = "host-iface", default_value = "")]
    pub host_iface: String,
    /// Host NQN [default: the host NQN of sys.conf or /etc/nvme/hostnqn].
    #[arg(short = 'q', long = "host-nqn")]
    pub host_nqn: Option<String>,
    /// Subsystem NQN of the discovery controller.
    #[arg(short = 'n', long = "nqn", default_value = WELL_KNOWN_DISC_NQN)]
    pub nqn: String,
    /// sys.conf to resolve the default host NQN from.
    #[arg(long = "sys-conf", value_name = "FILE", default_value = SYS_CONF)]
    pub sys_conf: PathBuf,
}

/// stacctl's command line.
#[derive(Debug, clap::Parser)]
#[command(
    name = "stacctl",
    about = "Query and control stacd, the NVMe-oF connection daemon, over D-Bus",
    after_help = exit_help!("stacd"),
    disable_version_flag = true
)]
pub struct StacctlArgs {
    /// Print JSON (stable keys) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print the version and exit.
    #[arg(short = 'v', long)]
    pub version: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Option<StacCommand>,
}

/// stacctl's commands.
#[derive(Debug, clap::Subcommand)]
pub enum StacCommand {
    /// List the I/O controllers.
    Ls {
        /// Show every detail of each controller.
        #[arg(short, long)]
        detailed: bool,
    },
    /// Show the daemon's state and every controller.
    Status,
    /// Switch debug tracing on (root only).
    Tron,
    /// Switch debug tracing off (root only).
    Troff,
    /// Print the version.
    Version,
}

/// One command of either tool.
#[derive(Debug, Clone)]
enum Action {
    Ls { detailed: bool },
    Status,
    Dlp(DlpArgs),
    Adlp { detailed: bool },
    Tron(bool),
    Version,
}

impl From<StafCommand> for Action {
    fn from(c: StafCommand) -> Self {
        match c {
            StafCommand::Ls { detailed } => Self::Ls { detailed },
            StafCommand::Status => Self::Status,
            StafCommand::Dlp(a) => Self::Dlp(a),
            StafCommand::Adlp { detailed } => Self::Adlp { detailed },
            StafCommand::Tron => Self::Tron(true),
            StafCommand::Troff => Self::Tron(false),
            StafCommand::Version => Self::Version,
        }
    }
}

impl From<StacCommand> for Action {
    fn from(c: StacCommand) -> Self {
        match c {
            StacCommand::Ls { detailed } => Self::Ls { detailed },
            StacCommand::Status => Self::Status,
            StacCommand::Tron => Self::Tron(true),
            StacCommand::Troff => Self::Tron(false),
            StacCommand::Version => Self::Version,
        }
    }
}

/// stafctl: runs the parsed command and returns the exit status.
#[must_use]
pub fn stafctl_main(args: StafctlArgs) -> ExitCode {
    let action = if args.version {
        Some(Action::Version)
    } else {
        args.command.map(Action::from)
    };
    main_for(
        "stafctl",
        STAF,
        action,
        args.json,
        StafctlArgs::command,
        &mut io::stdout().lock(),
    )
}

/// stacctl: runs the parsed command and returns the exit status.
#[must_use]
pub fn stacctl_main(args: StacctlArgs) -> ExitCode {
    let action = if args.version {
        Some(Action::Version)
    } else {
        args.command.map(Action::from)
    };
    main_for(
        "stacctl",
        STAC,
        action,
        args.json,
        StacctlArgs::command,
        &mut io::stdout().lock(),
    )
}

fn main_for(
    tool: &'static str,
    names: ServiceNames,
    action: Option<Action>,
    json: bool,
    command: fn() -> clap::Command,
    out: &mut dyn Write,
) -> ExitCode {
    let Some(action) = action else {
        let _ = write!(io::stderr(), "{}", command().render_help());
        return ExitCode::from(exit::USAGE);
    };
    if let Action::Version = action {
        return output(tool, out, &version(tool, json));
    }
    let result = block_on(async {
        let client = Client::connect(names).await?;
        run(tool, &client, action, json).await
    });
    let (message, code) = match result {
        Ok(Ok(text)) => return output(tool, out, &text),
        Ok(Err(e)) => (e.to_string(), e.exit_code()),
        Err(e) => (format!("cannot start the async runtime: {e}"), exit::FAILED),
    };
    let _ = writeln!(io::stderr(), "{tool}: {message}");
    ExitCode::from(code)
}

/// Writes a command's output: success, also when the reader has gone away
/// (`stacctl status | head -1`); [`exit::IO`] on any other write error.
fn output(tool: &str, out: &mut dyn Write, text: &str) -> ExitCode {
    match write_output(out, text) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            let _ = writeln!(io::stderr(), "{tool}: cannot write the output: {e}");
            ExitCode::from(exit::IO)
        }
    }
}

fn block_on<F: Future>(f: F) -> std::io::Result<F::Output> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f))
}

fn version(tool: &str, json: bool) -> String {
    let v = env!("CARGO_PKG_VERSION");
    if json {
        render::json(&serde_json::json!({ "name": tool, "version": v }))
    } else {
        format!("{tool} (stas) {v}\n")
    }
}

async fn run(tool: &str, c: &Client, action: Action, json: bool) -> Result<String, CtlError> {
    match action {
        Action::Ls { detailed } => ls(c, detailed, json).await,
        Action::Status => status(c, json).await,
        Action::Dlp(a) => dlp(c, &a, json).await,
        Action::Adlp { detailed } => adlp(c, detailed, json).await,
        Action::Tron(on) => {
            let now = c.set_tron(on).await?;
            Ok(if json {
                render::json(&serde_json::json!({ "tron": now }))
            } else {
                format!("tron: {}\n", if now { "on" } else { "off" })
            })
        }
        Action::Version => Ok(version(tool, json)),
    }
}

/// "discovery" or "I/O".
fn kind(c: &Client) -> &'static str {
    if c.names().bus_name == STAF.bus_name {
        "discovery"
    } else {
        "I/O"
    }
}

async fn ls(c: &Client, detailed: bool, json: bool) -> Result<String, CtlError> {
    let list = c.list_controllers(detailed).await?;
    Ok(if json {
        render::json(&dicts_value(&list))
    } else if list.is_empty() {
        format!("no {} controllers\n", kind(c))
    } else if detailed {
        list.iter()
            .map(controller_block)
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        controllers_table(&list)
    })
}

/// The seven TID strings of a controller dictionary, in wire order.
fn tid_of(d: &StrDict) -> [&str; 7] {
    TID_KEYS.map(|k| d.get(k).map_or("", String::as_str))
}

fn bad_reply(c: &Client, detail: impl std::fmt::Display) -> CtlError {
    CtlError::BadReply {
        daemon: c.names().daemon,
        detail: detail.to_string(),
    }
}

async fn status(c: &Client, json: bool) -> Result<String, CtlError> {
    let process = c.process_info().await?;
    let Value::Object(mut top) = process else {
        return Err(bad_reply(c, "process_info is not a JSON object"));
    };
    let staf = c.names().bus_name == STAF.bus_name;
    let mut ctrls = Vec::new();
    for d in c.list_controllers(true).await? {
        let tid = tid_of(&d);
        let mut obj: Map<String, Value> = d
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        if let Value::Object(info) = c.controller_info(tid).await? {
            obj.extend(info);
        }
        if staf {
            let pages = c.get_log_pages(tid).await?;
            obj.insert("log_pages".into(), dicts_value(&pages));
        }
        ctrls.push(obj);
    }
    if json {
        top.insert(
            "controllers".into(),
            Value::Array(ctrls.into_iter().map(Value::Object).collect()),
        );
        return Ok(render::json(&Value::Object(top)));
    }
    let mut out = format!("{}\n", c.names().daemon);
    out.push_str(&object_block(&Value::Object(top), 4));
    if ctrls.is_empty() {
        out.push_str(&format!("\nno {} controllers\n", kind(c)));
    }
    for mut obj in ctrls {
        let pages = obj.remove("log_pages");
        let d: StrDict = obj
            .into_iter()
            .map(|(k, v)| (k, render::scalar_text(&v)))
            .collect();
        out.push('\n');
        out.push_str(&controller_block(&d));
        if let Some(pages) = pages {
            let pages: Vec<StrDict> = serde_json::from_value(pages).map_err(|e| bad_reply(c, e))?;
            out.push_str(&pages_section(&pages));
        }
    }
    Ok(out)
}

/// The `log pages` part of a discovery controller's human output.
fn pages_section(pages: &[StrDict]) -> String {
    if pages.is_empty() {
        "    log pages: none\n".to_owned()
    } else {
        format!("    log pages:\n{}", indent(&log_pages_table(pages), 6))
    }
}

/// The default host NQN of `dlp`, resolved as the daemons do; `None` (the daemon then uses its
/// own) when it cannot be resolved here, with a warning.
fn default_host_nqn(sys_conf: &Path) -> Option<String> {
    let resolved = crate::config::load_sys_conf(sys_conf)
        .map_err(|e| e.to_string())
        .and_then(|l| {
            resolve_nqn(
                &HostConfig::from_sysconf(&l.config),
                &IdentityPaths::default(),
            )
            .map_err(|e| e.to_string())
        });
    match resolved {
        Ok(nqn) => Some(nqn.as_str().to_owned()),
        Err(e) => {
            let _ = writeln!(
                io::stderr(),
                "stafctl: warning: cannot resolve the host NQN ({e}); stafd will use its own"
            );
            None
        }
    }
}

async fn dlp(c: &Client, a: &DlpArgs, json: bool) -> Result<String, CtlError> {
    let host_nqn = match &a.host_nqn {
        Some(q) => q.clone(),
        None => default_host_nqn(&a.sys_conf).unwrap_or_default(),
    };
    let pages = c
        .get_log_pages([
            &a.transport,
            &a.traddr,
            &a.trsvcid,
            &a.nqn,
            &a.host_traddr,
            &a.host_iface,
            &host_nqn,
        ])
        .await?;
    Ok(if json {
        render::json(&dicts_value(&pages))
    } else if pages.is_empty() {
        "no log page entries (unknown discovery controller, or an empty log page)\n".to_owned()
    } else {
        log_pages_table(&pages)
    })
}

async fn adlp(c: &Client, detailed: bool, json: bool) -> Result<String, CtlError> {
    let v = c.get_all_log_pages(detailed).await?;
    if json {
        return Ok(render::json(&v));
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(rename = "discovery-controller")]
        dc: StrDict,
        #[serde(rename = "log-pages")]
        pages: Vec<StrDict>,
    }
    let list: Vec<Entry> = serde_json::from_value(v).map_err(|e| bad_reply(c, e))?;
    if list.is_empty() {
        return Ok("no discovery controllers\n".to_owned());
    }
    Ok(list
        .iter()
        .map(|e| {
            let mut s = if detailed {
                controller_block(&e.dc)
            } else {
                format!("{}\n", controller_title(&e.dc))
            };
            s.push_str(&pages_section(&e.pages));
            s
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn arguments_parse_like_nvme_stas() {
        let a = StafctlArgs::try_parse_from(["stafctl", "dlp", "-a", "10.0.0.1", "-s", "8009"])
            .unwrap();
        let Some(StafCommand::Dlp(d)) = a.command else {
            panic!("dlp expected");
        };
        assert_eq!(d.transport, "tcp");
        assert_eq!(d.nqn, WELL_KNOWN_DISC_NQN);
        assert_eq!(d.host_nqn, None);
        assert!(
            StafctlArgs::try_parse_from(["stafctl", "dlp"]).is_err(),
            "-a required"
        );
        assert!(StafctlArgs::try_parse_from(["stafctl", "dlp", "-a", "x", "-t", "udp"]).is_err());
        let a = StafctlArgs::try_parse_from(["stafctl", "ls", "-d", "--json"]).unwrap();
        assert!(a.json);
        assert!(matches!(
            a.command,
            Some(StafCommand::Ls { detailed: true })
        ));
        let a = StafctlArgs::try_parse_from(["stafctl"]).unwrap();
        assert!(a.command.is_none());
        assert!(StacctlArgs::try_parse_from(["stacctl", "dlp", "-a", "x"]).is_err());
        let a = StacctlArgs::try_parse_from(["stacctl", "--json", "status"]).unwrap();
        assert!(a.json && matches!(a.command, Some(StacCommand::Status)));
    }

    #[test]
    fn help_documents_the_exit_statuses() {
        let help = StafctlArgs::command().render_long_help().to_string();
        for code in ["69", "70", "77"] {
            assert!(help.contains(code), "{help}");
        }
        StafctlArgs::command().debug_assert();
        StacctlArgs::command().debug_assert();
    }

    #[test]
    fn output_to_a_closed_pipe_is_a_quiet_success() {
        let code = main_for(
            "stafctl",
            STAF,
            Some(Action::Version),
            true,
            StafctlArgs::command,
            &mut crate::cli::ClosedPipe,
        );
        assert_eq!(code, ExitCode::from(exit::OK));
        let mut full: &mut [u8] = &mut [0u8; 4];
        assert_eq!(
            output("stacctl", &mut full, &"x".repeat(10)),
            ExitCode::from(exit::IO)
        );
    }

    #[test]
    fn version_text() {
        assert!(version("stafctl", false).starts_with("stafctl (stas) "));
        let v: Value = serde_json::from_str(&version("stafctl", true)).unwrap();
        assert_eq!(v["name"], "stafctl");
    }
}
