//! Test support for aduana's black-box suites: a fresh store per test on every backend.
//!
//! SQLite always runs (a file in a temporary directory). PostgreSQL runs when
//! `ADUANA_TEST_DATABASE_URL` names a server; each test then gets its own freshly created
//! database, dropped when the test finishes. Without the variable the PostgreSQL variants say
//! that they were skipped, and `.ci/run` refuses to pass such a run.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use eventstore::{EventStore, NewEvent, StoreOptions};
use sqlx::Connection;
use uuid::Uuid;

pub const PG_URL_VAR: &str = "ADUANA_TEST_DATABASE_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A store on a database of its own, and what is needed to reopen or tamper with it.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    admin_url: Option<String>,
    db_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A fresh, empty database, or `None` (with a notice) when PostgreSQL is not configured.
    pub async fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/events.db", dir.path().display());
                Some(Self {
                    url,
                    backend,
                    admin_url: None,
                    db_name: None,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let Ok(admin_url) = std::env::var(PG_URL_VAR) else {
                    eprintln!("PostgreSQL skipped: {PG_URL_VAR} is not set");
                    return None;
                };
                let name = format!("aduana_t_{}", Uuid::new_v4().simple());
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .expect("connect to ADUANA_TEST_DATABASE_URL");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .expect("create test database");
                Some(Self {
                    url: replace_database(&admin_url, &name),
                    backend,
                    admin_url: Some(admin_url),
                    db_name: Some(name),
                    _dir: None,
                })
            }
        }
    }

    pub async fn open(&self) -> EventStore {
        self.open_with(StoreOptions::default()).await
    }

    pub async fn open_with(&self, options: StoreOptions) -> EventStore {
        EventStore::open(&self.url, options)
            .await
            .expect("open event store")
    }

    /// Runs SQL directly on the database, behind the store's back.
    pub async fn execute(&self, sql: &str) {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
        }
    }

    /// Like `execute`, but returns the database's error message instead of panicking.
    pub async fn try_execute(&self, sql: &str) -> Result<(), String> {
        let result = match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(&mut conn)
                    .await
                    .map(|_| ())
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(&mut conn)
                    .await
                    .map(|_| ())
            }
        };
        result.map_err(|e| e.to_string())
    }

    /// SQL that lets a test alter stored events (simulating a privileged attacker).
    pub fn disable_immutability_sql(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => {
                "DROP TRIGGER events_are_not_updated; DROP TRIGGER events_are_not_deleted;"
            }
            Backend::Postgres => "ALTER TABLE events DISABLE TRIGGER USER;",
        }
    }

    /// Drops the PostgreSQL database (the SQLite directory goes with `self`).
    pub async fn finish(self, store: EventStore) {
        store.close().await;
        drop(store);
        if let (Some(admin_url), Some(name)) = (&self.admin_url, &self.db_name) {
            let mut admin = sqlx::PgConnection::connect(admin_url).await.unwrap();
            let drop_sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let _ = sqlx::query(sqlx::AssertSqlSafe(drop_sql))
                .execute(&mut admin)
                .await;
        }
    }
}

/// Replaces the database name in a `postgres://` URL.
pub fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// An event with a small, distinct payload.
pub fn event(event_type: &str, n: u64) -> NewEvent {
    NewEvent::new(
        event_type,
        serde_json::json!({ "n": n, "note": "test event" }),
    )
}

/// Defines one test per backend from a single async body taking a `TestDb`.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident => $body:ident;)*) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::TestDb::create($crate::Backend::Sqlite).await.unwrap();
                    super::$body(db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = $crate::TestDb::create($crate::Backend::Postgres).await {
                        super::$body(db).await;
                    }
                }
            )*
        }
    };
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn the_database_name_is_replaced_and_the_query_kept() {
        assert_eq!(
            replace_database("postgres://u@127.0.0.1:5432/test", "x"),
            "postgres://u@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database("postgres://127.0.0.1/test?sslmode=disable", "x"),
            "postgres://127.0.0.1/x?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://h", "x"), "postgres://h/x");
    }
}
