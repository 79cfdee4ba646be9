//! The command line of the stas-cdc binary (feature `cli`): the clap definition lives in
//! the library so that stas-doc renders the man page and the shell completions from it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// The well-known discovery NQN.
const WELL_KNOWN_NQN: &str = "nqn.2014-08.org.nvmexpress.discovery";

/// `--dctype`: the discovery controller type Identify reports.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DcTypeArg {
    /// Central discovery controller.
    Cdc,
    /// Direct discovery controller.
    Ddc,
    /// Not reported (as Linux nvmet).
    None,
}

/// A small NVMe/TCP discovery controller (CDC or DDC) in user space.
///
/// Hosts (the Linux kernel, through stafd or `nvme discover`/`nvme connect`) connect to it
/// as to a discovery controller of a storage fabric. It announces the discovery log
/// defined in --log FILE, takes TP8010 registrations (DIM) and records them, answers
/// port-local-entries-only (PLEO) requests, and sends a discovery-log-change AEN to its
/// connected hosts when the log changes.
///
/// Signals: SIGHUP re-reads --log FILE (a changed log gets the next generation counter
/// and an AEN); SIGUSR1 drops every host connection (the hosts reconnect); SIGTERM or
/// SIGINT stops.
///
/// With --state-dir DIR it keeps: DIR/events.jsonl (one JSON object per line: each
/// connection, command of note, AEN and DIM, with a sequence number and the uptime),
/// DIR/dim/NNNN.bin (the raw bytes of DIM payload NNNN), and DIR/registrations.json (the
/// hosts registered now).
#[derive(Debug, Parser)]
#[command(name = "stas-cdc", version, after_help = AFTER_HELP)]
pub struct Args {
    /// The discovery log definition (TOML, see below).
    #[arg(long, value_name = "FILE")]
    pub log: PathBuf,
    /// Address and TCP port to listen on (repeat for more; IPv6 as [::1]:8009).
    #[arg(
        short,
        long,
        value_name = "ADDR:PORT",
        default_value = "127.0.0.1:8009"
    )]
    pub listen: Vec<SocketAddr>,
    /// The controller's subsystem NQN: the well-known discovery NQN, or a unique NQN
    /// (TP8013). Hosts may connect with either.
    #[arg(short, long, value_name = "NQN", default_value = WELL_KNOWN_NQN)]
    pub nqn: String,
    /// The discovery controller type reported by Identify.
    #[arg(long, value_enum, default_value = "cdc")]
    pub dctype: DcTypeArg,
    /// Do not advertise port-local-entries-only support (PLEOS) in Supported Log Pages.
    #[arg(long)]
    pub no_pleo: bool,
    /// Refuse DIM commands (Invalid Opcode), like a discovery controller without TP8010.
    #[arg(long)]
    pub no_dim: bool,
    /// Keep records (events, DIM payloads, registrations) in this directory.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Serial number reported by Identify.
    #[arg(long, default_value = "stas-cdc-0001")]
    pub serial: String,
    /// Check the log definition, print its entries and exit.
    #[arg(long)]
    pub check: bool,
    /// Log every command, not only connections, DIMs and AENs.
    #[arg(short, long)]
    pub verbose: bool,
}

const AFTER_HELP: &str = "\
Log definition (--log FILE), one [[entry]] table per discovery log page entry:

  [[entry]]
  subtype = \"current\"      # nvme (default) | referral | current (this DC) | 0-255
  trtype = \"tcp\"           # tcp (default) | rdma | fc | loop | 0-255
  adrfam = \"ipv4\"          # ipv4 | ipv6 (default: from traddr) | ib | fc | loop | pci | 0-255
  traddr = \"127.0.0.1\"
  trsvcid = \"8009\"
  subnqn = \"nqn.2014-08.org.nvmexpress.discovery\"
  eflags = [\"epcsd\"]       # duprentinfo | epcsd | ncc | a number
  portid = 1               # also: cntlid (0xffff), asqsz (32), treq (0), tsas (\"\")
  port-local = true        # false: left out of a port-local-entries-only answer

Strings are copied byte for byte into their fields and cut at the field size, so a
rehearsal can announce hostile values (TOML escapes such as \\u0001 work).

Example: a CDC on port 8010 announcing one subsystem of a local nvmet target:
  stas-cdc --listen 127.0.0.1:8010 --log fabric.toml --state-dir /tmp/cdc
  nvme discover -t tcp -a 127.0.0.1 -s 8010";
