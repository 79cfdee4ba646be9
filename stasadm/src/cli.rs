//! Command line of stasadm (nvme-stas compatible) and its dispatch to
//! [`libstas::identity::admin`].

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};
use libstas::config;
use libstas::identity::admin::{self, AdminPaths, Saved};

/// Configuration utility for STAS: host NQN, host ID and symbolic name in sys.conf.
#[derive(Parser, Debug)]
#[command(name = "stasadm", disable_version_flag = true)]
pub struct Cli {
    /// Print the version, then exit.
    #[arg(short = 'v', long)]
    version: bool,
    /// Configuration file.
    #[arg(short = 'c', long = "conf-file", value_name = "FILE", default_value = config::SYS_CONF)]
    conf_file: PathBuf,
    /// Testing only: read /etc/machine-id, /etc/nvme, /sys and /proc under DIR.
    #[arg(long, value_name = "DIR", hide = true)]
    root: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Configure the host NQN. The NQN is auto-generated (as nvme-stas does).
    Hostnqn {
        /// Also save the NQN in FILE, and refer to it from the configuration.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Configure the host ID: the UUID of the host NQN (random if the NQN has none).
    Hostid {
        /// Also save the ID in FILE, and refer to it from the configuration.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Set the host symbolic name.
    SetSymname {
        /// Also save the name in FILE, and refer to it from the configuration.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: Option<PathBuf>,
        /// Symbolic name.
        #[arg(value_name = "SYMNAME")]
        symname: String,
    },
    /// Clear the host symbolic name.
    ClearSymname,
    /// Check the configuration file and the host identity it gives; exit 1 on errors.
    CheckConfig,
}

/// Prints the value that was saved (nvme-stas printed nothing; showing it lets an operator
/// see which NQN/ID was written) and any warnings.
fn report(saved: &Saved) -> ExitCode {
    for note in &saved.notes {
        eprintln!("stasadm: warning: {note}");
    }
    println!("{}", saved.value);
    ExitCode::SUCCESS
}

/// Runs the command line. `Err` is a failure to report on one line.
///
/// # Errors
/// Whatever the operation reports (unwritable file, invalid value, …).
pub fn run(cli: Cli) -> Result<ExitCode> {
    if cli.version {
        println!("stasadm (stas) {}", env!("CARGO_PKG_VERSION"));
        return Ok(ExitCode::SUCCESS);
    }
    let paths = AdminPaths::new(cli.conf_file, cli.root.as_deref());
    Ok(match cli.command {
        None => {
            eprint!("{}", Cli::command().render_usage());
            eprintln!();
            ExitCode::FAILURE
        }
        Some(Command::Hostnqn { file }) => report(&admin::hostnqn(&paths, file.as_deref())?),
        Some(Command::Hostid { file }) => report(&admin::hostid(&paths, file.as_deref())?),
        Some(Command::SetSymname { file, symname }) => {
            report(&admin::set_symname(&paths, &symname, file.as_deref())?)
        }
        Some(Command::ClearSymname) => {
            admin::clear_symname(&paths)?;
            ExitCode::SUCCESS
        }
        Some(Command::CheckConfig) => {
            libstas::cli::print_check_report("stasadm", &admin::check_config(&paths))
        }
    })
}
