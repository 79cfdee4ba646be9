//! stas-cdc: a small NVMe/TCP discovery controller for rehearsing a fabric, and for
//! stas's real-kernel tests. Argument parsing (the clap definition is the library's `cli`)
//! and wiring; the protocol is in the library, the I/O in `server`.

mod records;
mod server;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use stas_cdc::cli::{Args, DcTypeArg};
use stas_cdc::logpage::Log;
use stas_cdc::session::{Controller, DcType};

fn main() -> ExitCode {
    let args = Args::parse();
    let level = if args.verbose { "debug" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .init();
    let log = match Log::load(&args.log) {
        Ok(log) => log,
        Err(e) => {
            eprintln!("stas-cdc: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        println!("{}: {} entries", args.log.display(), log.entries.len());
        for (i, e) in log.entries.iter().enumerate() {
            println!("  {}: {e}", i + 1);
        }
        return ExitCode::SUCCESS;
    }
    let ctrl = Controller {
        nqn: args.nqn.clone(),
        dctype: match args.dctype {
            DcTypeArg::Cdc => DcType::Cdc,
            DcTypeArg::Ddc => DcType::Ddc,
            DcTypeArg::None => DcType::None,
        },
        serial: args.serial.clone(),
        model: "stas-cdc".to_owned(),
        firmware: env!("CARGO_PKG_VERSION").to_owned(),
        pleo: !args.no_pleo,
        dim: !args.no_dim,
    };
    let opts = server::Options {
        listen: args.listen.clone(),
        ctrl: Arc::new(ctrl),
        log_path: args.log.clone(),
        log,
        state_dir: args.state_dir.clone(),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stas-cdc: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(server::run(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stas-cdc: {e:#}");
            ExitCode::FAILURE
        }
    }
}
