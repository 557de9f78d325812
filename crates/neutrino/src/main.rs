//! `neutrino`: the one binary — daemons (`switchd`) and the operator CLI
//! (`switch ...`). It parses arguments, prints tables and turns errors into one-line
//! messages with a non-zero exit; the work is done by the library crates.

mod switch_cmd;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Default run directory of switchd (its control socket and state file).
pub const DEFAULT_RUN_DIR: &str = "/var/run/neutrino";

#[derive(Parser)]
#[command(name = "neutrino", version, about = "Neutron-style virtual networking")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the switch daemon (foreground).
    Switchd {
        /// Directory for the control socket (switchd.sock) and state file (state.json).
        #[arg(long, env = "NEUTRINO_RUN_DIR", default_value = DEFAULT_RUN_DIR)]
        run_dir: PathBuf,
    },
    /// Talk to a running switchd: bridges, ports, flows, trace.
    Switch(switch_cmd::SwitchArgs),
    /// Run the API server (network API at / and /v2.0, identity at /v3; foreground).
    Server(server::cli::ServerArgs),
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NEUTRINO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Switchd { run_dir } => {
            init_logging("info");
            switchd::run(&run_dir).map_err(anyhow::Error::from)
        }
        Command::Switch(args) => {
            init_logging("warn");
            switch_cmd::run(args)
        }
        Command::Server(args) => {
            init_logging("info");
            server::cli::run(args)
        }
    };
    if let Err(e) = result {
        let msg = format!("{e:#}").replace('\n', " ");
        eprintln!("neutrino: {msg}");
        std::process::exit(1);
    }
}
