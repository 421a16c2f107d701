//! `aduana`: parse the command line, install logging, run the command, map the outcome to an
//! exit code (0 success, 1 failure, 2 broken hash chain from `verify`).

use std::process::ExitCode;

use api::cli::describe_error;
use api::{Cli, telemetry};
use clap::Parser;

/// mimalloc: the store's read and write paths allocate many small strings per event; glibc's
/// malloc spent a fifth of catch-up reading in malloc/free (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(error) = telemetry::init(cli.log_format) {
        eprintln!("error: {error:#}");
        return ExitCode::FAILURE;
    }
    match cli.run().await {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {}", describe_error(&error));
            ExitCode::FAILURE
        }
    }
}
