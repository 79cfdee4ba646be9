//! stas-doc: writes stas's man pages (`stas-doc man OUTDIR`: OUTDIR/NAME.SECTION) or shell
//! completions (`stas-doc completions OUTDIR`: bash NAME, zsh _NAME, fish NAME.fish). Run
//! by meson at build time; everything it writes comes from the stas-doc library.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Generates stas's man pages and shell completions.
#[derive(Parser)]
#[command(name = "stas-doc", version)]
struct Cli {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// Write every man page into OUTDIR, as NAME.SECTION.
    Man {
        /// The directory (created if needed).
        outdir: PathBuf,
    },
    /// Write the bash, zsh and fish completions of every program into OUTDIR.
    Completions {
        /// The directory (created if needed).
        outdir: PathBuf,
    },
}

fn main() -> ExitCode {
    let (outdir, files) = match Cli::parse().what {
        What::Man { outdir } => (outdir, stas_doc::man_pages()),
        What::Completions { outdir } => (outdir, stas_doc::completions::outputs()),
    };
    match stas_doc::write_all(&outdir, &files) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stas-doc: {}: {e}", outdir.display());
            ExitCode::FAILURE
        }
    }
}
