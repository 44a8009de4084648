//! The `portcullis` binary: `serve` (the default), `explain` and `check`.

use std::process::ExitCode;

use clap::Parser;
use portcullis_dataplane::cli::{Cli, Command, ServeArgs};
use portcullis_dataplane::config::{LogSettings, ServeConfig};
use portcullis_dataplane::logging::{self, LogTarget};
use portcullis_dataplane::{offline, serve};

/// The proxy allocates and frees many small buffers per request (header
/// maps, bodies, futures), which mimalloc serves faster than the system
/// allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for invalid flags, as clap uses.
const EXIT_BAD_FLAGS: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        None => run_serve(&cli.serve),
        Some(Command::Serve(args)) => run_serve(args),
        Some(Command::Explain(args)) => {
            init_offline_logging();
            offline::explain(args)
        }
        Some(Command::Check(args)) => {
            init_offline_logging();
            offline::check(args)
        }
    }
}

fn run_serve(args: &ServeArgs) -> ExitCode {
    let config = match ServeConfig::from_args(args) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_BAD_FLAGS);
        }
    };
    if let Err(error) = logging::init(&config.log, LogTarget::Stdout, "info") {
        eprintln!("error: {error:#}");
        return ExitCode::FAILURE;
    }
    // rustls needs one process-wide provider, and ring is the only one built
    // in. Installing fails only if a provider is already installed, which is
    // the state this line wants anyway.
    let _ = rustls::crypto::ring::default_provider().install_default();

    match serve::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(
                error = format!("{error:#}"),
                "portcullis stopped with an error"
            );
            ExitCode::FAILURE
        }
    }
}

/// Logs warnings and errors to stderr, because stdout carries the result.
fn init_offline_logging() {
    if let Err(error) = logging::init(&LogSettings::default(), LogTarget::Stderr, "warn") {
        eprintln!("warning: {error:#}");
    }
}
