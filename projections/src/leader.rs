//! Which process runs a projection: on PostgreSQL, the one holding the projection's session-level
//! advisory lock, on a connection of its own. The lock goes with the connection: when the
//! process dies, PostgreSQL ends its session and another process takes the lock within its next
//! poll. SQLite serves one server process per database, which leads at once.
//!
//! Leadership is for efficiency (one process does the work); correctness does not rest on it:
//! every batch moves the checkpoint with compare-and-set (see the runner), so even two leaders
//! for a moment would not apply an event twice.

use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Connection};

use crate::read_models::{Backend, ReadModels};
use crate::runner::ProjectionError;

/// How often a leader checks that its lock connection still answers.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// The leadership of one projection, held while this value lives.
pub(crate) struct Leader {
    /// The connection holding the advisory lock; none on SQLite.
    lock: Option<AnyConnection>,
}

impl Leader {
    /// Takes the leadership of `name` if no other process holds it. `spare` keeps the
    /// connection of a failed attempt for the next one.
    pub(crate) async fn try_acquire(
        models: &ReadModels,
        name: &str,
        spare: &mut Option<AnyConnection>,
    ) -> Result<Option<Self>, ProjectionError> {
        if models.backend() == Backend::Sqlite {
            return Ok(Some(Self { lock: None }));
        }
        let mut connection = match spare.take() {
            Some(connection) => connection,
            None => AnyConnection::connect(models.url()).await?,
        };
        let (taken,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
            .bind(lock_key(name))
            .fetch_one(&mut connection)
            .await?;
        if taken {
            Ok(Some(Self {
                lock: Some(connection),
            }))
        } else {
            *spare = Some(connection);
            Ok(None)
        }
    }

    /// Completes when the leadership can no longer be trusted: the lock's connection stopped
    /// answering. Never completes on SQLite.
    pub(crate) async fn lost(&mut self) {
        let Some(connection) = &mut self.lock else {
            return std::future::pending().await;
        };
        loop {
            tokio::time::sleep(HEARTBEAT).await;
            if sqlx::query("SELECT 1")
                .execute(&mut *connection)
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

/// The advisory lock key of a projection's leadership.
fn lock_key(name: &str) -> i64 {
    advisory_key("leader", name)
}

/// A PostgreSQL advisory lock key: the first 8 bytes of a SHA-256 of `aduana.projection.`,
/// the lock's purpose and the projection's name, so each purpose has a namespace of its own
/// (and other applications on the database use other keys).
pub(crate) fn advisory_key(purpose: &str, name: &str) -> i64 {
    let digest = Sha256::digest(format!("aduana.projection.{purpose}:{name}"));
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_projection_has_its_own_stable_lock() {
        assert_eq!(lock_key("declarations"), lock_key("declarations"));
        assert_ne!(lock_key("declarations"), lock_key("batches"));
    }
}
