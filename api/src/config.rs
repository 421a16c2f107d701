//! Settings shared by every command that opens the event store, and the one place that turns
//! them into a database URL. Secrets never reach a log line: URLs are shown redacted.

use std::convert::Infallible;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Context as _;
use eventstore::{EventStore, StoreError, StoreOptions};

/// Where the event store lives: flags and environment variables, flattened into each command.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Database URL (`sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB`); default: an
    /// SQLite file in the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database: Option<DatabaseUrl>,

    /// Directory of the default SQLite database (ignored when a database URL is given).
    #[arg(long, env = "ADUANA_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
}

impl StoreArgs {
    /// Settings for a store in `data_dir` (the SQLite default).
    pub fn in_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            database: None,
            data_dir: data_dir.into(),
        }
    }

    pub fn database_url(&self) -> DatabaseUrl {
        match &self.database {
            Some(url) => url.clone(),
            None => DatabaseUrl(format!("sqlite://{}/aduana.db", self.data_dir.display())),
        }
    }

    /// Opens the store, applying migrations.
    pub async fn open(&self) -> anyhow::Result<EventStore> {
        let url = self.database_url();
        tracing::info!(database = %url, "opening event store");
        EventStore::open(url.expose(), StoreOptions::default())
            .await
            .map_err(|error| match error {
                // Its message repeats the whole URL, password included.
                StoreError::UnsupportedUrl(_) => {
                    anyhow::anyhow!("unsupported database url: use sqlite://PATH or postgres://...")
                }
                other => anyhow::Error::new(other),
            })
            .with_context(|| format!("cannot open the event store at {url}"))
    }
}

/// How the GraphQL endpoint presents itself: flags and environment variables of `serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct GraphqlSettings {
    /// Answer introspection (`__schema`, `__type`) and suggest field names in errors; turn off
    /// in production with `--no-introspection` or ADUANA_GRAPHQL_INTROSPECTION=false.
    #[arg(
        long = "no-introspection",
        env = "ADUANA_GRAPHQL_INTROSPECTION",
        action = clap::ArgAction::SetFalse
    )]
    pub introspection: bool,
}

impl Default for GraphqlSettings {
    fn default() -> Self {
        Self {
            introspection: true,
        }
    }
}

/// A database URL. `Display` and `Debug` redact the password; [`DatabaseUrl::expose`] does not.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL with its password, for the database driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for DatabaseUrl {
    type Err = Infallible;
    fn from_str(url: &str) -> Result<Self, Self::Err> {
        Ok(Self(url.to_owned()))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// Replaces the password of `scheme://user:password@host/...` and of a `password=` query
/// parameter with `***`.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut redacted = match base.find("://") {
        Some(scheme_end) => {
            let authority_start = scheme_end + 3;
            let authority_end = base[authority_start..]
                .find('/')
                .map_or(base.len(), |i| authority_start + i);
            let authority = &base[authority_start..authority_end];
            match authority.rsplit_once('@') {
                Some((user_info, host)) => {
                    let user = user_info.split_once(':').map_or(user_info, |(u, _)| u);
                    let hidden = if user_info.contains(':') { ":***" } else { "" };
                    format!(
                        "{}{user}{hidden}@{host}{}",
                        &base[..authority_start],
                        &base[authority_end..]
                    )
                }
                None => base.to_owned(),
            }
        }
        None => base.to_owned(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => param.to_owned(),
            })
            .collect();
        redacted.push('?');
        redacted.push_str(&params.join("&"));
    }
    redacted
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://aduana:s3cr%40t@db.internal:5432/aduana"),
            "postgres://aduana:***@db.internal:5432/aduana"
        );
        assert_eq!(
            redact_url("postgres://db/aduana?user=a&password=s3cret&sslmode=require"),
            "postgres://db/aduana?user=a&password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://user@db/aduana"),
            "postgres://user@db/aduana"
        );
        assert_eq!(
            redact_url("sqlite://./data/aduana.db"),
            "sqlite://./data/aduana.db"
        );
    }

    #[test]
    fn a_password_with_an_at_sign_is_still_hidden() {
        assert_eq!(
            redact_url("postgres://u:p@ss@host/db"),
            "postgres://u:***@host/db"
        );
    }

    #[test]
    fn without_a_url_the_database_is_an_sqlite_file_in_the_data_dir() {
        let args = StoreArgs::in_dir("/var/lib/aduana");
        assert_eq!(
            args.database_url().expose(),
            "sqlite:///var/lib/aduana/aduana.db"
        );
        let args = StoreArgs {
            database: Some("postgres://u:pw@h/d".parse().unwrap()),
            data_dir: "/ignored".into(),
        };
        assert_eq!(args.database_url().to_string(), "postgres://u:***@h/d");
        assert!(!format!("{args:?}").contains("pw"));
    }
}
