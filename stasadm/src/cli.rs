//! Command line of stasadm (nvme-stas compatible) and its dispatch to
//! [`libstas::identity::admin`] and [`libstas::config::migrate`]. It is the library of the
//! stasadm package (the binary is `main.rs`), so that stas-doc renders the man page and the
//! shell completions from this one clap definition ([`Cli`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};
use libstas::config;
use libstas::config::migrate::{self, MigratePaths};
use libstas::identity::admin::{self, AdminPaths, Saved};

/// Configuration utility for STAS: host NQN, host ID and symbolic name in sys.conf.
#[derive(Parser, Debug)]
#[command(name = "stasadm", disable_version_flag = true)]
pub struct Cli {
    /// Print the version, then exit.
    #[arg(short = 'v', long)]
    version: bool,
    /// Configuration file (sys.conf) [default: /etc/stas/sys.conf].
    #[arg(short = 'c', long = "conf-file", value_name = "FILE")]
    conf_file: Option<PathBuf>,
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
    /// Move the nvme-stas 2.x configuration (stafd.conf, stacd.conf, sys.conf) to the 3.x
    /// layout (nvme-stas.conf, stafd.conf, stacd.conf in /etc/nvme). Without --write, print
    /// the files it would write (secrets masked) and what cannot be carried over.
    Migrate {
        /// Write the files (atomically; nvme-stas.conf last). The 2.x files are not changed.
        #[arg(long)]
        write: bool,
        /// With --write: replace 3.x files that exist with other contents.
        #[arg(long, requires = "write")]
        force: bool,
        /// Directory of the 2.x files [default: /etc/stas]; -c names sys.conf elsewhere.
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
        /// Directory of the 3.x files [default: /etc/nvme].
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
    },
}

/// The options of `stasadm migrate`.
struct MigrateArgs {
    write: bool,
    force: bool,
    from: Option<PathBuf>,
    to: Option<PathBuf>,
}

/// `stasadm migrate`: the dry run prints the plan; `--write` applies it and prints what
/// cannot be carried, then one line per file. Under `--root`, the default directories and
/// the identity files are under the root too.
fn migrate(args: MigrateArgs, conf_file: Option<PathBuf>, root: Option<&Path>) -> Result<ExitCode> {
    let default = |dir: &str| match root {
        Some(r) => r.join(dir.trim_start_matches('/')),
        None => PathBuf::from(dir),
    };
    let from = args.from.unwrap_or_else(|| default(migrate::DEFAULT_FROM));
    let to = args.to.unwrap_or_else(|| default(migrate::DEFAULT_TO));
    let mut paths = MigratePaths::new(&from, &to);
    if let Some(r) = root {
        paths = paths.under_root(r);
    }
    if let Some(sys) = conf_file {
        paths.sys_conf = sys;
    }
    let plan = migrate::plan(&paths)?;
    if !args.write {
        print!("{}", plan.render_dry_run());
        return Ok(ExitCode::SUCCESS);
    }
    let applied = migrate::apply(&plan, args.force)?;
    print!("{}", plan.render_report());
    print!("{}", applied.render());
    Ok(ExitCode::SUCCESS)
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
    let root = cli.root.as_deref();
    let conf_file = cli
        .conf_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(config::SYS_CONF));
    let paths = AdminPaths::new(conf_file, root);
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
        Some(Command::Migrate {
            write,
            force,
            from,
            to,
        }) => {
            let args = MigrateArgs {
                write,
                force,
                from,
                to,
            };
            migrate(args, cli.conf_file, root)?
        }
    })
}
