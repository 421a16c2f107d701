//! The `aduana` command line: its commands, their flags and environment variables, and what
//! each command runs. Command output (JSON, SDL) goes to stdout; logs and row errors go to
//! stderr.

use std::io::Write;
use std::net::SocketAddr;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::PathBuf;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use commands::batch::BatchSettings;
use commands::reference::ImportError;
use futures::FutureExt as _;
use projections::BatchesProjection;
use projections::declarations::DeclarationsProjection;
use projections::{ReadModels, Runner, WarehouseProjection};
use serde::Serialize;

use crate::auth::api_key::{self, ApiKeyError};
use crate::auth::key::{self, SigningKey};
use crate::auth::{Category, Principal, Role, TokenKeys};
use crate::bench::{self, AppendParams};
use crate::config::{GraphqlSettings, StoreArgs};
use crate::graphql::ReadModelQueries;
use crate::portal::{PortalState, SignInLimit, Timeouts};
use crate::reference::{self, FileImportError};
use crate::server::{App, AppState};
use crate::telemetry::LogFormat;
use crate::{graphql, loadgen, verify};

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
    /// Serve GraphQL (POST /graphql, GraphiQL on GET /graphql), /health and /ready. Bearer
    /// tokens are checked with the signing key (ADUANA_SIGNING_KEY or <data-dir>/signing.key),
    /// API keys (X-API-Key) against the keys recorded in the store.
    Serve(ServeArgs),
    /// Bearer tokens, signed with the server's key (ADUANA_SIGNING_KEY, or
    /// <data-dir>/signing.key, created on first use).
    #[command(subcommand)]
    Token(TokenCommand),
    /// API keys for machine clients (`X-API-Key: ak_...`), recorded in the event store (only
    /// the hash of each secret); they do not expire, they are revoked.
    #[command(subcommand)]
    Apikey(ApiKeyCommand),
    /// Reference data: tariff lines, preferences, exchange rates, unit codes.
    #[command(subcommand)]
    Reference(ReferenceCommand),
    /// Walk the hash chains; print a JSON report; exit 2 when a link is broken.
    Verify(VerifyArgs),
    /// Measure the event store.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Send a batch file to a server (progress, retry, resume), read a batch's status or
    /// results.
    #[command(subcommand)]
    Batch(crate::batch_client::BatchCommand),
    /// Demonstration data: `demo generate` writes synthetic declarations as NDJSON.
    #[command(subcommand)]
    Demo(crate::demo::DemoCommand),
    /// The projections that build the read models.
    #[command(subcommand)]
    Projections(ProjectionsCommand),
}

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Print each projection's serving generation (and a rebuild under way) with its committed
    /// checkpoint and how far it is behind the log's head, one JSON object per line (read from
    /// the database: every process's projections).
    Status(ProjectionsStatusArgs),
    /// Ask the server leading a projection to rebuild it from position 0 into a new generation
    /// while the current one keeps serving queries, then switch over; waits and shows progress
    /// unless `--no-wait`.
    Rebuild(ProjectionsRebuildArgs),
}

/// The projections `aduana serve` runs, by name.
pub const PROJECTIONS: [&str; 4] = ["declarations", "batches", "warehouse", "analyses"];

#[derive(Debug, Args)]
pub struct ProjectionsRebuildArgs {
    /// The projection: declarations, batches, warehouse or analyses.
    pub name: String,

    /// Return once the request is recorded instead of waiting for the switch-over.
    #[arg(long)]
    pub no_wait: bool,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct ProjectionsStatusArgs {
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ADUANA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub graphql: GraphqlSettings,

    #[command(flatten)]
    pub batches: BatchArgs,

    #[command(flatten)]
    pub portal: PortalArgs,
}

/// How the web portal keeps people signed in.
#[derive(Debug, Clone, Args)]
pub struct PortalArgs {
    /// Minutes without a request after which a portal session ends.
    #[arg(long = "portal-idle-minutes", env = "ADUANA_PORTAL_IDLE_MINUTES", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=1440))]
    pub idle_minutes: u64,
    /// Hours after sign-in at which a portal session ends, however active (the token's own
    /// expiry ends it earlier).
    #[arg(long = "portal-session-hours", env = "ADUANA_PORTAL_SESSION_HOURS", default_value_t = 8,
          value_parser = clap::value_parser!(u64).range(1..=24))]
    pub session_hours: u64,
    /// Sign-in attempts one client address may make at once; after them, one more every six
    /// seconds (429 until then).
    #[arg(long = "portal-sign-in-burst", env = "ADUANA_PORTAL_SIGN_IN_BURST", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub sign_in_burst: u32,
}

impl PortalArgs {
    pub fn state(&self) -> PortalState {
        let timeouts = Timeouts {
            idle: Duration::from_secs(self.idle_minutes * 60),
            absolute: Duration::from_secs(self.session_hours * 3600),
        };
        PortalState::new(
            timeouts,
            SignInLimit::new(self.sign_in_burst, Duration::from_secs(6)),
        )
    }
}

/// How `POST /api/v1/batches` receives uploads.
#[derive(Debug, Clone, Args)]
pub struct BatchArgs {
    /// Largest batch body accepted, in bytes (413 past it; a body is never held in memory).
    #[arg(long = "batch-max-bytes", env = "ADUANA_BATCH_MAX_BYTES", default_value_t = 4 << 30)]
    pub max_bytes: u64,
    /// Declarations of one batch filed at once.
    #[arg(long = "batch-concurrency", env = "ADUANA_BATCH_CONCURRENCY", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,
}

impl BatchArgs {
    pub fn settings(&self) -> BatchSettings {
        BatchSettings {
            max_bytes: self.max_bytes,
            concurrency: self.concurrency as usize,
            ..BatchSettings::default()
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Sign a token; prints it on the last line of stdout (a note goes to stderr).
    Issue(TokenIssueArgs),
}

#[derive(Debug, Args)]
pub struct TokenIssueArgs {
    /// Who the token names (a user or a machine client).
    #[arg(long)]
    pub subject: String,
    #[arg(long, value_enum)]
    pub role: Role,
    /// The organisation the subject acts for (required for declarants).
    #[arg(long)]
    pub org: Option<String>,
    /// A stream category the integrator may read (repeat the flag for each): declaration,
    /// batch, tariff, rate, units or riskrules. Integrators only; without any, it reads none.
    #[arg(long = "grant", value_name = "CATEGORY")]
    pub grants: Vec<Category>,
    /// How long the token is valid: a number and s, m, h or d (at most 366d).
    #[arg(long, default_value = "8h", value_parser = parse_ttl)]
    pub ttl: chrono::Duration,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Make a key; prints it on the last line of stdout, once (a note goes to stderr). The
    /// store keeps only the hash of its secret.
    Issue(ApiKeyIssueArgs),
    /// Revoke a key by its id (the 32 hex digits after `ak_`); servers stop accepting it
    /// within moments. Revoking an unknown or already revoked key fails (exit 1).
    Revoke(ApiKeyRevokeArgs),
}

#[derive(Debug, Args)]
pub struct ApiKeyIssueArgs {
    /// Who the key names (a machine client).
    #[arg(long)]
    pub subject: String,
    #[arg(long, value_enum)]
    pub role: Role,
    /// The organisation the subject acts for (required for declarants).
    #[arg(long)]
    pub org: Option<String>,
    /// A stream category the integrator may read (repeat the flag for each): declaration,
    /// batch, tariff, rate, units or riskrules. Integrators only; without any, it reads none.
    #[arg(long = "grant", value_name = "CATEGORY")]
    pub grants: Vec<Category>,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct ApiKeyRevokeArgs {
    /// The key's id: the 32 hex digits after `ak_`.
    #[arg(value_name = "KEY_ID")]
    pub key_id: String,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum ReferenceCommand {
    /// Import reference files (CSV, recognised by their header row, or JSON) and/or the
    /// shipped sample; prints what was written as one JSON line. Files with any bad row are
    /// refused whole: every row error goes to stderr, nothing is written, the exit code is 1.
    /// Importing data already held writes nothing again.
    Import(ReferenceImportArgs),
}

#[derive(Debug, Args)]
pub struct ReferenceImportArgs {
    /// Reference files: tariff, preferences (with their tariff file), exchange rates, units.
    #[arg(value_name = "FILE", required_unless_present = "sample")]
    pub files: Vec<PathBuf>,
    /// Also import the sample reference data shipped with aduana (see reference/README.md).
    #[arg(long)]
    pub sample: bool,

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
    /// Files declarations through GraphQL over HTTP at a fixed rate (open loop).
    File(BenchFileArgs),
    /// CPU per batch item before the store: parse, validate, decide, serialize (one thread).
    BatchCpu(BenchBatchCpuArgs),
    /// Rebuilds a projection from position 0 and times the catch-up (events/s). It empties
    /// and rebuilds the read model: run it on a bench database, not beside a live server.
    Projection(BenchProjectionArgs),
    /// WebSocket subscribers to a running server's event log while declarations are filed,
    /// with an admin's token (it reads every category and files for any declarant): delivery
    /// lag per event and subscriber, exactly-once check, server RSS.
    Subscribers(crate::bench_subscribers::SubscribersArgs),
    /// The Customs Data Warehouse: fills it with synthetic facts and times cube queries, then
    /// appends demo declarations and times the projection's rebuild. Run it on a fresh bench
    /// database: the rebuild replaces the warehouse read model.
    Warehouse(crate::bench_warehouse::WarehouseArgs),
}

#[derive(Debug, Args)]
pub struct BenchProjectionArgs {
    /// The projection to rebuild: `declarations` or `batches`.
    #[arg(long, default_value = "declarations")]
    pub projection: String,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct BenchBatchCpuArgs {
    /// Demo declarations to run through.
    #[arg(long, default_value = "20000")]
    pub declarations: u64,
    /// Items per declaration.
    #[arg(long, default_value = "3")]
    pub items: u16,
    #[arg(long, default_value = "1")]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct BenchFileArgs {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// A declarant's bearer token (`aduana token issue --role declarant --org ORG`).
    #[arg(long, env = "ADUANA_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The organisation the token is for.
    #[arg(long)]
    pub declarant: String,
    /// Declarations filed per second.
    #[arg(long, default_value = "200")]
    pub rate: u32,
    /// How long to keep filing.
    #[arg(long, default_value = "30")]
    pub seconds: u32,
    /// Item lines per declaration.
    #[arg(long, default_value = "5")]
    pub items: usize,
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
                let tokens = TokenKeys::new(&signing_key(&args.store)?);
                let models = ReadModels::open(args.store.database_url().expose())
                    .await
                    .context("cannot open the read models")?;
                // The first generation of each read model, so queries find its views.
                let mut runners = Vec::new();
                for name in PROJECTIONS {
                    let runner = Runner::new(store.clone(), models.clone(), projection(name)?);
                    runner
                        .prepare()
                        .await
                        .with_context(|| format!("cannot prepare the {name} read model"))?;
                    runners.push(runner);
                }
                let statuses = runners.iter().map(Runner::status).collect();
                let (stop_projection, stopped) = tokio::sync::oneshot::channel::<()>();
                let projection_task = tokio::spawn(async move {
                    let stopped = async move { stopped.await.unwrap_or(()) }.shared();
                    futures::future::join_all(
                        runners.iter().map(|runner| runner.run(stopped.clone())),
                    )
                    .await;
                });
                let (state, follower) =
                    AppState::load(store, tokens, args.graphql, ReadModelQueries::new(&models))
                        .await
                        .context("cannot load the reference data")?;
                let state = state
                    .with_batch_settings(args.batches.settings())
                    .with_portal(args.portal.state())
                    .with_projections(statuses);
                let app = App::bind(args.listen, state)
                    .await
                    .with_context(|| format!("cannot listen on {}", args.listen))?;
                let served = app.run().await;
                follower.abort();
                let _ = stop_projection.send(());
                let _ = projection_task.await;
                models.close().await;
                served.context("server failed")?;
                Ok(0)
            }
            Command::Projections(ProjectionsCommand::Status(args)) => {
                let store = args.store.open().await?;
                let models = ReadModels::open(args.store.database_url().expose())
                    .await
                    .context("cannot open the read models")?;
                let head = store.head_position().await?;
                let generations = models.generations().await;
                models.close().await;
                store.close().await;
                for generation in generations.context("cannot read the projections")? {
                    print(&json(&serde_json::json!({
                        "name": generation.name,
                        "generation": generation.generation,
                        "state": generation.state.as_str(),
                        "version": generation.version,
                        "position": generation.position,
                        "lag": head.saturating_sub(generation.position),
                        "head": head,
                    }))?)?;
                }
                Ok(0)
            }
            Command::Projections(ProjectionsCommand::Rebuild(args)) => {
                rebuild_projection(&args).await
            }
            Command::Reference(ReferenceCommand::Import(args)) => {
                let store = args.store.open().await?;
                let imported = reference::import_files(&store, &args.files, args.sample).await;
                store.close().await;
                match imported {
                    Ok(report) => {
                        print(&json(&report)?)?;
                        Ok(0)
                    }
                    Err(FileImportError::Import(ImportError::Invalid(rows))) => {
                        let mut err = std::io::stderr().lock();
                        for row in &rows {
                            writeln!(err, "{row}").context("cannot write to stderr")?;
                        }
                        writeln!(
                            err,
                            "error: {} error(s) in the reference files; nothing was imported",
                            rows.len()
                        )
                        .context("cannot write to stderr")?;
                        Ok(1)
                    }
                    Err(other) => Err(other).context("reference import failed"),
                }
            }
            Command::Token(TokenCommand::Issue(args)) => {
                issue_token(&args)?;
                Ok(0)
            }
            Command::Apikey(command) => run_api_key(command).await,
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
            Command::Batch(command) => crate::batch_client::run(command).await,
            Command::Demo(command) => {
                crate::demo::run_command(&command)?;
                Ok(0)
            }
        }
    }
}

/// The signing key: `ADUANA_SIGNING_KEY`, else the key file of the data directory (created on
/// first use). Logs where it came from, never the key.
pub fn signing_key(store: &StoreArgs) -> anyhow::Result<SigningKey> {
    let env_value = match std::env::var(key::ENV_VAR) {
        Ok(value) => Some(value),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            anyhow::bail!("{} is not base64", key::ENV_VAR)
        }
    };
    let (key, source) = SigningKey::load(env_value.as_deref(), &store.data_dir)?;
    match source {
        key::KeySource::File { created: true, .. } => {
            tracing::info!(source = %source, "created a new token signing key");
        }
        _ => tracing::info!(source = %source, "token signing key loaded"),
    }
    Ok(key)
}

fn issue_token(args: &TokenIssueArgs) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let expires_at = chrono::DateTime::from_timestamp(now.timestamp(), 0)
        .and_then(|now| now.checked_add_signed(args.ttl))
        .context("the expiry is out of range")?;
    let principal = Principal::new(
        args.subject.clone(),
        args.role,
        args.org.clone(),
        expires_at,
    )?
    .with_grants(args.grants.clone())?;
    let keys = TokenKeys::new(&signing_key(&args.store)?);
    let token = keys.issue(&principal, now, uuid::Uuid::new_v4())?;
    eprintln!(
        "token for {} (role {}{}), valid until {}:",
        principal.actor(),
        principal.role(),
        grants_note(&principal),
        expires_at.to_rfc3339()
    );
    print(&token)
}

/// What an integrator may read, for the note printed beside a token or key.
fn grants_note(principal: &Principal) -> String {
    if principal.role() != Role::Integrator {
        return String::new();
    }
    if principal.grants().is_empty() {
        return "; no --grant: it reads no event stream".to_owned();
    }
    let names: Vec<&str> = principal.grants().iter().map(|c| c.as_str()).collect();
    format!("; reads {}", names.join(", "))
}

async fn run_api_key(command: ApiKeyCommand) -> anyhow::Result<u8> {
    match command {
        ApiKeyCommand::Issue(args) => {
            // Refused before the store is opened: a wrong flag writes nothing.
            Principal::new(
                args.subject.clone(),
                args.role,
                args.org.clone(),
                api_key::never_expires(),
            )?
            .with_grants(args.grants.clone())?;
            let store = args.store.open().await?;
            let issued = api_key::issue(
                &store,
                &args.subject,
                args.role,
                args.org.clone(),
                args.grants.clone(),
                chrono::Utc::now(),
            )
            .await;
            store.close().await;
            let issued = issued.context("cannot issue the API key")?;
            eprintln!(
                "API key {} for {} (role {}{}); it is shown once, keep it secret:",
                issued.key_id,
                issued.principal.actor(),
                issued.principal.role(),
                grants_note(&issued.principal)
            );
            print(&issued.key)?;
            Ok(0)
        }
        ApiKeyCommand::Revoke(args) => {
            let store = args.store.open().await?;
            let revoked = api_key::revoke(&store, &args.key_id, chrono::Utc::now()).await;
            store.close().await;
            match revoked {
                Ok(()) => {
                    eprintln!("API key {} revoked", args.key_id.trim());
                    Ok(0)
                }
                Err(
                    error @ (ApiKeyError::InvalidKeyId(_)
                    | ApiKeyError::UnknownKey(_)
                    | ApiKeyError::AlreadyRevoked(_)),
                ) => {
                    eprintln!("error: {error}");
                    Ok(1)
                }
                Err(error) => Err(error).context("cannot revoke the API key"),
            }
        }
    }
}

/// A duration such as `90s`, `30m`, `8h` or `7d`, from one second to 366 days.
fn parse_ttl(text: &str) -> Result<chrono::Duration, String> {
    let error = || format!("{text:?} is not a duration such as 30m, 8h or 7d (at most 366d)");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(error)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| error())?;
    let seconds = match unit {
        "s" => Some(number),
        "m" => number.checked_mul(60),
        "h" => number.checked_mul(3600),
        "d" => number.checked_mul(86_400),
        _ => None,
    }
    .ok_or_else(error)?;
    if !(1..=366 * 86_400).contains(&seconds) {
        return Err(error());
    }
    Ok(chrono::Duration::seconds(seconds))
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
        BenchCommand::Projection(args) => {
            let projection = projection(&args.projection)?;
            let store = args.store.open().await?;
            let models = ReadModels::open(args.store.database_url().expose())
                .await
                .context("cannot open the read models")?;
            let runner = Runner::new(store.clone(), models.clone(), projection);
            let head = store.head_position().await?;
            runner
                .prepare()
                .await
                .context("cannot prepare the read model")?;
            // A full rebuild: a new generation filled from position 0, then switched to.
            let started = std::time::Instant::now();
            let rebuilt = runner.rebuild().await.context("rebuild failed")?;
            let seconds = started.elapsed().as_secs_f64();
            let reached = rebuilt.position;
            let matching = futures::StreamExt::count(store.read_all(
                0,
                runner_filter(&args.projection),
                usize::MAX,
            ))
            .await as u64;
            let backend = store.backend_name();
            models.close().await;
            store.close().await;
            json(&serde_json::json!({
                "projection": args.projection,
                "backend": backend,
                "logEvents": head,
                "projectedEvents": matching,
                "reached": reached,
                "seconds": seconds,
                "eventsPerSecond": matching as f64 / seconds.max(1e-9),
                "logPositionsPerSecond": reached as f64 / seconds.max(1e-9),
            }))?
        }
        BenchCommand::BatchCpu(args) => {
            let report = crate::bench_batch::cpu_split(args.declarations, args.items, args.seed)?;
            json(&report)?
        }
        BenchCommand::File(args) => {
            let load = loadgen::FileLoad {
                server: args.server,
                token: args.token,
                declarant: args.declarant,
                rate: args.rate,
                seconds: args.seconds,
                items: args.items,
            };
            let report = loadgen::file_load(&load)
                .await
                .map_err(anyhow::Error::msg)?;
            json(&report)?
        }
        BenchCommand::Subscribers(args) => json(&crate::bench_subscribers::run(&args).await?)?,
        BenchCommand::Warehouse(args) => json(&crate::bench_warehouse::run(&args).await?)?,
    };
    print(&line)
}

/// `aduana projections rebuild`: records the request, then follows the new generation until it
/// serves (progress on stderr, the result as JSON on stdout).
async fn rebuild_projection(args: &ProjectionsRebuildArgs) -> anyhow::Result<u8> {
    if !PROJECTIONS.contains(&args.name.as_str()) {
        anyhow::bail!(
            "no projection {:?}: one of {}",
            args.name,
            PROJECTIONS.join(", ")
        );
    }
    let store = args.store.open().await?;
    let models = ReadModels::open(args.store.database_url().expose())
        .await
        .context("cannot open the read models")?;
    let result = follow_rebuild(&store, &models, args).await;
    models.close().await;
    store.close().await;
    result
}

async fn follow_rebuild(
    store: &eventstore::EventStore,
    models: &ReadModels,
    args: &ProjectionsRebuildArgs,
) -> anyhow::Result<u8> {
    use projections::GenerationState;
    let generation = projections::request_rebuild(models, &args.name).await?;
    let requested = serde_json::json!({ "name": args.name, "generation": generation });
    if args.no_wait {
        print(&json(&serde_json::json!({ "requested": requested }))?)?;
        return Ok(0);
    }
    let started = std::time::Instant::now();
    let mut hinted = false;
    let mut err = std::io::stderr();
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let current = projections::generations::get(models, &args.name, generation)
            .await?
            .context("the requested generation is gone")?;
        let head = store.head_position().await?;
        match current.state {
            GenerationState::Requested => {
                if !hinted && started.elapsed().as_secs() >= 10 {
                    hinted = true;
                    writeln!(
                        err,
                        "generation {generation} is requested but no server has started it: is \
                         `aduana serve` running on this database?"
                    )?;
                }
            }
            GenerationState::Building => writeln!(
                err,
                "generation {generation}: building, position {} of {head}",
                current.position
            )?,
            GenerationState::Serving => {
                print(&json(&serde_json::json!({
                    "name": args.name,
                    "generation": generation,
                    "version": current.version,
                    "state": "serving",
                    "position": current.position,
                    "seconds": started.elapsed().as_secs_f64(),
                }))?)?;
                return Ok(0);
            }
            GenerationState::Retired => anyhow::bail!(
                "generation {generation} was abandoned (a newer version took over the rebuild)"
            ),
        }
    }
}

/// The events `name`'s projection reads.
fn runner_filter(name: &str) -> eventstore::Filter {
    projection(name).map_or_else(|_| eventstore::Filter::all(), |p| p.filter())
}

/// The projection named `name` (one of [`PROJECTIONS`]).
fn projection(name: &str) -> anyhow::Result<Arc<dyn projections::Projection>> {
    Ok(match name {
        "declarations" => Arc::new(DeclarationsProjection),
        "batches" => Arc::new(BatchesProjection),
        "warehouse" => Arc::new(WarehouseProjection),
        "analyses" => Arc::new(projections::AnalysesProjection),
        other => anyhow::bail!("no projection {other:?}: {}", PROJECTIONS.join(", ")),
    })
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
    fn introspection_is_on_unless_switched_off_by_flag_or_environment() {
        let serve = |args: &[&str]| {
            let cli = Cli::try_parse_from(args).unwrap();
            let Command::Serve(args) = cli.command else {
                panic!("parsed as {:?}", cli.command);
            };
            args.graphql.introspection
        };
        assert!(serve(&["aduana", "serve"]));
        assert!(!serve(&["aduana", "serve", "--no-introspection"]));
        let parsed = GraphqlSettings::augment_args(clap::Command::new("t"))
            .try_get_matches_from(["t"])
            .unwrap();
        assert_eq!(parsed.get_one::<bool>("introspection"), Some(&true));
    }

    #[test]
    fn token_lifetimes_are_a_number_and_a_unit() {
        assert_eq!(parse_ttl("90s"), Ok(chrono::Duration::seconds(90)));
        assert_eq!(parse_ttl("30m"), Ok(chrono::Duration::minutes(30)));
        assert_eq!(parse_ttl("8h"), Ok(chrono::Duration::hours(8)));
        assert_eq!(parse_ttl("366d"), Ok(chrono::Duration::days(366)));
        for bad in [
            "",
            "8",
            "h",
            "0h",
            "-1h",
            "8 h",
            "1.5h",
            "367d",
            "99999999999999999d",
        ] {
            assert!(parse_ttl(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn token_issue_takes_the_store_flags() {
        let cli = Cli::try_parse_from([
            "aduana",
            "token",
            "issue",
            "--subject",
            "alice",
            "--role",
            "declarant",
            "--org",
            "ACME",
            "--ttl",
            "1h",
            "--data-dir",
            "/tmp/k",
        ])
        .unwrap();
        let Command::Token(TokenCommand::Issue(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(args.role, Role::Declarant);
        assert_eq!(args.org.as_deref(), Some("ACME"));
        assert_eq!(args.ttl, chrono::Duration::hours(1));
        assert_eq!(args.store.data_dir, std::path::PathBuf::from("/tmp/k"));
    }

    #[test]
    fn token_and_apikey_issue_take_repeated_grants_and_check_their_names() {
        for command in ["token", "apikey"] {
            let cli = Cli::try_parse_from([
                "aduana",
                command,
                "issue",
                "--subject",
                "bank",
                "--role",
                "integrator",
                "--grant",
                "declaration",
                "--grant",
                "batch",
            ])
            .unwrap();
            let grants = match cli.command {
                Command::Token(TokenCommand::Issue(args)) => args.grants,
                Command::Apikey(ApiKeyCommand::Issue(args)) => args.grants,
                other => panic!("parsed as {other:?}"),
            };
            assert_eq!(grants, [Category::Declaration, Category::Batch]);
            let refused = Cli::try_parse_from([
                "aduana",
                command,
                "issue",
                "--subject",
                "bank",
                "--role",
                "integrator",
                "--grant",
                "apikey",
            ])
            .unwrap_err();
            assert!(refused.to_string().contains("never granted"), "{refused}");
        }
    }

    #[test]
    fn apikey_issue_and_revoke_take_the_store_flags() {
        let cli = Cli::try_parse_from([
            "aduana",
            "apikey",
            "issue",
            "--subject",
            "bank",
            "--role",
            "integrator",
            "--data-dir",
            "/tmp/k",
        ])
        .unwrap();
        let Command::Apikey(ApiKeyCommand::Issue(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(
            (args.subject.as_str(), args.role),
            ("bank", Role::Integrator)
        );
        assert_eq!(args.org, None);
        assert_eq!(args.store.data_dir, PathBuf::from("/tmp/k"));

        let cli =
            Cli::try_parse_from(["aduana", "apikey", "revoke", "0123", "--data-dir", "/tmp/k"])
                .unwrap();
        let Command::Apikey(ApiKeyCommand::Revoke(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(args.key_id, "0123");
        assert!(Cli::try_parse_from(["aduana", "apikey", "revoke"]).is_err());
    }

    #[test]
    fn reference_import_takes_files_or_the_sample_and_the_store_flags() {
        let cli = Cli::try_parse_from([
            "aduana",
            "reference",
            "import",
            "tariff.csv",
            "rates.json",
            "--data-dir",
            "/tmp/r",
        ])
        .unwrap();
        let Command::Reference(ReferenceCommand::Import(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(
            args.files,
            [PathBuf::from("tariff.csv"), PathBuf::from("rates.json")]
        );
        assert!(!args.sample);
        assert_eq!(args.store.data_dir, PathBuf::from("/tmp/r"));

        let cli = Cli::try_parse_from(["aduana", "reference", "import", "--sample"]).unwrap();
        let Command::Reference(ReferenceCommand::Import(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert!(args.sample && args.files.is_empty());

        assert!(Cli::try_parse_from(["aduana", "reference", "import"]).is_err());
    }

    #[test]
    fn zero_writers_are_refused_by_the_parser() {
        assert!(Cli::try_parse_from(["aduana", "bench", "append", "--writers", "0"]).is_err());
    }
}
