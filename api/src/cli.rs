//! The `aduana` command line: its commands, their flags and environment variables, and what
//! each command runs. Command output (JSON, SDL) goes to stdout; logs go to stderr.

use std::io::Write;
use std::net::SocketAddr;
use std::num::{NonZeroU64, NonZeroUsize};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::bench::{self, AppendParams};
use crate::config::StoreArgs;
use crate::server::App;
use crate::telemetry::LogFormat;
use crate::{graphql, verify};

#[derive(Debug, Parser)]
#[command(name = "aduana", version, about = "Event-sourced customs backend")]
pub struct Cli {
    /// Log format (logs go to stderr; the level comes from RUST_LOG, default info).
    #[arg(
        long,
        global = true,
        env = "ADUANA_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve GraphQL (POST /graphql, GraphiQL on GET /graphql), /health and /ready.
    Serve(ServeArgs),
    /// Walk the hash chains; print a JSON report; exit 2 when a link is broken.
    Verify(VerifyArgs),
    /// Measure the event store.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Print the GraphQL schema (SDL).
    Schema,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ADUANA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Verify only this stream (default: every stream, and the log's density).
    #[arg(long)]
    pub stream: Option<String>,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Concurrent appends; prints throughput and latency percentiles.
    Append(BenchAppendArgs),
    /// Reads $all from the start.
    Read(BenchReadArgs),
    /// Appends to one stream and compares early and late append times.
    StreamGrowth(BenchGrowthArgs),
}

#[derive(Debug, Args)]
pub struct BenchAppendArgs {
    /// Concurrent writer tasks.
    #[arg(long, default_value = "8")]
    pub writers: NonZeroUsize,
    /// Events each writer appends.
    #[arg(long, default_value = "1000")]
    pub events: NonZeroUsize,
    /// Events per append (at most 1000).
    #[arg(long, default_value = "1")]
    pub batch: NonZeroUsize,
    /// Keep appending to a stream until it holds this many events (default: a new stream per
    /// append).
    #[arg(long)]
    pub stream_events: Option<NonZeroU64>,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct BenchReadArgs {
    /// Read at most this many events (default: all).
    #[arg(long)]
    pub limit: Option<usize>,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct BenchGrowthArgs {
    /// Events appended to the one stream.
    #[arg(long, default_value = "1000")]
    pub events: NonZeroU64,

    #[command(flatten)]
    pub store: StoreArgs,
}

impl Cli {
    /// Runs the command; returns the process exit code.
    pub async fn run(self) -> anyhow::Result<u8> {
        match self.command {
            Command::Serve(args) => {
                let store = args.store.open().await?;
                let app = App::bind(args.listen, store)
                    .await
                    .with_context(|| format!("cannot listen on {}", args.listen))?;
                app.run().await.context("server failed")?;
                Ok(0)
            }
            Command::Verify(args) => {
                let store = args.store.open().await?;
                let code = verify::run(&store, args.stream.as_deref(), &mut std::io::stdout())
                    .await
                    .context("verification failed")?;
                store.close().await;
                Ok(code)
            }
            Command::Bench(bench) => {
                run_bench(bench).await?;
                Ok(0)
            }
            Command::Schema => {
                print(graphql::sdl().trim_end())?;
                Ok(0)
            }
        }
    }
}

/// The error and its causes on one line, skipping a cause whose text the line already holds
/// (store and driver errors repeat their source in their own message).
pub fn describe_error(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

async fn run_bench(command: BenchCommand) -> anyhow::Result<()> {
    let line = match command {
        BenchCommand::Append(args) => {
            let store = args.store.open().await?;
            let params = AppendParams {
                writers: args.writers,
                events_per_writer: args.events,
                batch: args.batch,
                stream_events: args.stream_events,
            };
            let report = bench::append(&store, params).await?;
            store.close().await;
            json(&report)?
        }
        BenchCommand::Read(args) => {
            let store = args.store.open().await?;
            let report = bench::read(&store, args.limit).await?;
            store.close().await;
            json(&report)?
        }
        BenchCommand::StreamGrowth(args) => {
            let store = args.store.open().await?;
            let report = bench::stream_growth(&store, args.events).await?;
            store.close().await;
            json(&report)?
        }
    };
    print(&line)
}

fn json(report: &impl Serialize) -> anyhow::Result<String> {
    serde_json::to_string(report).context("cannot serialize the report")
}

fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .context("cannot write to stdout")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_store_command_takes_the_same_database_flags() {
        let cli = Cli::try_parse_from([
            "aduana",
            "bench",
            "append",
            "--writers",
            "2",
            "--events",
            "10",
            "--batch",
            "5",
            "--data-dir",
            "/tmp/x",
        ])
        .unwrap();
        let Command::Bench(BenchCommand::Append(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(
            (args.writers.get(), args.events.get(), args.batch.get()),
            (2, 10, 5)
        );
        assert_eq!(args.store.data_dir, std::path::PathBuf::from("/tmp/x"));

        let cli = Cli::try_parse_from([
            "aduana",
            "verify",
            "--stream",
            "declaration-1",
            "--database",
            "sqlite:///tmp/y.db",
        ])
        .unwrap();
        let Command::Verify(args) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(args.store.database_url().expose(), "sqlite:///tmp/y.db");
    }

    #[test]
    fn an_error_line_does_not_repeat_causes() {
        let source = std::io::Error::other("disk full");
        let error = anyhow::Error::new(eventstore::StoreError::Io(source)).context("cannot open");
        assert_eq!(describe_error(&error), "cannot open: io error: disk full");
    }

    #[test]
    fn zero_writers_are_refused_by_the_parser() {
        assert!(Cli::try_parse_from(["aduana", "bench", "append", "--writers", "0"]).is_err());
    }
}
