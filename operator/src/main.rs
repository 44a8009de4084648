//! The Portcullis operator binary.

use clap::{Parser, Subcommand};

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
}

fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Command::Crds => print!("{}", portcullis_crds::crd_manifests()),
    }
    Ok(())
}
