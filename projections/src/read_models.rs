//! The read-model database: the event store's own database, reached through sqlx's `Any`
//! driver so a projection writes portable SQL once (`$1` parameters work on both backends).

use std::str::FromStr;

use sqlx::AnyPool;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};

use crate::generations::{self, Generation};
use crate::runner::ProjectionError;

/// Which database the read models live in, for the rare statement that differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A pool on the read-model database, migrated.
#[derive(Clone)]
pub struct ReadModels {
    pool: AnyPool,
    backend: Backend,
    /// For connections of their own (leadership locks). Never printed: it may hold a password.
    url: String,
}

impl std::fmt::Debug for ReadModels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadModels")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl ReadModels {
    /// Connects to the database at `url` (the event store's URL) and applies the read-model
    /// migrations. They are tracked in their own table, apart from the event store's.
    pub async fn open(url: &str) -> Result<Self, ProjectionError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let options = AnyConnectOptions::from_str(url)?;
        let pool = AnyPoolOptions::new()
            // SQLite has one writer; more connections would only queue on its lock.
            .max_connections(if backend == Backend::Sqlite { 1 } else { 4 })
            .connect_with(options)
            .await?;
        let mut migrator = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        migrator.dangerous_set_table_name("_aduana_read_model_migrations");
        migrator.run(&pool).await?;
        Ok(Self {
            pool,
            backend,
            url: url.to_owned(),
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A transaction that writes: on SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so it never fails half-way for a writer that committed after its first
    /// read (SQLite cannot upgrade a stale read transaction).
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Every projection's generations that are not retired (serving, and a rebuild requested
    /// or under way), by name then generation: what the processes on this database have
    /// committed.
    pub async fn generations(&self) -> Result<Vec<Generation>, ProjectionError> {
        generations::current(self).await
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
