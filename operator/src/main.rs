//! The Portcullis operator binary.

use clap::{Parser, Subcommand};
use portcullis_operator::cli::RunArgs;

/// Compiling a snapshot allocates many small strings and vectors, which
/// mimalloc serves faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Portcullis control plane.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinition manifests as YAML.
    Crds,
    /// Watch the cluster, publish snapshots and write Route status.
    Run(Box<RunArgs>),
}

fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Command::Crds => print!("{}", portcullis_crds::crd_manifests()),
        Command::Run(args) => portcullis_operator::run::run(*args)?,
    }
    Ok(())
}
