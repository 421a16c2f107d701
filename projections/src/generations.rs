//! Generations: blue/green read models.
//!
//! A projection's tables exist per generation: `declarations_g1`, `declarations_g2`, ...,
//! created from the projection's schema template ([`crate::Projection::schema`], `{g}` standing
//! for the suffix). Queries never name a generation: they read views named as the tables
//! (`declarations`), which select from the serving generation's tables. A rebuild fills a new
//! generation from position 0 while the old one keeps serving, then [`switch`] repoints the
//! views and marks the new generation serving in one transaction (the old tables are dropped
//! just after, in another): a query sees the old model or the new one, never an empty or
//! half-built one, and never one behind what it saw before.
//!
//! `projection_generations` holds every generation with its checkpoint and state:
//! `requested` (an operator asked for a rebuild; no tables yet), `building`, `serving` (one per
//! projection) and `retired` (kept as history; its tables are gone). Changes of state happen
//! inside transactions that, on PostgreSQL, first take a transaction-level advisory lock per
//! projection, so processes starting together never create the same generation twice.

use std::fmt;
use std::str::FromStr;

use chrono::Utc;
use sqlx::{AnyConnection, Row};

use crate::read_models::{Backend, ReadModels};
use crate::runner::{Projection, ProjectionError};
use crate::stored::{format_time, to_i64};

/// Where a generation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenerationState {
    /// An operator asked for a rebuild; the leading process has not started it yet.
    Requested,
    /// Being filled from position 0 while another generation serves.
    Building,
    /// What queries read.
    Serving,
    /// Replaced by a newer generation; its tables are dropped.
    Retired,
}

impl GenerationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Building => "building",
            Self::Serving => "serving",
            Self::Retired => "retired",
        }
    }
}

impl FromStr for GenerationState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "requested" => Ok(Self::Requested),
            "building" => Ok(Self::Building),
            "serving" => Ok(Self::Serving),
            "retired" => Ok(Self::Retired),
            other => Err(format!("{other:?} is not a generation state")),
        }
    }
}

impl fmt::Display for GenerationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One generation of a projection's read model, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub name: String,
    pub generation: u64,
    /// The projection version that builds it; 0 while only requested.
    pub version: u32,
    /// The last log position applied to its tables.
    pub position: u64,
    pub state: GenerationState,
}

impl Generation {
    /// Its tables' names.
    pub fn tables(&self) -> Tables {
        Tables::of(self.generation)
    }
}

/// The table names of one generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    suffix: String,
}

impl Tables {
    pub fn of(generation: u64) -> Self {
        Self {
            suffix: format!("_g{generation}"),
        }
    }

    /// `base` as this generation names it: `declarations` → `declarations_g3`.
    pub fn name(&self, base: &str) -> String {
        format!("{base}{}", self.suffix)
    }

    /// The projection's schema template with this generation's names, split into the
    /// statements creating the tables and those creating the indexes (one line each, made
    /// idempotent so a resumed rebuild can run them again).
    fn schema(&self, template: &str) -> (String, Vec<String>) {
        let mut tables = String::new();
        let mut indexes = Vec::new();
        for line in template.replace("{g}", &self.suffix).lines() {
            match line.strip_prefix("CREATE INDEX ") {
                Some(rest) => indexes.push(format!("CREATE INDEX IF NOT EXISTS {rest}")),
                None => {
                    tables.push_str(line);
                    tables.push('\n');
                }
            }
        }
        (tables, indexes)
    }
}

/// Why a rebuild could not be requested.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("a rebuild of {name} is already {state} (generation {generation})")]
    AlreadyPending {
        name: String,
        generation: u64,
        state: GenerationState,
    },
    #[error(transparent)]
    Projection(#[from] ProjectionError),
}

const COLUMNS: &str = "name, generation, version, position, state";

fn decode(row: &sqlx::any::AnyRow) -> Result<Generation, ProjectionError> {
    let invalid = |message: String| ProjectionError::Database(sqlx::Error::Decode(message.into()));
    let number = |column: &str| -> Result<i64, ProjectionError> { Ok(row.try_get(column)?) };
    let state: String = row.try_get("state")?;
    Ok(Generation {
        name: row.try_get("name")?,
        generation: u64::try_from(number("generation")?).map_err(|e| invalid(e.to_string()))?,
        version: u32::try_from(number("version")?).map_err(|e| invalid(e.to_string()))?,
        position: u64::try_from(number("position")?).map_err(|e| invalid(e.to_string()))?,
        state: state.parse().map_err(invalid)?,
    })
}

/// On PostgreSQL, waits for the projection's generation lock until the transaction ends.
pub(crate) async fn lock(
    tx: &mut AnyConnection,
    backend: Backend,
    name: &str,
) -> Result<(), ProjectionError> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(lock_key(name))
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// The generation in `state` (serving, or the one pending: requested or building).
pub(crate) async fn find(
    conn: &mut AnyConnection,
    name: &str,
    pending: bool,
) -> Result<Option<Generation>, ProjectionError> {
    let states = if pending {
        "('requested', 'building')"
    } else {
        "('serving')"
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM projection_generations WHERE name = $1 AND state IN {states}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(name.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(decode).transpose()
}

/// Every generation that is not retired, by name then generation.
pub(crate) async fn current(models: &ReadModels) -> Result<Vec<Generation>, ProjectionError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM projection_generations WHERE state <> 'retired' \
         ORDER BY name, generation"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(models.pool())
        .await?;
    rows.iter().map(decode).collect()
}

/// The next generation number of `name`.
async fn next_number(conn: &mut AnyConnection, name: &str) -> Result<u64, ProjectionError> {
    let (max,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(generation) FROM projection_generations WHERE name = $1")
            .bind(name.to_owned())
            .fetch_one(&mut *conn)
            .await?;
    Ok(max.and_then(|n| u64::try_from(n).ok()).unwrap_or(0) + 1)
}

/// Creates the tables of a new generation of `projection` at position 0 in `state`, and
/// records it.
pub(crate) async fn create(
    tx: &mut AnyConnection,
    backend: Backend,
    projection: &dyn Projection,
    state: GenerationState,
) -> Result<Generation, ProjectionError> {
    let name = projection.name();
    let generation = next_number(tx, name).await?;
    let created = Generation {
        name: name.to_owned(),
        generation,
        version: projection.version(),
        position: 0,
        state,
    };
    create_tables(tx, backend, projection, &created.tables()).await?;
    if state == GenerationState::Serving {
        // Serving at once (the first generation): it is filled row by row, indexed from the
        // start. A building one gets its indexes once loaded ([`create_indexes`]).
        create_indexes(tx, backend, projection, &created.tables()).await?;
    }
    sqlx::query(
        "INSERT INTO projection_generations (name, generation, version, position, state, \
         created_at) VALUES ($1, $2, $3, 0, $4, $5)",
    )
    .bind(name.to_owned())
    .bind(to_i64(generation))
    .bind(i64::from(created.version))
    .bind(state.as_str())
    .bind(format_time(Utc::now()))
    .execute(&mut *tx)
    .await?;
    Ok(created)
}

/// Starts building a requested generation: creates its tables with `projection`'s version.
pub(crate) async fn start(
    tx: &mut AnyConnection,
    backend: Backend,
    projection: &dyn Projection,
    requested: &Generation,
) -> Result<Generation, ProjectionError> {
    create_tables(tx, backend, projection, &requested.tables()).await?;
    sqlx::query(
        "UPDATE projection_generations SET state = 'building', version = $1 \
         WHERE name = $2 AND generation = $3 AND state = 'requested'",
    )
    .bind(i64::from(projection.version()))
    .bind(requested.name.clone())
    .bind(to_i64(requested.generation))
    .execute(&mut *tx)
    .await?;
    Ok(Generation {
        version: projection.version(),
        state: GenerationState::Building,
        ..requested.clone()
    })
}

/// Abandons a generation that was building with another version: drops its tables.
pub(crate) async fn abandon(
    tx: &mut AnyConnection,
    projection: &dyn Projection,
    building: &Generation,
) -> Result<(), ProjectionError> {
    drop_tables(tx, projection, &building.tables()).await?;
    retire(tx, building).await
}

async fn retire(tx: &mut AnyConnection, generation: &Generation) -> Result<(), ProjectionError> {
    sqlx::query(
        "UPDATE projection_generations SET state = 'retired', retired_at = $1 \
         WHERE name = $2 AND generation = $3",
    )
    .bind(format_time(Utc::now()))
    .bind(generation.name.clone())
    .bind(to_i64(generation.generation))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Makes `building` (standing at `position`) the serving generation in place of `serving`:
/// repoints the views and records both states, in the caller's transaction (the old tables
/// are dropped after it commits, [`drop_retired`]). `Ok(false)`, changing nothing, when the serving generation has meanwhile moved
/// beyond `position` (a process of its version still follows it): the caller rolls back,
/// catches up and tries again, so a query never sees the model step back.
/// [`ProjectionError::Superseded`] when `building` is no longer building at `position`.
pub(crate) async fn switch(
    tx: &mut AnyConnection,
    projection: &dyn Projection,
    serving: &Generation,
    building: &Generation,
    position: u64,
) -> Result<bool, ProjectionError> {
    // The serving one steps down first, at most one generation serving at any moment; the
    // position check is in the same statement, so a commit of its follower in between (which
    // waits for this row) cannot slip past it.
    let stepped_down = sqlx::query(
        "UPDATE projection_generations SET state = 'retired', retired_at = $1 \
         WHERE name = $2 AND generation = $3 AND state = 'serving' AND position <= $4",
    )
    .bind(format_time(Utc::now()))
    .bind(serving.name.clone())
    .bind(to_i64(serving.generation))
    .bind(to_i64(position))
    .execute(&mut *tx)
    .await?;
    if stepped_down.rows_affected() != 1 {
        return Ok(false);
    }
    let promoted = sqlx::query(
        "UPDATE projection_generations SET state = 'serving', switched_at = $1 \
         WHERE name = $2 AND generation = $3 AND state = 'building' AND position = $4",
    )
    .bind(format_time(Utc::now()))
    .bind(building.name.clone())
    .bind(to_i64(building.generation))
    .bind(to_i64(position))
    .execute(&mut *tx)
    .await?;
    if promoted.rows_affected() != 1 {
        return Err(ProjectionError::Superseded { expected: position });
    }
    publish_views(tx, projection, &building.tables()).await?;
    Ok(true)
}

/// Drops the tables of a generation just retired. Apart from the switch-over: a process of
/// the retired version may still be writing to them, and waits for the switch's row lock
/// (dropping in the same transaction would wait for that process in turn).
pub(crate) async fn drop_retired(
    tx: &mut AnyConnection,
    projection: &dyn Projection,
    retired: &Generation,
) -> Result<(), ProjectionError> {
    drop_tables(tx, projection, &retired.tables()).await
}

/// Points the views of `projection`'s tables at `tables`.
pub(crate) async fn publish_views(
    tx: &mut AnyConnection,
    projection: &dyn Projection,
    tables: &Tables,
) -> Result<(), ProjectionError> {
    for base in projection.tables() {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP VIEW IF EXISTS {base}")))
            .execute(&mut *tx)
            .await?;
        let sql = format!("CREATE VIEW {base} AS SELECT * FROM {}", tables.name(base));
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

async fn create_tables(
    tx: &mut AnyConnection,
    backend: Backend,
    projection: &dyn Projection,
    tables: &Tables,
) -> Result<(), ProjectionError> {
    let (ddl, _) = tables.schema(projection.schema(backend));
    sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Creates a generation's indexes, those it lacks.
pub(crate) async fn create_indexes(
    tx: &mut AnyConnection,
    backend: Backend,
    projection: &dyn Projection,
    tables: &Tables,
) -> Result<(), ProjectionError> {
    let (_, indexes) = tables.schema(projection.schema(backend));
    for index in indexes {
        sqlx::query(sqlx::AssertSqlSafe(index))
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Drops a generation's tables, the last listed first (they may refer to the earlier ones).
async fn drop_tables(
    tx: &mut AnyConnection,
    projection: &dyn Projection,
    tables: &Tables,
) -> Result<(), ProjectionError> {
    for base in projection.tables().iter().rev() {
        let sql = format!("DROP TABLE IF EXISTS {}", tables.name(base));
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Asks the process leading `name` to rebuild it into a new generation; the generation number
/// it will have. Refused while another rebuild is requested or under way.
pub async fn request_rebuild(models: &ReadModels, name: &str) -> Result<u64, RequestError> {
    let mut tx = models.begin_write().await.map_err(ProjectionError::from)?;
    lock(&mut tx, models.backend(), name).await?;
    if let Some(pending) = find(&mut tx, name, true).await? {
        return Err(RequestError::AlreadyPending {
            name: name.to_owned(),
            generation: pending.generation,
            state: pending.state,
        });
    }
    let generation = next_number(&mut tx, name).await?;
    sqlx::query(
        "INSERT INTO projection_generations (name, generation, version, position, state, \
         created_at) VALUES ($1, $2, 0, 0, 'requested', $3)",
    )
    .bind(name.to_owned())
    .bind(to_i64(generation))
    .bind(format_time(Utc::now()))
    .execute(&mut *tx)
    .await
    .map_err(ProjectionError::from)?;
    tx.commit().await.map_err(ProjectionError::from)?;
    Ok(generation)
}

/// The generation of `name` numbered `generation`, whatever its state.
pub async fn get(
    models: &ReadModels,
    name: &str,
    generation: u64,
) -> Result<Option<Generation>, ProjectionError> {
    let sql =
        format!("SELECT {COLUMNS} FROM projection_generations WHERE name = $1 AND generation = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(name.to_owned())
        .bind(to_i64(generation))
        .fetch_optional(models.pool())
        .await?;
    row.as_ref().map(decode).transpose()
}

/// The transaction-level advisory lock key of a projection's generations.
fn lock_key(name: &str) -> i64 {
    crate::leader::advisory_key("generations", name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generation_names_its_tables_and_fills_the_template() {
        let tables = Tables::of(3);
        assert_eq!(tables.name("declarations"), "declarations_g3");
        let (ddl, indexes) =
            tables.schema("CREATE TABLE t{g} (id TEXT);\nCREATE INDEX t_by_id{g} ON t{g} (id);\n");
        assert_eq!(ddl, "CREATE TABLE t_g3 (id TEXT);\n");
        assert_eq!(
            indexes,
            ["CREATE INDEX IF NOT EXISTS t_by_id_g3 ON t_g3 (id);"]
        );
    }

    #[test]
    fn every_index_of_the_templates_is_one_line_and_the_tables_have_none() {
        use crate::{BatchesProjection, DeclarationsProjection};
        for projection in [
            &DeclarationsProjection as &dyn Projection,
            &BatchesProjection,
        ] {
            for backend in [Backend::Sqlite, Backend::Postgres] {
                let (ddl, indexes) = Tables::of(1).schema(projection.schema(backend));
                assert!(
                    !ddl.lines()
                        .any(|line| line.starts_with("CREATE") && line.contains("INDEX")),
                    "{ddl}"
                );
                assert!(!indexes.is_empty());
                for index in indexes {
                    assert!(index.ends_with(';') && index.contains("_g1 ON "), "{index}");
                }
            }
        }
    }

    #[test]
    fn states_read_back_as_written() {
        for state in [
            GenerationState::Requested,
            GenerationState::Building,
            GenerationState::Serving,
            GenerationState::Retired,
        ] {
            assert_eq!(state.as_str().parse::<GenerationState>(), Ok(state));
        }
        assert!("live".parse::<GenerationState>().is_err());
    }
}
