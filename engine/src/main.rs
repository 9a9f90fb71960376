//! The `bypass` command.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use bypass::cli::{Cli, Command};
use clap::Parser;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Stat(args) => match bypass::control::client::run(&args) {
            Ok(out) => {
                print!("{out}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("bypass: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Run(args) => {
            let stop = Arc::new(AtomicBool::new(false));
            match bypass::engine::run(&args, stop, true) {
                Ok(report) => {
                    print!("{}", bypass::report::render(&report));
                    if let Some(path) = &args.report_json {
                        let json = serde_json::to_string_pretty(&report).unwrap_or_default();
                        if let Err(e) = std::fs::write(path, json) {
                            eprintln!("bypass: cannot write {}: {e}", path.display());
                            return ExitCode::FAILURE;
                        }
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("bypass: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
